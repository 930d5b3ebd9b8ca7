"""Camunda 7 variable mappings on diagrams saved by Camunda Modeler, run cold and warm:
inputOutput inputs are local to their activity and outputs map back; call activities pass
only what camunda:in/out map, and the business key only through camunda:in businessKey."""
from __future__ import annotations

from pathlib import Path

import pytest

from arsflow.engine.bpmn.definitions import collect_sources

FIXTURES = Path(__file__).parent / "fixtures" / "camunda"


@pytest.fixture
def deployed(rt, make_user):
    make_user("agent", "instructeurs")

    def deploy(*names):
        with rt().db.transaction() as s:
            rt().definitions.deploy(s, collect_sources([FIXTURES / n for n in names]), now=rt().now())
        return rt
    return deploy


def only_task(rt, iid):
    [task] = rt().tasks(instance_id=iid)
    return task


def test_input_output_parameters(deployed):
    rt = deployed("io_mapping.bpmn")
    iid = rt().start("io_mapping", {"demandeur": {"nom": "Durand"}, "montant": 100, "service": "finances"},
                     business_key="AR-2026-7", actor="agent")["instance_id"]
    task = only_task(rt, iid)
    seen = rt().task_data(task["id"], actor="agent")
    # the activity sees its inputs: text, expression, list, map, script — in order
    assert seen["service"] == "juridique" and seen["destinataire"] == "Durand"
    assert seen["copies"] == ["dg", "juridique"]
    assert seen["entete"] == {"ville": "Paris", "ref": "AR-2026-7"}
    assert seen["montant_ttc"] == 120.0 and "taux" not in seen  # the script's own names stay in it
    # …the process scope does not
    variables = rt().show(iid)["variables"]
    assert variables["service"] == "finances" and "destinataire" not in variables
    rt().complete(task["id"], {"remarque": "vu"}, actor="agent")
    variables = rt().show(iid)["variables"]
    assert variables["courrier"] == "Durand / AR-2026-7 / juridique"   # outputs map back
    assert variables["total"] == 120.0
    assert variables["service"] == "finances"                          # shadowed value restored
    assert variables["remarque"] == "vu"                               # form data reaches the process
    for local in ("destinataire", "copies", "entete", "montant_ttc"):
        assert local not in variables
    assert only_task(rt, iid)["element_id"] == "Activity_signer"
    assert "destinataire" not in rt().task_data(only_task(rt, iid)["id"], actor="agent")


def test_call_activity_in_out(deployed):
    rt = deployed("call_callee.bpmn20.xml", "call_caller.bpmn")
    iid = rt().start("demande", {"montant": 100, "secret": "x"}, business_key="DEM-1", actor="agent")["instance_id"]
    task = only_task(rt, iid)
    assert task["element_id"] == "Activity_decider"
    seen = rt().task_data(task["id"], actor="agent")
    assert seen == {"amount": 100, "double": 200}                     # only mapped variables cross
    assert task["properties"] == {"cle": "DEM-1", "voit_secret": False}
    rt().complete(task["id"], {"decision": "favorable", "interne": 1}, actor="agent")
    variables = rt().show(iid)["variables"]
    assert variables["decision_finale"] == "favorable" and variables["plus_un"] == 101
    assert "interne" not in variables and "amount" not in variables and "decision" not in variables
    assert variables["montant"] == 100 and variables["secret"] == "x"

    rt().complete(only_task(rt, iid)["id"], {}, actor="agent")
    task = only_task(rt, iid)                                          # variables="all", no businessKey
    seen = rt().task_data(task["id"], actor="agent")
    assert seen["secret"] == "x" and seen["montant"] == 100 and seen["decision_finale"] == "favorable"
    assert task["properties"] == {"cle": None, "voit_secret": True}   # no businessKey mapping: none
    rt().complete(task["id"], {"decision": "défavorable", "interne": 2}, actor="agent")
    variables = rt().show(iid)["variables"]
    assert variables["decision"] == "défavorable" and variables["interne"] == 2
    assert only_task(rt, iid)["element_id"] == "Activity_suite"


def test_called_element_binding_version(rt, make_user):
    """calledElementBinding="version" runs the pinned version; latest runs the newest."""
    make_user("agent", "instructeurs")
    callee = (FIXTURES / "call_callee.bpmn20.xml").read_text()
    caller = (FIXTURES / "call_caller.bpmn").read_text()
    pinned = caller.replace('calledElement="instruction">', 'calledElement="instruction" '
                            'camunda:calledElementBinding="version" camunda:calledElementVersion="1">', 1)
    assert pinned != caller

    def deploy(files):
        with rt().db.transaction() as s:
            return rt().definitions.deploy(s, [(n, t.encode()) for n, t in files.items()], now=rt().now())
    deploy({"instruction.bpmn": callee})
    deploy({"instruction.bpmn": callee.replace('name="Décider"', 'name="Décider (v2)"')})
    deploy({"demande.bpmn": pinned})
    iid = rt().start("demande", {"montant": 1}, actor="agent")["instance_id"]
    assert only_task(rt, iid)["name"] == "Décider"                    # version 1, pinned
    deploy({"demande.bpmn": caller})
    iid = rt().start("demande", {"montant": 1}, actor="agent")["instance_id"]
    assert only_task(rt, iid)["name"] == "Décider (v2)"              # latest


def test_called_element_binding_lint():
    from arsflow.engine.bpmn.lint import lint_sources
    caller = (FIXTURES / "call_caller.bpmn").read_text()
    callee = (FIXTURES / "call_callee.bpmn20.xml").read_bytes()
    bad_version = caller.replace('calledElement="instruction">', 'calledElement="instruction" '
                                 'camunda:calledElementBinding="version">', 1)
    [error] = lint_sources([("c.bpmn", bad_version.encode()), ("i.bpmn", callee)]).errors
    assert error.element_id == "Activity_mapped" and "calledElementVersion" in error.message
    deployment = caller.replace('calledElement="instruction">', 'calledElement="instruction" '
                                'camunda:calledElementBinding="deployment">', 1)
    [error] = lint_sources([("c.bpmn", deployment.encode())], known_processes={"instruction"}).errors
    assert error.element_id == "Activity_mapped" and "déployé avec ce diagramme" in error.message
    assert lint_sources([("c.bpmn", deployment.encode()), ("i.bpmn", callee)]).ok
