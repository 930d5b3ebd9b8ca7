"""The dashboard's overdue/upcoming totals come from hourly tallies fed by triggers on
human_tasks (engine.people.due_counts): after every kind of change — tasks opened,
completed, cancelled with their instance, re-dated by a suspension, deleted — and before
and after folding, every window's totals equal a plain count of the open tasks."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from arsflow.engine.models import HumanTask, Instance
from arsflow.engine.people import due_counts
from sqlalchemy import delete, func, select, text

from tests.bpmn_builder import chain, definitions, timer_boundary, user_task

UTC = timezone.utc
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # the `clock` fixture's instant


def _two_tasks(pid: str) -> str:
    return definitions("\n".join([
        '<bpmn:startEvent id="start"/>', '<bpmn:parallelGateway id="fork"/>',
        user_task("a", "A", 'camunda:candidateGroups="staff" camunda:dueDate="${due_a}"'),
        user_task("b", "B", 'camunda:candidateGroups="staff" camunda:dueDate="${due_b}"'),
        '<bpmn:parallelGateway id="join"/>', '<bpmn:endEvent id="end"/>',
        chain("start", "fork", "a", "join"), chain("fork", "b", "join"), chain("join", "end")]), pid)


def _deadline(pid: str) -> str:
    """A task due when its boundary timer falls due: a suspension pushes both back."""
    return definitions("\n".join([
        '<bpmn:startEvent id="start"/>',
        user_task("a", "A", 'camunda:candidateGroups="staff" camunda:dueDate="${due_a}"'),
        timer_boundary("tb", "a", "timeDate", "${due_a}"), '<bpmn:endEvent id="end"/>',
        '<bpmn:endEvent id="late"/>', chain("start", "a", "end"), chain("tb", "late")]), pid)


def _plain_count(session, after, until) -> dict:
    where = [HumanTask.state == "open", HumanTask.due_at <= until]
    if after is not None:
        where.append(HumanTask.due_at > after)
    rows = session.execute(select(HumanTask.process_key, Instance.territory, func.count())
                           .join(Instance, Instance.id == HumanTask.instance_id)
                           .where(*where).group_by(HumanTask.process_key, Instance.territory))
    return {(k, t or ""): n for k, t, n in rows}


# Windows with edges inside hours, on midnights, within one hour, over days, and open-ended.
WINDOWS = [
    (None, NOW),
    (NOW, NOW + timedelta(days=14)),
    (NOW, NOW + timedelta(hours=3)),
    (None, datetime(2026, 12, 2, 0, 0, tzinfo=UTC)),
    (datetime(2026, 12, 1, 0, 0, tzinfo=UTC), datetime(2026, 12, 4, 0, 0, tzinfo=UTC)),
    (datetime(2026, 11, 20, 23, 59, 59, 999999, tzinfo=UTC), datetime(2026, 12, 9, 12, tzinfo=UTC)),
    (None, NOW + timedelta(days=400)),
    (NOW - timedelta(minutes=20), NOW + timedelta(minutes=30)),
    (NOW + timedelta(minutes=5), NOW + timedelta(days=2, hours=3, minutes=10)),
]


def _check(runtime, label: str):
    with runtime.db.read() as s:
        for after, until in WINDOWS:
            assert due_counts.window(s, after, until) == _plain_count(s, after, until), (label, after, until)


def _fold(runtime, batch=due_counts.FOLD_BATCH):
    with runtime.db.transaction() as s:
        return due_counts.fold(s.connection(), batch)


def test_totals_follow_every_change(runtime, deploy, make_user):
    make_user("alice", "staff")
    deploy({"p.bpmn": _two_tasks("p"), "q.bpmn": _two_tasks("q"), "r.bpmn": _deadline("r")})
    started = []
    for i in range(12):
        due_a = (NOW + timedelta(days=i - 5, hours=i * 7)).isoformat()  # overdue to 6 days ahead
        due_b = (NOW + timedelta(days=2 * i, minutes=17)).isoformat()
        data = {"due_a": due_a, "due_b": due_b}
        if i % 3:
            data["territory"] = ["75", "93"][i % 2]
        started.append(runtime.start("pq"[i % 2], data, actor="alice")["instance_id"])
    with runtime.db.read() as s:
        assert s.scalar(select(func.count()).select_from(HumanTask).where(HumanTask.due_at.is_not(None))) == 24
        assert s.scalar(text("SELECT count(*) FROM task_due_deltas")) > 0
    _check(runtime, "started")

    assert _fold(runtime, batch=7) > 0  # part of the deltas folded, the rest still read as deltas
    _check(runtime, "partly folded")

    tasks = runtime.tasks(actor="alice", limit=100)
    for task in tasks[:5]:
        runtime.complete(task["id"], actor="alice")
    _check(runtime, "completed")

    suspended = runtime.start("r", {"due_a": (NOW + timedelta(hours=20)).isoformat(), "territory": "75"},
                              actor="alice")["instance_id"]
    _check(runtime, "one more")
    runtime.suspend_deadlines(suspended, actor="alice", on="2026-11-30")
    runtime.resume_deadlines(suspended, actor="alice", on="2026-12-04")  # due date pushed back 4 days
    with runtime.db.read() as s:
        due = s.scalar(select(HumanTask.due_at).where(HumanTask.instance_id == suspended))
    assert due > NOW + timedelta(days=4)  # the task's due date did move (another UTC day)
    _check(runtime, "re-dated")

    with runtime.db.transaction() as s:  # a task row deleted outright (cleanup, REST deletion)
        victim = s.scalars(select(HumanTask.id).where(HumanTask.state == "open").limit(1)).one()
        s.execute(text("DELETE FROM task_candidates WHERE task_id = :id"), {"id": victim})
        s.execute(delete(HumanTask).where(HumanTask.id == victim))
    _check(runtime, "deleted")

    while _fold(runtime, batch=5):
        pass
    with runtime.db.read() as s:
        assert s.scalar(text("SELECT count(*) FROM task_due_deltas")) == 0
        assert s.scalar(text("SELECT count(*) FROM task_due_tallies WHERE open_tasks = 0")) == 0
        tallied = Counter()
        for day, key, territory, n in s.execute(text("SELECT due_hour, process_key, territory, open_tasks "
                                                      "FROM task_due_tallies")):
            tallied[(day, key, territory)] += n
        by_day = Counter()
        for due, key, territory in s.execute(select(HumanTask.due_at, HumanTask.process_key, Instance.territory)
                                             .join(Instance, Instance.id == HumanTask.instance_id)
                                             .where(HumanTask.state == "open", HumanTask.due_at.is_not(None))):
            by_day[(due.astimezone(UTC).strftime("%Y-%m-%d %H"), key, territory or "")] += 1
        assert tallied == by_day
    _check(runtime, "folded")


def test_migration_counts_the_tasks_already_open(database, runtime, deploy, make_user):
    """An upgraded database starts with its open tasks tallied (migration 0012's back-fill)."""
    from alembic import command
    from arsflow.engine.migrate import alembic_config
    make_user("alice", "staff")
    deploy({"p.bpmn": _two_tasks("p")})
    for i in range(4):
        runtime.start("p", {"due_a": (NOW + timedelta(days=i)).isoformat(),
                            "due_b": (NOW - timedelta(days=i)).isoformat(), "territory": "75"}, actor="alice")
    cfg = alembic_config(database.url)
    with database.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0011")
        command.upgrade(cfg, "head")
    with runtime.db.read() as s:
        assert s.scalar(text("SELECT sum(open_tasks) FROM task_due_tallies")) == 8
    _check(runtime, "back-filled")


@pytest.mark.parametrize("n", [0, 3])
def test_dashboard_totals_match_the_tasks(runtime, deploy, make_user, n):
    """The page's totals (web.dashboard) come from the tallies."""
    import re
    from arsflow import web
    make_user("claire", "managers", "staff")
    deploy({"p.bpmn": _two_tasks("p")})
    for i in range(n):
        runtime.start("p", {"due_a": (NOW - timedelta(days=1 + i)).isoformat(),
                            "due_b": (NOW + timedelta(days=1 + i)).isoformat(), "territory": "93"}, actor="claire")
    client = web.create_app(runtime, config={"TESTING": True, "SECRET_KEY": "test"}).test_client()
    client.get("/connexion")
    with client.session_transaction() as sess:
        token = sess["csrf_token"]
    assert client.post("/connexion", data={"login": "claire", "password": "motdepasse-demo",
                                           "csrf_token": token}).status_code == 302
    page = client.get("/echeances").text
    tiles = dict((label, int(value)) for value, label in re.findall(
        r'fr-tile__title">(\d+)</h2><p class="fr-tile__desc">(tâche\(s\) en retard|échéance\(s\))', page))
    assert tiles == {"tâche(s) en retard": n, "échéance(s)": n}


def test_the_timer_sweep_folds_the_deltas(runtime, deploy, make_user):
    """`serve` and `worker` fold as they sweep timers (at most every FOLD_EVERY), so the deltas
    the dashboard reads stay few."""
    from arsflow.engine.time.scheduler import TimerScheduler
    make_user("alice", "staff")
    deploy({"p.bpmn": _two_tasks("p")})
    runtime.start("p", {"due_a": NOW.isoformat(), "due_b": (NOW + timedelta(days=1)).isoformat()}, actor="alice")
    sweeper = TimerScheduler(runtime)
    sweeper._sweep()
    runtime.start("p", {"due_a": NOW.isoformat(), "due_b": (NOW + timedelta(days=1)).isoformat()}, actor="alice")
    sweeper._sweep()  # within FOLD_EVERY of the first: not folded yet
    with runtime.db.read() as s:
        assert s.scalar(text("SELECT count(*) FROM task_due_deltas")) == 2
        assert s.scalar(text("SELECT sum(open_tasks) FROM task_due_tallies")) == 2
    sweeper._folded -= sweeper.FOLD_EVERY.total_seconds()
    sweeper._sweep()
    with runtime.db.read() as s:
        assert s.scalar(text("SELECT count(*) FROM task_due_deltas")) == 0
        assert s.scalar(text("SELECT sum(open_tasks) FROM task_due_tallies")) == 4
    _check(runtime, "swept")
