"""Timer sweep shared by several `arsflow worker` processes. Figures are printed, never asserted.

    python bench/bench_timer_workers.py [--timers 2000] [--workers 1,4] [--postgres URL]

For each worker count, a fresh database holds `--timers` instances, each waiting on a user
task whose boundary timer is already due; that many `arsflow worker` processes are started
(bench/counted_worker.py: they import the engine, then all start together) and the script
measures the time until every timer has fired, then checks that none fired twice, counts
APScheduler's "maximum number of running instances" warnings, and prints what does not depend
on the machine's load: SQL statements, commits, fire transactions and instances loaded per fired
timer (summed over the workers), their CPU time, and on PostgreSQL the sessions seen waiting on a
lock (pg_stat_activity sampled every 0.1 s).
SQLite always; PostgreSQL too with --postgres (or ARSFLOW_TEST_POSTGRES_URL).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from arsflow.engine.config import Settings  # noqa: E402
from bench.pgschema import fresh_postgres  # noqa: E402
from arsflow.engine.db import Database  # noqa: E402
from arsflow.engine.migrate import upgrade  # noqa: E402
from arsflow.engine.models import AuditEntry, Timer  # noqa: E402
from arsflow.engine.people import users  # noqa: E402
from arsflow.engine.runtime import Runtime  # noqa: E402
from arsflow.engine.time.clock import FixedClock  # noqa: E402

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
  id="D" targetNamespace="http://bpmn.io/schema/bpmn">
<bpmn:process id="bench_timer" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:userTask id="instruire" camunda:candidateGroups="staff"/>
  <bpmn:boundaryEvent id="delai" attachedToRef="instruire">
    <bpmn:timerEventDefinition><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">PT1M</bpmn:timeDuration>
    </bpmn:timerEventDefinition></bpmn:boundaryEvent>
  <bpmn:scriptTask id="tacite" scriptFormat="python"><bpmn:script>tacite = True</bpmn:script></bpmn:scriptTask>
  <bpmn:endEvent id="fin"/><bpmn:endEvent id="fin_tacite"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="instruire"/>
  <bpmn:sequenceFlow id="f2" sourceRef="instruire" targetRef="fin"/>
  <bpmn:sequenceFlow id="f3" sourceRef="delai" targetRef="tacite"/>
  <bpmn:sequenceFlow id="f4" sourceRef="tacite" targetRef="fin_tacite"/>
</bpmn:process></bpmn:definitions>"""

WARNING = "maximum number of running instances"


def prepare(url: str, n: int) -> None:
    db = Database(url)
    upgrade(db.engine)
    clock = FixedClock(datetime.now(timezone.utc) - timedelta(hours=1))
    rt = Runtime(db, Settings(database_url=url), clock=clock)
    with db.transaction() as s:
        users.add_user(s, "agent", ["staff"], password="motdepasse-bench", now=clock.now())
        rt.definitions.deploy(s, [("bench_timer.bpmn", BPMN.encode())], now=clock.now())
    for _ in range(n):
        rt.start("bench_timer", actor="agent")
    db.dispose()


def waiting(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(Timer.__table__)
                            .where(Timer.__table__.c.status == "waiting")).scalar()


