"""Keep a long-lived instance's task tree the size of what is still going on.

SpiffWorkflow keeps every task it ever ran: each turn of a loop nests one level deeper, each
firing of a reminder cycle adds a branch, each finished sub-process keeps its whole tree. Left
alone, a loop stalls after ~500 turns (its iterators stop at depth 1000, `find_ancestor` and
`is_descendant_of` recurse) and a yearly cycle's saved instance grows without bound.

`compact` removes what can no longer matter, the same way in every process (so a restarted
worker sees what a warm one sees):
- the middle of a chain of completed tasks with one child each (the history of a loop or a
  sequence): the chain's last task inherited their data and is later, so nothing is lost;
- a finished branch (every task in it completed or cancelled) hanging from a completed task or
  from a cycle timer (a parallel branch that ended, a fired boundary event, the items of a
  finished multi-instance, a reminder already sent). Its data is folded into the root's
  `CARRY`, which `_variables` merges at the time the branch finished, so the variables a person
  reads do not change;
- the trees of finished sub-processes, whose results their task already holds.
The root and its first child (SpiffWorkflow's `Start`) always stay. The activity history and
audit are written before this runs; they keep what was pruned.
"""
from __future__ import annotations

import sys

from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.util.task import TaskIterator
from SpiffWorkflow.util.task import TaskState

CARRY = "arsflow_carry"  # root internal_data: {"at": last_state_change, "data": {...}}
FINISHED = TaskState.COMPLETED | TaskState.CANCELLED
STEPS_BETWEEN_COMPACTIONS = 256


def lift_depth_limit() -> None:
    """SpiffWorkflow's iterators stop silently at depth 1000: a READY task deeper than that is
    never run nor listed. `compact` keeps trees shallow between operations; within one
    operation a loop may still go deeper, so the iterators must not stop."""
    for cls in (TaskIterator, BpmnTaskIterator):
        defaults = list(cls.__init__.__defaults__)
        # (end_at_spec, max_depth, depth_first, [skip_subprocesses,] task_filter)
        if defaults[1] != sys.maxsize:
            defaults[1] = sys.maxsize
            cls.__init__.__defaults__ = tuple(defaults)


lift_depth_limit()


def _workflows(workflow):
    return [workflow, *workflow.subprocesses.values()]


def compact(workflow, between_steps: bool = False) -> int:
    """Prune `workflow` (the top-level BpmnWorkflow) in place; returns the tasks removed.
    `between_steps`: SpiffWorkflow is iterating its task lists (do_engine_steps), so only
    shorten chains, and keep sub-process owners (it looks them up by id afterwards)."""
    removed = 0
    if not between_steps:
        for sub_id, sub in list(workflow.subprocesses.items()):
            if sub_id in workflow.subprocesses and _finished_subprocess(workflow, sub_id, sub):
                removed += _drop_subprocess(workflow, sub_id)
    for wf in _workflows(workflow):
        if not between_steps:
            removed += _prune_finished_branches(workflow, wf)
        removed += _shorten_chains(workflow, wf, keep_owners=between_steps)
    return removed


def step_guard(workflow, limit: int):
    """A `did_complete_task` callback for do_engine_steps: compacts every few hundred steps (a
    loop of scripts runs in one operation) and stops a loop that never waits."""
    count = [0]

    def after(_task):
        count[0] += 1
        if count[0] % STEPS_BETWEEN_COMPACTIONS == 0:
            compact(workflow, between_steps=True)
        if count[0] >= limit:
            raise RunawayLoop(count[0])
    return after


class RunawayLoop(Exception):
    def __init__(self, steps: int):
        super().__init__(f"le processus ne se stabilise pas : {steps} étapes sans attendre personne "
                         "ni aucun événement (boucle sans fin ?)")


# -- finished sub-processes -------------------------------------------------------------
def _finished_subprocess(top, sub_id, sub) -> bool:
    owner = find_task(top, sub_id)  # None once pruned (SpiffWorkflow would raise)
    if owner is not None and not owner.has_state(FINISHED):
        return False
    return all(t.has_state(FINISHED) for t in sub.tasks.values()) or owner is None


def _drop_subprocess(top, sub_id) -> int:
    """Remove a sub-process tree and those nested in it."""
    sub = top.subprocesses.pop(sub_id, None)
    if sub is None:
        return 0
    removed = len(sub.tasks)
    for task in sub.tasks.values():
        top.event_manager.remove_task(task)
    for nested_id in [i for i in list(top.subprocesses) if i in sub.tasks]:
        removed += _drop_subprocess(top, nested_id)
    return removed


# -- finished branches --------------------------------------------------------------------
def _bottom_up(wf):
    """Every task of the tree, children before their parent (iterative: trees may be deep)."""
    order, stack = [], [wf.task_tree]
    while stack:
        task = stack.pop()
        order.append(task)
        stack.extend(c for c in task.children if c is not None)
    return reversed(order)


def _prune_finished_branches(top, wf) -> int:
    root = wf.task_tree
    protected = {root.id, *root._children}
    awaited = _awaited_arrivals(top, wf)
    finished = {}
    for task in _bottom_up(wf):
        finished[task.id] = (task.has_state(FINISHED) and task.id not in awaited
                             and all(finished.get(c, False) for c in task._children))
    removed = 0
    for task in list(wf.tasks.values()):
        if _is_cycle(task) and len(task._children) > 2:
            removed += _drop_repeated_joins(top, wf, task)
        if task.id not in wf.tasks or task.id in protected or not finished.get(task.id):
            continue
        parent = task.parent
        if parent is None or parent.id not in wf.tasks or not _may_lose_children(parent):
            continue
        if finished.get(parent.id) and parent.id not in protected and _may_lose_children(parent.parent):
            continue  # the whole parent branch goes: prune from the highest point
        removed += _remove_branch(top, wf, task)
    return removed


