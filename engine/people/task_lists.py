"""Lists of tasks as one person sees them, walked in due-date order by index.

A task is visible to its assignee and to its candidates (candidate users, members of
candidate groups). Each source of visibility is its own index-ordered stream:
"assigned to me" walks human_tasks(assignee, state, due_at, id); "offered to group G"
walks task_candidates(kind, name, state, due_at, task_id), whose rows repeat the task's
state and due date for that purpose. A page is the merge of the streams' first rows, so
it costs the same whether the person sees ten tasks or a hundred thousand. A single
`visible_clause` (EXISTS semi-join, probed through the candidates' primary key) serves
bounded counts and one-task checks.

Order: by due date then id, tasks without a due date after every dated one; each part
is walked as its own index range (no `ORDER BY due_at IS NULL`, which no index serves).
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from arsflow.engine.models import HumanTask, TaskCandidate

OPEN = "open"


def visible_clause(login: str, groups) -> object:
    """WHERE clause: the task is assigned to `login` or offered to them or their groups."""
    offered = [and_(TaskCandidate.kind == "user", TaskCandidate.name == login)]
    if groups:
        offered.append(and_(TaskCandidate.kind == "group", TaskCandidate.name.in_(sorted(groups))))
    return or_(HumanTask.assignee == login,
               exists().where(TaskCandidate.task_id == HumanTask.id, or_(*offered)))


@dataclass
class Stream:
    """One index-ordered source of rows: a select of HumanTask and its ordering columns."""
    query: object
    due: object
    id: object


@dataclass
class TaskList:
    """The streams of one list, and the disjoint queries whose bounded counts add up to its
    size."""
    streams: list = field(default_factory=list)
    count_queries: list = field(default_factory=list)

    def where(self, *clauses) -> "TaskList":
        return replace(self, streams=[replace(s, query=s.query.where(*clauses)) for s in self.streams],
                       count_queries=[replace(q, query=q.query.where(*clauses)) for q in self.count_queries])

    def where_due(self, build) -> "TaskList":
        """A condition on the due date, written against each stream's own due column (so that
        the stream's index range applies)."""
        return replace(self, streams=[replace(s, query=s.query.where(build(s.due))) for s in self.streams],
                       count_queries=[replace(q, query=q.query.where(build(q.due))) for q in self.count_queries])


def task_list(login: str | None, groups=(), scope: str = "all", state: str = OPEN) -> TaskList:
    """Tasks in `state` that `login` sees. scope "mine": assigned to them; "groups": not
    assigned, offered to them or their groups; "all": both; "visible": every task they may
    see (also those offered to them but taken by someone else). `login` None: every task."""
    if login is None:
        return TaskList([Stream(select(HumanTask).where(HumanTask.state == state), HumanTask.due_at, HumanTask.id)],
                        [Stream(select(HumanTask.id).where(HumanTask.state == state), HumanTask.due_at, HumanTask.id)])
    streams = []
    if scope in ("mine", "all", "visible"):
        streams.append(Stream(select(HumanTask).where(HumanTask.assignee == login, HumanTask.state == state),
                              HumanTask.due_at, HumanTask.id))
    if scope in ("groups", "all", "visible"):
        for kind, name in [("user", login)] + [("group", g) for g in sorted(groups)]:
            query = (select(HumanTask).join(TaskCandidate, TaskCandidate.task_id == HumanTask.id)
                     .where(TaskCandidate.kind == kind, TaskCandidate.name == name, TaskCandidate.state == state))
            if scope != "visible":
                query = query.where(HumanTask.assignee.is_(None))
            streams.append(Stream(query, TaskCandidate.due_at, TaskCandidate.task_id))
    # Counts: "assigned to me", then each candidate stream without the tasks an earlier one
    # already counted (a primary-key probe): disjoint parts, each read by its own index and
    # stopped at the cap, whether the person sees ten tasks or a hundred thousand.
    counts = []
    if scope in ("mine", "all"):
        counts.append(Stream(select(HumanTask.id).where(HumanTask.state == state, HumanTask.assignee == login),
                             HumanTask.due_at, HumanTask.id))
    if scope in ("groups", "all"):
        earlier = []
        for kind, name in [("user", login)] + [("group", g) for g in sorted(groups)]:
            query = (select(TaskCandidate.task_id).join(HumanTask, HumanTask.id == TaskCandidate.task_id)
                     .where(TaskCandidate.kind == kind, TaskCandidate.name == name, TaskCandidate.state == state,
                            HumanTask.assignee.is_(None)))
            if earlier:
                seen = aliased(TaskCandidate)
                query = query.where(~exists().where(seen.task_id == TaskCandidate.task_id,
                                                    or_(*[and_(seen.kind == k, seen.name == n) for k, n in earlier])))
            counts.append(Stream(query, TaskCandidate.due_at, TaskCandidate.task_id))
            earlier.append((kind, name))
    if scope == "visible":
        counts.append(Stream(select(HumanTask.id).where(HumanTask.state == state, visible_clause(login, groups)),
                             HumanTask.due_at, HumanTask.id))
    return TaskList(streams, counts)


