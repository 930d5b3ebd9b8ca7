"""Long-lived instances: does an operation cost the same at the 1,000th turn of a loop as at the
10th, and does a yearly cycle's saved instance stay the same size after twenty years? Figures
are printed, never asserted.

    python bench/bench_long_lived.py [--turns 2000] [--years 20] [--db sqlite:///…]

Each turn is one `complete` on a fresh runtime (as each `arsflow complete` is a new process):
the time includes loading the instance's JSON, running, pruning and saving it.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from arsflow.engine.config import Settings  # noqa: E402
from arsflow.engine.db import Database  # noqa: E402
from arsflow.engine.migrate import upgrade  # noqa: E402
from arsflow.engine.models import Instance  # noqa: E402
from arsflow.engine.people import users  # noqa: E402
from arsflow.engine.runtime import Runtime  # noqa: E402
from arsflow.engine.time.clock import FixedClock  # noqa: E402
from sqlalchemy import select  # noqa: E402

from tests.test_restart import loop_of_user_tasks, yearly_reminders  # noqa: E402


def fresh(db: Database, clock) -> Runtime:
    return Runtime(db, Settings(database_url=db.url, territory="75", timezone="Europe/Paris"), clock=clock)


def size(db: Database, iid: int) -> int:
    with db.read() as s:
        return len(s.scalar(select(Instance.workflow).where(Instance.id == iid)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=2000)
    parser.add_argument("--years", type=int, default=20)
    parser.add_argument("--db")
    args = parser.parse_args()
    url = args.db or f"sqlite:///{tempfile.mkdtemp()}/long.db"
    db = Database(url)
    upgrade(db.engine)
    clock = FixedClock("2026-11-30T09:00:00+00:00")
    with db.transaction() as s:
        users.add_user(s, "alice", ["staff"], password="motdepasse-bench", now=clock.now())
        fresh(db, clock).definitions.deploy(s, [("boucle.bpmn", loop_of_user_tasks(args.turns).encode()),
                                                ("registre.bpmn", yearly_reminders().encode())], now=clock.now())

    iid = fresh(db, clock).start("boucle", {}, actor="alice")["instance_id"]
    marks = {10, 100, 1000, args.turns - 1}
    window, print_rows = [], []
    for turn in range(args.turns):
        rt = fresh(db, clock)
        [task] = rt.tasks(instance_id=iid)
        began = time.perf_counter()
        fresh(db, clock).complete(task["id"], actor="alice")
        window.append((time.perf_counter() - began) * 1000)
        if turn in marks:
            print_rows.append((turn + 1, statistics.median(window[-10:]), size(db, iid)))
    print(f"Loop of {args.turns} turns, one fresh runtime per operation ({url.split(':')[0]}):")
    print("| turn | complete (median of the last 10) | saved instance |")
    print("|---|---|---|")
    for turn, ms, saved in print_rows:
        print(f"| {turn} | {ms:.1f} ms | {saved / 1024:.1f} KB |")
    assert fresh(db, clock).show(iid)["state"] == "completed"

    start = datetime(2026, 11, 30, 9, tzinfo=timezone.utc)
    iid = fresh(db, clock).start("registre", {}, actor="alice")["instance_id"]
    rows = []
    for year in range(1, args.years + 1):
        clock.set(start + timedelta(days=366 * year))
        began = time.perf_counter()
        fresh(db, clock).tick()
        rows.append((year, (time.perf_counter() - began) * 1000, size(db, iid)))
    print(f"\nYearly reminder cycle, {args.years} years:")
    print("| year | tick | saved instance |")
    print("|---|---|---|")
    for year, ms, saved in rows:
        if year in (1, 2, 5, 10, args.years):
            print(f"| {year} | {ms:.1f} ms | {saved / 1024:.1f} KB |")


if __name__ == "__main__":
    main()
