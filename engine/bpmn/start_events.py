"""Which start event an instance starts at, as in Camunda 7.

Camunda creates an instance *at* a start event: a person starting a process uses its none
start event (or its only start event), a message creates an instance at the message start
event that names it, the job of a timer start event at that timer. SpiffWorkflow instead
waits at every start event at once (a timer start event makes a manually started instance
sit until the date). Here each top-level start event of a process that has event start
events fires only if it is the one the instance was started at (`workflow.data[START_KEY]`);
the others are cancelled by SpiffWorkflow's start join as soon as the chosen one completes.
The parsed spec is only changed once, when it is parsed.
"""
from __future__ import annotations

from SpiffWorkflow.bpmn.specs.event_definitions.base import EventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.simple import NoneEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent

from arsflow.engine.errors import InvalidInput
from arsflow.engine.time.timer_events import TIMER_CLASSES

START_KEY = "arsflow_start_event"
_TIMER_KINDS = {cls: kind for kind, cls in TIMER_CLASSES.items()}


class ChosenStartEventDefinition(EventDefinition):
    """Fires at once if its start event is the one chosen for the instance, never otherwise.
    Without a choice recorded in its workflow (instances started before this existed, a process
    run by a call activity) the original behaviour is kept."""

    def __init__(self, original):
        super().__init__(name=getattr(original, "name", None))
        self.original = original

    def has_fired(self, my_task):
        chosen = my_task.workflow.data.get(START_KEY)
        if chosen is None:
            return self.original.has_fired(my_task)
        return chosen == my_task.task_spec.bpmn_id

    def catches(self, my_task, event):
        return False

    def update_task(self, my_task):
        if my_task.workflow.data.get(START_KEY) is None:
            self.original.update_task(my_task)

    def update_task_data(self, my_task):
        pass

    def reset(self, my_task):
        pass

    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return id(self)


def describe_start(task_spec) -> dict:
    definition = task_spec.event_definition
    definition = getattr(definition, "original", definition) if isinstance(definition, ChosenStartEventDefinition) \
        else definition
    info = {"id": task_spec.bpmn_id, "name": task_spec.bpmn_name, "kind": "none"}
    if isinstance(definition, MessageEventDefinition):
        info.update(kind="message", message=definition.name)
    elif type(definition) in _TIMER_KINDS:
        info.update(kind="timer", timer_kind=_TIMER_KINDS[type(definition)], timer=definition.expression)
    elif not isinstance(definition, NoneEventDefinition):
        info.update(kind=type(definition).__name__)
    return info


def prepare_start_events(spec):
    """At parse time: record `spec.start_events`; wrap every top-level start event when one of
    them waits for an event (message, timer…)."""
    starts = [ts for ts in spec.task_specs.values() if isinstance(ts, StartEvent)]
    spec.start_events = [describe_start(ts) for ts in starts]
    if any(info["kind"] != "none" for info in spec.start_events):
        for ts in starts:
            if not isinstance(ts.event_definition, ChosenStartEventDefinition):
                ts.event_definition = ChosenStartEventDefinition(ts.event_definition)
    return spec


def choose_start(spec, start_event: str | None = None) -> str | None:
    """The start event a new instance starts at: the one asked for, else the none start
    event, else the only start event (Camunda's 'initial' activity)."""
    starts = getattr(spec, "start_events", None) or []
    if start_event is not None:
        if not any(s["id"] == start_event for s in starts):
            raise InvalidInput(f"événement de début « {start_event} » introuvable dans le processus")
        return start_event
    if not any(s["kind"] != "none" for s in starts):
        return None
    none = [s for s in starts if s["kind"] == "none"]
    if len(none) == 1:
        return none[0]["id"]
    if len(starts) == 1:
        return starts[0]["id"]
    raise InvalidInput("ce processus n'a pas d'événement de début simple : il démarre par un message "
                       "ou une minuterie (" + ", ".join(f"« {s['id']} »" for s in starts) + ")")
