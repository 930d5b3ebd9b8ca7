"""`execution` and `task` as JUEL expressions see them in Camunda 7.

Camunda's documentation writes `${execution.getVariable("amount")}`,
`#{execution.processBusinessKey}` or `${task.name}`; these beans give a SpiffWorkflow task
the methods of Camunda's DelegateExecution and DelegateTask that make sense here (read and
write variables, ids, names, business key). Only the names in METHODS are callable.
"""
from __future__ import annotations

from arsflow.engine.bpmn.juel import Bean, JuelError


def _name(value) -> str:
    if not isinstance(value, str):
        raise JuelError("le nom d'une variable doit être un texte")
    return value


class ExecutionBean(Bean):
    METHODS = frozenset({
        "getVariable", "getVariableLocal", "hasVariable", "hasVariableLocal", "getVariables",
        "getVariablesLocal", "getVariableNames", "setVariable", "setVariableLocal", "removeVariable",
        "getProcessBusinessKey", "getBusinessKey", "getProcessInstanceId", "getId", "getActivityId",
        "getCurrentActivityId", "getCurrentActivityName", "getActivityName", "getProcessDefinitionId",
        "getTenantId", "getEventName",
    })

    def __init__(self, task, engine, variables=None):
        self._task = task
        self._engine = engine
        self._variables = task.data if variables is None else variables

    # variables (one scope per task in SpiffWorkflow: local and global read the same data)
    def getVariable(self, name):
        return self._variables.get(_name(name))

    getVariableLocal = getVariable

    def hasVariable(self, name):
        return _name(name) in self._variables

    hasVariableLocal = hasVariable

    def getVariables(self):
        return dict(self._variables)

    getVariablesLocal = getVariables

    def getVariableNames(self):
        return list(self._variables)

    def setVariable(self, name, value):
        self._task.data[_name(name)] = value
        return None

    setVariableLocal = setVariable

    def removeVariable(self, name):
        self._task.data.pop(_name(name), None)
        return None

    # identity
    def getProcessBusinessKey(self):
        from arsflow.engine.bpmn.io_mapping import business_key
        return business_key(self._task, self._engine)

    getBusinessKey = getProcessBusinessKey

    def getProcessInstanceId(self):
        instance_id = getattr(self._engine, "instance_id", None)
        return None if instance_id is None else str(instance_id)

    def getId(self):
        return str(self._task.id)

    def getActivityId(self):
        return getattr(self._task.task_spec, "bpmn_id", None)

    getCurrentActivityId = getActivityId

    def getCurrentActivityName(self):
        return getattr(self._task.task_spec, "bpmn_name", None)

    getActivityName = getCurrentActivityName

    def getProcessDefinitionId(self):
        return getattr(self._task.workflow.spec, "name", None)

    def getTenantId(self):
        return None

    def getEventName(self):
        return getattr(self._engine, "event_name", None)


class TaskBean(ExecutionBean):
    """Camunda's DelegateTask: a user task seen from an expression or a task listener."""
    METHODS = ExecutionBean.METHODS | frozenset({
        "getName", "getTaskDefinitionKey", "getAssignee", "getOwner", "getDescription",
        "getPriority", "getDueDate", "getFollowUpDate", "getExecution", "getExecutionId",
        "getCandidateGroups", "getCandidateUsers",
    })

    def getId(self):
        return str(self._task.id)

    def getName(self):
        return getattr(self._task.task_spec, "bpmn_name", None)

    def getTaskDefinitionKey(self):
        return getattr(self._task.task_spec, "bpmn_id", None)

    def _internal(self, key):
        return (self._task.internal_data or {}).get(key)

    def getAssignee(self):
        return self._internal("assignee")

    getOwner = getAssignee

    def getDescription(self):
        return getattr(self._task.task_spec, "documentation", None)

    def getPriority(self):
        return self._internal("priority")

    def getDueDate(self):
        return self._internal("due_at")

    def getFollowUpDate(self):
        return self._internal("follow_up_at")

    def getCandidateGroups(self):
        return list(self._internal("candidate_groups") or [])

    def getCandidateUsers(self):
        return list(self._internal("candidate_users") or [])

    def getExecution(self):
        return ExecutionBean(self._task, self._engine, self._variables)

    def getExecutionId(self):
        return str(self._task.id)