def run(url: str, n: int, workers: int) -> dict:
    engine = create_engine(url)
    logs = [tempfile.TemporaryFile() for _ in range(workers)]
    stat_dir = tempfile.mkdtemp()
    stat_files = [os.path.join(stat_dir, f"w{i}.json") for i in range(workers)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    spawned = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, str(ROOT / "bench" / "counted_worker.py"), stats, "--db", url],
                              stdout=subprocess.DEVNULL, stderr=log, env=env) for log, stats in zip(logs, stat_files)]
    lock_waits = samples = 0
    try:
        while not all(os.path.exists(f + ".ready") for f in stat_files):
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("un worker s'est arrêté")
            time.sleep(0.05)
        startup = time.perf_counter() - spawned
        started = time.perf_counter()
        for f in stat_files:
            Path(f + ".go").touch()
        while waiting(engine) > 0:
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("un worker s'est arrêté")
            if engine.dialect.name == "postgresql":  # sessions of this database waiting on a lock
                samples += 1
                with engine.connect() as conn:
                    lock_waits += conn.execute(text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock'")).scalar()
            time.sleep(0.1)
        elapsed = time.perf_counter() - started
    finally:
        for p in procs:
            p.send_signal(signal.SIGINT)
        stopping = time.perf_counter()
        for p in procs:
            try:
                p.wait(timeout=120)  # a sweep or notification pass under way finishes first
            except subprocess.TimeoutExpired:
                p.kill()
        stopped = time.perf_counter() - stopping
    warnings, jobs = 0, set()
    for log in logs:
        log.seek(0)
        for line in log.read().decode(errors="replace").splitlines():
            if WARNING in line:
                warnings += 1
                jobs.add(line.split('"')[1] if '"' in line else line[:80])
    if jobs and os.environ.get("BENCH_VERBOSE"):
        print("  skipped jobs:", ", ".join(sorted(jobs)))
    with engine.connect() as conn:
        audit = conn.execute(select(func.count()).select_from(AuditEntry.__table__)
                             .where(AuditEntry.__table__.c.action == "timer_fired")).scalar()
        fired = conn.execute(select(func.count()).select_from(Timer.__table__)
                             .where(Timer.__table__.c.status == "fired")).scalar()
    engine.dispose()
    counts = Counter()
    firsts = []
    for path in stat_files:
        if os.path.exists(path):
            data = json.loads(Path(path).read_text())
            firsts.append(data.pop("first_fire_s", None))
            counts.update(data)
    return {"elapsed": elapsed, "startup": startup, "stopped": stopped, "fired": fired, "audit": audit, "warnings": warnings, "counts": counts,
            "first_fire": firsts, "lock_waits": lock_waits, "samples": samples}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--timers", type=int, default=2000)
    ap.add_argument("--workers", default="1,4")
    ap.add_argument("--postgres", default=os.environ.get("ARSFLOW_TEST_POSTGRES_URL"))
    args = ap.parse_args()
    counts = [int(c) for c in args.workers.split(",")]
    backends = ["sqlite"] + (["postgresql"] if args.postgres else [])
    for backend in backends:
        for k in counts:
            with tempfile.TemporaryDirectory() as tmp:
                drop = None
                if backend == "sqlite":
                    url = f"sqlite:///{Path(tmp) / 'bench.db'}"
                else:
                    url, drop = fresh_postgres(args.postgres)
                try:
                    prepare(url, args.timers)
                    r = run(url, args.timers, k)
                finally:
                    if drop:
                        drop()
            twice = r["audit"] - r["fired"]
            print(f"{backend}: {k} worker(s), {args.timers} timers: {r['elapsed']:.1f} s "
                  f"({r['fired'] / r['elapsed']:.0f} timers/s); fired {r['fired']}, fired twice {twice}, "
                  f"APScheduler 'max instances' warnings: {r['warnings']}", flush=True)
            c, n = r["counts"], max(r["fired"], 1)
            print(f"  per fired timer: {c['statements'] / n:.1f} SQL statements, {c['commits'] / n:.2f} commits, "
                  f"{c['instances_loaded'] / n:.2f} instances loaded; fire attempts {c['fire_attempts']}; "
                  f"worker CPU {c['cpu_s']:.1f} s; imports before the start {r['startup']:.1f} s; "
                  f"first fire after {r['first_fire']} s; "
                  f"lock waits seen {r['lock_waits']} in {r['samples']} samples; stopped in {r['stopped']:.1f} s", flush=True)
            if os.environ.get("BENCH_VERBOSE"):
                print("  ", dict(c))


if __name__ == "__main__":
    main()
