"""Issue #10: what runs for a long time, or runs into bad data, behaves the same in a fresh
process (cold: a new runtime with empty caches for every operation) as in a warm one.

- Loops run to their end (SpiffWorkflow's iterators used to stop at depth 1000: ~500 turns).
- Cycles run for years without the saved instance growing (engine/bpmn/task_tree.py).
- Data a script leaves that cannot be saved is that script's incident; a step that cannot be
  written is its instance's incident; the sweep goes on with every other instance.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from arsflow.engine import runtime as runtime_module
from arsflow.engine.bpmn.serialization import decode
from arsflow.engine.errors import UnsaveableInstance
from arsflow.engine.models import Instance
from sqlalchemy import select

from tests.bpmn_builder import chain, definitions, flow, script_task, timer_boundary, user_task

STAFF = 'camunda:candidateGroups="staff"'


def saved_size(rt, iid) -> int:
    """The size of the instance's JSON (as stored, it is compressed: see serialization)."""
    with rt.db.read() as s:
        return len(decode(s.scalar(select(Instance.workflow).where(Instance.id == iid))))


def loop_of_user_tasks(turns: int) -> str:
    return definitions("\n".join([
        '<bpmn:startEvent id="start"/>', script_task("init", "n = 0"), user_task("t", "Tour", STAFF),
        script_task("inc", "n = n + 1"), '<bpmn:exclusiveGateway id="gw" default="f_gw_end"/>',
        '<bpmn:endEvent id="end"/>', chain("start", "init", "t", "inc", "gw"),
        flow("gw", "t", f"n &lt; {turns}"), flow("gw", "end")]), "boucle")


def test_a_loop_of_1200_turns_runs_to_its_end(drive):
    """Each turn is one operation (cold: one fresh runtime per operation, as one `arsflow
    complete` per turn), and the saved instance stays the size of a few turns."""
    drive.twin = False  # 1,200 steps: checked at the end, not compared step by step
    drive.deploy({"boucle.bpmn": loop_of_user_tasks(1200)})
    iid = drive.runtime().start("boucle", {}, actor="alice")["instance_id"]
    sizes = {}
    for turn in range(1200):
        [task] = drive.runtime().tasks(instance_id=iid)
        assert task["name"] == "Tour"
        drive.runtime().complete(task["id"], actor="alice")
        if turn in (10, 1199):
            sizes[turn] = saved_size(drive.runtime(), iid)
    shown = drive.runtime().show(iid)
    assert shown["state"] == "completed" and shown["variables"]["n"] == 1200
    completed = [a for a in shown["audit"] if a["action"] == "completed"]
    assert len(completed) == 1200
    assert sizes[1199] < sizes[10] * 1.5, sizes


def test_a_loop_of_1200_scripts_runs_in_one_operation(drive):
    body = "\n".join([
        '<bpmn:startEvent id="start"/>', script_task("init", "n = 0"), script_task("inc", "n = n + 1"),
        '<bpmn:exclusiveGateway id="gw" default="f_gw_t"/>', user_task("t", "Fin", STAFF),
        '<bpmn:endEvent id="end"/>', chain("start", "init", "inc", "gw"), flow("gw", "inc", "n &lt; 1200"),
        flow("gw", "t", fid="f_gw_t"), chain("t", "end")])
    drive.deploy({"scripts.bpmn": definitions(body, "scripts")})
    iid = drive.runtime().start("scripts", {}, actor="alice")["instance_id"]
    assert drive.runtime().show(iid)["variables"]["n"] == 1200
    [task] = drive.runtime().tasks(instance_id=iid)
    drive.runtime().complete(task["id"], actor="alice")
    assert drive.runtime().show(iid)["state"] == "completed"


def test_a_loop_that_never_waits_is_an_incident(drive, monkeypatch):
    monkeypatch.setattr(runtime_module, "MAX_ENGINE_STEPS", 3000)
    body = "\n".join([
        '<bpmn:startEvent id="start"/>', script_task("init", "n = 0"), script_task("inc", "n = n + 1"),
        '<bpmn:exclusiveGateway id="gw" default="f_gw_end"/>', '<bpmn:endEvent id="end"/>',
        chain("start", "init", "inc", "gw"), flow("gw", "inc", "n &gt;= 0"), flow("gw", "end", fid="f_gw_end")])
    drive.deploy({"sansfin.bpmn": definitions(body, "sansfin")})
    started = drive.runtime().start("sansfin", {}, actor="alice")
    shown = drive.runtime().show(started["instance_id"])
    assert shown["state"] == "incident"
    assert "ne se stabilise pas" in shown["incident"]["message"]


