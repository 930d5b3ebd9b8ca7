"""Engine core: deploy and versioning, Camunda attributes, timers, messages, multi-instance,
conflicts, incidents, authorization, transactions."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from arsflow.engine.errors import Conflict, DeploymentError, Forbidden, InvalidInput, NotFound
from arsflow.engine.models import AuditEntry, HumanTask, Instance, ProcessDefinition, Timer
from sqlalchemy import func, select

from tests.bpmn_builder import (
    chain,
    definitions,
    flow,
    script_task,
    simple_user_process,
    timer_boundary,
    user_task,
)

FORM = json.dumps({
    "id": "avis-form", "type": "default", "schemaVersion": 16, "exporter": {"name": "Camunda Modeler", "version": "5.28.0"},
    "executionPlatform": "Camunda Platform", "executionPlatformVersion": "7.20.0",
    "components": [
        {"id": "Field_sens", "key": "sens", "label": "Sens", "type": "select", "validate": {"required": True},
         "values": [{"label": "Favorable", "value": "favorable"}, {"label": "Défavorable", "value": "defavorable"}]},
        {"id": "Field_nb", "key": "nombre", "label": "Nombre", "type": "number", "validate": {"min": 0, "max": 10}},
    ],
})


@pytest.fixture(params=["warm", "cold"])
def runtime(request, database, clock):
    """Each test runs warm (one runtime) and cold (a new runtime per operation; on SQLite each
    operation is also replayed warm and both must agree: tests/twin.py)."""
    from arsflow.engine.config import Settings
    from arsflow.engine.runtime import Runtime

    from tests.procedure_support import runtime_for
    warm = Runtime(database, Settings(database_url=database.url, territory="75", timezone="Europe/Paris"),
                   clock=clock)
    rt = runtime_for(request.param, warm, database, clock)
    yield rt
    if hasattr(rt, "close"):
        rt.close()


def count(runtime, model, *where):
    with runtime.db.read() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def open_tasks(runtime, instance_id):
    return runtime.tasks(instance_id=instance_id)


# -- deployment -------------------------------------------------------------------------------
def test_deploy_versions_and_identical_redeploy_is_noop(runtime, deploy, make_user):
    make_user("alice", "staff")
    first = deploy({"p.bpmn": simple_user_process()})
    assert [(c["key"], c["version"]) for c in first.created] == [("p", 1)]
    again = deploy({"p.bpmn": simple_user_process()})
    assert again.created == [] and again.unchanged[0]["version"] == 1
    started = runtime.start("p", actor="alice")
    changed = simple_user_process(attrs='camunda:candidateGroups="other"')
    second = deploy({"p.bpmn": changed})
    assert [(c["key"], c["version"]) for c in second.created] == [("p", 2)]
    # The running instance stays on version 1; a new one takes version 2.
    assert runtime.show(started["instance_id"])["version"] == 1
    assert runtime.show(runtime.start("p", actor="alice")["instance_id"])["version"] == 2
    assert count(runtime, ProcessDefinition) == 2


def test_failed_deploy_writes_nothing(runtime, deploy):
    good = simple_user_process("good")
    bad = definitions('<bpmn:startEvent id="s"/><bpmn:complexGateway id="cg"/>' + flow("s", "cg"), "bad")
    with pytest.raises(DeploymentError) as info:
        deploy({"good.bpmn": good, "bad.bpmn": bad})
    assert any(f.element_id == "cg" for f in info.value.report.errors)
    assert count(runtime, ProcessDefinition) == 0


def test_deploy_refuses_unknown_form_reference(runtime, deploy):
    with pytest.raises(DeploymentError) as info:
        deploy({"p.bpmn": simple_user_process(attrs='camunda:formRef="absent" camunda:formRefBinding="latest"')})
    assert any("absent" in f.message for f in info.value.report.errors)


# -- Camunda attributes -----------------------------------------------------------------------
def test_camunda_attributes_are_honoured(runtime, deploy, make_user):
    make_user("alice", "staff")
    make_user("chef", "managers")
    attrs = ('camunda:assignee="${initiator}" camunda:candidateUsers="chef" camunda:candidateGroups="staff, juristes" '
             'camunda:dueDate="${legal_deadline(publication_date, \'P3M\')}" camunda:followUpDate="P10D" '
             'camunda:priority="${urgence * 10}" camunda:formRef="avis-form" camunda:formRefBinding="latest"')
    ext = ('<camunda:properties><camunda:property name="subject" value="${organisme}"/></camunda:properties>'
           '<camunda:inputOutput><camunda:inputParameter name="rappel">Avis de ${organisme}</camunda:inputParameter>'
           '</camunda:inputOutput>')
    body = "\n".join(['<bpmn:startEvent id="start" camunda:initiator="initiator"/>', user_task("t1", "Avis", attrs, ext),
                      '<bpmn:endEvent id="end"/>', chain("start", "t1", "end")])
    deploy({"p.bpmn": definitions(body), "avis.form": FORM})
    started = runtime.start("p", {"publication_date": "2026-11-30", "urgence": 7, "organisme": "CRSA",
                                  "territory": "75"}, actor="alice")
    [task] = open_tasks(runtime, started["instance_id"])
    assert task["assignee"] == "alice"
    assert task["candidate_users"] == ["chef"]
    assert task["candidate_groups"] == ["staff", "juristes"]
    # 30 Nov 2026 + 3 months = Sun 28 Feb 2027 → Mon 1 Mar; expires 2 Mar 00:00 Paris.
    assert task["due_at"] == "2027-03-01T23:00:00+00:00"
    assert task["follow_up_at"] == "2026-12-10T09:00:00+00:00"
    assert task["priority"] == 70
    assert task["form"] == "avis-form" and task["form_id"] is not None
    assert task["properties"] == {"subject": "CRSA"}
    # camunda:inputOutput inputs are local to the task (Camunda semantics, issue #11)
    assert runtime.task_data(task["id"], actor="alice")["rappel"] == "Avis de CRSA"
    assert "rappel" not in runtime.show(started["instance_id"])["variables"]


def test_form_validation_on_complete(runtime, deploy, make_user):
    make_user("alice", "staff")
    deploy({"p.bpmn": simple_user_process(attrs='camunda:candidateGroups="staff" camunda:formRef="avis-form"'),
            "avis.form": FORM})
    started = runtime.start("p", actor="alice")
    [task] = open_tasks(runtime, started["instance_id"])
    with pytest.raises(InvalidInput) as info:
        runtime.complete(task["id"], {"nombre": 42}, actor="alice")
    assert set(info.value.details["errors"]) == {"sens", "nombre"}
    assert runtime.show(started["instance_id"])["state"] == "waiting"
    runtime.complete(task["id"], {"sens": "favorable", "nombre": "3"}, actor="alice", from_strings=True)
    shown = runtime.show(started["instance_id"])
    assert shown["state"] == "completed"
    assert shown["variables"]["sens"] == "favorable" and shown["variables"]["nombre"] == 3


def test_plain_task_passes_through_like_camunda(runtime, deploy, make_user):
    make_user("alice", "staff")
    body = '<bpmn:startEvent id="s"/><bpmn:task id="noop"/><bpmn:endEvent id="e"/>' + chain("s", "noop", "e")
    deploy({"p.bpmn": definitions(body)})
    assert runtime.start("p", actor="alice")["state"] == "completed"


# -- timers -----------------------------------------------------------------------------------
def _timer_process(interrupting: bool, value="P3D", kind="timeDuration", ext=""):
    return definitions("\n".join([
        '<bpmn:startEvent id="start"/>', user_task("t1", "Instruire", 'camunda:candidateGroups="staff"'),
        timer_boundary("tb", "t1", kind, value, interrupting, ext),
        '<bpmn:endEvent id="end"/>', '<bpmn:endEvent id="end_timer"/>',
        chain("start", "t1", "end"), flow("tb", "end_timer")]))


def test_interrupting_boundary_timer_fires_at_its_instant_not_before(runtime, deploy, make_user, clock):
    make_user("alice", "staff")
    deploy({"p.bpmn": _timer_process(True)})
    iid = runtime.start("p", actor="alice")["instance_id"]
    [timer] = runtime.show(iid)["timers"]
    assert timer["due_at"] == "2026-12-03T09:00:00+00:00"
    clock.set("2026-12-03T08:59:59+00:00")
    assert runtime.tick() == 0
    clock.set("2026-12-03T09:00:00+00:00")
    assert runtime.tick() == 1
    shown = runtime.show(iid)
    assert shown["state"] == "completed"
    assert shown["tasks"][0]["state"] == "cancelled"
    assert shown["timers"][0]["status"] == "fired"
    assert runtime.tick() == 0  # fires once


def test_non_interrupting_timer_keeps_the_task(runtime, deploy, make_user, clock):
    make_user("alice", "staff")
    body = "\n".join([
        '<bpmn:startEvent id="start"/>', user_task("t1", "Instruire", 'camunda:candidateGroups="staff"'),
        timer_boundary("rappel", "t1", "timeDuration", "P1D", interrupting=False),
        script_task("note", "relances = 1"), '<bpmn:endEvent id="end"/>', '<bpmn:endEvent id="end2"/>',
        chain("start", "t1", "end"), chain("rappel", "note", "end2")])
    deploy({"p.bpmn": definitions(body)})
    iid = runtime.start("p", actor="alice")["instance_id"]
    clock.advance(days=1)
    assert runtime.tick() == 1
    shown = runtime.show(iid)
    assert shown["variables"]["relances"] == 1
    assert [t["state"] for t in shown["tasks"]] == ["open"]
    runtime.complete(shown["tasks"][0]["id"], actor="alice")
    assert runtime.show(iid)["state"] == "completed"


def test_month_timer_ends_on_same_day_number_clamped(runtime, deploy, make_user, clock):
    make_user("alice", "staff")
    clock.set("2027-01-31T10:00:00+00:00")
    deploy({"p.bpmn": _timer_process(True, "P1M")})
    iid = runtime.start("p", actor="alice")["instance_id"]
    assert runtime.show(iid)["timers"][0]["due_at"] == "2027-02-28T10:00:00+00:00"


def test_legal_calendar_timer_property(runtime, deploy, make_user, clock):
    make_user("alice", "staff")
    clock.set("2026-11-30T10:00:00+00:00")
    ext = '<camunda:properties><camunda:property name="calendar" value="legal"/></camunda:properties>'
    deploy({"p.bpmn": _timer_process(True, "P3M", ext=ext)})
    iid = runtime.start("p", {"territory": "57"}, actor="alice")["instance_id"]
    assert runtime.show(iid)["timers"][0]["due_at"] == "2027-03-01T23:00:00+00:00"


def test_time_date_expression_and_intermediate_timer(runtime, deploy, make_user, clock):
    make_user("alice", "staff")
    body = "\n".join([
        '<bpmn:startEvent id="start"/>',
        '<bpmn:intermediateCatchEvent id="attente"><bpmn:timerEventDefinition>'
        '<bpmn:timeDate xsi:type="bpmn:tFormalExpression">${legal_deadline(publication_date, "P2M")}</bpmn:timeDate>'
        '</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>',
        script_task("acquis", "statut = 'tacite'"), '<bpmn:endEvent id="end"/>',
        chain("start", "attente", "acquis", "end")])
    deploy({"p.bpmn": definitions(body)})
    iid = runtime.start("p", {"publication_date": "2027-01-26", "territory": "57"}, actor="alice")["instance_id"]
    due = runtime.show(iid)["timers"][0]["due_at"]
    assert due == "2027-03-30T22:00:00+00:00"  # Tue 30 Mar 2027 24:00 Paris (CEST), Moselle holidays
    clock.set("2027-03-30T21:59:59+00:00")
    assert runtime.tick() == 0
    clock.set(due)
    assert runtime.tick() == 1
    assert runtime.show(iid)["variables"]["statut"] == "tacite"


def test_timer_start_event_starts_an_instance_when_due(runtime, deploy, make_user, clock):
    """As in Camunda: the scheduler creates the instance at the date; a person starting the
    process by hand starts it at once (tests/test_camunda_start_events.py has the rest)."""
    make_user("alice", "staff")
    body = ('<bpmn:startEvent id="start"><bpmn:timerEventDefinition><bpmn:timeDate>2026-12-01T08:00:00+01:00'
            '</bpmn:timeDate></bpmn:timerEventDefinition></bpmn:startEvent>'
            + script_task("go", "parti = True") + '<bpmn:endEvent id="end"/>' + chain("start", "go", "end"))
    deploy({"p.bpmn": definitions(body)})
    iid = runtime.start("p", actor="alice")["instance_id"]
    assert runtime.show(iid)["state"] == "completed"
    clock.set("2026-12-01T07:00:00+00:00")
    assert runtime.tick() == 1
    assert count(runtime, Instance) == 2


def test_cycle_timer_fires_each_occurrence(runtime, deploy, make_user, clock):
    make_user("alice", "staff")
    body = "\n".join([
        '<bpmn:startEvent id="start"/>', user_task("t1", "Instruire", 'camunda:candidateGroups="staff"'),
        timer_boundary("cycle", "t1", "timeCycle", "R3/P1W", interrupting=False),
        script_task("relance", "relances = relances + 1 if 'relances' in dir() else 1".replace(
            "relances + 1 if 'relances' in dir() else 1", "1")),
        '<bpmn:endEvent id="end"/>', '<bpmn:endEvent id="end2"/>',
        chain("start", "t1", "end"), chain("cycle", "relance", "end2")])
    deploy({"p.bpmn": definitions(body)})
    iid = runtime.start("p", actor="alice")["instance_id"]
    fired_at = []
    for week in range(1, 5):
        clock.set(datetime(2026, 11, 30, 9, tzinfo=timezone.utc) + timedelta(weeks=week))
        fired_at.append(runtime.tick())
    assert fired_at == [1, 1, 1, 0]
    audit = [a for a in runtime.show(iid)["audit"] if a["action"] == "timer_fired"]
    assert len(audit) == 3


# -- messages and multi-instance --------------------------------------------------------------
def _message_process():
    extra = '<bpmn:message id="Msg_avis" name="avis_recu"/>\n'
    body = "\n".join([
        '<bpmn:startEvent id="start"/>',
        '<bpmn:intermediateCatchEvent id="attente"><bpmn:messageEventDefinition messageRef="Msg_avis"/>'
        '</bpmn:intermediateCatchEvent>', '<bpmn:endEvent id="end"/>', chain("start", "attente", "end")])
    return definitions(body, extra=extra)


def test_message_correlation_by_business_key_and_variable(runtime, deploy, make_user):
    make_user("alice", "staff")
    deploy({"p.bpmn": _message_process()})
    a = runtime.start("p", {"dossier": "A"}, business_key="PRS-2027", actor="alice")["instance_id"]
    b = runtime.start("p", {"dossier": "B"}, business_key="PRS-2028", actor="alice")["instance_id"]
    runtime.message("avis_recu", business_key="PRS-2027", data={"sens": "favorable"})
    assert runtime.show(a)["state"] == "completed"
    assert runtime.show(b)["state"] == "waiting"
    runtime.message("avis_recu", correlate={"dossier": "B"}, data={"sens": "reserve"})
    assert runtime.show(b)["state"] == "completed"
    with pytest.raises(NotFound):
        runtime.message("avis_recu", business_key="PRS-2027")


def test_multi_instance_over_a_collection(runtime, deploy, make_user):
    make_user("alice", "staff")
    body = "\n".join([
        '<bpmn:startEvent id="start"/>',
        '<bpmn:userTask id="avis" name="Avis" camunda:candidateGroups="staff">'
        '<bpmn:extensionElements><camunda:properties><camunda:property name="subject" value="${organisme}"/>'
        '</camunda:properties></bpmn:extensionElements>'
        '<bpmn:multiInstanceLoopCharacteristics camunda:collection="organismes" camunda:elementVariable="organisme"/>'
        '</bpmn:userTask>', '<bpmn:endEvent id="end"/>', chain("start", "avis", "end")])
    deploy({"p.bpmn": definitions(body)})
    iid = runtime.start("p", {"organismes": ["CRSA", "Préfet", "CDCA 75"]}, actor="alice")["instance_id"]
    tasks = open_tasks(runtime, iid)
    assert sorted(t["properties"]["subject"] for t in tasks) == ["CDCA 75", "CRSA", "Préfet"]
    for task in tasks:
        runtime.complete(task["id"], {"sens": "favorable"}, actor="alice")
    assert runtime.show(iid)["state"] == "completed"


# -- conflicts, authorization, incidents ------------------------------------------------------
def test_completing_twice_or_with_stale_version_is_a_conflict(runtime, deploy, make_user):
    make_user("alice", "staff")
    deploy({"p.bpmn": simple_user_process()})
    started = runtime.start("p", actor="alice")
    [task] = open_tasks(runtime, started["instance_id"])
    with pytest.raises(Conflict):
        runtime.complete(task["id"], actor="alice", expected_version=started["lock_version"] + 5)
    assert runtime.show(started["instance_id"])["state"] == "waiting"
    runtime.complete(task["id"], actor="alice", expected_version=started["lock_version"])
    before = count(runtime, AuditEntry)
    with pytest.raises(Conflict):
        runtime.complete(task["id"], actor="alice")
    assert count(runtime, AuditEntry) == before


def test_only_candidates_or_assignee_see_and_complete(runtime, deploy, make_user):
    make_user("alice", "staff")
    make_user("mallory", "autres")
    make_user("bob", "staff")
    deploy({"p.bpmn": simple_user_process()})
    iid = runtime.start("p", actor="alice")["instance_id"]
    [task] = open_tasks(runtime, iid)
    assert runtime.tasks(actor="mallory") == []
    assert [t["id"] for t in runtime.tasks(actor="bob")] == [task["id"]]
    with pytest.raises(Forbidden):
        runtime.complete(task["id"], actor="mallory")
    with pytest.raises(Forbidden):
        runtime.claim(task["id"], actor="mallory")
    runtime.claim(task["id"], actor="alice")
    with pytest.raises(Conflict):
        runtime.claim(task["id"], actor="bob")
    with pytest.raises(Forbidden):
        runtime.complete(task["id"], actor="bob")  # claimed by alice
    runtime.unclaim(task["id"], actor="alice")
    runtime.complete(task["id"], actor="bob")
    assert runtime.show(iid)["state"] == "completed"


def test_script_error_is_an_incident_and_retry_resumes(runtime, deploy, make_user):
    make_user("alice", "staff")
    body = "\n".join(['<bpmn:startEvent id="start"/>', user_task("saisie", "Saisie", 'camunda:candidateGroups="staff"'),
                      script_task("calcul", "ratio = total / nombre"), user_task("suite", "Suite",
                                                                                'camunda:candidateGroups="staff"'),
                      '<bpmn:endEvent id="end"/>', chain("start", "saisie", "calcul", "suite", "end")])
    deploy({"p.bpmn": definitions(body)})
    iid = runtime.start("p", actor="alice")["instance_id"]
    [task] = open_tasks(runtime, iid)
    result = runtime.complete(task["id"], {"total": 10, "nombre": 0}, actor="alice")
    assert result["state"] == "incident"
    shown = runtime.show(iid)
    assert shown["incident"]["element_id"] == "calcul"
    assert "ZeroDivisionError" in shown["incident"]["message"]
    assert shown["tasks"][0]["state"] == "completed"  # the person's work is kept
    assert shown["variables"]["total"] == 10
    retried = runtime.retry(iid, data={"nombre": 4})
    assert retried["state"] == "waiting"
    shown = runtime.show(iid)
    assert shown["variables"]["ratio"] == 2.5
    assert [t["name"] for t in shown["tasks"] if t["state"] == "open"] == ["Suite"]


def test_sandbox_refuses_imports_at_deployment(runtime, deploy, make_user):
    """Scripts are compiled against the sandbox rules at deploy time (issue #11): nothing runs."""
    make_user("alice", "staff")
    body = '<bpmn:startEvent id="s"/>' + script_task("evil", "x = __import__('os').getcwd()") + \
        '<bpmn:endEvent id="e"/>' + chain("s", "evil", "e")
    with pytest.raises(DeploymentError, match=r"evil \(scriptTask\).*__import__"):
        deploy({"p.bpmn": definitions(body)})


def test_retry_on_corrected_definition(runtime, deploy, make_user):
    make_user("alice", "staff")
    broken = definitions('<bpmn:startEvent id="s"/>' + script_task("calcul", "y = inconnu + 1")
                         + '<bpmn:endEvent id="e"/>' + chain("s", "calcul", "e"))
    deploy({"p.bpmn": broken})
    iid = runtime.start("p", actor="alice")["instance_id"]
    assert runtime.show(iid)["state"] == "incident"
    deploy({"p.bpmn": broken.replace("inconnu + 1", "41 + 1")})
    assert runtime.retry(iid, latest_definition=True)["state"] == "completed"
    shown = runtime.show(iid)
    assert shown["version"] == 2 and shown["variables"]["y"] == 42


def test_unknown_service_handler_is_an_incident(runtime, deploy, make_user):
    """A Java delegate class nobody registered is an incident (an unknown *external* topic
    waits for a worker instead: tests/test_external_tasks.py)."""
    make_user("alice", "staff")
    body = ('<bpmn:startEvent id="s"/><bpmn:serviceTask id="svc" camunda:class="inconnu"/>'
            '<bpmn:endEvent id="e"/>' + chain("s", "svc", "e"))
    deploy({"p.bpmn": definitions(body)})
    result = runtime.start("p", actor="alice")
    assert result["state"] == "incident"
    incident = runtime.show(result["instance_id"])["incident"]
    assert incident["element_id"] == "svc" and "inconnu" in incident["message"]
    runtime.services.register("inconnu", lambda call: {"fait": call.inputs.get("x", "oui")})
    assert runtime.retry(result["instance_id"])["state"] == "completed"
    assert runtime.show(result["instance_id"])["variables"]["fait"] == "oui"


def test_notification_service_task_is_recorded(runtime, deploy, make_user):
    make_user("alice", "staff")
    body = ('<bpmn:startEvent id="s"/><bpmn:serviceTask id="notif" camunda:type="external" camunda:topic="notification">'
            '<bpmn:extensionElements><camunda:inputOutput>'
            '<camunda:inputParameter name="to_groups">staff</camunda:inputParameter>'
            '<camunda:inputParameter name="subject">Relance : ${organisme}</camunda:inputParameter>'
            '</camunda:inputOutput></bpmn:extensionElements></bpmn:serviceTask>'
            '<bpmn:endEvent id="e"/>' + chain("s", "notif", "e"))
    deploy({"p.bpmn": definitions(body)})
    iid = runtime.start("p", {"organisme": "CRSA"}, actor="alice")["instance_id"]
    [note] = [a for a in runtime.show(iid)["audit"] if a["action"] == "notification"]
    assert note["details"]["subject"] == "Relance : CRSA" and note["details"]["to_groups"] == ["staff"]


def test_failure_half_way_leaves_no_trace(runtime, deploy, make_user, monkeypatch):
    make_user("alice", "staff")
    deploy({"p.bpmn": simple_user_process()})
    import arsflow.engine.runtime as rt_module
    real = rt_module.Runtime._persist

    def broken(self, session, instance, *args, **kwargs):
        real(self, session, instance, *args, **kwargs)
        raise RuntimeError("panne disque simulée")

    monkeypatch.setattr(rt_module.Runtime, "_persist", broken)
    with pytest.raises(RuntimeError):
        runtime.start("p", actor="alice")
    assert count(runtime, Instance) == 0
    assert count(runtime, HumanTask) == 0
    assert count(runtime, AuditEntry) == 0


def test_terminate_cancels_tasks_and_timers(runtime, deploy, make_user):
    make_user("alice", "staff")
    make_user("bob", "staff")
    make_user("chef", "managers")
    deploy({"p.bpmn": _timer_process(True)})
    iid = runtime.start("p", actor="alice")["instance_id"]
    with pytest.raises(Forbidden):
        runtime.terminate(iid, actor="bob")
    with pytest.raises(Forbidden):  # starting a procedure does not give the right to stop it
        runtime.terminate(iid, actor="alice")
    runtime.terminate(iid, actor="chef", reason="doublon")
    shown = runtime.show(iid)
    assert shown["state"] == "terminated"
    assert {t["state"] for t in shown["tasks"]} == {"cancelled"}
    assert {t["status"] for t in shown["timers"]} == {"cancelled"}
    assert count(runtime, Timer, Timer.status == "waiting") == 0


def test_event_based_gateway_timer_and_message(runtime, deploy, make_user, clock):
    make_user("alice", "staff")
    body = "\n".join([
        '<bpmn:startEvent id="start"/>', '<bpmn:eventBasedGateway id="gw"/>',
        '<bpmn:intermediateCatchEvent id="reponse"><bpmn:messageEventDefinition messageRef="M"/>'
        '</bpmn:intermediateCatchEvent>',
        '<bpmn:intermediateCatchEvent id="silence"><bpmn:timerEventDefinition><bpmn:timeDuration>P2D'
        '</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>',
        script_task("a", "issue = 'reponse'"), script_task("b", "issue = 'silence'"),
        '<bpmn:endEvent id="e1"/>', '<bpmn:endEvent id="e2"/>',
        chain("start", "gw"), flow("gw", "reponse"), flow("gw", "silence"),
        chain("reponse", "a", "e1"), chain("silence", "b", "e2")])
    deploy({"p.bpmn": definitions(body, extra='<bpmn:message id="M" name="reponse"/>')})
    by_timer = runtime.start("p", actor="alice", business_key="T")["instance_id"]
    by_message = runtime.start("p", actor="alice", business_key="M")["instance_id"]
    assert runtime.show(by_timer)["timers"][0]["due_at"] == "2026-12-02T09:00:00+00:00"
    runtime.message("reponse", business_key="M")
    clock.advance(days=2)
    assert runtime.tick() == 1
    assert runtime.show(by_timer)["variables"]["issue"] == "silence"
    assert runtime.show(by_message)["variables"]["issue"] == "reponse"
    assert {t["status"] for t in runtime.show(by_message)["timers"]} == {"cancelled"}


def test_message_event_subprocess_repeats_and_does_not_leak_into_new_instances(runtime, deploy, make_user):
    """A non-interrupting message event subprocess: triggered twice on one instance, never on
    another; a new instance still completes (SpiffWorkflow 3.2 mutated the shared spec)."""
    make_user("alice", "staff")
    body = "\n".join([
        '<bpmn:startEvent id="start"/>', user_task("t1", "Arrêter", 'camunda:candidateGroups="staff"'),
        '<bpmn:endEvent id="end"/>', chain("start", "t1", "end"),
        '<bpmn:subProcess id="tardif" triggeredByEvent="true">'
        '<bpmn:startEvent id="tardif_start" isInterrupting="false"><bpmn:messageEventDefinition messageRef="M"/>'
        '</bpmn:startEvent>' + script_task("noter", "tardifs = 1") + '<bpmn:endEvent id="tardif_end"/>'
        + chain("tardif_start", "noter", "tardif_end") + '</bpmn:subProcess>'])
    deploy({"p.bpmn": definitions(body, extra='<bpmn:message id="M" name="avis_tardif"/>')})
    first = runtime.start("p", actor="alice", business_key="A")["instance_id"]
    runtime.message("avis_tardif", business_key="A", data={"body": "CRSA"})
    runtime.message("avis_tardif", business_key="A", data={"body": "CDCA"})
    second = runtime.start("p", actor="alice", business_key="B")["instance_id"]
    for iid in (first, second):
        [task] = open_tasks(runtime, iid)
        runtime.complete(task["id"], actor="alice")
        assert runtime.show(iid)["state"] == "completed"
    audit = [a for a in runtime.show(first)["audit"] if a["action"] == "message"]
    assert len(audit) == 2
    with pytest.raises(NotFound):  # completed instances no longer take messages
        runtime.message("avis_tardif", business_key="A")


def test_attribute_expressions_with_nested_braces_and_interpolation(runtime, deploy, make_user):
    make_user("alice", "staff")
    ext = ('<camunda:properties>'
           '<camunda:property name="subject" value="${\'Relance\' if relances else \'Demande\'} — ${body[\'name\']}"/>'
           '<camunda:property name="cap" value="${ {\'urps\': 6}[body[\'code\']] }"/>'
           '</camunda:properties>')
    deploy({"p.bpmn": simple_user_process(ext=ext)})
    iid = runtime.start("p", {"relances": 0, "body": {"name": "URPS", "code": "urps"}}, actor="alice")["instance_id"]
    [task] = open_tasks(runtime, iid)
    assert task["properties"] == {"subject": "Demande — URPS", "cap": 6}


def test_lane_of_a_task_drawn_inside_a_subprocess_is_its_own(runtime, deploy, make_user):
    make_user("alice", "staff")
    body = "\n".join([
        '<bpmn:laneSet id="ls"><bpmn:lane id="lane_dg" name="DG ARS"><bpmn:flowNodeRef>start</bpmn:flowNodeRef>'
        '<bpmn:flowNodeRef>sp</bpmn:flowNodeRef><bpmn:flowNodeRef>end</bpmn:flowNodeRef>'
        '<bpmn:flowNodeRef>sp_start</bpmn:flowNodeRef><bpmn:flowNodeRef>sp_end</bpmn:flowNodeRef></bpmn:lane>'
        '<bpmn:lane id="lane_pole" name="Pôle démocratie sanitaire"><bpmn:flowNodeRef>inner</bpmn:flowNodeRef>'
        '</bpmn:lane></bpmn:laneSet>',
        '<bpmn:startEvent id="start"/>',
        '<bpmn:subProcess id="sp"><bpmn:startEvent id="sp_start"/>'
        + user_task("inner", "Instruire", 'camunda:candidateGroups="staff"')
        + '<bpmn:endEvent id="sp_end"/>' + chain("sp_start", "inner", "sp_end") + '</bpmn:subProcess>',
        '<bpmn:endEvent id="end"/>', chain("start", "sp", "end")])
    deploy({"p.bpmn": definitions(body)})
    iid = runtime.start("p", actor="alice")["instance_id"]
    [task] = open_tasks(runtime, iid)
    assert task["lane"] == "Pôle démocratie sanitaire"


def test_suspended_deadline_resumes_later_by_the_suspended_days(runtime, deploy, make_user, clock):
    make_user("alice", "staff")
    body = "\n".join([
        '<bpmn:startEvent id="start"/>',
        script_task("calcul", "deadline = legal_deadline(publication_date, 'P3M')"),
        user_task("avis", "Enregistrer l'avis", 'camunda:candidateGroups="staff" camunda:dueDate="${deadline}"'),
        timer_boundary("echeance", "avis", "timeDate", "${deadline}"),
        script_task("tacite", "acquis = deadline"), '<bpmn:endEvent id="end"/>', '<bpmn:endEvent id="end2"/>',
        chain("start", "calcul", "avis", "end"), chain("echeance", "tacite", "end2")])
    deploy({"p.bpmn": definitions(body)})
    iid = runtime.start("p", {"publication_date": "2026-11-30", "territory": "75"}, actor="alice")["instance_id"]
    assert runtime.show(iid)["timers"][0]["due_at"] == "2027-03-01T23:00:00+00:00"
    clock.set("2026-12-10T10:00:00+00:00")
    assert runtime.suspend_deadlines(iid, actor="alice", reason="pièces manquantes")["state"] == "suspended"
    clock.set("2027-03-02T00:00:00+00:00")  # the original expiry passes while suspended
    assert runtime.tick() == 0
    runtime.resume_deadlines(iid, actor="alice", on="2026-12-20")
    shown = runtime.show(iid)
    # 10 days suspended: Mon 1 Mar 2027 + 10 = Thu 11 Mar 2027, expiring 12 Mar 00:00 Paris.
    assert shown["state"] == "waiting"
    assert shown["timers"][0]["due_at"] == "2027-03-11T23:00:00+00:00"
    assert shown["variables"]["deadline"] == "2027-03-11T23:00:00+00:00"
    assert shown["tasks"][0]["due_at"] == "2027-03-11T23:00:00+00:00"
    actions = [a["action"] for a in shown["audit"]]
    assert "deadline_suspended" in actions and "deadline_resumed" in actions
    resumed = [a for a in shown["audit"] if a["action"] == "deadline_resumed"][0]
    assert resumed["details"]["days"] == 10
    clock.set("2027-03-11T22:59:59+00:00")
    assert runtime.tick() == 0
    clock.set("2027-03-11T23:00:00+00:00")
    assert runtime.tick() == 1
    assert runtime.show(iid)["variables"]["acquis"] == "2027-03-11T23:00:00+00:00"


def test_receive_task_takes_its_message(runtime, deploy, make_user):
    make_user("alice", "staff")
    body = ('<bpmn:startEvent id="s"/><bpmn:receiveTask id="attente" messageRef="M"/>'
            + script_task("apres", "recu = sens") + '<bpmn:endEvent id="e"/>' + chain("s", "attente", "apres", "e"))
    deploy({"p.bpmn": definitions(body, extra='<bpmn:message id="M" name="avis"/>')})
    iid = runtime.start("p", actor="alice", business_key="R")["instance_id"]
    runtime.message("avis", business_key="R", data={"sens": "favorable"})
    shown = runtime.show(iid)
    assert shown["state"] == "completed" and shown["variables"]["recu"] == "favorable"


def test_candidate_starter_groups_restrict_who_may_start(runtime, deploy, make_user):
    make_user("alice", "staff")
    make_user("dg", "dg_ars")
    xml = simple_user_process().replace('isExecutable="true"',
                                        'isExecutable="true" camunda:candidateStarterGroups="dg_ars"')
    deploy({"p.bpmn": xml})
    with pytest.raises(Forbidden):
        runtime.start("p", actor="alice")
    assert runtime.start("p", actor="dg")["state"] == "waiting"


def test_retry_is_reserved_to_initiator_managers_and_deployers(runtime, deploy, make_user):
    make_user("alice", "staff")
    make_user("bob", "staff")
    body = '<bpmn:startEvent id="s"/>' + script_task("x", "y = 1 / 0") + '<bpmn:endEvent id="e"/>' + chain("s", "x", "e")
    deploy({"p.bpmn": definitions(body)})
    iid = runtime.start("p", actor="alice")["instance_id"]
    with pytest.raises(Forbidden):
        runtime.retry(iid, actor="bob")
    assert runtime.retry(iid, actor="alice")["state"] == "incident"
