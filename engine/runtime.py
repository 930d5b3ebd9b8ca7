"""The engine's operations: start, claim, unclaim, complete, message, terminate, retry, tick.

Each operation is one database transaction: it loads the instance, drives SpiffWorkflow,
then writes the instance row and the projections (human tasks, timers, message
subscriptions, audit) that the inbox and the scheduler query. Projections are diffed
against the instance's `projection` column, so an operation issues a handful of
statements and never reads them back.
"""
from __future__ import annotations

import json
import logging
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID, uuid5

from arsflow.engine.bpmn.definitions import DefinitionStore
from arsflow.engine.bpmn import task_tree, variable_scope
from arsflow.engine.bpmn.io_mapping import process_scope
from arsflow.engine.bpmn.parser import ArsMessageEventDefinition
from arsflow.engine.bpmn.script_limits import Limits
from arsflow.engine.bpmn.scripting import ArsScriptEngine, ScriptContext, build_environment
from arsflow.engine.bpmn.serialization import WorkflowSerializer
from arsflow.engine.config import Settings
from arsflow.engine.db import Database, pipelined
from arsflow.engine.input_checks import check_business_key, check_data, check_id
from arsflow.engine.errors import (ArsflowError, Conflict, Forbidden, InvalidInput, NotFound, Refused,
                                   UnsaveableInstance)
from arsflow.engine.forms import FormValidationError
from arsflow.engine.history import activities as history
from arsflow.engine.history import timeline
from arsflow.engine.models import (
    ActivityInstance,
    AuditEntry,
    HumanTask,
    Instance,
    MessageSubscription,
    ProcessDefinition,
    TaskCandidate,
    Timer,
    User,
    UserGroup,
)
from arsflow.engine.people import task_lists
from arsflow.engine.services import ServiceRegistry, default_registry, names
from arsflow.engine.time.clock import Clock, SystemClock
from arsflow.engine.time.durations import DurationError, add_duration, is_duration, parse_instant
from arsflow.engine.time.timer_events import ClockedTimerMixin
from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from arsflow.engine.bpmn.error_events import interrupt_event_subprocesses, throw_pending
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import TaskState
from sqlalchemy import and_, bindparam, exists, or_, select, update
from sqlalchemy.orm import Session

from arsflow.engine import external_tasks
from arsflow.engine.bpmn.listeners import assignment_listeners, run_listener
from arsflow.engine.bpmn.spiff_messages import describe
from arsflow.engine.bpmn.start_events import START_KEY, choose_start
from arsflow.engine.time import start_timers, timer_claims
OPEN, COMPLETED, CANCELLED = "open", "completed", "cancelled"

# Hot-path statements, built once: building SQLAlchemy constructs per call cost more than
# the SQL itself. They run on the session's connection (Core), not through the ORM.
_INSTANCES, _TASKS = Instance.__table__, HumanTask.__table__
_INSTANCE_COLUMNS = ("definition_id", "process_key", "business_key", "initiator", "territory", "state",
                     "incident", "variables", "workflow", "projection", "created_at", "updated_at", "ended_at")
Q_ACTOR = (select(User.__table__.c.login, UserGroup.__table__.c.group)
           .outerjoin(UserGroup.__table__, UserGroup.__table__.c.login == User.__table__.c.login)
           .where(User.__table__.c.login == bindparam("login"), User.__table__.c.active.is_(True)))
log = logging.getLogger(__name__)

# One operation runs at most this many engine steps (a 1,200-turn loop of scripts is ~4,000):
# beyond, the instance is an incident rather than a worker spinning forever.
MAX_ENGINE_STEPS = 100_000
Q_TASK = select(_TASKS).where(_TASKS.c.id == bindparam("id"))
Q_INSTANCE = select(_INSTANCES).where(_INSTANCES.c.id == bindparam("id"))
S_INSERT_INSTANCE = _INSTANCES.insert().returning(_INSTANCES.c.id)
S_UPDATE_INSTANCE = (_INSTANCES.update()
                     .where(_INSTANCES.c.id == bindparam("b_id"), _INSTANCES.c.lock_version == bindparam("b_lock"))
                     .values(lock_version=bindparam("b_new_lock"), **{c: bindparam(c) for c in _INSTANCE_COLUMNS}))
_TIMERS, _SUBSCRIPTIONS = Timer.__table__, MessageSubscription.__table__
S_CANCEL_TASKS = (_TASKS.update().where(_TASKS.c.id.in_(bindparam("ids", expanding=True)))
                  .values(state=CANCELLED))
S_FIRE_TIMERS = (_TIMERS.update().where(_TIMERS.c.id.in_(bindparam("ids", expanding=True)))
                 .values(status="fired", fired_at=bindparam("fired_at"), locked_by=None, lock_expires_at=None))
S_CANCEL_TIMERS = (_TIMERS.update().where(_TIMERS.c.id.in_(bindparam("ids", expanding=True)))
                   .values(status="cancelled"))
S_CLOSE_SUBSCRIPTIONS = (_SUBSCRIPTIONS.update().where(_SUBSCRIPTIONS.c.id.in_(bindparam("ids", expanding=True)))
                         .values(status="closed"))
_CANDIDATES = TaskCandidate.__table__
# Candidate rows follow their task's state (engine.task_lists walks them by state and due date).
S_SYNC_CANDIDATES = (_CANDIDATES.update().where(_CANDIDATES.c.task_id.in_(bindparam("ids", expanding=True)))
                     .values(state=select(_TASKS.c.state).where(_TASKS.c.id == _CANDIDATES.c.task_id)
                             .scalar_subquery()))
# Task writes are conditional on the state read: rowcount 0 means another operation won.
S_COMPLETE_TASK_AS_SYSTEM = (_TASKS.update().where(_TASKS.c.id == bindparam("b_id"), _TASKS.c.state == OPEN)
                             .values(state=COMPLETED, completed_at=bindparam("completed_at"),
                                     completed_by=bindparam("completed_by")))
S_COMPLETE_TASK = S_COMPLETE_TASK_AS_SYSTEM.where(or_(_TASKS.c.assignee.is_(None),
                                                      _TASKS.c.assignee == bindparam("b_login")))
S_CLAIM_TASK = (_TASKS.update().where(_TASKS.c.id == bindparam("b_id"), _TASKS.c.state == OPEN,
                                      or_(_TASKS.c.assignee.is_(None), _TASKS.c.assignee == bindparam("login")))
                .values(assignee=bindparam("login"), claimed_at=bindparam("claimed_at")))


@dataclass
class Actor:
    login: str | None
    groups: frozenset = frozenset()

    @property
    def is_system(self) -> bool:
        return self.login is None


SYSTEM = Actor(None)


def _json_safe(value):
    """Task data as plain JSON (dates become ISO strings) for snapshots and audit."""
    return json.loads(json.dumps(value, default=_default))


def _default(obj):
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, UUID):
        return str(obj)
    return str(obj)


