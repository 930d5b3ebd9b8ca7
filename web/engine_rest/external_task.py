"""External tasks (ExternalTaskRestServiceImpl, ExternalTaskResourceImpl, FetchAndLockHandlerImpl):
what the Camunda workers call — npm camunda-external-task-client-js and PyPI
camunda-external-task-client-python3 — and any client generated from Camunda's OpenAPI.

- `POST /external-task/fetchAndLock` {workerId, maxTasks, usePriority, asyncResponseTimeout,
  topics: [{topicName, lockDuration, variables, localVariables, processVariables, businessKey,
  processDefinitionId(In), processDefinitionKey(In)}]} → 200 [LockedExternalTaskDto]. With
  `asyncResponseTimeout` (ms, at most 30 minutes as in Camunda) the request waits until work
  appears: woken at once by a commit in this process, and polling the database every
  POLL_SECONDS for work created by other processes (`arsflow start`, another server).
- `POST /external-task/{id}/complete|failure|bpmnError|extendLock|lock|unlock`,
  `PUT /external-task/{id}/retries` → 204; `GET /external-task`, `/count`, `/{id}`,
  `/{id}/errorDetails`.
- Errors as Camunda: unknown task 404 RestException "External task with id … does not exist";
  another worker's task 400 RestException "… It is locked by worker '…'."; an error no
  boundary event catches 500 ProcessEngineException.
"""
from __future__ import annotations

import threading
import time

from flask import Response, current_app, g, jsonify, request
from sqlalchemy import func, or_, select

from arsflow.engine.errors import ArsflowError, InvalidInput, NotFound
from arsflow.engine.external_tasks import UncaughtBpmnError
from arsflow.engine.models import ExternalTask, ProcessDefinition

from arsflow.web.engine_rest.auth import require_worker
from arsflow.web.engine_rest.blueprint import bp, runtime
from arsflow.web.engine_rest.dto import bool_arg, camunda_time, definition_id_of, json_body, page, parse_camunda_time
from arsflow.web.engine_rest.errors import RestError, bad, engine_error
from arsflow.web.engine_rest.variables import from_camunda_variables, to_camunda_variables

MAX_REQUEST_TIMEOUT = 1_800_000  # ms, FetchAndLockHandlerImpl.MAX_REQUEST_TIMEOUT
POLL_SECONDS = 0.5
# Beyond ARSFLOW_LONG_POLLS waiting requests, a poll waits at most this long (s): the clients
# poll again at once on an empty answer, so an immediate one would make them spin.
OVERFLOW_WAIT = 1.0
_wakeup = threading.Condition()
_hooked: set = set()
_slots: dict = {}
_slots_lock = threading.Lock()


def _long_poll_slots() -> threading.BoundedSemaphore:
    app = current_app._get_current_object()
    with _slots_lock:
        if id(app) not in _slots:
            _slots[id(app)] = threading.BoundedSemaphore(max(1, int(app.config.get("ARSFLOW_LONG_POLLS", 8))))
        return _slots[id(app)]


def _notify_pollers():
    with _wakeup:
        _wakeup.notify_all()


def _hook(rt) -> None:
    """Wake long polls after each commit of this process (new work may have appeared)."""
    if id(rt.db) not in _hooked:
        _hooked.add(id(rt.db))
        rt.db.after_commit.append(_notify_pollers)


# -- fetch and lock --------------------------------------------------------------------------

@bp.post("/external-task/fetchAndLock")
def fetch_and_lock():
    require_worker("UPDATE")
    body = json_body('{"workerId": …, "maxTasks": …, "topics": [{"topicName": …, "lockDuration": …}]}')
    worker_id = body.get("workerId")
    if not isinstance(worker_id, str) or not worker_id:
        raise bad("workerId : identifiant du worker (texte) obligatoire")
    max_tasks = _integer(body, "maxTasks", 0)
    timeout = body.get("asyncResponseTimeout")
    if timeout is not None:
        timeout = _integer(body, "asyncResponseTimeout", 0)
        if timeout > MAX_REQUEST_TIMEOUT:
            raise bad(f"The asynchronous response timeout cannot be set to a value greater than "
                      f"{MAX_REQUEST_TIMEOUT} milliseconds")
    topics = [_topic(t, bool(body.get("includeExtensionProperties"))) for t in (body.get("topics") or [])]
    rt = runtime()
    _hook(rt)
    use_priority = bool(body.get("usePriority"))
    try:
        tasks = rt.external_tasks.fetch_and_lock(worker_id, topics, max_tasks, use_priority=use_priority)
    except InvalidInput as err:
        raise bad(err.message) from None
    if tasks or not timeout or not topics or max_tasks <= 0:
        return jsonify(_locked_dtos(tasks))
    slots = _long_poll_slots()
    held = slots.acquire(blocking=False)
    wait = timeout / 1000 if held else min(timeout / 1000, OVERFLOW_WAIT)
    deadline = time.monotonic() + wait
    try:
        while not tasks:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with _wakeup:  # a commit in this process wakes us; other processes' work is polled
                _wakeup.wait(min(POLL_SECONDS, remaining))
            tasks = rt.external_tasks.fetch_and_lock(worker_id, topics, max_tasks, use_priority=use_priority)
    finally:
        if held:
            slots.release()
    return jsonify(_locked_dtos(tasks))


