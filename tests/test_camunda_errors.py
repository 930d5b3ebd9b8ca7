"""BPMN errors thrown by service handlers and scripts, and escalations, caught as Camunda 7
catches them (boundary events, error event sub-processes, code variables); warm and cold."""
from __future__ import annotations

import pytest

from arsflow.engine.services import BpmnError

from tests.bpmn_builder import chain, flow, script_task
from tests.modeler import modeler_diagram

ERRORS = ('<bpmn:error id="Error_refus" name="Refus" errorCode="REFUS" />'
          '<bpmn:error id="Error_autre" name="Autre" errorCode="AUTRE" />'
          '<bpmn:escalation id="Escalation_retard" name="Retard" escalationCode="RETARD" />')


def _open(rt, iid):
    return sorted(t["element_id"] for t in rt().tasks(instance_id=iid))


@pytest.fixture
def checker(drive):
    def verifier(call):
        if call.inputs.get("dossier") == "incomplet":
            raise BpmnError("REFUS", "pièce manquante", {"motif": "pièce 3"})
        if call.inputs.get("dossier") == "bizarre":
            call.bpmn_error("INCONNU")
        if call.inputs.get("dossier") == "panne":
            raise RuntimeError("serveur indisponible")
        return {"verifie": True}
    drive._runtime.services.register("verifier", verifier)
    return verifier


def _service_with_boundary(error_ref: str = ' errorRef="Error_refus"') -> str:
    return modeler_diagram("\n".join([
        '<bpmn:startEvent id="StartEvent_1"/>',
        '<bpmn:serviceTask id="Task_verifier" name="Vérifier" camunda:type="external" camunda:topic="verifier">'
        '<bpmn:extensionElements><camunda:inputOutput><camunda:inputParameter name="dossier">${dossier}'
        '</camunda:inputParameter></camunda:inputOutput></bpmn:extensionElements></bpmn:serviceTask>',
        '<bpmn:boundaryEvent id="Event_refus" attachedToRef="Task_verifier">'
        f'<bpmn:errorEventDefinition id="ErrorEventDefinition_1"{error_ref} camunda:errorCodeVariable="code" '
        'camunda:errorMessageVariable="raison" /></bpmn:boundaryEvent>',
        '<bpmn:userTask id="Task_ok" name="Instruire" camunda:candidateGroups="staff"/>',
        '<bpmn:userTask id="Task_refus" name="Notifier le refus" camunda:candidateGroups="staff"/>',
        '<bpmn:endEvent id="EndEvent_ok"/>', '<bpmn:endEvent id="EndEvent_refus"/>',
        chain("StartEvent_1", "Task_verifier", "Task_ok", "EndEvent_ok"),
        chain("Event_refus", "Task_refus", "EndEvent_refus")]), extra=ERRORS)


def test_handler_error_reaches_the_boundary_event_with_code_variables(drive, checker):
    rt = drive.runtime
    drive.deploy({"p.bpmn": _service_with_boundary()})
    ok = rt().start("p", {"dossier": "complet"}, actor="alice")["instance_id"]
    assert _open(rt, ok) == ["Task_ok"]
    refused = rt().start("p", {"dossier": "incomplet"}, actor="alice")["instance_id"]
    assert _open(rt, refused) == ["Task_refus"]
    variables = rt().show(refused)["variables"]
    assert (variables["code"], variables["raison"], variables["motif"]) == ("REFUS", "pièce manquante", "pièce 3")
    [task] = rt().tasks(instance_id=refused)
    rt().complete(task["id"], actor="alice")
    assert rt().show(refused)["state"] == "completed"


def test_uncaught_code_is_a_french_incident_and_a_catch_all_boundary_catches_any(drive, checker):
    rt = drive.runtime
    drive.deploy({"p.bpmn": _service_with_boundary()})
    result = rt().start("p", {"dossier": "bizarre"}, actor="alice")
    assert result["state"] == "incident"
    incident = rt().show(result["instance_id"])["incident"]
    assert incident["element_id"] == "Task_verifier" and "INCONNU" in incident["message"]
    assert "aucun événement d'erreur" in incident["message"]
    drive.deploy({"p.bpmn": _service_with_boundary(error_ref="")})
    caught = rt().start("p", {"dossier": "bizarre"}, actor="alice")["instance_id"]
    assert _open(rt, caught) == ["Task_refus"]
    assert rt().show(caught)["variables"]["code"] == "INCONNU"
    # an ordinary exception stays an incident, not a BPMN error
    failed = rt().start("p", {"dossier": "panne"}, actor="alice")
    assert failed["state"] == "incident"
    assert "serveur indisponible" in rt().show(failed["instance_id"])["incident"]["message"]


