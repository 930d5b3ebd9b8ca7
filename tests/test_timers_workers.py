"""Timer sweeps across workers: each timer fires once, missed timers catch up at start."""
from __future__ import annotations

import threading
import time

import pytest
from arsflow.engine.config import Settings
from arsflow.engine.db import Database
from arsflow.engine.models import AuditEntry, Timer
from arsflow.engine.runtime import Runtime
from arsflow.engine.time.scheduler import TimerScheduler
from sqlalchemy import func, select

from tests.bpmn_builder import tacit_timer_process


def test_two_concurrent_sweepers_fire_each_timer_exactly_once(runtime, deploy, make_user, clock, db_url):
    if db_url.startswith("sqlite"):
        pytest.skip("concurrent sweepers are a PostgreSQL deployment (SKIP LOCKED); SQLite serialises writers")
    make_user("alice", "staff")
    deploy({"p.bpmn": tacit_timer_process()})
    ids = [runtime.start("p", actor="alice")["instance_id"] for _ in range(40)]
    clock.advance(days=3)
    workers = [Runtime(Database(db_url), Settings(database_url=db_url), clock=clock) for _ in range(2)]
    results = [0, 0]
    barrier = threading.Barrier(2)

    def sweep(i):
        barrier.wait()
        results[i] = workers[i].tick(limit=5)

    threads = [threading.Thread(target=sweep, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 40
    with runtime.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Timer).where(Timer.status == "fired")) == 40
        fired_audit = s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "timer_fired"))
    assert fired_audit == 40
    assert all(runtime.show(i)["variables"].get("tacite") is True for i in ids)
    for w in workers:
        w.db.dispose()


def test_sweeps_in_sequence_never_fire_twice(runtime, deploy, make_user, clock, db_url):
    make_user("alice", "staff")
    deploy({"p.bpmn": tacit_timer_process()})
    for _ in range(5):
        runtime.start("p", actor="alice")
    clock.advance(days=3)
    other = Runtime(Database(db_url), Settings(database_url=db_url), clock=clock)
    assert runtime.tick() + other.tick() == 5
    assert other.tick() == 0
    other.db.dispose()


def test_restart_catches_up_missed_timers(runtime, deploy, make_user, clock):
    """Timers that came due while nothing ran fire as soon as the scheduler starts."""
    make_user("alice", "staff")
    deploy({"p.bpmn": tacit_timer_process()})
    iid = runtime.start("p", actor="alice")["instance_id"]
    clock.advance(days=10)  # the server was down through the due instant
    scheduler = TimerScheduler(runtime)
    scheduler.start()
    try:
        for _ in range(100):
            if runtime.show(iid)["state"] == "completed":
                break
            time.sleep(0.05)
    finally:
        scheduler.shutdown()
    shown = runtime.show(iid)
    assert shown["state"] == "completed" and shown["variables"]["tacite"] is True


def test_next_due_query_uses_the_earliest_waiting_timer(runtime, deploy, make_user, clock):
    make_user("alice", "staff")
    deploy({"p.bpmn": tacit_timer_process()})
    runtime.start("p", actor="alice")
    clock.advance(hours=5)
    runtime.start("p", actor="alice")
    assert runtime.next_due().isoformat() == "2026-12-03T09:00:00+00:00"
