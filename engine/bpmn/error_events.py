"""BPMN errors and escalations as Camunda 7 propagates them.

A service handler (or a script, with `bpmn_error("CODE", "message")`) raises `BpmnError`, as a
Java delegate throws `org.camunda.bpm.engine.delegate.BpmnError`. The task then stops where it
is (SpiffWorkflow's STARTED) and the runtime throws the error from it after the engine step:
the error boundary event of that code (or with no code) on the task or on an enclosing
sub-process catches it, else an error event sub-process of the process. Uncaught, it is an
incident (Camunda 7 would end the path silently; a statutory procedure must not).

The catching event sets `camunda:errorCodeVariable` / `camunda:errorMessageVariable` (and
`camunda:escalationCodeVariable` for escalations). An event sub-process whose start event is
interrupting (error start events always are) cancels the rest of its process when it starts:
SpiffWorkflow 3.2 leaves the interrupted flow running, see `interrupt_event_subprocesses`.
"""
from __future__ import annotations

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import (ErrorEventDefinition,
                                                                        EscalationEventDefinition)
from SpiffWorkflow.task import TaskState

CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
PENDING = "arsflow_bpmn_error"
PAYLOAD = "arsflow_event"
INTERRUPTED = "arsflow_interrupted"


class BpmnError(Exception):
    """Raised by a service handler or a script: a business error the diagram may catch."""

    def __init__(self, code: str, message: str | None = None, variables: dict | None = None):
        super().__init__(message or code)
        self.code = str(code)
        self.message = message
        self.variables = dict(variables or {})

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "variables": self.variables}


def bpmn_error(code, message=None, **variables):
    """Script helper: `bpmn_error("PIECE_MANQUANTE", "avis sans pièce jointe")`."""
    raise BpmnError(code, message, variables)


class _CodeVariables:
    """Catching side: the payload's code/message go to the variables Camunda names."""
    code_variable = None
    message_variable = None
    base = None

    def catch(self, my_task, event=None):
        payload = dict(event.payload) if isinstance(event.payload, dict) else {}
        payload.setdefault(PAYLOAD, {"code": getattr(event.event_definition, "code", None), "message": None})
        my_task.internal_data[self.name] = payload
        my_task._set_internal_data(event_fired=True)

    def update_task_data(self, my_task):
        payload = dict(my_task.internal_data.get(self.name) or {})
        event = payload.pop(PAYLOAD, None) or {}
        my_task.set_data(**payload)
        if self.code_variable and event.get("code") is not None:
            my_task.data[self.code_variable] = event["code"]
        if self.message_variable and event.get("message") is not None:
            my_task.data[self.message_variable] = event["message"]

    def __eq__(self, other):
        # SpiffWorkflow compares classes exactly; ours must match the plain definitions thrown.
        return isinstance(other, self.base) and self.code in (None, other.code)

    def __hash__(self):
        return hash((self.base.__name__, self.code))


class ArsErrorEventDefinition(_CodeVariables, ErrorEventDefinition):
    base = ErrorEventDefinition


class ArsEscalationEventDefinition(_CodeVariables, EscalationEventDefinition):
    base = EscalationEventDefinition


class ErrorEventParserMixin:
    """Event parsers: read camunda:errorCodeVariable / errorMessageVariable / escalationCodeVariable."""

    def parse_error_event(self, error_event):
        definition = super().parse_error_event(error_event)
        definition.__class__ = ArsErrorEventDefinition
        definition.code_variable = error_event.get(f"{{{CAMUNDA_NS}}}errorCodeVariable")
        definition.message_variable = error_event.get(f"{{{CAMUNDA_NS}}}errorMessageVariable")
        return definition

    def parse_escalation_event(self, escalation_event):
        definition = super().parse_escalation_event(escalation_event)
        definition.__class__ = ArsEscalationEventDefinition
        definition.code_variable = escalation_event.get(f"{{{CAMUNDA_NS}}}escalationCodeVariable")
        return definition


class ErrorStartEventMixin:
    """Start events of event sub-processes may wait for an error or an escalation (SpiffWorkflow's
    start event parser reads only message, signal, timer and condition)."""

    def create_task(self):
        from SpiffWorkflow.bpmn.parser import event_parsers as ep
        definition = self.get_event_definition([ep.MESSAGE_EVENT_XPATH, ep.SIGNAL_EVENT_XPATH, ep.TIMER_EVENT_XPATH,
                                                ep.CONDITIONAL_EVENT_XPATH, ep.ERROR_EVENT_XPATH,
                                                ep.ESCALATION_EVENT_XPATH])
        task = self._create_task(definition)
        self.spec.start.connect(task)
        return task


def park(task, error: BpmnError) -> None:
    """The task stops where it is; the runtime throws the error after the engine step."""
    task.internal_data[PENDING] = error.to_dict()


def throw_pending(workflow) -> tuple[bool, dict | None]:
    """Throw every parked BPMN error: (something thrown, incident for the first one nothing catches)."""
    thrown = False
    for task in workflow.get_tasks(state=TaskState.STARTED):
        pending = task.internal_data.pop(PENDING, None)
        if pending is None:
            continue
        thrown = True
        code, message = pending["code"], pending.get("message")
        task.data.update(pending.get("variables") or {})
        payload = {**(pending.get("variables") or {}), PAYLOAD: {"code": code, "message": message}}
        before = len(workflow.bpmn_events)
        workflow.catch(BpmnEvent(ErrorEventDefinition(code, code), payload=payload, target=task.workflow))
        if len(workflow.bpmn_events) > before:
            del workflow.bpmn_events[before:]
            task._set_state(TaskState.ERROR)
            detail = f" : {message}" if message else ""
            return thrown, {"element_id": task.task_spec.bpmn_id,
                            "message": f"erreur BPMN « {code} »{detail} — aucun événement d'erreur ne "
                                       "l'intercepte (événement attaché ou sous-processus événementiel avec ce code)"}
    return thrown, None


def interrupt_event_subprocesses(workflow) -> bool:
    """Cancel the rest of a process when one of its interrupting event sub-processes started."""
    changed = False
    triggers = set(getattr(workflow.spec.start, "trigger_specs", []) or [])
    if not triggers:
        return False
    root = workflow.task_tree
    for child in list(root.children):
        if child.task_spec.name not in triggers or child.internal_data.get(INTERRUPTED):
            continue
        if child.state in (TaskState.FUTURE, TaskState.CANCELLED):
            continue
        sub_spec = workflow.subprocess_specs.get(child.task_spec.name)
        starts = getattr(sub_spec, "bpmn_start_events", []) if sub_spec else []
        if not any(getattr(s, "interrupting", True) for s in starts):
            continue
        child.internal_data[INTERRUPTED] = True
        root.internal_data[INTERRUPTED] = True
        for other in list(root.children):
            if other is not child:
                other.cancel()
        changed = True
    return changed
