"""Process instances: list (by definition key, business key, variables), read, variables
(typed), delete (ProcessInstanceRestServiceImpl, ProcessInstanceResourceImpl,
AbstractVariablesResource)."""
from __future__ import annotations

from flask import g, jsonify, request, url_for
from sqlalchemy import func, select

from arsflow.engine.errors import Conflict, NotFound
from arsflow.engine.models import Instance, ProcessDefinition

from arsflow.web.engine_rest.auth import require_reader
from arsflow.web.engine_rest.blueprint import bp, runtime
from arsflow.web.engine_rest.dto import bool_arg, definition_id_of, int_id, matches, page, variables_in_query
from arsflow.web.engine_rest.errors import RestError, bad
from arsflow.web.engine_rest.variables import to_camunda_variables, typed_value

ENDED = ("completed", "terminated")


def _not_found(instance_id) -> RestError:
    return RestError(404, "InvalidRequestException", f"Process instance with id {instance_id} does not exist")


def process_instance_dto(instance: Instance, definition: ProcessDefinition, links: bool = True) -> dict:
    dto = {"links": [], "id": str(instance.id), "definitionId": definition_id_of(definition),
           "definitionKey": definition.key, "businessKey": instance.business_key, "caseInstanceId": None,
           "ended": instance.state in ENDED, "suspended": False, "tenantId": None}
    if links:
        dto["links"] = [{"method": "GET", "rel": "self", "href": url_for(
            "engine_rest.get_process_instance", instance_id=instance.id, _external=True)}]
    return dto


def instance_dto(instance_id: int, with_variables: bool) -> dict:
    """ProcessInstanceDto; `incident` is arsflow's addition when the start already failed
    somewhere (the instance exists and waits for a fix in arsflow)."""
    with runtime().db.read() as session:
        instance = session.get(Instance, instance_id)
        if instance is None:
            raise _not_found(instance_id)
        dto = process_instance_dto(instance, session.get(ProcessDefinition, instance.definition_id))
        if with_variables:
            dto["variables"] = to_camunda_variables(instance.variables or {})
        if instance.state == "incident" and instance.incident:
            dto["incident"] = instance.incident
        return dto


def _query():
    """The runtime query: instances not ended (Camunda's runtime tables hold only those)."""
    args = request.args
    query = select(Instance, ProcessDefinition).join(ProcessDefinition, ProcessDefinition.id == Instance.definition_id)
    query = query.where(Instance.state.not_in(ENDED))
    if args.get("processDefinitionKey"):
        query = query.where(Instance.process_key == args["processDefinitionKey"])
    if args.get("processDefinitionKeyIn"):
        query = query.where(Instance.process_key.in_(args["processDefinitionKeyIn"].split(",")))
    if args.get("businessKey"):
        query = query.where(Instance.business_key == args["businessKey"])
    if args.get("businessKeyLike"):
        query = query.where(Instance.business_key.like(args["businessKeyLike"]))
    if args.get("processInstanceIds"):
        ids = [int(i) for i in args["processInstanceIds"].split(",") if i.strip().isdigit()]
        query = query.where(Instance.id.in_(ids))
    if args.get("processDefinitionId"):
        parts = args["processDefinitionId"].rsplit(":", 2)
        query = query.where(Instance.definition_id == (int(parts[-1]) if parts[-1].isdigit() else -1))
    if bool_arg("withIncident"):
        query = query.where(Instance.state == "incident")
    if bool_arg("suspended"):
        query = query.where(Instance.id.is_(None))  # arsflow never suspends an instance
    order = {"instanceId": Instance.id, "definitionKey": Instance.process_key, "definitionId": Instance.definition_id,
             "businessKey": Instance.business_key}.get(args.get("sortBy", "instanceId"))
    if order is None:
        raise bad(f"Cannot set query parameter 'sortBy' to value '{args['sortBy']}'")
    return query.order_by(order.desc() if args.get("sortOrder") == "desc" else order.asc())


def _filtered(session):
    conditions = variables_in_query(request.args.getlist("variables"), "variables")
    rows = session.execute(_query() if conditions else page(_query())).all()
    if conditions:  # variables live as JSON: filter here, then page
        rows = [r for r in rows if all(matches((r.Instance.variables or {}).get(n), op, v) for n, op, v in conditions)]
        first, limit = request.args.get("firstResult"), request.args.get("maxResults")
        start = int(first) if first and first.isdigit() else 0
        rows = rows[start:start + int(limit)] if limit and limit.isdigit() else rows[start:]
    return rows


@bp.get("/process-instance")
def list_process_instances():
    require_reader("ProcessInstance")
    with runtime().db.read() as session:
        return jsonify([process_instance_dto(r.Instance, r.ProcessDefinition, links=False) for r in _filtered(session)])


@bp.get("/process-instance/count")
def count_process_instances():
    require_reader("ProcessInstance")
    with runtime().db.read() as session:
        if request.args.getlist("variables"):
            return jsonify({"count": len(_filtered(session))})
        return jsonify({"count": session.scalar(select(func.count()).select_from(_query().subquery()))})


@bp.get("/process-instance/<instance_id>")
def get_process_instance(instance_id):
    require_reader("ProcessInstance", instance_id)
    return jsonify(instance_dto(int_id(instance_id, "Process instance with id"), False))


@bp.delete("/process-instance/<instance_id>")
def delete_process_instance(instance_id):
    """204; 404 when no running instance has that id (Camunda deletes runtime data only)."""
    rt = runtime()
    number = _running_id(instance_id)
    reason = request.args.get("deleteReason") or "supprimée par l'API REST"
    try:
        rt.terminate(number, actor=g.engine_rest_login, reason=reason)
    except (NotFound, Conflict):
        raise _not_found(instance_id) from None
    return "", 204


def _running_id(instance_id) -> int:
    if not str(instance_id).isdigit():
        raise _not_found(instance_id)
    return int(instance_id)


def _variables_of(instance_id) -> dict:
    require_reader("ProcessInstance", instance_id)
    number = _running_id(instance_id)
    with runtime().db.read() as session:
        instance = session.get(Instance, number)
        if instance is None or instance.state in ENDED:
            raise RestError(404, "InvalidRequestException",
                            f"process instance {instance_id} does not exist, or its variables are not readable")
        return dict(instance.variables or {})


@bp.get("/process-instance/<instance_id>/variables")
def get_process_instance_variables(instance_id):
    return jsonify(to_camunda_variables(_variables_of(instance_id)))


@bp.get("/process-instance/<instance_id>/variables/<name>")
def get_process_instance_variable(instance_id, name):
    variables = _variables_of(instance_id)
    if name not in variables:
        raise RestError(404, "InvalidRequestException",
                        f"process instance variable with name {name} does not exist")
    return jsonify(typed_value(variables[name]))
