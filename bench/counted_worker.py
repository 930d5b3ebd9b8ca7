"""`arsflow worker` that counts what it does, for bench/bench_timer_workers.py.

    python bench/counted_worker.py STATS.json --db URL

Imports the engine, writes STATS.json.ready and waits for STATS.json.go (so that the bench
times the sweep of workers already running, as in production, not four Python start-ups on
two cores), then runs the real worker command; when it stops (SIGINT), writes to STATS.json its SQL
statements (by kind), commits and rollbacks, engine steps loaded (instances deserialised),
timers fired, time to its first fire and its CPU time: figures that do not depend on how
loaded the machine is.
"""
from __future__ import annotations

import json
import resource
import signal
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from arsflow.cli.main import main  # noqa: E402
from arsflow.engine.runtime import Runtime  # noqa: E402
import arsflow.engine.people.notifications  # noqa: E402,F401  (what `worker` imports when it runs)
import arsflow.engine.time.scheduler  # noqa: E402,F401

started = time.perf_counter()
stats = Counter()
first_fire: list[float] = []


@event.listens_for(Engine, "before_cursor_execute")
def _statement(conn, cursor, statement, parameters, context, executemany):
    words = statement.split(None, 3)
    kind = words[0].upper() if words else "?"
    stats["statements"] += 1
    stats[f"statements_{kind}"] += 1


@event.listens_for(Engine, "commit")
def _commit(conn):
    stats["commits"] += 1


@event.listens_for(Engine, "rollback")
def _rollback(conn):
    stats["rollbacks"] += 1


_load = Runtime._load


def counted_load(self, *args, **kwargs):
    stats["instances_loaded"] += 1
    return _load(self, *args, **kwargs)


_fire = Runtime.fire_instance_timers


def counted_fire(self, instance_id, *args, **kwargs):
    stats["fire_attempts"] += 1
    try:
        fired = _fire(self, instance_id, *args, **kwargs)
    except Exception as err:
        stats[f"fire_{type(err).__name__}"] += 1
        raise
    if fired and not first_fire:
        first_fire.append(time.perf_counter() - started)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        stats["cpu_before_first_fire_s"] = round(usage.ru_utime + usage.ru_stime, 2)
    stats["timers_fired"] += fired
    if fired:
        stats["fire_phase_s"] = round(time.perf_counter() - started - first_fire[0], 2)
    return fired


Runtime._load = counted_load
Runtime.fire_instance_timers = counted_fire


def write(path: str) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out = dict(stats, cpu_s=round(usage.ru_utime + usage.ru_stime, 2),
               first_fire_s=round(first_fire[0], 2) if first_fire else None)
    Path(path).write_text(json.dumps(out))


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started from a background job
    target = sys.argv[1]
    Path(target + ".ready").touch()
    while not Path(target + ".go").exists():
        time.sleep(0.02)
    started = time.perf_counter()
    try:
        code = main(["worker", *sys.argv[2:]])
    finally:
        write(target)
    sys.exit(code)
