"""User tasks (TaskRestServiceImpl, TaskResourceImpl, TaskDto): list and count with Camunda's
filters, read, claim, unclaim, complete / submit-form (typed variables, validated by the
task's Camunda Form: 400 "Cannot complete task …: …"), form variables.

A caller sees and works only the tasks the inbox shows them: assignee, candidate user, or
member of a candidate group. Others' tasks answer 404 on read (as a Camunda query filtered
by authorizations) and 403 on claim/complete.
"""
from __future__ import annotations

from flask import Response, g, jsonify, request
from sqlalchemy import func, or_, select

from arsflow.engine.errors import ArsflowError, Conflict, Forbidden, InvalidInput, NotFound
from arsflow.engine.models import FormDefinition, HumanTask, Instance, ProcessDefinition, TaskCandidate

from arsflow.web.engine_rest.blueprint import bp, runtime
from arsflow.web.engine_rest.dto import bool_arg, camunda_time, definition_id_of, int_arg, json_body, time_arg
from arsflow.web.engine_rest.errors import RestError, bad, engine_error
from arsflow.web.engine_rest.variables import from_camunda_variables, to_camunda_variables

_SORT = {"dueDate": HumanTask.due_at, "followUpDate": HumanTask.follow_up_at, "created": HumanTask.created_at,
         "priority": HumanTask.priority, "name": HumanTask.name, "assignee": HumanTask.assignee,
         "id": HumanTask.id, "instanceId": HumanTask.instance_id, "processInstanceId": HumanTask.instance_id,
         "taskDefinitionKey": HumanTask.element_id}


def _candidate_of(kind: str, names) -> object:
    return HumanTask.id.in_(select(TaskCandidate.task_id).where(TaskCandidate.kind == kind,
                                                                TaskCandidate.name.in_(list(names) or [""])))


def _query(session):
    rt = runtime()
    args = request.args
    query = (rt.visible_tasks_query(session, g.engine_rest_login).add_columns(Instance.business_key, Instance.definition_id)
             .join(Instance, Instance.id == HumanTask.instance_id).where(HumanTask.state == "open"))
    simple = {"taskId": HumanTask.id, "taskDefinitionKey": HumanTask.element_id, "name": HumanTask.name,
              "assignee": HumanTask.assignee, "processDefinitionKey": HumanTask.process_key,
              "processInstanceBusinessKey": Instance.business_key}
    for name, column in simple.items():
        if args.get(name):
            query = query.where(column == args[name])
    for name, column in (("taskIdIn", HumanTask.id), ("taskDefinitionKeyIn", HumanTask.element_id),
                         ("assigneeIn", HumanTask.assignee), ("processDefinitionKeyIn", HumanTask.process_key),
                         ("processInstanceBusinessKeyIn", Instance.business_key)):
        if args.get(name):
            query = query.where(column.in_(args[name].split(",")))
    for name, column in (("nameLike", HumanTask.name), ("assigneeLike", HumanTask.assignee),
                         ("processInstanceBusinessKeyLike", Instance.business_key)):
        if args.get(name):
            query = query.where(column.like(args[name]))
    if args.get("processInstanceId"):
        query = query.where(HumanTask.instance_id == _number(args["processInstanceId"]))
    if args.get("processInstanceIdIn"):
        query = query.where(HumanTask.instance_id.in_([_number(i) for i in args["processInstanceIdIn"].split(",")]))
    if args.get("processDefinitionId"):
        query = query.where(Instance.definition_id == _number(args["processDefinitionId"].rsplit(":", 1)[-1]))
    if bool_arg("unassigned"):
        query = query.where(HumanTask.assignee.is_(None))
    if bool_arg("assigned"):
        query = query.where(HumanTask.assignee.is_not(None))
    include_assigned = bool_arg("includeAssignedTasks")
    if args.get("candidateGroup") or args.get("candidateGroups"):
        groups = [args["candidateGroup"]] if args.get("candidateGroup") else args["candidateGroups"].split(",")
        query = query.where(_candidate_of("group", groups))
        if not include_assigned:
            query = query.where(HumanTask.assignee.is_(None))
    if args.get("candidateUser"):
        user = args["candidateUser"]
        from arsflow.engine.people import users as users_module
        groups = users_module.groups_of(session, user)
        query = query.where(or_(_candidate_of("user", [user]), _candidate_of("group", groups)))
        if not include_assigned:
            query = query.where(HumanTask.assignee.is_(None))
    if bool_arg("withCandidateGroups"):
        query = query.where(HumanTask.id.in_(select(TaskCandidate.task_id).where(TaskCandidate.kind == "group")))
    if bool_arg("withoutCandidateGroups"):
        query = query.where(HumanTask.id.not_in(select(TaskCandidate.task_id).where(TaskCandidate.kind == "group")))
    for name, column, op in (("dueBefore", HumanTask.due_at, "lt"), ("dueAfter", HumanTask.due_at, "gt"),
                             ("dueDate", HumanTask.due_at, "eq"), ("followUpBefore", HumanTask.follow_up_at, "lt"),
                             ("followUpAfter", HumanTask.follow_up_at, "gt"), ("followUpDate", HumanTask.follow_up_at, "eq"),
                             ("createdBefore", HumanTask.created_at, "lt"), ("createdAfter", HumanTask.created_at, "gt"),
                             ("createdOn", HumanTask.created_at, "eq")):
        when = time_arg(name)
        if when is not None:
            query = query.where(column < when if op == "lt" else column > when if op == "gt" else column == when)
    if bool_arg("withoutDueDate"):
        query = query.where(HumanTask.due_at.is_(None))
    for name, op in (("priority", "eq"), ("minPriority", "ge"), ("maxPriority", "le")):
        value = int_arg(name, None)
        if value is not None:
            query = query.where(HumanTask.priority == value if op == "eq" else
                                HumanTask.priority >= value if op == "ge" else HumanTask.priority <= value)
    return query


