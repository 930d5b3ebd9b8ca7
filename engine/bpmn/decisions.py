"""DMN as Camunda 7 runs it: several decisions in one file, decision requirement graphs
(`requiredDecision`), FEEL simple unary tests, and `camunda:resultVariable` with
`camunda:mapDecisionResult` on business rule tasks.

SpiffWorkflow registers a DMN file under its first decision and refuses a second; it knows
neither required decisions nor FEEL intervals (`[250..1000]`) and lists (`"a", "b"`), which
Camunda's own invoice example uses. Here each decision of a file is parsed on its own, its
required decisions are evaluated first (their outputs are variables of the dependent decision
only, as Camunda does), and FEEL's simple unary tests are read into SpiffWorkflow's cell form
(`? in (…)`, `low <= ? <= high`), evaluated like every other cell by the sandbox.
"""
from __future__ import annotations

import re

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine
from SpiffWorkflow.dmn.parser.DMNParser import DMNParser
from SpiffWorkflow.dmn.specs.business_rule_task_mixin import BusinessRuleTaskMixin
from SpiffWorkflow.dmn.specs.model import InputEntry

MAP_DECISION_RESULTS = ("resultList", "singleResult", "singleEntry", "collectEntries")
SINGLE_HIT_POLICIES = ("UNIQUE", "FIRST", "ANY", "PRIORITY")


# --------------------------------------------------------------------------- FEEL unary tests

_INTERVAL = re.compile(r"^([\[\]\(])\s*(.+?)\s*\.\.\s*(.+?)\s*([\[\]\)])$")


def _split_top_level(text: str) -> list[str]:
    """`"a", "b, c"` → ['"a"', '"b, c"']: commas outside quotes and brackets."""
    parts, depth, quote, buf = [], 0, None, []
    for ch in text:
        if quote:
            buf.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "\"'":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(buf).strip())
            buf = []
            continue
        buf.append(ch)
    parts.append("".join(buf).strip())
    return parts


def _single_test(test: str) -> str:
    interval = _INTERVAL.match(test)
    if interval:
        opening, low, high, closing = interval.groups()
        left = "<=" if opening == "[" else "<"
        right = "<=" if closing == "]" else "<"
        return f"({low} {left} ? {right} {high})"
    if test[:2] in ("<=", ">=", "!=", "==") or test[:1] in ("<", ">"):
        return f"(? {test})"
    return f"(? == {test})"


def feel_unary_tests(text: str | None) -> str | None:
    """A FEEL simple unary test as a SpiffWorkflow cell, or the text unchanged when it is not
    one FEEL writes differently (Python cells keep working)."""
    if text is None:
        return None
    stripped = text.strip()
    if stripped in ("", "-"):
        return None
    negated = re.match(r"^not\s*\((.*)\)$", stripped, re.S)
    body = negated.group(1) if negated else stripped
    parts = _split_top_level(body)
    feel = negated or len(parts) > 1 or _INTERVAL.match(body)
    if not feel:
        return text
    tests = " or ".join(_single_test(part) for part in parts)
    return f"not ({tests})" if negated else f"({tests})"


# --------------------------------------------------------------------------- parsing

class DecisionParser(DMNParser):
    """One decision of a DMN file (the file may hold several)."""

    def __init__(self, parser, node, nsmap, element, filename=None):
        super().__init__(parser, node, nsmap, filename=filename)
        self.element = element

    @property
    def bpmn_id(self):
        return self.element.get("id")

    def get_name(self):
        return self.element.get("name")

    def parse(self):
        if self.decision is None:
            self.decision = self._parse_decision([self.element])

    def required(self) -> list[str]:
        return [href.lstrip("#") for href in
                self.element.xpath("dmn:informationRequirement/dmn:requiredDecision/@href", namespaces=self.nsmap)]

    def _parse_input_output_element(self, decision_table, element, cls, idx):
        entry = super()._parse_input_output_element(decision_table, element, cls, idx)
        if cls is InputEntry:
            entry.lhs = [feel_unary_tests(text) for text in entry.lhs]
        return entry


def add_dmn_xml(parser, node, filename=None):
    """Register every decision of a DMN file with the BPMN/DMN parser."""
    namespaces = parser.namespaces.copy()
    namespaces.update(node.nsmap)
    if None in namespaces:
        namespaces["dmn"] = namespaces.pop(None)
    for element in node.xpath("dmn:decision", namespaces=namespaces):
        decision = DecisionParser(parser, node, namespaces, element, filename=filename)
        parser.dmn_parsers[decision.bpmn_id] = decision
        parser.dmn_parsers_by_name[decision.get_name()] = decision


