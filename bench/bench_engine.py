"""Benchmark of the engine on a diagram (default: the shared ../shared/bench/flow.bpmn),
beside the raw SpiffWorkflow engine running the same file in the same run. Figures are
printed, never asserted.

    python bench/bench_engine.py [--bpmn FILE --process-key KEY] [--n 300] [--postgres URL]
                                 [--timers 10000] [--waiting 100000] [--advance P3D]

The raw engine runs the diagram unchanged: its script engine reads a timer expression
that is not Python (Camunda's literal `P3D`, `2026-12-01T09:00:00Z`) as that literal, as
Camunda does; nothing else differs. Each operation completes the instance's first ready
user task; `--advance` moves the clock so that the timers fire.

Measures, for SQLite (file, WAL) and PostgreSQL when given:
- start: create + run to `review` + commit, per second, and SQL statements per start;
- complete: complete `review`, run to `approve`, commit, per second, and statements;
- timer sweep: N due timers fired (timers per second);
- the next-due-timer query with M waiting timers (ms);
- peak memory (max RSS).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import event, insert, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ISO_LITERAL = r"(R\d*/)?(P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?|\d{4}-\d\d-\d\d(T[0-9:.]+(Z|[+-]\d\d:?\d\d)?)?)"

from arsflow.engine.config import Settings  # noqa: E402
from arsflow.engine.db import Database  # noqa: E402
from arsflow.engine.migrate import upgrade  # noqa: E402
from arsflow.engine.models import Instance, Timer  # noqa: E402
from arsflow.engine.people import users  # noqa: E402
from arsflow.engine.runtime import Runtime  # noqa: E402
from arsflow.engine.time.clock import FixedClock  # noqa: E402
from arsflow.engine.time.durations import add_duration  # noqa: E402
from bench.pgschema import fresh_postgres, shared_flow  # noqa: E402

FLOW = shared_flow()


def raw_engine(bpmn: Path, key: str, n: int) -> dict:
    """Stock SpiffWorkflow 3.2 on the same file, in memory + JSON (what SpiffArena's peers
    measured)."""
    import re
    from SpiffWorkflow.bpmn import BpmnWorkflow
    from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
    from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
    from SpiffWorkflow.bpmn.serializer.default.task_spec import BpmnTaskSpecConverter
    from SpiffWorkflow.bpmn.specs.defaults import ServiceTask
    from SpiffWorkflow.camunda.parser import CamundaParser
    from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
    from SpiffWorkflow.exceptions import SpiffWorkflowException
    from SpiffWorkflow.task import TaskState

    literal = re.compile(ISO_LITERAL)

    class CamundaLiterals(PythonScriptEngine):
        """A timer text that is an ISO 8601 literal is that literal (Camunda's reading)."""
        def evaluate(self, task, expression, external_context=None):
            try:
                return super().evaluate(task, expression, external_context)
            except (SpiffWorkflowException, NameError, SyntaxError):
                if literal.fullmatch(expression.strip()):
                    return expression.strip()
                raise

    parser = CamundaParser()
    parser.add_bpmn_file(str(bpmn))
    spec, subs = parser.get_spec(key), parser.get_subprocess_specs(key)
    config = dict(CAMUNDA_CONFIG)
    config[ServiceTask] = BpmnTaskSpecConverter
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))
    engine = CamundaLiterals()

    t0 = time.perf_counter()
    states = []
    for _ in range(n):
        wf = BpmnWorkflow(spec, subs, script_engine=engine)
        wf.do_engine_steps()
        states.append(serializer.serialize_json(wf))
    start_rate = n / (time.perf_counter() - t0)

    t0 = time.perf_counter()
    for state in states:
        wf = serializer.deserialize_json(state)
        wf.script_engine = engine
        task = wf.get_tasks(state=TaskState.READY, manual=True)[0]
        task.run()
        wf.do_engine_steps()
        serializer.serialize_json(wf)
    complete_rate = n / (time.perf_counter() - t0)
    return {"start_per_s": start_rate, "complete_per_s": complete_rate}


class StatementCounter:
    def __init__(self, engine):
        self.count = 0
        self.commits = 0
        event.listen(engine, "before_cursor_execute", self._on_execute)
        event.listen(engine, "commit", self._on_commit)

    def _on_execute(self, *args, **kwargs):
        self.count += 1

    def _on_commit(self, *args, **kwargs):
        self.commits += 1

    def reset(self):
        self.count = self.commits = 0


def make_runtime(url: str, clock, bpmn: Path) -> Runtime:
    db = Database(url)
    upgrade(db.engine)
    rt = Runtime(db, Settings(database_url=url), clock=clock)
    with db.transaction() as s:
        users.add_user(s, "bench", ["staff"], now=clock.now())
        rt.definitions.deploy(s, [(bpmn.name, bpmn.read_bytes())], now=clock.now())
    return rt