def _number(value) -> int:
    return int(value) if str(value).isdigit() else -1


def _sorted(query):
    by = request.args.get("sortBy")
    if by is None:
        return query.order_by(HumanTask.created_at, HumanTask.id)
    if by not in _SORT:
        raise bad(f"Cannot set query parameter 'sortBy' to value '{by}'")
    if request.args.get("sortOrder") not in ("asc", "desc"):
        raise bad("Only a single sorting parameter specified. sortBy and sortOrder required")
    column = _SORT[by]
    return query.order_by(column.desc() if request.args["sortOrder"] == "desc" else column.asc(), HumanTask.id)


def task_dto(session, task: HumanTask, definition_row_id: int) -> dict:
    definition = session.get(ProcessDefinition, definition_row_id)
    form_ref = None
    form_key = task.form_key
    if task.form_id is not None:
        form = session.get(FormDefinition, task.form_id)
        form_ref = {"key": form.key, "binding": "version", "version": form.version}
        form_key = None
    return {
        "id": task.id, "name": task.name, "assignee": task.assignee, "owner": None,
        "created": camunda_time(task.created_at), "lastUpdated": camunda_time(task.claimed_at),
        "due": camunda_time(task.due_at), "followUp": camunda_time(task.follow_up_at), "delegationState": None,
        "description": None, "executionId": task.id, "parentTaskId": None, "priority": task.priority,
        "processDefinitionId": definition_id_of(definition), "processInstanceId": str(task.instance_id),
        "taskDefinitionKey": task.element_id, "caseExecutionId": None, "caseInstanceId": None,
        "caseDefinitionId": None, "suspended": False, "formKey": form_key, "camundaFormRef": form_ref,
        "tenantId": None, "taskState": "Created",
    }


def _page(query):
    first, limit = int_arg("firstResult", 0), int_arg("maxResults", None)
    query = query.offset(first)
    return query.limit(limit) if limit is not None else query


@bp.get("/task")
def list_tasks():
    with runtime().db.read() as session:
        rows = session.execute(_page(_sorted(_query(session)))).all()
        return jsonify([task_dto(session, row.HumanTask, row.definition_id) for row in rows])


@bp.get("/task/count")
def count_tasks():
    with runtime().db.read() as session:
        return jsonify({"count": session.scalar(select(func.count()).select_from(_query(session).subquery()))})


def _visible(session, task_id: str):
    row = session.execute(runtime().visible_tasks_query(session, g.engine_rest_login)
                          .add_columns(Instance.definition_id).join(Instance, Instance.id == HumanTask.instance_id)
                          .where(HumanTask.id == task_id, HumanTask.state == "open")).first()
    if row is None:
        raise RestError(404, "InvalidRequestException", f"No matching task with id {task_id}")
    return row


@bp.get("/task/<task_id>")
def get_task(task_id):
    with runtime().db.read() as session:
        row = _visible(session, task_id)
        return jsonify(task_dto(session, row.HumanTask, row.definition_id))


