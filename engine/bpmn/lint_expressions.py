"""Deploy-time parsing of every expression and script a diagram holds.

Without it a typo in a condition, `${amount gt}` or a script doing `import os` lints clean,
deploys, and becomes an incident one element later. Each expression is parsed as the engine
will run it (JUEL or sandboxed Python, `expressions.compile_expression`), each Python script is
compiled against the sandbox rules, and the finding names the file, line and element (the
flow, for a condition). JavaScript and Groovy are refused with a hint.
"""
from __future__ import annotations

from arsflow.engine.bpmn.expressions import check_body, check_value
from arsflow.engine.bpmn.sandbox import SandboxError, compile_script

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
PYTHON_SCRIPT_FORMATS = frozenset({"", "python", "python3", "text/x-python", "py"})
# Bodies always parsed, even without ${…}: a bare text there is a (Python or JUEL) expression.
CONDITION_TYPES = frozenset({"conditionExpression", "completionCondition", "loopCondition", "condition"})
# Non-namespaced attributes of camunda elements that hold expressions.
EXPRESSION_ATTRIBUTES = {"in": ("sourceExpression", "businessKey"), "out": ("sourceExpression",),
                         "executionListener": ("expression", "delegateExpression"),
                         "taskListener": ("expression", "delegateExpression")}
SCRIPT_HINT = ("le moteur exécute les scripts en Python (bac à sable) et les expressions en JUEL "
               "ou en Python : réécrivez-le dans l'un d'eux")


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _owner(element):
    """The nearest element with an id: the task, event or flow a finding is about."""
    reported = element
    while reported is not None and not reported.get("id"):
        reported = reported.getparent()
    return reported if reported is not None else element


def script_problems(text: str) -> list[tuple[int | None, str]]:
    """(line in the script, French message) for each reason the sandbox would refuse it."""
    try:
        compile_script(text, "exec")
    except SandboxError as err:
        return [(err.lineno, "; ".join(err.errors))]
    except SyntaxError as err:
        return [(err.lineno, f"erreur de syntaxe Python ligne {err.lineno} : {err.msg}")]
    return []


def _single_expression(text: str) -> bool:
    """`${…}` (or `#{…}`) alone: a composite text like `${a} ${b}` is a string in JUEL."""
    body = text.strip()
    return body[:2] in ("${", "#{") and body.endswith("}") and body.count("${") + body.count("#{") == 1


class ExpressionChecks:
    """Mixed into the BPMN linter (`flag(ctx, element, message, line=…)` reports)."""

    def check_expression_text(self, ctx, element):
        text = element.text or ""
        local = _local(element.tag)
        if local in CONDITION_TYPES:
            language = (element.get("language") or "").strip().lower()
            if language and language not in PYTHON_SCRIPT_FORMATS and language not in ("juel", "el"):
                self.flag(ctx, _owner(element), f"{local} en langage « {element.get('language')} » "
                                                f"non pris en charge : {SCRIPT_HINT}")
                return
            if language in PYTHON_SCRIPT_FORMATS - {""} or element.get("language") is None:
                if text.strip() and "${" not in text and "#{" not in text:
                    for problem in check_body(text):
                        self.flag(ctx, _owner(element), f"{local} : {problem}")
                    return
        if "${" in text or "#{" in text:
            problems = check_value(text)
            for problem in problems:
                self.flag(ctx, _owner(element), f"{local} : {problem}")
            if not problems and local in CONDITION_TYPES and not _single_expression(text):
                self.flag(ctx, _owner(element), f"{local} « {text.strip()[:80]} » : une condition est une seule "
                                                "expression ${…}, sans texte autour (sinon elle vaut un texte, "
                                                "jamais vrai ou faux)")

    def check_expression_value(self, ctx, element, label, value):
        if "${" not in value and "#{" not in value:
            return
        for problem in check_value(value):
            self.flag(ctx, _owner(element), f"{label} : {problem}")

    def check_mapping_attributes(self, ctx, element):
        """camunda:in / camunda:out `sourceExpression` and `businessKey`, listeners' `expression`."""
        for attribute in EXPRESSION_ATTRIBUTES.get(_local(element.tag), ()):
            value = element.get(attribute)
            if value is not None:
                if attribute == "sourceExpression" and "${" not in value and "#{" not in value:
                    self.flag(ctx, _owner(element), f"camunda:{_local(element.tag)} sourceExpression "
                                                    f"« {value} » : une expression ${{…}} est attendue")
                    continue
                self.check_expression_value(ctx, element, f"camunda:{_local(element.tag)} {attribute}", value)

    def check_script(self, ctx, element, script_format, text, label):
        """A script body (script task or camunda:script): Python compiled in the sandbox."""
        if (script_format or "").strip().lower() not in PYTHON_SCRIPT_FORMATS:
            self.flag(ctx, _owner(element), f"{label} en « {script_format} » non pris en charge : "
                                            f"{SCRIPT_HINT}")
            return
        if not (text or "").strip():
            return
        for line, message in script_problems(text):
            at = element.sourceline + (line - 1) if line and element.sourceline else element.sourceline
            self.flag(ctx, _owner(element), f"{label} refusé : {message}", line=at)
