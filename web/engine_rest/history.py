"""History (HistoricProcessInstanceRestServiceImpl, HistoricProcessInstanceDto): every instance,
running or ended, with its start and end, state and duration, read from the instances table
(arsflow keeps ended instances; Camunda's ACT_HI_PROCINST)."""
from __future__ import annotations

from flask import jsonify, request
from sqlalchemy import func, select

from arsflow.engine.models import ActivityInstance, Instance, ProcessDefinition

from arsflow.web.engine_rest.auth import require_reader
from arsflow.web.engine_rest.blueprint import bp, runtime
from arsflow.web.engine_rest.dto import bool_arg, camunda_time, definition_id_of, page, time_arg
from arsflow.web.engine_rest.errors import RestError, bad

_STATES = {"waiting": "ACTIVE", "running": "ACTIVE", "incident": "ACTIVE", "suspended": "SUSPENDED",
           "completed": "COMPLETED", "terminated": "EXTERNALLY_TERMINATED"}
_ENDED = ("completed", "terminated")
_SORT = {"instanceId": Instance.id, "definitionId": Instance.definition_id, "definitionKey": Instance.process_key,
         "businessKey": Instance.business_key, "startTime": Instance.created_at, "endTime": Instance.ended_at,
         "duration": func.coalesce(Instance.ended_at, Instance.updated_at)}


def historic_dto(instance: Instance, definition: ProcessDefinition) -> dict:
    duration = None
    if instance.ended_at is not None:
        duration = int((instance.ended_at - instance.created_at).total_seconds() * 1000)
    return {
        "id": str(instance.id), "businessKey": instance.business_key,
        "processDefinitionId": definition_id_of(definition), "processDefinitionKey": definition.key,
        "processDefinitionName": definition.name, "processDefinitionVersion": definition.version,
        "startTime": camunda_time(instance.created_at), "endTime": camunda_time(instance.ended_at),
        "removalTime": None, "durationInMillis": duration, "startUserId": instance.initiator,
        "startActivityId": None, "deleteReason": None, "rootProcessInstanceId": str(instance.id),
        "superProcessInstanceId": None, "superCaseInstanceId": None, "caseInstanceId": None, "tenantId": None,
        "state": _STATES.get(instance.state, "ACTIVE"), "restartedProcessInstanceId": None,
    }


def _query():
    args = request.args
    query = select(Instance, ProcessDefinition).join(ProcessDefinition, ProcessDefinition.id == Instance.definition_id)
    if args.get("processInstanceId"):
        query = query.where(Instance.id == _number(args["processInstanceId"]))
    if args.get("processInstanceIds"):
        query = query.where(Instance.id.in_([_number(i) for i in args["processInstanceIds"].split(",")]))
    if args.get("processDefinitionKey"):
        query = query.where(Instance.process_key == args["processDefinitionKey"])
    if args.get("processDefinitionKeyIn"):
        query = query.where(Instance.process_key.in_(args["processDefinitionKeyIn"].split(",")))
    if args.get("processDefinitionId"):
        query = query.where(Instance.definition_id == _number(args["processDefinitionId"].rsplit(":", 1)[-1]))
    if args.get("processInstanceBusinessKey"):
        query = query.where(Instance.business_key == args["processInstanceBusinessKey"])
    if args.get("processInstanceBusinessKeyLike"):
        query = query.where(Instance.business_key.like(args["processInstanceBusinessKeyLike"]))
    if args.get("startedBy"):
        query = query.where(Instance.initiator == args["startedBy"])
    if bool_arg("finished"):
        query = query.where(Instance.state.in_(_ENDED))
    if bool_arg("unfinished"):
        query = query.where(Instance.state.not_in(_ENDED))
    if bool_arg("withIncidents"):
        query = query.where(Instance.state == "incident")
    if bool_arg("active"):
        query = query.where(Instance.state.in_(("waiting", "running", "incident")))
    if bool_arg("suspended"):
        query = query.where(Instance.state == "suspended")
    if bool_arg("completed"):
        query = query.where(Instance.state == "completed")
    if bool_arg("externallyTerminated"):
        query = query.where(Instance.state == "terminated")
    if bool_arg("internallyTerminated"):
        query = query.where(Instance.id.is_(None))
    for name, column, before in (("startedBefore", Instance.created_at, True), ("startedAfter", Instance.created_at, False),
                                 ("finishedBefore", Instance.ended_at, True), ("finishedAfter", Instance.ended_at, False)):
        when = time_arg(name)
        if when is not None:
            query = query.where(column <= when if before else column >= when)
    by = args.get("sortBy")
    if by is not None:
        if by not in _SORT:
            raise bad(f"Cannot set query parameter 'sortBy' to value '{by}'")
        if args.get("sortOrder") not in ("asc", "desc"):
            raise bad("Only a single sorting parameter specified. sortBy and sortOrder required")
        query = query.order_by(_SORT[by].desc() if args["sortOrder"] == "desc" else _SORT[by].asc())
    return query.order_by(Instance.id)


