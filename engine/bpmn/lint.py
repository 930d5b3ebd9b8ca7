"""Static checks of BPMN, DMN and Camunda Forms files before they are deployed.

SpiffWorkflow 3.2 accepts many diagrams it cannot run correctly: some constructs are
silently ignored (a condition on a task's outgoing flow, a signal end event), others never
complete (link events) or corrupt the parsed spec. Process owners draw in Camunda Modeler
and expect Camunda's semantics, so the linter tells them, per element (id, type, line),
what the engine will refuse or misread, in French, before a deployment or an upload.

Only processes marked `isExecutable="true"` must be runnable: in a descriptive process the
same findings are warnings. Nothing here evaluates an expression or runs a script.
"""
from __future__ import annotations

import json
import os
import re
import threading
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Iterable

from arsflow.engine.bpmn.lint_expressions import ExpressionChecks
from arsflow.engine.bpmn.parser import ArsParser
from arsflow.engine.bpmn.size_limits import size_problems
from arsflow.engine.bpmn.xmlsafe import MAX_XML_BYTES, XmlError, parse_xml
from arsflow.engine.time.durations import (
    DurationError,
    describe_timer_value,
    is_duration,
    parse_duration,
    parse_instant,
)
from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import XSD_PATH, full_tag
from SpiffWorkflow.bpmn.specs.defaults import NoneTask

ERROR = "error"
WARNING = "warning"

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
MODELER_NS = "http://camunda.org/schema/modeler/1.0"

BPMN_SUFFIXES = (".bpmn", ".bpmn20.xml")
DMN_SUFFIXES = (".dmn", ".dmn11.xml")
FORM_SUFFIXES = (".form",)

# The tables below are read from the engine's own parser (SpiffWorkflow's Camunda parser as
# arsflow extends it), so that a change there or a SpiffWorkflow upgrade is picked up.
_ENGINE_PARSER_CLASSES = {**ArsParser.PARSER_CLASSES, **ArsParser.OVERRIDE_PARSER_CLASSES}
# Every element type the engine maps to a task spec.
SPIFF_NODE_TYPES = frozenset(tag.rsplit("}", 1)[-1] for tag in _ENGINE_PARSER_CLASSES)
# SpiffWorkflow's own NoneTask waits for a person where Camunda passes through a plain task.
PLAIN_TASK_WAITS = _ENGINE_PARSER_CLASSES[full_tag("task")][1] is NoneTask

# BPMN 2.0 flow nodes (substitution group of tFlowNode): anything here that SpiffWorkflow
# does not map cannot be executed at all.
FLOW_NODE_TYPES = frozenset({
    "task", "userTask", "manualTask", "serviceTask", "scriptTask", "businessRuleTask",
    "sendTask", "receiveTask", "callActivity", "subProcess", "transaction",
    "adHocSubProcess", "startEvent", "endEvent", "intermediateCatchEvent",
    "intermediateThrowEvent", "boundaryEvent", "implicitThrowEvent", "exclusiveGateway",
    "inclusiveGateway", "parallelGateway", "complexGateway", "eventBasedGateway",
    "callChoreography", "choreographyTask", "subChoreography",
})
ACTIVITY_TYPES = frozenset({
    "task", "userTask", "manualTask", "serviceTask", "scriptTask", "businessRuleTask",
    "sendTask", "receiveTask", "callActivity", "subProcess", "transaction", "adHocSubProcess",
})
SUBPROCESS_TYPES = frozenset({"subProcess", "transaction", "adHocSubProcess"})
# Nodes whose SpiffWorkflow parser accepts several outgoing flows (handles_multiple_outgoing).
MULTI_OUTGOING_TYPES = frozenset({
    "exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway",
    "complexGateway", "startEvent",
})
CONDITIONAL_GATEWAYS = frozenset({"exclusiveGateway", "inclusiveGateway"})

# Event definitions each SpiffWorkflow event parser reads (bpmn/parser/event_parsers.py);
# any other one is dropped without a word and the event behaves as a "none" event.
SUPPORTED_EVENT_DEFINITIONS = {
    "startEvent": {"messageEventDefinition", "signalEventDefinition", "timerEventDefinition",
                   "conditionalEventDefinition", "errorEventDefinition", "escalationEventDefinition"},
    "endEvent": {"messageEventDefinition", "cancelEventDefinition", "errorEventDefinition",
                 "escalationEventDefinition", "terminateEventDefinition"},
    "intermediateCatchEvent": {"messageEventDefinition", "signalEventDefinition",
                               "timerEventDefinition", "conditionalEventDefinition"},
    "intermediateThrowEvent": {"escalationEventDefinition", "messageEventDefinition",
                               "signalEventDefinition"},
    "boundaryEvent": {"cancelEventDefinition", "errorEventDefinition", "escalationEventDefinition",
                      "messageEventDefinition", "signalEventDefinition", "timerEventDefinition",
                      "conditionalEventDefinition"},
}
EVENT_DEFINITION_TYPES = frozenset({
    "messageEventDefinition", "signalEventDefinition", "timerEventDefinition",
    "conditionalEventDefinition", "cancelEventDefinition", "errorEventDefinition",
    "escalationEventDefinition", "terminateEventDefinition", "compensateEventDefinition",
    "linkEventDefinition",
})
EVENT_DEFINITION_LABELS = {
    "messageEventDefinition": "message", "signalEventDefinition": "signal",
    "timerEventDefinition": "minuterie", "conditionalEventDefinition": "condition",
    "cancelEventDefinition": "annulation", "errorEventDefinition": "erreur",
    "escalationEventDefinition": "escalade", "terminateEventDefinition": "terminaison",
    "compensateEventDefinition": "compensation", "linkEventDefinition": "lien",
}
# (attribute on the event definition or task, element type it must name)
EVENT_REFERENCES = {
    "messageEventDefinition": ("messageRef", "message"),
    "signalEventDefinition": ("signalRef", "signal"),
    "errorEventDefinition": ("errorRef", "error"),
    "escalationEventDefinition": ("escalationRef", "escalation"),
}
TIMER_KINDS = ("timeDate", "timeDuration", "timeCycle")
# Texts holding expressions (JUEL in Camunda); scripts and documentation are free text.
EXPRESSION_TEXT_TYPES = frozenset({
    "conditionExpression", "completionCondition", "loopCondition", "loopCardinality", "condition",
    "timeDate", "timeDuration", "timeCycle",
})
FORM_REF_BINDINGS = ("latest", "deployment", "version")
PYTHON_SCRIPT_FORMATS = frozenset({"", "python", "python3", "text/x-python", "py"})

