"""Fill a database with N open instances of the demo's three procedures, then measure what
people wait for at that volume. Figures are printed, never asserted.

    python bench/load.py --n 10000 [--postgres URL] [--budget 1200] [--keep DIR]

How the data is made (realistic, and fast enough for 100,000 instances):
- `arsflow init --demo`'s accounts and procedures are deployed, then TEMPLATES instances
  of each procedure are started through the runtime, at instants spread over the last
  months and in several territories, with one open task per instance taken by a member of
  its group (so that "Mes tâches" is not empty), and the notifier's first scan is run;
- each further instance is a copy of one template's rows (instance with its workflow JSON,
  human tasks, candidates, timers, message subscriptions, history), every SpiffWorkflow
  task id replaced by a fresh one, so each copy is a working instance of its own;
- `ANALYZE` runs, as it does on a live database.

Then, with the engine clock at the end of the templates' period:
- inbox "Mes tâches" / "Tâches de mes groupes", "Échéances", iCal feed and
  GET /api/v1/tasks through a real `arsflow serve` (loopback, a free port): p50/p95;
- resident memory of that `serve` after the requests;
- the next-due timer query; `arsflow tasks` wall time (a new process);
- saved instance size and save time per procedure (the template instances).

Bounded in time: copying stops at `--budget` seconds (the table says how many were made).
"""
from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import random
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from arsflow.engine.bpmn.serialization import decode, encode  # noqa: E402
from arsflow.engine.config import Settings  # noqa: E402
from arsflow.engine.db import Database  # noqa: E402
from arsflow.engine.migrate import upgrade  # noqa: E402
from arsflow.engine.models import (AuditEntry, HumanTask, Instance, MessageSubscription,  # noqa: E402
                                   TaskCandidate, Timer)
from arsflow.engine.people import users  # noqa: E402
from arsflow.engine.runtime import Runtime  # noqa: E402
from arsflow.engine.time.clock import FixedClock  # noqa: E402
from arsflow.processes.demo import DEMO_INSTANCES, DEMO_PASSWORD, load_demo  # noqa: E402
from bench.pgschema import fresh_postgres  # noqa: E402

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
START = "2026-09-01T08:00:00+00:00"
TERRITORIES = ("75", "77", "78", "91", "92", "93", "94", "95")
BATCH = 500


# -- filling ------------------------------------------------------------------------------

def make_templates(rt: Runtime, clock: FixedClock, per_procedure: int) -> list[int]:
    """Instances started through the runtime at instants spread over three months."""
    load_demo(rt)
    ids = []
    for k in range(per_procedure):
        for key, business_key, initiator, data in DEMO_INSTANCES:
            clock.set(FixedClock(START).now() + timedelta(days=90 * k / per_procedure, hours=k))
            data = dict(data, territory=TERRITORIES[k % len(TERRITORIES)])
            if "publication_date" in data:
                data["publication_date"] = clock.now().date().isoformat()
            ids.append(rt.start(key, data, business_key=f"{business_key}-T{k}", actor=initiator)["instance_id"])
    clock.set(FixedClock(START).now() + timedelta(days=91))
    with rt.db.read() as s:
        open_tasks = s.execute(select(HumanTask.id, HumanTask.instance_id, HumanTask.candidate_groups)
                               .where(HumanTask.state == "open", HumanTask.instance_id.in_(ids))
                               .order_by(HumanTask.instance_id, HumanTask.id)).all()
        members = {}
        for login, group in s.execute(text('SELECT login, "group" FROM user_groups')):
            members.setdefault(group, []).append(login)
    claimed = set()
    for task in open_tasks:  # one task per instance taken by a member of its first group
        if task.instance_id in claimed or not task.candidate_groups:
            continue
        people = members.get(task.candidate_groups[0])
        if people:
            rt.claim(task.id, people[task.instance_id % len(people)])
            claimed.add(task.instance_id)
    rt.notifier.scan_deadlines()
    return ids


