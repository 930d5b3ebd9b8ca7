"""Process variables shared by every branch, as in Camunda 7.

SpiffWorkflow gives each task a copy of its parent's data: a parallel branch, a reminder fired
by a boundary timer or an event sub-process sees the variables as they were when it forked,
never what another branch has set since. In Camunda a variable lives in its scope (the process
instance) and every branch reads the latest value. This module keeps that shared scope beside
SpiffWorkflow's copies:

- when a task completes, what it changed (a form, a script, a service result, a message
  payload, output mappings) is written to its scope, stamped with an increasing sequence number;
- when a task becomes ready, every scope value written since its parent became ready is copied
  into its data; a waiting task (a user task open for weeks) catches up when it is completed
  or its form is shown.

Scopes: the process instance; a called process (call activity) is a scope of its own, reached
only through its `camunda:in`/`camunda:out` mappings. Differs from Camunda on purpose: each
instance of a multi-instance activity keeps its own scope (what its tasks write stays with it
and reaches the process when the multi-instance completes), so that the bodies consulted in
parallel do not overwrite each other's answers; Camunda would need local variables for that.
"""
from __future__ import annotations

import zlib
from copy import deepcopy

from arsflow.engine.bpmn import task_tree
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import CallActivity, SubWorkflowTask
from SpiffWorkflow.specs.Join import Join

SCOPE = "arsflow_scope"   # data of the scope's workflow: {name: [seq, value]}
SEQ = "arsflow_scope_seq"  # data of the top workflow: the last sequence number given
SEEN = "scope_seen"        # internal_data of a task: the sequence number it has caught up to
BASE = "scope_base"        # internal_data of a ready task: {name: fingerprint} of what it was given
OWN = "scope_locals"       # internal_data: the activity-local inputs it was given (never shared)
LOCALS = "camunda_io_locals"  # io_mapping's activity-local inputs (never written to the scope)


_SCALARS = (bool, int, float, type(None))


def _fingerprint(value):
    """Short values stand for themselves; others by a checksum of their repr (key order
    included: a dictionary rebuilt in another order counts as written again, which is harmless)."""
    if isinstance(value, _SCALARS) or (isinstance(value, str) and len(value) <= 64):
        return value
    return f"#{zlib.crc32(repr(value).encode()):08x}"


def _same(fingerprint, value) -> bool:
    mine = _fingerprint(value)
    return type(fingerprint) is type(mine) and fingerprint == mine


def _is_multi_instance(spec) -> bool:
    return hasattr(spec, "merge_child") and hasattr(spec, "counters")


def _instance_of_multi(task) -> bool:
    """One instance of a multi-instance activity (its data goes back through the container)."""
    parent = task.parent
    return (parent is not None and _is_multi_instance(parent.task_spec)
            and task.task_spec.name == getattr(parent.task_spec, "task_spec", None))


def _caller(workflow):
    parent_id = getattr(workflow, "parent_task_id", None)
    if parent_id is None:
        return None
    return task_tree.find_task(workflow.top_workflow, parent_id)


def _scopes(task) -> list:
    """The workflows holding the scopes `task` sees, innermost first."""
    chain, workflow = [], task.workflow
    while True:
        caller = _caller(workflow)
        if caller is None or isinstance(caller.task_spec, CallActivity):
            chain.append(workflow)
            return chain
        if _instance_of_multi(caller):
            chain.append(workflow)
        workflow = caller.workflow


def _seen(task) -> int:
    """The sequence number `task`'s data was last brought up to (through its ancestors)."""
    while task is not None:
        seen = task.internal_data.get(SEEN)
        if seen is not None:
            return seen
        task = task.parent if task.parent is not None else _caller(task.workflow)
    return 0