def _awaited_arrivals(top, wf) -> set:
    """Arrivals at a join that has not fired since: SpiffWorkflow cancels all but the latest
    arrival at a parallel or inclusive join and counts the cancelled ones (and merges their
    data) when it fires, so their branches must stay until then. A sub-process's end merges
    the data of every branch that ended: those stay until the sub-process is dropped."""
    fired, arrivals = {}, []
    for task in wf.tasks.values():
        if not isinstance(task.task_spec, UnstructuredJoin):
            continue
        if task.state == TaskState.COMPLETED:
            name = task.task_spec.name
            fired[name] = max(fired.get(name, 0), task.last_state_change)
        elif task.state == TaskState.CANCELLED:
            arrivals.append(task)
    is_end = lambda t: type(t.task_spec).__name__ == "_EndJoin"  # noqa: E731
    return {t.id for t in arrivals
            if (wf is not top and is_end(t))
            or (not is_end(t) and fired.get(t.task_spec.name, -1) < t.last_state_change)}


def _may_lose_children(parent) -> bool:
    """A completed task's finished branches are history; a cycle timer adds one branch per
    occurrence and never looks back. Anything still running (a multi-instance counting its
    items, a boundary split awaiting its host, a gateway) keeps its children."""
    if parent is None:
        return False
    return parent.state == TaskState.COMPLETED or _is_cycle(parent)


def _is_cycle(task) -> bool:
    definition = getattr(task.task_spec, "event_definition", None)
    return definition is not None and "Cycle" in type(definition).__name__


def _drop_repeated_joins(top, wf, cycle) -> int:
    """Each occurrence of a non-interrupting cycle adds a placeholder join awaiting the host
    activity (SpiffWorkflow's BoundaryEventJoin): one is enough, the others only accumulate."""
    joins = [c for c in cycle.children if c is not None and not c._children
             and type(c.task_spec).__name__ == "BoundaryEventJoin" and not c.has_state(FINISHED)]
    for join in joins[:-1]:
        cycle._children.remove(join.id)
        wf.tasks.pop(join.id, None)
    return max(len(joins) - 1, 0)


def _remove_branch(top, wf, branch) -> int:
    carried = []
    stack, doomed = [branch], []
    while stack:
        task = stack.pop()
        doomed.append(task)
        stack.extend(c for c in task.children if c is not None)
    if wf is top:
        carried = [t for t in doomed if t.state == TaskState.COMPLETED]
    parent = branch.parent
    parent._children.remove(branch.id)
    for task in doomed:
        wf.tasks.pop(task.id, None)
        top.event_manager.remove_task(task)
        if task.id in top.subprocesses:
            _drop_subprocess(top, task.id)
        if top.last_task is task:
            top.last_task = None
    if carried:
        _carry(top, carried)
    return len(doomed)


def _carry(top, tasks) -> None:
    """Fold the data of pruned top-level tasks into the root, so the variables a person reads
    (runtime._variables merges task data by time) stay what they were."""
    from arsflow.engine.bpmn.io_mapping import process_scope
    root = top.task_tree
    carry = root.internal_data.get(CARRY) or {"at": 0, "data": {}}
    data = dict(carry["data"])
    for task in sorted(tasks, key=lambda t: t.last_state_change):
        data.update(process_scope(task))
    at = max([carry["at"], *(t.last_state_change for t in tasks)])
    root.internal_data[CARRY] = {"at": at, "data": data}


# -- chains of completed tasks ------------------------------------------------------------
def _shorten_chains(top, wf, keep_owners: bool = False) -> int:
    """Splice out the middle of each chain of completed one-child tasks (never the root nor
    its first child), linking the chain's first task to its last."""
    root = wf.task_tree
    keep = {root.id, *root._children}
    removed = 0
    stack = [root]
    while stack:
        task = stack.pop()
        if _link(task) and task.id not in keep:
            # walk down while the next one is also a completed one-child task
            last = wf.tasks[task._children[0]]
            middle = []
            while (_link(last) and _link(wf.tasks.get(last._children[0]))
                   and not (keep_owners and last.id in top.subprocesses)):
                middle.append(last)
                last = wf.tasks[last._children[0]]
            if middle:
                task._children = [last.id]
                last._parent = task.id
                for gone in middle:
                    wf.tasks.pop(gone.id, None)
                    if gone.id in top.subprocesses:
                        _drop_subprocess(top, gone.id)
                    if top.last_task is gone:
                        top.last_task = None
                removed += len(middle)
            stack.append(last)
            continue
        stack.extend(c for c in task.children if c is not None)
    return removed


def _link(task) -> bool:
    return task is not None and task.state == TaskState.COMPLETED and len(task._children) == 1


def find_task(workflow, task_id):
    """The task with this id, or None when it finished and was pruned (SpiffWorkflow raises)."""
    from SpiffWorkflow.exceptions import TaskNotFoundException
    try:
        return workflow.get_task_from_id(task_id)
    except TaskNotFoundException:
        return None