class Template:
    """One template instance's rows, ready to copy with fresh task ids."""

    def __init__(self, session, instance_id: int):
        self.instance = dict(session.execute(select(Instance.__table__).where(Instance.id == instance_id))
                             .first()._mapping)
        self.tasks = [dict(r._mapping) for r in session.execute(
            select(HumanTask.__table__).where(HumanTask.instance_id == instance_id))]
        ids = [t["id"] for t in self.tasks]
        self.candidates = [dict(r._mapping) for r in session.execute(
            select(TaskCandidate.__table__).where(TaskCandidate.task_id.in_(ids)))] if ids else []
        self.timers = [dict(r._mapping) for r in session.execute(
            select(Timer.__table__).where(Timer.instance_id == instance_id))]
        self.subscriptions = [dict(r._mapping) for r in session.execute(
            select(MessageSubscription.__table__).where(MessageSubscription.instance_id == instance_id))]
        self.audit = [dict(r._mapping) for r in session.execute(
            select(AuditEntry.__table__).where(AuditEntry.instance_id == instance_id))]
        for row in self.audit:
            row.pop("id")
        text_parts = json.dumps([decode(self.instance["workflow"]), self.instance["projection"],
                                 self.instance["variables"]])
        self.parts = UUID_RE.split(text_parts)
        self.uuids = UUID_RE.findall(text_parts)
        # Message subscription ids derive from (task id, message name): find each one's task.
        known = set(self.uuids)
        self.sub_source = {}
        for sub in self.subscriptions:
            for tid in known:
                if str(uuid.uuid5(uuid.UUID(tid), sub["message_name"])) == sub["id"]:
                    self.sub_source[sub["id"]] = tid
                    break

    def copy(self, new_id: int, n: int) -> dict:
        mapping = {u: str(uuid.uuid4()) for u in dict.fromkeys(self.uuids)}
        joined = [None] * (len(self.parts) + len(self.uuids))
        joined[::2] = self.parts
        joined[1::2] = [mapping[u] for u in self.uuids]
        workflow, projection, variables = json.loads("".join(joined))
        m = lambda v: mapping.get(v, v) if v else v  # noqa: E731
        inst = dict(self.instance, id=new_id, workflow=encode(workflow), projection=projection, variables=variables,
                    business_key=f"{self.instance['business_key']}-{n}")
        sub_ids = {s["id"]: str(uuid.uuid5(uuid.UUID(mapping[self.sub_source[s["id"]]]), s["message_name"]))
                   if s["id"] in self.sub_source else str(uuid.uuid4()) for s in self.subscriptions}
        if sub_ids and isinstance(projection, dict) and projection.get("messages"):
            inst["projection"] = dict(projection, messages=sorted(sub_ids.get(x, x) for x in projection["messages"]))
        return {
            "instance": inst,
            "tasks": [dict(t, id=m(t["id"]), instance_id=new_id) for t in self.tasks],
            "candidates": [dict(c, task_id=m(c["task_id"])) for c in self.candidates],
            "timers": [dict(t, id=m(t["id"]), instance_id=new_id) for t in self.timers],
            "subscriptions": [dict(s, id=sub_ids[s["id"]], instance_id=new_id) for s in self.subscriptions],
            "audit": [dict(a, instance_id=new_id, task_id=m(a["task_id"])) for a in self.audit],
        }


def fill(rt: Runtime, template_ids: list[int], n: int, budget: float) -> int:
    """Copy templates until `n` instances exist or the time budget is spent."""
    with rt.db.read() as s:
        templates = [Template(s, i) for i in template_ids]
        next_id = s.scalar(text("SELECT max(id) FROM instances")) + 1
        have = s.scalar(text("SELECT count(*) FROM instances"))
    rng = random.Random(15)
    deadline = time.monotonic() + budget
    made = 0
    while have + made < n and time.monotonic() < deadline:
        rows = {k: [] for k in ("instance", "tasks", "candidates", "timers", "subscriptions", "audit")}
        for _ in range(min(BATCH, n - have - made)):
            copy = rng.choice(templates).copy(next_id, next_id)
            next_id += 1
            made += 1
            rows["instance"].append(copy["instance"])
            for key in ("tasks", "candidates", "timers", "subscriptions", "audit"):
                rows[key] += copy[key]
        with rt.db.transaction() as s:
            s.execute(insert(Instance.__table__), rows["instance"])
            for key, table in (("tasks", HumanTask), ("candidates", TaskCandidate), ("timers", Timer),
                               ("subscriptions", MessageSubscription), ("audit", AuditEntry)):
                if rows[key]:
                    s.execute(insert(table.__table__), rows[key])
    if rt.db.is_postgres:
        with rt.db.engine.begin() as c:
            c.execute(text("SELECT setval(pg_get_serial_sequence('instances', 'id'), (SELECT max(id) FROM instances))"))
    return made


def analyze(db: Database) -> None:
    """What a live database has: the dashboard's hourly tallies folded (the worker's sweep does
    it as it goes), and statistics (autovacuum, `ANALYZE`)."""
    from arsflow.engine.people import due_counts
    while True:
        with db.transaction() as s:
            if due_counts.fold(s.connection()) == 0:
                break
    with db.engine.begin() as c:
        c.execute(text("ANALYZE"))


# -- measuring ----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> tuple[float, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