def _integer(body: dict, name: str, default: int) -> int:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise bad(f"{name} : nombre entier attendu, reçu {value!r}")
    return int(value)


def _topic(raw, extension_properties: bool = False) -> dict:
    if not isinstance(raw, dict) or not isinstance(raw.get("topicName"), str) or not raw.get("topicName"):
        raise bad("topics : chaque sujet est un objet {\"topicName\": …, \"lockDuration\": …}")
    name = raw["topicName"]
    variables = raw.get("variables")
    if variables is not None and (not isinstance(variables, list) or not all(isinstance(v, str) for v in variables)):
        raise bad(f"topics[{name}].variables : liste de noms attendue")
    keys = list(raw.get("processDefinitionKeyIn") or []) + ([raw["processDefinitionKey"]]
                                                           if raw.get("processDefinitionKey") else [])
    ids = list(raw.get("processDefinitionIdIn") or []) + ([raw["processDefinitionId"]]
                                                         if raw.get("processDefinitionId") else [])
    row_ids = []
    for definition_id in ids:
        last = str(definition_id).rsplit(":", 1)[-1]
        row_ids.append(int(last) if last.isdigit() else -1)
    process_variables = raw.get("processVariables") or {}
    if not isinstance(process_variables, dict):
        raise bad(f"topics[{name}].processVariables : objet {{nom: valeur}} attendu")
    return {"name": name, "lock_duration": _integer(raw, "lockDuration", 0), "variables": variables,
            "local_variables": bool(raw.get("localVariables")), "business_key": raw.get("businessKey"),
            "process_definition_keys": keys, "process_definition_ids": row_ids,
            "process_variables": process_variables,
            "extension_properties": extension_properties or bool(raw.get("includeExtensionProperties"))}


def _definitions(ids) -> dict:
    with runtime().db.read() as session:
        rows = session.scalars(select(ProcessDefinition).where(ProcessDefinition.id.in_(set(ids)))).all()
        return {r.id: definition_id_of(r) for r in rows}


def _base_dto(task: dict, definitions: dict) -> dict:
    return {
        "activityId": task["element_id"], "activityInstanceId": f"{task['element_id']}:{task['id']}",
        "errorMessage": task["error_message"], "executionId": task["id"], "id": task["id"],
        "lockExpirationTime": camunda_time(task["lock_expires_at"]), "createTime": camunda_time(task["created_at"]),
        "processDefinitionId": definitions.get(task["definition_id"]), "processDefinitionKey": task["process_key"],
        "processDefinitionVersionTag": None, "processInstanceId": str(task["instance_id"]),
        "retries": task["retries"], "suspended": False, "workerId": task["worker_id"], "topicName": task["topic"],
        "tenantId": None, "priority": task["priority"], "businessKey": task["business_key"],
    }


def _locked_dtos(tasks: list[dict]) -> list[dict]:
    definitions = _definitions(t["definition_id"] for t in tasks) if tasks else {}
    out = []
    for task in tasks:
        dto = _base_dto(task, definitions)
        dto.update(errorDetails=task["error_details"], variables=to_camunda_variables(task["variables"]),
                   extensionProperties=task.get("extension_properties") or {})
        out.append(dto)
    return out


# -- worker reports -------------------------------------------------------------------------

def _report(task_id: str, action):
    """Run one report; Camunda's REST answers for its failures."""
    try:
        action()
    except NotFound:
        raise RestError(404, "RestException", f"External task with id {task_id} does not exist") from None
    except UncaughtBpmnError as err:
        raise RestError(500, "ProcessEngineException", err.message, code=0) from None
    except InvalidInput as err:  # BadUserRequestException (wrong worker, expired lock, bad value)
        raise RestError(400, "RestException", err.message, code=0) from None
    except ArsflowError as err:
        raise engine_error(err) from None
    return Response(status=204)


