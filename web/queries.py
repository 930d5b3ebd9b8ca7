"""Read-only queries of the inbox, built on `Runtime.visible_tasks_query` so that every
list, count and page applies the engine's own visibility rule.

Pagination is keyset ("after this due date and id"), never OFFSET: page 5,000 of
100,000 open tasks costs what page 1 costs. The order "by due date, tasks without a due
date last" is walked as two index-friendly sections (dated tasks, then undated ones)
instead of an `ORDER BY due_at IS NULL` that no index can serve.
"""
from __future__ import annotations

import base64
import binascii
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from arsflow.engine.errors import InvalidInput
from arsflow.engine.models import HumanTask, Instance, ProcessDefinition
from arsflow.engine.runtime import Runtime
from arsflow.engine.time.clock import ensure_utc
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session

SCOPES = ("mine", "groups", "all")


@contextmanager
def reading(rt: Runtime):
    """`rt.db.read()` whose loaded rows stay usable after it: they are detached before the
    engine's closing rollback, which would otherwise expire them."""
    with rt.db.read() as session:
        try:
            yield session
        finally:
            session.expunge_all()


@dataclass
class TaskFilters:
    """What the inbox (and GET /api/v1/tasks) may filter on."""
    scope: str = "mine"            # mine: assigned to me; groups: claimable; all: both
    process_key: str | None = None
    territory: str | None = None
    overdue: bool = False
    this_week: bool = False
    order: str = "asc"             # by due date: asc (soonest first) or desc

    @classmethod
    def from_args(cls, args, default_scope: str = "mine") -> "TaskFilters":
        scope = args.get("scope") or default_scope
        if scope not in SCOPES:
            raise InvalidInput(f"portée « {scope} » inconnue (attendu : mine, groups ou all)")
        order = args.get("tri") or args.get("order") or "asc"
        if order not in ("asc", "desc"):
            raise InvalidInput(f"tri « {order} » inconnu (attendu : asc ou desc)")
        return cls(scope=scope, process_key=(args.get("procedure") or args.get("process_key") or None),
                   territory=(args.get("territoire") or args.get("territory") or None),
                   overdue=_flag(args.get("en_retard") or args.get("overdue")),
                   this_week=_flag(args.get("cette_semaine") or args.get("due_this_week")), order=order)


def _flag(value) -> bool:
    return str(value or "").lower() in ("1", "true", "on", "oui", "yes")


def task_query(rt: Runtime, session: Session, login: str, filters: TaskFilters, now: datetime,
               week_end: datetime | None = None):
    """Open tasks the user may see, filtered; not yet ordered."""
    query = rt.visible_tasks_query(session, login).where(HumanTask.state == "open")
    if filters.scope == "mine":
        query = query.where(HumanTask.assignee == login)
    elif filters.scope == "groups":
        query = query.where(HumanTask.assignee.is_(None))
    else:
        query = query.where(or_(HumanTask.assignee.is_(None), HumanTask.assignee == login))
    if filters.process_key:
        query = query.where(HumanTask.process_key == filters.process_key)
    if filters.territory:
        query = query.where(exists().where(Instance.id == HumanTask.instance_id,
                                           Instance.territory == filters.territory))
    if filters.overdue:
        query = query.where(HumanTask.due_at <= now)
    if filters.this_week and week_end is not None:
        query = query.where(HumanTask.due_at > now, HumanTask.due_at < week_end)
    return query


def capped_count(session: Session, query, cap: int) -> tuple[int, bool]:
    """Count up to `cap` rows: a tab label never scans 100,000 rows to say "10 000+"."""
    inner = query.with_only_columns(HumanTask.id).order_by(None).limit(cap + 1).subquery()
    total = session.scalar(select(func.count()).select_from(inner))
    return min(total, cap), total > cap


# -- keyset pagination ------------------------------------------------------------------------

@dataclass
class Cursor:
    due: datetime | None
    task_id: str

    def encode(self) -> str:
        raw = f"{self.due.isoformat() if self.due else '-'}|{self.task_id}"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> "Cursor":
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            due, task_id = raw.split("|", 1)
            moment = None if due == "-" else ensure_utc(datetime.fromisoformat(due))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise InvalidInput("curseur de pagination invalide : revenez à la première page") from None
        if not task_id or len(task_id) > 64:
            raise InvalidInput("curseur de pagination invalide : revenez à la première page")
        return cls(moment, task_id)

    @classmethod
    def of(cls, task: HumanTask) -> "Cursor":
        return cls(task.due_at, task.id)


@dataclass
class Page:
    items: list = field(default_factory=list)
    next_cursor: str | None = None
    prev_cursor: str | None = None