def get_engine(parser, decision_ref, node, seen=()):
    if decision_ref not in parser.dmn_parsers:
        options = ", ".join(parser.dmn_parsers) or "aucune"
        raise ValidationException(f"décision DMN « {decision_ref} » introuvable (décisions connues : {options})",
                                  node=node, file_name="")
    if decision_ref in seen:
        raise ValidationException(f"cycle de décisions requises : {' → '.join(seen + (decision_ref,))}",
                                  node=node, file_name="")
    decision_parser = parser.dmn_parsers[decision_ref]
    decision_parser.parse()
    table = decision_parser.decision.decisionTables[0]
    required = [get_engine(parser, ref, node, seen + (decision_ref,))
                for ref in getattr(decision_parser, "required", lambda: [])()]
    return DecisionEngine(decision_ref, table, required)


# --------------------------------------------------------------------------- evaluation

class DecisionEngine(DMNEngine):
    """A decision table and the decisions it requires (its DRG)."""

    def __init__(self, decision_id, decision_table, required):
        super().__init__(decision_table)
        self.decision_id = decision_id
        self.required = required

    @property
    def hit_policy(self) -> str:
        return (self.decision_table.hit_policy or "UNIQUE").upper()

    def result_list(self, task) -> list[dict]:
        """Camunda's DmnDecisionResult: one map (output name → value) per matched rule."""
        saved = task.data
        try:
            if self.required:
                task.data = dict(saved)
                for engine in self.required:
                    engine.add_to_context(task, task.data)
            rules = self.decide(task)
            policy = self.hit_policy
            if policy == "UNIQUE" and len(rules) > 1:
                raise WorkflowTaskException(
                    f"décision « {self.decision_id} » (UNIQUE) : plusieurs règles satisfaites "
                    f"({', '.join(str(r.row_number) for r in rules)})", task=task)
            if policy in SINGLE_HIT_POLICIES:
                rules = rules[:1]
            return [dict(rule.output_as_dict(task)) for rule in rules]
        finally:
            task.data = saved

    def decide(self, task):
        if self.hit_policy == "UNIQUE":  # SpiffWorkflow stops at the first match; Camunda checks
            return [rule for rule in self.decision_table.rules if self._DMNEngine__check_rule(rule, task)]
        return super().decide(task)

    def add_to_context(self, task, context: dict) -> None:
        """A required decision's outputs as variables of the decision that requires it
        (as Camunda's DefaultDmnDecisionContext: one result gives values, several give lists)."""
        results = self.result_list(task)
        if len(results) == 1 and self.hit_policy not in ("COLLECT", "RULE ORDER"):
            context.update(results[0])
        else:
            for name in dict.fromkeys(k for result in results for k in result):
                context[name] = [result.get(name) for result in results]

    def result(self, task):
        """SpiffWorkflow's merged result (no camunda:resultVariable): outputs into task data."""
        results = self.result_list(task)
        if self.hit_policy in ("COLLECT", "RULE ORDER"):
            merged: dict = {}
            for result in results:
                for key, value in result.items():
                    merged.setdefault(key, []).append(value)
            return merged
        return results[0] if results else {}


def map_decision_result(results: list[dict], mapping: str, decision_id: str):
    """camunda:mapDecisionResult, exactly as Camunda's mappers (errors where Camunda throws)."""
    def fail(why):
        raise ValueError(f"décision « {decision_id} », mapDecisionResult={mapping} : {why}")
    if mapping == "resultList":
        return results
    if mapping == "collectEntries":
        values = []
        for result in results:
            if len(result) > 1:
                fail("une règle a plusieurs sorties (collectEntries en exige une)")
            values.extend(result.values())
        return values
    if len(results) > 1:
        fail(f"{len(results)} résultats (un seul attendu)")
    if not results:
        return None
    if mapping == "singleResult":
        return results[0]
    if len(results[0]) > 1:
        fail("le résultat a plusieurs sorties (singleEntry en exige une)")
    return next(iter(results[0].values()), None)


_spiff_run_hook = BusinessRuleTaskMixin._run_hook


def _run_hook(self, my_task):
    ext = getattr(self, "extensions", None) or {}
    variable = ext.get("resultVariable")
    engine = self.dmnEngine
    if not variable or not isinstance(engine, DecisionEngine):
        return _spiff_run_hook(self, my_task)
    mapping = ext.get("mapDecisionResult") or "resultList"
    try:
        my_task.data[variable] = map_decision_result(engine.result_list(my_task), mapping, engine.decision_id)
    except WorkflowTaskException:
        raise
    except Exception as err:
        raise WorkflowTaskException(str(err), task=my_task, exception=err) from err
    return super(BusinessRuleTaskMixin, self)._run_hook(my_task)


def install() -> None:
    BusinessRuleTaskMixin._run_hook = _run_hook
