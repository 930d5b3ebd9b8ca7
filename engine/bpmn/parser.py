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


def _with(mixins, parser_cls):
    return type(f"Ars{parser_cls.__name__}", (*mixins, parser_cls), {})


def _parser_classes():
    classes = {}
    for tag, (parser_cls, spec_cls) in CamundaParser.OVERRIDE_PARSER_CLASSES.items():
        mixins = ((ExtensionsMixin, TimerMixin, MessageMixin) if hasattr(parser_cls, "parse_timer_event")
                  else (ExtensionsMixin,))
        classes[tag] = (_with(mixins, parser_cls), spec_cls)
    classes[full_tag("task")] = (_with((ExtensionsMixin,), CamundaTaskParser), PassThroughTask)
    from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
    receive_parser, receive_spec = BpmnParser.PARSER_CLASSES[full_tag("receiveTask")]
    classes[full_tag("receiveTask")] = (_with((ExtensionsMixin, MessageMixin), receive_parser), receive_spec)
    for tag in ("serviceTask", "sendTask"):
        classes[full_tag(tag)] = (_with((ExtensionsMixin,), CamundaTaskParser), HandlerServiceTask)
    return classes


class ArsParser(CamundaParser):
    OVERRIDE_PARSER_CLASSES = _parser_classes()

    def __init__(self, validate: bool = False):
        super().__init__(validator=BpmnValidator() if validate else None)
        self._lanes: dict[str, str] = {}
        self._starters: dict[str, dict] = {}

    def add_dmn_xml(self, node, filename=None):
        """Every decision of the file, each with its required decisions (a DRG)."""
        decisions.add_dmn_xml(self, node, filename)

    def get_engine(self, decision_ref, node):
        return decisions.get_engine(self, decision_ref, node)

    def add_bpmn_xml(self, bpmn, filename=None):
        # SpiffWorkflow gives every node inside a subprocess the subprocess's lane; the
        # Modeler records the lane each node is drawn in (flowNodeRef), which is what runs.
        ns = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"}
        for process in bpmn.xpath(".//bpmn:process", namespaces=ns):
            starters = {k: process.get(f"{{{CAMUNDA_NS}}}{k}") for k in ("candidateStarterGroups", "candidateStarterUsers")}
            self._starters[process.get("id")] = {k: [v.strip() for v in (value or "").split(",") if v.strip()]
                                                 for k, value in starters.items()}
        for lane in bpmn.xpath(".//bpmn:lane", namespaces=ns):
            name = lane.get("name") or lane.get("id")
            for ref in lane.xpath("./bpmn:flowNodeRef", namespaces=ns):
                if ref.text and ref.text.strip():
                    self._lanes[ref.text.strip()] = name
        return super().add_bpmn_xml(bpmn, filename)

    def _fix_lanes(self, spec):
        for task_spec in spec.task_specs.values():
            lane = self._lanes.get(getattr(task_spec, "bpmn_id", None) or "")
            if lane:
                task_spec.lane = lane
        return spec

    def get_spec(self, process_id, required=True):
        spec = super().get_spec(process_id, required)
        if spec is not None:
            # camunda:candidateStarterGroups/Users on the process: who may start it (empty: anyone).
            spec.starters = self._starters.get(process_id, {})
            self._fix_lanes(spec)
        return spec

    def get_subprocess_specs(self, name, specs=None, require_call_activity_specs=True):
        subs = super().get_subprocess_specs(name, specs, require_call_activity_specs)
        for sub in subs.values():
            self._fix_lanes(sub)
        return subs
