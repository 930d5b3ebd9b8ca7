"""`POST /message` (MessageRestServiceImpl, CorrelationMessageDto, MessageCorrelationResultDto):
deliver a message to the instance waiting for it (receive task, intermediate catch event,
boundary or event-based gateway, event subprocess), by `businessKey`, `correlationKeys`
(process variables equal to typed values) and `processInstanceId`; `all` delivers to every
match; `processVariables` are set on the instance. 204, or 200 with the results when
`resultEnabled`. A message nobody waits for answers Camunda's 400
"Cannot correlate message '…': No process definition or execution matches the parameters".

Message *start* events go to the engine's start-by-message when it has one
(`Runtime.start_by_message`): a message no waiting instance takes then starts the process
whose start event it names.
"""
from __future__ import annotations

from flask import Response, g, jsonify

from arsflow.engine.errors import ArsflowError, Conflict, NotFound
from arsflow.engine.models import Instance, ProcessDefinition

from arsflow.web.engine_rest.auth import require_reader
from arsflow.web.engine_rest.blueprint import bp, runtime
from arsflow.web.engine_rest.dto import json_body
from arsflow.web.engine_rest.errors import RestError, bad, engine_error
from arsflow.web.engine_rest.process_instance import process_instance_dto
from arsflow.web.engine_rest.variables import from_camunda_variables, to_camunda_variables


@bp.post("/message")
def deliver_message():
    require_reader("ProcessInstance")
    body = json_body('{"messageName": …, "businessKey": …, "correlationKeys": {…}, "processVariables": {…}}')
    name = body.get("messageName")
    if name is None:
        raise RestError(400, "InvalidRequestException", "No message name supplied")
    if not isinstance(name, str):
        raise bad("messageName : texte attendu")
    if body.get("tenantId") is not None:
        raise bad("tenantId : arsflow ne gère pas les tenants")
    result_enabled = bool(body.get("resultEnabled"))
    with_variables = bool(body.get("variablesInResultEnabled"))
    if with_variables and not result_enabled:
        raise RestError(400, "InvalidRequestException", "Parameter 'variablesInResultEnabled' cannot be used "
                                                        "without 'resultEnabled' set to true.")
    keys = from_camunda_variables(body.get("correlationKeys"))
    if body.get("localCorrelationKeys"):
        keys.update(from_camunda_variables(body["localCorrelationKeys"]))
    variables = from_camunda_variables(body.get("processVariables"))
    variables.update(from_camunda_variables(body.get("processVariablesLocal")))
    instance_id = body.get("processInstanceId")
    if instance_id is not None and not str(instance_id).isdigit():
        raise _mismatch(name)
    business_key = body.get("businessKey")
    rt = runtime()
    results = []
    try:
        summaries = rt.correlate_message(name, business_key=business_key, keys=keys or None,
                                         instance_id=instance_id, variables=variables,
                                         all_instances=bool(body.get("all")), actor=g.engine_rest_login)
        results = [("Execution", s["id"]) for s in summaries]
    except NotFound:
        results = _start_by_message(rt, name, business_key, variables, bool(body.get("all")),
                                    startable=instance_id is None and not keys)
    except Conflict as err:
        count = len(err.details.get("instances") or [])
        raise RestError(400, "RestException",
                        f"ENGINE-13031 Cannot correlate a message with name '{name}' to a single execution. "
                        f"{count} executions match the correlations keys: CorrelationSet "
                        f"[businessKey={business_key}, processInstanceId={instance_id}, "
                        f"correlationKeys={keys or None}]", code=0) from None
    except ArsflowError as err:
        raise engine_error(err) from None
    if not result_enabled:
        return Response(status=204)
    return jsonify(_results(results, with_variables))


def _start_by_message(rt, name, business_key, variables, all_, startable: bool) -> list:
    """No instance waits: a message start event takes it, if the engine has them."""
    starter = getattr(rt, "start_by_message", None)
    if starter is None or not startable:
        if all_:
            return []  # correlateAll with no match: nothing to do, no error
        raise _mismatch(name)
    try:
        started = starter(name, data=variables, business_key=business_key, actor=g.engine_rest_login)
    except NotFound:
        if all_:
            return []
        raise _mismatch(name) from None
    except ArsflowError as err:
        raise engine_error(err) from None
    return [("ProcessDefinition", s["id"]) for s in (started if isinstance(started, list) else [started])]


def _mismatch(name: str) -> RestError:
    return RestError(400, "RestException", f"Cannot correlate message '{name}': No process definition or "
                                           f"execution matches the parameters", code=0)


def _results(results, with_variables: bool) -> list[dict]:
    out = []
    with runtime().db.read() as session:
        for kind, instance_id in results:
            instance = session.get(Instance, instance_id)
            definition = session.get(ProcessDefinition, instance.definition_id)
            ended = instance.state in ("completed", "terminated")
            dto = {"resultType": kind, "execution": None, "processInstance": None}
            if kind == "Execution":
                dto["execution"] = {"id": str(instance.id), "processInstanceId": str(instance.id),
                                    "ended": ended, "tenantId": None}
            else:
                dto["processInstance"] = process_instance_dto(instance, definition, links=False)
            if with_variables:
                dto["variables"] = to_camunda_variables(instance.variables or {})
            out.append(dto)
    return out
