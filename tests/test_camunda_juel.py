"""A diagram saved by Camunda Modeler 5 whose conditions and attributes are JUEL, run cold and
warm: gateways, assignee/candidateGroups/dueDate and a composite property."""
from __future__ import annotations

from pathlib import Path

import pytest

from arsflow.engine.bpmn.definitions import collect_sources

FIXTURES = Path(__file__).parent / "fixtures" / "camunda"


@pytest.fixture
def routing(rt, make_user):
    make_user("agent", "instructeurs")
    make_user("directrice", "dg")
    with rt().db.transaction() as s:
        rt().definitions.deploy(s, collect_sources([FIXTURES / "juel_routing.bpmn"]), now=rt().now())
    return rt


def instruct(rt, data, business_key="D-1"):
    iid = rt().start("juel_routing", {"dg": "directrice", "echeance": "2026-12-15T17:00:00+01:00"},
                     business_key=business_key, actor="agent")["instance_id"]
    [task] = rt().tasks(instance_id=iid)
    assert task["element_id"] == "Activity_instruire"
    rt().complete(task["id"], data, actor="agent")
    return iid


def test_amount_gt_and_approved_goes_to_the_dg(routing):
    iid = instruct(routing, {"amount": 1500, "approved": True, "urgent": True, "comment": None})
    [task] = routing().tasks(instance_id=iid)
    assert task["element_id"] == "Activity_dg"
    assert task["assignee"] == "directrice"          # ${execution.getVariable("dg")}
    assert task["candidate_groups"] == ["dg"]        # #{urgent ? 'dg' : 'direction'}
    assert task["due_at"].startswith("2026-12-15T16:00:00")
    routing().complete(task["id"], {}, actor="directrice")
    assert routing().show(iid)["state"] == "completed"


def test_not_approved_ends_refused(routing):
    iid = instruct(routing, {"amount": 1500, "approved": False, "urgent": False, "comment": "incomplet"})
    shown = routing().show(iid)
    assert shown["state"] == "completed" and not shown.get("incident")
    assert routing().tasks(instance_id=iid) == []


def test_default_flow_and_composite_text(routing):
    iid = instruct(routing, {"amount": 500, "approved": True, "urgent": False, "comment": ""}, business_key="D-3")
    [task] = routing().tasks(instance_id=iid)
    assert task["element_id"] == "Activity_standard"
    assert task["properties"]["resume"] == "Dossier D-3 : sans commentaire (250.0)"


def test_form_text_values_coerce_like_camunda(routing):
    """A form posts text: "2000" > 1000 and "true" are numbers and booleans to EL."""
    iid = instruct(routing, {"amount": "2000", "approved": "true", "urgent": "false", "comment": None})
    [task] = routing().tasks(instance_id=iid)
    assert task["element_id"] == "Activity_dg" and task["candidate_groups"] == ["direction"]