def analyze(db) -> None:
    """Statistics as a live database has them (autovacuum on PostgreSQL, `ANALYZE` run by the
    operator or `PRAGMA optimize` on SQLite): query plans are measured under them."""
    with db.engine.begin() as c:
        c.execute(text("ANALYZE"))


def arsflow_engine(url: str, n: int, bpmn: Path, key: str, advance: str) -> dict:
    clock = FixedClock("2026-11-30T09:00:00+00:00")
    rt = make_runtime(url, clock, bpmn)
    counter = StatementCounter(rt.db.engine)
    rt.start(key, actor="bench")  # warm the spec cache and the sandbox

    counter.reset()
    t0 = time.perf_counter()
    ids = [rt.start(key, actor="bench")["instance_id"] for _ in range(n)]
    start_rate = n / (time.perf_counter() - t0)
    start_sql, start_commits = counter.count / n, counter.commits / n

    with rt.db.read() as s:  # the first open task of each instance started above
        firsts = {}
        for task_id, instance_id in s.execute(text(
                "SELECT id, instance_id FROM human_tasks WHERE state = 'open' ORDER BY instance_id, created_at, id")):
            firsts.setdefault(instance_id, task_id)
    task_ids = [firsts[i] for i in ids if i in firsts]
    counter.reset()
    t0 = time.perf_counter()
    for task_id in task_ids:
        rt.complete(task_id)  # flow.bpmn names no candidates: completed as the system actor
    complete_rate = len(task_ids) / (time.perf_counter() - t0)
    complete_sql, complete_commits = counter.count / max(len(task_ids), 1), counter.commits / max(len(task_ids), 1)

    # Timer fire: the timers of fresh instances, one operation per instance.
    more = [rt.start(key, actor="bench")["instance_id"] for _ in range(n)]
    clock.set(add_duration(clock.now(), advance))
    counter.reset()
    t0 = time.perf_counter()
    fired = rt.tick()
    fire_rate = fired / (time.perf_counter() - t0)
    fire_sql = counter.count / max(fired, 1)
    rt.db.dispose()
    del ids, more
    return {"start_per_s": start_rate, "start_sql": start_sql, "start_commits": start_commits,
            "complete_per_s": complete_rate, "complete_sql": complete_sql, "complete_commits": complete_commits,
            "timer_fire_per_s": fire_rate, "timer_fire_sql": fire_sql, "timers_fired": fired}


def timer_scale(url: str, due: int, waiting: int, bpmn: Path, key: str, advance: str) -> dict:
    """`due` timers due now among `waiting` future ones: sweep rate and next-due query time."""
    clock = FixedClock("2026-11-30T09:00:00+00:00")
    rt = make_runtime(url, clock, bpmn)
    for _ in range(due):
        rt.start(key, actor="bench")
    # Filler: waiting timers of other (synthetic) instances, far in the future.
    with rt.db.transaction() as s:
        definition_id = s.execute(text("SELECT id FROM process_definitions LIMIT 1")).scalar()
        now = clock.now()
        batch = 5000
        for offset in range(0, waiting, batch):
            rows = [{"definition_id": definition_id, "process_key": "filler", "state": "waiting", "workflow": "{}",
                     "variables": {}, "projection": {}, "lock_version": 1, "created_at": now, "updated_at": now}
                    for _ in range(min(batch, waiting - offset))]
            s.execute(insert(Instance), rows)
        ids = [r[0] for r in s.execute(text("SELECT id FROM instances WHERE process_key = 'filler'"))]
        for offset in range(0, len(ids), batch):
            s.execute(insert(Timer), [{"id": str(uuid.uuid4()), "instance_id": i, "element_id": "x", "name": "x",
                                       "kind": "date", "due_at": now + timedelta(days=30 + (i % 300)),
                                       "status": "waiting", "fired_at": None} for i in ids[offset:offset + batch]])
    analyze(rt.db)
    samples = []
    for _ in range(50):
        t0 = time.perf_counter()
        rt.next_due()
        samples.append((time.perf_counter() - t0) * 1000)
    next_due_ms = statistics.median(samples)
    clock.set(add_duration(clock.now(), advance))
    t0 = time.perf_counter()
    fired = rt.tick()
    rate = fired / (time.perf_counter() - t0)
    rt.db.dispose()
    return {"due": due, "waiting": waiting, "fired": fired, "sweep_timers_per_s": rate, "next_due_query_ms": next_due_ms}


