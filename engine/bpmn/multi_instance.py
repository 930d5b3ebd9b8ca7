"""Multi-instance activities as Camunda 7 runs them, without touching the shared parsed spec.

SpiffWorkflow's Camunda multi-instance rewrites its own task spec on every start (it turns
`loopCardinality` into the data input when it is not a number): the spec is cached and shared
by every instance, so the second instance breaks. Here everything an instance needs is
resolved per instance and kept in the task's internal data:

- `loopCardinality` (a number, `${expr}`) or `camunda:collection` (a variable name or `${expr}`),
  evaluated once when the activity starts;
- per instance, the local variables `loopCounter` and `camunda:elementVariable`; on the
  activity, `nrOfInstances`, `nrOfActiveInstances`, `nrOfCompletedInstances`;
- `completionCondition` evaluated after each instance completes; when true, the remaining
  instances are cancelled (parallel) or not started (sequential).

Data: what an instance sets flows back to the enclosing scope (dictionaries are merged key by
key, other values replaced), as in Camunda. arsflow adds one thing Camunda does not do: when
the collection is a variable, an instance's element variable is written back at its index
(procedures use it to record a result per item).
"""
from __future__ import annotations

from collections.abc import Mapping
from copy import deepcopy

from SpiffWorkflow.bpmn.exceptions import WorkflowDataException
from SpiffWorkflow.bpmn.specs.defaults import (ParallelMultiInstanceTask as _Parallel,
                                               SequentialMultiInstanceTask as _Sequential)
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask as _Base
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

from arsflow.engine.bpmn.expressions import split_expressions
from arsflow.engine.bpmn.spiff_messages import describe

COUNTERS = ("nrOfInstances", "nrOfActiveInstances", "nrOfCompletedInstances")
LOOP_COUNTER = "loopCounter"


def _bare_variable(text: str | None) -> str | None:
    """`reviewers` or `${reviewers}` → "reviewers"; any other expression → None."""
    if not text:
        return None
    text = text.strip()
    parts = split_expressions(text)
    if len(parts) == 1 and parts[0][0] == "expr":
        text = parts[0][1].strip()
    elif any(kind == "expr" for kind, _ in parts):
        return None
    return text if text.isidentifier() else None


def _merge(target: dict, source: dict) -> None:
    for key, value in source.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), Mapping):
            _merge(target[key], value)
        else:
            target[key] = value


def evaluate_text(task, text, label=None):
    """`${…}` / `#{…}` text as Camunda evaluates it, plain text as a Python expression."""
    engine = task.workflow.script_engine
    try:
        if "${" in text or "#{" in text:
            return engine.evaluate_value(task, text)
        return engine.evaluate(task, text)
    except SpiffWorkflowException as err:
        if label is None:
            raise
        raise WorkflowDataException(f"{label} « {text} » : {describe(err)}", task) from None