class Runtime:
    def __init__(self, db: Database, settings: Settings | None = None, clock: Clock | None = None,
                 services: ServiceRegistry | None = None, helpers: dict | None = None):
        self.db = db
        self.settings = settings or Settings(database_url=db.url)
        self.clock = clock or SystemClock()
        self.services = services or default_registry()
        self.definitions = DefinitionStore()
        self.serializer = WorkflowSerializer()
        self.script_context = ScriptContext(self.clock, self.settings.timezone, self.settings.territory)
        self.environment = build_environment(self.script_context, {**_builtin_helpers(), **(helpers or {})},
                                             Limits(self.settings.script_timeout or None,
                                                    self.settings.script_memory_mb or None))
        # Side effects that service handlers queue (e.g. "notification") are recorded in the
        # audit log; a module may also handle a kind inside the same transaction:
        # handler(session, instance, effect, now). engine.notifications registers itself here.
        self.effect_handlers: dict = {}
        self.after_commit: list = db.after_commit  # callables run after each committed transaction
        self.external_tasks = external_tasks.ExternalTasks(self)  # Camunda's external task service
        from arsflow.engine.people.notifications import (
            install,  # email outbox, reminders, reassignment topics
        )
        install(self)
        from arsflow.engine.documents import install as install_documents
        install_documents(self)  # runtime.documents, the `document` topic, the portal
        self.definitions.on_deployed.append(self._register_start_events)
        self.worker = timer_claims.worker_name()  # holder of the timer leases this runtime takes

    # -- helpers -------------------------------------------------------------------------
    def now(self) -> datetime:
        return self.clock.now()

    def actor(self, session: Session, login: str | None) -> Actor:
        """The user and their groups in one query (this runs on every operation)."""
        if login is None:
            return SYSTEM
        rows = session.connection().execute(Q_ACTOR, {"login": login}).all()
        if not rows:
            raise NotFound(f"utilisateur {login!r} inconnu")
        return Actor(login, frozenset(r.group for r in rows if r.group))

    def _script_engine(self, instance: Instance | None = None, session: Session | None = None) -> ArsScriptEngine:
        engine = ArsScriptEngine(self.script_context, self.environment, self.services,
                                 instance_id=instance.id if instance else None,
                                 business_key=instance.business_key if instance else None)
        engine.session = session
        engine.definition_id = instance.definition_id if instance else None
        return engine

    def _load(self, session: Session, instance: Instance, definition: ProcessDefinition | None = None):
        definition = definition or self.definitions.definition(session, instance.definition_id)
        spec, subs = self.definitions.spec_for(session, definition)
        workflow = self.serializer.loads(instance.workflow, spec, subs)
        workflow.script_engine = self._script_engine(instance, session)
        workflow.arsflow_loaded = history.snapshot(workflow)  # what the operation found (history diff)
        return workflow

    def _instance(self, session: Session, instance_id, lock: bool = False) -> Instance:
        query = Q_INSTANCE.with_for_update() if lock and self.db.is_postgres else Q_INSTANCE
        row = session.connection().execute(query, {"id": check_id(instance_id)}).first()
        if row is None:
            raise NotFound(f"instance {instance_id} introuvable")
        instance = Instance(**row._mapping)  # detached: _persist writes it with a version-checked UPDATE
        instance.arsflow_locked = query is not Q_INSTANCE  # held FOR UPDATE until the commit
        return instance

    # -- start ---------------------------------------------------------------------------
    def start(self, process_key: str, data: dict | None = None, business_key: str | None = None,
              actor: str | None = None, definition_id: int | None = None, start_event: str | None = None) -> dict:
        """Start the latest version of `process_key`, or exactly `definition_id` when given, at
        `start_event` (default: its none start event, see engine.start_events)."""
        with self.db.transaction() as session:
            return self._start(session, process_key, data, business_key, actor, definition_id, start_event)

    def _start(self, session: Session, process_key: str, data: dict | None, business_key: str | None,
               actor: str | None, definition_id: int | None, start_event: str | None, audit_details=None) -> dict:
        data = dict(data or {})
        check_data(data)
        check_business_key(business_key)
        who = self.actor(session, actor)
        if definition_id is not None:
            definition = self.definitions.definition(session, check_id(definition_id, "définition"))
            if definition.key != process_key:
                raise InvalidInput(f"la définition {definition_id} n'est pas une version de {process_key!r}")
        else:
            definition = self.definitions.latest_process(session, process_key)
        spec, subs = self.definitions.spec_for(session, definition)
        starters = getattr(spec, "starters", None) or {}
        groups, users_allowed = starters.get("candidateStarterGroups"), starters.get("candidateStarterUsers")
        if (groups or users_allowed) and not who.is_system and not (
                who.login in (users_allowed or []) or who.groups & set(groups or [])):
            raise Forbidden(f"vous ne pouvez pas démarrer {process_key!r} (réservé à : "
                            f"{', '.join((groups or []) + (users_allowed or []))})")
        engine = self._script_engine(session=session)
        engine.business_key = business_key
        engine.definition_id = definition.id
        workflow = BpmnWorkflow(spec, subs, script_engine=engine)
        chosen = choose_start(spec, start_event)
        if chosen is not None:
            workflow.data[START_KEY] = chosen
        for task_spec in spec.task_specs.values():
            initiator_var = (getattr(task_spec, "extensions", None) or {}).get("initiator")
            if initiator_var and who.login:
                data.setdefault(initiator_var, who.login)
        workflow.task_tree.data.update(data)
        now = self.now()
        instance = Instance(definition_id=definition.id, process_key=process_key, business_key=business_key,
                            initiator=who.login, territory=str(data.get("territory")) if data.get("territory") else None,
                            state="running", variables={}, workflow="", projection={},
                            created_at=now, updated_at=now)
        audit = [self._audit(None, who, "started", now=now, element_id=chosen,
                             details={"data": _json_safe(data), "version": definition.version,
                                      **(audit_details or {})})]
        incident = self._advance(workflow, refusable=audit_details is None)
        self._persist(session, instance, workflow, audit, incident=incident, now=now, new=True)
        return self._summary(instance)

    def _register_start_events(self, session: Session, definition: ProcessDefinition, spec, now) -> None:
        try:
            start_timers.register(session, definition, spec, now or self.now(), self.script_context.tzinfo)
        except (start_timers.StartTimerError, DurationError) as err:
            raise InvalidInput(f"{definition.key} : {err}") from None

    def fire_start_timer(self, timer_id: str) -> int:
        """One occurrence of a timer start event: a new instance, in the transaction that moves
        the timer to its next occurrence; 0 if it was not due or another worker fired it."""
        with self.db.transaction() as session:
            now = self.now()
            row = start_timers.claim_occurrence(session, timer_id, now, self.script_context.tzinfo,
                                                lock_rows=self.db.is_postgres)
            if row is None:
                return 0
            definition = self.definitions.definition(session, row.definition_id)
            self._start(session, definition.key, {}, None, None, definition.id, row.element_id,
                        audit_details={"timer_id": row.id, "due_at": row.due_at.isoformat()})
            return 1

    # -- task operations -----------------------------------------------------------------
    def claim(self, task_id: str, actor: str) -> dict:
        with self.db.transaction() as session:
            who = self.actor(session, actor)
            task = self._task_for(session, task_id, who, lock=True)
            if task.assignee and task.assignee != who.login:
                raise Conflict(f"tâche déjà prise en charge par {task.assignee}", task_id=task_id)
            now = self.now()
            # Conditional: of two concurrent claims (or a claim and a completion) one only wins.
            claimed = session.connection().execute(S_CLAIM_TASK, {"b_id": task.id, "login": who.login,
                                                                  "claimed_at": now})
            if claimed.rowcount != 1:
                raise Conflict("la tâche vient d'être prise en charge ou terminée par quelqu'un d'autre : "
                               "rechargez-la", task_id=task_id)
            self._on_assignment(session, task, who.login, now)
            history.assign(session.connection(), task.id, who.login)
            session.add(AuditEntry(**self._audit(task, who, "claimed", now=now)))
            return self._task_json(task, assignee=who.login)

    def _on_assignment(self, session: Session, task, assignee: str | None, now) -> None:
        """Camunda's `assignment` task listeners, when the task's spec has any: they run with
        the task's data, in this transaction."""
        if not assignee:
            return
        instance = self._instance(session, task.instance_id, lock=True)
        definition = self.definitions.definition(session, instance.definition_id)
        spec, subs = self.definitions.spec_for(session, definition)
        if not any(assignment_listeners(ts) for sp in (spec, *subs.values()) for ts in sp.task_specs.values()):
            return
        workflow = self._load(session, instance, definition)
        spiff_task = task_tree.find_task(workflow, UUID(task.id))
        if spiff_task is None or not assignment_listeners(spiff_task.task_spec):
            return
        incident = None
        try:
            for listener in assignment_listeners(spiff_task.task_spec):
                run_listener(listener, spiff_task)
        except SpiffWorkflowException as err:
            incident = _incident(err, spiff_task)
        self._persist(session, instance, workflow, [], incident=incident, now=now)

    def unclaim(self, task_id: str, actor: str) -> dict:
        with self.db.transaction() as session:
            who = self.actor(session, actor)
            task = self._task_for(session, task_id, who, lock=True)
            if task.assignee != who.login and not self._is_candidate(task, who, session):
                raise Forbidden("seul le titulaire ou un membre des groupes candidats peut relâcher la tâche")
            now = self.now()
            released = session.connection().execute(
                _TASKS.update().where(_TASKS.c.id == task.id, _TASKS.c.state == OPEN,
                                      _TASKS.c.assignee.is_(None) if task.assignee is None
                                      else _TASKS.c.assignee == task.assignee)
                .values(assignee=None, claimed_at=None))
            if released.rowcount != 1:
                raise Conflict("la tâche a changé entre-temps : rechargez-la", task_id=task_id)
            history.assign(session.connection(), task.id, None)
            session.add(AuditEntry(**self._audit(task, who, "unclaimed", now=now)))
            return self._task_json(task, assignee=None)

    def complete(self, task_id: str, data: dict | None = None, actor: str | None = None,
                 expected_version: int | None = None, from_strings: bool = False,
                 attachments: list | None = None, within=None, form_files: dict | None = None) -> dict:
        """`attachments`: files already checked and stored (runtime.documents.receive); their
        rows commit with the completion. `form_files`: the same, by the name of the form's
        filepicker they were sent to; the variable becomes the list of their references.
        `within(session, task, now)`, if given, runs in the completion's transaction and returns
        history entries (the portal's filing)."""
        data = dict(data or {})
        check_data(data)
        with self.db.transaction() as session:
            who = self.actor(session, actor)
            task = self._task_for(session, task_id, who, lock=True)
            if task.assignee and task.assignee != who.login:
                raise Forbidden(f"la tâche est prise en charge par {task.assignee}", task_id=task_id)
            instance = self._instance(session, task.instance_id, lock=True)
            if expected_version is not None and instance.lock_version != int(expected_version):
                raise Conflict("l'instance a changé depuis l'affichage de la tâche : rechargez-la",
                               expected=expected_version, actual=instance.lock_version)
            if instance.state in ("completed", "terminated"):
                raise Conflict(f"l'instance est {instance.state}", instance_id=instance.id)
            workflow = self._load(session, instance)
            spiff_task = task_tree.find_task(workflow, UUID(task.id))
            if spiff_task is None or spiff_task.state != TaskState.READY:
                raise Conflict("cette tâche n'est plus à faire", task_id=task_id)
            variable_scope.catch_up(spiff_task)  # what other branches set while it waited
            if task.form_id:
                # The task's own data: inside a multi-instance each instance has its own copy.
                form = self.definitions.form(session, task.form_id)
                try:
                    data = form.validate(data, from_strings=from_strings, context=spiff_task.data,
                                         today=self.now().astimezone(self.script_context.tzinfo).date(),
                                         files=form_files or {})
                except FormValidationError as err:
                    raise InvalidInput("formulaire invalide", errors=err.errors, task_id=task_id) from err
            now = self.now()
            picked = self.documents.on_form_files(session, task, form, data, who.login, now) if task.form_id else []
            audit = [self._audit(task, who, "completed", details={"data": _json_safe(data)}, now=now)] + picked
            if attachments:
                audit += self.documents.on_completion(session, task, attachments, who.login, now)
            if within is not None:
                audit += within(session, task, now)
            incident = None
            try:
                spiff_task.set_data(**data)
                spiff_task.internal_data["assignee"] = task.assignee or who.login  # ${task.assignee}
                spiff_task.run()
            except SpiffWorkflowException as err:
                _raise_refusal(err)
                incident = _incident(err, spiff_task)
            if incident is None:
                incident = self._advance(workflow, refusable=True)
            self._persist(session, instance, workflow, audit, incident=incident, now=now,
                          completed={task.id: who.login})
            return self._summary(instance)

    # -- messages ------------------------------------------------------------------------
    def message(self, name: str, business_key: str | None = None, correlate: dict | None = None,
                data: dict | None = None, actor: str | None = None) -> dict:
        """The CLI's and inbox API's message: one waiting instance, named by its business key or
        variables (compared as text, as typed on a command line); when none waits, the process
        whose message start event names it starts (Camunda's order)."""
        return self.correlate_message(name, business_key=business_key, keys=correlate, variables=data,
                                      actor=actor, as_text=True, start_if_none=True)[0]

    def correlate_message(self, name: str, business_key: str | None = None, keys: dict | None = None,
                          instance_id=None, variables: dict | None = None, all_instances: bool = False,
                          actor: str | None = None, as_text: bool = False,
                          start_if_none: bool = False) -> list[dict]:
        """Deliver a message to the waiting instance it correlates with (Camunda's
        MessageCorrelationBuilder: business key, variables equal to `keys`, instance id), or
        to every one of them with `all_instances`; one transaction. When none waits and
        `start_if_none`, the latest process whose message start event waits for `name` starts
        an instance (its summary carries `started: True`; see `start_by_message`). Raises
        NotFound when nothing correlates, Conflict when several instances do and
        `all_instances` is false."""
        with self.db.transaction() as session:
            who = self.actor(session, actor)
            waiting = select(MessageSubscription.instance_id).where(
                MessageSubscription.message_name == name, MessageSubscription.status == "waiting",
                MessageSubscription.instance_id.is_not(None))
            query = select(Instance).where(Instance.id.in_(waiting)).order_by(Instance.id)
            if business_key:
                query = query.where(Instance.business_key == business_key)
            if instance_id is not None:
                query = query.where(Instance.id == int(instance_id))
            candidates = list(session.scalars(query))
            if keys:
                same = (lambda a, b: str(a) == str(b)) if as_text else (lambda a, b: a == b)
                candidates = [i for i in candidates
                              if all(k in (i.variables or {}) and same(i.variables[k], v) for k, v in keys.items())]
            if not candidates:
                if start_if_none and instance_id is None:
                    return [self._start_by_message(session, name, business_key, variables, actor)]
                raise NotFound(f"aucune instance n'attend le message {name!r} pour cette corrélation")
            if len(candidates) > 1 and not all_instances:
                raise Conflict(f"{len(candidates)} instances attendent le message {name!r} : précisez la corrélation",
                               instances=[i.id for i in candidates])
            for other in candidates:
                session.expunge(other)
            results = []
            for instance in candidates:
                workflow = self._load(session, instance)
                now = self.now()
                audit = [self._audit(None, who, "message", now=now,
                                     details={"message": name, "data": _json_safe(variables or {})})]
                definition = ArsMessageEventDefinition(name)
                try:
                    workflow.catch(BpmnEvent(definition, payload={"payload": dict(variables or {}),
                                                                  "result_var": None}))
                    incident = self._advance(workflow)
                except SpiffWorkflowException as err:
                    incident = _incident(err, None)
                self._persist(session, instance, workflow, audit, incident=incident, now=now)
                results.append(self._summary(instance))
            return results

    def message_start_definitions(self, session: Session, name: str) -> list[int]:
        """Definitions (latest versions) whose message start event waits for `name`."""
        return sorted(set(session.scalars(select(MessageSubscription.definition_id).where(
            MessageSubscription.message_name == name, MessageSubscription.status == "waiting",
            MessageSubscription.instance_id.is_(None)))))

    def start_by_message(self, name: str, data: dict | None = None, business_key: str | None = None,
                         actor: str | None = None) -> dict:
        """A message no instance waits for: the latest process whose message start event waits
        for it starts an instance (Camunda REST /message calls this after correlating)."""
        with self.db.transaction() as session:
            self.actor(session, actor)
            return self._start_by_message(session, name, business_key, data, actor)

    def _start_by_message(self, session: Session, name: str, business_key, data, actor) -> dict:
        definitions = self.message_start_definitions(session, name)
        if not definitions:
            raise NotFound(f"aucune instance n'attend le message {name!r} pour cette corrélation "
                           "et aucun processus ne démarre sur ce message")
        if len(definitions) > 1:
            raise Conflict(f"{len(definitions)} processus démarrent sur le message {name!r}",
                           definitions=definitions)
        definition = self.definitions.definition(session, definitions[0])
        spec, _ = self.definitions.spec_for(session, definition)
        element = next(s["id"] for s in spec.start_events if s.get("message") == name)
        result = self._start(session, definition.key, data, business_key, actor, definition.id, element,
                             audit_details={"message": name})
        return dict(result, started=True)

    # -- terminate / retry ---------------------------------------------------------------
    def terminate(self, instance_id, actor: str | None = None, reason: str | None = None) -> dict:
        with self.db.transaction() as session:
            who = self.actor(session, actor)
            instance = self._instance(session, instance_id, lock=True)
            # Stopping a statutory procedure is a decision: managers and deployers only, not
            # whoever happened to start it (retry, which resumes it, stays open to the initiator).
            allowed = {self.settings.managers_group, self.settings.deployers_group}
            if not who.is_system and not (who.groups & allowed):
                raise Forbidden("seuls les managers et les déployeurs peuvent arrêter une instance")
            if instance.state in ("completed", "terminated"):
                raise Conflict(f"l'instance est déjà {instance.state}", instance_id=instance.id)
            workflow = self._load(session, instance)
            workflow.cancel()
            now = self.now()
            audit = [self._audit(None, who, "terminated", details={"reason": reason}, now=now)]
            self._persist(session, instance, workflow, audit, now=now, state="terminated")
            return self._summary(instance)

    def retry(self, instance_id, data: dict | None = None, actor: str | None = None,
              latest_definition: bool = False) -> dict:
        """Resume an instance in incident: the failed element runs again, with the data fixed
        (`data` merged into the failed task) or on the newest definition of its process."""
        check_data(data or {})
        with self.db.transaction() as session:
            who = self.actor(session, actor)
            instance = self._instance(session, instance_id, lock=True)
            allowed = {self.settings.managers_group, self.settings.deployers_group}
            if not who.is_system and who.login != instance.initiator and not (who.groups & allowed):
                raise Forbidden("seuls l'initiateur, les managers et les déployeurs peuvent relancer une instance")
            if instance.state != "incident":
                raise Conflict(f"l'instance {instance.id} n'est pas en incident (état : {instance.state})")
            definition = None
            if latest_definition:
                definition = self.definitions.latest_process(session, instance.process_key)
                instance.definition_id = definition.id
            workflow = self._load(session, instance, definition)
            now = self.now()
            audit = [self._audit(None, who, "retried", details={"data": _json_safe(data or {}),
                                                               "definition_id": instance.definition_id}, now=now)]
            for task in workflow.get_tasks(state=TaskState.ERROR):
                if data:
                    task.data.update(data)
                task._set_state(TaskState.READY)
            if data and not workflow.get_tasks(state=TaskState.ERROR):
                for task in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING):
                    task.data.update(data)
            incident = self._advance(workflow)
            self._persist(session, instance, workflow, audit, incident=incident, now=now)
            return self._summary(instance)

    # -- suspension of deadlines (CRPA L114-5) -------------------------------------------
    def suspend_deadlines(self, instance_id, actor: str | None = None, reason: str | None = None,
                          on: str | None = None) -> dict:
        """Freeze an instance's deadlines (e.g. while missing documents are awaited): its timers
        do not fire until `resume_deadlines`, which pushes them back by the days suspended."""
        with self.db.transaction() as session:
            who = self.actor(session, actor)
            instance = self._instance(session, instance_id, lock=True)
            if instance.state not in ("waiting", "running"):
                raise Conflict(f"seule une instance en cours peut être suspendue (état : {instance.state})")
            day = self._local_day(instance, on)
            workflow = self._load(session, instance)
            now = self.now()
            instance.projection = dict(instance.projection or {}, suspended_on=day.isoformat())
            audit = [self._audit(None, who, "deadline_suspended", now=now,
                                 details={"on": day.isoformat(), "reason": reason})]
            self._persist(session, instance, workflow, audit, now=now)
            return self._summary(instance)

    def resume_deadlines(self, instance_id, actor: str | None = None, on: str | None = None) -> dict:
        from arsflow.engine.time import legal_calendar
        with self.db.transaction() as session:
            who = self.actor(session, actor)
            instance = self._instance(session, instance_id, lock=True)
            suspended_on = (instance.projection or {}).get("suspended_on")
            if instance.state != "suspended" or not suspended_on:
                raise Conflict(f"l'instance {instance.id} n'est pas suspendue")
            day = self._local_day(instance, on)
            start = date.fromisoformat(suspended_on)
            if day < start:
                raise InvalidInput(f"la reprise ({day}) ne peut précéder la suspension ({start})")
            days = (day - start).days
            workflow = self._load(session, instance)
            territory = instance.territory or self.settings.territory
            zone = self.script_context.zone_of(territory)
            moved: dict[str, str] = {}
            for task in workflow.get_tasks(state=TaskState.WAITING):
                value = task.internal_data.get("event_value")
                old = value.get("next") if isinstance(value, dict) else value
                if not isinstance(old, str):
                    continue
                new = _shift_deadline(parse_instant(old), days, zone, territory, legal_calendar)
                moved[old] = new.isoformat()
                if isinstance(value, dict):
                    task.internal_data["event_value"] = dict(value, next=moved[old])
                else:
                    task.internal_data["event_value"] = moved[old]
            for task in workflow.get_tasks():  # variables holding a moved deadline follow it
                for key, val in list(task.data.items()):
                    if isinstance(val, str) and val in moved:
                        task.data[key] = moved[val]
            variable_scope.replace_values(workflow, moved)
            conn = session.connection()
            mine = select(_TASKS.c.id).where(_TASKS.c.instance_id == instance.id).scalar_subquery()
            for old, new in moved.items():
                conn.execute(_TASKS.update().where(_TASKS.c.instance_id == instance.id, _TASKS.c.state == OPEN,
                                                   _TASKS.c.due_at == parse_instant(old))
                             .values(due_at=parse_instant(new)))
                conn.execute(_CANDIDATES.update().where(_CANDIDATES.c.task_id.in_(mine), _CANDIDATES.c.state == OPEN,
                                                        _CANDIDATES.c.due_at == parse_instant(old))
                             .values(due_at=parse_instant(new)))
            if moved:  # reminders and escalations are computed again from the new due dates
                conn.execute(_TASKS.update().where(_TASKS.c.instance_id == instance.id, _TASKS.c.state == OPEN,
                                                   _TASKS.c.notice_at.is_not(None))
                             .values(notice_at=self.now()))
            now = self.now()
            projection = dict(instance.projection)
            projection.pop("suspended_on", None)
            instance.projection = projection
            instance.state = "waiting"
            audit = [self._audit(None, who, "deadline_resumed", now=now, details={
                "suspended_on": start.isoformat(), "resumed_on": day.isoformat(), "days": days,
                "moved": moved, "explanation": f"Délais suspendus du {legal_calendar.french_date(start)} au "
                                              f"{legal_calendar.french_date(day)} : prolongés de {days} jour(s)."})]
            incident = self._advance(workflow)
            self._persist(session, instance, workflow, audit, incident=incident, now=now, shifted=True)
            return self._summary(instance)

    def _local_day(self, instance: Instance, on: str | None) -> date:
        if on:
            try:
                return date.fromisoformat(str(on))
            except ValueError:
                raise InvalidInput(f"date illisible : {on!r} (AAAA-MM-JJ)") from None
        zone = self.script_context.zone_of(instance.territory or self.settings.territory)
        return self.now().astimezone(zone).date()

    # -- timers --------------------------------------------------------------------------
    def next_due(self) -> datetime | None:
        """The next instant a sweep has work: the earliest free waiting timer (another
        worker's lease, once expired, is seen at the next wake-up, a minute at most)."""
        with self.db.read() as session:
            due = session.scalar(next_due_query(), {"now": self.now()})
            start = start_timers.next_due(session)
            return min((d for d in (due, start) if d is not None), default=None)

    def fire_instance_timers(self, instance_id: int) -> int:
        """Fire every due timer of one instance in one transaction; 0 if none is due any more
        (another worker or operation got there first). On PostgreSQL it waits for the row lock
        of an operation under way on the instance, then reads what that operation left."""
        with self.db.transaction() as session:
            query = Q_INSTANCE.with_for_update() if self.db.is_postgres else Q_INSTANCE
            row = session.connection().execute(query, {"id": instance_id}).first()
            if row is None or row.state in ("completed", "terminated", "incident", "suspended"):
                return 0
            instance = Instance(**row._mapping)
            instance.arsflow_locked = query is not Q_INSTANCE
            now = self.now()
            due = [tid for tid, info in (instance.projection.get("timers") or {}).items()
                   if parse_instant(info["due"]) <= now]
            if not due:
                return 0
            workflow = self._load(session, instance)
            audit = []
            try:
                workflow.refresh_timers()
                incident = self._advance(workflow)
            except SpiffWorkflowException as err:
                incident = _incident(err, None)
            fired = self._persist(session, instance, workflow, audit, incident=incident, now=now,
                                  timer_audit=True)
            return fired

    def _timer_failed(self, instance_id: int, err: Exception) -> None:
        """A timer step that could not be written (its transaction is rolled back): the
        instance keeps its previous state and becomes an incident, so the sweep goes on with
        the others and `retry` can run the step again once the cause is fixed."""
        message = err.message if isinstance(err, ArsflowError) else f"{type(err).__name__} : {err}"
        log.exception("échéance de l'instance %s : %s", instance_id, message)
        now = self.now()
        incident = {"element_id": None, "message": f"échéance non traitée : {message}"[:2000], "at": now.isoformat()}
        with self.db.transaction() as session:
            done = session.execute(update(Instance).where(Instance.id == instance_id,
                                                          Instance.state.in_(("waiting", "running")))
                                   .values(state="incident", incident=incident, updated_at=now,
                                           lock_version=Instance.lock_version + 1))
            if done.rowcount == 1:
                session.add(AuditEntry(instance_id=instance_id, task_id=None, at=now, actor=None, action="incident",
                                       element_id=None, details={k: v for k, v in incident.items() if k != "at"}))

    def tick(self, limit: int | None = None) -> int:
        """Fire every timer due at the clock's now; returns how many this worker fired (0 when
        another worker holds the SQLite sweep turn: it fires them). `limit`: timers claimed
        per transaction (ARSFLOW_TIMER_BATCH)."""
        with self.db.sweep_turn() as mine:
            return self._tick(limit or self.settings.timer_batch) if mine else 0

    def _tick(self, limit: int) -> int:
        fired = 0
        while fired < limit:  # timer start events: each due occurrence starts one instance
            with self.db.read() as session:
                ids = start_timers.due_ids(session, self.now(), limit)
            progressed = sum(self.fire_start_timer(timer_id) for timer_id in ids)
            fired += progressed
            if progressed == 0:
                break
        lease = timedelta(seconds=self.settings.timer_lease)
        while True:
            # Claim a batch (committed: the other workers take the next ones), then fire each
            # instance in its own transaction (engine.time.timer_claims).
            with self.db.transaction() as session:
                claimed = timer_claims.claim(session.connection(), self.worker, self.now(), lease, limit,
                                             self.db.is_postgres)
            if not claimed:
                return fired
            progressed, idle = 0, []
            for instance_id, timer_ids in claimed.items():
                try:
                    count = self.fire_instance_timers(instance_id)
                except Conflict:
                    count = 0  # an operation changed the instance meanwhile: the next sweep sees it
                except Exception as err:  # one instance's failure never stops the others' timers
                    self._timer_failed(instance_id, err)
                    count = 0
                if count == 0:
                    idle += timer_ids
                fired += count
                progressed += count
            if idle:
                with self.db.transaction() as session:
                    timer_claims.release(session.connection(), self.worker, idle)
            if progressed == 0:
                return fired  # nothing of this batch could fire now: not again in this sweep

    # -- queries -------------------------------------------------------------------------
    def tasks(self, actor: str | None = None, instance_id=None, overdue: bool = False, state: str = OPEN,
              limit: int = 200, offset: int = 0) -> list[dict]:
        """Tasks the actor sees (assigned to them or offered to them), soonest due first,
        undated last; walked by index (engine.task_lists), never sorted in full."""
        with self.db.read() as session:
            who = self.actor(session, actor)
            rows = list(task_lists.list_tasks(session, who.login, who.groups, instance_id=instance_id,
                                              overdue_before=self.now() if overdue else None, state=state,
                                              limit=limit, offset=offset))
            if actor is not None and self.is_admin(who):  # tasks naming nobody, for administrators
                anyone = select(TaskCandidate.task_id).where(TaskCandidate.task_id == HumanTask.id).exists()
                query = select(HumanTask).where(HumanTask.assignee.is_(None), ~anyone, HumanTask.state == state)
                if instance_id is not None:
                    query = query.where(HumanTask.instance_id == int(instance_id))
                if overdue:
                    query = query.where(HumanTask.due_at < self.now())
                seen = {r.id for r in rows}
                rows += [r for r in session.scalars(query.limit(limit)) if r.id not in seen]
            return [self._task_json(t) for t in rows]

    def visible_tasks_query(self, session: Session, actor: str | None):
        """Tasks the actor may see: assignee, candidate user, or member of a candidate group;
        administrators also see the tasks that name nobody (to assign them)."""
        query = select(HumanTask)
        if actor is None:
            return query
        who = self.actor(session, actor)
        clause = task_lists.visible_clause(who.login, who.groups)
        if self.is_admin(who):
            anyone = select(TaskCandidate.task_id).where(TaskCandidate.task_id == HumanTask.id).exists()
            clause = or_(clause, and_(HumanTask.assignee.is_(None), ~anyone))
        return query.where(clause)

    def is_admin(self, who: Actor) -> bool:
        return self.settings.admins_group in who.groups

    @staticmethod
    def names_nobody(task) -> bool:
        return not task.assignee and not (task.candidate_groups or []) and not (task.candidate_users or [])

    def assign(self, task_id: str, assignee: str | None, actor: str) -> dict:
        """An administrator gives a task that names nobody to someone: Camunda's setAssignee.
        Members of ARSFLOW_ADMINS_GROUP only, on the tasks they see as such."""
        with self.db.transaction() as session:
            who = self.actor(session, actor)
            if not self.is_admin(who):
                raise Forbidden(f"seuls les administrateurs (groupe {self.settings.admins_group!r}) attribuent "
                                "une tâche à quelqu'un")
            task = self._task_for(session, task_id, who, lock=True)
            if assignee is not None:
                self.actor(session, assignee)  # NotFound for an unknown or inactive login
            now = self.now()
            self._on_assignment(session, task, assignee, now)
            session.execute(update(HumanTask).where(HumanTask.id == task.id)
                            .values(assignee=assignee, claimed_at=now if assignee else None))
            session.add(AuditEntry(**self._audit(task, who, "assigned", now=now,
                                                 details={"before": task.assignee, "after": assignee})))
            return self._task_json(task, assignee=assignee)

    def task(self, task_id: str, actor: str | None = None) -> dict:
        with self.db.read() as session:
            who = self.actor(session, actor)
            task = self._task_for(session, task_id, who, any_state=True)
            return self._task_json(task)

    def task_data(self, task_id: str, actor: str | None = None) -> dict:
        """The data a task's form shows and is validated against: the task's own copy (inside a
        multi-instance each element has its own), as plain JSON."""
        with self.db.read() as session:
            who = self.actor(session, actor)
            task = self._task_for(session, task_id, who, any_state=True)
            instance = self._instance(session, task.instance_id)
            workflow = self._load(session, instance)
            spiff_task = task_tree.find_task(workflow, UUID(task.id))
            data = (variable_scope.current_view(spiff_task) if spiff_task is not None
                    else dict(instance.variables or {}))
            data.update(workflow.data.get("data_objects") or {})
            return _json_safe(data)

    def show(self, instance_id) -> dict:
        with self.db.read() as session:
            instance = self._instance(session, instance_id)
            definition = session.get(ProcessDefinition, instance.definition_id)
            tasks = session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id)
                                    .order_by(HumanTask.created_at)).all()
            timers = session.scalars(select(Timer).where(Timer.instance_id == instance.id)
                                     .order_by(Timer.due_at)).all()
            names = {t.element_id: t.name for t in timers}
            names.update({t.element_id: t.name for t in tasks})
            data = self._summary(instance)
            data["external_tasks"] = external_tasks.listing(session, instance.id)
            data["documents"] = self.documents.listing(session, instance.id)
            data.update({
                "version": definition.version, "definition_id": definition.id, "name": definition.name,
                "variables": instance.variables, "incident": instance.incident, "initiator": instance.initiator,
                "created_at": _iso(instance.created_at), "ended_at": _iso(instance.ended_at),
                "tasks": [self._task_json(t) for t in tasks],
                "timers": [{"id": t.id, "name": t.name, "element_id": t.element_id, "kind": t.kind,
                            "due_at": _iso(t.due_at), "status": t.status, "fired_at": _iso(t.fired_at)}
                           for t in timers],
                "audit": timeline.instance_timeline(session, instance.id, names, {t.id: t.name for t in tasks}),
            })
            return data

    def workflow_state(self, instance_id) -> dict:
        """Element ids by state, for drawing the diagram with active/completed marks."""
        with self.db.read() as session:
            instance = self._instance(session, instance_id)
            workflow = self._load(session, instance)
            active = set()
            for task in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.STARTED
                                           | TaskState.ERROR):
                bpmn_id = getattr(task.task_spec, "bpmn_id", None)
                if bpmn_id:
                    active.add(bpmn_id)
            # What ran is read from the history: the task tree forgets finished branches (task_tree).
            completed = set(session.scalars(
                select(ActivityInstance.activity_id).where(ActivityInstance.instance_id == instance.id,
                                                           ActivityInstance.ended_at.is_not(None),
                                                           ActivityInstance.canceled.is_(False)).distinct()))
            completed = {c.split("#")[0] for c in completed}
            return {"active": sorted(active), "completed": sorted(completed - active)}

    # -- internals -----------------------------------------------------------------------
    def _task_for(self, session: Session, task_id: str, who: Actor, lock: bool = False,
                  any_state: bool = False) -> HumanTask:
        query = Q_TASK.with_for_update() if lock and self.db.is_postgres else Q_TASK
        task = session.connection().execute(query, {"id": str(task_id)}).first()
        if task is None:
            raise NotFound(f"tâche {task_id} introuvable")
        if (not who.is_system and task.assignee != who.login and not self._is_candidate(task, who, session)
                and not (self.is_admin(who) and self.names_nobody(task))):
            raise Forbidden("vous n'êtes ni le titulaire de cette tâche ni dans ses groupes candidats",
                            task_id=task_id)
        if not any_state and task.state != OPEN:
            raise Conflict(f"la tâche est déjà {'terminée' if task.state == COMPLETED else 'annulée'}",
                           task_id=task_id, state=task.state)
        return task

    @staticmethod
    def _is_candidate(task: HumanTask, who: Actor, session: Session) -> bool:
        return who.login in (task.candidate_users or []) or bool(set(task.candidate_groups or []) & who.groups)

    def _advance(self, workflow: BpmnWorkflow, refusable: bool = False) -> dict | None:
        """Run engine steps until only people or timers are awaited; an error is an incident.
        When a person started or completed (`refusable`), a script's `refuse(…)` refuses the
        whole operation instead: nothing is written and the caller reads why."""
        after_step = task_tree.step_guard(workflow, MAX_ENGINE_STEPS)
        try:
            for _ in range(1000):
                workflow.do_engine_steps(did_complete_task=after_step)
                thrown, incident = throw_pending(workflow)
                if incident is not None:
                    return incident
                if interrupt_event_subprocesses(workflow) or thrown:
                    continue
                if not any(not t.task_spec.manual for t in workflow.get_tasks(state=TaskState.READY)):
                    if not workflow.completed and workflow.task_tree.internal_data.get("arsflow_interrupted"):
                        workflow.is_completed()  # an interrupting event sub-process ended the process
                    return None
            raise ArsflowError("le processus ne se stabilise pas (boucle sans attente ?)")
        except SpiffWorkflowException as err:
            if refusable:
                _raise_refusal(err)
            return _incident(err, getattr(err, "task", None))
        except ArsflowError as err:
            return {"element_id": None, "message": err.message}
        except task_tree.RunawayLoop as err:
            return {"element_id": None, "message": str(err)}

    def _audit(self, task: HumanTask | None, who: Actor, action: str, details: dict | None = None,
               now=None, element_id=None) -> dict:
        return {"instance_id": task.instance_id if task else None, "task_id": task.id if task else None,
                "at": now or self.now(), "actor": who.login, "action": action,
                "element_id": element_id or (task.element_id if task else None), "details": details or {}}

    def _persist(self, session: Session, instance: Instance, workflow: BpmnWorkflow, audit: list,
                 incident: dict | None = None, now=None, new: bool = False, completed: dict | None = None,
                 state: str | None = None, timer_audit: bool = False, shifted: bool = False,
                 ended_external: dict | None = None) -> int:
        """Write the instance and diff its projections; returns the number of timers fired."""
        now = now or self.now()
        engine: ArsScriptEngine = workflow.script_engine
        before = instance.projection or {}
        human_now, timers_now, messages_now, attr_incident = self._project(workflow, instance, session, now)
        external_now = external_tasks.project(workflow, self.services)
        incident = incident or attr_incident

        if incident:
            instance.state = "incident"
            instance.incident = {**incident, "at": now.isoformat()}
            audit.append(self._audit(None, SYSTEM, "incident", details=incident, now=now,
                                     element_id=incident.get("element_id")))
        elif state:
            instance.state = state
            instance.incident = None
        elif workflow.completed:
            instance.state = "completed"
            instance.incident = None
        elif before.get("suspended_on"):
            instance.state = "suspended"  # deadlines frozen until resume_deadlines
            instance.incident = None
        else:
            instance.state = "waiting" if (human_now or timers_now or messages_now or external_now) else "running"
            instance.incident = None
        if instance.state in ("completed", "terminated"):
            instance.ended_at = now
        finished = instance.state in ("completed", "terminated")
        activities = history.diff(workflow, before.get("activities") or {}, now, human_now,
                                  getattr(workflow, "arsflow_loaded", None))
        if finished:  # nothing stays open in a finished instance
            activities.ends += [history.close(tid, started, now) for tid, started in activities.active.items()]
            activities.active = {}
        # What became of the timers the instance awaited, read before pruning forgets them.
        timer_tasks = {tid: (_task_state(workflow, tid), _task_element(workflow, tid))
                       for tid in (before.get("timers") or {})}
        task_tree.compact(workflow)  # after the history diff: it has seen what is pruned
        try:
            instance.workflow = self.serializer.dumps(workflow)
            instance.variables = _json_safe(_variables(workflow))
        except (TypeError, ValueError, RecursionError, OverflowError) as err:
            raise UnsaveableInstance(
                f"l'instance {instance.id or '(nouvelle)'} ne peut pas être enregistrée : {err} ; rien n'a été "
                "écrit", instance_id=instance.id) from None
        instance.updated_at = now
        if instance.territory is None and instance.variables.get("territory"):
            instance.territory = str(instance.variables["territory"])
        if finished:
            human_now, timers_now, messages_now, external_now = {}, {}, {}, {}
        instance.projection = {"human": sorted(human_now), "timers": {k: {"due": v["due"]} for k, v in timers_now.items()},
                               "messages": sorted(messages_now), "activities": activities.active}
        if external_now or before.get("external"):
            instance.projection["external"] = sorted(external_now)
        if before.get("suspended_on") and not finished:
            instance.projection["suspended_on"] = before["suspended_on"]
        conn = session.connection()
        # Rows read FOR UPDATE (PostgreSQL) cannot have changed since: the version-checked
        # UPDATE and the task's completion have no row count to check, and join the pipeline.
        locked = getattr(instance, "arsflow_locked", False)
        with ExitStack() as writes:
            if locked:
                writes.enter_context(pipelined(conn))
            self._write_instance(session, instance, new, check=not locked)

            # Human tasks.
            old_human = set(before.get("human") or [])
            gone = old_human - set(human_now)
            completed = completed or {}
            for task_id, login in completed.items():
                if task_id in gone:
                    done = conn.execute(S_COMPLETE_TASK if login else S_COMPLETE_TASK_AS_SYSTEM,
                                        {"b_id": task_id, "completed_at": now, "completed_by": login,
                                         "b_login": login})
                    if not locked and done.rowcount != 1:  # claimed or completed by someone since it was read
                        raise Conflict("la tâche vient d'être prise en charge ou terminée par quelqu'un d'autre : "
                                       "rechargez-la", task_id=task_id)
            # From here on nothing is read back: the writes go as one pipeline (PostgreSQL).
            if not locked:
                writes.enter_context(pipelined(conn))
            cancelled = gone - set(completed)
            if cancelled:
                conn.execute(S_CANCEL_TASKS, {"ids": sorted(cancelled)})
                for task_id in sorted(cancelled):
                    audit.append({"instance_id": instance.id, "task_id": task_id, "at": now, "actor": None,
                                  "action": "task_cancelled", "element_id": None, "details": {}})
            if gone:
                conn.execute(S_SYNC_CANDIDATES, {"ids": sorted(gone)})
            new_rows = [dict(row, instance_id=instance.id) for tid, row in human_now.items() if tid not in old_human]
            if new_rows:
                conn.execute(HumanTask.__table__.insert().inline(), new_rows)
                candidates = [{"task_id": r["id"], "kind": "group", "name": g, "state": OPEN, "due_at": r["due_at"]}
                              for r in new_rows for g in dict.fromkeys(r["candidate_groups"])]
                candidates += [{"task_id": r["id"], "kind": "user", "name": u, "state": OPEN, "due_at": r["due_at"]}
                               for r in new_rows for u in dict.fromkeys(r["candidate_users"])]
                if candidates:
                    conn.execute(TaskCandidate.__table__.insert().inline(), candidates)

            # Timers.
            old_timers = before.get("timers") or {}
            fired_ids, cancelled_ids = [], []
            for timer_id in old_timers:
                if timer_id not in timers_now:
                    # Fired: its task went on (or was pruned) once due; otherwise the flow left it behind
                    # (the host task completed, a message won the event-based gateway, terminate).
                    state_of = timer_tasks[timer_id][0]
                    due_passed = parse_instant(old_timers[timer_id]["due"]) <= now
                    went_on = state_of in (TaskState.COMPLETED, None) and state != "terminated"
                    (fired_ids if went_on and due_passed else cancelled_ids).append(timer_id)
            if fired_ids:
                conn.execute(S_FIRE_TIMERS, {"ids": fired_ids, "fired_at": now})
            if cancelled_ids:
                conn.execute(S_CANCEL_TIMERS, {"ids": cancelled_ids})
            new_timers = [dict(id=tid, instance_id=instance.id, element_id=info["element_id"], name=info["name"],
                               kind=info["kind"], due_at=parse_instant(info["due"]), status="waiting", fired_at=None)
                          for tid, info in timers_now.items() if tid not in old_timers]
            if new_timers:
                conn.execute(Timer.__table__.insert().inline(), new_timers)
            for tid, info in timers_now.items():  # cycles move their next occurrence; resume shifts
                if tid in old_timers and old_timers[tid]["due"] != info["due"]:
                    conn.execute(_TIMERS.update().where(_TIMERS.c.id == tid).values(due_at=parse_instant(info["due"]),
                                                                               locked_by=None, lock_expires_at=None))
                    if not shifted:
                        fired_ids.append(tid)
            if timer_audit or fired_ids:
                for tid in fired_ids:
                    element = timer_tasks[tid][1]
                    audit.append({"instance_id": instance.id, "task_id": None, "at": now, "actor": None,
                                  "action": "timer_fired", "element_id": element, "details": {"timer_id": tid,
                                  "due_at": old_timers[tid]["due"]}})

            # Message subscriptions.
            old_messages = set(before.get("messages") or [])
            gone_messages = old_messages - set(messages_now)
            if gone_messages:
                conn.execute(S_CLOSE_SUBSCRIPTIONS, {"ids": sorted(gone_messages)})
            new_messages = [dict(id=mid, instance_id=instance.id, element_id=info["element_id"],
                                 message_name=info["name"], status="waiting")
                            for mid, info in messages_now.items() if mid not in old_messages]
            if new_messages:
                conn.execute(MessageSubscription.__table__.insert().inline(), new_messages)

            # External tasks waiting for a worker.
            if external_now or before.get("external"):
                audit.extend(external_tasks.sync(conn, instance, before.get("external") or [], external_now,
                                                 ended_external or {}, now, _json_safe))

            # Notifications from service tasks, then the audit trail, in one statement.
            if engine.effects:
                writes.close()  # their handlers read what this operation wrote
                for effect in engine.effects:
                    handler = self.effect_handlers.get(effect["kind"])
                    if handler is not None:
                        handler(session, instance, effect, now)
                    audit.append({"instance_id": instance.id, "task_id": None, "at": now, "actor": None,
                                  "action": effect["kind"], "element_id": effect.get("element_id"),
                                  "details": _json_safe({k: v for k, v in effect.items() if k not in ("kind",)})})
                engine.effects = []
                writes.enter_context(pipelined(conn))
            if instance.state == "completed":  # operations refuse a completed instance: this is the end
                audit.append(self._audit(None, SYSTEM, "ended", now=now))
            for entry in audit:
                entry["instance_id"] = entry.get("instance_id") or instance.id
            history.number(activities, audit, timeline.CAUSES, instance.lock_version)
            history.write(conn, activities, instance.id)
            if audit:
                conn.execute(AuditEntry.__table__.insert().inline(), audit)
        return len(fired_ids)

    def _write_instance(self, session: Session, instance: Instance, new: bool, check: bool = True) -> None:
        """INSERT, or UPDATE only if nobody changed the row since it was read (optimistic lock;
        `check=False`: the row is locked, the count is not read, so it may run in a pipeline)."""
        values = {c: getattr(instance, c) for c in _INSTANCE_COLUMNS}
        conn = session.connection()
        if new:
            instance.lock_version = 1
            instance.id = conn.execute(S_INSERT_INSTANCE, dict(values, lock_version=1)).scalar_one()
            return
        result = conn.execute(S_UPDATE_INSTANCE, dict(values, b_id=instance.id, b_lock=instance.lock_version,
                                                      b_new_lock=instance.lock_version + 1))
        if check and result.rowcount != 1:
            raise Conflict("l'instance a été modifiée en même temps par une autre opération : réessayez",
                           instance_id=instance.id)
        instance.lock_version += 1

    def _project(self, workflow: BpmnWorkflow, instance: Instance, session: Session, now):
        """What the workflow awaits now: human tasks (with their evaluated Camunda attributes),
        timers and message subscriptions, keyed by SpiffWorkflow task id."""
        known = set((instance.projection or {}).get("human") or [])
        human, timers, messages = {}, {}, {}
        incident = None
        form_refs = {}
        waiting_tasks = []
        for task in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING):
            if task.state == TaskState.WAITING:
                waiting_tasks.append(task)
                continue
            if not task.task_spec.manual:
                continue
            tid = str(task.id)
            if tid in known:
                human[tid] = None
                continue
            try:
                human[tid] = self._human_task_row(workflow, task, instance, session, now)
            except (SpiffWorkflowException, DurationError, ValueError) as err:
                incident = {"element_id": task.task_spec.bpmn_id,
                            "message": f"attribut Camunda illisible : {describe(err)}"}
                human.pop(tid, None)
                continue
            ref = human[tid].pop("_form_ref", None)
            if ref:
                form_refs[tid] = ref
        if form_refs:
            resolved = self.definitions.form_ids(session, set(form_refs.values()))
            for tid, ref in form_refs.items():
                human[tid]["form_id"] = resolved.get(ref)
                if resolved.get(ref) is None:
                    incident = {"element_id": human[tid]["element_id"],
                                "message": f"formulaire {ref[0]!r} introuvable (camunda:formRef)"}
                    human.pop(tid)
        for task in waiting_tasks:
            definition = getattr(task.task_spec, "event_definition", None)
            # An event-based gateway waits with a MultipleEventDefinition holding its branches.
            for single in getattr(definition, "event_definitions", None) or [definition]:
                if isinstance(single, ClockedTimerMixin):
                    due = single.due_at(task)
                    if due is not None:
                        timers[str(task.id)] = {"due": due.isoformat(), "kind": _TIMER_KINDS[type(single).__name__],
                                                "element_id": task.task_spec.bpmn_id,
                                                "name": task.task_spec.bpmn_name or task.task_spec.bpmn_id}
                elif isinstance(single, MessageEventDefinition):
                    messages[_subscription_id(task.id, single.name)] = {
                        "name": single.name, "element_id": task.task_spec.bpmn_id}
        # Event subprocesses started by a message exist only once triggered: subscribe to
        # their start messages for as long as the instance runs.
        if not workflow.completed:
            for spec_name in getattr(workflow.spec.start, "trigger_specs", []):
                sub_spec = workflow.subprocess_specs.get(spec_name)
                for start in getattr(sub_spec, "bpmn_start_events", []) if sub_spec else []:
                    single = getattr(start, "event_definition", None)
                    if isinstance(single, MessageEventDefinition):
                        messages[_subscription_id(workflow.task_tree.id, single.name)] = {
                            "name": single.name, "element_id": start.bpmn_id}
        return human, timers, messages, incident

    def _human_task_row(self, workflow, task, instance: Instance, session: Session, now) -> dict:
        spec = task.task_spec
        ext = getattr(spec, "extensions", None) or {}
        engine: ArsScriptEngine = workflow.script_engine
        assignee = engine.evaluate_value(task, ext["assignee"]) if ext.get("assignee") else None
        if assignee:
            for listener in assignment_listeners(spec):
                run_listener(listener, task)
        groups = names(engine.evaluate_value(task, ext.get("candidateGroups", "")))
        users = names(engine.evaluate_value(task, ext.get("candidateUsers", "")))
        due = self._instant(engine, task, ext.get("dueDate"), now)
        follow = self._instant(engine, task, ext.get("followUpDate"), now)
        priority = engine.evaluate_value(task, ext["priority"]) if ext.get("priority") else 50
        properties = {k: engine.evaluate_value(task, v) for k, v in (ext.get("properties") or {}).items()}
        row = {
            "id": str(task.id), "process_key": instance.process_key, "element_id": spec.bpmn_id,
            "name": spec.bpmn_name or spec.bpmn_id, "lane": spec.lane,
            "assignee": str(assignee) if assignee else None, "candidate_groups": groups, "candidate_users": users,
            "due_at": due, "follow_up_at": follow, "priority": int(priority),
            "form_key": ext.get("formKey") or ext.get("formRef"), "form_id": None,
            "properties": _json_safe(properties), "state": OPEN, "created_at": now,
            # engine.notifications looks at once at a task drawing a reminder or an escalation,
            # then keeps here the next instant one falls due.
            "notice_at": now if due is not None and (properties.get("reminder_days") not in (None, "")
                                                     or properties.get("escalate_to") not in (None, "")) else None,
            "claimed_at": now if assignee else None, "completed_at": None, "completed_by": None,
        }
        if ext.get("formRef"):
            binding = ext.get("formRefBinding") or "latest"
            deployment_id = self.definitions.definition(session, instance.definition_id).deployment_id
            row["_form_ref"] = (ext["formRef"], binding, ext.get("formRefVersion"), deployment_id)
        return row

    def _instant(self, engine: ArsScriptEngine, task, value, now) -> datetime | None:
        """dueDate/followUpDate: an expression's result, an ISO instant, a date (due by the end
        of that day, local time), or an ISO duration from now."""
        if not value:
            return None
        result = engine.evaluate_value(task, value)
        if result is None or result == "":
            return None
        zone = engine.ctx.zone_of(engine.ctx.territory_of(task.data))
        if isinstance(result, str) and is_duration(result):
            return add_duration(now.astimezone(zone), result).astimezone(now.tzinfo)
        if isinstance(result, str) and len(result.strip()) == 10:
            day = parse_instant(result.strip(), zone)
            return day + timedelta(days=1)
        return parse_instant(result, zone)

    def _summary(self, instance: Instance) -> dict:
        return {"instance_id": instance.id, "id": instance.id, "process_key": instance.process_key,
                "business_key": instance.business_key, "state": instance.state,
                "lock_version": instance.lock_version, "incident": instance.incident}

    def _task_json(self, task: HumanTask, **override) -> dict:
        return task_lists.task_json(task, **override)


