"""The daily digest: one email per person at ARSFLOW_DIGEST_HOUR (ARS time zone) with the
tasks they may see that are overdue or due this week, the tacit avis acquired yesterday on
the consultations they work on, and — for digest-only people — the notifications held for it.

Composed once per (person, local day) — a `digest_runs` row is the claim — and sent through
the outbox like any notification, so it shares its retries. Nothing to say, no email.
"""
from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from arsflow.engine.errors import InvalidInput
from arsflow.engine.models import DigestRun, HumanTask, Instance, Notification, OutboxMessage, User
from arsflow.engine.people.mailer import fr_due, fr_instant, greeting, page
from arsflow.engine.time.durations import parse_instant
from arsflow.engine.time.legal_calendar import french_date
from sqlalchemy import exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

# Procedures whose `avis` variable maps each consulted body to {"status", "acquired_at", …}.
TACIT_PROCESS_KEYS = ("prs_consultation",)
MAX_LISTED = 50


def digest_hour(environ=None) -> int:
    environ = os.environ if environ is None else environ
    raw = str(environ.get("ARSFLOW_DIGEST_HOUR", "7")).strip()
    if not raw.isdigit() or not 0 <= int(raw) <= 23:
        raise InvalidInput(f"ARSFLOW_DIGEST_HOUR : heure invalide {raw!r} (entier de 0 à 23)")
    return int(raw)


def _local_midnight(day: date, zone) -> datetime:
    return datetime.combine(day, time()).replace(tzinfo=zone).astimezone(timezone.utc)


def next_digest_at(runtime, now: datetime | None = None) -> datetime:
    """The next digest instant after `now` (today's hour if still ahead, else tomorrow's)."""
    now = now or runtime.now()
    zone = runtime.settings.tzinfo
    local = now.astimezone(zone)
    at = datetime.combine(local.date(), time(digest_hour())).replace(tzinfo=zone)
    if at <= local:
        at = datetime.combine(local.date() + timedelta(days=1), time(digest_hour())).replace(tzinfo=zone)
    return at.astimezone(timezone.utc)


@dataclass
class DigestContent:
    overdue: list = field(default_factory=list)
    due_this_week: list = field(default_factory=list)
    tacit: list = field(default_factory=list)
    notices: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.overdue or self.due_this_week or self.tacit or self.notices)


def tacit_acquired(session, runtime, day: date) -> list[dict]:
    """Tacit avis acquired during local `day`, one entry per (instance, body)."""
    zone = runtime.settings.tzinfo
    start, end = _local_midnight(day, zone), _local_midnight(day + timedelta(days=1), zone)
    found = []
    # Acquiring an avis updates its instance, so the instance was updated at or after `start`.
    for inst in session.scalars(select(Instance).where(Instance.process_key.in_(TACIT_PROCESS_KEYS),
                                                       Instance.updated_at >= start)):
        avis = (inst.variables or {}).get("avis")
        if not isinstance(avis, dict):
            continue
        for body, entry in avis.items():
            if not isinstance(entry, dict) or entry.get("status") != "tacit" or not entry.get("acquired_at"):
                continue
            try:
                acquired = parse_instant(str(entry["acquired_at"]), zone)
            except ValueError:
                continue
            if start <= acquired < end:
                found.append({"instance_id": inst.id, "business_key": inst.business_key, "body": body,
                              "acquired_at": acquired, "initiator": inst.initiator})
    return sorted(found, key=lambda e: (e["acquired_at"], e["instance_id"], e["body"]))


def collect(runtime, session, login: str, now: datetime, tacit: list[dict]) -> DigestContent:
    """What `login` should read today: only tasks they may see (assignee or candidate)."""
    zone = runtime.settings.tzinfo
    local = now.astimezone(zone)
    week_end = _local_midnight(local.date() + timedelta(days=7 - local.weekday()), zone)  # next Monday 00:00
    visible = runtime.visible_tasks_query(session, login).where(HumanTask.state == "open")
    content = DigestContent()
    for name, query in (("overdue", visible.where(HumanTask.due_at < now)),
                        ("due_this_week", visible.where(HumanTask.due_at >= now, HumanTask.due_at < week_end))):
        content.counts[name] = session.scalar(select(func.count()).select_from(query.subquery()))
        setattr(content, name, list(session.scalars(query.order_by(HumanTask.due_at, HumanTask.id).limit(MAX_LISTED))))
    if tacit:
        ids = sorted({e["instance_id"] for e in tacit})
        seen = set(session.scalars(runtime.visible_tasks_query(session, login)
                                   .where(HumanTask.instance_id.in_(ids))
                                   .with_only_columns(HumanTask.instance_id).distinct()))
        content.tacit = [e for e in tacit if e["instance_id"] in seen or e["initiator"] == login]
    content.notices = list(session.execute(
        select(OutboxMessage.id, Notification.subject, Notification.body, Notification.link, Notification.created_at)
        .join(Notification, Notification.id == OutboxMessage.notification_id)
        .where(OutboxMessage.login == login, OutboxMessage.status == "digest")
        .order_by(Notification.created_at, OutboxMessage.id)).all())
    return content


def _business_keys(session, tasks) -> dict:
    ids = sorted({t.instance_id for t in tasks})
    if not ids:
        return {}
    return dict(session.execute(select(Instance.id, Instance.business_key).where(Instance.id.in_(ids))).all())


