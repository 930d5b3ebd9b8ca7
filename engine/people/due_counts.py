"""How many open tasks fall due, per procedure and territory, at any volume.

Counting the overdue tasks row by row grows with them (202,705 overdue tasks at 54k
instances: 4.8 s per dashboard). Triggers on human_tasks (migration 0012) append +1/-1 per
UTC due hour to task_due_deltas whenever a task opens, closes or is re-dated; `fold` adds
those deltas into task_due_tallies (one row per hour, procedure and territory) and deletes
them. A total is then the sum of the whole hours of its window (tallies plus deltas not yet
folded) and an exact count of the tasks due in its partial first and last hours, read along
human_tasks (state, due_at): its cost follows the hours that hold tasks in the window and
the tasks due on its two edge hours, not the tasks in it. (Per day, an edge held every task
due that day: deadlines fall due by the thousand at the same end-of-day instant.)

Appending deltas rather than updating a counter keeps concurrent operations off each
other's rows (a shared counter row would serialise every operation touching that hour)."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select, text

from arsflow.engine.models import HumanTask, Instance, TaskDueDelta, TaskDueTally

FOLD_BATCH = 20_000  # deltas folded per transaction

_FOLD_POSTGRES = text("""
WITH moved AS (
  DELETE FROM task_due_deltas WHERE id IN (
    SELECT id FROM task_due_deltas ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED)
  RETURNING due_hour, process_key, territory, delta)
INSERT INTO task_due_tallies (due_hour, process_key, territory, open_tasks)
SELECT due_hour, process_key, territory, sum(delta) FROM moved
GROUP BY due_hour, process_key, territory ORDER BY due_hour, process_key, territory
ON CONFLICT (due_hour, process_key, territory)
DO UPDATE SET open_tasks = task_due_tallies.open_tasks + excluded.open_tasks""")

_FOLD_SQLITE = text("""
INSERT INTO task_due_tallies (due_hour, process_key, territory, open_tasks)
SELECT due_hour, process_key, territory, sum(delta) FROM task_due_deltas WHERE id <= :last
GROUP BY due_hour, process_key, territory
ON CONFLICT (due_hour, process_key, territory)
DO UPDATE SET open_tasks = task_due_tallies.open_tasks + excluded.open_tasks""")


def fold(conn, batch: int = FOLD_BATCH) -> int:
    """Move up to `batch` deltas into the tallies, in the caller's transaction; returns how
    many tally rows changed. Several processes may fold at once (PostgreSQL: each takes the
    deltas the others have not locked; SQLite: one writer at a time)."""
    if conn.dialect.name == "postgresql":
        changed = conn.execute(_FOLD_POSTGRES, {"n": batch}).rowcount
    else:
        last = conn.execute(text("SELECT max(id) FROM (SELECT id FROM task_due_deltas ORDER BY id LIMIT :n)"),
                            {"n": batch}).scalar()
        if last is None:
            return 0
        changed = conn.execute(_FOLD_SQLITE, {"last": last}).rowcount
        conn.execute(text("DELETE FROM task_due_deltas WHERE id <= :last"), {"last": last})
    if changed:
        conn.execute(text("DELETE FROM task_due_tallies WHERE open_tasks = 0"))
    return changed


def _hour(instant: datetime) -> str:
    return instant.astimezone(timezone.utc).strftime("%Y-%m-%d %H")


def _next_hour(instant: datetime) -> datetime:
    return instant.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def _whole_hours(session, first: str, last: str) -> dict:
    """Open tasks due in the UTC hours first ≤ hour < last, by (procedure, territory)."""
    counts: dict = defaultdict(int)
    if first >= last:
        return counts
    for model, column in ((TaskDueTally, TaskDueTally.open_tasks), (TaskDueDelta, TaskDueDelta.delta)):
        rows = session.execute(select(model.process_key, model.territory, func.sum(column))
                               .where(model.due_hour >= first, model.due_hour < last)
                               .group_by(model.process_key, model.territory))
        for key, territory, n in rows:
            counts[(key, territory)] += int(n or 0)
    return counts


def _exact(session, after: datetime | None, until: datetime, until_inclusive: bool) -> dict:
    """Open tasks with after < due_at ≤ until (or < until), counted row by row."""
    where = [HumanTask.state == "open", HumanTask.due_at <= until if until_inclusive else HumanTask.due_at < until]
    if after is not None:
        where.append(HumanTask.due_at > after)
    rows = session.execute(select(HumanTask.process_key, Instance.territory, func.count())
                           .join(Instance, Instance.id == HumanTask.instance_id)
                           .where(*where).group_by(HumanTask.process_key, Instance.territory))
    return {(key, territory or ""): n for key, territory, n in rows}


def window(session, after: datetime | None, until: datetime) -> dict:
    """Open tasks with after < due_at ≤ until (after None: every earlier one), by
    (procedure, territory; '' for none)."""
    counts: dict = defaultdict(int)
    last_hour = _next_hour(until) - timedelta(hours=1)  # start of until's UTC hour
    if after is not None and _next_hour(after) > last_hour:  # both ends in one hour
        parts = [_exact(session, after, until, True)]
    else:
        first_whole = "0000" if after is None else _hour(_next_hour(after))
        parts = [_whole_hours(session, first_whole, _hour(last_hour)),
                 _exact(session, last_hour - timedelta(microseconds=1), until, True)]
        if after is not None:
            parts.append(_exact(session, after, _next_hour(after), False))
    for part in parts:
        for group, n in part.items():
            counts[group] += n
    return {group: n for group, n in counts.items() if n}