def _section(query, dated: bool, ascending: bool, cursor: Cursor | None, limit: int, session: Session):
    """Rows of one section (dated or undated tasks) strictly after `cursor` in the given
    direction; `cursor` None means from the section's start."""
    if dated:
        query = query.where(HumanTask.due_at.is_not(None))
        if cursor is not None:
            if ascending:
                query = query.where(or_(HumanTask.due_at > cursor.due,
                                        and_(HumanTask.due_at == cursor.due, HumanTask.id > cursor.task_id)))
            else:
                query = query.where(or_(HumanTask.due_at < cursor.due,
                                        and_(HumanTask.due_at == cursor.due, HumanTask.id < cursor.task_id)))
        order = (HumanTask.due_at.asc(), HumanTask.id.asc()) if ascending else \
            (HumanTask.due_at.desc(), HumanTask.id.desc())
    else:
        query = query.where(HumanTask.due_at.is_(None))
        if cursor is not None:
            query = query.where(HumanTask.id > cursor.task_id if ascending else HumanTask.id < cursor.task_id)
        order = (HumanTask.id.asc(),) if ascending else (HumanTask.id.desc(),)
    return list(session.scalars(query.order_by(*order).limit(limit)))


def _walk(session, query, ascending: bool, forward: bool, cursor: Cursor | None, limit: int) -> list:
    """Up to `limit` rows after `cursor` in the total order (dated tasks first, undated
    last), walking forward or backward. Backward walks the sections in reverse."""
    sections = [True, False] if forward else [False, True]
    direction = ascending if forward else not ascending
    rows: list = []
    started = cursor is None
    for dated in sections:
        if not started:
            if (cursor.due is not None) != dated:
                continue  # the cursor lies in the other section
            rows += _section(query, dated, direction, cursor, limit - len(rows), session)
            started = True
        else:
            rows += _section(query, dated, direction, None, limit - len(rows), session)
        if len(rows) >= limit:
            break
    return rows


def paginate(session: Session, query, *, order: str = "asc", limit: int = 20,
             after: str | None = None, before: str | None = None) -> Page:
    ascending = order != "desc"
    if before:
        rows = _walk(session, query, ascending, False, Cursor.decode(before), limit + 1)
        has_prev = len(rows) > limit
        rows = list(reversed(rows[:limit]))
        has_next = True
    else:
        rows = _walk(session, query, ascending, True, Cursor.decode(after) if after else None, limit + 1)
        has_next = len(rows) > limit
        rows = rows[:limit]
        has_prev = after is not None
    page = Page(items=rows)
    if rows and has_next:
        page.next_cursor = Cursor.of(rows[-1]).encode()
    if rows and has_prev:
        page.prev_cursor = Cursor.of(rows[0]).encode()
    return page


def instances_by_id(session: Session, ids) -> dict[int, Instance]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    return {i.id: i for i in session.scalars(select(Instance).where(Instance.id.in_(ids)))}


def process_names(session: Session) -> dict[str, str]:
    """Latest name of each deployed process, by key (small table)."""
    names: dict[str, str] = {}
    for key, name, _version in session.execute(select(ProcessDefinition.key, ProcessDefinition.name,
                                                      ProcessDefinition.version)
                                               .order_by(ProcessDefinition.key, ProcessDefinition.version)):
        names[key] = name or key
    return names


# -- instance access ----------------------------------------------------------------------------

def may_view_instance(rt: Runtime, session: Session, instance: Instance, login: str, groups) -> bool:
    """Initiator, anyone who has or had a task in it (assignee, completer, candidate),
    managers and deployers."""
    if {rt.settings.managers_group, rt.settings.deployers_group} & set(groups):
        return True
    if instance.initiator and instance.initiator == login:
        return True
    visible = rt.visible_tasks_query(session, login).where(HumanTask.instance_id == instance.id)
    if session.scalar(visible.with_only_columns(HumanTask.id).limit(1)) is not None:
        return True
    return bool(session.scalar(select(exists().where(HumanTask.instance_id == instance.id,
                                                     HumanTask.completed_by == login))))


def visible_task_ids(rt: Runtime, session: Session, instance_id: int, login: str) -> set[str]:
    query = rt.visible_tasks_query(session, login).where(HumanTask.instance_id == instance_id)
    ids = set(session.scalars(query.with_only_columns(HumanTask.id)))
    ids |= set(session.scalars(select(HumanTask.id).where(HumanTask.instance_id == instance_id,
                                                          HumanTask.completed_by == login)))
    return ids


def sees_everything(rt: Runtime, groups) -> bool:
    return bool({rt.settings.managers_group, rt.settings.deployers_group} & set(groups))


def filter_show(rt: Runtime, session: Session, data: dict, login: str, groups) -> dict:
    """`rt.show()` without what the user may not see: other people's tasks are listed only
    to managers and deployers, and the data submitted in them is hidden."""
    if sees_everything(rt, groups):
        return data
    allowed = visible_task_ids(rt, session, int(data["id"]), login)
    data = dict(data)
    data["tasks"] = [t for t in data.get("tasks", []) if t["id"] in allowed]
    audit = []
    for entry in data.get("audit", []):
        if entry.get("task_id") and entry["task_id"] not in allowed:
            entry = dict(entry, details={}, hidden=True)
        audit.append(entry)
    data["audit"] = audit
    return data