class CamundaMultiInstanceMixin:
    """Shared by the parallel and sequential variants (see module docstring)."""

    def __init__(self, wf_spec, bpmn_id, task_spec, collection=None, element_variable=None,
                 loop_cardinality=None, completion_condition=None, **kwargs):
        super().__init__(wf_spec, bpmn_id, task_spec, condition=completion_condition, **kwargs)
        self.collection = collection
        self.element_variable = element_variable
        self.loop_cardinality = loop_cardinality
        self.collection_variable = _bare_variable(collection)

    # -- resolution, once per activity instance -------------------------------------------
    def _fail(self, my_task, message):
        raise WorkflowDataException(message, my_task)

    def _resolve_items(self, my_task) -> list:
        if self.loop_cardinality is not None:
            text = self.loop_cardinality.strip()
            try:
                value = int(text)
            except ValueError:
                value = evaluate_text(my_task, text, "loopCardinality")
            try:
                count = int(value)
            except (TypeError, ValueError):
                self._fail(my_task, f"loopCardinality « {text} » ne donne pas un nombre entier ({value!r})")
            if count < 0:
                self._fail(my_task, f"loopCardinality « {text} » est négatif ({count})")
            return [None] * count
        if self.collection_variable is not None:
            if self.collection_variable not in my_task.data:
                self._fail(my_task, f"variable « {self.collection_variable} » introuvable "
                                    "(camunda:collection de la multi-instance)")
            value = my_task.data[self.collection_variable]
        else:
            value = evaluate_text(my_task, self.collection, "camunda:collection")
        if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
            self._fail(my_task, f"camunda:collection « {self.collection} » ne donne pas une liste "
                                f"(valeur : {type(value).__name__})")
        return list(value)

    def _start(self, my_task) -> list:
        items = self._resolve_items(my_task)
        my_task.internal_data["merged"] = []
        my_task.internal_data["mi"] = {"items": items, "next": 0, "collection": self.collection_variable}
        return items

    def counters(self, my_task) -> dict:
        state = my_task.internal_data.get("mi") or {}
        total = len(state.get("items", []))
        done = len(my_task.internal_data.get("merged", []))
        active = min(1, total - done) if self.is_sequential else total - done
        return {"nrOfInstances": total, "nrOfActiveInstances": max(active, 0), "nrOfCompletedInstances": done}

    def _locals(self) -> set:
        names = {LOOP_COUNTER, *COUNTERS}
        if self.element_variable:
            names.add(self.element_variable)
        return names

    # -- children ---------------------------------------------------------------------------
    def _create_instance(self, my_task, index: int):
        state = my_task.internal_data["mi"]
        task_spec = my_task.workflow.spec.task_specs[self.task_spec]
        if not task_spec.completed_event.is_connected(self.merge_child):
            task_spec.completed_event.connect(self.merge_child)  # wired at parse time; kept as a guard
        child = my_task._add_child(task_spec, TaskState.WAITING)
        child.triggered = True
        child.internal_data["key_or_index"] = index
        local = {LOOP_COUNTER: index, **self.counters(my_task)}
        if self.element_variable and self.loop_cardinality is None:
            local[self.element_variable] = deepcopy(state["items"][index])
        child.data.update(local)
        state["next"] = index + 1
        child.task_spec._update(child)
        child.data.update(local)  # the update merged the parent's data over them (nested loops)
        return child

    def merge_child(self, workflow, child):
        my_task = child.parent
        state = my_task.internal_data.get("mi") or {}
        index = child.internal_data.get("key_or_index")
        collection = state.get("collection")
        local_names = self._locals()
        out = {k: v for k, v in child.data.items() if k not in local_names and k != collection}
        _merge(my_task.data, out)
        if (collection and self.element_variable and self.element_variable in child.data
                and isinstance(my_task.data.get(collection), list) and index is not None
                and index < len(my_task.data[collection])):
            my_task.data[collection][index] = child.data[self.element_variable]
        my_task.internal_data["merged"].append(str(child.id))
        return self._completion_reached(my_task, child)

    def _completion_reached(self, my_task, child) -> bool:
        if not self.condition:
            return False
        child.data.update(self.counters(my_task))
        return bool(evaluate_text(child, self.condition, "completionCondition"))

    def task_info(self, my_task):
        info = _Base.task_info(self, my_task)
        info.update(self.counters(my_task))
        return info


class ParallelMultiInstance(CamundaMultiInstanceMixin, _Parallel):
    is_sequential = False

    def _update_hook(self, my_task):
        if not _Base._update_hook(self, my_task):
            return False
        items = self._start(my_task)
        for index in range(len(items)):
            self._create_instance(my_task, index)
        if self.children_complete(my_task):
            return True
        my_task._set_state(TaskState.STARTED)

    def merge_child(self, workflow, child):
        my_task = child.parent
        if super().merge_child(workflow, child):
            for other in list(self._instances(my_task)):
                if not other.has_state(TaskState.FINISHED_MASK):
                    other.cancel()
            my_task._set_state(TaskState.READY)
        elif self.children_complete(my_task):
            my_task._set_state(TaskState.READY)

    def children_complete(self, my_task):
        return all(c.state == TaskState.COMPLETED for c in self._instances(my_task))


class SequentialMultiInstance(CamundaMultiInstanceMixin, _Sequential):
    is_sequential = True

    def _update_hook(self, my_task):
        if not _Base._update_hook(self, my_task):
            return False
        items = self._start(my_task)
        if not items:
            return True
        self._create_instance(my_task, 0)
        my_task._set_state(TaskState.STARTED)

    def merge_child(self, workflow, child):
        my_task = child.parent
        done = super().merge_child(workflow, child)
        state = my_task.internal_data["mi"]
        if done or state["next"] >= len(state["items"]):
            my_task._set_state(TaskState.READY)
        else:
            self._create_instance(my_task, state["next"])
