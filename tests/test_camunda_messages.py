"""Incidents and lint findings in French, with the element (and file and line for lint): no
SpiffWorkflow English, no `?:`, no raw KeyError."""
from __future__ import annotations

import pytest

from tests.bpmn_builder import chain, flow, script_task
from tests.modeler import modeler_diagram

ENGLISH = ("Error evaluating", "Did you mean", "is not defined", "Python script error", "No conditions")


@pytest.mark.parametrize("case", ["script", "gateway"])
def test_incidents_are_in_french_and_name_the_element(drive, case):
    rt = drive.runtime
    if case == "script":
        body = "\n".join(['<bpmn:startEvent id="StartEvent_1"/>', script_task("Script_calcul", "total = montnt * 2"),
                          '<bpmn:endEvent id="EndEvent_1"/>', chain("StartEvent_1", "Script_calcul", "EndEvent_1")])
        element = "Script_calcul"
    else:
        body = "\n".join([
            '<bpmn:startEvent id="StartEvent_1"/>', '<bpmn:exclusiveGateway id="Gateway_seuil" default="Flow_non"/>',
            '<bpmn:endEvent id="EndEvent_1"/>', '<bpmn:endEvent id="EndEvent_2"/>', flow("StartEvent_1", "Gateway_seuil"),
            flow("Gateway_seuil", "EndEvent_1", "montnt &gt; 1000", fid="Flow_oui"),
            flow("Gateway_seuil", "EndEvent_2", fid="Flow_non")])
        element = "Gateway_seuil"
    drive.deploy({"p.bpmn": modeler_diagram(body)})
    result = rt().start("p", {"montant": 5}, actor="alice")
    assert result["state"] == "incident"
    incident = rt().show(result["instance_id"])["incident"]
    assert incident["element_id"] == element
    assert "variable « montnt » inconnue" in incident["message"]
    assert "vouliez-vous dire « montant » ?" in incident["message"]
    assert not any(word in incident["message"] for word in ENGLISH), incident["message"]


def test_engine_refusals_in_lint_reports_have_a_file_and_no_question_marks(drive):
    from arsflow.engine.errors import DeploymentError
    bad = modeler_diagram("\n".join([
        '<bpmn:startEvent id="StartEvent_1"/>',
        '<bpmn:intermediateThrowEvent id="Event_signal"><bpmn:signalEventDefinition signalRef="Signal_inconnu"/>'
        '</bpmn:intermediateThrowEvent>',
        '<bpmn:endEvent id="EndEvent_1"/>', chain("StartEvent_1", "Event_signal", "EndEvent_1")]))
    with pytest.raises(DeploymentError) as err:
        drive.deploy({"signal.bpmn": bad})
    text = err.value.message
    assert "?:" not in text and "? (" not in text
    assert "signal.bpmn" in text and "Event_signal" in text
    assert not any(word in text for word in ENGLISH + ("Expected a", "KeyError")), text
