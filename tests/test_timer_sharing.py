"""Several schedulers (as several `arsflow worker` processes run them) share one sweep: every
timer fires once, and APScheduler never skips a run for "maximum number of running instances"."""
from __future__ import annotations

import logging
import time

from sqlalchemy import func, select

from arsflow.engine.config import Settings
from arsflow.engine.db import Database
from arsflow.engine.models import AuditEntry, Timer
from arsflow.engine.runtime import Runtime
from arsflow.engine.time.scheduler import TimerScheduler
from tests.bpmn_builder import tacit_timer_process

N = 40


def test_three_schedulers_share_the_sweep(runtime, deploy, make_user, clock, db_url, caplog):
    make_user("alice", "staff")
    deploy({"p.bpmn": tacit_timer_process()})
    for _ in range(N):
        runtime.start("p", actor="alice")
    clock.advance(days=3)
    caplog.set_level(logging.WARNING, logger="apscheduler")
    workers = [Runtime(Database(db_url), Settings(database_url=db_url), clock=clock) for _ in range(3)]
    schedulers = [TimerScheduler(w) for w in workers]
    for s in schedulers:
        s.start()
    try:
        for _ in range(600):
            with runtime.db.read() as s:
                if s.scalar(select(func.count()).select_from(Timer).where(Timer.status == "waiting")) == 0:
                    break
            time.sleep(0.1)
    finally:
        for s in schedulers:
            s.shutdown()
    with runtime.db.read() as s:
        fired = s.scalar(select(func.count()).select_from(Timer).where(Timer.status == "fired"))
        audit = s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "timer_fired"))
    assert fired == N and audit == N
    assert not [r for r in caplog.records if "maximum number of running instances" in r.getMessage()]
    for w in workers:
        w.db.dispose()


def test_a_burst_of_commits_wakes_the_notifier_once(runtime):
    """2,000 commits of a sweep used to queue 2,000 notification passes."""
    from apscheduler.schedulers.background import BackgroundScheduler
    from arsflow.engine.people.notifications import NotificationScheduler
    import threading

    scheduler = BackgroundScheduler(timezone="UTC")
    notifier = NotificationScheduler(runtime, scheduler, threading.Event())
    passes = []

    def counted_pass():  # the real pass minus the database work
        notifier._again = False
        passes.append(time.time())
        notifier._delay = notifier.MAX_SLEEP
    notifier._pass = counted_pass
    scheduler.start()
    try:
        notifier.start()
        time.sleep(0.5)
        for _ in range(300):
            if passes:
                break
            time.sleep(0.1)
        for _ in range(500):
            notifier.wake()
        for _ in range(300):  # the woken pass comes (after MIN_GAP), once
            if len(passes) >= 2:
                break
            time.sleep(0.1)
        time.sleep(notifier.MIN_GAP * 2)
    finally:
        scheduler.shutdown(wait=False)
    assert len(passes) == 2, len(passes)
