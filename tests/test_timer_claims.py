"""Workers share the due timers without stepping on each other (issue #14): each claims a
batch under a lease committed before any engine step, fires what it claimed, and a dead
worker's lease expires (engine/time/timer_claims.py). SQLite and PostgreSQL; threads and
real `arsflow worker` processes."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from arsflow.engine.config import Settings
from arsflow.engine.db import Database
from arsflow.engine.models import AuditEntry, Instance, Timer
from arsflow.engine.runtime import Runtime
from arsflow.engine.time import timer_claims
from sqlalchemy import func, select

from tests.bpmn_builder import tacit_timer_process

ARSFLOW = shutil.which("arsflow", path=str(Path(sys.executable).parent)) or shutil.which("arsflow")
LEASE = timedelta(seconds=Settings(database_url="sqlite://").timer_lease)


@pytest.fixture
def due(runtime, deploy, make_user, clock):
    """N instances whose boundary timer is due now; returns their ids."""
    def make(n):
        make_user("alice", "staff")
        deploy({"p.bpmn": tacit_timer_process()})
        ids = [runtime.start("p", actor="alice")["instance_id"] for _ in range(n)]
        clock.advance(days=3)
        return ids
    return make


def worker(db_url, clock) -> Runtime:
    return Runtime(Database(db_url), Settings(database_url=db_url), clock=clock)


def claim(rt: Runtime, limit: int) -> dict:
    with rt.db.transaction() as s:
        return timer_claims.claim(s.connection(), rt.worker, rt.now(), LEASE, limit, rt.db.is_postgres)


def fired_per_instance(rt) -> Counter:
    with rt.db.read() as s:
        return Counter(s.scalars(select(AuditEntry.instance_id).where(AuditEntry.action == "timer_fired")))


def waiting(rt) -> int:
    with rt.db.read() as s:
        return s.scalar(select(func.count()).select_from(Timer).where(Timer.status == "waiting"))


def test_claims_are_disjoint_batches(runtime, due, db_url, clock):
    ids = due(25)
    workers = [worker(db_url, clock) for _ in range(3)]
    batches = [claim(w, 10) for w in workers]
    assert [len(b) for b in batches] == [10, 10, 5]
    claimed = [iid for b in batches for iid in b]
    assert sorted(claimed) == sorted(ids)  # each once
    assert claim(runtime, 10) == {}
    with runtime.db.read() as s:
        holders = Counter(s.scalars(select(Timer.locked_by).where(Timer.status == "waiting")))
    assert holders == Counter({workers[0].worker: 10, workers[1].worker: 10, workers[2].worker: 5})
    for w in workers:
        w.db.dispose()


def test_a_dead_workers_lease_is_taken_over_once_it_expires(runtime, due, db_url, clock):
    ids = due(12)
    dead = worker(db_url, clock)
    held = claim(dead, 5)  # committed, then the worker dies before firing anything
    dead.db.dispose()
    assert runtime.tick() == 7  # the others: the leased ones are left alone
    assert runtime.next_due() is None  # nothing to wake for before the lease runs out
    assert all(runtime.show(i)["state"] == "waiting" for i in held)
    clock.advance(LEASE - timedelta(seconds=1))
    assert runtime.tick() == 0
    clock.advance(seconds=2)
    assert runtime.next_due() is not None
    assert runtime.tick() == 5
    assert fired_per_instance(runtime) == Counter({i: 1 for i in ids})
    assert all(runtime.show(i)["state"] == "completed" for i in ids)
    with runtime.db.read() as s:  # a fired timer keeps no lease
        assert s.scalar(select(func.count()).select_from(Timer).where(Timer.locked_by.is_not(None))) == 0


def test_a_timer_that_could_not_fire_is_released_at_once(runtime, due, clock, monkeypatch):
    """Its step failed (the instance is an incident): the lease is given back, so a retry finds
    the timer free instead of waiting for the lease to run out."""
    [iid] = due(1)
    monkeypatch.setattr(Runtime, "fire_instance_timers", lambda self, i: (_ for _ in ()).throw(OSError("disque")))
    assert runtime.tick() == 0
    monkeypatch.undo()
    assert runtime.show(iid)["state"] == "incident"
    with runtime.db.read() as s:
        assert s.scalar(select(Timer.locked_by).where(Timer.instance_id == iid)) is None
    runtime.retry(iid)
    runtime.tick()
    assert runtime.show(iid)["state"] == "completed"
    assert fired_per_instance(runtime) == Counter({iid: 1})


def test_threads_sweeping_together_fire_every_timer_once_and_load_each_instance_once(runtime, due, db_url, clock,
                                                                                      monkeypatch):
    """Four workers (threads, each its own connections) sweep 60 due timers in batches of 5:
    all fire, none twice, and no instance is read by two workers (on SQLite the workers take
    turns; on PostgreSQL they sweep at once)."""
    ids = due(60)
    attempts = Counter()
    lock = threading.Lock()
    real = Runtime.fire_instance_timers

    def counted(self, instance_id):
        with lock:
            attempts[instance_id] += 1
        return real(self, instance_id)
    monkeypatch.setattr(Runtime, "fire_instance_timers", counted)
    workers = [worker(db_url, clock) for _ in range(4)]
    barrier = threading.Barrier(4)
    fired = [0] * 4
    errors = []

    def sweep(i):
        try:
            barrier.wait()
            while waiting(workers[i]):
                fired[i] += workers[i].tick(limit=5)
        except Exception as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=sweep, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sum(fired) == 60
    assert fired_per_instance(runtime) == Counter({i: 1 for i in ids})
    assert attempts == Counter({i: 1 for i in ids})
    assert all(runtime.show(i)["variables"].get("tacite") is True for i in ids)
    for w in workers:
        w.db.dispose()


# -- real processes -----------------------------------------------------------------------------
def _cli(db_url, *argv, env=None):
    return subprocess.run([ARSFLOW, *argv, "--db", db_url], capture_output=True, text=True, env=env, timeout=300)


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARSFLOW_")}
    return dict(env, **extra)


def _wait(what, predicate, timeout=240.0):
    """A bound so that a broken sweep fails the test instead of hanging it (not a timing check)."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"toujours pas : {what}")
        time.sleep(0.05)