def capped_count(session: Session, tasks: TaskList, cap: int) -> tuple[int, bool]:
    """Count up to `cap` rows: a tab label never scans 100,000 rows to say "1 000+"."""
    total = 0
    for part in tasks.count_queries:
        inner = part.query.order_by(None).limit(cap + 1 - total).subquery()
        total += session.scalar(select(func.count()).select_from(inner))
        if total > cap:
            break
    return min(total, cap), total > cap


# -- walking in order ---------------------------------------------------------------------

def section(session: Session, tasks: TaskList, dated: bool, ascending: bool,
            cursor: tuple[datetime | None, str] | None, limit: int) -> list:
    """Up to `limit` distinct rows of one section (dated or undated tasks) strictly after
    `cursor` = (due, id) in the given direction, merged from every stream."""
    runs = []
    for stream in tasks.streams:
        query = stream.query
        if dated:
            query = query.where(stream.due.is_not(None))
            if cursor is not None:
                due, tid = cursor
                if ascending:
                    query = query.where(or_(stream.due > due, and_(stream.due == due, stream.id > tid)))
                else:
                    query = query.where(or_(stream.due < due, and_(stream.due == due, stream.id < tid)))
            order = (stream.due.asc(), stream.id.asc()) if ascending else (stream.due.desc(), stream.id.desc())
        else:
            query = query.where(stream.due.is_(None))
            if cursor is not None:
                query = query.where(stream.id > cursor[1] if ascending else stream.id < cursor[1])
            order = (stream.id.asc(),) if ascending else (stream.id.desc(),)
        runs.append(list(session.scalars(query.order_by(*order).limit(limit))))
    if len(runs) == 1:
        return runs[0]
    # A task offered to two of my groups comes in two streams: keep it once. Taking
    # `limit` rows from each stream is enough: a row beyond that in its own stream has
    # `limit` distinct rows before it.
    key = (lambda t: (t.due_at, t.id)) if dated else (lambda t: t.id)
    merged = heapq.merge(*runs, key=key, reverse=not ascending)
    rows, seen = [], set()
    for task in merged:
        if task.id in seen:
            continue
        seen.add(task.id)
        rows.append(task)
        if len(rows) >= limit:
            break
    return rows


def walk(session: Session, tasks: TaskList, ascending: bool, forward: bool,
         cursor: tuple[datetime | None, str] | None, limit: int) -> list:
    """Up to `limit` rows after `cursor` in the total order (dated tasks first, undated
    last), forward or backward (backward walks the sections in reverse)."""
    sections = [True, False] if forward else [False, True]
    direction = ascending if forward else not ascending
    rows: list = []
    started = cursor is None
    for dated in sections:
        if not started:
            if (cursor[0] is not None) != dated:
                continue  # the cursor lies in the other section
            rows += section(session, tasks, dated, direction, cursor, limit - len(rows))
            started = True
        else:
            rows += section(session, tasks, dated, direction, None, limit - len(rows))
        if len(rows) >= limit:
            break
    return rows


def list_tasks(session: Session, login: str | None, groups=(), *, instance_id=None, overdue_before=None,
               state: str = OPEN, limit: int = 200, offset: int = 0) -> list[HumanTask]:
    """Tasks `login` may see (assigned to them or offered to them; None: every task), soonest
    due first, undated last."""
    listing = task_list(login, groups, scope="visible", state=state)
    if instance_id is not None:
        listing = listing.where(HumanTask.instance_id == int(instance_id))
    if overdue_before is not None:
        listing = listing.where_due(lambda due: due < overdue_before)
    return walk(session, listing, True, True, None, limit + offset)[offset:]


def task_json(task: HumanTask, **override) -> dict:
    data = {
        "id": task.id, "name": task.name, "instance_id": task.instance_id, "process_key": task.process_key,
        "element_id": task.element_id, "lane": task.lane, "assignee": task.assignee,
        "candidate_groups": task.candidate_groups, "candidate_users": task.candidate_users,
        "due_at": _iso(task.due_at), "follow_up_at": _iso(task.follow_up_at), "priority": task.priority,
        "form": task.form_key, "form_id": task.form_id, "properties": task.properties, "state": task.state,
        "created_at": _iso(task.created_at), "completed_at": _iso(task.completed_at),
        "completed_by": task.completed_by,
    }
    data.update(override)
    return data


def _iso(value):
    return value.isoformat() if value is not None else None
