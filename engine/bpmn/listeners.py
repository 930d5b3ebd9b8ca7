"""Camunda execution listeners (start, end on activities and events; take on sequence flows)
and task listeners (create, assignment, complete on user tasks), with a Python script or an
`${expression}`, as Camunda runs them.

SpiffWorkflow has no listeners. Each is connected once, when the spec is parsed, to the
task spec's own signals (`ready_event` = the activity starts / the task is created,
`completed_event` = it ends / is completed); the callback holds no instance state, so the
cached spec is shared safely. Order on completion is Camunda's: task `complete` listeners,
then execution `end` listeners, then `take` listeners of the flows leaving the element.
Java listeners (`class`, `delegateExpression`) cannot run here: the linter refuses them.
"""
from __future__ import annotations

from SpiffWorkflow.task import TaskState

CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_NS = {"bpmn": BPMN_NS, "camunda": CAMUNDA_NS}


def read_listeners(node, kind: str) -> list[dict]:
    """`kind`: "executionListener" or "taskListener", directly under the node's extensionElements."""
    found = []
    for item in node.xpath(f"./bpmn:extensionElements/camunda:{kind}", namespaces=_NS):
        script = item.find(f"{{{CAMUNDA_NS}}}script")
        found.append({
            "event": (item.get("event") or "").strip(),
            "expression": item.get("expression"),
            "class": item.get("class"),
            "delegateExpression": item.get("delegateExpression"),
            "script": (script.text or "") if script is not None else None,
            "format": (script.get("scriptFormat") or "") if script is not None else None,
            "resource": script.get("resource") if script is not None else None,
            "line": item.sourceline,
        })
    return found


def run_listener(listener: dict, task) -> None:
    engine = task.workflow.script_engine
    if listener.get("script") is not None:
        engine.execute(task, listener["script"])
    elif listener.get("expression"):
        engine.evaluate_value(task, listener["expression"])


class _Listeners:
    """One signal handler for a task spec: runs its listeners of the given events, in order."""

    def __init__(self, listeners: list[dict]):
        self.listeners = listeners

    def __call__(self, workflow, task):
        for listener in self.listeners:
            run_listener(listener, task)


class _TakeListeners:
    """On completion of the source: the `take` listeners of each flow actually followed."""

    def __init__(self, by_target: dict[str, list[dict]]):
        self.by_target = by_target

    def __call__(self, workflow, task):
        for child in task.children:
            if child.state in (TaskState.CANCELLED, TaskState.MAYBE):
                continue
            for listener in self.by_target.get(target_id(child.task_spec), []):
                run_listener(listener, task)


def target_id(task_spec) -> str | None:
    return getattr(task_spec, "bpmn_id", None) or task_spec.name.split(".BoundaryEventSplit")[0]


def wire_listeners(spec, flows: dict) -> None:
    """Connect the listeners read into each task spec's extensions, and the `take` listeners
    of `flows` ({(source id, target id): [listener]}), once per parsed spec."""
    for task_spec in list(spec.task_specs.values()):
        if getattr(task_spec, "_arsflow_listeners", False):
            continue
        ext = getattr(task_spec, "extensions", None) or {}
        execution = ext.get("execution_listeners") or []
        tasks = ext.get("task_listeners") or []
        start = [l for l in execution if l["event"] == "start"]
        create = [l for l in tasks if l["event"] == "create"]
        complete = [l for l in tasks if l["event"] == "complete"]
        end = [l for l in execution if l["event"] == "end"]
        if start or create:
            task_spec.ready_event.connect(_Listeners(start + create))
        if complete or end:
            task_spec.completed_event.connect(_Listeners(complete + end))
        bpmn_id = getattr(task_spec, "bpmn_id", None)
        take = {target: listeners for (source, target), listeners in flows.items() if source == bpmn_id}
        if take and bpmn_id:
            task_spec.completed_event.connect(_TakeListeners(take))
        task_spec._arsflow_listeners = True


def assignment_listeners(task_spec) -> list[dict]:
    ext = getattr(task_spec, "extensions", None) or {}
    return [l for l in ext.get("task_listeners") or [] if l["event"] == "assignment"]