def next_due_query():
    """The earliest waiting timer of a live instance that no worker holds (parameter `now`).
    Written as a correlated EXISTS so that it walks the timers' (status, due_at) index in
    order and stops at the first live one, whatever the statistics say: as a join, SQLite's
    planner switches after ANALYZE to scanning instances and sorting their timers (0.9 ms →
    91 ms at 100,000 instances). An instance in incident keeps its timers waiting until retried."""
    live = exists().where(Instance.id == Timer.instance_id, Instance.state.in_(timer_claims.LIVE_STATES))
    free = or_(Timer.lock_expires_at.is_(None), Timer.lock_expires_at <= bindparam("now"))
    return select(Timer.due_at).where(Timer.status == "waiting", live, free).order_by(Timer.due_at).limit(1)


_TIMER_KINDS = {"ArsTimeDateEventDefinition": "date", "ArsDurationTimerEventDefinition": "duration",
                "ArsCycleTimerEventDefinition": "cycle"}


def _subscription_id(task_id, message_name: str) -> str:
    """Stable id of one (waiting task, message) pair, as long as a task id."""
    return str(uuid5(UUID(str(task_id)), message_name))


def _shift_deadline(due: datetime, days: int, zone, territory: str, calendar) -> datetime:
    """Push an instant back by `days` suspended days. A legal expiry (00:00 local, the day
    after the délai's last day) keeps its rule: last day + days, extended to a working day."""
    local = due.astimezone(zone)
    if (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0):
        last = local.date() - timedelta(days=1) + timedelta(days=days)
        while not calendar.is_working_day(last, territory):
            last += timedelta(days=1)
        return datetime.combine(last + timedelta(days=1), datetime.min.time()).replace(tzinfo=zone).astimezone(due.tzinfo)
    return (local + timedelta(days=days)).astimezone(due.tzinfo)