def test_script_error_inside_subprocess_reaches_the_subprocess_boundary(drive):
    rt = drive.runtime
    body = "\n".join([
        '<bpmn:startEvent id="StartEvent_1"/>',
        '<bpmn:subProcess id="Sub_controle" name="Contrôle">',
        '<bpmn:startEvent id="Sub_start"/>',
        script_task("Script_controle", "if montant &gt; 1000: bpmn_error('AUTRE', 'montant trop élevé')\ncontrole = 'ok'"),
        '<bpmn:userTask id="Task_dans" name="Valider" camunda:candidateGroups="staff"/>',
        '<bpmn:endEvent id="Sub_end"/>', chain("Sub_start", "Script_controle", "Task_dans", "Sub_end"),
        '</bpmn:subProcess>',
        '<bpmn:boundaryEvent id="Event_autre" attachedToRef="Sub_controle">'
        '<bpmn:errorEventDefinition errorRef="Error_autre" camunda:errorMessageVariable="raison"/></bpmn:boundaryEvent>',
        '<bpmn:userTask id="Task_exception" name="Traiter" camunda:candidateGroups="staff"/>',
        '<bpmn:endEvent id="EndEvent_1"/>', '<bpmn:endEvent id="EndEvent_2"/>',
        chain("StartEvent_1", "Sub_controle", "EndEvent_1"), chain("Event_autre", "Task_exception", "EndEvent_2")])
    drive.deploy({"p.bpmn": modeler_diagram(body, extra=ERRORS)})
    small = rt().start("p", {"montant": 10}, actor="alice")["instance_id"]
    assert _open(rt, small) == ["Task_dans"]
    big = rt().start("p", {"montant": 5000}, actor="alice")["instance_id"]
    assert _open(rt, big) == ["Task_exception"]
    assert rt().show(big)["variables"]["raison"] == "montant trop élevé"
    assert "controle" not in rt().show(big)["variables"]
    # The history names the sub-process, entered and cancelled in that one start, as the
    # parent of what ran inside it.
    from arsflow.engine.models import ActivityInstance
    from sqlalchemy import select
    columns = (ActivityInstance.id, ActivityInstance.activity_id, ActivityInstance.parent_id,
               ActivityInstance.canceled, ActivityInstance.ended_at)
    with rt().db.read() as s:
        history = s.execute(select(*columns).where(ActivityInstance.instance_id == big)).all()
    [sub] = [r for r in history if r.activity_id == "Sub_controle"]
    assert sub.canceled and sub.ended_at is not None
    assert [r.parent_id for r in history if r.activity_id == "Sub_start"] == [sub.id]


def test_error_event_subprocess_interrupts_the_process(drive, checker):
    rt = drive.runtime
    body = "\n".join([
        '<bpmn:startEvent id="StartEvent_1"/>',
        '<bpmn:userTask id="Task_avant" name="Préparer" camunda:candidateGroups="staff"/>',
        '<bpmn:serviceTask id="Task_verifier" name="Vérifier" camunda:topic="verifier">'
        '<bpmn:extensionElements><camunda:inputOutput><camunda:inputParameter name="dossier">${dossier}'
        '</camunda:inputParameter></camunda:inputOutput></bpmn:extensionElements></bpmn:serviceTask>',
        '<bpmn:userTask id="Task_apres" name="Instruire" camunda:candidateGroups="staff"/>',
        '<bpmn:endEvent id="EndEvent_1"/>', chain("StartEvent_1", "Task_avant", "Task_verifier", "Task_apres", "EndEvent_1"),
        '<bpmn:subProcess id="Sub_erreur" triggeredByEvent="true">',
        '<bpmn:startEvent id="Start_erreur"><bpmn:errorEventDefinition errorRef="Error_refus" '
        'camunda:errorCodeVariable="code"/></bpmn:startEvent>',
        '<bpmn:userTask id="Task_erreur" name="Traiter le refus" camunda:candidateGroups="staff"/>',
        '<bpmn:endEvent id="End_erreur"/>', chain("Start_erreur", "Task_erreur", "End_erreur"), '</bpmn:subProcess>'])
    drive.deploy({"p.bpmn": modeler_diagram(body, extra=ERRORS)})
    iid = rt().start("p", {"dossier": "incomplet"}, actor="alice")["instance_id"]
    [task] = rt().tasks(instance_id=iid)
    rt().complete(task["id"], actor="alice")
    assert _open(rt, iid) == ["Task_erreur"]
    [task] = rt().tasks(instance_id=iid)
    assert rt().task_data(task["id"], actor="alice")["code"] == "REFUS"
    rt().complete(task["id"], actor="alice")
    assert rt().show(iid)["state"] == "completed"