def _forbidden(task_id: str, err: ArsflowError) -> RestError:
    return RestError(403, "AuthorizationException", err.message, userId=g.engine_rest_login,
                     missingAuthorizations=[{"permissionName": "TASK_WORK", "resourceName": "Task",
                                             "resourceId": task_id}])


def _missing(task_id: str, prefix: str = "") -> RestError:
    return RestError(500, "RestException" if prefix else "NullValueException",
                     f"{prefix}Cannot find task with id {task_id}: task is null", code=0)


@bp.post("/task/<task_id>/claim")
def claim_task(task_id):
    body = json_body('{"userId": …}')
    user = body.get("userId")
    if user is not None and user != g.engine_rest_login:
        raise RestError(403, "AuthorizationException",
                        f"l'utilisateur {g.engine_rest_login!r} ne peut prendre une tâche que pour lui-même "
                        f"(userId {user!r})", userId=g.engine_rest_login,
                        missingAuthorizations=[{"permissionName": "TASK_ASSIGN", "resourceName": "Task",
                                                "resourceId": task_id}])
    try:
        runtime().claim(task_id, g.engine_rest_login)
    except NotFound:
        raise _missing(task_id) from None
    except Forbidden as err:
        raise _forbidden(task_id, err) from None
    except Conflict as err:
        if err.details.get("state"):  # completed or cancelled: gone from Camunda's runtime
            raise _missing(task_id) from None
        raise RestError(500, "TaskAlreadyClaimedException",
                        f"Task '{task_id}' is already claimed by someone else.", code=0) from None
    return Response(status=204)


@bp.post("/task/<task_id>/unclaim")
def unclaim_task(task_id):
    try:
        runtime().unclaim(task_id, g.engine_rest_login)
    except NotFound:
        raise _missing(task_id) from None
    except Forbidden as err:
        raise _forbidden(task_id, err) from None
    except ArsflowError as err:
        raise engine_error(err) from None
    return Response(status=204)


def _complete(task_id: str, what: str):
    """`what`: "complete task" or "submit task form", as Camunda's messages say."""
    prefix = f"Cannot {what} {task_id}: "
    body = json_body('{"variables": {"nom": {"value": …, "type": …}}, "withVariablesInReturn": false}')
    try:
        variables = from_camunda_variables(body.get("variables"))
    except RestError as err:
        raise RestError(400, "InvalidRequestException", prefix + err.message) from None
    rt = runtime()
    try:
        summary = rt.complete(task_id, variables, actor=g.engine_rest_login)
    except NotFound:
        raise _missing(task_id, prefix) from None
    except Forbidden as err:
        raise _forbidden(task_id, err) from None
    except Conflict as err:
        if err.details.get("state"):
            raise _missing(task_id, prefix) from None
        raise RestError(500, "RestException", prefix + err.message, code=0) from None
    except InvalidInput as err:  # FormFieldValidationException
        errors = err.details.get("errors") or {}
        detail = " ; ".join(f"{name} : {message}" for name, message in errors.items()) or err.message
        raise RestError(400, "RestException", prefix + f"{err.message} — {detail}",
                        code=0) from None
    except ArsflowError as err:
        raise RestError(500, "RestException", prefix + err.message, code=0) from None
    if not body.get("withVariablesInReturn"):
        return Response(status=204)
    with rt.db.read() as session:
        instance = session.get(Instance, summary["id"])
        return jsonify(to_camunda_variables(instance.variables or {}))


@bp.post("/task/<task_id>/complete")
def complete_task(task_id):
    return _complete(task_id, "complete task")


@bp.post("/task/<task_id>/submit-form")
def submit_task_form(task_id):
    return _complete(task_id, "submit task form")


def _task_variables(task_id: str):
    rt = runtime()
    with rt.db.read() as session:
        _visible(session, task_id)
    try:
        data = rt.task_data(task_id, actor=g.engine_rest_login)
    except (NotFound, Forbidden):
        raise RestError(404, "InvalidRequestException", f"No matching task with id {task_id}") from None
    names = request.args.get("variableNames")
    return to_camunda_variables(data, names.split(",") if names else None)


@bp.get("/task/<task_id>/form-variables")
def get_form_variables(task_id):
    """The variables the task's form reads (Camunda Forms: every variable visible from the task)."""
    return jsonify(_task_variables(task_id))


@bp.get("/task/<task_id>/variables")
def get_task_variables(task_id):
    return jsonify(_task_variables(task_id))

