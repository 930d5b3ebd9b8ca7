"""Service tasks, external-task style: Python handlers registered by topic/type/class/expression.

A handler receives a `ServiceCall` and returns a dict merged into the task data (or stored
under `camunda:resultVariable`). An unknown handler or a handler error is an incident, except
`camunda:type="external"` with a topic no handler owns: that task waits for a worker
(engine.external_tasks, Camunda's fetchAndLock).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from arsflow.engine.bpmn.error_events import BpmnError  # noqa: F401  (handlers raise arsflow.engine.services.BpmnError)


@dataclass
class ServiceCall:
    element_id: str
    name: str | None
    key: str
    inputs: dict
    data: dict
    instance_id: int | None
    business_key: str | None
    now: object
    effects: list = field(default_factory=list)
    task: object = None  # the SpiffWorkflow task running the service (its workflow scopes lookups)

    def sibling_task_ids(self, element_id: str) -> list[str]:
        """Open tasks with this element id in the same (sub)workflow as the service task: inside
        a multi-instance, the copy that belongs to this element only."""
        if self.task is None:
            return []
        from SpiffWorkflow.task import TaskState
        return [str(t.id) for t in self.task.workflow.get_tasks(state=TaskState.READY)
                if getattr(t.task_spec, "bpmn_id", None) == element_id]

    def bpmn_error(self, code: str, message: str | None = None, **variables):
        """Throw a BPMN error from the handler (Camunda's `throw new BpmnError(code)`)."""
        raise BpmnError(code, message, variables)

    def notify(self, **notification):
        """Queue a notification; the runtime records it in the same transaction."""
        self.effects.append({"kind": "notification", "element_id": self.element_id, **notification})


class ServiceRegistry:
    def __init__(self):
        self._handlers: dict[str, Callable[[ServiceCall], dict | None]] = {}

    def register(self, key: str, handler: Callable[[ServiceCall], dict | None]) -> None:
        self._handlers[key] = handler

    def handler_key(self, extensions: dict) -> str | None:
        for attr in ("topic", "class", "delegateExpression", "expression", "type"):
            value = extensions.get(attr)
            if value:
                return value
        return None

    def get(self, key: str):
        return self._handlers.get(key)

    def keys(self):
        return sorted(self._handlers)


# Where a waiting external task keeps its evaluated input parameters (task.internal_data).
EXTERNAL_INPUTS = "arsflow_external_inputs"


def external_topic(extensions: dict, registry: ServiceRegistry) -> str | None:
    """The topic a worker serves: `camunda:type="external"` with a topic no built-in handler owns."""
    topic = extensions.get("topic")
    if str(extensions.get("type") or "").lower() == "external" and topic and registry.get(topic) is None:
        return topic
    return None


def names(value) -> list[str]:
    """A comma-separated text or a list (group or user names), as a clean list."""
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple, set)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in str(value).split(",") if v.strip()]


def notification_handler(call: ServiceCall) -> dict:
    """Built-in `notification` topic: records who must be told what (email delivery reads it)."""
    call.notify(to_groups=names(call.inputs.get("to_groups")), to_users=names(call.inputs.get("to_users")),
                subject=str(call.inputs.get("subject") or call.name or call.element_id),
                body=str(call.inputs.get("body") or ""))
    return {}


def default_registry() -> ServiceRegistry:
    registry = ServiceRegistry()
    registry.register("notification", notification_handler)
    return registry
