"""Incidents and job retries (IncidentRestServiceImpl, IncidentDto, JobResourceImpl).

Two kinds, as Camunda reports them:
- `failedExternalTask`: a worker reported a failure with 0 retries left; `configuration` is
  the external task id; `PUT /external-task/{id}/retries` resolves it.
- `failedJob`: a script, expression or service handler failed inside the engine and the
  instance stopped there (arsflow's instance incident); `configuration` is a job id, and
  `PUT /job/{id}/retries` with retries > 0 runs the failed element again (`arsflow retry`).
"""
from __future__ import annotations

import fnmatch
from datetime import datetime
from uuid import NAMESPACE_URL, uuid5

from flask import Response, g, jsonify, request
from sqlalchemy import select

from arsflow.engine.errors import ArsflowError
from arsflow.engine.models import ExternalTask, Instance, ProcessDefinition

from arsflow.web.engine_rest.auth import require_reader
from arsflow.web.engine_rest.blueprint import bp, runtime
from arsflow.web.engine_rest.dto import camunda_time, definition_id_of, json_body
from arsflow.web.engine_rest.errors import RestError, bad, engine_error


def _uuid(*parts) -> str:
    return str(uuid5(NAMESPACE_URL, "arsflow:" + ":".join(str(p) for p in parts)))


def job_id(instance: Instance) -> str:
    """The id of the failed "job" of an instance in incident (stable while the incident lasts)."""
    return _uuid("job", instance.id, instance.lock_version)


def _incidents(session) -> list[dict]:
    definitions = {}

    def definition(row_id):
        if row_id not in definitions:
            definitions[row_id] = session.get(ProcessDefinition, row_id)
        return definitions[row_id]

    found = []
    for task in session.scalars(select(ExternalTask).where(ExternalTask.state == "open",
                                                           ExternalTask.incident_at.is_not(None))):
        incident_id = _uuid("incident", task.id, task.incident_at.isoformat())
        found.append(_dto(incident_id, definition(task.definition_id), task.instance_id, task.id,
                          task.incident_at, "failedExternalTask", task.element_id, task.id, task.error_message))
    for instance in session.scalars(select(Instance).where(Instance.state == "incident")):
        incident = instance.incident or {}
        at = incident.get("at")
        when = datetime.fromisoformat(at) if at else instance.updated_at
        jid = job_id(instance)
        found.append(_dto(_uuid("incident", jid), definition(instance.definition_id), instance.id,
                          str(instance.id), when, "failedJob", incident.get("element_id"), jid,
                          incident.get("message")))
    return found


def _dto(incident_id, definition, instance_id, execution_id, when, kind, activity, configuration, message) -> dict:
    return {"id": incident_id, "processDefinitionId": definition_id_of(definition),
            "processInstanceId": str(instance_id), "executionId": execution_id,
            "incidentTimestamp": camunda_time(when), "incidentType": kind, "activityId": activity,
            "failedActivityId": activity, "causeIncidentId": incident_id, "rootCauseIncidentId": incident_id,
            "configuration": configuration, "incidentMessage": message, "tenantId": None,
            "jobDefinitionId": None, "annotation": None, "_key": definition.key}


def _filtered(session) -> list[dict]:
    args = request.args
    items = _incidents(session)
    exact = {"incidentId": "id", "incidentType": "incidentType", "processInstanceId": "processInstanceId",
             "processDefinitionId": "processDefinitionId", "activityId": "activityId",
             "failedActivityId": "failedActivityId", "configuration": "configuration",
             "incidentMessage": "incidentMessage", "executionId": "executionId"}
    for param, field in exact.items():
        if args.get(param):
            items = [i for i in items if i[field] == args[param]]
    if args.get("incidentMessageLike"):
        pattern = args["incidentMessageLike"].replace("%", "*")
        items = [i for i in items if i["incidentMessage"] and fnmatch.fnmatchcase(i["incidentMessage"], pattern)]
    if args.get("processDefinitionKeyIn"):
        keys = set(args["processDefinitionKeyIn"].split(","))
        items = [i for i in items if i["_key"] in keys]
    sort = args.get("sortBy")
    field = {"incidentId": "id", "incidentTimestamp": "incidentTimestamp", "incidentType": "incidentType",
             "activityId": "activityId", "processInstanceId": "processInstanceId",
             "configuration": "configuration", "incidentMessage": "incidentMessage"}.get(sort or "incidentTimestamp")
    if field is None:
        raise bad(f"Cannot set query parameter 'sortBy' to value '{sort}'")
    items.sort(key=lambda i: (i[field] is None, str(i[field] or "")), reverse=args.get("sortOrder") == "desc")
    first = int(args["firstResult"]) if args.get("firstResult", "").isdigit() else 0
    limit = int(args["maxResults"]) if args.get("maxResults", "").isdigit() else None
    return items[first:first + limit] if limit is not None else items[first:]


@bp.get("/incident")
def list_incidents():
    require_reader("Incident")
    with runtime().db.read() as session:
        return jsonify([{k: v for k, v in i.items() if k != "_key"} for i in _filtered(session)])


@bp.get("/incident/count")
def count_incidents():
    require_reader("Incident")
    with runtime().db.read() as session:
        return jsonify({"count": len(_filtered(session))})


def _instance_for_job(session, jid: str) -> Instance:
    for instance in session.scalars(select(Instance).where(Instance.state == "incident")):
        if job_id(instance) == jid:
            return instance
    raise RestError(404, "InvalidRequestException", f"Job with id {jid} does not exist")


@bp.get("/job/<jid>")
def get_job(jid):
    require_reader("ProcessInstance", jid)
    with runtime().db.read() as session:
        instance = _instance_for_job(session, jid)
        definition = session.get(ProcessDefinition, instance.definition_id)
        incident = instance.incident or {}
        return jsonify({"id": jid, "jobDefinitionId": None, "processInstanceId": str(instance.id),
                        "processDefinitionId": definition_id_of(definition), "processDefinitionKey": definition.key,
                        "executionId": str(instance.id), "exceptionMessage": incident.get("message"),
                        "failedActivityId": incident.get("element_id"), "retries": 0, "dueDate": None,
                        "suspended": False, "priority": 0, "tenantId": None,
                        "createTime": camunda_time(instance.updated_at), "batchId": None})


@bp.put("/job/<jid>/retries")
def set_job_retries(jid):
    """retries > 0: the failed element runs again now (one attempt, as `arsflow retry`)."""
    body = json_body('{"retries": …}')
    retries = body.get("retries")
    if retries is None:
        raise bad("The number of retries cannot be null.")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise bad(f"retries : entier positif ou nul attendu, reçu {retries!r}")
    with runtime().db.read() as session:
        instance_id = _instance_for_job(session, jid).id
    if retries == 0:
        return Response(status=204)
    try:
        runtime().retry(instance_id, actor=g.engine_rest_login)
    except ArsflowError as err:
        raise engine_error(err) from None
    return Response(status=204)
