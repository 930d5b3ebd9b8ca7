"""SpiffWorkflow's Camunda parser, taught the Camunda 7 attributes a process owner sets.

SpiffWorkflow ignores `camunda:assignee`, `candidateGroups`, `dueDate`, `formRef`,
`inputOutput`… (its maintainers don't take Camunda extensions upstream); here every parser
reads them into `task_spec.extensions`, timers use arsflow's clocked definitions, a plain
`bpmn:task` passes through as in Camunda, and service tasks call registered handlers.
"""
from __future__ import annotations

from arsflow.engine.bpmn import decisions, io_mapping
from arsflow.engine.time.timer_events import TIMER_CLASSES
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator, full_tag
from SpiffWorkflow.bpmn.parser.util import first
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.control import BpmnStartTask
from SpiffWorkflow.bpmn.specs.defaults import NoneTask, ServiceTask
from SpiffWorkflow.camunda.parser import CamundaParser
from SpiffWorkflow.camunda.parser.task_spec import CamundaTaskParser
from SpiffWorkflow.camunda.specs.event_definitions import (
    MessageEventDefinition as CamundaMessageEventDefinition,
)
from SpiffWorkflow.task import TaskState
from arsflow.engine.bpmn.error_events import ErrorEventParserMixin, ErrorStartEventMixin
from arsflow.engine.bpmn.multi_instance import CamundaMultiInstanceMixin, ParallelMultiInstance, SequentialMultiInstance
from arsflow.engine.bpmn.listeners import read_listeners, wire_listeners
from arsflow.engine.bpmn.start_events import prepare_start_events

io_mapping.install()
decisions.install()

CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
CAMUNDA_ATTRIBUTES = (
    "assignee", "candidateUsers", "candidateGroups", "dueDate", "followUpDate", "priority",
    "formKey", "formRef", "formRefBinding", "formRefVersion", "type", "topic", "class",
    "expression", "delegateExpression", "resultVariable", "mapDecisionResult", "initiator", "asyncBefore",
    "asyncAfter", "taskPriority",
)


def _parameter_value(node):
    """camunda:inputParameter content: text, a camunda:list or a camunda:map."""
    children = [c for c in node if isinstance(c.tag, str)]
    if not children:
        return (node.text or "").strip()
    child = children[0]
    local = child.tag.split("}")[-1]
    if local == "list":
        return [_parameter_value(v) for v in child if isinstance(v.tag, str)]
    if local == "map":
        return {e.get("key"): _parameter_value(e) for e in child if isinstance(e.tag, str)}
    if local == "script":
        return {"script": (child.text or "").strip(), "format": child.get("scriptFormat")}
    return (child.text or "").strip()


def read_camunda_extensions(node) -> dict:
    ext: dict = {}
    for attr in CAMUNDA_ATTRIBUTES:
        value = node.get(f"{{{CAMUNDA_NS}}}{attr}")
        if value is not None:
            ext[attr] = value
    ns = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL", "camunda": CAMUNDA_NS}
    props = node.xpath("./bpmn:extensionElements/camunda:properties/camunda:property", namespaces=ns)
    if props:
        ext["properties"] = {p.get("name"): p.get("value") for p in props}
    inputs = node.xpath("./bpmn:extensionElements/camunda:inputOutput/camunda:inputParameter", namespaces=ns)
    if inputs:
        ext["inputs"] = {p.get("name"): _parameter_value(p) for p in inputs}
    outputs = node.xpath("./bpmn:extensionElements/camunda:inputOutput/camunda:outputParameter", namespaces=ns)
    if outputs:
        ext["outputs"] = {p.get("name"): _parameter_value(p) for p in outputs}
    if node.tag == f"{{{ns['bpmn']}}}callActivity":
        ext["call"] = read_call_mappings(node, ns)
    for kind, key in (("executionListener", "execution_listeners"), ("taskListener", "task_listeners")):
        listeners = read_listeners(node, kind)
        if listeners:
            ext[key] = listeners
    return ext


CALL_MAPPING_ATTRIBUTES = ("source", "sourceExpression", "target", "variables", "local", "businessKey")


def read_call_mappings(node, ns) -> dict:
    """camunda:in / camunda:out of a call activity (only what they map crosses, as in Camunda)
    and its calledElementBinding / calledElementVersion."""
    def mappings(kind):
        return [{k: m.get(k) for k in CALL_MAPPING_ATTRIBUTES if m.get(k) is not None}
                for m in node.xpath(f"./bpmn:extensionElements/camunda:{kind}", namespaces=ns)]
    return {"in": mappings("in"), "out": mappings("out"),
            "binding": node.get(f"{{{CAMUNDA_NS}}}calledElementBinding") or "latest",
            "version": node.get(f"{{{CAMUNDA_NS}}}calledElementVersion")}


