"""Due timers shared by several workers: claim a batch under a lease, then fire each instance.

A worker claims up to `batch` due timers in one short transaction that writes its name and a
lease expiry on them (PostgreSQL picks them `FOR UPDATE SKIP LOCKED`, so two workers claiming
at once take different rows; on SQLite the claim is one conditional UPDATE, atomic under its
single writer). The claim commits before any engine step runs: the others skip those timers
while the lease runs and take the next ones, so no worker loads an instance another is firing
and none waits on another's lock. Each instance then fires in its own transaction, which
clears the lease with the fired status. The timers of an instance that fired nothing (taken by
a user operation meanwhile, or its step failed) are released at once; the lease of a worker
that died mid-batch expires after `ARSFLOW_TIMER_LEASE` seconds and any worker takes them.

No timer fires twice whatever the leases say: firing reads the instance under its row lock
(PostgreSQL) and writes it with a version check (both), and fires only what its projection
still holds due. The lease is what keeps workers off each other's work, as Camunda's job
acquisition does with LOCK_OWNER_/LOCK_EXP_TIME_.
"""
from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from sqlalchemy import bindparam, exists, or_, select
from sqlalchemy.engine import Connection

from arsflow.engine.models import Instance, Timer

_T, _I = Timer.__table__, Instance.__table__
LIVE_STATES = ("waiting", "running")  # an instance in incident or suspended keeps its timers waiting

# Free: nobody holds it, or the holder's lease ran out.
_FREE = or_(_T.c.lock_expires_at.is_(None), _T.c.lock_expires_at <= bindparam("now"))
_LIVE = exists().where(_I.c.id == _T.c.instance_id, _I.c.state.in_(LIVE_STATES))
# Walks the (status, due_at) index in order, as the next-due query does.
_DUE = (select(_T.c.id).where(_T.c.status == "waiting", _T.c.due_at <= bindparam("now"), _FREE, _LIVE)
        .order_by(_T.c.due_at).limit(bindparam("limit")))
_TAKE = dict(locked_by=bindparam("worker"), lock_expires_at=bindparam("expires"))
# PostgreSQL: lock the rows picked (skipping those another claim is writing), then lease them.
Q_PICK_PG = _DUE.with_for_update(skip_locked=True, of=_T)
S_LEASE_PG = (_T.update().where(_T.c.id.in_(bindparam("ids", expanding=True)))
              .values(**_TAKE).returning(_T.c.id, _T.c.instance_id, _T.c.due_at))
# SQLite: one statement, so nothing commits between the pick and the lease.
S_CLAIM_SQLITE = (_T.update().where(_T.c.id.in_(_DUE.scalar_subquery()))
                  .values(**_TAKE).returning(_T.c.id, _T.c.instance_id, _T.c.due_at))
S_RELEASE = (_T.update().where(_T.c.id.in_(bindparam("ids", expanding=True)), _T.c.locked_by == bindparam("worker"),
                               _T.c.status == "waiting")
             .values(locked_by=None, lock_expires_at=None))


def worker_name() -> str:
    """Who holds a lease: host, process and a per-runtime suffix (two runtimes in one process
    are two workers)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def claim(conn: Connection, worker: str, now: datetime, lease: timedelta, limit: int,
          postgres: bool) -> dict[int, list[str]]:
    """Lease up to `limit` free due timers of live instances to `worker`; returns their ids
    by instance, earliest due first. The caller commits before firing them."""
    params = {"now": now, "limit": limit, "worker": worker, "expires": now + lease}
    if postgres:
        ids = list(conn.execute(Q_PICK_PG, params).scalars())
        rows = conn.execute(S_LEASE_PG, dict(params, ids=ids)).all() if ids else []
    else:
        rows = conn.execute(S_CLAIM_SQLITE, params).all()
    by_instance: dict[int, list[str]] = {}
    for row in sorted(rows, key=lambda r: (r.due_at, r.id)):
        by_instance.setdefault(row.instance_id, []).append(row.id)
    return by_instance


def release(conn: Connection, worker: str, ids: list[str]) -> None:
    """Give back the claimed timers that did not fire, so the next sweep takes them at once."""
    if ids:
        conn.execute(S_RELEASE, {"ids": sorted(ids), "worker": worker})
