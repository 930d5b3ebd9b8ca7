"""One instance's history as a list of events, oldest first: the audit log (who did what)
merged with the activity instances (what the engine entered, completed, cancelled).

Entries keep the audit log's shape (`at`, `actor`, `action`, `element_id`, `task_id`,
`details`) and add `element_name`, and for activity events `activity_type`,
`activity_instance_id` and `parent_activity_instance_id`. Order: time, then the position both
tables share (`seq`, see `activities.number`), so that within one instant an operation's
cause (a person completing a task, a timer, a message) comes before what the engine did
next, and that before its consequences (notifications, incident, end).
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from arsflow.engine.models import ActivityInstance, AuditEntry

# What starts an operation: listed before the activities that operation ran.
CAUSES = {"started", "claimed", "unclaimed", "completed", "message", "timer_fired", "retried", "terminated",
          "deadline_suspended", "deadline_resumed", "reassigned", "external_task_completed",
          "external_task_bpmn_error", "external_task_failed", "external_task_retries"}


def _iso(value):
    return value.isoformat() if value is not None else None


def instance_timeline(session: Session, instance_id: int, names: dict | None = None,
                      task_names: dict | None = None) -> list[dict]:
    """`names`: element id -> name known elsewhere (timers, tasks); `task_names`: human task
    id -> name, for audit rows that name only the task."""
    names = dict(names or {})
    task_names = task_names or {}
    activities = session.scalars(select(ActivityInstance).where(ActivityInstance.instance_id == instance_id)
                                 .order_by(ActivityInstance.seq)).all()
    for row in activities:
        if row.activity_name:
            names.setdefault(row.activity_id, row.activity_name)
    events = []
    last = 0.0
    for a in session.scalars(select(AuditEntry).where(AuditEntry.instance_id == instance_id)
                             .order_by(AuditEntry.id)):
        # Written outside an engine operation (a claim, a reminder): just after the entry before.
        last = float(a.seq) if a.seq is not None else last + 0.001
        events.append(((a.at, last), {
            "at": _iso(a.at), "actor": a.actor, "action": a.action, "element_id": a.element_id,
            "element_name": names.get(a.element_id) or task_names.get(a.task_id), "task_id": a.task_id,
            "details": a.details}))
    for a in activities:
        base = {"actor": None, "element_id": a.activity_id, "element_name": a.activity_name,
                "task_id": a.task_id, "activity_type": a.activity_type, "activity_instance_id": a.id,
                "parent_activity_instance_id": a.parent_id}
        events.append(((a.started_at, float(a.seq)), dict(base, at=_iso(a.started_at), action="activity_started",
                                                          details={"assignee": a.assignee} if a.assignee else {})))
        if a.ended_at is not None:
            action = "activity_cancelled" if a.canceled else "activity_completed"
            events.append(((a.ended_at, float(a.end_seq or a.seq)), dict(
                base, at=_iso(a.ended_at), action=action, details={"duration_ms": a.duration_ms})))
    events.sort(key=lambda item: item[0])
    return [event for _, event in events]