class ExtensionsMixin:
    def parse_extensions(self, node=None):
        return read_camunda_extensions(node if node is not None else self.node)


class TimerMixin:
    def parse_timer_event(self, event):
        name = self.node.get("name", self.node.get("id"))
        description = self.get_event_description(event)
        for kind, cls in TIMER_CLASSES.items():
            value = first(self.xpath(f".//bpmn:{kind}"))
            if value is not None:
                definition = cls(name, (value.text or "").strip(), description=description)
                props = read_camunda_extensions(self.node).get("properties", {})
                calendar = (props.get("calendar") or "").strip().lower() or None
                if calendar not in (None, "legal", "legal-no-extension"):
                    raise ValidationException(
                        f"propriété calendar={calendar!r} inconnue (attendu : legal ou legal-no-extension)",
                        node=self.node, file_name=self.filename)
                definition.calendar = calendar
                definition.calendar_territory = props.get("territory")
                return definition
        raise ValidationException("minuterie sans timeDate, timeDuration ni timeCycle",
                                  node=self.node, file_name=self.filename)


class ArsMessageEventDefinition(CamundaMessageEventDefinition):
    """A message's JSON payload lands in the task data (as `arsflow message --data` promises),
    unless the event names a `camunda:resultVariable`."""

    def update_internal_data(self, my_task, event):
        payload = event.payload
        if not (isinstance(payload, dict) and set(payload) == {"payload", "result_var"}):
            payload = {"payload": payload, "result_var": None}
        my_task.internal_data[self.name] = dict(payload, result_var=self.result_var or payload["result_var"])

    def update_task_data(self, my_task):
        event_data = my_task.internal_data.get(self.name) or {}
        payload, result_var = event_data.get("payload"), event_data.get("result_var")
        if result_var:
            my_task.data[result_var] = payload
        elif isinstance(payload, dict):
            my_task.data.update(payload)
        elif payload is not None:
            my_task.data[f"{my_task.task_spec.bpmn_id}_message"] = payload


class MessageMixin:
    def parse_message_event(self, message_event):
        definition = super().parse_message_event(message_event)
        definition.__class__ = ArsMessageEventDefinition
        # The plain BPMN parser (receive tasks) does not set Camunda's payload attributes.
        definition.expression = getattr(definition, "expression", None)
        definition.result_var = getattr(definition, "result_var", None)
        return definition


class MultiInstanceMixin:
    """`camunda:collection` / `loopCardinality` on any activity run as Camunda runs them
    (engine.multi_instance); a plain BPMN `loopDataInputRef` keeps SpiffWorkflow's own."""

    def _add_multiinstance_task(self, loop_characteristics):
        prefix = "bpmn:multiInstanceLoopCharacteristics"
        cardinality = first(self.xpath(f"./{prefix}/bpmn:loopCardinality"))
        collection = loop_characteristics.get(f"{{{CAMUNDA_NS}}}collection")
        if cardinality is None and collection is None:
            return super()._add_multiinstance_task(loop_characteristics)
        condition = first(self.xpath(f"./{prefix}/bpmn:completionCondition"))
        params = {
            "collection": collection,
            "element_variable": loop_characteristics.get(f"{{{CAMUNDA_NS}}}elementVariable"),
            "loop_cardinality": (cardinality.text or "").strip() if cardinality is not None else None,
            "completion_condition": (condition.text or "").strip() or None if condition is not None else None,
        }
        original = self.spec.task_specs.pop(self.task.name)
        cls = (SequentialMultiInstance if loop_characteristics.get("isSequential") == "true"
               else ParallelMultiInstance)
        self.task = cls(self.spec, original.name, "", description="Multi-instance", **params)
        self._copy_task_attrs(original, loop_characteristics)


def wire_multi_instances(spec):
    """Connect each multi-instance's inner activity to it once, on the parsed spec: SpiffWorkflow
    does it when the first instance starts, which a spec attached to a restored workflow
    never sees (the last instance would then complete without the activity noticing)."""
    for task_spec in list(spec.task_specs.values()):
        if isinstance(task_spec, CamundaMultiInstanceMixin):
            inner = spec.task_specs[task_spec.task_spec]
            if not inner.completed_event.is_connected(task_spec.merge_child):
                inner.completed_event.connect(task_spec.merge_child)
    return spec


