"""Read-only queries of the inbox, built on engine.task_lists so that every list, count
and page applies the engine's own visibility rule.

Pagination is keyset ("after this due date and id"), never OFFSET: page 5,000 of
100,000 open tasks costs what page 1 costs (engine.task_lists walks each source of
visibility by index and merges them).
"""
from __future__ import annotations

import base64
import binascii
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from arsflow.engine.errors import InvalidInput
from arsflow.engine.models import HumanTask, Instance, ProcessDefinition
from arsflow.engine.people import task_lists
from arsflow.engine.runtime import Runtime
from arsflow.engine.time.clock import ensure_utc
from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session, load_only

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
               week_end: datetime | None = None) -> task_lists.TaskList:
    """Open tasks the user may see, filtered: index-ordered streams (engine.task_lists)."""
    who = rt.actor(session, login)
    listing = task_lists.task_list(who.login, who.groups, scope=filters.scope)
    if filters.process_key:
        listing = listing.where(HumanTask.process_key == filters.process_key)
    if filters.territory:
        listing = listing.where(exists().where(Instance.id == HumanTask.instance_id,
                                               Instance.territory == filters.territory))
    if filters.overdue:
        listing = listing.where_due(lambda due: due <= now)
    if filters.this_week and week_end is not None:
        listing = listing.where_due(lambda due: and_(due > now, due < week_end))
    return listing


def capped_count(session: Session, listing: task_lists.TaskList, cap: int) -> tuple[int, bool]:
    """Count up to `cap` rows: a tab label never scans 100,000 rows to say "1 000+"."""
    return task_lists.capped_count(session, listing, cap)


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

    def key(self) -> tuple:
        return (self.due, self.task_id)


@dataclass
class Page:
    items: list = field(default_factory=list)
    next_cursor: str | None = None
    prev_cursor: str | None = None


def paginate(session: Session, listing: task_lists.TaskList, *, order: str = "asc", limit: int = 20,
             after: str | None = None, before: str | None = None) -> Page:
    ascending = order != "desc"
    if before:
        rows = task_lists.walk(session, listing, ascending, False, Cursor.decode(before).key(), limit + 1)
        has_prev = len(rows) > limit
        rows = list(reversed(rows[:limit]))
        has_next = True
    else:
        rows = task_lists.walk(session, listing, ascending, True,
                               Cursor.decode(after).key() if after else None, limit + 1)
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
    """The instances of a page of tasks, with what a task list shows of them: not their
    workflow, variables or projection, whose JSON (hundreds of KB for a consultation of 33
    bodies) a list would parse for nothing."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    return {i.id: i for i in session.scalars(select(Instance).options(load_only(*_LISTED))
                                             .where(Instance.id.in_(ids)))}


_LISTED = (Instance.id, Instance.process_key, Instance.business_key, Instance.territory, Instance.state)


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
    """`rt.show()` without what the user may not see, by one rule for tasks, audit and
    variables: a task the user may not see is not listed, its audit entries lose their
    details, and the variables it was the last to write are withheld too (listed by name in
    `hidden_variables`), so the instance's variables never reveal what its audit hides."""
    if sees_everything(rt, groups):
        return data
    allowed = visible_task_ids(rt, session, int(data["id"]), login)
    data = dict(data)
    data["tasks"] = [t for t in data.get("tasks", []) if t["id"] in allowed]
    data["documents"] = [d for d in data.get("documents", []) if not d.get("task_id") or d["task_id"] in allowed]
    audit, last_writer_hidden = [], {}
    for entry in data.get("audit", []):
        hidden = bool(entry.get("task_id")) and entry["task_id"] not in allowed
        written = (entry.get("details") or {}).get("data")
        if isinstance(written, dict):
            for key in written:
                last_writer_hidden[key] = hidden
        if hidden:
            entry = dict(entry, details={}, hidden=True)
        audit.append(entry)
    data["audit"] = audit
    withheld = sorted(k for k, hidden in last_writer_hidden.items() if hidden)
    if withheld:
        data["variables"] = {k: v for k, v in (data.get("variables") or {}).items() if k not in set(withheld)}
    data["hidden_variables"] = withheld
    return data