def _newer(task, since: int) -> dict:
    """Values written to `task`'s scopes after `since`; an inner scope hides an outer one."""
    found: dict = {}
    for workflow in _scopes(task):
        for name, (seq, value) in (workflow.data.get(SCOPE) or {}).items():
            if name not in found:
                found[name] = (seq, value)
    return {name: value for name, (seq, value) in found.items() if seq > since}


def _top(task):
    return task.workflow.top_workflow


def _sequence(task) -> int:
    return _top(task).data.get(SEQ, 0)


def on_ready(task) -> None:
    """Called as SpiffWorkflow copies the parent's data into `task`: bring it up to date."""
    for name, value in _newer(task, _seen(task.parent) if task.parent is not None else 0).items():
        task.data[name] = deepcopy(value)
    task.internal_data[SEEN] = _sequence(task)


def mark(task) -> None:
    """Remember what the task was given, so that its completion writes only what it changed."""
    task.internal_data[BASE] = {name: _fingerprint(value) for name, value in task.data.items()}
    if task.internal_data.get(LOCALS):
        task.internal_data[OWN] = sorted(task.internal_data[LOCALS])


def catch_up(task) -> None:
    """A task that waited: copy what other branches wrote meanwhile (not what it holds itself)."""
    newer = _newer(task, _seen(task))
    base = task.internal_data.get(BASE)
    for name, value in newer.items():
        task.data[name] = deepcopy(value)
        if base is not None:
            base[name] = _fingerprint(value)
    task.internal_data[SEEN] = _sequence(task)


def current_view(task) -> dict:
    """The task's data as it would read now (for a form shown, without changing the task)."""
    data = dict(task.data)
    data.update(_newer(task, _seen(task)))
    return data


def on_complete(task) -> None:
    """Write what the task changed to its innermost scope."""
    base = task.internal_data.pop(BASE, None)
    spec = task.task_spec
    if base is None and not isinstance(spec, Join) and task.parent is not None:
        # ready before this module existed (an instance saved by an earlier arsflow; every
        # other task but a join was marked as it became ready): what it changed is what
        # differs from its parent
        base = {name: _fingerprint(value) for name, value in task.parent.data.items()}
    if base is None or _instance_of_multi(task):
        task.internal_data.pop(OWN, None)
        return  # joins (they merge, they do not write), and multi-instance items (merged by their container)
    if isinstance(spec, SubWorkflowTask) and not isinstance(spec, CallActivity):
        return  # an embedded sub-process: its own tasks wrote to this same scope already
    local = set(task.internal_data.pop(OWN, None) or ())
    outputs = set((getattr(spec, "extensions", None) or {}).get("outputs") or ())
    changed = {name: value for name, value in task.data.items()
               if (name not in local or name in outputs) and not (name in base and _same(base[name], value))}
    if not changed:
        return
    _write(task, changed)


def _write(task, values: dict) -> None:
    top = _top(task)
    seq = top.data.get(SEQ, 0) + 1
    top.data[SEQ] = seq
    scope = _scopes(task)[0].data.setdefault(SCOPE, {})
    for name, value in values.items():
        scope[name] = [seq, deepcopy(value)]


def assign(task, values: dict) -> None:
    """Variables set on a waiting task from outside a completion (a worker's failure report):
    the process sees them at once, as Camunda's setVariables."""
    task.data.update(values)
    _write(task, values)
    base = task.internal_data.get(BASE)
    if base is not None:
        base.update({name: _fingerprint(value) for name, value in values.items()})


def replace_values(workflow, moved: dict) -> None:
    """Every scope value equal to a key of `moved` becomes its value (a deadline pushed back)."""
    for owner in (workflow, *workflow.subprocesses.values()):
        for entry in (owner.data.get(SCOPE) or {}).values():
            if isinstance(entry[1], str) and entry[1] in moved:
                entry[1] = moved[entry[1]]


def process_values(workflow) -> dict:
    """The latest value of every process variable written so far (top scope)."""
    return {name: value for name, (_, value) in (workflow.data.get(SCOPE) or {}).items()}
