"""Task lists at volume (arsflow.engine.people.task_lists): who sees what, in which order,
page after page, and counts — on every backend, read by the runtime that wrote (warm) and
by a new one (cold); and the candidate rows stay in step with their task."""
from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from arsflow.engine.config import Settings
from arsflow.engine.models import HumanTask, TaskCandidate
from arsflow.engine.people import task_lists
from arsflow.engine.people.notifications import install
from arsflow.engine.runtime import Runtime
from arsflow.web import queries
from tests.bpmn_builder import chain, definitions, flow, timer_boundary

# One user task whose people and due date come from the start data.
FLOW = definitions(
    '<bpmn:startEvent id="s"/>'
    '<bpmn:userTask id="t" name="Instruire" camunda:assignee="${assignee}" '
    'camunda:candidateGroups="${groups}" camunda:candidateUsers="${users}" camunda:dueDate="${due}">'
    '<bpmn:extensionElements><camunda:properties>'
    '<camunda:property name="reminder_days" value="${reminder}"/>'
    '</camunda:properties></bpmn:extensionElements></bpmn:userTask>'
    '<bpmn:endEvent id="e"/>' + chain("s", "t", "e"), pid="vis")


# A délai: the task is due when its boundary timer fires (suspension moves both).
DELAI = definitions(
    '<bpmn:startEvent id="s"/>'
    '<bpmn:userTask id="t" name="Rendre l\'avis" camunda:candidateGroups="g2" camunda:dueDate="${deadline}"/>'
    + timer_boundary("late", "t", "timeDate", "${deadline}") +
    '<bpmn:endEvent id="e"/><bpmn:endEvent id="e2"/>' + chain("s", "t", "e") + flow("late", "e2"), pid="delai")


def fresh(runtime) -> Runtime:
    return Runtime(runtime.db, Settings(database_url=runtime.db.url, territory="75", timezone="Europe/Paris"),
                   clock=runtime.clock)


@pytest.fixture(params=["warm", "cold"])
def reader(request, runtime):
    """The runtime that wrote, or a new one (empty caches) for every read."""
    return (lambda: runtime) if request.param == "warm" else (lambda: fresh(runtime))


