"""The history says what happened, as Camunda 7's ACT_HI_ACTINST does: each element entered,
completed or cancelled (with Camunda's activity types), each task created, claimed and
completed, each timer fired, each message received, the instance started and ended — in the
operation's own transaction, and the same whether every step runs in one runtime (warm) or
in a new one with empty caches (cold, as each `arsflow` command does)."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import event, select

from arsflow.engine.config import Settings
from arsflow.engine.bpmn.definitions import collect_sources
from arsflow.engine.models import ActivityInstance
from arsflow.engine.runtime import Runtime

from tests.bpmn_builder import chain, definitions, flow, timer_boundary, user_task
from tests.test_procedure_prs import PRS_SOURCES

ROOT = Path(__file__).resolve().parent.parent
MODES = ["warm", "cold"]

# Every kind of element the history has to name, drawn as Camunda Modeler saves it.
KINDS_BPMN = definitions("\n".join([
    '<bpmn:startEvent id="start" name="Dossier reçu"/>',
    '<bpmn:scriptTask id="prepare" name="Préparer" scriptFormat="python"><bpmn:script>ok = True</bpmn:script>'
    '</bpmn:scriptTask>',
    '<bpmn:exclusiveGateway id="check" name="Complet ?" default="f_check_instruct"/>',
    user_task("instruct", "Instruire le dossier", 'camunda:candidateGroups="staff"'),
    timer_boundary("late", "instruct", "timeDuration", "P10D"),
    '<bpmn:endEvent id="abandoned" name="Abandonné"/>',
    '<bpmn:parallelGateway id="split"/>',
    '<bpmn:intermediateCatchEvent id="wait" name="Délai de recours">'
    '<bpmn:timerEventDefinition><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">P2D</bpmn:timeDuration>'
    '</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>',
    '<bpmn:intermediateCatchEvent id="ack" name="Accusé de réception">'
    '<bpmn:messageEventDefinition messageRef="Message_ack"/></bpmn:intermediateCatchEvent>',
    '<bpmn:parallelGateway id="join"/>',
    '<bpmn:serviceTask id="tell" name="Prévenir" camunda:type="external" camunda:topic="notification">'
    '<bpmn:extensionElements><camunda:inputOutput><camunda:inputParameter name="to_groups">staff'
    '</camunda:inputParameter><camunda:inputParameter name="subject">Dossier clos</camunda:inputParameter>'
    '</camunda:inputOutput></bpmn:extensionElements></bpmn:serviceTask>',
    '<bpmn:endEvent id="end" name="Dossier clos"/>',
    chain("start", "prepare", "check"), flow("check", "instruct", fid="f_check_instruct"),
    flow("check", "abandoned", "not ok"), flow("instruct", "split"), flow("late", "abandoned"),
    flow("split", "wait"), flow("split", "ack"), flow("wait", "join"), flow("ack", "join"),
    chain("join", "tell", "end"),
]), "kinds", extra='<bpmn:message id="Message_ack" name="ack"/>\n')


@pytest.fixture
def rt_for(runtime):
    """`rt_for(mode)()` is the runtime of the next operation: the same one (warm), or a new
    runtime with empty caches every time (cold, as a new `arsflow` process)."""
    def make(mode):
        if mode == "warm":
            return lambda: runtime
        return lambda: Runtime(runtime.db, Settings(database_url=runtime.db.url, territory="75",
                                                    timezone="Europe/Paris"), clock=runtime.clock)
    return make


def rows(rt, iid) -> list[ActivityInstance]:
    with rt.db.read() as s:
        found = list(s.scalars(select(ActivityInstance).where(ActivityInstance.instance_id == iid)
                               .order_by(ActivityInstance.seq)))
        s.expunge_all()
        return found


def summary(rt, iid) -> list[tuple]:
    """What both modes must agree on (ids and seq aside: they are per-run)."""
    by_id = {r.id: r for r in rows(rt, iid)}
    return sorted((r.activity_id, r.activity_name, r.activity_type, r.started_at, r.ended_at, r.duration_ms,
                   r.canceled, r.assignee, by_id[r.parent_id].activity_id if r.parent_id else None)
                  for r in by_id.values())


def run_kinds(rt, clock, make_user, deploy):
    make_user("alice", "staff")
    deploy({"kinds.bpmn": KINDS_BPMN})
    clock.set("2027-02-01T09:00:00+00:00")
    iid = rt().start("kinds", actor="alice")["instance_id"]
    [task] = rt().tasks(instance_id=iid)
    clock.set("2027-02-01T10:00:00+00:00")
    rt().claim(task["id"], "alice")
    rt().unclaim(task["id"], "alice")
    rt().claim(task["id"], "alice")
    clock.set("2027-02-02T09:00:00+00:00")
    rt().complete(task["id"], actor="alice")
    clock.set("2027-02-03T08:00:00+00:00")
    rt().message("ack", correlate={"ok": True})
    clock.set("2027-02-04T09:00:00+00:00")
    assert rt().tick() == 1
    return iid


@pytest.mark.parametrize("mode", MODES)
def test_each_element_entered_and_left_with_camunda_types(rt_for, runtime, clock, make_user, deploy, mode):
    rt = rt_for(mode)
    iid = run_kinds(rt, clock, make_user, deploy)
    assert rt().show(iid)["state"] == "completed"
    history = {r.activity_id: r for r in rows(runtime, iid)}
    assert {k: r.activity_type for k, r in history.items()} == {
        "start": "startEvent", "prepare": "scriptTask", "check": "exclusiveGateway", "instruct": "userTask",
        "split": "parallelGateway", "wait": "intermediateTimer", "ack": "intermediateMessageCatch",
        "join": "parallelGateway", "tell": "serviceTask", "end": "noneEndEvent"}
    # The boundary timer never fired (the task was done first) and the other branch never ran.
    assert "late" not in history and "abandoned" not in history
    assert all(r.ended_at is not None and not r.canceled and r.parent_id is None for r in history.values())
    instruct = history["instruct"]
    assert instruct.task_id == instruct.id and instruct.assignee == "alice"
    assert instruct.started_at == datetime.fromisoformat("2027-02-01T09:00:00+00:00")
    assert instruct.ended_at == datetime.fromisoformat("2027-02-02T09:00:00+00:00")
    assert instruct.duration_ms == 24 * 3600 * 1000
    wait = history["wait"]  # entered when the flow reached it, left when it fired
    assert (wait.started_at, wait.ended_at) == (instruct.ended_at, datetime.fromisoformat("2027-02-04T09:00:00+00:00"))
    assert history["ack"].ended_at == datetime.fromisoformat("2027-02-03T08:00:00+00:00")
    assert history["end"].ended_at == wait.ended_at

    audit = rt().show(iid)["audit"]
    actions = [(a["action"], a.get("element_id")) for a in audit]
    assert actions[0] == ("started", None) and actions[-1] == ("ended", None)
    for needed in [("activity_started", "instruct"), ("claimed", "instruct"), ("unclaimed", "instruct"),
                   ("completed", "instruct"), ("activity_completed", "instruct"), ("message", None),
                   ("timer_fired", "wait"), ("activity_completed", "wait"), ("activity_completed", "end")]:
        assert needed in actions, needed
    # Order: each element's start before its end; a completion's cause before what it ran.
    assert actions.index(("activity_started", "wait")) < actions.index(("activity_completed", "wait"))
    assert actions.index(("completed", "instruct")) < actions.index(("activity_completed", "instruct")) \
        < actions.index(("activity_started", "split"))
    assert actions.index(("timer_fired", "wait")) < actions.index(("activity_completed", "tell"))
    completed = [a for a in audit if a["action"] == "completed"][0]
    assert completed["actor"] == "alice" and completed["element_name"] == "Instruire le dossier"
    assert [a["at"] for a in audit] == sorted(a["at"] for a in audit)


def test_cold_and_warm_write_the_same_history(rt_for, runtime, clock, make_user, deploy):
    warm = run_kinds(rt_for("warm"), clock, make_user, deploy)
    cold = run_kinds(rt_for("cold"), clock, make_user, deploy)
    assert summary(runtime, warm) == summary(runtime, cold)


@pytest.mark.parametrize("mode", MODES)
def test_interrupting_timer_cancels_the_task_and_is_recorded_when_it_fires(rt_for, runtime, clock, make_user,
                                                                           deploy, mode):
    rt = rt_for(mode)
    make_user("alice", "staff")
    deploy({"kinds.bpmn": KINDS_BPMN})
    clock.set("2027-02-01T09:00:00+00:00")
    iid = rt().start("kinds", actor="alice")["instance_id"]
    assert {r.activity_id for r in rows(runtime, iid) if r.ended_at is None} == {"instruct"}
    clock.set("2027-02-11T09:00:00+00:00")
    assert rt().tick() == 1
    assert rt().show(iid)["state"] == "completed"
    history = {r.activity_id: r for r in rows(runtime, iid)}
    assert history["instruct"].canceled and history["instruct"].ended_at == clock.now()
    assert history["late"].activity_type == "boundaryTimer" and not history["late"].canceled
    assert history["late"].started_at == history["late"].ended_at == clock.now()
    assert history["abandoned"].activity_type == "noneEndEvent"
    actions = [a["action"] for a in rt().show(iid)["audit"]]
    assert "activity_cancelled" in actions and "task_cancelled" in actions and actions[-1] == "ended"


@pytest.mark.parametrize("mode", MODES)
def test_terminate_cancels_what_was_open(rt_for, runtime, clock, make_user, deploy, mode):
    rt = rt_for(mode)
    make_user("alice", "staff")
    deploy({"kinds.bpmn": KINDS_BPMN})
    iid = rt().start("kinds", actor="alice")["instance_id"]
    [task] = rt().tasks(instance_id=iid)
    rt().complete(task["id"], actor="alice")
    open_before = {r.activity_id for r in rows(runtime, iid) if r.ended_at is None}
    assert open_before == {"wait", "ack"}
    clock.advance(hours=1)
    make_user("chef", runtime.settings.managers_group)
    rt().terminate(iid, actor="chef", reason="doublon")
    history = {r.activity_id: r for r in rows(runtime, iid)}
    assert all(history[a].canceled and history[a].ended_at == clock.now() for a in open_before)
    assert all(r.ended_at is not None for r in history.values())
    terminated = [a for a in rt().show(iid)["audit"] if a["action"] == "terminated"]
    assert [(a["actor"], a["details"]["reason"]) for a in terminated] == [("chef", "doublon")]


def test_history_costs_one_statement_per_operation(runtime, make_user, deploy, clock):
    """The brief's bar is one commit of ~10 statements: the history adds one upsert (new rows
    and ended ones together), never a read."""
    make_user("alice", "staff")
    deploy({"kinds.bpmn": KINDS_BPMN})
    statements = []
    event.listen(runtime.db.engine, "before_cursor_execute", lambda conn, cur, sql, *a: statements.append(sql))
    iid = runtime.start("kinds", actor="alice")["instance_id"]
    on_start = [sql for sql in statements if "activity_history" in sql]
    [task] = runtime.tasks(instance_id=iid)
    statements.clear()
    runtime.complete(task["id"], actor="alice")
    on_complete = [sql for sql in statements if "activity_history" in sql]
    assert len(on_start) == len(on_complete) == 1 and on_complete[0].startswith("INSERT")
    assert {r.activity_id: r.ended_at is not None for r in rows(runtime, iid)}["instruct"]


PRS_BODIES = ["Préfet de région", "CRSA", "Conseil régional", "CDCA de Paris", "Association des maires de Paris",
              "AdCF"]  # the instruction's list (n° 2016-154, § III.1), without the referential


def prs_run(rt, clock, make_user):
    make_user("secretariat", "pole_democratie_sanitaire")
    make_user("dg", "dg_ars")
    make_user("strategie", "direction_strategie")
    with rt().db.transaction() as s:
        rt().definitions.deploy(s, collect_sources(PRS_SOURCES),
                                now=clock.now())
    clock.set("2026-11-30T10:00:00+00:00")
    iid = rt().start("prs_consultation", {"publication_date": "2026-11-30", "kind": "revision", "territory": "75",
                                          "bodies": PRS_BODIES, "completer_organismes": False},
                   business_key="PRS-H", actor="secretariat")["instance_id"]

    def task(name, subject=None):
        [found] = [t for t in rt().tasks(instance_id=iid) if t["name"] == name
                   and (subject is None or t["properties"].get("subject") == subject)]
        return found["id"]
    rt().complete(task("Saisir le conseil de surveillance"),
                  {"date_saisine_cs": "2026-12-05", "reference_saisine_cs": "CS-1"}, actor="secretariat")
    clock.set("2027-01-15T10:00:00+00:00")
    for body in PRS_BODIES:
        avis = task("Enregistrer l'avis reçu", body)
        rt().claim(avis, "secretariat")
        rt().complete(avis, {"received_on": "2027-01-15", "sens": "favorable", "reference": "C-1"}, actor="secretariat")
    clock.set("2027-03-01T23:00:00+00:00")  # the tacit avis of the conseil de surveillance
    rt().tick()
    clock.set("2027-03-10T10:00:00+00:00")
    rt().complete(task("Arrêter le PRS"), {"date_arrete": "2027-03-10", "reference_arrete": "A-1"}, actor="dg")
    [raa] = rt().external_tasks.fetch_and_lock("connecteur-raa", [{"name": "raa-publication",
                                                                   "lock_duration": 60_000}], 1)
    rt().external_tasks.complete(raa["id"], "connecteur-raa", {"date_publication": "2027-03-12",
                                                                "reference_publication": "RAA 12"})
    return iid


@pytest.mark.parametrize("mode", MODES)
def test_prs_multi_instance_history(rt_for, runtime, clock, make_user, mode):
    rt = rt_for(mode)
    iid = prs_run(rt, clock, make_user)
    assert rt().show(iid)["state"] == "completed"
    history = rows(runtime, iid)
    [body] = [r for r in history if r.activity_type == "multiInstanceBody"]
    assert body.activity_id == "SubProcess_avis#multiInstanceBody"
    assert body.activity_name == "Recueillir l'avis de chaque organisme"
    items = [r for r in history if r.activity_type == "subProcess" and r.activity_id == "SubProcess_avis"]
    assert len(items) == len(PRS_BODIES) + 1 and all(r.parent_id == body.id for r in items)
    assert not [r for r in history if r.activity_id == "SubProcess_avis_tardif"]  # never triggered
    assert body.ended_at == datetime.fromisoformat("2027-03-01T23:00:00+00:00")
    avis = [r for r in history if r.activity_id == "Task_enregistrer_avis"]
    assert sorted((r.canceled, r.assignee) for r in avis) == [(False, "secretariat")] * len(PRS_BODIES) + [(True, None)]
    assert all(r.parent_id in {i.id for i in items} for r in avis)
    tacit = [r for r in history if r.activity_id == "Timer_echeance"]
    assert len(tacit) == 1 and tacit[0].activity_type == "boundaryTimer"
    assert {r.activity_id for r in history if r.activity_type == "userTask"} >= {"Task_arreter_prs"}
    assert [r.activity_type for r in history if r.activity_id == "Task_publier_raa"] == ["serviceTask"]
    assert all(r.ended_at is not None for r in history)


def test_instance_page_tells_the_history_in_french(runtime, clock, deploy):
    """Staff read names and people, in the ARS's time, never element ids or ISO instants."""
    import re

    from arsflow import web
    from arsflow.engine.people import users
    with runtime.db.transaction() as s:
        users.add_user(s, "alice", ["staff"], password="motdepasse-demo", display_name="Alice Martin", now=clock.now())
    rt = lambda: runtime  # noqa: E731
    iid = run_kinds(rt, clock, lambda *a, **k: None, deploy)
    app = web.create_app(runtime, config={"TESTING": True, "SECRET_KEY": "test-secret"})
    client = app.test_client()
    client.get("/connexion")
    with client.session_transaction() as sess:
        token = sess["csrf_token"]
    assert client.post("/connexion", data={"login": "alice", "password": "motdepasse-demo",
                                           "csrf_token": token}).status_code == 302
    page = client.get(f"/instances/{iid}").text
    history = re.search(r'<ol class="arsflow-timeline" id="historique">(.*?)</ol>', page, re.S).group(1)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", history))
    for sentence in ["lundi 1er février 2027 à 10 h Procédure démarrée par Alice Martin",
                     "Tâche « Instruire le dossier » créée",
                     "lundi 1er février 2027 à 11 h Tâche « Instruire le dossier » prise en charge par Alice Martin",
                     "Tâche « Instruire le dossier » remise à la disposition du groupe par Alice Martin",
                     "mardi 2 février 2027 à 10 h Tâche « Instruire le dossier » terminée par Alice Martin",
                     "« Préparer » effectué par le moteur",
                     "Message « ack » reçu",
                     "jeudi 4 février 2027 à 10 h Échéance atteinte : « Délai de recours »",
                     "Notification envoyée : Dossier clos",
                     "Étape atteinte : « Dossier clos »", "Procédure terminée"]:
        assert sentence in text, (sentence, text)
    assert text.index("Procédure démarrée") < text.index("terminée par") < text.index("Procédure terminée")
    for element_id in ("instruct", "prepare", "Message_ack", "intermediateTimer", "userTask"):
        assert element_id not in text
    assert not re.search(r"\d{4}-\d{2}-\d{2}T", text) and "alice" not in text
