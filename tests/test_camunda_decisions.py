"""DMN as Camunda runs it: a DRG of two decisions in one file (requiredDecision), FEEL simple
unary tests, and business rule tasks with camunda:resultVariable and each mapDecisionResult;
run cold and warm. Also: a DMN 1.1 file named `.dmn11.xml` deploys."""
from __future__ import annotations

from pathlib import Path

import pytest

from arsflow.engine.bpmn.decisions import feel_unary_tests, map_decision_result
from arsflow.engine.bpmn.definitions import collect_sources

FIXTURES = Path(__file__).parent / "fixtures" / "camunda"


@pytest.fixture
def depense(rt, make_user):
    make_user("agent", "comptabilite", "direction")
    with rt().db.transaction() as s:
        rt().definitions.deploy(s, collect_sources([FIXTURES / "decisions_drg.dmn", FIXTURES / "decision_results.bpmn"]),
                                now=rt().now())
    return rt


@pytest.mark.parametrize("montant, categorie, classe, groupes", [
    (100, "Divers", "courante", ["comptabilite", "ventes"]),
    (250, "Divers", "budget", ["direction"]),                      # [250..1000] includes 250
    (1000.5, "Divers", "exceptionnelle", ["direction", "controle"]),
    (99999, "Déplacements", "courante", ["comptabilite", "ventes"]),  # empty cell: any amount
    (10, "Logiciels", "budget", ["direction"]),
])
def test_drg_and_map_decision_result(depense, montant, categorie, classe, groupes):
    rt = depense
    iid = rt().start("depense", {"montant": montant, "categorie": categorie}, actor="agent")["instance_id"]
    shown = rt().show(iid)
    assert not shown.get("incident"), shown.get("incident")
    variables = shown["variables"]
    assert variables["groupes"] == groupes                       # collectEntries
    assert variables["classe"] == classe                         # singleEntry
    assert variables["detail"] == {"classement": classe}         # singleResult
    assert variables["liste"] == [{"groupe": g} for g in groupes]  # resultList (the default)
    assert "classement" not in variables and "groupe" not in variables  # nothing else leaks
    [task] = rt().tasks(instance_id=iid)
    assert task["candidate_groups"] == groupes


def test_dmn11_file_name_deploys(rt, make_user):
    make_user("agent", "comptabilite")
    dmn11 = (FIXTURES / "decisions_drg.dmn").read_text().replace(
        "https://www.omg.org/spec/DMN/20191111/MODEL/", "http://www.omg.org/spec/DMN/20151101/dmn.xsd")
    dmn11 = dmn11[:dmn11.index("  <dmndi:DMNDI>")] + "</definitions>\n"
    with rt().db.transaction() as s:
        result = rt().definitions.deploy(s, [("depenses.dmn11.xml", dmn11.encode()),
                                             ("depense.bpmn", (FIXTURES / "decision_results.bpmn").read_bytes())],
                                         now=rt().now())
    assert {(c["kind"], c["key"]) for c in result.created} >= {("decision", "classement"), ("decision", "valideurs")}
    iid = rt().start("depense", {"montant": 500, "categorie": "Divers"}, actor="agent")["instance_id"]
    assert rt().show(iid)["variables"]["classe"] == "budget"


def test_map_decision_result_errors_as_camunda():
    two = [{"groupe": "a"}, {"groupe": "b"}]
    assert map_decision_result([], "singleEntry", "d") is None
    assert map_decision_result([], "singleResult", "d") is None
    assert map_decision_result([], "collectEntries", "d") == []
    assert map_decision_result([], "resultList", "d") == []
    with pytest.raises(ValueError, match="2 résultats"):
        map_decision_result(two, "singleEntry", "d")
    with pytest.raises(ValueError, match="2 résultats"):
        map_decision_result(two, "singleResult", "d")
    with pytest.raises(ValueError, match="plusieurs sorties"):
        map_decision_result([{"a": 1, "b": 2}], "singleEntry", "d")
    with pytest.raises(ValueError, match="plusieurs sorties"):
        map_decision_result([{"a": 1, "b": 2}], "collectEntries", "d")


@pytest.mark.parametrize("cell, expected", [
    ("[1..5]", "((1 <= ? <= 5))"), ("]1..5[", "((1 < ? < 5))"), ("(1..5]", "((1 < ? <= 5))"),
    ('"a", "b"', '((? == "a") or (? == "b"))'), ('not("a")', 'not ((? == "a"))'),
    ("< 3, > 10", "((? < 3) or (? > 10))"), ('"x, y"', '"x, y"'), ("-", None), ("", None),
    ("> 1000", "> 1000"), ('"Divers"', '"Divers"'),
])
def test_feel_unary_tests(cell, expected):
    assert feel_unary_tests(cell) == expected
