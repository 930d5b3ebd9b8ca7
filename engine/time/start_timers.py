"""Timer and message start events: what waits for a process *definition* rather than an instance.

Deploying a version subscribes its message start events and schedules its timer start
events (the previous version's are withdrawn, as Camunda does). Both live in the tables
instances use (`timers`, `message_subscriptions`) with `definition_id` set and no instance:
one mechanism, swept by the same scheduler, for everything that waits.

Each occurrence of a timer start event fires exactly once: the firing transaction moves the
row to the next occurrence with a compare-and-set on its due instant, and creates the
instance in the same transaction. A second worker (or a restart replaying the sweep) finds
the row moved and does nothing; an occurrence missed while nothing ran fires at the next
sweep, once.
"""
from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, uuid5

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from arsflow.engine.time.durations import add_duration, is_cron, parse_cron, parse_cycle, parse_instant, timer_source
from arsflow.engine.models import MessageSubscription, ProcessDefinition, Timer

_T, _M = Timer.__table__, MessageSubscription.__table__
Q_DUE = (select(_T.c.id).where(_T.c.instance_id.is_(None), _T.c.status == "waiting",
                               _T.c.due_at <= bindparam("now")).order_by(_T.c.due_at).limit(bindparam("limit")))
Q_NEXT = (select(_T.c.due_at).where(_T.c.instance_id.is_(None), _T.c.status == "waiting")
          .order_by(_T.c.due_at).limit(1))


class StartTimerError(ValueError):
    pass


def _row_id(definition_id: int, element_id: str) -> str:
    return str(uuid5(NAMESPACE_URL, f"arsflow:start:{definition_id}:{element_id}"))


def _literal(info: dict) -> str:
    how, value = timer_source(info["timer_kind"], info["timer"] or "")
    if how != "literal":
        raise StartTimerError(f"minuterie de début « {info['id']} » : une expression n'a pas de variables "
                              "avant le démarrage, indiquez une valeur littérale")
    return value


def first_occurrence(info: dict, now: datetime, zone) -> tuple[datetime | None, dict]:
    """The first due instant of a timer start event deployed at `now`, and its state."""
    kind, value = info["timer_kind"], _literal(info)
    if kind == "timeDate":
        return parse_instant(value, zone), {"kind": kind, "text": value, "index": 0, "remaining": 1}
    if kind == "timeDuration":
        local = now.astimezone(zone)
        return add_duration(local, value).astimezone(now.tzinfo), {"kind": kind, "text": value, "index": 0,
                                                                   "remaining": 1}
    if is_cron(value):
        return parse_cron(value, zone).next_after(now), {"kind": "cron", "text": value, "index": 0,
                                                         "remaining": None}
    cycle = parse_cycle(value, zone)
    state = {"kind": kind, "text": value, "index": 0, "remaining": cycle.repetitions,
             "anchor": now.isoformat()}
    if cycle.repetitions == 0:
        return None, state
    return cycle.occurrence(0, now), state


def next_occurrence(state: dict, due: datetime, zone) -> tuple[datetime | None, dict]:
    """After the occurrence due at `due` fired: the next one (None: the timer is done)."""
    remaining = state.get("remaining")
    remaining = None if remaining is None else remaining - 1
    state = dict(state, index=state.get("index", 0) + 1, remaining=remaining)
    if remaining == 0:
        return None, state
    if state["kind"] == "cron":
        return parse_cron(state["text"], zone).next_after(due), state
    if state["kind"] == "timeCycle":
        cycle = parse_cycle(state["text"], zone)
        return cycle.occurrence(state["index"], parse_instant(state["anchor"])), state
    return None, state


def register(session: Session, definition: ProcessDefinition, spec, now: datetime, zone) -> None:
    """A new version is deployed: withdraw the older versions' start subscriptions and timers,
    subscribe and schedule this one's."""
    conn = session.connection()
    older = select(ProcessDefinition.id).where(ProcessDefinition.key == definition.key,
                                               ProcessDefinition.id != definition.id)
    conn.execute(_T.update().where(_T.c.definition_id.in_(older), _T.c.instance_id.is_(None),
                                   _T.c.status == "waiting").values(status="cancelled"))
    conn.execute(_M.update().where(_M.c.definition_id.in_(older), _M.c.instance_id.is_(None),
                                   _M.c.status == "waiting").values(status="closed"))
    for info in getattr(spec, "start_events", None) or []:
        if info["kind"] == "message":
            conn.execute(_M.insert().values(id=_row_id(definition.id, info["id"]), instance_id=None,
                                            definition_id=definition.id, element_id=info["id"],
                                            message_name=info["message"], status="waiting"))
        elif info["kind"] == "timer":
            due, state = first_occurrence(info, now, zone)
            conn.execute(_T.insert().values(
                id=_row_id(definition.id, info["id"]), instance_id=None, definition_id=definition.id,
                element_id=info["id"], name=info.get("name") or info["id"], kind=_KINDS[state["kind"]],
                due_at=due or now, status="waiting" if due else "fired", fired_at=None, details=state))


_KINDS = {"timeDate": "date", "timeDuration": "duration", "timeCycle": "cycle", "cron": "cycle"}


def due_ids(session: Session, now: datetime, limit: int) -> list[str]:
    return list(session.connection().execute(Q_DUE, {"now": now, "limit": limit}).scalars())


def next_due(session: Session):
    return session.connection().execute(Q_NEXT).scalar()


def claim_occurrence(session: Session, timer_id: str, now: datetime, zone, lock_rows: bool):
    """Move the row past its due occurrence (compare-and-set on `due_at`); returns the row as
    it was, or None if it is not due or another worker took this occurrence first."""
    query = select(_T).where(_T.c.id == timer_id, _T.c.status == "waiting")
    if lock_rows:
        query = query.with_for_update(skip_locked=True)
    conn = session.connection()
    row = conn.execute(query).first()
    if row is None or row.due_at > now:
        return None
    nxt, state = next_occurrence(row.details or {}, row.due_at, zone)
    result = conn.execute(update(_T).where(_T.c.id == timer_id, _T.c.status == "waiting",
                                           _T.c.due_at == row.due_at)
                          .values(due_at=nxt or row.due_at, status="waiting" if nxt else "fired",
                                  fired_at=now, details=state))
    return row if result.rowcount == 1 else None
