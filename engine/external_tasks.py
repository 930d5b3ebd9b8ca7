"""External tasks: service tasks (`camunda:type="external"`, a `camunda:topic` no built-in
handler owns) wait in STARTED for a worker, as in Camunda 7 (ACT_RU_EXT_TASK, ExternalTaskEntity).

A worker locks tasks of its topics for a while (fetch_and_lock); the lock expires by itself;
a locked task is never handed to another worker (SELECT … FOR UPDATE SKIP LOCKED on
PostgreSQL, and on both databases a conditional UPDATE that only takes a task still free).
Then the worker completes it (variables, local variables), reports a failure (retries, retry
timeout; at 0 retries an incident carrying the message) or a BPMN error, which goes to the
error boundary event of that code. Every change is one transaction; completing and BPMN
errors drive the instance like any other operation (Runtime._persist).

Camunda's rules kept on purpose: only the worker holding the lock may complete, fail,
report an error or extend it, even after the lock expired as long as nobody else took it
(HandleExternalTaskCmd); an error no boundary event catches is refused and nothing changes
(Camunda's `enableExceptionsAfterUnhandledBpmnError`: arsflow never ends a procedure silently).
"""
from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from arsflow.engine.bpmn import task_tree, variable_scope
from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import ErrorEventDefinition
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import TaskState
from sqlalchemy import and_, or_, select, update

from arsflow.engine.bpmn.error_events import PAYLOAD
from arsflow.engine.bpmn.io_mapping import ABSENT, LOCALS
from arsflow.engine.errors import ArsflowError, Conflict, InvalidInput, NotFound
from arsflow.engine.models import AuditEntry, ExternalTask, Instance
from arsflow.engine.services import EXTERNAL_INPUTS, external_topic

OPEN, COMPLETED, CANCELLED, BPMN_ERROR = "open", "completed", "cancelled", "error"
# Camunda truncates the error message it stores (ExternalTaskEntity.MAX_EXCEPTION_MESSAGE_LENGTH).
MAX_ERROR_MESSAGE = 666
_LIVE = ("waiting", "running")
_TABLE = ExternalTask.__table__


class WrongWorker(InvalidInput):
    """Camunda's BadUserRequestException: the task is locked by another worker."""


class UncaughtBpmnError(ArsflowError):
    """No error boundary event catches the code: Camunda's ENGINE-02042 (500)."""
    code = 500


def project(workflow, services) -> dict:
    """Waiting external tasks of a workflow, keyed by SpiffWorkflow task id."""
    found = {}
    for task in workflow.get_tasks(state=TaskState.STARTED):
        ext = getattr(task.task_spec, "extensions", None) or {}
        topic = external_topic(ext, services)
        if not topic:
            continue
        priority = ext.get("taskPriority")
        if priority:
            try:
                priority = int(workflow.script_engine.evaluate_value(task, priority))
            except (SpiffWorkflowException, TypeError, ValueError):
                priority = 0
        found[str(task.id)] = {"element_id": task.task_spec.bpmn_id, "name": task.task_spec.bpmn_name,
                               "topic": topic, "priority": priority or 0,
                               "inputs": task.internal_data.get(EXTERNAL_INPUTS) or {}}
    return found


def sync(conn, instance: Instance, before: list, now_tasks: dict, ended: dict, now, json_safe) -> list:
    """Diff the table against what the workflow awaits; returns audit entries.
    `ended`: {task id: state} for tasks this operation finished (completed, error)."""
    audit = []
    gone = set(before) - set(now_tasks)
    for state in (COMPLETED, BPMN_ERROR, CANCELLED):
        ids = sorted(t for t in gone if ended.get(t, CANCELLED) == state)
        if ids:
            conn.execute(_TABLE.update().where(_TABLE.c.id.in_(ids), _TABLE.c.state == OPEN)
                         .values(state=state, ended_at=now, lock_expires_at=None))
    new = [dict(id=tid, instance_id=instance.id, definition_id=instance.definition_id,
                process_key=instance.process_key, business_key=instance.business_key,
                element_id=info["element_id"], name=info["name"], topic=info["topic"],
                priority=info["priority"], local_variables=json_safe(info["inputs"]), state=OPEN,
                worker_id=None, lock_expires_at=None, retries=None, error_message=None, error_details=None,
                incident_at=None, created_at=now, ended_at=None)
           for tid, info in now_tasks.items() if tid not in before]
    if new:
        conn.execute(_TABLE.insert().inline(), new)  # no RETURNING: runs in a pipeline
        for row in new:
            audit.append({"instance_id": instance.id, "task_id": row["id"], "at": now, "actor": None,
                          "action": "external_task_created", "element_id": row["element_id"],
                          "details": {"topic": row["topic"]}})
    return audit