def _stop(processes):
    for p in processes:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    for p in processes:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@pytest.mark.skipif(ARSFLOW is None, reason="the arsflow command is not installed")
def test_worker_processes_share_the_sweep_and_take_over_a_killed_one(runtime, due, db_url, clock):
    """Three `arsflow worker` processes on one database, one killed (SIGKILL) mid-sweep with
    timers claimed: every timer fires once; the killed worker's claimed timers fire once a
    worker's clock is past its lease."""
    ids = due(60)
    now = clock.now()
    env = _env(ARSFLOW_TIMER_BATCH="4")
    victim = subprocess.Popen([ARSFLOW, "worker", "--db", db_url, "--now", now.isoformat()],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    others = []
    try:
        _wait("une première minuterie", lambda: sum(fired_per_instance(runtime).values()) > 0)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        with runtime.db.read() as s:
            held = set(s.scalars(select(Timer.instance_id).where(Timer.status == "waiting",
                                                                  Timer.locked_by.is_not(None))))
        others = [subprocess.Popen([ARSFLOW, "worker", "--db", db_url, "--now", now.isoformat()],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env) for _ in range(2)]
        _wait("les minuteries libres", lambda: waiting(runtime) == len(held))
        _stop(others)
        assert fired_per_instance(runtime) == Counter({i: 1 for i in ids if i not in held})
        # Past the lease: another worker takes over what the killed one had claimed.
        later = (now + LEASE + timedelta(seconds=1)).isoformat()
        others = [subprocess.Popen([ARSFLOW, "worker", "--db", db_url, "--now", later],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env) for _ in range(2)]
        _wait("toutes les minuteries", lambda: waiting(runtime) == 0)
    finally:
        _stop([victim, *others])
    assert fired_per_instance(runtime) == Counter({i: 1 for i in ids})
    with runtime.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Instance).where(Instance.state == "completed")) == 60