@pytest.fixture
def world(runtime, deploy, make_user):
    make_user("alice", "g1")
    make_user("bob", "g2")
    make_user("carol", "g1", "g2")
    make_user("dave")
    deploy({"vis.bpmn": FLOW})
    start = runtime.now()
    specs = []
    for i in range(40):
        groups = ["g1", "g2", "g1,g2", "", "g2"][i % 5]
        users = "dave" if i % 7 == 0 else ""
        assignee = "alice" if i % 9 == 0 else ""
        # ties on purpose (i // 3), and a few undated tasks
        due = "" if i % 8 == 3 else (start + timedelta(days=1 + i // 3)).isoformat()
        runtime.start("vis", {"groups": groups, "users": users, "assignee": assignee, "due": due,
                              "reminder": ""}, business_key=f"V-{i}")
        specs.append((groups, users, assignee, due))
    with runtime.db.read() as s:
        tasks = [(t.id, t.assignee, set(t.candidate_groups), set(t.candidate_users), t.due_at)
                 for t in s.scalars(select(HumanTask).where(HumanTask.state == "open"))]
    return {"tasks": tasks}


MEMBERSHIP = {"alice": {"g1"}, "bob": {"g2"}, "carol": {"g1", "g2"}, "dave": set()}


def expected(world, login: str, scope: str) -> list[str]:
    """The rule, written plainly: assignee, candidate user, or member of a candidate group;
    ordered by due date then id, undated last."""
    rows = []
    for tid, assignee, groups, users, due in world["tasks"]:
        offered = login in users or bool(groups & MEMBERSHIP[login])
        if scope == "mine":
            ok = assignee == login
        elif scope == "groups":
            ok = assignee is None and offered
        elif scope == "all":
            ok = assignee == login or (assignee is None and offered)
        else:
            ok = assignee == login or offered
        if ok:
            rows.append((due is None, due, tid))
    return [tid for _, _, tid in sorted(rows, key=lambda r: (r[0], r[1] or 0, r[2]))]


@pytest.mark.parametrize("login", ["alice", "bob", "carol", "dave"])
def test_runtime_tasks_follow_the_visibility_rule_in_due_order(world, reader, login):
    got = [t["id"] for t in reader().tasks(actor=login)]
    assert got == expected(world, login, "visible")
    assert got  # everyone sees something here, so the comparison means something


@pytest.mark.parametrize("login", ["alice", "carol", "dave"])
@pytest.mark.parametrize("scope", ["mine", "groups", "all"])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_pages_walk_each_scope_once_in_a_stable_order(world, reader, runtime, login, scope, order):
    want = expected(world, login, scope)
    if order == "desc":  # dated by due date descending, then undated by id descending
        dated = [t for t in want if _due(world, t) is not None]
        undated = [t for t in want if _due(world, t) is None]
        want = list(reversed(dated)) + list(reversed(undated))
    rt = reader()
    seen, after, pages = [], None, []
    while True:
        with queries.reading(rt) as s:
            listing = queries.task_query(rt, s, login, queries.TaskFilters(scope=scope), runtime.now())
            page = queries.paginate(s, listing, order=order, limit=4, after=after)
        pages.append(page)
        seen += [t.id for t in page.items]
        if not page.next_cursor:
            break
        after = page.next_cursor
    assert seen == want
    # Walking back from the last page gives the same pages.
    back, before = [], pages[-1].prev_cursor
    while before:
        with queries.reading(rt) as s:
            listing = queries.task_query(rt, s, login, queries.TaskFilters(scope=scope), runtime.now())
            page = queries.paginate(s, listing, order=order, limit=4, before=before)
        back = [t.id for t in page.items] + back
        before = page.prev_cursor
    assert back + [t.id for t in pages[-1].items] == want


def _due(world, task_id):
    return next(due for tid, _, _, _, due in world["tasks"] if tid == task_id)


@pytest.mark.parametrize("scope", ["mine", "groups", "all"])
def test_counts_are_exact_below_the_cap_and_bounded_above(world, reader, runtime, scope):
    rt = reader()
    want = len(expected(world, "carol", scope))
    with queries.reading(rt) as s:
        listing = queries.task_query(rt, s, "carol", queries.TaskFilters(scope=scope), runtime.now())
        assert queries.capped_count(s, listing, 1000) == (want, False)
        if want > 2:
            assert queries.capped_count(s, listing, 2) == (2, True)


def test_overdue_filter_uses_each_stream_due_date(world, reader, runtime, clock):
    clock.advance(days=5)
    rt = reader()
    now = runtime.now()
    with queries.reading(rt) as s:
        listing = queries.task_query(rt, s, "carol", queries.TaskFilters(scope="all", overdue=True), now)
        got = [t.id for t in queries.paginate(s, listing, limit=100).items]
    want = [t for t in expected(world, "carol", "all") if _due(world, t) is not None and _due(world, t) <= now]
    assert got == want and got


def _in_step(runtime) -> None:
    with runtime.db.read() as s:
        rows = s.execute(select(TaskCandidate.task_id, TaskCandidate.state, TaskCandidate.due_at,
                                HumanTask.state, HumanTask.due_at)
                         .join(HumanTask, HumanTask.id == TaskCandidate.task_id)).all()
    assert rows
    for task_id, c_state, c_due, t_state, t_due in rows:
        assert (c_state, c_due) == (t_state, t_due), task_id


def test_candidate_rows_follow_completion_and_claims(world, runtime):
    carol_first = next(t for t in runtime.tasks(actor="carol") if t["assignee"] is None)
    runtime.claim(carol_first["id"], "carol")
    runtime.complete(carol_first["id"], actor="carol")
    _in_step(runtime)
    assert carol_first["id"] not in [t["id"] for t in runtime.tasks(actor="carol")]
    completed = [t["id"] for t in runtime.tasks(actor="carol", state="completed")]
    assert completed == [carol_first["id"]]


def test_candidate_rows_follow_deadline_suspension(world, runtime, deploy, clock):
    deploy({"delai.bpmn": DELAI})
    started = runtime.start("delai", {"deadline": (runtime.now() + timedelta(days=30)).isoformat()})
    first = runtime.tasks(actor="bob", instance_id=started["instance_id"])[0]
    runtime.suspend_deadlines(first["instance_id"], actor="bob", on="2026-11-30")
    runtime.resume_deadlines(first["instance_id"], actor="bob", on="2026-12-10")
    moved = runtime.task(first["id"], actor="bob")
    assert moved["due_at"] != first["due_at"]
    _in_step(runtime)


def test_candidate_rows_follow_reassignment(world, runtime):
    notifier = install(runtime)
    task_id = runtime.tasks(actor="bob")[0]["id"]
    with runtime.db.transaction() as s:
        task = s.get(HumanTask, task_id)
        notifier.reassign(s, task, assignee=None, groups=["g1"], now=runtime.now(), cause="test")
    _in_step(runtime)
    assert task_id in [t["id"] for t in runtime.tasks(actor="alice")]


def test_notice_instant_is_kept_on_the_task(runtime, deploy, make_user, clock):
    make_user("alice", "g1")
    deploy({"vis.bpmn": FLOW})
    due = (runtime.now() + timedelta(days=20)).isoformat()
    runtime.start("vis", {"groups": "g1", "users": "", "assignee": "", "due": due, "reminder": "3"})
    runtime.start("vis", {"groups": "g1", "users": "", "assignee": "", "due": due, "reminder": ""})
    with runtime.db.read() as s:
        rows = {bool(r.properties.get("reminder_days")): r.notice_at for r in s.scalars(select(HumanTask))}
    assert rows[True] == runtime.now() and rows[False] is None  # looked at by the next scan, or never
    notifier = install(runtime)
    assert notifier.scan_deadlines() == 0
    with runtime.db.read() as s:
        reminder_at = s.scalar(select(HumanTask.notice_at).where(HumanTask.notice_at.is_not(None)))
    assert reminder_at > runtime.now() and notifier.next_deadline_at == reminder_at
    clock.set(reminder_at)
    assert notifier.scan_deadlines() == 1  # the reminder, once
    assert notifier.scan_deadlines() == 0


def test_tasks_command_does_not_load_the_engine(runtime, world, db_url):
    """`arsflow tasks` reads without importing SpiffWorkflow, Alembic or Flask."""
    code = ("import sys; from arsflow.cli.main import main; "
            f"rc = main(['tasks', '--db', {db_url!r}, '--as', 'carol', '--json']); "
            "heavy = [m for m in ('SpiffWorkflow', 'alembic', 'flask', 'lxml') if m in sys.modules]; "
            "print('HEAVY', heavy, rc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("HEAVY [] 0"), out[-500:]
    assert expected(world, "carol", "visible")[0] in out


def test_next_due_query_keeps_its_plan_after_analyze(runtime, world):
    """With statistics, the next-due query still walks the timers' (status, due_at) index."""
    if not runtime.db.url.startswith("sqlite"):
        pytest.skip("SQLite's planner")
    with runtime.db.engine.begin() as c:
        c.execute(text("ANALYZE"))
        from arsflow.engine.runtime import next_due_query
        sql = str(next_due_query().params(now=runtime.now()).compile(runtime.db.engine,
                                                                     compile_kwargs={"literal_binds": True}))
        plan = " ".join(str(r[-1]) for r in c.execute(text("EXPLAIN QUERY PLAN " + sql)))
    assert "ix_timers_status_due_instance" in plan and "TEMP B-TREE" not in plan, plan


def test_dashboard_task_lists_are_read_in_index_order(runtime, world):
    """Échéances' overdue and upcoming lists: by due date then id, straight from the
    (state, due_at, id) index (many tasks share a due date: with (state, due_at) alone every
    task of the tied dates was sorted for each page). Both backends' plans, after ANALYZE."""
    from datetime import datetime, timezone
    from arsflow.engine.models import HumanTask, Instance
    now = datetime(2026, 12, 1, 8, tzinfo=timezone.utc)
    query = (select(HumanTask.id).join(Instance, Instance.id == HumanTask.instance_id)
             .where(HumanTask.state == "open", HumanTask.due_at <= now)
             .order_by(HumanTask.due_at.asc(), HumanTask.id).limit(50))
    with runtime.db.engine.begin() as c:
        c.execute(text("ANALYZE"))
        sql = str(query.compile(runtime.db.engine, compile_kwargs={"literal_binds": True}))
        if runtime.db.is_postgres:
            c.execute(text("SET LOCAL enable_seqscan = off"))  # a toy table: show the plan a large one gets
            plan = " ".join(str(r[0]) for r in c.execute(text("EXPLAIN " + sql)))
            assert "ix_human_tasks_state_due_id" in plan and "Sort" not in plan, plan
        else:
            plan = " ".join(str(r[-1]) for r in c.execute(text("EXPLAIN QUERY PLAN " + sql)))
            assert "ix_human_tasks_state_due_id" in plan and "TEMP B-TREE" not in plan, plan


def test_running_delais_are_read_in_index_order(runtime, world):
    """Échéances' running délais: by due instant, instance, element, straight from the
    timers' (status, due_at, instance_id, element_id) index (timers share due instants by
    the thousand: with (status, due_at) alone every tied timer was sorted). After ANALYZE."""
    from arsflow.web.dashboard import TIMER_LIMIT, _TIMERS
    with runtime.db.engine.begin() as c:
        c.execute(text("ANALYZE"))
        sql = str(_TIMERS.limit(TIMER_LIMIT).compile(runtime.db.engine, compile_kwargs={"literal_binds": True}))
        if runtime.db.is_postgres:
            c.execute(text("SET LOCAL enable_seqscan = off"))  # a toy table: show the plan a large one gets
            plan = " ".join(str(r[0]) for r in c.execute(text("EXPLAIN " + sql)))
            assert "ix_timers_status_due_instance" in plan and "Sort" not in plan, plan
        else:
            plan = " ".join(str(r[-1]) for r in c.execute(text("EXPLAIN QUERY PLAN " + sql)))
            assert "ix_timers_status_due_instance" in plan and "TEMP B-TREE" not in plan, plan


def test_parsed_definitions_are_kept_within_a_bound(runtime, deploy, make_user, monkeypatch):
    """`serve` lives for years while versions accumulate: the parsed-spec cache keeps the most
    recently used ones only, and an evicted version is parsed again when needed."""
    make_user("alice", "g1")
    ids = []
    for n in range(3):
        deploy({"vis.bpmn": FLOW.replace("Instruire", f"Instruire v{n + 1}")})
        with runtime.db.read() as s:
            ids.append(s.scalar(select(text("max(id)")).select_from(text("process_definitions"))))
    rt = fresh(runtime)
    rt.definitions._specs.size = 2
    data = {"groups": "g1", "users": "", "assignee": "", "due": "", "reminder": ""}
    for definition_id in ids + ids[:1]:
        started = rt.start("vis", dict(data), definition_id=definition_id)
        assert len(rt.definitions._specs) <= 2
        name = rt.tasks(actor="alice", instance_id=started["instance_id"])[0]["name"]
        assert name == f"Instruire v{ids.index(definition_id) + 1}"


def test_migration_fills_candidate_rows_and_notice_instants_from_existing_tasks(db_url):
    """A database with open and completed tasks before 0004: after the upgrade the candidate
    rows carry their task's state and due date, and tasks drawing a reminder are looked at."""
    from alembic import command
    from sqlalchemy import create_engine
    from arsflow.engine.migrate import alembic_config, upgrade
    engine = create_engine(db_url)
    cfg = alembic_config(db_url)
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0003")
    with engine.begin() as c:
        c.execute(text("INSERT INTO deployments (id, name, created_at) VALUES (1, 'd', '2026-11-30 09:00:00')"))
        c.execute(text("INSERT INTO resources (id, deployment_id, name, kind, content, sha256, created_at) "
                       "VALUES (1, 1, 'p.bpmn', 'bpmn', :c, 'x', '2026-11-30 09:00:00')"), {"c": b"<x/>"})
        c.execute(text("INSERT INTO process_definitions (id, key, version, resource_id, deployment_id, dependencies, "
                       "created_at) VALUES (1, 'p', 1, 1, 1, '[]', '2026-11-30 09:00:00')"))
        c.execute(text("INSERT INTO instances (id, definition_id, process_key, state, variables, workflow, projection, "
                       "lock_version, created_at, updated_at) VALUES (1, 1, 'p', 'waiting', '{}', '{}', '{}', 1, "
                       "'2026-11-30 09:00:00', '2026-11-30 09:00:00')"))
        for tid, state, due, props in (("a", "open", "2026-12-10 09:00:00", '{"reminder_days": "3"}'),
                                       ("b", "completed", "2026-12-11 09:00:00", "{}"),
                                       ("c", "open", None, "{}")):
            c.execute(text("INSERT INTO human_tasks (id, instance_id, process_key, element_id, candidate_groups, "
                           "candidate_users, due_at, priority, properties, state, created_at) VALUES (:id, 1, 'p', "
                           "'t', '[\"g\"]', '[]', :due, 50, :props, :state, '2026-11-30 09:00:00')"),
                      {"id": tid, "due": due, "props": props, "state": state})
            c.execute(text("INSERT INTO task_candidates (task_id, kind, name) VALUES (:id, 'group', 'g')"), {"id": tid})
    upgrade(engine)
    with engine.connect() as c:
        rows = {r[0]: (r[1], r[2] is not None) for r in c.execute(text(
            "SELECT task_id, state, due_at FROM task_candidates ORDER BY task_id"))}
        notice = dict(c.execute(text("SELECT id, notice_at FROM human_tasks")).all())
    engine.dispose()
    assert rows == {"a": ("open", True), "b": ("completed", True), "c": ("open", False)}
    assert notice["a"] is not None and notice["b"] is None and notice["c"] is None
