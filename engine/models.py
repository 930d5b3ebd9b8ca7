"""Tables. Instants are stored in UTC (timezone-aware columns; SQLite keeps them as UTC text)."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite as on PostgreSQL."""
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict: JSON, list: JSON}


class Deployment(Base):
    __tablename__ = "deployments"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    source: Mapped[str | None] = mapped_column(String(255))
    deployed_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime]


class Resource(Base):
    """One version of one deployed file (.bpmn, .dmn, .form)."""
    __tablename__ = "resources"
    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"))
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(8))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime]


class ProcessDefinition(Base):
    __tablename__ = "process_definitions"
    __table_args__ = (UniqueConstraint("key", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(255), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(255))
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id"))
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"))
    # Resources (DMN, called BPMN) resolved at deploy time, so an instance never changes
    # behaviour because a neighbouring file was redeployed.
    dependencies: Mapped[list] = mapped_column(default=list)
    created_at: Mapped[datetime]


class DecisionDefinition(Base):
    __tablename__ = "decision_definitions"
    __table_args__ = (UniqueConstraint("key", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(255), index=True)
    version: Mapped[int] = mapped_column(Integer)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id"))
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"))


class FormDefinition(Base):
    __tablename__ = "form_definitions"
    __table_args__ = (UniqueConstraint("key", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(255), index=True)
    version: Mapped[int] = mapped_column(Integer)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id"))
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"))


class Instance(Base):
    __tablename__ = "instances"
    __table_args__ = (Index("ix_instances_key_state", "process_key", "state"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"))
    process_key: Mapped[str] = mapped_column(String(255))
    business_key: Mapped[str | None] = mapped_column(String(255), index=True)
    initiator: Mapped[str | None] = mapped_column(String(128))
    territory: Mapped[str | None] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))  # running|waiting|completed|terminated|incident
    incident: Mapped[dict | None] = mapped_column(nullable=True)
    variables: Mapped[dict] = mapped_column(default=dict)
    workflow: Mapped[str] = mapped_column(Text)  # SpiffWorkflow JSON, spec by reference
    # What the tables already show of this workflow (human task, timer, subscription ids):
    # the next operation diffs against it instead of querying them back.
    projection: Mapped[dict] = mapped_column(default=dict)
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class HumanTask(Base):
    __tablename__ = "human_tasks"
    __table_args__ = (
        # Due order with its tie-break (dashboard lists): many tasks share a due date.
        Index("ix_human_tasks_state_due_id", "state", "due_at", "id"),
        # "Assigned to me" in due-date order, walked by index (engine.task_lists).
        Index("ix_human_tasks_assignee_state_due", "assignee", "state", "due_at", "id"),
        # Reminders and escalations falling due (engine.notifications), without reading properties.
        Index("ix_human_tasks_state_notice", "state", "notice_at"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # SpiffWorkflow task id
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(255))
    element_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    lane: Mapped[str | None] = mapped_column(String(255))
    assignee: Mapped[str | None] = mapped_column(String(128))
    candidate_groups: Mapped[list] = mapped_column(default=list)
    candidate_users: Mapped[list] = mapped_column(default=list)
    due_at: Mapped[datetime | None]
    follow_up_at: Mapped[datetime | None]
    priority: Mapped[int] = mapped_column(Integer, default=50)
    form_key: Mapped[str | None] = mapped_column(String(255))
    form_id: Mapped[int | None] = mapped_column(ForeignKey("form_definitions.id"))
    properties: Mapped[dict] = mapped_column(default=dict)
    # Next instant a reminder or escalation drawn in `properties` falls due; None: nothing left.
    notice_at: Mapped[datetime | None] = mapped_column(nullable=True)
    state: Mapped[str] = mapped_column(String(16))  # open|completed|cancelled
    created_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    completed_by: Mapped[str | None] = mapped_column(String(128))


class TaskDueDelta(Base):
    """+1 when a task opens with a due date (or gets one), -1 when it leaves that hour or
    closes: written by triggers on human_tasks (migration 0012), so every path that changes a
    task counts, in its own transaction; append-only, so concurrent operations never wait on
    each other's counters. engine.people.due_counts folds them into task_due_tallies."""
    __tablename__ = "task_due_deltas"
    id: Mapped[int] = mapped_column(primary_key=True)
    due_hour: Mapped[str] = mapped_column(String(13))  # UTC hour, YYYY-MM-DD HH
    process_key: Mapped[str] = mapped_column(String(255))
    territory: Mapped[str] = mapped_column(String(16))  # '' when the instance has none
    delta: Mapped[int] = mapped_column(Integer)


class TaskDueTally(Base):
    """Open tasks per UTC due hour, procedure and territory, as of the last fold: the
    dashboard's overdue/upcoming totals add up hours instead of counting tasks."""
    __tablename__ = "task_due_tallies"
    due_hour: Mapped[str] = mapped_column(String(13), primary_key=True)
    process_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    territory: Mapped[str] = mapped_column(String(16), primary_key=True)
    open_tasks: Mapped[int] = mapped_column(Integer)


class TaskCandidate(Base):
    """Who may see a task: one row per candidate group or user. The row repeats the task's
    state and due date so that "offered to group G, open, by due date" is one index range
    (engine.task_lists); the runtime keeps them in step with human_tasks."""
    __tablename__ = "task_candidates"
    __table_args__ = (Index("ix_task_candidates_inbox", "kind", "name", "state", "due_at", "task_id"),)
    task_id: Mapped[str] = mapped_column(ForeignKey("human_tasks.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # group|user
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="open", server_default="open")
    due_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Timer(Base):
    __tablename__ = "timers"
    # Due order with its tie-break (the dashboard's running délais; next due timer).
    __table_args__ = (Index("ix_timers_status_due_instance", "status", "due_at", "instance_id", "element_id"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # SpiffWorkflow task id
    # A timer start event's timer belongs to its definition (no instance yet): definition_id
    # is set, instance_id is NULL, details hold the occurrence count (engine.start_timers).
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instances.id"), index=True)
    definition_id: Mapped[int | None] = mapped_column(ForeignKey("process_definitions.id"))
    details: Mapped[dict | None] = mapped_column(nullable=True)
    element_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))  # date|duration|cycle
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))  # waiting|fired|cancelled
    fired_at: Mapped[datetime | None]
    # Lease of the worker that claimed the due timer (engine.time.timer_claims): the others
    # leave it alone until it expires, so a worker that died mid-sweep holds nothing for good.
    locked_by: Mapped[str | None] = mapped_column(String(64))
    lock_expires_at: Mapped[datetime | None]


class MessageSubscription(Base):
    __tablename__ = "message_subscriptions"
    __table_args__ = (Index("ix_message_subscriptions_name_status", "message_name", "status"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # SpiffWorkflow task id
    # A message start event subscribes its definition (instance_id NULL): the message creates an instance.
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instances.id"), index=True)
    definition_id: Mapped[int | None] = mapped_column(ForeignKey("process_definitions.id"))
    element_id: Mapped[str] = mapped_column(String(255))
    message_name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))  # waiting|received|cancelled


class AuditEntry(Base):
    """Append-only history: nothing updates or deletes these rows."""
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instances.id"), index=True)
    task_id: Mapped[str | None] = mapped_column(String(36))
    at: Mapped[datetime]
    actor: Mapped[str | None] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    element_id: Mapped[str | None] = mapped_column(String(255))
    details: Mapped[dict] = mapped_column(default=dict)
    # Position in the instance's history, shared with activity_history.seq (None: written
    # outside an engine operation, e.g. a claim: it follows the entry before it).
    seq: Mapped[int | None] = mapped_column(BigInteger)


class User(Base):
    __tablename__ = "users"
    login: Mapped[str] = mapped_column(String(128), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    api_token_hash: Mapped[str | None] = mapped_column(String(128), index=True)
    calendar_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    # immediate | digest | none (see engine.notifications): how the person wants to be told.
    notification_preference: Mapped[str] = mapped_column(String(16), default="immediate",
                                                         server_default="immediate")
    # Bumped at logout and at each password change: sessions carrying an older one end.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The inbox's notification list was last opened: newer notifications make its badge.
    notifications_seen_at: Mapped[datetime | None]


class UserGroup(Base):
    __tablename__ = "user_groups"
    login: Mapped[str] = mapped_column(ForeignKey("users.login"), primary_key=True)
    group: Mapped[str] = mapped_column(String(128), primary_key=True, index=True)


# -- notifications (engine.notifications, engine.digest) ---------------------------------------
class Notification(Base):
    """What the engine had to tell, when, about which instance/task (one row per event)."""
    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instances.id"), index=True)
    task_id: Mapped[str | None] = mapped_column(String(36))
    element_id: Mapped[str | None] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))  # notification|reminder|escalation|digest
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]


class OutboxMessage(Base):
    """One recipient of one notification, and what became of the email: the delivery step
    sends it after the operation committed, retrying with back-off."""
    __tablename__ = "notification_outbox"
    __table_args__ = (Index("ix_notification_outbox_status_next", "status", "next_attempt_at"),
                      Index("ix_notification_outbox_login_status", "login", "status"),
                      Index("ix_notification_outbox_login_created", "login", "created_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id"), index=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instances.id"))
    login: Mapped[str] = mapped_column(String(128))
    email: Mapped[str | None] = mapped_column(String(255))
    # pending|sending|sent|failed (email) — digest|digested (digest-only users) — skipped
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(Text)
    text_body: Mapped[str | None] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class TaskNotice(Base):
    """A reminder or escalation drawn as task properties was issued: once per (task, kind)."""
    __tablename__ = "task_notices"
    task_id: Mapped[str] = mapped_column(ForeignKey("human_tasks.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # reminder|escalation
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"))
    status: Mapped[str] = mapped_column(String(16))  # done|invalid|late (reminder after due)|none
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id"))
    at: Mapped[datetime]


class DigestRun(Base):
    """The daily digest of one person for one local day was composed (sent or empty)."""
    __tablename__ = "digest_runs"
    login: Mapped[str] = mapped_column(String(128), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, ARS time zone
    status: Mapped[str] = mapped_column(String(16))  # queued|empty
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("notification_outbox.id"))
    at: Mapped[datetime]


# -- external tasks (engine.external_tasks) ---------------------------------------------------
class ExternalTask(Base):
    """A service task waiting for a worker (Camunda's ACT_RU_EXT_TASK): a worker locks it by
    fetchAndLock until `lock_expires_at`, then completes it, reports a failure (retries; an
    incident at 0) or a BPMN error. Rows stay after the task ends (state), for history."""
    __tablename__ = "external_tasks"
    __table_args__ = (Index("ix_external_tasks_fetch", "state", "topic", "lock_expires_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # SpiffWorkflow task id
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"), index=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"))
    process_key: Mapped[str] = mapped_column(String(255))
    business_key: Mapped[str | None] = mapped_column(String(255))
    element_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    topic: Mapped[str] = mapped_column(String(255))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    # The task's input parameters (camunda:inputOutput), local to it as in Camunda.
    local_variables: Mapped[dict] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16))  # open|completed|cancelled
    worker_id: Mapped[str | None] = mapped_column(String(255))
    lock_expires_at: Mapped[datetime | None]
    retries: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(Text)
    error_details: Mapped[str | None] = mapped_column(Text)
    incident_at: Mapped[datetime | None]  # retries reached 0: an incident until retries are set again
    created_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class ActivityInstance(Base):
    """One activity instance, as Camunda's ACT_HI_ACTINST: an element entered, then left or
    cancelled. The id is SpiffWorkflow's task id (a user task's row has the same id as its
    human task); a multi-instance body is `ELEMENT#multiInstanceBody` and parents its items."""
    __tablename__ = "activity_history"
    __table_args__ = (Index("ix_activity_history_instance_seq", "instance_id", "seq"),
                      Index("ix_activity_history_activity", "activity_id", "activity_type"))
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"))
    seq: Mapped[int] = mapped_column(BigInteger)  # order within the instance (SEQUENCE_COUNTER_)
    parent_id: Mapped[str | None] = mapped_column(String(36))  # sub-process / MI body; None: the instance
    activity_id: Mapped[str] = mapped_column(String(255))
    activity_name: Mapped[str | None] = mapped_column(String(255))
    activity_type: Mapped[str] = mapped_column(String(64))  # Camunda's ActivityTypes names
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    end_seq: Mapped[int | None] = mapped_column(BigInteger)  # position of the end in the instance's history
    duration_ms: Mapped[int | None] = mapped_column(BigInteger)
    canceled: Mapped[bool] = mapped_column(Boolean, default=False)
    task_id: Mapped[str | None] = mapped_column(String(36))  # userTask: its human_tasks id
    assignee: Mapped[str | None] = mapped_column(String(128))
    # A call activity runs inside the same arsflow instance: its sub-workflow's id.
    called_process_instance_id: Mapped[str | None] = mapped_column(String(36))


# -- documents (engine.documents) -------------------------------------------------------------
class Document(Base):
    """A file kept for an instance: uploaded with a task, generated from a template, or filed
    through the correspondents' portal. The bytes live in the content-addressed store under
    their SHA-256 (engine.documents.store); the row says whose and where they belong."""
    __tablename__ = "documents"
    __table_args__ = (Index("ix_documents_instance", "instance_id", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"))
    task_id: Mapped[str | None] = mapped_column(String(36))
    element_id: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(127))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))  # upload|generated|portal
    uploaded_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime]


class PortalInvitation(Base):
    """A correspondent (one body) was sent a signed link to file its avis on one task of one
    instance (engine.documents.portal); `filed_at` closes it: a second filing is refused."""
    __tablename__ = "portal_invitations"
    __table_args__ = (Index("ix_portal_invitations_instance", "instance_id", "element_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"))
    element_id: Mapped[str] = mapped_column(String(255))  # the user task the filing completes
    body: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255))
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime]
    filed_at: Mapped[datetime | None]
    receipt_template: Mapped[str | None] = mapped_column(String(255))  # .docx of the acknowledgement
    letter_document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))  # the saisine sent
    receipt_document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))