def _number(value) -> int:
    return int(value) if str(value).strip().isdigit() else -1


@bp.get("/history/process-instance")
def list_historic_process_instances():
    require_reader("ProcessInstance")
    with runtime().db.read() as session:
        return jsonify([historic_dto(r.Instance, r.ProcessDefinition) for r in session.execute(page(_query()))])


@bp.get("/history/process-instance/count")
def count_historic_process_instances():
    require_reader("ProcessInstance")
    with runtime().db.read() as session:
        return jsonify({"count": session.scalar(select(func.count()).select_from(_query().subquery()))})


@bp.get("/history/process-instance/<instance_id>")
def get_historic_process_instance(instance_id):
    require_reader("ProcessInstance", instance_id)
    with runtime().db.read() as session:
        instance = session.get(Instance, _number(instance_id))
        if instance is None:
            raise RestError(404, "InvalidRequestException",
                            f"Historic process instance with id {instance_id} does not exist")
        return jsonify(historic_dto(instance, session.get(ProcessDefinition, instance.definition_id)))


# -- activity instances ------------------------------------------------------------------------
# Activities from the history the engine writes in each operation's transaction (engine/history,
# Camunda's ACT_HI_ACTINST): every element entered, left or cancelled.

_ACTIVITY_SORT = {"activityInstanceId": ActivityInstance.id, "instanceId": ActivityInstance.instance_id,
         "executionId": ActivityInstance.id, "activityId": ActivityInstance.activity_id,
         "activityName": ActivityInstance.activity_name, "activityType": ActivityInstance.activity_type,
         "startTime": ActivityInstance.started_at, "endTime": ActivityInstance.ended_at,
         "duration": ActivityInstance.duration_ms, "occurrence": ActivityInstance.seq,
         "definitionId": Instance.definition_id}


def activity_dto(row: ActivityInstance, instance: Instance, definition: ProcessDefinition) -> dict:
    return {
        "id": row.id, "parentActivityInstanceId": row.parent_id or str(instance.id),
        "activityId": row.activity_id, "activityName": row.activity_name, "activityType": row.activity_type,
        "processDefinitionKey": definition.key, "processDefinitionId": definition_id_of(definition),
        "processInstanceId": str(instance.id), "executionId": row.id, "taskId": row.task_id,
        "calledProcessInstanceId": row.called_process_instance_id, "calledCaseInstanceId": None,
        "assignee": row.assignee, "startTime": camunda_time(row.started_at), "endTime": camunda_time(row.ended_at),
        "durationInMillis": row.duration_ms, "canceled": bool(row.canceled),
        "completeScope": row.ended_at is not None and not row.canceled and row.activity_type.endswith("EndEvent"),
        "tenantId": None, "removalTime": None, "rootProcessInstanceId": str(instance.id),
    }