_INTEGER = re.compile(r"^[+-]?\d+$")


@dataclass(frozen=True)
class Finding:
    file: str
    element_id: str | None
    element_type: str | None
    line: int | None
    message: str
    severity: str  # "error" | "warning"
    column: int | None = None


@dataclass
class LintReport:
    findings: list[Finding] = field(default_factory=list)
    processes: dict[str, str] = field(default_factory=dict)  # executable process id -> file
    decisions: dict[str, str] = field(default_factory=dict)  # DMN decision id -> file
    forms: dict[str, str] = field(default_factory=dict)      # Camunda form id -> file

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> list[dict]:
        return [asdict(f) for f in self.findings]

    def format_text(self) -> str:
        """One line per finding, `file:line: [severity] id (type): message`, like a compiler."""
        lines = []
        for f in self.findings:
            where = f.file if f.line is None else f"{f.file}:{f.line}"
            subject = ""
            if f.element_id and f.element_type:
                subject = f"{f.element_id} ({f.element_type}): "
            elif f.element_id or f.element_type:
                subject = f"{f.element_id or f.element_type}: "
            lines.append(f"{where}: [{f.severity}] {subject}{f.message}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- helpers

def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _namespace(tag) -> str:
    return tag[1:].split("}", 1)[0] if isinstance(tag, str) and tag.startswith("{") else ""


def _q(local: str, ns: str = BPMN_NS) -> str:
    return f"{{{ns}}}{local}"


def _ids(values: list[str]) -> str:
    unique = list(dict.fromkeys(values))
    return ", ".join(f"« {v} »" for v in unique)


def _is_expression(value: str) -> bool:
    return "${" in value or "#{" in value


@lru_cache(maxsize=1)
def _bpmn_schema() -> etree.XMLSchema:
    """The BPMN 2.0 XSD shipped with SpiffWorkflow, loaded once per process (as its
    BpmnValidator does, from the file so that the relative imports resolve)."""
    return etree.XMLSchema(etree.parse(XSD_PATH))


# lxml validators keep their error log on the object: serialise concurrent validations.
_SCHEMA_LOCK = threading.Lock()


def _source_kind(name: str, data: bytes) -> str:
    lowered = name.lower()
    if lowered.endswith(FORM_SUFFIXES):
        return "form"
    if lowered.endswith(BPMN_SUFFIXES + DMN_SUFFIXES):
        return "xml"
    head = data.lstrip()[:1]
    if head in (b"{", b"["):
        return "form"
    return "xml"


# --------------------------------------------------------------------------- main entry points

def lint_sources(sources: list[tuple[str, bytes]], known_forms: Iterable[str] = (),
                 known_decisions: Iterable[str] = (),
                 known_processes: Iterable[str] = ()) -> LintReport:
    """Lint BPMN, DMN and form files deployed together.

    `known_*` are ids already deployed (references to them resolve); ids found among
    `sources` resolve too, so a diagram and its forms and decisions can be deployed at once."""
    report = LintReport()
    bpmn_docs: list[tuple[str, etree._ElementTree]] = []
    for name, data in sources:
        if _source_kind(name, data) == "form":
            _lint_form(report, name, data)
            continue
        try:
            tree = parse_xml(data, name)
        except XmlError as exc:
            report.findings.append(Finding(name, None, None, exc.line, exc.message, ERROR, exc.column))
            continue
        root = tree.getroot()
        if root.tag == _q("definitions"):
            bpmn_docs.append((name, tree))
        elif _local(root.tag) == "definitions" and "/DMN/" in _namespace(root.tag).upper():
            _lint_dmn(report, name, root)
        else:
            report.findings.append(Finding(
                name, root.get("id"), _local(root.tag), root.sourceline,
                f"document non reconnu : racine <{_local(root.tag)}> dans l'espace de noms "
                f"« {_namespace(root.tag) or 'aucun'} » (attendu : definitions BPMN 2.0 ou DMN)",
                ERROR))

    all_processes = _collect_processes(report, bpmn_docs)
    context = _Resolution(
        forms=set(known_forms) | set(report.forms),
        decisions=set(known_decisions) | set(report.decisions),
        processes=set(known_processes) | set(report.processes),
        descriptive_processes={pid for pid, (_, executable) in all_processes.items() if not executable},
    )
    for name, tree in bpmn_docs:
        _BpmnLinter(report, name, tree, context).run()

    order = {name: index for index, (name, _) in enumerate(sources)}
    report.findings.sort(key=lambda f: (order.get(f.file, len(order)), f.line or 0))
    return report


def lint_paths(paths: list[str], **known) -> LintReport:
    """Lint files and folders (folders recursively: *.bpmn, *.dmn, *.form)."""
    sources: list[tuple[str, bytes]] = []
    problems: list[Finding] = []
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    for path in paths:
        path = os.fspath(path)
        if os.path.isdir(path):
            files = []
            for folder, dirnames, filenames in os.walk(path):
                dirnames.sort()
                for filename in sorted(filenames):
                    if filename.lower().endswith(BPMN_SUFFIXES + DMN_SUFFIXES + FORM_SUFFIXES):
                        files.append(os.path.join(folder, filename))
        else:
            files = [path]
        for filename in files:
            try:
                size = os.path.getsize(filename)
                if size > MAX_XML_BYTES:
                    problems.append(Finding(
                        filename, None, None, None,
                        f"fichier trop volumineux ({size / 1_048_576:.1f} Mo) : la taille "
                        f"maximale est {MAX_XML_BYTES / 1_048_576:.0f} Mo", ERROR))
                    continue
                with open(filename, "rb") as handle:
                    sources.append((filename, handle.read()))
            except OSError as exc:
                problems.append(Finding(filename, None, None, None,
                                        f"fichier illisible : {exc.strerror or exc}", ERROR))
    report = lint_sources(sources, **known)
    report.findings[:0] = problems
    return report


# --------------------------------------------------------------------------- forms and DMN

def _lint_form(report: LintReport, name: str, data: bytes) -> None:
    def error(message, line=None, column=None):
        report.findings.append(Finding(name, None, "form", line, message, ERROR, column))

    if len(data) > MAX_XML_BYTES:
        error(f"fichier trop volumineux : la taille maximale est {MAX_XML_BYTES / 1_048_576:.0f} Mo")
        return
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        error(f"formulaire illisible : le fichier n'est pas en UTF-8 (octet {exc.start})")
        return
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        error(f"JSON mal formé : {exc.msg}", exc.lineno, exc.colno)
        return
    if not isinstance(document, dict):
        error("formulaire Camunda attendu : un objet JSON avec un « id »", 1, 1)
        return
    form_id = document.get("id")
    if not isinstance(form_id, str) or not form_id.strip():
        error("formulaire sans « id » (chaîne) au premier niveau : il ne pourra pas être "
              "référencé par camunda:formRef", 1, 1)
        return
    if form_id in report.forms:
        report.findings.append(Finding(
            name, form_id, "form", 1,
            f"identifiant de formulaire « {form_id} » déjà défini dans {report.forms[form_id]}",
            ERROR))
        return
    report.forms[form_id] = name


def _lint_dmn(report: LintReport, name: str, root: etree._Element) -> None:
    """Every decision of the file is deployed (a DRG as Camunda's invoice example); only
    decision tables can be evaluated, and each requiredDecision must name one of the file."""
    ns = _namespace(root.tag)
    if root.prefix not in (None, "dmn"):
        report.findings.append(Finding(
            name, root.get("id"), "definitions", root.sourceline,
            f"préfixe d'espace de noms « {root.prefix} » non pris en charge par le moteur : "
            "enregistrez le fichier depuis Camunda Modeler (espace de noms DMN par défaut)", ERROR))
    decisions = [el for el in root.iterchildren(_q("decision", ns))]
    if not decisions:
        report.findings.append(Finding(name, root.get("id"), "definitions", root.sourceline,
                                       "aucune décision (<decision>) dans ce fichier DMN", ERROR))
        return
    in_file = {d.get("id") for d in decisions}
    for decision in decisions:
        decision_id = decision.get("id")
        if not decision_id:
            report.findings.append(Finding(name, None, "decision", decision.sourceline,
                                           "décision sans identifiant (attribut id)", ERROR))
            continue
        if decision.find(_q("decisionTable", ns)) is None:
            report.findings.append(Finding(
                name, decision_id, "decision", decision.sourceline,
                "décision sans table de décision : le moteur ne sait évaluer que les tables de "
                "décision (decisionTable)", ERROR))
        for required in decision.iterfind(f"{_q('informationRequirement', ns)}/{_q('requiredDecision', ns)}"):
            ref = (required.get("href") or "").lstrip("#")
            if ref not in in_file:
                report.findings.append(Finding(
                    name, decision_id, "decision", required.sourceline,
                    f"décision requise « {ref} » absente de ce fichier DMN", ERROR))
        if decision_id in report.decisions:
            report.findings.append(Finding(
                name, decision_id, "decision", decision.sourceline,
                f"identifiant de décision « {decision_id} » déjà défini dans "
                f"{report.decisions[decision_id]}", ERROR))
            continue
        report.decisions[decision_id] = name


# --------------------------------------------------------------------------- BPMN

@dataclass
class _Resolution:
    forms: set
    decisions: set
    processes: set
    descriptive_processes: set


def _collect_processes(report: LintReport, docs) -> dict[str, tuple[str, bool]]:
    """Record executable processes; the same id twice is refused by SpiffWorkflow's parser."""
    seen: dict[str, tuple[str, bool]] = {}
    for name, tree in docs:
        for process in tree.getroot().iterchildren(_q("process")):
            pid = process.get("id")
            if not pid:
                continue
            executable = process.get("isExecutable") == "true"
            if pid in seen:
                other_file, other_executable = seen[pid]
                both = executable and other_executable
                report.findings.append(Finding(
                    name, pid, "process", process.sourceline,
                    f"identifiant de processus « {pid} » déjà utilisé dans {other_file}"
                    + ("" if both else " (processus descriptif : sans effet tant qu'il n'est "
                                       "pas déployé avec l'autre)"),
                    ERROR if both else WARNING))
                continue
            seen[pid] = (name, executable)
            if executable:
                report.processes[pid] = name
    return seen


@dataclass
class _ProcessContext:
    process_id: str | None
    executable: bool
    nodes: dict           # id -> element, within this process
    outgoing: dict        # source id -> [sequenceFlow]

    @property
    def severity(self) -> str:
        return ERROR if self.executable else WARNING


class _BpmnLinter(ExpressionChecks):
    def __init__(self, report: LintReport, name: str, tree, resolution: _Resolution):
        self.report = report
        self.name = name
        self.tree = tree
        self.root = tree.getroot()
        self.resolution = resolution
        self.doc_ids: dict[str, etree._Element] = {}
        self.any_executable = any(p.get("isExecutable") == "true"
                                  for p in self.root.iterchildren(_q("process")))
        # What breaks the loading of the whole file only matters if something is to run.
        self.blocker = ERROR if self.any_executable else WARNING

    # ---- reporting
    def add(self, element, message, severity, line=None, column=None):
        self.report.findings.append(Finding(
            self.name,
            element.get("id") if element is not None else None,
            _local(element.tag) if element is not None else None,
            line if line is not None else (element.sourceline if element is not None else None),
            message, severity, column))

    def flag(self, ctx: _ProcessContext, element, message, line=None):
        """A finding whose weight depends on the process being executable."""
        if not ctx.executable:
            message += " (processus non exécutable : signalé pour information)"
        self.add(element, message, ctx.severity, line=line)

    # ---- document
    def run(self):
        for element in self.root.iter(etree.Element):
            element_id = element.get("id")
            if element_id:
                self.doc_ids.setdefault(element_id, element)
        self.check_document()
        for process in self.root.iterchildren(_q("process")):
            self.check_process(process)
        self.check_schema()

    def check_document(self):
        root = self.root
        if not self.any_executable:
            self.add(root, "aucun processus exécutable (isExecutable=\"true\") dans ce fichier : "
                           "diagramme descriptif, rien ne sera déployé comme processus exécutable",
                     WARNING)
        platform = root.get(_q("executionPlatform", MODELER_NS), "")
        uses_zeebe = next(root.iter(_q("*", ZEEBE_NS)), None) is not None
        if platform == "Camunda Cloud" or uses_zeebe:
            self.add(root, "diagramme Camunda 8 (Zeebe) : les extensions zeebe:* sont ignorées, "
                           "arsflow exécute les diagrammes « Camunda Platform » 7 (camunda:*)",
                     WARNING)
        for store in root.iterchildren(_q("dataStore")):
            self.add(store, "magasin de données (dataStore) sans implémentation dans le moteur : "
                            "SpiffWorkflow refuse de charger le fichier entier", self.blocker)
        for local in ("message", "signal", "error", "escalation"):
            for item in root.iterchildren(_q(local)):
                if not item.get("id"):
                    self.add(item, f"<{local}> sans identifiant : SpiffWorkflow refuse de "
                                   "charger le fichier", self.blocker)
        for local in ("choreography", "globalConversation"):
            for item in root.iterchildren(_q(local)):
                self.add(item, "chorégraphie/conversation : élément descriptif ignoré par le "
                               "moteur, il ne sera pas exécuté", WARNING)

    def check_schema(self):
        schema = _bpmn_schema()
        # Same workaround as SpiffWorkflow's BpmnValidator: bpmn-js writes correlation
        # retrieval expressions the XSD rejects. Done last: it renames elements.
        for expression in self.root.iter(_q("formalExpression")):
            if expression.getparent().tag == _q("correlationPropertyRetrievalExpression"):
                expression.tag = _q("messagePath")
        with _SCHEMA_LOCK:
            if schema.validate(self.tree):
                return
            entries = list(schema.error_log)
        prefixes = {k: v for k, v in self.root.nsmap.items() if k}
        for entry in entries:
            element = None
            if entry.path:
                try:
                    found = self.tree.xpath(entry.path, namespaces=prefixes)
                    element = found[0] if found and isinstance(found[0], etree._Element) else None
                except etree.XPathError:
                    element = None
            message = f"non conforme au schéma BPMN 2.0 : {entry.message}"
            self.add(element, message, self.blocker, line=entry.line or None,
                     column=entry.column or None)

    # ---- process
    def check_process(self, process):
        pid = process.get("id")
        executable_attr = process.get("isExecutable")
        nodes: dict[str, etree._Element] = {}
        outgoing: dict[str, list] = defaultdict(list)
        elements = list(process.iter(etree.Element))
        for element in elements:
            element_id = element.get("id")
            if element_id:
                nodes[element_id] = element
            if element.tag == _q("sequenceFlow"):
                outgoing[element.get("sourceRef")].append(element)
        ctx = _ProcessContext(pid, executable_attr == "true", nodes, outgoing)

        if executable_attr is None:
            self.add(process, "attribut isExecutable absent : processus traité comme descriptif "
                              "(Camunda exige isExecutable=\"true\" pour le déployer)", WARNING)
        elif not ctx.executable:
            self.add(process, "processus non exécutable (isExecutable=\"false\") : diagramme "
                              "descriptif, il ne sera pas déployé comme processus exécutable", WARNING)
        if ctx.executable and not pid:
            self.add(process, "processus exécutable sans identifiant (attribut id)", ERROR)
        if ctx.executable and process.find(_q("startEvent")) is None:
            self.add(process, "aucun événement de début au premier niveau du processus : "
                              "le moteur ne peut pas le démarrer", ERROR)

        if ctx.executable:
            for element, message in size_problems(process, elements):
                self.add(element, message, ERROR)

        for element in elements:
            ns = _namespace(element.tag)
            if ns == BPMN_NS:
                local = _local(element.tag)
                if local in FLOW_NODE_TYPES:
                    self.check_flow_node(ctx, element, local)
                elif local == "sequenceFlow":
                    self.check_sequence_flow(ctx, element)
                elif local in EXPRESSION_TEXT_TYPES:
                    self.check_expression_text(ctx, element)
                elif local == "timerEventDefinition":
                    self.check_timer(ctx, element)
                elif local in EVENT_REFERENCES:
                    self.check_event_reference(ctx, element, *EVENT_REFERENCES[local])
            elif ns == CAMUNDA_NS:
                local = _local(element.tag)
                if local in ("executionListener", "taskListener"):
                    self.check_listener(ctx, element)
                    self.check_mapping_attributes(ctx, element)  # the listener's ${…} parses
                elif local == "script":
                    self.check_script(ctx, element, element.get("scriptFormat"), element.text,
                                      "camunda:script")
                else:
                    self.check_expression_text(ctx, element)
                    self.check_mapping_attributes(ctx, element)
            if element.attrib:
                self.check_camunda_attributes(ctx, element)

    # ---- flow nodes
    def check_flow_node(self, ctx, element, local):
        if local not in SPIFF_NODE_TYPES:
            if local == "complexGateway":
                message = ("passerelle complexe non prise en charge par SpiffWorkflow 3.2 : "
                           "remplacez-la par une passerelle inclusive ou exclusive")
            elif local in ("callChoreography", "choreographyTask", "subChoreography"):
                message = "élément de chorégraphie non exécutable par le moteur"
            else:
                message = f"élément non exécutable : SpiffWorkflow 3.2 ne sait pas exécuter un {local}"
            self.flag(ctx, element, message)
            return

        if local in ACTIVITY_TYPES and element.get("isForCompensation") == "true":
            self.flag(ctx, element, "activité de compensation (isForCompensation) non prise en "
                                    "charge par SpiffWorkflow 3.2 : elle ne serait jamais exécutée")
        if local.endswith("Event"):
            self.check_event_definitions(ctx, element, local)
        if local in SUBPROCESS_TYPES:
            self.check_subprocess(ctx, element, local)
        if local in ACTIVITY_TYPES:
            self.check_loops(ctx, element)
            self.check_data_associations(ctx, element)

        flows = ctx.outgoing.get(element.get("id"), [])
        if len(flows) >= 2 and local not in MULTI_OUTGOING_TYPES:
            self.flag(ctx, element, f"{len(flows)} flux sortants depuis un {local} : SpiffWorkflow "
                                    "refuse plusieurs flux sortants hors passerelle, utilisez une "
                                    "passerelle (parallèle ou exclusive)")
        if local in CONDITIONAL_GATEWAYS and len(flows) >= 2:
            default = element.get("default")
            for flow in flows:
                if flow.get("id") == default:
                    continue
                condition = flow.find(_q("conditionExpression"))
                if condition is None or not (condition.text or "").strip():
                    self.flag(ctx, flow, "flux sortant d'une passerelle sans condition et qui n'est "
                                         "pas le flux par défaut : refusé par le moteur")

        if local == "task" and ctx.executable and PLAIN_TASK_WAITS:
            self.add(element, "tâche sans type : le moteur l'attend comme une tâche manuelle "
                              "(Camunda la traverse) ; précisez le type (utilisateur, service, "
                              "script…)", WARNING)
        elif local == "userTask":
            self.check_user_task_people(ctx, element)
        elif local == "scriptTask":
            self.check_script_task(ctx, element)
        elif local == "businessRuleTask":
            self.check_business_rule_task(ctx, element)
        elif local == "callActivity":
            self.check_call_activity(ctx, element)
        elif local == "boundaryEvent":
            attached = element.get("attachedToRef")
            if attached not in ctx.nodes:
                self.flag(ctx, element, f"événement attaché à « {attached} », introuvable dans "
                                        "ce processus")
        elif local in ("sendTask", "receiveTask") and element.get("messageRef"):
            self.check_reference(ctx, element, element, "messageRef", "message")

    def check_event_definitions(self, ctx, event, local):
        definitions = [child for child in event
                       if _namespace(child.tag) == BPMN_NS and _local(child.tag) in EVENT_DEFINITION_TYPES]
        supported = SUPPORTED_EVENT_DEFINITIONS.get(local, set())
        for definition in definitions:
            kind = _local(definition.tag)
            if kind == "linkEventDefinition":
                self.flag(ctx, event, "événement de lien (link) non pris en charge : SpiffWorkflow "
                                      "3.2 ne le termine jamais ; reliez les éléments par un flux "
                                      "de séquence")
            elif kind == "compensateEventDefinition":
                self.flag(ctx, event, "événement de compensation non pris en charge par "
                                      "SpiffWorkflow 3.2 ; modélisez l'annulation par un chemin "
                                      "explicite (passerelle et tâches d'annulation)")
            elif kind == "cancelEventDefinition" and kind in supported:
                container = self._enclosing_container(event)
                if local == "boundaryEvent":
                    target = ctx.nodes.get(event.get("attachedToRef"))
                    inside = target is not None and _local(target.tag) == "transaction"
                else:
                    inside = container is not None and _local(container.tag) == "transaction"
                if not inside:
                    self.flag(ctx, event, "événement d'annulation hors d'un sous-processus "
                                          "transactionnel : refusé par le moteur")
            elif kind not in supported:
                self.flag(ctx, event, f"événement de type « {EVENT_DEFINITION_LABELS[kind]} » non "
                                      f"pris en charge sur un {local} : le moteur l'ignorerait")
            if kind == "conditionalEventDefinition":
                condition = definition.find(_q("condition"))
                if condition is None or not (condition.text or "").strip():
                    self.flag(ctx, event, "événement conditionnel sans condition : refusé par le moteur")
        if local == "boundaryEvent" and not any(
                _local(d.tag) in SUPPORTED_EVENT_DEFINITIONS["boundaryEvent"] for d in definitions):
            if not any(_local(d.tag) in ("compensateEventDefinition", "linkEventDefinition")
                       for d in definitions):
                self.flag(ctx, event, "événement attaché sans définition prise en charge "
                                      "(message, minuterie, erreur, signal…) : refusé par le moteur")

    def _enclosing_container(self, element):
        parent = element.getparent()
        while parent is not None and _local(parent.tag) not in SUBPROCESS_TYPES | {"process"}:
            parent = parent.getparent()
        return parent

    def check_subprocess(self, ctx, element, local):
        if local == "adHocSubProcess":
            self.flag(ctx, element, "sous-processus ad hoc non pris en charge (absent de Camunda 7, "
                                    "expérimental dans SpiffWorkflow) : modélisez les tâches avec "
                                    "des passerelles")
            return
        if local == "transaction":
            self.flag_warning_only(ctx, element, "sous-processus transactionnel exécuté comme un "
                                                 "sous-processus ordinaire : une annulation ne "
                                                 "déclenche aucune compensation")
        starts = element.findall(_q("startEvent"))
        if element.get("triggeredByEvent") == "true" and _local(self._enclosing_container(element).tag) != "process":
            self.flag(ctx, element, "sous-processus événementiel à l'intérieur d'un sous-processus : le "
                                    "moteur ne déclenche que ceux du processus ; placez-le au premier niveau "
                                    "ou utilisez un événement attaché au sous-processus")
        if len(starts) != 1:
            self.flag(ctx, element, f"sous-processus avec {len(starts)} événement(s) de début : le "
                                    "moteur en exige exactement un")
        if element.find(_q("endEvent")) is None:
            self.flag(ctx, element, "sous-processus sans événement de fin : refusé par le moteur")

    def flag_warning_only(self, ctx, element, message):
        if ctx.executable:
            self.add(element, message, WARNING)

    def check_loops(self, ctx, activity):
        multi = activity.find(_q("multiInstanceLoopCharacteristics"))
        if multi is not None:
            cardinality = multi.find(_q("loopCardinality"))
            collection = multi.get(_q("collection", CAMUNDA_NS))
            data_input = multi.find(_q("loopDataInputRef"))
            if cardinality is not None:
                value = (cardinality.text or "").strip()
                if not value:
                    self.flag(ctx, activity, "multi-instance : loopCardinality vide (un nombre entier "
                                             "ou une expression ${…} est attendu)")
            elif collection is not None:
                if not collection.strip():
                    self.flag(ctx, activity, "multi-instance : camunda:collection vide (un nom de "
                                             "variable ou une expression ${…} est attendu)")
            elif data_input is None:
                zeebe = activity.find(f".//{_q('loopCharacteristics', ZEEBE_NS)}") is not None
                extra = " (zeebe:loopCharacteristics n'est pas lu)" if zeebe else ""
                self.flag(ctx, activity, "multi-instance sans camunda:collection ni loopCardinality : "
                                         f"le moteur ne sait pas combien d'instances créer{extra}")
        standard = activity.find(_q("standardLoopCharacteristics"))
        if standard is not None:
            maximum = standard.get("loopMaximum")
            condition = standard.find(_q("loopCondition"))
            if maximum is not None and not _INTEGER.match(maximum.strip()):
                self.flag(ctx, activity, f"boucle : loopMaximum « {maximum} » n'est pas un entier")
            elif maximum is None and (condition is None or not (condition.text or "").strip()):
                self.flag(ctx, activity, "boucle standard sans loopMaximum ni loopCondition : "
                                         "refusée par le moteur")

    def check_data_associations(self, ctx, activity):
        """SpiffWorkflow resolves data associations to data objects of the same (sub)process
        or its direct parent only; anything else is refused (and a data object further up
        makes its parser loop forever)."""
        pairs = [(association, "sourceRef") for association in activity.findall(_q("dataInputAssociation"))]
        pairs += [(association, "targetRef") for association in activity.findall(_q("dataOutputAssociation"))]
        if not pairs:
            return
        container = self._enclosing_container(activity)
        scopes = [container]
        if container is not None and _local(container.tag) != "process":
            scopes.append(self._enclosing_container(container))
        stores, foreign, dangling, out_of_scope = [], [], [], []
        for association, ref_tag in pairs:
            for ref in association.findall(_q(ref_tag)):
                ref_id = (ref.text or "").strip()
                target = self.doc_ids.get(ref_id)
                kind = _local(target.tag) if target is not None else None
                if kind == "dataStoreReference":
                    stores.append(ref_id)
                elif kind != "dataObjectReference":
                    foreign.append(ref_id)
                else:
                    data_object = self.doc_ids.get(target.get("dataObjectRef") or "")
                    if data_object is None or _local(data_object.tag) != "dataObject":
                        dangling.append(ref_id)
                    elif not any(data_object.getparent() is scope for scope in scopes):
                        out_of_scope.append(data_object.get("id"))
        if stores:
            self.flag(ctx, activity, f"association avec un magasin de données ({_ids(stores)}) : "
                                     "non pris en charge par le moteur")
        if foreign:
            self.flag(ctx, activity, f"association de données vers {_ids(foreign)} : seul un objet "
                                     "de données (dataObjectReference) est pris en charge")
        if dangling:
            self.flag(ctx, activity, f"référence d'objet de données sans objet de données "
                                     f"(dataObjectRef) valide : {_ids(dangling)}")
        if out_of_scope:
            self.flag(ctx, activity, f"objet de données {_ids(out_of_scope)} défini hors du "
                                     "(sous-)processus de l'activité ou de son parent direct : le "
                                     "moteur ne le trouve pas")

    def check_listener(self, ctx, listener):
        kind = _local(listener.tag)
        owner = listener.getparent().getparent() if listener.getparent() is not None else None
        if owner is None:
            return
        owner_type = _local(owner.tag)
        label = "écouteur d'exécution" if kind == "executionListener" else "écouteur de tâche"
        event = (listener.get("event") or "").strip()
        allowed = ({"take"} if owner_type == "sequenceFlow" else {"start", "end"}) if kind == "executionListener" \
            else {"create", "assignment", "complete"}
        for attr in ("class", "delegateExpression"):
            if listener.get(attr):
                self.flag(ctx, owner, f"{label} camunda:{attr}=« {listener.get(attr)} » : une classe Java ne "
                                      "peut pas s'exécuter dans arsflow ; écrivez l'écouteur en script Python "
                                      "(camunda:script scriptFormat=\"python\") ou en expression ${…}")
                return
        if owner_type == "process":
            self.add(owner, f"{label} sur le processus lui-même : non pris en charge, il ne s'exécutera pas ; "
                            "placez-le sur l'événement de début ou de fin", WARNING)
            return
        if event not in allowed:
            self.flag(ctx, owner, f"{label} : événement « {event} » non pris en charge ici (permis : "
                                  f"{', '.join(sorted(allowed))})")
        script = listener.find(_q("script", CAMUNDA_NS))
        if script is not None:
            script_format = (script.get("scriptFormat") or "").strip().lower()
            if script.get("resource"):
                self.flag(ctx, owner, f"{label} : script externe (resource) non pris en charge ; écrivez le "
                                      "script dans le diagramme")
            elif script_format not in PYTHON_SCRIPT_FORMATS:
                self.flag(ctx, owner, f"{label} : scriptFormat « {script.get('scriptFormat')} » : le moteur "
                                      "exécute les scripts en Python uniquement")
        elif not listener.get("expression"):
            self.flag(ctx, owner, f"{label} sans script ni expression : rien à exécuter")

    def check_user_task_people(self, ctx, element):
        if not ctx.executable:
            return
        camunda = [element.get(_q(a, CAMUNDA_NS)) for a in ("assignee", "candidateUsers", "candidateGroups")]
        if not any((v or "").strip() for v in camunda):
            self.add(element, "tâche utilisateur sans titulaire ni candidats (camunda:assignee, candidateUsers, "
                              "candidateGroups) : seuls les administrateurs (groupe ARSFLOW_ADMINS_GROUP, "
                              "« admins » par défaut) la verront, pour l'attribuer", WARNING)

    def check_script_task(self, ctx, element):
        script = element.find(_q("script"))
        if script is None or not (script.text or "").strip():
            self.flag(ctx, element, "tâche de script sans script intégré (les scripts externes "
                                    "camunda:resource ne sont pas pris en charge)")
        self.check_script(ctx, script if script is not None else element, element.get("scriptFormat"),
                          script.text if script is not None else "", "script")

    def check_business_rule_task(self, ctx, element):
        decision_ref = element.get(_q("decisionRef", CAMUNDA_NS))
        if decision_ref is None:
            hint = (" (zeebe:calledDecision n'est pas lu)"
                    if element.find(f".//{_q('calledDecision', ZEEBE_NS)}") is not None else "")
            message = ("tâche de règle métier sans camunda:decisionRef : SpiffWorkflow refuse de "
                       f"charger le fichier entier{hint}")
            self.add(element, message, self.blocker)
            return
        decision_ref = decision_ref.strip()
        if _is_expression(decision_ref):
            self.flag(ctx, element, f"camunda:decisionRef « {decision_ref} » : une expression n'est "
                                    "pas prise en charge, indiquez l'identifiant de la décision")
        elif decision_ref not in self.resolution.decisions:
            self.flag(ctx, element, f"décision DMN « {decision_ref} » introuvable (ni déployée ni "
                                    "fournie avec ce diagramme)")

    def check_call_activity(self, ctx, element):
        called = (element.get("calledElement") or "").strip()
        binding = element.get(_q("calledElementBinding", CAMUNDA_NS))
        version = element.get(_q("calledElementVersion", CAMUNDA_NS))
        mappings = element.findall(f"{_q('extensionElements')}/{_q('in', CAMUNDA_NS)}") + \
            element.findall(f"{_q('extensionElements')}/{_q('out', CAMUNDA_NS)}")
        if not mappings and ctx.executable:
            self.add(element, "activité d'appel sans camunda:in ni camunda:out : aucune variable ne "
                              "passe entre les deux processus (comme dans Camunda) ; <camunda:in "
                              "variables=\"all\"/> et <camunda:out variables=\"all\"/> transmettent tout",
                     WARNING)
        if binding not in (None, "latest", "deployment", "version"):
            self.flag(ctx, element, f"camunda:calledElementBinding « {binding} » : valeurs prises en "
                                    "charge latest, deployment ou version")
        elif binding == "version" and not _INTEGER.match((version or "").strip()):
            self.flag(ctx, element, f"camunda:calledElementVersion « {version or ''} » : un numéro de "
                                    "version entier est attendu avec calledElementBinding=\"version\"")
        elif binding == "deployment" and called and called not in self.report.processes:
            self.flag(ctx, element, f"calledElementBinding=\"deployment\" : le processus appelé "
                                    f"« {called} » doit être déployé avec ce diagramme")
        if not called:
            hint = (" (zeebe:calledElement n'est pas lu)"
                    if element.find(f".//{_q('calledElement', ZEEBE_NS)}") is not None else "")
            self.flag(ctx, element, f"activité d'appel sans calledElement : refusée par le moteur{hint}")
        elif _is_expression(called):
            self.flag(ctx, element, f"calledElement « {called} » : une expression n'est pas prise "
                                    "en charge, indiquez l'identifiant du processus appelé")
        elif called in self.resolution.processes:
            return
        elif called in self.resolution.descriptive_processes:
            self.flag(ctx, element, f"le processus appelé « {called} » existe mais n'est pas "
                                    "exécutable (isExecutable=\"true\" manquant)")
        else:
            self.flag(ctx, element, f"processus appelé « {called} » introuvable (ni déployé ni "
                                    "fourni avec ce diagramme)")

    # ---- flows
    def check_sequence_flow(self, ctx, flow):
        for attribute in ("sourceRef", "targetRef"):
            ref = flow.get(attribute)
            if ref not in ctx.nodes:
                self.flag(ctx, flow, f"{attribute} « {ref} » introuvable dans ce processus")
        condition = flow.find(_q("conditionExpression"))
        if condition is None:
            return
        source = ctx.nodes.get(flow.get("sourceRef"))
        if source is None:
            return
        source_type = _local(source.tag)
        if source_type not in CONDITIONAL_GATEWAYS:
            self.flag(ctx, flow, f"condition sur un flux sortant d'un {source_type} : le moteur "
                                 "l'ignore silencieusement ; placez une passerelle exclusive avant "
                                 "les flux conditionnels")
        elif source.get("default") == flow.get("id"):
            self.add(flow, "condition sur le flux par défaut : elle est ignorée", WARNING)

    # ---- timers and dates
    def check_timer(self, ctx, definition):
        event = definition.getparent()
        values = [child for child in definition if _local(child.tag) in TIMER_KINDS
                  and _namespace(child.tag) == BPMN_NS]
        if not values:
            self.flag(ctx, event, "minuterie vide : indiquez une date (timeDate), une durée "
                                  "(timeDuration) ou un cycle (timeCycle)")
            return
        for value in values:
            kind = _local(value.tag)
            try:
                describe_timer_value(kind, value.text or "")
            except DurationError as exc:
                self.flag(ctx, event, f"minuterie illisible ({kind}) : {exc}")

    def check_camunda_attributes(self, ctx, element):
        camunda = "{" + CAMUNDA_NS + "}"
        for key, value in element.attrib.items():
            if key.startswith(camunda):
                name = key[len(camunda):]
                self.check_expression_value(ctx, element, f"camunda:{name}", value)
                if name in ("dueDate", "followUpDate"):
                    self.check_task_date(ctx, element, name, value)
                elif name == "priority":
                    value = value.strip()
                    if not _is_expression(value) and not _INTEGER.match(value):
                        self.flag(ctx, element, f"camunda:priority « {value} » : un entier ou une "
                                                "expression ${…} est attendu")
                elif name == "formRef":
                    self.check_form_ref(ctx, element, value.strip())
            elif key == "calledElement":
                self.check_expression_value(ctx, element, key, value)

    def check_task_date(self, ctx, element, name, value):
        value = value.strip()
        if not value or _is_expression(value):
            if not value:
                self.flag(ctx, element, f"camunda:{name} vide")
            return
        try:
            if is_duration(value):
                parse_duration(value)
            else:
                parse_instant(value)
        except DurationError as exc:
            self.flag(ctx, element, f"camunda:{name} illisible : {exc} (attendu : date ISO 8601, "
                                    "durée ISO 8601 comptée depuis la création de la tâche, ou "
                                    "expression ${…})")

    def check_form_ref(self, ctx, element, form_ref):
        binding = element.get(_q("formRefBinding", CAMUNDA_NS))
        version = element.get(_q("formRefVersion", CAMUNDA_NS))
        if binding is not None and binding not in FORM_REF_BINDINGS:
            self.flag(ctx, element, f"camunda:formRefBinding « {binding} » : valeurs permises "
                                    "latest, deployment ou version")
        if binding == "version":
            if version is None or not (_INTEGER.match(version.strip()) or _is_expression(version)):
                self.flag(ctx, element, f"camunda:formRefVersion « {version or ''} » : un numéro "
                                        "de version entier est attendu avec formRefBinding=\"version\"")
        if not form_ref:
            self.flag(ctx, element, "camunda:formRef vide")
        elif not _is_expression(form_ref) and form_ref not in self.resolution.forms:
            self.flag(ctx, element, f"formulaire « {form_ref} » introuvable (ni déployé ni fourni "
                                    "avec ce diagramme)")

    # ---- references and expressions
    def check_event_reference(self, ctx, definition, attribute, expected):
        if definition.get(attribute):
            self.check_reference(ctx, definition.getparent(), definition, attribute, expected)

    def check_reference(self, ctx, reported, holder, attribute, expected):
        ref = holder.get(attribute)
        target = self.doc_ids.get(ref)
        if target is None or _local(target.tag) != expected:
            self.flag(ctx, reported, f"{attribute} « {ref} » ne désigne aucun <{expected}> de ce "
                                     "fichier : refusé par le moteur")
