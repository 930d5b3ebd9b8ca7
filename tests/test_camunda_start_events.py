"""Message and timer start events as Camunda 7 runs them: a message creates an instance, a
timer start event's occurrences each start exactly one instance, across sweeps, workers and
restarts. Diagrams as Camunda Modeler 5 saves them; warm and cold."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from arsflow.engine.models import Instance, Timer
from arsflow.engine.errors import NotFound

from tests.bpmn_builder import chain, flow, script_task
from tests.modeler import modeler_diagram

MESSAGES = ('<bpmn:message id="Message_demande" name="demande_recue" />'
            '<bpmn:message id="Message_piece" name="piece_recue" />')


def _message_start_process() -> str:
    return modeler_diagram("\n".join([
        '<bpmn:startEvent id="StartEvent_manuel" name="Saisie manuelle"/>',
        '<bpmn:startEvent id="StartEvent_message" name="Demande reçue">'
        '<bpmn:messageEventDefinition id="MessageEventDefinition_1" messageRef="Message_demande" /></bpmn:startEvent>',
        script_task("Script_manuel", "via = 'manuel'"), script_task("Script_message", "via = 'message'"),
        '<bpmn:intermediateCatchEvent id="Event_piece" name="Pièce reçue">'
        '<bpmn:messageEventDefinition id="MessageEventDefinition_2" messageRef="Message_piece" /></bpmn:intermediateCatchEvent>',
        '<bpmn:exclusiveGateway id="Gateway_join"/>',
        '<bpmn:endEvent id="EndEvent_1"/>',
        chain("StartEvent_manuel", "Script_manuel", "Gateway_join"),
        chain("StartEvent_message", "Script_message"), flow("Script_message", "Gateway_join"),
        chain("Gateway_join", "Event_piece", "EndEvent_1")]), pid="demande", extra=MESSAGES)


def _timer_start_process(kind: str, value: str, pid: str = "veille") -> str:
    return modeler_diagram("\n".join([
        '<bpmn:startEvent id="StartEvent_timer" name="Chaque matin">'
        f'<bpmn:timerEventDefinition id="TimerEventDefinition_1"><bpmn:{kind} xsi:type="bpmn:tFormalExpression">'
        f'{value}</bpmn:{kind}></bpmn:timerEventDefinition></bpmn:startEvent>',
        script_task("Script_veille", "veille = True"),
        '<bpmn:userTask id="Task_lire" name="Lire la veille" camunda:candidateGroups="staff"/>',
        '<bpmn:endEvent id="EndEvent_1"/>', chain("StartEvent_timer", "Script_veille", "Task_lire", "EndEvent_1")]),
        pid=pid)


def _instances(rt, key):
    with rt().db.read() as s:
        rows = s.execute(select(Instance.__table__).where(Instance.process_key == key).order_by(Instance.id))
        return [dict(r._mapping) for r in rows]


def test_message_creates_an_instance_at_its_start_event(drive):
    rt = drive.runtime
    drive.deploy({"demande.bpmn": _message_start_process()})
    started = rt().message("demande_recue", business_key="D-1", data={"demandeur": "CH Arles"})
    assert started["started"] is True and started["business_key"] == "D-1"
    shown = rt().show(started["instance_id"])
    assert shown["variables"]["via"] == "message" and shown["variables"]["demandeur"] == "CH Arles"
    assert shown["state"] == "waiting"
    # a person starting the process goes through its none start event
    manual = rt().start("demande", actor="alice", business_key="D-2")
    assert rt().show(manual["instance_id"])["variables"]["via"] == "manuel"
    # the waiting instance receives its own message; a second "demande_recue" starts another one
    rt().message("piece_recue", business_key="D-1")
    assert rt().show(started["instance_id"])["state"] == "completed"
    again = rt().message("demande_recue", business_key="D-3")
    assert again["instance_id"] not in (started["instance_id"], manual["instance_id"])
    assert len(_instances(rt, "demande")) == 3
    with pytest.raises(NotFound):
        rt().message("inconnu")


def test_waiting_instance_wins_over_message_start(drive):
    """Camunda correlates to a waiting execution first, and to a start event only if none waits."""
    rt = drive.runtime
    body = modeler_diagram("\n".join([
        '<bpmn:startEvent id="StartEvent_message"><bpmn:messageEventDefinition messageRef="Message_demande" />'
        '</bpmn:startEvent>',
        '<bpmn:intermediateCatchEvent id="Event_relance"><bpmn:messageEventDefinition messageRef="Message_demande" />'
        '</bpmn:intermediateCatchEvent>',
        '<bpmn:endEvent id="EndEvent_1"/>', chain("StartEvent_message", "Event_relance", "EndEvent_1")]),
        pid="relance", extra=MESSAGES)
    drive.deploy({"relance.bpmn": body})
    first = rt().message("demande_recue", business_key="R-1")
    assert first["started"] and first["state"] == "waiting"
    second = rt().message("demande_recue", business_key="R-1")
    assert "started" not in second and second["instance_id"] == first["instance_id"]
    assert second["state"] == "completed"


def test_timer_date_start_fires_once_across_sweeps_and_restarts(drive, clock):
    rt = drive.runtime
    drive.deploy({"veille.bpmn": _timer_start_process("timeDate", "2026-12-01T08:00:00+01:00")})
    assert rt().tick() == 0 and _instances(rt, "veille") == []
    clock.set("2026-12-01T07:00:00+00:00")
    assert rt().tick() == 1
    assert rt().tick() == 0  # a second sweep (or a restarted worker) finds nothing to do
    [instance] = _instances(rt, "veille")
    assert instance["variables"]["veille"] is True and instance["state"] == "waiting"
    clock.set("2027-06-01T07:00:00+00:00")
    assert rt().tick() == 0 and len(_instances(rt, "veille")) == 1


def test_timer_cycle_r3_fires_three_times(drive, clock):
    rt = drive.runtime
    drive.deploy({"veille.bpmn": _timer_start_process("timeCycle", "R3/PT1H")})
    fired = []
    for hour in range(1, 6):
        clock.set(f"2026-11-30T{9 + hour:02d}:00:00+00:00")
        fired.append(rt().tick())
        fired.append(rt().tick())  # sweeping twice at the same instant fires nothing more
    assert fired == [1, 0, 1, 0, 1, 0, 0, 0, 0, 0]
    assert len(_instances(rt, "veille")) == 3


def test_camunda_cron_fires_each_occurrence_once_even_after_downtime(drive, clock):
    rt = drive.runtime
    drive.deploy({"veille.bpmn": _timer_start_process("timeCycle", "0 0 9 * * ?")})  # 09:00 Paris
    with rt().db.read() as s:
        [timer] = s.scalars(select(Timer).where(Timer.instance_id.is_(None))).all()
        assert timer.due_at.isoformat() == "2026-12-01T08:00:00+00:00"
    clock.set("2026-12-01T07:59:59+00:00")
    assert rt().tick() == 0
    clock.set("2026-12-01T08:00:00+00:00")
    assert rt().tick() == 1
    clock.set("2026-12-03T08:30:00+00:00")  # nothing ran on the 2nd: both occurrences fire, once
    assert rt().tick() == 2
    assert rt().tick() == 0
    audit = [rt().show(i["id"])["audit"][0]["details"]["due_at"] for i in _instances(rt, "veille")]
    assert audit == ["2026-12-01T08:00:00+00:00", "2026-12-02T08:00:00+00:00", "2026-12-03T08:00:00+00:00"]


def test_new_version_replaces_the_start_timer(drive, clock):
    rt = drive.runtime
    drive.deploy({"veille.bpmn": _timer_start_process("timeDate", "2026-12-01T08:00:00+01:00")})
    drive.deploy({"veille.bpmn": _timer_start_process("timeDate", "2026-12-02T08:00:00+01:00")})
    clock.set("2026-12-01T12:00:00+00:00")
    assert rt().tick() == 0
    clock.set("2026-12-02T12:00:00+00:00")
    assert rt().tick() == 1
    [instance] = _instances(rt, "veille")
    assert rt().show(instance["id"])["version"] == 2


def test_manual_start_of_a_timer_started_process_runs_at_once(drive):
    rt = drive.runtime
    drive.deploy({"veille.bpmn": _timer_start_process("timeDate", "2030-01-01T00:00:00Z")})
    started = rt().start("veille", actor="alice")
    assert rt().show(started["instance_id"])["variables"]["veille"] is True


def test_timer_start_with_expression_is_refused_at_deploy(drive):
    from arsflow.engine.errors import ArsflowError
    with pytest.raises(ArsflowError) as err:
        drive.deploy({"veille.bpmn": _timer_start_process("timeDate", "${demain}")})
    assert "StartEvent_timer" in str(err.value)


def _arsflow(db_url, *argv, now=None):
    exe = Path(sys.executable).with_name("arsflow")
    cmd = [str(exe), *argv, "--db", db_url, "--json"] + (["--now", now] if now else [])
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


def test_start_events_through_the_command_line(db_url, tmp_path):
    """Each command a new process: deploy, message without a waiting instance, and ticks by two
    'workers' at the same instant fire the timer start event once."""
    (tmp_path / "demande.bpmn").write_text(_message_start_process())
    (tmp_path / "veille.bpmn").write_text(_timer_start_process("timeDate", "2026-12-01T08:00:00+01:00"))
    assert _arsflow(db_url, "init")[0] == 0
    code, out, err = _arsflow(db_url, "deploy", str(tmp_path / "demande.bpmn"), str(tmp_path / "veille.bpmn"),
                              now="2026-11-30T09:00:00Z")
    assert code == 0, err
    code, out, err = _arsflow(db_url, "message", "demande_recue", "--business-key", "D-9",
                              "--data", '{"demandeur": "EHPAD"}')
    assert code == 0, err
    started = json.loads(out)
    assert started["started"] is True and started["process_key"] == "demande"
    ticks = [json.loads(_arsflow(db_url, "tick", now="2026-12-01T07:00:00Z")[1]) for _ in range(2)]
    assert [t["fired"] for t in ticks] == [1, 0]


def test_reserved_ids_and_flows_without_id_run(drive):
    """`Start`/`End` ids and sequence flows without an id are legal BPMN: they run, and people
    (inbox, history, diagram) see the ids as drawn."""
    rt = drive.runtime
    body = "\n".join([
        '<bpmn:startEvent id="Start" name="Début"/>',
        '<bpmn:userTask id="End" name="Tâche nommée End" camunda:candidateGroups="staff"/>',
        '<bpmn:endEvent id="StartEventJoin"/>',
        '<bpmn:sequenceFlow sourceRef="Start" targetRef="End"/>',
        '<bpmn:sequenceFlow sourceRef="End" targetRef="StartEventJoin"/>'])
    drive.deploy({"reserve.bpmn": modeler_diagram(body, pid="reserve")})
    iid = rt().start("reserve", actor="alice")["instance_id"]
    [task] = rt().tasks(instance_id=iid)
    assert task["element_id"] == "End"
    assert rt().workflow_state(iid)["completed"] == ["Start"]
    rt().complete(task["id"], actor="alice")
    shown = rt().show(iid)
    assert shown["state"] == "completed"
    assert set(rt().workflow_state(iid)["completed"]) == {"Start", "End", "StartEventJoin"}


def test_engine_rest_message_starts_a_process_at_its_message_start_event(runtime, deploy, make_user):
    """POST /engine-rest/message as Camunda's clients send it: no instance waits, so the
    message start event creates one (resultType ProcessDefinition)."""
    from tests.test_engine_rest_runtime import build_app, send
    make_user("proprio", "deployers", password="mot-de-passe-proprio")
    deploy({"demande.bpmn": _message_start_process()})
    client = build_app(runtime).test_client()
    result = send(client, "POST", "/message", {
        "messageName": "demande_recue", "businessKey": "D-42", "resultEnabled": True,
        "processVariables": {"demandeur": {"value": "CH Arles", "type": "String"}}})
    assert result.status_code == 200, result.get_json()
    [item] = result.get_json()
    assert item["resultType"] == "ProcessDefinition" and item["processInstance"]["businessKey"] == "D-42"
    shown = runtime.show(int(item["processInstance"]["id"]))
    assert shown["variables"]["via"] == "message" and shown["variables"]["demandeur"] == "CH Arles"
    again = send(client, "POST", "/message", {"messageName": "piece_recue", "businessKey": "D-42"})
    assert again.status_code == 204
    assert runtime.show(int(item["processInstance"]["id"]))["state"] == "completed"
