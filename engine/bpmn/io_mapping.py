"""Camunda 7 variable mappings on SpiffWorkflow tasks.

- `camunda:inputOutput`: input parameters are local to their activity (visible to its form,
  script, handler or sub-process, gone once it completes, a shadowed process variable coming
  back unchanged); output parameters are evaluated in the activity's scope and written to the
  process scope.
- Call activity `camunda:in`/`camunda:out`: only what is mapped crosses (`source`,
  `sourceExpression`, `variables="all"`, `local`), and `businessKey` gives the called process
  its business key. SpiffWorkflow copies all data both ways (its embedded sub-processes, which
  share their parent's scope as in Camunda, keep doing so).

SpiffWorkflow has no hook for either, and new task spec classes would need serializer
converters, so the two BpmnTaskSpec hooks and CallActivity's data copies are wrapped once
(`install`), reading `task_spec.extensions` as the parser filled them.
"""
from __future__ import annotations

import ast
import textwrap
from copy import deepcopy

from arsflow.engine.bpmn import task_tree, variable_scope
from SpiffWorkflow.bpmn.specs.bpmn_task_spec import BpmnTaskSpec
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import CallActivity

LOCALS = "camunda_io_locals"        # internal_data: {name: previous value} shadowed by inputs
ABSENT = "__absent__"               # marks a name that had no value before the activity
BUSINESS_KEY = "business_key"       # internal_data of a called process's Start task
SCRIPT_RESULT = "camunda_script_result"


def _extensions(task) -> dict:
    return getattr(task.task_spec, "extensions", None) or {}


def evaluate_parameter(task, value):
    """An input/output parameter's value: text, `${…}`, list, map or a Python script whose
    last expression is the value (as a Groovy/JavaScript script's last value in Camunda)."""
    engine = task.workflow.script_engine
    if isinstance(value, dict) and set(value) == {"script", "format"}:
        return run_script_value(task, value["script"])
    if isinstance(value, list):
        return [evaluate_parameter(task, item) for item in value]
    if isinstance(value, dict):
        return {key: evaluate_parameter(task, item) for key, item in value.items()}
    return engine.evaluate_value(task, value)


def run_script_value(task, script: str):
    tree = ast.parse(textwrap.dedent(script))
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body[-1]
        tree.body[-1] = ast.copy_location(
            ast.Assign(targets=[ast.Name(SCRIPT_RESULT, ast.Store())], value=last.value), last)
        ast.fix_missing_locations(tree)
    scratch = deepcopy(task.data)
    task.workflow.script_engine.execute_in(task, ast.unparse(tree), scratch)
    return scratch.get(SCRIPT_RESULT)


def apply_inputs(task) -> None:
    inputs = _extensions(task).get("inputs")
    if not inputs or LOCALS in task.internal_data:
        return
    shadowed = {name: task.data.get(name, ABSENT) for name in inputs}
    for name, value in inputs.items():  # in order: an input sees the ones before it, as in Camunda
        task.data[name] = evaluate_parameter(task, value)
    task.internal_data[LOCALS] = shadowed


def process_scope(task) -> dict:
    """The task's data without its activity-local inputs (what the process scope holds)."""
    shadowed = task.internal_data.get(LOCALS)
    if not shadowed:
        return task.data
    data = {k: v for k, v in task.data.items() if k not in shadowed}
    data.update({k: v for k, v in shadowed.items() if v != ABSENT})
    return data


def apply_outputs(task) -> None:
    ext = _extensions(task)
    outputs = ext.get("outputs") or {}
    values = {name: evaluate_parameter(task, value) for name, value in outputs.items()}
    shadowed = task.internal_data.pop(LOCALS, None) or {}
    for name, previous in shadowed.items():
        if previous == ABSENT:
            task.data.pop(name, None)
        else:
            task.data[name] = previous
    task.data.update(values)


# ---- call activities

def _source_value(task, mapping):
    if mapping.get("sourceExpression") is not None:
        return task.workflow.script_engine.evaluate_value(task, mapping["sourceExpression"])
    return deepcopy(task.data.get(mapping["source"]))


def map_variables(task, mappings, into: dict, local_only: dict | None = None) -> None:
    """Apply camunda:in (task = the call activity) or camunda:out (task = the called
    process's last task) mappings into `into`."""
    for mapping in mappings:
        if mapping.get("variables") == "all":
            source = local_only if (mapping.get("local") == "true" and local_only is not None) else task.data
            into.update(deepcopy(source))
        elif mapping.get("businessKey") is None:
            if mapping.get("source") is None and mapping.get("sourceExpression") is None:
                continue
            into[mapping.get("target") or mapping.get("source")] = _source_value(task, mapping)


def _call(task_spec):
    return (getattr(task_spec, "extensions", None) or {}).get("call")


_spiff_copy_data = CallActivity.copy_data
_spiff_update_data = CallActivity.update_data


def copy_data(self, my_task, subworkflow):
    call = _call(self)
    if call is None:  # embedded sub-process: one scope, as in Camunda
        return _spiff_copy_data(self, my_task, subworkflow)
    data: dict = {}
    locals_ = {name: my_task.data[name] for name in (my_task.internal_data.get(LOCALS) or {})
               if name in my_task.data}
    map_variables(my_task, call["in"], data, local_only=locals_)
    start = subworkflow.get_next_task(spec_name="Start")
    start.set_data(**data)
    for mapping in call["in"]:
        if mapping.get("businessKey") is not None:
            key = my_task.workflow.script_engine.evaluate_value(my_task, mapping["businessKey"])
            start.internal_data[BUSINESS_KEY] = None if key is None else str(key)


def update_data(self, my_task, subworkflow):
    call = _call(self)
    if call is None:
        return _spiff_update_data(self, my_task, subworkflow)
    data: dict = {}
    map_variables(subworkflow.last_task, call["out"], data)
    my_task.data.update(data)


def business_key(task, engine):
    """The business key `execution.processBusinessKey` reads: the instance's, or inside a
    called process the one its `camunda:in businessKey` gave (none without it, as Camunda)."""
    workflow = task.workflow
    while workflow.parent_task_id is not None:
        caller = task_tree.find_task(workflow.top_workflow, workflow.parent_task_id)
        if caller is None or _call(caller.task_spec) is not None:
            for start in workflow.get_tasks(spec_name="Start"):
                return start.internal_data.get(BUSINESS_KEY)
            return None
        workflow = caller.workflow
    return getattr(engine, "business_key", None)


# ---- installation

_spiff_update_hook = BpmnTaskSpec._update_hook
_spiff_complete_hook = BpmnTaskSpec._on_complete_hook


def _update_hook(self, my_task):
    result = _spiff_update_hook(self, my_task)
    variable_scope.on_ready(my_task)  # inputs are evaluated against the latest process variables
    apply_inputs(my_task)
    variable_scope.mark(my_task)
    return result


def _on_complete_hook(self, my_task):
    if getattr(self, "extensions", None):
        apply_outputs(my_task)
    result = _spiff_complete_hook(self, my_task)
    variable_scope.on_complete(my_task)
    return result


def install() -> None:
    BpmnTaskSpec._update_hook = _update_hook
    BpmnTaskSpec._on_complete_hook = _on_complete_hook
    CallActivity.copy_data = copy_data
    CallActivity.update_data = update_data