def yearly_reminders() -> str:
    """A register kept open for years, with a reminder each year (a non-interrupting cycle)."""
    return definitions("\n".join([
        '<bpmn:startEvent id="start"/>', user_task("tenir", "Tenir le registre", STAFF),
        timer_boundary("chaque_annee", "tenir", "timeCycle", "R/P1Y", interrupting=False),
        script_task("relance", "derniere_relance = now()"), '<bpmn:endEvent id="end"/>',
        '<bpmn:endEvent id="end_relance"/>', chain("start", "tenir", "end"),
        chain("chaque_annee", "relance", "end_relance")]), "registre")


def test_a_yearly_cycle_runs_for_years_without_growing(drive, clock):
    drive.deploy({"registre.bpmn": yearly_reminders()})
    start = datetime(2026, 11, 30, 9, tzinfo=timezone.utc)
    iid = drive.runtime().start("registre", {}, actor="alice")["instance_id"]
    sizes = []
    for year in range(1, 13):
        clock.set(start + timedelta(days=366 * year))
        assert drive.runtime().tick() == 1
        sizes.append(saved_size(drive.runtime(), iid))
        # the reminder's branch is pruned once sent; what it wrote is still read
        assert drive.runtime().show(iid)["variables"]["derniere_relance"] == clock.now().isoformat()
    assert max(sizes) < sizes[1] * 1.2, sizes
    [task] = drive.runtime().tasks(instance_id=iid)
    drive.runtime().complete(task["id"], actor="alice")
    shown = drive.runtime().show(iid)
    assert shown["state"] == "completed" and shown["variables"]["derniere_relance"] == clock.now().isoformat()
    assert len([a for a in shown["audit"] if a["action"] == "timer_fired"]) == 12


def test_a_timer_loop_runs_for_years(drive, clock):
    """A yearly review drawn as a loop through an intermediate timer, for ten years."""
    body = "\n".join([
        '<bpmn:startEvent id="start"/>', script_task("init", "revues = 0"),
        '<bpmn:intermediateCatchEvent id="un_an"><bpmn:timerEventDefinition>'
        '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">P1Y</bpmn:timeDuration>'
        '</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>',
        script_task("revue", "revues = revues + 1"), '<bpmn:exclusiveGateway id="gw" default="f_gw_end"/>',
        '<bpmn:endEvent id="end"/>', chain("start", "init", "un_an", "revue", "gw"),
        flow("gw", "un_an", "revues &lt; 10"), flow("gw", "end", fid="f_gw_end")])
    drive.deploy({"revue.bpmn": definitions(body, "revue_annuelle")})
    iid = drive.runtime().start("revue_annuelle", {}, actor="alice")["instance_id"]
    sizes = []
    for year in range(1, 11):
        clock.set(clock.now() + timedelta(days=366))
        assert drive.runtime().tick() == 1
        sizes.append(saved_size(drive.runtime(), iid))
    shown = drive.runtime().show(iid)
    assert shown["state"] == "completed" and shown["variables"]["revues"] == 10
    assert max(sizes[:-1]) < sizes[0] * 1.2, sizes


# -- data that cannot be saved ------------------------------------------------------------
def timed(pid: str, after_timer: str) -> str:
    """Waits one hour (a timer), then runs `after_timer` (XML), then a user task."""
    return definitions("\n".join([
        '<bpmn:startEvent id="start"/>', user_task("attente", "Attendre", STAFF),
        timer_boundary("une_heure", "attente", "timeDuration", "PT1H"), after_timer,
        user_task("apres", "Après", STAFF), '<bpmn:endEvent id="end"/>', '<bpmn:endEvent id="end_direct"/>',
        chain("start", "attente", "end_direct"), chain("une_heure", "etape", "apres", "end")]), pid)


POISONS = {
    "range": ("x = range(3)", "type range"),
    "set": ("x = {1, 2}", "type set"),
    "complex": ("x = complex(1, 2)", "type complex"),
    "nan": ("x = float('nan')", "NaN"),
    "deep": ("x = []\nfor _ in range(900):\n    x = [x]", "imbrication trop profonde"),
    "number key": ("x = {1: 'un'}", "clé int"),
    "in place": ("liste.append({3, 4})", "type set"),
}