class PassThroughTask(NoneTask):
    """Camunda runs through a plain `bpmn:task`; SpiffWorkflow would wait for a person."""

    def __init__(self, wf_spec, bpmn_id, **kwargs):
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.manual = False


class HandlerServiceTask(ServiceTask):
    """Service/send tasks run the handler registered for their camunda:topic/type/class."""

    def _execute(self, task):
        return task.workflow.script_engine.run_service(task)


def _trigger_event_subprocess(self, my_task, spec_name):
    """SpiffWorkflow 3.2's BpmnStartTask.trigger_wf adds a message-started event subprocess to
    `Start.outputs` of the *shared, cached* spec the first time it fires: every instance
    created afterwards starts that subprocess at once and never completes. Wire the inputs
    once and leave `Start.outputs` as parsed."""
    spec = self._wf_spec.task_specs.get(spec_name)
    if self not in spec.inputs:
        spec._connect_notify(self)
        spec.connect(self._wf_spec.end)
    child = my_task._add_child(spec, TaskState.FUTURE)
    child.triggered = True
    child.task_spec._update(child)
    return child.id


BpmnStartTask.trigger_wf = _trigger_event_subprocess


def wire_event_subprocesses(spec):
    """Do at parse time what `_trigger_event_subprocess` does on first trigger: a spec attached
    to a restored instance (cold) was never triggered, and its event sub-process would have no
    input (\"No input task connected\") nor lead to the process end."""
    start = spec.start
    for name in getattr(start, "trigger_specs", []) or []:
        task_spec = spec.task_specs.get(name)
        if task_spec is not None and start not in task_spec.inputs:
            task_spec._connect_notify(start)
            task_spec.connect(spec.end)
    return spec


def _with(mixins, parser_cls):
    return type(f"Ars{parser_cls.__name__}", (*mixins, parser_cls), {})


def _parser_classes():
    classes = {}
    for tag, (parser_cls, spec_cls) in CamundaParser.OVERRIDE_PARSER_CLASSES.items():
        mixins = ((ExtensionsMixin, TimerMixin, MessageMixin, ErrorEventParserMixin) if hasattr(parser_cls, "parse_timer_event")
                  else (ExtensionsMixin, MultiInstanceMixin))
        if tag == full_tag("startEvent"):
            mixins = (ErrorStartEventMixin, *mixins)
        classes[tag] = (_with(mixins, parser_cls), spec_cls)
    classes[full_tag("task")] = (_with((ExtensionsMixin, MultiInstanceMixin), CamundaTaskParser), PassThroughTask)
    from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
    receive_parser, receive_spec = BpmnParser.PARSER_CLASSES[full_tag("receiveTask")]
    classes[full_tag("receiveTask")] = (_with((ExtensionsMixin, MessageMixin, MultiInstanceMixin), receive_parser), receive_spec)
    for tag in ("serviceTask", "sendTask"):
        classes[full_tag(tag)] = (_with((ExtensionsMixin, MultiInstanceMixin), CamundaTaskParser), HandlerServiceTask)
    return classes


RESERVED_IDS = frozenset({"Start", "End", "StartEventSplit", "StartEventJoin"})
RESERVED_ID_SUFFIXES = (".EndJoin", ".BoundaryEventSplit", ".BoundaryEventJoin", " [child]")
_REFERENCE_ATTRIBUTES = ("sourceRef", "targetRef", "attachedToRef", "default")
_REFERENCE_TEXTS = ("incoming", "outgoing", "flowNodeRef", "sourceRef", "targetRef")


def legalize_ids(root) -> dict[str, str]:
    """Element ids SpiffWorkflow reserves for its own task specs (`Start`, `End`…) are legal
    BPMN: rename them in the tree SpiffWorkflow parses and return {new id: original id}, so
    that the specs can carry the original id back (`bpmn_id`: inbox, audit, diagram, REST).
    Sequence flows without an id (legal too) get one."""
    bpmn = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
    taken = {el.get("id") for el in root.iter() if isinstance(el.tag, str) and el.get("id")}
    renames: dict[str, str] = {}
    for el in root.iter():
        if not isinstance(el.tag, str) or not el.tag.startswith(bpmn):
            continue
        eid = el.get("id")
        if eid and (eid in RESERVED_IDS or eid.endswith(RESERVED_ID_SUFFIXES)) and el.tag != f"{bpmn}process":
            new = eid.replace(" ", "_").replace(".", "_") + "_bpmn"
            while new in taken:
                new += "_"
            taken.add(new)
            renames[eid] = new
    counter = 0
    for flow in root.iter(f"{bpmn}sequenceFlow"):
        if not flow.get("id"):
            counter += 1
            new = f"SequenceFlow_sans_id_{counter}"
            while new in taken:
                new += "_"
            taken.add(new)
            flow.set("id", new)
    if not renames:
        return {}
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        if el.get("id") in renames:
            el.set("id", renames[el.get("id")])
        for attr in _REFERENCE_ATTRIBUTES:
            if el.get(attr) in renames:
                el.set(attr, renames[el.get(attr)])
        if el.tag.startswith(bpmn) and el.tag[len(bpmn):] in _REFERENCE_TEXTS and (el.text or "").strip() in renames:
            el.text = renames[el.text.strip()]
    return {new: old for old, new in renames.items()}


