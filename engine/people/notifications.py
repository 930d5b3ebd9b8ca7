"""Notifications that reach people: recording, outbox, delivery with retry, preferences, and
the reminders/escalations a process owner writes as task properties.

Why an outbox: a state change must never depend on the mail server. The effect handler
inserts one outbox row per recipient inside the operation's transaction; the delivery step
claims rows in a transaction of its own (a status change, `FOR UPDATE SKIP LOCKED` on
PostgreSQL) so no row is sent twice, sends after that commit, and records the result
(sent, retried with back-off, failed) in the instance's history.

`install(runtime)` plugs this module into the runtime's extension points; the CLI and the
scheduler call it, tests too.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from datetime import datetime, timedelta, timezone

from arsflow.engine.errors import InvalidInput, NotFound
from arsflow.engine.history import activities as history
from arsflow.engine.models import (
    AuditEntry,
    HumanTask,
    Instance,
    Notification,
    OutboxMessage,
    ProcessDefinition,
    TaskCandidate,
    TaskNotice,
    User,
    UserGroup,
)
from arsflow.engine.people.mailer import (
    MailError,
    MailSettings,
    SmtpSender,
    compose,
    fr_due,
    render_notification,
)
from arsflow.engine.services import ServiceCall, names
from arsflow.engine.time import legal_calendar
from sqlalchemy import bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

log = logging.getLogger("arsflow.notifications")

PREFERENCES = ("immediate", "digest", "none")
PREFERENCE_LABELS = {"immediate": "courriel immédiat (et récapitulatif quotidien)",
                     "digest": "récapitulatif quotidien seulement", "none": "aucune notification"}
# After the n-th failed attempt the next one waits RETRY_DELAYS[n-1]; past the last, "failed".
RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))
# A row left "sending" this long (the sender died mid-batch) is offered again.
SENDING_LEASE = timedelta(minutes=15)
# Task-property reminders: at most this many days before the due date.
MAX_REMINDER_DAYS = 60
# Tasks whose notice falls due read per scan (the rest at the next, immediate, scan).
SCAN_BATCH = 1000

_ASSIGNEE_TOKENS = {"assignee", "titulaire"}
_CANDIDATE_TOKENS = {"candidates", "candidats"}
_WORKING_WORDS = {"working", "ouvré", "ouvrés", "ouvre", "ouvres", "ouvrable", "ouvrables"}
_PLAIN_WORDS = {"jour", "jours", "day", "days", "calendar", "calendaire", "calendaires"}


# -- preferences -------------------------------------------------------------------------------
def set_preference(session, login: str, preference: str) -> User:
    preference = (preference or "").strip().lower()
    if preference not in PREFERENCES:
        raise InvalidInput(f"--notifications : valeur {preference!r} invalide, attendu immediate, digest ou none")
    user = session.get(User, login)
    if user is None:
        raise NotFound(f"utilisateur {login!r} inconnu")
    user.notification_preference = preference
    return user


# -- parsing helpers ---------------------------------------------------------------------------
def parse_reminder_days(value) -> tuple[int, bool]:
    """`3` (calendar days) or `3 working` / `3 jours ouvrés` → (3, working)."""
    text = str(value).strip().lower()
    words = text.split()
    if not words or not re.fullmatch(r"\d+", words[0]) or not set(words[1:]) <= _WORKING_WORDS | _PLAIN_WORDS:
        raise ValueError(f"« {value} » illisible : attendu un nombre de jours, par exemple « 3 » ou « 3 working »")
    n = int(words[0])
    if n > MAX_REMINDER_DAYS:
        raise ValueError(f"« {value} » : {MAX_REMINDER_DAYS} jours au plus avant l'échéance")
    return n, bool(set(words[1:]) & _WORKING_WORDS)


def _truthy(value) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "oui", "vrai")


# -- service handlers (run inside SpiffWorkflow, queue effects) ---------------------------------
def notification_service(call: ServiceCall) -> dict:
    """Topic `notification`: inputs to_groups, to_users, to_assignee_of (element id of a user
    task whose assignee — or candidates when unassigned — are told), subject, body."""
    target = str(call.inputs.get("to_assignee_of") or "").strip() or None
    call.notify(to_groups=names(call.inputs.get("to_groups")), to_users=names(call.inputs.get("to_users")),
                to_assignee_of=target, to_task_ids=call.sibling_task_ids(target) if target else [],
                subject=str(call.inputs.get("subject") or call.name or call.element_id),
                body=str(call.inputs.get("body") or ""))
    return {}


def reassign_service(call: ServiceCall) -> dict:
    """Topic `reassign`: inputs task (element id of the user task), assignee and/or
    candidate_groups. Applied to the open task rows in the same transaction."""
    target = str(call.inputs.get("task") or "").strip()
    if not target:
        raise ValueError(f"{call.element_id} : l'entrée « task » (identifiant de la tâche utilisateur à "
                         "réattribuer) est obligatoire")
    assignee = str(call.inputs.get("assignee") or "").strip() or None
    groups = names(call.inputs.get("candidate_groups")) if call.inputs.get("candidate_groups") else None
    if assignee is None and not groups:
        raise ValueError(f"{call.element_id} : indiquez l'entrée « assignee » ou « candidate_groups »")
    call.effects.append({"kind": "reassign", "element_id": call.element_id, "task": target,
                         "assignee": assignee, "candidate_groups": groups})
    return {}


# -- the notifier ------------------------------------------------------------------------------
class Notifier:
    def __init__(self, runtime, mail: MailSettings | None = None):
        self.runtime = runtime
        self.mail = mail or MailSettings.load()
        self.next_deadline_at: datetime | None = None

    @property
    def zone(self):
        return self.runtime.settings.tzinfo

    # recipients ---------------------------------------------------------------------------
    @staticmethod
    def members(session, groups) -> set[str]:
        groups = sorted(set(groups))
        if not groups:
            return set()
        return set(session.scalars(select(UserGroup.login).where(UserGroup.group.in_(groups))))

    def task_people(self, session, task: HumanTask) -> set[str]:
        """Who holds a task: its assignee, else its candidate users and groups' members."""
        if task.assignee:
            return {task.assignee}
        return set(task.candidate_users or []) | self.members(session, task.candidate_groups or [])

    @staticmethod
    def open_tasks(session, instance_id: int, element_id: str) -> list[HumanTask]:
        return list(session.scalars(select(HumanTask).where(
            HumanTask.instance_id == instance_id, HumanTask.element_id == element_id,
            HumanTask.state == "open").order_by(HumanTask.created_at, HumanTask.id)))

    # recording ----------------------------------------------------------------------------
    def record(self, session, *, instance: Instance, kind: str, subject: str, body: str, logins,
               now: datetime, element_id: str | None = None, task: HumanTask | None = None) -> tuple[int, list]:
        """A Notification row and one outbox row per recipient, as each one's preference says."""
        link = self.mail.task_link(task.id) if task is not None else self.mail.instance_link(instance.id)
        notification_id = session.execute(insert(Notification).values(
            instance_id=instance.id, task_id=task.id if task else None, element_id=element_id, kind=kind,
            subject=subject, body=body, link=link, created_at=now).returning(Notification.id)).scalar_one()
        logins = sorted(set(logins))
        users = {u.login: u for u in session.scalars(select(User).where(User.login.in_(logins or [""])))}
        facts = self._facts(session, instance, task)
        rows, recipients = [], []
        for login in logins:
            user = users.get(login)
            if user is None or not user.active:
                recipients.append({"login": login, "delivery": "unknown"})
                continue
            row = {"notification_id": notification_id, "instance_id": instance.id, "login": login,
                   "email": user.email, "subject": subject, "attempts": 0, "created_at": now,
                   "text_body": None, "html_body": None, "next_attempt_at": None, "reason": None}
            preference = user.notification_preference or "immediate"
            if preference == "none":
                row.update(status="skipped", reason="préférence : aucune notification")
            elif not user.email:
                row.update(status="skipped", reason="aucune adresse électronique")
            elif preference == "digest":
                row.update(status="digest")
            else:
                text, html_body = render_notification(
                    name=user.display_name, subject=subject, body=body, link=link, facts=facts,
                    link_label="Ouvrir la tâche" if task is not None else "Ouvrir le dossier")
                row.update(status="pending", text_body=text, html_body=html_body, next_attempt_at=now)
            rows.append(row)
            recipients.append({"login": login, "delivery": row["status"]})
        if rows:
            session.execute(insert(OutboxMessage), rows)
        return notification_id, recipients

    def _facts(self, session, instance: Instance, task: HumanTask | None) -> list[tuple[str, str]]:
        definition = session.get(ProcessDefinition, instance.definition_id)
        facts = [("Procédure", (definition.name if definition and definition.name else instance.process_key)),
                 ("Dossier", instance.business_key or ""), ("Instance", f"n° {instance.id}")]
        if task is not None:
            subject = (task.properties or {}).get("subject")
            facts.append(("Tâche", task.name + (f" — {subject}" if subject else "")))
            if task.due_at is not None:
                facts.append(("Échéance", fr_due(task.due_at, self.zone)))
        return facts

    def _audit(self, session, *, instance_id, action: str, now, task_id=None, element_id=None, details=None):
        session.execute(insert(AuditEntry).values(instance_id=instance_id, task_id=task_id, at=now, actor=None,
                                                  action=action, element_id=element_id, details=details or {}))

    # effect handlers (inside the operation's transaction) ---------------------------------------
    def on_notification(self, session, instance: Instance, effect: dict, now: datetime) -> None:
        logins = set(names(effect.get("to_users"))) | self.members(session, names(effect.get("to_groups")))
        tasks: list[HumanTask] = []
        target = effect.get("to_assignee_of")
        if target:
            tasks = self.open_tasks(session, instance.id, target)
            scoped = set(effect.get("to_task_ids") or [])
            if scoped and any(t.id in scoped for t in tasks):
                tasks = [t for t in tasks if t.id in scoped]  # this multi-instance copy only
            for task in tasks:
                logins |= self.task_people(session, task)
            if not tasks:
                effect["warning"] = f"aucune tâche ouverte « {target} » : ni titulaire ni candidats à prévenir"
        notification_id, recipients = self.record(
            session, instance=instance, kind="notification", subject=str(effect.get("subject") or ""),
            body=str(effect.get("body") or ""), logins=logins, now=now, element_id=effect.get("element_id"),
            task=tasks[0] if len(tasks) == 1 else None)
        # The runtime writes the effect to the audit log after this returns: who was told is there.
        effect["notification_id"] = notification_id
        effect["recipients"] = recipients

    def on_reassign(self, session, instance: Instance, effect: dict, now: datetime) -> None:
        assignee = effect.get("assignee")
        if assignee and (session.get(User, assignee) is None):
            effect["error"] = f"réattribution impossible : utilisateur {assignee!r} inconnu"
            return
        tasks = self.open_tasks(session, instance.id, effect["task"])
        if not tasks:
            effect["error"] = f"aucune tâche ouverte « {effect['task']} » à réattribuer"
            return
        for task in tasks:
            self.reassign(session, task, assignee=assignee, groups=effect.get("candidate_groups"), now=now,
                          cause=effect.get("element_id"))
        effect["reassigned"] = [t.id for t in tasks]

    def reassign(self, session, task: HumanTask, *, assignee: str | None, groups: list | None, now, cause) -> None:
        """Give the task to `assignee` and/or to `groups` (then unassigned, so the group can
        take it), keeping the inbox's candidate rows in step; the history says who had it."""
        before = {"assignee": task.assignee, "candidate_groups": list(task.candidate_groups or [])}
        values: dict = {}
        if assignee:
            values.update(assignee=assignee, claimed_at=now)
        elif groups is not None:
            values.update(assignee=None, claimed_at=None)
        if groups is not None:
            values["candidate_groups"] = list(groups)
        session.execute(update(HumanTask).where(HumanTask.id == task.id, HumanTask.state == "open").values(**values))
        if groups is not None:
            session.execute(delete(TaskCandidate).where(TaskCandidate.task_id == task.id,
                                                        TaskCandidate.kind == "group"))
            if groups:
                session.execute(insert(TaskCandidate), [{"task_id": task.id, "kind": "group", "name": g,
                                                         "state": task.state, "due_at": task.due_at}
                                                        for g in dict.fromkeys(groups)])
        after = {"assignee": values.get("assignee", before["assignee"]),
                 "candidate_groups": list(groups) if groups is not None else before["candidate_groups"]}
        if after["assignee"] != before["assignee"]:
            history.assign(session.connection(), task.id, after["assignee"])
        self._audit(session, instance_id=task.instance_id, task_id=task.id, element_id=task.element_id,
                    action="reassigned", now=now, details={"cause": cause, "before": before, "after": after})

    # reminders and escalations written as task properties -------------------------------------
    def scan_deadlines(self) -> int:
        """Issue the reminders (`reminder_days`) and escalations (`escalate_to`) that are due,
        once per (task, kind). Only tasks whose `notice_at` has come are read (index on
        (state, notice_at)); each gets back the next instant one of its notices falls due,
        or none, so a scan after a commit reads what that commit created, not every open task."""
        now = self.runtime.now()
        with self.runtime.db.read() as session:
            rows = session.execute(
                select(HumanTask.id, HumanTask.instance_id, HumanTask.due_at, HumanTask.properties,
                       Instance.territory)
                .join(Instance, Instance.id == HumanTask.instance_id)
                .where(HumanTask.state == "open", HumanTask.notice_at <= now)
                .order_by(HumanTask.notice_at).limit(SCAN_BATCH)).all()
            done: set = set()
            ids = [r.id for r in rows]
            for start in range(0, len(ids), 500):
                done |= set(session.execute(select(TaskNotice.task_id, TaskNotice.kind)
                                            .where(TaskNotice.task_id.in_(ids[start:start + 500]))).all())
        issued = 0
        next_for: dict[str, datetime | None] = {}
        for row in rows:
            properties = row.properties or {}
            due = row.due_at
            pending: list[datetime] = []
            if due is None or (row.id, "escalation") in done:
                next_for[row.id] = None
                continue
            if properties.get("reminder_days") not in (None, "") and (row.id, "reminder") not in done:
                try:
                    n, working = parse_reminder_days(properties["reminder_days"])
                    at = self.reminder_at(due, n, working, row.territory)
                except (ValueError, legal_calendar.LegalCalendarError) as err:
                    self._issue(row.id, "reminder", now, status="invalid",
                                message=f"propriété reminder_days : {err}")
                else:
                    if now >= due:
                        self._issue(row.id, "reminder", now, status="late")  # the escalation's turn
                    elif now >= at:
                        issued += self._issue(row.id, "reminder", now)
                    else:
                        pending.append(at)
            if properties.get("escalate_to") in (None, ""):
                if now >= due:  # nothing more to do for this task: stop scanning it
                    self._issue(row.id, "escalation", now, status="none")
                else:
                    pending.append(due)
            elif now >= due:
                issued += self._issue(row.id, "escalation", now)
            else:
                pending.append(due)
            next_for[row.id] = min(pending) if pending else None
        if next_for:
            with self.runtime.db.transaction() as session:
                session.execute(update(HumanTask.__table__)
                                .where(HumanTask.__table__.c.id == bindparam("b_id"))
                                .values(notice_at=bindparam("b_at")),
                                [{"b_id": tid, "b_at": at} for tid, at in next_for.items()])
        with self.runtime.db.read() as session:
            self.next_deadline_at = session.scalar(select(func.min(HumanTask.notice_at))
                                                   .where(HumanTask.state == "open", HumanTask.notice_at > now))
        if len(rows) >= SCAN_BATCH:
            self.next_deadline_at = now  # more are due: come back at once
        return issued

    def reminder_at(self, due: datetime, n: int, working: bool, territory: str | None) -> datetime:
        """Same rule as the `days_before` helper: n calendar/working days earlier, same local time."""
        code = territory or self.runtime.settings.territory
        zone = self.runtime.script_context.zone_of(code)
        local = due.astimezone(zone)
        day = legal_calendar.days_before(local.date(), n, code, working=working)
        return datetime.combine(day, local.time()).replace(tzinfo=zone).astimezone(timezone.utc)

    def _issue(self, task_id: str, kind: str, now: datetime, status: str = "done", message: str | None = None) -> int:
        """Record (task, kind) once; status "done" also tells people, "invalid" writes the
        error in the history, "late"/"none" only close the file."""
        try:
            with self.runtime.db.transaction() as session:
                query = select(HumanTask).where(HumanTask.id == task_id)
                if self.runtime.db.is_postgres:
                    query = query.with_for_update()
                task = session.scalars(query).first()
                if task is None or task.state != "open":
                    return 0
                notification_id = None
                if status == "invalid":
                    self._audit(session, instance_id=task.instance_id, task_id=task.id, element_id=task.element_id,
                                action="notification_error", now=now,
                                details={"message": f"{task.element_id} : {message}"})
                elif status == "done":
                    instance = session.get(Instance, task.instance_id)
                    notification_id = (self._remind(session, instance, task, now) if kind == "reminder"
                                       else self._escalate(session, instance, task, now))
                session.add(TaskNotice(task_id=task.id, kind=kind, instance_id=task.instance_id, status=status,
                                       notification_id=notification_id, at=now))
                session.flush()
            return 1 if status == "done" else 0
        except (IntegrityError, OperationalError) as err:  # another worker issued it first
            log.info("rappel/relance %s de la tâche %s déjà traité(e) ailleurs : %s", kind, task_id, err.orig)
            return 0

    def _remind(self, session, instance: Instance, task: HumanTask, now) -> int:
        label = _task_label(task)
        subject = f"Rappel : « {label} » arrive à échéance le {fr_due(task.due_at, self.zone)}"
        body = (f"La tâche « {label} » doit être terminée au plus tard le {fr_due(task.due_at, self.zone)}. "
                "Elle est toujours ouverte.")
        notification_id, recipients = self.record(session, instance=instance, kind="reminder", subject=subject,
                                                  body=body, logins=self.task_people(session, task), now=now,
                                                  element_id=task.element_id, task=task)
        self._audit(session, instance_id=instance.id, task_id=task.id, element_id=task.element_id,
                    action="reminder", now=now, details={"notification_id": notification_id, "subject": subject,
                                                         "recipients": recipients, "due_at": task.due_at.isoformat()})
        return notification_id

    def _escalate(self, session, instance: Instance, task: HumanTask, now) -> int:
        properties = task.properties or {}
        tokens = names(properties.get("escalate_to"))
        groups = [t for t in tokens if t.lower() not in _ASSIGNEE_TOKENS | _CANDIDATE_TOKENS]
        logins = self.members(session, groups)
        if any(t.lower() in _ASSIGNEE_TOKENS for t in tokens) and task.assignee:
            logins.add(task.assignee)
        if any(t.lower() in _CANDIDATE_TOKENS for t in tokens):
            logins |= set(task.candidate_users or []) | self.members(session, task.candidate_groups or [])
        label = _task_label(task)
        holder = task.assignee or ", ".join((task.candidate_groups or []) + (task.candidate_users or [])) or "personne"
        subject = f"Échéance dépassée : « {label} »"
        body = (f"La tâche « {label} » devait être terminée au plus tard le {fr_due(task.due_at, self.zone)} ; "
                f"elle est toujours ouverte (entre les mains de : {holder}).")
        reassign = _truthy(properties.get("escalate_reassign", "")) and bool(groups)
        if reassign:
            body += f" Elle est désormais confiée à : {', '.join(groups)}."
        notification_id, recipients = self.record(session, instance=instance, kind="escalation", subject=subject,
                                                  body=body, logins=logins, now=now,
                                                  element_id=task.element_id, task=task)
        self._audit(session, instance_id=instance.id, task_id=task.id, element_id=task.element_id,
                    action="escalation", now=now, details={"notification_id": notification_id, "subject": subject,
                                                           "recipients": recipients, "escalate_to": tokens})
        if reassign:
            self.reassign(session, task, assignee=None, groups=groups, now=now, cause="escalate_reassign")
        return notification_id

    # delivery (after commit) -------------------------------------------------------------------
    def deliver(self, limit: int = 100) -> dict:
        """Send what is due in the outbox; each row is claimed before it is sent, so it is sent
        at most once even with several workers. Failures wait RETRY_DELAYS, then 'failed'."""
        report = {"sent": 0, "retry": 0, "failed": 0}
        if not self.mail.enabled:
            return report
        self._release_stale(self.runtime.now())
        claimed = self._claim(self.runtime.now(), limit)
        if not claimed:
            return report
        with SmtpSender(self.mail) as sender:
            for row in claimed:
                try:
                    sender.send(compose(self.mail, to=row.email, name=None, subject=row.subject, text=row.text_body,
                                        html_body=row.html_body, now=self.runtime.now()))
                    error = None
                except MailError as err:
                    error = str(err)
                report[self._finish(row, error)] += 1
        return report

    def _claim(self, now: datetime, limit: int) -> list[OutboxMessage]:
        due = (OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
        values = {"status": "sending", "claimed_at": now, "attempts": OutboxMessage.attempts + 1}
        with self.runtime.db.transaction() as session:
            pick = select(OutboxMessage.id).where(*due).order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            if self.runtime.db.is_postgres:
                ids = list(session.scalars(pick.limit(limit).with_for_update(skip_locked=True)))
                if not ids:
                    return []
                session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(**values))
            else:  # one statement: the write lock makes the status change the claim
                ids = list(session.scalars(update(OutboxMessage)
                                           .where(OutboxMessage.id.in_(pick.limit(limit).scalar_subquery()), *due)
                                           .values(**values).returning(OutboxMessage.id)))
                if not ids:
                    return []
            rows = list(session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids))
                                        .order_by(OutboxMessage.id).execution_options(populate_existing=True)))
            session.expunge_all()
            return rows

    def _finish(self, row: OutboxMessage, error: str | None) -> str:
        now = self.runtime.now()
        details = {"outbox_id": row.id, "notification_id": row.notification_id, "to": row.login,
                   "email": row.email, "subject": row.subject, "attempts": row.attempts}
        if error is None:
            outcome, values = "sent", {"status": "sent", "sent_at": now, "last_error": None}
        elif row.attempts <= len(RETRY_DELAYS):
            nxt = now + RETRY_DELAYS[row.attempts - 1]
            outcome, values = "retry", {"status": "pending", "next_attempt_at": nxt, "last_error": error}
            details.update(error=error, next_attempt_at=nxt.isoformat())
        else:
            outcome, values = "failed", {"status": "failed", "last_error": error, "next_attempt_at": None}
            details.update(error=error)
        with self.runtime.db.transaction() as session:
            done = session.execute(update(OutboxMessage).where(OutboxMessage.id == row.id,
                                                               OutboxMessage.status == "sending").values(**values))
            if done.rowcount:
                self._audit(session, instance_id=row.instance_id, action=f"notification_{outcome}", now=now,
                            details=details)
        if error:
            log.warning("courriel %s pour %s : %s (%s)", row.id, row.login, error, outcome)
        return outcome

    def _release_stale(self, now: datetime) -> None:
        with self.runtime.db.transaction() as session:
            session.execute(update(OutboxMessage)
                            .where(OutboxMessage.status == "sending", OutboxMessage.claimed_at < now - SENDING_LEASE)
                            .values(status="pending", next_attempt_at=now,
                                    last_error="envoi interrompu (processus arrêté pendant l'envoi)"))

    # scheduling --------------------------------------------------------------------------------
    def next_wake(self) -> datetime | None:
        from arsflow.engine.people.digest import next_digest_at
        with self.runtime.db.read() as session:
            retry = session.scalar(select(func.min(OutboxMessage.next_attempt_at))
                                   .where(OutboxMessage.status == "pending"))
        candidates = [t for t in (self.next_deadline_at, retry if self.mail.enabled else None,
                                  next_digest_at(self.runtime)) if t is not None]
        return min(candidates) if candidates else None

    def run_jobs(self) -> dict:
        """One pass: reminders/escalations due, today's digests once the hour has come, delivery."""
        from arsflow.engine.people.digest import queue_due_digests
        report = {"issued": 0, "digests": 0, "sent": 0, "retry": 0, "failed": 0}
        # Each step on its own: a failure in one never holds back the others (delivery above all).
        for step in (lambda: {"issued": self.scan_deadlines()},
                     lambda: {"digests": queue_due_digests(self.runtime, self)}, self.deliver):
            try:
                report.update(step())
            except Exception:
                log.exception("notifications : une étape a échoué")
        return report