def _builtin_helpers() -> dict:
    """Helpers that installed procedures bring to scripts (entry-point group
    `arsflow.script_helpers`, each a dict of name -> callable); the engine names none of them."""
    from importlib.metadata import entry_points
    helpers: dict = {}
    for entry in entry_points(group="arsflow.script_helpers"):
        helpers.update(entry.load())
    return helpers


def _iso(value):
    return value.isoformat() if value is not None else None


def _raise_refusal(err: BaseException) -> None:
    """Re-raise the `Refused` a script raised under SpiffWorkflow's wrapping, naming the element."""
    seen, cause = set(), err
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, Refused):
            task = getattr(err, "task", None)
            element = getattr(getattr(task, "task_spec", None), "bpmn_name", None) if task else None
            raise Refused(cause.message, element=element) from None
        cause = getattr(cause, "exception", None) or cause.__cause__ or cause.__context__


def _incident(err: Exception, task) -> dict:
    task = getattr(err, "task", None) or task
    element = getattr(getattr(task, "task_spec", None), "bpmn_id", None) if task is not None else None
    if element is None:
        element = getattr(getattr(err, "task_spec", None), "bpmn_id", None)
    names = list(getattr(task, "data", None) or {}) if task is not None else None
    return {"element_id": element, "message": describe(err, names)}