class ArsParser(CamundaParser):
    OVERRIDE_PARSER_CLASSES = _parser_classes()

    def __init__(self, validate: bool = False):
        super().__init__(validator=BpmnValidator() if validate else None)
        self._lanes: dict[str, str] = {}
        self._starters: dict[str, dict] = {}
        self._interrupting: dict[str, bool] = {}
        self._original_ids: dict[str, str] = {}
        self._take_listeners: dict[tuple, list] = {}

    def add_dmn_xml(self, node, filename=None):
        """Every decision of the file, each with its required decisions (a DRG)."""
        decisions.add_dmn_xml(self, node, filename)

    def get_engine(self, decision_ref, node):
        return decisions.get_engine(self, decision_ref, node)

    def add_bpmn_xml(self, bpmn, filename=None):
        # SpiffWorkflow gives every node inside a subprocess the subprocess's lane; the
        # Modeler records the lane each node is drawn in (flowNodeRef), which is what runs.
        ns = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"}
        renamed = legalize_ids(bpmn)
        self._original_ids.update(renamed)
        for process in bpmn.xpath(".//bpmn:process", namespaces=ns):
            starters = {k: process.get(f"{{{CAMUNDA_NS}}}{k}") for k in ("candidateStarterGroups", "candidateStarterUsers")}
            self._starters[process.get("id")] = {k: [v.strip() for v in (value or "").split(",") if v.strip()]
                                                 for k, value in starters.items()}
        for flow in bpmn.xpath(".//bpmn:sequenceFlow[bpmn:extensionElements]", namespaces=ns):
            take = [l for l in read_listeners(flow, "executionListener") if l["event"] == "take"]
            if take:
                ends = [renamed.get(flow.get(a), flow.get(a)) for a in ("sourceRef", "targetRef")]
                self._take_listeners[tuple(ends)] = take
        for start in bpmn.xpath(".//bpmn:startEvent", namespaces=ns):
            sid = start.get("id")
            self._interrupting[renamed.get(sid, sid)] = start.get("isInterrupting", "true") != "false"
        for lane in bpmn.xpath(".//bpmn:lane", namespaces=ns):
            name = lane.get("name") or lane.get("id")
            for ref in lane.xpath("./bpmn:flowNodeRef", namespaces=ns):
                if ref.text and ref.text.strip():
                    self._lanes[renamed.get(ref.text.strip(), ref.text.strip())] = name
        return super().add_bpmn_xml(bpmn, filename)

    def _fix_lanes(self, spec):
        for task_spec in spec.task_specs.values():
            original = self._original_ids.get(getattr(task_spec, "bpmn_id", None) or "")
            if original is not None:
                task_spec.bpmn_id = original  # renamed for SpiffWorkflow only (legalize_ids)
            lane = self._lanes.get(getattr(task_spec, "bpmn_id", None) or "")
            if lane:
                task_spec.lane = lane
            if getattr(task_spec, "bpmn_id", None) in self._interrupting:
                task_spec.interrupting = self._interrupting[task_spec.bpmn_id]  # SpiffWorkflow ignores it
        return spec

    def get_spec(self, process_id, required=True):
        spec = super().get_spec(process_id, required)
        if spec is not None:
            # camunda:candidateStarterGroups/Users on the process: who may start it (empty: anyone).
            spec.starters = self._starters.get(process_id, {})
            self._fix_lanes(spec)
            wire_multi_instances(spec)
            wire_event_subprocesses(spec)
            wire_listeners(spec, self._take_listeners)
            if process_id in self._starters:  # a top-level process, not an (event) subprocess
                prepare_start_events(spec)
        return spec

    def get_subprocess_specs(self, name, specs=None, require_call_activity_specs=True):
        subs = super().get_subprocess_specs(name, specs, require_call_activity_specs)
        for sub in subs.values():
            self._fix_lanes(sub)
            wire_multi_instances(sub)
            wire_event_subprocesses(sub)
            wire_listeners(sub, self._take_listeners)
        return subs
