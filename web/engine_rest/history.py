"""History (HistoricProcessInstanceRestServiceImpl, HistoricProcessInstanceDto): every instance,
running or ended, with its start and end, state and duration, read from the instances table
(arsflow keeps ended instances; Camunda's ACT_HI_PROCINST)."""
from __future__ import annotations

from flask import jsonify, request
from sqlalchemy import func, select

from arsflow.engine.models import AuditEntry, ExternalTask, HumanTask, Instance, ProcessDefinition

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
# Until the engine keeps a full activity history, the activities people and workers perform
# are told from their own tables: user tasks (human_tasks, with the audit's cancellation
# instant) and external tasks (external_tasks). Gateways, events and scripts are not listed.

def _activities(session, instance_ids=None) -> list[dict]:
    found = []
    definitions: dict = {}

    def definition(instance_id):
        if instance_id not in definitions:
            instance = session.get(Instance, instance_id)
            definitions[instance_id] = session.get(ProcessDefinition, instance.definition_id)
        return definitions[instance_id]

    human = select(HumanTask)
    external = select(ExternalTask)
    if instance_ids is not None:
        human = human.where(HumanTask.instance_id.in_(instance_ids))
        external = external.where(ExternalTask.instance_id.in_(instance_ids))
    tasks = session.scalars(human).all()
    cancelled_at = {}
    cancelled = [t.id for t in tasks if t.state == "cancelled"]
    if cancelled:
        for entry in session.scalars(select(AuditEntry).where(AuditEntry.action == "task_cancelled",
                                                              AuditEntry.task_id.in_(cancelled))):
            cancelled_at[entry.task_id] = entry.at
    for t in tasks:
        ended = t.completed_at or cancelled_at.get(t.id)
        found.append(_activity(t.id, t.instance_id, definition(t.instance_id), t.element_id, t.name, "userTask",
                               t.created_at, ended, t.state == "cancelled", task_id=t.id, assignee=t.assignee))
    for x in session.scalars(external).all():
        found.append(_activity(x.id, x.instance_id, definition(x.instance_id), x.element_id, x.name, "serviceTask",
                               x.created_at, x.ended_at, x.state in ("cancelled", "error")))
    return found


def _activity(aid, instance_id, definition, element, name, kind, started, ended, canceled, task_id=None,
              assignee=None) -> dict:
    duration = int((ended - started).total_seconds() * 1000) if ended else None
    return {"id": f"{element}:{aid}", "parentActivityInstanceId": str(instance_id), "activityId": element,
            "activityName": name, "activityType": kind, "processDefinitionKey": definition.key,
            "processDefinitionId": definition_id_of(definition), "processInstanceId": str(instance_id),
            "executionId": aid, "taskId": task_id, "calledProcessInstanceId": None, "calledCaseInstanceId": None,
            "assignee": assignee, "startTime": camunda_time(started), "endTime": camunda_time(ended),
            "durationInMillis": duration, "canceled": canceled, "completeScope": False, "tenantId": None,
            "removalTime": None, "rootProcessInstanceId": str(instance_id), "_start": started, "_end": ended}


def _activity_list() -> list[dict]:
    args = request.args
    ids = None
    if args.get("processInstanceId"):
        ids = [_number(args["processInstanceId"])]
    with runtime().db.read() as session:
        items = _activities(session, ids)
    exact = {"activityInstanceId": "id", "activityId": "activityId", "activityName": "activityName",
             "activityType": "activityType", "taskAssignee": "assignee", "executionId": "executionId",
             "processDefinitionId": "processDefinitionId"}
    for param, field in exact.items():
        if args.get(param):
            items = [i for i in items if i[field] == args[param]]
    if bool_arg("finished"):
        items = [i for i in items if i["_end"] is not None]
    if bool_arg("unfinished"):
        items = [i for i in items if i["_end"] is None]
    if bool_arg("canceled"):
        items = [i for i in items if i["canceled"]]
    for name, field, before in (("startedBefore", "_start", True), ("startedAfter", "_start", False),
                                ("finishedBefore", "_end", True), ("finishedAfter", "_end", False)):
        when = time_arg(name)
        if when is not None:
            items = [i for i in items if i[field] is not None and (i[field] <= when if before else i[field] >= when)]
    keys = {"activityInstanceId": "id", "instanceId": "processInstanceId", "activityId": "activityId",
            "activityName": "activityName", "activityType": "activityType", "startTime": "_start",
            "endTime": "_end", "duration": "durationInMillis"}
    by = args.get("sortBy", "startTime")
    if by not in keys:
        raise bad(f"Cannot set query parameter 'sortBy' to value '{by}'")
    field = keys[by]
    items.sort(key=lambda i: (i[field] is None, i[field] if i[field] is not None else 0, i["id"]),
               reverse=args.get("sortOrder") == "desc")
    first = int(args["firstResult"]) if args.get("firstResult", "").isdigit() else 0
    limit = int(args["maxResults"]) if args.get("maxResults", "").isdigit() else None
    items = items[first:first + limit] if limit is not None else items[first:]
    return [{k: v for k, v in i.items() if not k.startswith("_")} for i in items]


@bp.get("/history/activity-instance")
def list_historic_activity_instances():
    require_reader("ProcessInstance")
    return jsonify(_activity_list())


@bp.get("/history/activity-instance/count")
def count_historic_activity_instances():
    require_reader("ProcessInstance")
    return jsonify({"count": len(_activity_list())})