def render(runtime, content: DigestContent, user: User, day: date, keys: dict, mail) -> tuple[str, str, str]:
    """(subject, plain text, HTML), in French."""
    zone = runtime.settings.tzinfo
    parts = []
    if content.counts.get("overdue"):
        parts.append(f"{content.counts['overdue']} tâche(s) en retard")
    if content.counts.get("due_this_week"):
        parts.append(f"{content.counts['due_this_week']} à échéance cette semaine")
    if content.tacit:
        parts.append(f"{len(content.tacit)} avis réputé(s) acquis hier")
    if content.notices:
        parts.append(f"{len(content.notices)} notification(s)")
    subject = f"Récapitulatif du {french_date(day)} : " + ", ".join(parts)

    def task_item(task: HumanTask, overdue: bool):
        label = task.name + (f" — {task.properties['subject']}" if (task.properties or {}).get("subject") else "")
        where = f"{task.process_key} n° {task.instance_id}" + (f", dossier {keys[task.instance_id]}"
                                                                if keys.get(task.instance_id) else "")
        when = ("en retard, échéance " if overdue else "échéance ") + fr_due(task.due_at, zone)
        return f"« {label} » ({where}) — {when}", mail.task_link(task.id)

    sections = []
    if content.overdue:
        sections.append((f"Tâches en retard ({content.counts['overdue']})",
                         [task_item(t, True) for t in content.overdue], content.counts["overdue"]))
    if content.due_this_week:
        sections.append((f"Tâches à échéance cette semaine ({content.counts['due_this_week']})",
                         [task_item(t, False) for t in content.due_this_week], content.counts["due_this_week"]))
    if content.tacit:
        sections.append((f"Avis réputés acquis hier ({len(content.tacit)})",
                         [(f"{e['body']} — consultation n° {e['instance_id']}"
                           + (f", dossier {e['business_key']}" if e["business_key"] else "")
                           + f" : avis tacite acquis le {fr_instant(e['acquired_at'], zone)}",
                           mail.instance_link(e["instance_id"])) for e in content.tacit], len(content.tacit)))
    if content.notices:
        sections.append((f"Notifications du jour ({len(content.notices)})",
                         [(n.subject + (f" — {n.body}" if n.body else ""), n.link) for n in content.notices],
                         len(content.notices)))

    intro = f"Voici votre récapitulatif du {french_date(day)}."
    lines = [greeting(user.display_name), "", intro]
    blocks = [f"<p>{html.escape(greeting(user.display_name))}</p>", f"<p>{html.escape(intro)}</p>"]
    for title, items, total in sections:
        lines += ["", title, "-" * len(title)]
        lines += [f"- {text}\n  {link}" if link else f"- {text}" for text, link in items]
        more = total - len(items)
        if more > 0:
            lines.append(f"… et {more} autre(s) : {mail.base_url}/taches")
        blocks.append(f"<h2 style=\"font-size:17px\">{html.escape(title)}</h2><ul>"
                      + "".join(f"<li>{html.escape(text)}"
                                + (f" — <a href=\"{html.escape(link, quote=True)}\">ouvrir</a>" if link else "")
                                + "</li>" for text, link in items)
                      + (f"<li>… et {more} autre(s)</li>" if more > 0 else "") + "</ul>")
    lines += ["", "-- ", "Récapitulatif quotidien d'arsflow, la corbeille de tâches de l'ARS."]
    return subject, "\n".join(lines) + "\n", page(subject, "\n".join(blocks))


def queue_due_digests(runtime, notifier, force: bool = False) -> int:
    """Compose today's digest for everyone who has not had it, once the hour has come
    (`force`: whatever the hour). Returns how many were queued for sending."""
    now = runtime.now()
    zone = runtime.settings.tzinfo
    local = now.astimezone(zone)
    if not force and local.hour < digest_hour():
        return 0
    day = local.date()
    with runtime.db.read() as session:
        done = exists().where(DigestRun.login == User.login, DigestRun.day == day.isoformat())
        logins = list(session.scalars(select(User.login).where(
            User.active.is_(True), User.email.is_not(None), User.email != "",
            User.notification_preference.in_(("immediate", "digest")), ~done).order_by(User.login)))
        if not logins:
            return 0
        tacit = tacit_acquired(session, runtime, day - timedelta(days=1))
    queued = 0
    for login in logins:
        try:
            queued += _queue_one(runtime, notifier, login, day, now, tacit)
        except (IntegrityError, OperationalError):
            continue  # another worker composed it
    return queued


def _queue_one(runtime, notifier, login: str, day: date, now: datetime, tacit: list) -> int:
    with runtime.db.transaction() as session:
        session.add(DigestRun(login=login, day=day.isoformat(), status="empty", at=now))
        session.flush()  # the claim: a second worker fails here
        user = session.get(User, login)
        content = collect(runtime, session, login, now, tacit)
        if content.empty:
            return 0
        subject, text, html_body = render(runtime, content, user, day, _business_keys(
            session, content.overdue + content.due_this_week), notifier.mail)
        notification_id = session.execute(insert(Notification).values(
            instance_id=None, task_id=None, element_id=None, kind="digest", subject=subject,
            body=text, link=f"{notifier.mail.base_url}/taches", created_at=now).returning(Notification.id)).scalar_one()
        outbox_id = session.execute(insert(OutboxMessage).values(
            notification_id=notification_id, instance_id=None, login=login, email=user.email, status="pending",
            subject=subject, text_body=text, html_body=html_body, attempts=0, next_attempt_at=now,
            created_at=now).returning(OutboxMessage.id)).scalar_one()
        if content.notices:
            session.execute(update(OutboxMessage).where(OutboxMessage.id.in_([n.id for n in content.notices]))
                            .values(status="digested", sent_at=now))
        session.execute(update(DigestRun).where(DigestRun.login == login, DigestRun.day == day.isoformat())
                        .values(status="queued", outbox_id=outbox_id))
        return 1