def _activity_query():
    args = request.args
    query = (select(ActivityInstance, Instance, ProcessDefinition)
             .join(Instance, Instance.id == ActivityInstance.instance_id)
             .join(ProcessDefinition, ProcessDefinition.id == Instance.definition_id))
    if args.get("activityInstanceId"):
        query = query.where(ActivityInstance.id == args["activityInstanceId"])
    if args.get("processInstanceId"):
        text = args["processInstanceId"]
        query = query.where(ActivityInstance.instance_id == (int(text) if text.isdigit() else -1))
    if args.get("processDefinitionId"):
        last = args["processDefinitionId"].rsplit(":", 1)[-1]
        query = query.where(Instance.definition_id == (int(last) if last.isdigit() else -1))
    if args.get("executionId"):
        query = query.where(ActivityInstance.id == args["executionId"])
    for name, column in (("activityId", ActivityInstance.activity_id), ("activityName", ActivityInstance.activity_name),
                         ("activityType", ActivityInstance.activity_type), ("taskAssignee", ActivityInstance.assignee)):
        if args.get(name):
            query = query.where(column == args[name])
    if args.get("activityNameLike"):
        query = query.where(ActivityInstance.activity_name.like(args["activityNameLike"]))
    if bool_arg("finished"):
        query = query.where(ActivityInstance.ended_at.is_not(None))
    if bool_arg("unfinished"):
        query = query.where(ActivityInstance.ended_at.is_(None))
    if bool_arg("canceled"):
        query = query.where(ActivityInstance.canceled.is_(True))
    if bool_arg("completeScope"):
        query = query.where(ActivityInstance.ended_at.is_not(None), ActivityInstance.canceled.is_(False),
                            ActivityInstance.activity_type.like("%EndEvent"))
    for name, column, before in (("startedBefore", ActivityInstance.started_at, True),
                                 ("startedAfter", ActivityInstance.started_at, False),
                                 ("finishedBefore", ActivityInstance.ended_at, True),
                                 ("finishedAfter", ActivityInstance.ended_at, False)):
        when = time_arg(name)
        if when is not None:
            query = query.where(column <= when if before else column >= when)
    by = args.get("sortBy")
    if by is not None:
        if by not in _ACTIVITY_SORT:
            raise bad(f"Cannot set query parameter 'sortBy' to value '{by}'")
        if args.get("sortOrder") not in ("asc", "desc"):
            raise bad("Only a single sorting parameter specified. sortBy and sortOrder required")
        query = query.order_by(_ACTIVITY_SORT[by].desc() if args["sortOrder"] == "desc" else _ACTIVITY_SORT[by].asc())
    return query.order_by(ActivityInstance.instance_id, ActivityInstance.seq)


@bp.get("/history/activity-instance")
def list_historic_activity_instances():
    require_reader("ProcessInstance")
    with runtime().db.read() as session:
        return jsonify([activity_dto(r.ActivityInstance, r.Instance, r.ProcessDefinition)
                        for r in session.execute(page(_activity_query()))])


@bp.get("/history/activity-instance/count")
def count_historic_activity_instances():
    require_reader("ProcessInstance")
    with runtime().db.read() as session:
        return jsonify({"count": session.scalar(select(func.count()).select_from(_activity_query().subquery()))})


@bp.get("/history/activity-instance/<activity_instance_id>")
def get_historic_activity_instance(activity_instance_id):
    require_reader("ProcessInstance", activity_instance_id)
    with runtime().db.read() as session:
        row = session.execute(_activity_query().where(ActivityInstance.id == activity_instance_id)).first()
        if row is None:
            raise RestError(404, "InvalidRequestException",
                            f"Historic activity instance with id {activity_instance_id} does not exist")
        return jsonify(activity_dto(row.ActivityInstance, row.Instance, row.ProcessDefinition))