class Browser:
    """A logged-in person over HTTP (cookies, CSRF token of the login form)."""

    def __init__(self, base: str, login: str | None = None, token: str | None = None):
        self.base = base
        self.token = token
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        if login:
            page = self.get("/connexion")[1]
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            body = urllib.parse.urlencode({"login": login, "password": DEMO_PASSWORD, "csrf_token": csrf}).encode()
            self.opener.open(urllib.request.Request(base + "/connexion", data=body)).read()

    def get(self, path: str) -> tuple[float, str]:
        request = urllib.request.Request(self.base + path)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        t0 = time.perf_counter()
        with self.opener.open(request, timeout=120) as response:
            body = response.read().decode()
            status = response.status
        elapsed = (time.perf_counter() - t0) * 1000
        if status != 200:
            raise RuntimeError(f"{path}: HTTP {status}")
        return elapsed, body


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return f"{statistics.median(ordered):.0f} / {p95:.0f}"


def measure_web(url: str, now: str, rt: Runtime, samples: int) -> dict:
    port = free_port()
    env = dict(os.environ, ARSFLOW_SECRET_KEY="bench-secret", PYTHONUNBUFFERED="1")
    arsflow = shutil.which("arsflow", path=str(Path(sys.executable).parent)) or "arsflow"
    proc = subprocess.Popen([arsflow, "serve", "--db", url, "--now", now, "--host", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(base + "/connexion", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(proc.stderr.read().decode()[-2000:])
                time.sleep(0.2)
        with rt.db.transaction() as s:
            token = users.issue_api_token(s, "claire.martin")
            calendar = s.scalar(text("SELECT calendar_token FROM users WHERE login = 'sophie.durand'"))
        staff = Browser(base, "sophie.durand")     # pôle démocratie sanitaire + direction stratégie
        manager = Browser(base, "claire.martin")   # dg_ars + managers
        api = Browser(base, token=token)
        plain = Browser(base)
        pages = {
            "Mes tâches (staff)": (staff, "/taches"),
            "Tâches de mes groupes (staff)": (staff, "/taches/groupes"),
            "Tâches de mes groupes, page 2 (staff)": (staff, None),
            "Échéances (manager)": (manager, "/echeances"),
            "iCal feed (staff)": (plain, f"/calendrier/{calendar}.ics"),
            "GET /api/v1/tasks (manager)": (api, "/api/v1/tasks"),
        }
        first = staff.get("/taches/groupes")[1]
        match = re.search(r'href="[^"]*\?[^"]*apres=([^"&]+)', first)
        pages["Tâches de mes groupes, page 2 (staff)"] = (staff, f"/taches/groupes?apres={match.group(1)}"
                                                         if match else "/taches/groupes")
        results = {}
        for label, (who, path) in pages.items():
            who.get(path)  # warm
            results[label] = [who.get(path)[0] for _ in range(samples)]
        rss, peak = rss_mb(proc.pid)
        return {"pages": {k: percentiles(v) for k, v in results.items()}, "rss_mb": rss, "peak_rss_mb": peak}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def measure_cli(url: str, now: str) -> dict:
    arsflow = shutil.which("arsflow", path=str(Path(sys.executable).parent)) or "arsflow"
    times = {}
    for label, argv in (("arsflow --help", ["--help"]),
                        ("arsflow tasks --as sophie.durand", ["tasks", "--db", url, "--now", now, "--as", "sophie.durand"])):
        samples, cpu = [], []
        for _ in range(5):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run([arsflow, *argv], check=True, stdout=subprocess.DEVNULL)
            samples.append((time.perf_counter() - t0) * 1000)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000)
        # CPU time says what the command costs; wall time also says how busy the machine is.
        times[label] = (statistics.median(samples), statistics.median(cpu))
    return times


def measure_saves(rt: Runtime, template_ids: list[int]) -> dict:
    """Per procedure: the saved size of its instances, and the time to serialize and write one."""
    out = {}
    for instance_id in template_ids:
        with rt.db.transaction() as s:
            instance = rt._instance(s, instance_id)
            if instance.process_key in out:
                continue
            workflow = rt._load(s, instance)
            t0 = time.perf_counter()
            dumped = rt.serializer.dumps(workflow)
            s.execute(Instance.__table__.update().where(Instance.id == instance_id).values(workflow=dumped))
            s.flush()
            elapsed = (time.perf_counter() - t0) * 1000
        out[instance.process_key] = {"kb": len(dumped.encode()) / 1024, "json_kb": len(decode(dumped).encode()) / 1024,
                                     "save_ms": elapsed}
    return out


def measure_next_due(rt: Runtime) -> float:
    samples = []
    for _ in range(30):
        t0 = time.perf_counter()
        rt.next_due()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def run(url: str, n: int, budget: float, templates: int, samples: int, fill_first: bool = True) -> dict:
    """Fill (unless `fill_first` is False: a database kept by an earlier run, measured again
    after a change, as the same volume takes long to fill), then measure."""
    clock = FixedClock(START)
    db = Database(url)
    upgrade(db.engine)
    rt = Runtime(db, Settings(database_url=url), clock=clock)
    t0 = time.perf_counter()
    if fill_first:
        template_ids = make_templates(rt, clock, templates)
        made = fill(rt, template_ids, n, budget)
    else:
        clock.set(FixedClock(START).now() + timedelta(days=91))
        with db.read() as s:  # the templates were started first: the lowest id of each procedure
            template_ids = list(s.scalars(text("SELECT min(id) FROM instances GROUP BY process_key")))
        made = 0
    fill_s = time.perf_counter() - t0
    analyze(db)
    now = clock.now().isoformat()
    with db.read() as s:
        counts = {k: s.scalar(text(q)) for k, q in (
            ("instances", "SELECT count(*) FROM instances WHERE state IN ('waiting', 'running')"),
            ("open tasks", "SELECT count(*) FROM human_tasks WHERE state = 'open'"),
            ("waiting timers", "SELECT count(*) FROM timers WHERE status = 'waiting'"))}
    result = {"counts": counts, "copied": made, "fill_s": fill_s, "next_due_ms": measure_next_due(rt),
              "saves": measure_saves(rt, template_ids)}
    rt.db.dispose()
    result["cli_ms"] = measure_cli(url, now)
    result["web"] = measure_web(url, now, Runtime(Database(url), Settings(database_url=url), clock=clock), samples)
    result["load"] = os.getloadavg()[0]
    return result


def report(name: str, r: dict) -> None:
    c = r["counts"]
    print(f"\n## {name}: {c['instances']} open instances, {c['open tasks']} open tasks, "
          f"{c['waiting timers']} waiting timers (filled in {r['fill_s']:.0f} s; "
          f"load average {r['load']:.1f} on {os.cpu_count()} CPUs)\n")
    print("| measure | value |\n|---|---|")
    for label, value in r["web"]["pages"].items():
        print(f"| {label}, p50 / p95 | {value} ms |")
    print(f"| next-due timer query | {r['next_due_ms']:.2f} ms |")
    for label, (wall, cpu) in r["cli_ms"].items():
        print(f"| `{label}`: wall time (CPU time) | {wall:.0f} ms ({cpu:.0f} ms) |")
    print(f"| `arsflow serve` resident memory after the requests (peak) | {r['web']['rss_mb']:.0f} MB "
          f"({r['web']['peak_rss_mb']:.0f} MB) |")
    for key, s in r["saves"].items():
        print(f"| {key}: saved instance size stored (JSON) / save time | {s['kb']:.0f} KB ({s['json_kb']:.0f} KB) "
              f"/ {s['save_ms']:.1f} ms |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10000, help="open instances to reach")
    ap.add_argument("--postgres", default=None, help="PostgreSQL URL (a fresh schema is used, then dropped)")
    ap.add_argument("--budget", type=float, default=1200, help="seconds allowed for copying")
    ap.add_argument("--templates", type=int, default=8, help="instances per procedure started through the runtime")
    ap.add_argument("--samples", type=int, default=30, help="requests per page")
    ap.add_argument("--keep", type=Path, help="keep the databases (SQLite file in this folder, PostgreSQL "
                                                "schema) for bench/explain.py; their URLs are printed")
    ap.add_argument("--measure", metavar="URL", help="measure a database kept by an earlier --keep run "
                                                      "(no filling)")
    ap.add_argument("--skip-sqlite", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results = {}
    if args.measure:
        name = "postgresql" if args.measure.startswith("postgresql") else "sqlite"
        results[name] = run(args.measure, args.n, args.budget, args.templates, args.samples, fill_first=False)
    elif not args.skip_sqlite:
        tmp = str(args.keep) if args.keep else tempfile.mkdtemp(prefix="arsflow-load-")
        Path(tmp).mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{tmp}/load-{args.n}.db"
        try:
            results["sqlite"] = run(url, args.n, args.budget, args.templates, args.samples)
        finally:
            if args.keep:
                print(f"kept: {url}", file=sys.stderr)
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    if args.postgres and not args.measure:
        url, drop = fresh_postgres(args.postgres, prefix="load")
        try:
            results["postgresql"] = run(url, args.n, args.budget, args.templates, args.samples)
        finally:
            if args.keep:
                print(f"kept: {url}", file=sys.stderr)
            else:
                drop()
    if args.json:
        print(json.dumps(results, indent=2, default=str))
        return
    for name, r in results.items():
        report(name, r)


if __name__ == "__main__":
    main()