def _task_label(task: HumanTask) -> str:
    subject = (task.properties or {}).get("subject")
    return f"{task.name} — {subject}" if subject else (task.name or task.element_id)


def install(runtime, mail: MailSettings | None = None) -> Notifier:
    """Plug notifications into a runtime (idempotent): service topics `notification` and
    `reassign`, and their effect handlers inside each operation's transaction."""
    notifier = getattr(runtime, "notifier", None)
    if notifier is not None:
        if mail is not None:
            notifier.mail = mail
        return notifier
    notifier = Notifier(runtime, mail)
    runtime.notifier = notifier
    runtime.services.register("notification", notification_service)
    runtime.services.register("reassign", reassign_service)
    runtime.effect_handlers["notification"] = notifier.on_notification
    runtime.effect_handlers["reassign"] = notifier.on_reassign
    return notifier


class NotificationScheduler:
    """APScheduler job next to the timer sweep: runs `Notifier.run_jobs` at the next reminder,
    retry or digest instant, at least every minute, and at once when an operation commits."""
    MAX_SLEEP = timedelta(seconds=60)
    JOB_ID = "arsflow-notifications"

    def __init__(self, runtime, scheduler, stopped: threading.Event):
        self.runtime = runtime
        self.notifier = install(runtime)
        self.scheduler = scheduler
        self._stopped = stopped
        self._running = threading.Lock()
        self._again = False
        self._next_run = 0.0  # wall-clock time of the run already scheduled
        self._last_end = 0.0

    def start(self) -> None:
        after = getattr(self.runtime, "after_commit", None)
        if isinstance(after, list):
            after.append(self.wake)
        self._schedule(timedelta(0))

    # Commits wake the notifier at most once per MIN_GAP: a sweep firing 2,000 timers commits
    # 2,000 times, and re-running the notification queries after each one starved the sweep.
    MIN_GAP = 1.0

    def wake(self, *_args, **_kwargs) -> None:
        self._again = True
        if self._running.locked() or self._stopped.is_set():
            return  # the running pass reschedules itself (after MIN_GAP) when woken meanwhile
        now = time.time()
        at = max(now, self._last_end + self.MIN_GAP)
        if now <= self._next_run <= at:
            return  # a pass is already due by then
        self._schedule(timedelta(seconds=at - now))

    def _schedule(self, delay: timedelta) -> None:
        # APScheduler runs on the wall clock; the engine clock may be simulated, so only the
        # delay until the next instant is carried over (as the timer sweep does).
        run_date = datetime.now(timezone.utc) + max(delay, timedelta(0))
        self._next_run = run_date.timestamp()
        self.scheduler.add_job(self.run, "date", run_date=run_date, id=self.JOB_ID, replace_existing=True,
                               misfire_grace_time=None, max_instances=4, coalesce=True)

    def run(self) -> None:
        if not self._running.acquire(blocking=False):
            return  # another pass is running: it will see what woke this one
        try:
            self._pass()
        finally:
            self._last_end = time.time()
            self._running.release()
        if not self._stopped.is_set():  # woken during the pass: again after MIN_GAP
            gap = timedelta(seconds=self.MIN_GAP)
            self._schedule(min(self._delay, gap) if self._again else self._delay)

    def _pass(self) -> None:
        self._again = False
        try:
            report = self.notifier.run_jobs()
            if any(report.values()):
                log.info("notifications : %s", report)
        except Exception:  # keep the scheduler alive; rows stay in the outbox
            log.exception("échec du traitement des notifications")
        now = self.runtime.now()
        try:
            nxt = self.notifier.next_wake()
        except Exception:
            log.exception("échec du calcul du prochain réveil des notifications")
            nxt = None
        delay = self.MAX_SLEEP if nxt is None else min(max(nxt - now, timedelta(0)), self.MAX_SLEEP)
        if self._again:
            delay = timedelta(seconds=self.MIN_GAP)
        self._delay = delay
