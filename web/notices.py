"""Notifications in the app, not only by email: the reminders, escalations and messages the
engine addressed to a person, newest first, with a badge in the header for what came since
the list was last opened."""
from __future__ import annotations

from arsflow.engine.models import Notification, OutboxMessage, User
from arsflow.web import get_runtime
from arsflow.web.security import require_login
from flask import Blueprint, Flask, g, render_template
from sqlalchemy import func, select, update

bp = Blueprint("notices", __name__)
bp.before_request(require_login)

LIST_SIZE = 50
BADGE_CAP = 99
KIND_LABELS = {"reminder": "Rappel", "escalation": "Escalade", "notification": "Message", "digest": "Récapitulatif"}


@bp.route("/notifications")
def index():
    rt = get_runtime()
    login = g.user.login
    with rt.db.transaction() as session:
        seen_at = session.scalar(select(User.notifications_seen_at).where(User.login == login))
        rows = session.execute(
            select(OutboxMessage.created_at, OutboxMessage.subject, Notification.kind, Notification.link,
                   Notification.body, OutboxMessage.instance_id)
            .outerjoin(Notification, Notification.id == OutboxMessage.notification_id)
            .where(OutboxMessage.login == login)
            .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()).limit(LIST_SIZE)).all()
        session.execute(update(User).where(User.login == login).values(notifications_seen_at=rt.now()))
    items = [{"at": row.created_at, "subject": row.subject, "kind": KIND_LABELS.get(row.kind or "", "Message"),
              "link": row.link, "body": row.body, "instance_id": row.instance_id,
              "new": seen_at is None or row.created_at > seen_at} for row in rows]
    return render_template("notifications.html", items=items, now=rt.now())


def unseen_count() -> int:
    """Notifications addressed to the signed-in person since the list was last opened."""
    user = g.get("user")
    if user is None:
        return 0
    rt = get_runtime()
    with rt.db.read() as session:
        seen_at = session.scalar(select(User.notifications_seen_at).where(User.login == user.login))
        query = select(OutboxMessage.id).where(OutboxMessage.login == user.login)
        if seen_at is not None:
            query = query.where(OutboxMessage.created_at > seen_at)
        return session.scalar(select(func.count()).select_from(query.limit(BADGE_CAP + 1).subquery()))


def register(app: Flask) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals["unseen_notifications"] = unseen_count