def test_escalation_thrown_in_subprocess_caught_non_interrupting(drive):
    rt = drive.runtime
    body = "\n".join([
        '<bpmn:startEvent id="StartEvent_1"/>',
        '<bpmn:subProcess id="Sub_instruction">',
        '<bpmn:startEvent id="Sub_start"/>',
        '<bpmn:intermediateThrowEvent id="Throw_retard"><bpmn:escalationEventDefinition escalationRef="Escalation_retard"/>'
        '</bpmn:intermediateThrowEvent>',
        '<bpmn:userTask id="Task_instruire" name="Instruire" camunda:candidateGroups="staff"/>',
        '<bpmn:endEvent id="Sub_end"/>', chain("Sub_start", "Throw_retard", "Task_instruire", "Sub_end"),
        '</bpmn:subProcess>',
        '<bpmn:boundaryEvent id="Event_retard" attachedToRef="Sub_instruction" cancelActivity="false">'
        '<bpmn:escalationEventDefinition escalationRef="Escalation_retard" camunda:escalationCodeVariable="alerte"/>'
        '</bpmn:boundaryEvent>',
        '<bpmn:userTask id="Task_alerter" name="Alerter le directeur" camunda:candidateGroups="staff"/>',
        '<bpmn:endEvent id="EndEvent_1"/>', '<bpmn:endEvent id="EndEvent_2"/>',
        chain("StartEvent_1", "Sub_instruction", "EndEvent_1"), chain("Event_retard", "Task_alerter", "EndEvent_2")])
    drive.deploy({"p.bpmn": modeler_diagram(body, extra=ERRORS)})
    iid = rt().start("p", actor="alice")["instance_id"]
    assert _open(rt, iid) == ["Task_alerter", "Task_instruire"]
    assert rt().show(iid)["variables"]["alerte"] == "RETARD"
    for task in rt().tasks(instance_id=iid):
        rt().complete(task["id"], actor="alice")
    assert rt().show(iid)["state"] == "completed"


def test_interrupting_message_event_subprocess_cancels_the_main_flow(drive):
    rt = drive.runtime
    body = "\n".join([
        '<bpmn:startEvent id="StartEvent_1"/>',
        '<bpmn:userTask id="Task_instruire" name="Instruire" camunda:candidateGroups="staff"/>',
        '<bpmn:endEvent id="EndEvent_1"/>', chain("StartEvent_1", "Task_instruire", "EndEvent_1"),
        '<bpmn:subProcess id="Sub_retrait" triggeredByEvent="true">',
        '<bpmn:startEvent id="Start_retrait"><bpmn:messageEventDefinition messageRef="Message_retrait"/></bpmn:startEvent>',
        script_task("Script_retrait", "retire = True"),
        '<bpmn:endEvent id="End_retrait"/>', chain("Start_retrait", "Script_retrait", "End_retrait"), '</bpmn:subProcess>'])
    drive.deploy({"p.bpmn": modeler_diagram(body, extra='<bpmn:message id="Message_retrait" name="demande_retiree"/>')})
    iid = rt().start("p", actor="alice", business_key="R-1")["instance_id"]
    assert _open(rt, iid) == ["Task_instruire"]
    rt().message("demande_retiree", business_key="R-1")
    shown = rt().show(iid)
    assert shown["state"] == "completed" and shown["variables"]["retire"] is True
    assert [t["state"] for t in shown["tasks"]] == ["cancelled"]