def listing(session, instance_id: int) -> list[dict]:
    """An instance's external tasks, for `arsflow show`: what waits for which worker."""
    rows = session.scalars(select(ExternalTask).where(ExternalTask.instance_id == instance_id)
                           .order_by(ExternalTask.created_at, ExternalTask.id)).all()
    return [{"id": r.id, "element_id": r.element_id, "name": r.name, "topic": r.topic, "state": r.state,
             "worker_id": r.worker_id, "lock_expires_at": _iso(r.lock_expires_at), "retries": r.retries,
             "error_message": r.error_message, "incident": r.incident_at is not None,
             "created_at": _iso(r.created_at), "ended_at": _iso(r.ended_at)} for r in rows]


def _iso(value):
    return value.isoformat() if value is not None else None


class ExternalTasks:
    """The operations behind Camunda's /external-task resource, over one Runtime."""

    def __init__(self, runtime):
        self.rt = runtime

    # -- fetch and lock ----------------------------------------------------------------
    def fetch_and_lock(self, worker_id: str, topics: list[dict], max_tasks: int,
                       use_priority: bool = False) -> list[dict]:
        """Lock up to `max_tasks` free tasks of these topics for `worker_id`.
        A topic: {"name", "lock_duration" (ms), "variables" (names or None),
        "local_variables" (bool), "business_key", "process_definition_keys",
        "process_definition_ids", "process_variables" ({name: value}), "extension_properties" (bool)}."""
        if not worker_id:
            raise InvalidInput("workerId is null")
        if max_tasks <= 0 or not topics:
            return []
        for topic in topics:
            if not topic.get("name"):
                raise InvalidInput("topicName is null")
            if int(topic.get("lock_duration") or 0) <= 0:
                raise InvalidInput(f"lockTime is not greater than 0 (topic {topic['name']!r})")
        by_name = {t["name"]: t for t in topics}
        db = self.rt.db
        with db.transaction() as session:
            conn = session.connection()
            now = self.rt.now()
            free = or_(_TABLE.c.lock_expires_at.is_(None), _TABLE.c.lock_expires_at <= now)
            query = (select(_TABLE, Instance.__table__.c.variables.label("instance_variables"))
                     .join(Instance.__table__, Instance.__table__.c.id == _TABLE.c.instance_id)
                     .where(_TABLE.c.state == OPEN, free,
                            or_(_TABLE.c.retries.is_(None), _TABLE.c.retries > 0),
                            Instance.__table__.c.state.in_(_LIVE),
                            or_(*[self._topic_condition(t) for t in topics])))
            order = [_TABLE.c.priority.desc()] if use_priority else []
            query = query.order_by(*order, _TABLE.c.created_at, _TABLE.c.id)
            if not any(t.get("process_variables") for t in topics):
                query = query.limit(max_tasks)
            if db.is_postgres:
                query = query.with_for_update(skip_locked=True, of=_TABLE)
            locked = []
            for row in conn.execute(query).all():
                if len(locked) >= max_tasks:
                    break
                topic = by_name[row.topic]
                variables = dict(row.instance_variables or {})
                wanted = topic.get("process_variables") or {}
                if any(variables.get(k) != v for k, v in wanted.items()):
                    continue
                until = now + timedelta(milliseconds=int(topic["lock_duration"]))
                # Takes the task only if still free: a concurrent fetch that won it leaves 0 rows.
                taken = conn.execute(_TABLE.update().where(_TABLE.c.id == row.id, _TABLE.c.state == OPEN, free)
                                     .values(worker_id=worker_id, lock_expires_at=until)).rowcount
                if taken != 1:
                    continue
                locals_ = dict(row.local_variables or {})
                visible = locals_ if topic.get("local_variables") else {**variables, **locals_}
                names = topic.get("variables")
                if names is not None:
                    visible = {n: visible[n] for n in names if n in visible}
                item = {c: getattr(row, c) for c in _TABLE.c.keys()}
                item.update(worker_id=worker_id, lock_expires_at=until, variables=visible,
                            extension_properties=self._properties(session, row) if topic.get("extension_properties")
                            else {})
                locked.append(item)
            return locked

    def _properties(self, session, row) -> dict:
        """The service task's camunda:properties (Camunda's extensionProperties), from the
        cached definition: texts as drawn."""
        definition = self.rt.definitions.definition(session, row.definition_id)
        spec, subprocesses = self.rt.definitions.spec_for(session, definition)
        for process in [spec, *subprocesses.values()]:
            for task_spec in process.task_specs.values():
                if getattr(task_spec, "bpmn_id", None) == row.element_id:
                    properties = (getattr(task_spec, "extensions", None) or {}).get("properties") or {}
                    return {str(k): "" if v is None else str(v) for k, v in properties.items()}
        return {}

    @staticmethod
    def _topic_condition(topic: dict):
        conditions = [_TABLE.c.topic == topic["name"]]
        if topic.get("business_key"):
            conditions.append(_TABLE.c.business_key == topic["business_key"])
        if topic.get("process_definition_keys"):
            conditions.append(_TABLE.c.process_key.in_(topic["process_definition_keys"]))
        if topic.get("process_definition_ids"):
            conditions.append(_TABLE.c.definition_id.in_(topic["process_definition_ids"]))
        return and_(*conditions)

    # -- worker reports ----------------------------------------------------------------
    def _held(self, session, task_id: str, worker_id: str | None, wrong: str) -> ExternalTask:
        """The open task, locked by `worker_id` (HandleExternalTaskCmd)."""
        if not worker_id:
            raise InvalidInput("workerId is null")
        query = select(ExternalTask).where(ExternalTask.id == str(task_id))
        if self.rt.db.is_postgres:
            query = query.with_for_update()
        row = session.scalars(query).first()
        if row is None or row.state != OPEN:
            raise NotFound(f"Cannot find external task with id {task_id}: externalTask is null")
        if row.worker_id != worker_id:
            raise WrongWorker(f"{wrong} '{worker_id}'. It is locked by worker '{row.worker_id}'.")
        return row

    def complete(self, task_id: str, worker_id: str, variables: dict | None = None,
                 local_variables: dict | None = None) -> dict:
        rt = self.rt
        with rt.db.transaction() as session:
            row = self._held(session, task_id, worker_id,
                             f"External Task {task_id} cannot be completed by worker")
            instance, workflow, task = self._waiting_task(session, row)
            local = {**(row.local_variables or {}), **(local_variables or {})}
            self._apply_outputs(workflow, task, dict(variables or {}), local)
            now = rt.now()
            audit = [self._audit(row, worker_id, "external_task_completed", now,
                                 {"variables": _plain(variables), "local_variables": _plain(local_variables)})]
            incident = None
            try:
                task.complete()
            except SpiffWorkflowException as err:
                incident = {"element_id": row.element_id, "message": str(err)}
            if incident is None:
                incident = rt._advance(workflow)
            rt._persist(session, instance, workflow, audit, incident=incident, now=now,
                        ended_external={row.id: COMPLETED})
            return rt._summary(instance)

    def bpmn_error(self, task_id: str, worker_id: str, error_code: str, error_message: str | None = None,
                   variables: dict | None = None) -> dict:
        """Throw the error at the task: the innermost error boundary event of that code
        (or with no code) catches it, with `variables` set on the process."""
        if not error_code:
            raise InvalidInput("errorCode is null")
        rt = self.rt
        with rt.db.transaction() as session:
            row = self._held(session, task_id, worker_id,
                             f"Bpmn error of External Task {task_id} cannot be reported by worker")
            instance, workflow, task = self._waiting_task(session, row)
            task.data.update(variables or {})
            before = len(workflow.bpmn_events)
            definition = ErrorEventDefinition(error_code, error_code)
            # The catching event's camunda:errorCodeVariable / errorMessageVariable read these.
            payload = {**(variables or {}), PAYLOAD: {"code": error_code, "message": error_message}}
            event = BpmnEvent(definition, payload=payload, target=task.workflow)
            try:
                workflow.top_workflow.catch(event)
            except SpiffWorkflowException as err:
                raise UncaughtBpmnError(f"erreur BPMN {error_code!r} : {err}") from err
            incident = rt._advance(workflow) if len(workflow.bpmn_events) == before else None
            if len(workflow.bpmn_events) > before or task.state == TaskState.STARTED:
                raise UncaughtBpmnError(  # rolls the transaction back: the task still waits
                    f"Execution with id '{row.element_id}' throws an error event with errorCode '{error_code}' "
                    f"and errorMessage '{error_message}', but no catching boundary event was defined.")
            now = rt.now()
            audit = [self._audit(row, worker_id, "external_task_bpmn_error", now,
                                 {"error_code": error_code, "error_message": error_message,
                                  "variables": _plain(variables)})]
            rt._persist(session, instance, workflow, audit, incident=incident, now=now,
                        ended_external={row.id: BPMN_ERROR})
            return rt._summary(instance)

    def failure(self, task_id: str, worker_id: str, error_message: str | None, error_details: str | None,
                retries: int | None, retry_timeout: int | None, variables: dict | None = None,
                local_variables: dict | None = None) -> None:
        """Camunda's handleFailure: retries left, and the task comes back after `retry_timeout`
        ms; at 0 an incident carrying the message, until retries are set again. `variables`
        are set on the process at once, `local_variables` on the task (Camunda 7.17+)."""
        retries = 0 if retries is None else int(retries)
        retry_timeout = 0 if retry_timeout is None else int(retry_timeout)
        if retries < 0:
            raise InvalidInput("retries is not greater than or equal to 0")
        if retry_timeout < 0:
            raise InvalidInput("retryDuration is not greater than or equal to 0")
        rt = self.rt
        with rt.db.transaction() as session:
            row = self._held(session, task_id, worker_id,
                             f"Failure of External Task {task_id} cannot be reported by worker")
            now = rt.now()
            message = (error_message or "")[:MAX_ERROR_MESSAGE] or None
            values = {"retries": retries, "error_message": message, "error_details": error_details,
                      "lock_expires_at": now + timedelta(milliseconds=retry_timeout)}
            if retries == 0 and row.incident_at is None:
                values["incident_at"] = now
            if local_variables:
                values["local_variables"] = {**(row.local_variables or {}), **local_variables}
            if variables:
                instance, workflow, task = self._waiting_task(session, row)
                variable_scope.assign(task, variables)
                rt._persist(session, instance, workflow, [], now=now)
            session.execute(update(ExternalTask).where(ExternalTask.id == row.id).values(**values))
            session.add(AuditEntry(**self._audit(row, worker_id, "external_task_failed", now,
                                                 {"error_message": message, "retries": retries,
                                                  "retry_timeout": retry_timeout})))
            if retries == 0:
                session.add(AuditEntry(**self._audit(row, worker_id, "incident", now, {
                    "element_id": row.element_id, "message": message, "external_task_id": row.id})))

    def extend_lock(self, task_id: str, worker_id: str, new_duration) -> None:
        if new_duration is None or int(new_duration) <= 0:
            raise InvalidInput("lockTime is not greater than 0")
        rt = self.rt
        with rt.db.transaction() as session:
            row = self._held(session, task_id, worker_id,
                             f"The lock of the External Task {task_id} cannot be extended by worker")
            now = rt.now()
            if row.lock_expires_at is None or row.lock_expires_at < now:
                raise InvalidInput("Cannot extend a lock that expired: lockExpirationTime is less than "
                                   "the current time")
            session.execute(update(ExternalTask).where(ExternalTask.id == row.id)
                            .values(lock_expires_at=now + timedelta(milliseconds=int(new_duration))))

    def lock(self, task_id: str, worker_id: str, duration) -> None:
        """Lock one task by id (LockExternalTaskCmd): refused only while another worker's lock runs."""
        if not worker_id:
            raise InvalidInput("workerId is null")
        if duration is None or int(duration) <= 0:
            raise InvalidInput("lockDuration is not greater than 0")
        rt = self.rt
        with rt.db.transaction() as session:
            row = self._row(session, task_id, lock=True)
            now = rt.now()
            if row.worker_id and row.worker_id != worker_id and row.lock_expires_at and row.lock_expires_at >= now:
                raise WrongWorker(f"External Task {task_id} cannot be locked by worker '{worker_id}'. "
                                  f"It is locked by worker '{row.worker_id}'.")
            session.execute(update(ExternalTask).where(ExternalTask.id == row.id).values(
                worker_id=worker_id, lock_expires_at=now + timedelta(milliseconds=int(duration))))

    def unlock(self, task_id: str) -> None:
        with self.rt.db.transaction() as session:
            row = self._row(session, task_id, lock=True)
            session.execute(update(ExternalTask).where(ExternalTask.id == row.id)
                            .values(worker_id=None, lock_expires_at=None))

    def set_retries(self, task_id: str, retries, actor: str | None = None) -> None:
        """Retries > 0 resolve the task's incident: workers fetch it again."""
        if retries is None:
            raise InvalidInput("The number of retries cannot be null.")
        if int(retries) < 0:
            raise InvalidInput("The number of retries cannot be negative")
        rt = self.rt
        with rt.db.transaction() as session:
            row = self._row(session, task_id, lock=True)
            now = rt.now()
            values = {"retries": int(retries)}
            if int(retries) > 0:
                values["incident_at"] = None
            elif row.incident_at is None:
                values["incident_at"] = now
            session.execute(update(ExternalTask).where(ExternalTask.id == row.id).values(**values))
            session.add(AuditEntry(**self._audit(row, actor, "external_task_retries", now,
                                                 {"retries": int(retries)})))

    def _row(self, session, task_id: str, lock: bool = False) -> ExternalTask:
        query = select(ExternalTask).where(ExternalTask.id == str(task_id))
        if lock and self.rt.db.is_postgres:
            query = query.with_for_update()
        row = session.scalars(query).first()
        if row is None or row.state != OPEN:
            raise NotFound(f"External task with id {task_id} does not exist")
        return row

    # -- internals ---------------------------------------------------------------------
    def _waiting_task(self, session, row: ExternalTask):
        rt = self.rt
        instance = rt._instance(session, row.instance_id, lock=True)
        workflow = rt._load(session, instance)
        task = task_tree.find_task(workflow, UUID(row.id))
        if task is None or task.state != TaskState.STARTED:
            raise Conflict(f"la tâche externe {row.id} n'attend plus de worker", task_id=row.id)
        return instance, workflow, task

    @staticmethod
    def _apply_outputs(workflow, task, variables: dict, local: dict) -> None:
        """Variables go to the process; local ones join the task's local scope (its input
        parameters) and live only while output parameters (camunda:outputParameter) are
        evaluated when the task completes (engine.bpmn.io_mapping), as in Camunda."""
        task.data.update(variables)
        shadowed = task.internal_data.setdefault(LOCALS, {})
        for key, value in local.items():
            shadowed.setdefault(key, task.data.get(key, ABSENT))
            task.data[key] = value

    @staticmethod
    def _audit(row: ExternalTask, worker_id, action: str, now, details: dict) -> dict:
        return {"instance_id": row.instance_id, "task_id": row.id, "at": now, "actor": worker_id,
                "action": action, "element_id": row.element_id,
                "details": {"topic": row.topic, **details}}


def _plain(values):
    import json
    return json.loads(json.dumps(values or {}, default=str))