@pytest.mark.parametrize("poison", sorted(POISONS))
def test_a_script_leaving_unsaveable_data_is_its_incident_and_the_sweep_goes_on(drive, clock, poison):
    script, words = POISONS[poison]
    drive.deploy({"poison.bpmn": timed("poison", script_task("etape", script)),
                  "sain.bpmn": timed("sain", script_task("etape", "y = 1"))})
    clock.set("2026-11-30T09:00:00+00:00")
    bad = drive.runtime().start("poison", {"liste": [1]}, actor="alice")["instance_id"]
    clock.set("2026-11-30T09:30:00+00:00")
    good = drive.runtime().start("sain", {}, actor="alice")["instance_id"]  # due after the bad one
    clock.set("2026-11-30T12:00:00+00:00")
    assert drive.runtime().tick() == 2
    shown = drive.runtime().show(bad)
    assert shown["state"] == "incident" and shown["incident"]["element_id"] == "etape"
    assert words in shown["incident"]["message"] and "ne peut pas être enregistrée" in shown["incident"]["message"]
    assert shown["variables"]["liste"] == [1] and "x" not in shown["variables"]
    assert [t["name"] for t in drive.runtime().tasks(instance_id=good)] == ["Après"]


def test_a_start_whose_script_leaves_a_set_is_an_incident_not_a_traceback(drive):
    body = "\n".join(['<bpmn:startEvent id="start"/>', script_task("etape", "x = {1}"),
                      user_task("t", "Après", STAFF), '<bpmn:endEvent id="end"/>', chain("start", "etape", "t", "end")])
    drive.deploy({"p.bpmn": definitions(body)})
    started = drive.runtime().start("p", {}, actor="alice")
    shown = drive.runtime().show(started["instance_id"])
    assert shown["state"] == "incident" and shown["incident"]["element_id"] == "etape"


def test_tuples_and_dates_come_back_as_a_fresh_process_reads_them(drive):
    """A tuple is a list in the next process (JSON has none): it is one at once, warm too; a
    date stays a date."""
    body = "\n".join([
        '<bpmn:startEvent id="start"/>', script_task("etape", "paire = (1, 2)\nlimite = date(2027, 3, 1)"),
        user_task("t", "Vérifier", STAFF), script_task("verifie", "egal = paire == [1, 2]\nannee = limite.year"),
        '<bpmn:endEvent id="end"/>', chain("start", "etape", "t", "verifie", "end")])
    drive.deploy({"p.bpmn": definitions(body)})
    iid = drive.runtime().start("p", {}, actor="alice")["instance_id"]
    [task] = drive.runtime().tasks(instance_id=iid)
    drive.runtime().complete(task["id"], actor="alice")
    variables = drive.runtime().show(iid)["variables"]
    assert variables["egal"] is True and variables["annee"] == 2027 and variables["paire"] == [1, 2]


def test_a_step_that_cannot_be_written_is_its_instance_incident(drive, clock, monkeypatch):
    """Whatever breaks the write of one instance's timer step (here the serializer itself)
    rolls that step back, makes the instance an incident and leaves the others' timers firing."""
    drive.deploy({"a.bpmn": timed("a", script_task("etape", "y = 1")),
                  "b.bpmn": timed("b", script_task("etape", "y = 2"))})
    clock.set("2026-11-30T09:00:00+00:00")
    first = drive.runtime().start("a", {}, actor="alice")["instance_id"]
    second = drive.runtime().start("b", {}, actor="alice")["instance_id"]
    from arsflow.engine.bpmn.serialization import WorkflowSerializer
    dumps = WorkflowSerializer.dumps

    def failing(self, workflow):
        if workflow.spec.name == "a":
            raise ValueError("Out of range float values are not JSON compliant")
        return dumps(self, workflow)
    monkeypatch.setattr(WorkflowSerializer, "dumps", failing)
    clock.set("2026-11-30T12:00:00+00:00")
    assert drive.runtime().tick() == 1
    shown = drive.runtime().show(first)
    assert shown["state"] == "incident" and "ne peut pas être enregistrée" in shown["incident"]["message"]
    assert [t["name"] for t in shown["tasks"] if t["state"] == "open"] == ["Attendre"]  # the step was undone
    assert [t["name"] for t in drive.runtime().tasks(instance_id=second)] == ["Après"]
    with pytest.raises(UnsaveableInstance):
        drive.runtime().start("a", {}, actor="alice")