def commit_floor(url: str, n: int = 1000) -> dict:
    """What one durable commit costs on this server, whatever the engine does: n transactions
    of one single-row INSERT each (fsync'd WAL, like an operation's commit), and n of a bare
    SELECT 1 (a round trip and an empty commit). Measured like pg_test_fsync, but through the
    same driver and socket as the engine."""
    from sqlalchemy import create_engine
    engine = create_engine(url)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS bench_floor (x int)")
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_commit_floor (x int)")
        raw.commit()
        out = {}
        for label, sql in (("select_ms", "SELECT 1"), ("durable_commit_ms", "INSERT INTO bench_commit_floor VALUES (1)")):
            t0 = time.perf_counter()
            for _ in range(n):
                cursor.execute(sql)
                raw.commit()
            out[label] = (time.perf_counter() - t0) * 1000 / n
        cursor.execute("DROP TABLE bench_commit_floor")
        raw.commit()
        return out
    finally:
        raw.close()
        engine.dispose()


def one_backend(name: str, url: str | None, n: int, bpmn: Path, key: str, advance: str) -> dict:
    """One run on a new database: a SQLite file, or a throw-away PostgreSQL schema."""
    if name == "sqlite":
        return arsflow_engine(f"sqlite:///{tempfile.mkdtemp()}/bench.db", n, bpmn, key, advance)
    pg, drop = fresh_postgres(url)
    try:
        return arsflow_engine(pg, n, bpmn, key, advance)
    finally:
        drop()


def median_of(runs: list[dict]) -> dict:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bpmn", type=Path, default=FLOW, help="diagram to run (default: the shared flow.bpmn)")
    ap.add_argument("--process-key", default="bench_flow", help="process id in that diagram")
    ap.add_argument("--advance", default="P3D", help="ISO duration the clock moves so that timers fire")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--postgres", default=os.environ.get("ARSFLOW_TEST_POSTGRES_URL"))
    ap.add_argument("--timers", type=int, default=10000)
    ap.add_argument("--waiting", type=int, default=100000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    bpmn, key, adv = args.bpmn.resolve(), args.process_key, args.advance
    backends = [("sqlite", None)] + ([("postgresql", args.postgres)] if args.postgres else [])
    # The raw engine and arsflow alternate, run by run: a ratio compares runs minutes (not a
    # quarter of an hour) apart, and the median of the runs' ratios is reported.
    rounds = []
    for _ in range(args.runs):
        row = {"raw": raw_engine(bpmn, key, args.n)}
        for name, url in backends:
            row[name] = one_backend(name, url, args.n, bpmn, key, adv)
        rounds.append(row)
    results = {"raw": median_of([row["raw"] for row in rounds])}
    for name, url in backends:
        results[name] = median_of([row[name] for row in rounds])
        for op in ("start", "complete"):
            results[name][f"{op}_ratio"] = statistics.median(
                row[name][f"{op}_per_s"] / row["raw"][f"{op}_per_s"] for row in rounds)
    for name, url in backends:
        if name == "sqlite":
            tmp = tempfile.mkdtemp()
            results[name + "_timers"] = timer_scale(f"sqlite:///{tmp}/timers.db", args.timers, args.waiting,
                                                       bpmn, key, adv)
        else:
            pg, drop = fresh_postgres(url)
            try:
                results[name + "_timers"] = timer_scale(pg, args.timers, args.waiting, bpmn, key, adv)
                results["commit_floor"] = commit_floor(pg)
            finally:
                drop()
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.json:
        print(json.dumps(results, indent=2))
        return
    raw = results["raw"]
    print(f"raw SpiffWorkflow 3.2 (in memory + JSON): start {raw['start_per_s']:.0f}/s, "
          f"complete {raw['complete_per_s']:.0f}/s")
    for name, _ in backends:
        r = results[name]
        t = results[name + "_timers"]
        print(f"arsflow on {name}: start {r['start_per_s']:.0f}/s ({r['start_ratio']:.2f}x raw, "
              f"{r['start_sql']:.1f} SQL, {r['start_commits']:.0f} commit); "
              f"complete {r['complete_per_s']:.0f}/s ({r['complete_ratio']:.2f}x raw, "
              f"{r['complete_sql']:.1f} SQL, {r['complete_commits']:.0f} commit); "
              f"timer fire {r['timer_fire_per_s']:.0f}/s ({r['timer_fire_sql']:.1f} SQL per instance)")
        print(f"  {t['due']} due timers among {t['waiting']} waiting: swept at {t['sweep_timers_per_s']:.0f}/s; "
              f"next-due query {t['next_due_query_ms']:.2f} ms")
    if "commit_floor" in results:
        f = results["commit_floor"]
        per_op = 1000 / raw["start_per_s"]
        print(f"PostgreSQL floor: a round trip + empty commit {f['select_ms']:.2f} ms, a durable one-row commit "
              f"{f['durable_commit_ms']:.2f} ms; at 0.5x raw a start may take {2 * per_op:.1f} ms, of which the "
              f"durable commit is {f['durable_commit_ms'] / (2 * per_op):.0%}")
    print(f"os.getloadavg(): {os.getloadavg()[0]:.1f} (2-core machine shared with other sessions: ratios, not times)")
    print(f"peak memory (max RSS): {results['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