def _task_state(workflow, task_id: str):
    task = task_tree.find_task(workflow, UUID(task_id))
    return task.state if task is not None else None


def _task_element(workflow, task_id: str):
    task = task_tree.find_task(workflow, UUID(task_id))
    return getattr(task.task_spec, "bpmn_id", None) if task is not None else None


def _variables(workflow: BpmnWorkflow) -> dict:
    """The process variables as a person reads them: the data of the latest top-level task,
    merged with the data of what is waiting."""
    merged: dict = {}
    tasks = [t for t in workflow.tasks.values()
             if t.state in (TaskState.COMPLETED, TaskState.READY, TaskState.WAITING, TaskState.STARTED,
                            TaskState.ERROR)]
    carry = workflow.task_tree.internal_data.get(task_tree.CARRY)  # what pruned branches held
    scopes = [(t.last_state_change, 1, process_scope(t)) for t in tasks]
    if carry:
        scopes.append((carry["at"], 0, carry["data"]))
    for _, _, scope in sorted(scopes, key=lambda entry: entry[:2]):
        merged.update(scope)  # an open activity's inputs are its own
    merged.update(variable_scope.process_values(workflow))  # the latest value each variable was given
    merged.update(workflow.data.get("data_objects") or {})  # BPMN data objects live on the workflow
    return merged