@bp.post("/external-task/<task_id>/complete")
def complete_external_task(task_id):
    require_worker("UPDATE", task_id)
    body = json_body('{"workerId": …, "variables": {…}, "localVariables": {…}}')
    variables = from_camunda_variables(body.get("variables"))
    local = from_camunda_variables(body.get("localVariables"))
    return _report(task_id, lambda: runtime().external_tasks.complete(task_id, body.get("workerId"), variables, local))


@bp.post("/external-task/<task_id>/failure")
def handle_failure(task_id):
    require_worker("UPDATE", task_id)
    body = json_body('{"workerId": …, "errorMessage": …, "retries": …, "retryTimeout": …, "variables": {…}}')
    retries = body.get("retries")
    timeout = body.get("retryTimeout")
    for name, value in (("retries", retries), ("retryTimeout", timeout)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise bad(f"{name} : nombre entier attendu, reçu {value!r}")
    message, details = body.get("errorMessage"), body.get("errorDetails")
    variables = from_camunda_variables(body.get("variables"))
    local = from_camunda_variables(body.get("localVariables"))
    return _report(task_id, lambda: runtime().external_tasks.failure(
        task_id, body.get("workerId"), None if message is None else str(message),
        None if details is None else str(details), retries, timeout, variables, local))


@bp.post("/external-task/<task_id>/bpmnError")
def handle_bpmn_error(task_id):
    require_worker("UPDATE", task_id)
    body = json_body('{"workerId": …, "errorCode": …, "errorMessage": …, "variables": {…}}')
    variables = from_camunda_variables(body.get("variables"))
    return _report(task_id, lambda: runtime().external_tasks.bpmn_error(
        task_id, body.get("workerId"), body.get("errorCode"), body.get("errorMessage"), variables))


@bp.post("/external-task/<task_id>/extendLock")
def extend_lock(task_id):
    require_worker("UPDATE", task_id)
    body = json_body('{"workerId": …, "newDuration": …}')
    return _report(task_id, lambda: runtime().external_tasks.extend_lock(
        task_id, body.get("workerId"), body.get("newDuration")))


@bp.post("/external-task/<task_id>/lock")
def lock(task_id):
    require_worker("UPDATE", task_id)
    body = json_body('{"workerId": …, "lockDuration": …}')
    return _report(task_id, lambda: runtime().external_tasks.lock(
        task_id, body.get("workerId"), body.get("lockDuration")))


@bp.post("/external-task/<task_id>/unlock")
def unlock(task_id):
    require_worker("UPDATE", task_id)
    return _report(task_id, lambda: runtime().external_tasks.unlock(task_id))


@bp.put("/external-task/<task_id>/retries")
def set_retries(task_id):
    """Retries > 0 resolve the task's incident (an operator after fixing the cause)."""
    require_worker("UPDATE", task_id)
    body = json_body('{"retries": …}')
    retries = body.get("retries")
    if retries is None:
        raise bad("The number of retries cannot be null.")
    if isinstance(retries, bool) or not isinstance(retries, int):
        raise bad(f"retries : nombre entier attendu, reçu {retries!r}")
    return _report(task_id, lambda: runtime().external_tasks.set_retries(task_id, retries, g.engine_rest_login))


# -- queries -----------------------------------------------------------------------------

def _query(params):
    """ExternalTaskQueryDto over the runtime table (open tasks), from query or body parameters."""
    query = select(ExternalTask).where(ExternalTask.state == "open")
    now = runtime().now()
    simple = {"externalTaskId": ExternalTask.id, "topicName": ExternalTask.topic, "workerId": ExternalTask.worker_id,
              "activityId": ExternalTask.element_id, "processDefinitionKey": ExternalTask.process_key,
              "executionId": ExternalTask.id}
    for name, column in simple.items():
        if params.get(name):
            query = query.where(column == str(params[name]))
    if params.get("processInstanceId"):
        query = query.where(ExternalTask.instance_id == _number(params["processInstanceId"]))
    for name, column in (("externalTaskIdIn", ExternalTask.id), ("activityIdIn", ExternalTask.element_id),
                         ("processDefinitionKeyIn", ExternalTask.process_key)):
        values = _list(params.get(name))
        if values:
            query = query.where(column.in_(values))
    ids = _list(params.get("processInstanceIdIn"))
    if ids:
        query = query.where(ExternalTask.instance_id.in_([_number(i) for i in ids]))
    if params.get("processDefinitionId"):
        query = query.where(ExternalTask.definition_id == _number(str(params["processDefinitionId"]).rsplit(":", 1)[-1]))
    locked = ExternalTask.lock_expires_at > now
    if _flag(params, "locked"):
        query = query.where(locked)
    if _flag(params, "notLocked"):
        query = query.where(or_(ExternalTask.lock_expires_at.is_(None), ExternalTask.lock_expires_at <= now))
    if _flag(params, "withRetriesLeft"):
        query = query.where(or_(ExternalTask.retries.is_(None), ExternalTask.retries > 0))
    if _flag(params, "noRetriesLeft"):
        query = query.where(ExternalTask.retries == 0)
    if _flag(params, "suspended"):
        query = query.where(ExternalTask.id.is_(None))
    for name, op in (("lockExpirationBefore", "lt"), ("lockExpirationAfter", "gt")):
        if params.get(name):
            when = parse_camunda_time(name, str(params[name]))
            query = query.where(ExternalTask.lock_expires_at < when if op == "lt" else ExternalTask.lock_expires_at > when)
    if params.get("priorityHigherThanOrEquals") is not None:
        query = query.where(ExternalTask.priority >= _number(params["priorityHigherThanOrEquals"]))
    if params.get("priorityLowerThanOrEquals") is not None:
        query = query.where(ExternalTask.priority <= _number(params["priorityLowerThanOrEquals"]))
    return query


def _sorted(query, params):
    sort = {"id": ExternalTask.id, "lockExpirationTime": ExternalTask.lock_expires_at,
            "processInstanceId": ExternalTask.instance_id, "processDefinitionKey": ExternalTask.process_key,
            "priority": ExternalTask.priority, "createTime": ExternalTask.created_at}
    sorting = params.get("sorting")
    pairs = [(s.get("sortBy"), s.get("sortOrder")) for s in sorting] if isinstance(sorting, list) else \
        [(params.get("sortBy"), params.get("sortOrder"))] if params.get("sortBy") else []
    for by, order in pairs:
        if by not in sort:
            raise bad(f"Cannot set query parameter 'sortBy' to value '{by}'")
        query = query.order_by(sort[by].desc() if order == "desc" else sort[by].asc())
    return query.order_by(ExternalTask.created_at, ExternalTask.id)


def _flag(params, name) -> bool:
    value = params.get(name)
    if isinstance(value, bool):
        return value
    if value in (None, ""):
        return False
    if str(value).lower() not in ("true", "false"):
        raise bad(f"Cannot set query parameter '{name}' to value '{value}'")
    return str(value).lower() == "true"


def _list(value) -> list:
    if value is None or value == "":
        return []
    return [str(v) for v in value] if isinstance(value, list) else [v for v in str(value).split(",") if v]


def _number(value) -> int:
    text = str(value).strip().lstrip("-")
    return int(value) if text.isdigit() else -1


def _dto(row: ExternalTask, definitions: dict) -> dict:
    return _base_dto({c: getattr(row, c) for c in ExternalTask.__table__.c.keys()}, definitions)


def _list_response(params):
    with runtime().db.read() as session:
        rows = session.scalars(page(_sorted(_query(params), params))).all()
        definitions = _definitions(r.definition_id for r in rows) if rows else {}
        return jsonify([_dto(r, definitions) for r in rows])


@bp.get("/external-task")
def list_external_tasks():
    require_worker("READ")
    bool_arg("locked")  # validated early, as Camunda's converters do
    return _list_response(request.args)


@bp.post("/external-task")
def query_external_tasks():
    require_worker("READ")
    return _list_response(json_body("{\"topicName\": …}"))


@bp.get("/external-task/count")
def count_external_tasks():
    require_worker("READ")
    with runtime().db.read() as session:
        return jsonify({"count": session.scalar(select(func.count()).select_from(_query(request.args).subquery()))})


@bp.post("/external-task/count")
def query_count_external_tasks():
    require_worker("READ")
    params = json_body("{\"topicName\": …}")
    with runtime().db.read() as session:
        return jsonify({"count": session.scalar(select(func.count()).select_from(_query(params).subquery()))})


@bp.get("/external-task/<task_id>")
def get_external_task(task_id):
    require_worker("READ", task_id)
    with runtime().db.read() as session:
        row = session.get(ExternalTask, task_id)
        if row is None or row.state != "open":
            raise RestError(404, "RestException", f"External task with id {task_id} does not exist")
        return jsonify(_dto(row, _definitions([row.definition_id])))


@bp.get("/external-task/<task_id>/errorDetails")
def get_error_details(task_id):
    require_worker("READ", task_id)
    with runtime().db.read() as session:
        row = session.get(ExternalTask, task_id)
        if row is None or row.state != "open":
            raise RestError(404, "RestException", f"External task with id {task_id} does not exist")
        return Response(row.error_details or "", mimetype="text/plain")
