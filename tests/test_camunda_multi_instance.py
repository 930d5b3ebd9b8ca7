"""Multi-instance as Camunda 7 runs it, on diagrams shaped as Camunda Modeler 5 saves them,
driven warm (one runtime) and cold (a new runtime, new caches, for every operation)."""
from __future__ import annotations

import pytest

from tests.bpmn_builder import chain, script_task
from tests.modeler import modeler_diagram


def _user_mi(loop: str, extra_task_attrs: str = "", after: str = "") -> str:
    return modeler_diagram("\n".join([
        '<bpmn:startEvent id="StartEvent_1"/>',
        f'<bpmn:userTask id="Review" name="Relire" camunda:candidateGroups="staff" {extra_task_attrs}>{loop}</bpmn:userTask>',
        script_task("Count", after or "after = 'fait'"),
        '<bpmn:userTask id="Done" name="Fin" camunda:candidateGroups="staff"/>',
        '<bpmn:endEvent id="EndEvent_1"/>', chain("StartEvent_1", "Review", "Count", "Done", "EndEvent_1")]))


def _open(rt, iid, element="Review"):
    return [t for t in rt().tasks(instance_id=iid) if t["element_id"] == element]


@pytest.mark.parametrize("collection", ["${reviewers}", "reviewers"])
def test_collection_expression_or_variable_parallel(drive, collection):
    rt = drive.runtime
    drive.deploy({"mi.bpmn": _user_mi(
        f'<bpmn:multiInstanceLoopCharacteristics camunda:collection="{collection}" camunda:elementVariable="reviewer"/>',
        'camunda:assignee="${reviewer}"')})
    iid = rt().start("p", {"reviewers": ["alice", "bob", "carol"]}, actor="alice")["instance_id"]
    tasks = _open(rt, iid)
    assert sorted(t["assignee"] for t in tasks) == ["alice", "bob", "carol"]
    for task in tasks:
        rt().complete(task["id"], {f"avis_{task['assignee']}": "ok"}, actor=task["assignee"])
    shown = rt().show(iid)
    assert shown["state"] == "waiting"
    assert {k: v for k, v in shown["variables"].items() if k.startswith("avis_")} == {
        "avis_alice": "ok", "avis_bob": "ok", "avis_carol": "ok"}
    # instance-local variables do not flow out of the multi-instance
    [done] = _open(rt, iid, "Done")
    data = rt().task_data(done["id"], actor="alice")
    assert not {"reviewer", "loopCounter", "nrOfInstances"} & set(data)
    assert data["after"] == "fait" and data["avis_bob"] == "ok"


def test_second_instance_unaffected_by_first(drive):
    """The parsed spec is shared: nothing an instance resolves may be written on it."""
    rt = drive.runtime
    drive.deploy({"mi.bpmn": _user_mi(
        '<bpmn:multiInstanceLoopCharacteristics><bpmn:loopCardinality xsi:type="bpmn:tFormalExpression">'
        '${n}</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics>')})
    first = rt().start("p", {"n": 2}, actor="alice")["instance_id"]
    second = rt().start("p", {"n": 3}, actor="alice")["instance_id"]
    third = rt().start("p", {"n": 1}, actor="alice")["instance_id"]
    assert [len(_open(rt, i)) for i in (first, second, third)] == [2, 3, 1]
    for task in _open(rt, second):
        rt().complete(task["id"], {}, actor="alice")
    assert len(_open(rt, second, "Done")) == 1
    assert len(_open(rt, first)) == 2


@pytest.mark.parametrize("sequential", [False, True])
def test_loop_cardinality_literal_and_loop_counter(drive, sequential):
    rt = drive.runtime
    seq = ' isSequential="true"' if sequential else ""
    drive.deploy({"mi.bpmn": _user_mi(
        f'<bpmn:multiInstanceLoopCharacteristics{seq}><bpmn:loopCardinality xsi:type="bpmn:tFormalExpression">3'
        '</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics>',
        after="after = 'fait'").replace('camunda:candidateGroups="staff" >',
                                        'camunda:candidateGroups="staff"><bpmn:extensionElements><camunda:properties>'
                                        '<camunda:property name="tour" value="${loopCounter}"/>'
                                        '</camunda:properties></bpmn:extensionElements>')})
    iid = rt().start("p", actor="alice")["instance_id"]
    seen = []
    for _ in range(3):
        tasks = _open(rt, iid)
        assert len(tasks) == (1 if sequential else 3 - len(seen))
        task = tasks[0]
        seen.append(task["properties"]["tour"])
        rt().complete(task["id"], {}, actor="alice")
    assert sorted(seen) == [0, 1, 2]
    if sequential:
        assert seen == [0, 1, 2]
    assert _open(rt, iid) == [] and len(_open(rt, iid, "Done")) == 1


@pytest.mark.parametrize("sequential", [False, True])
def test_completion_condition_with_counters(drive, sequential):
    rt = drive.runtime
    seq = ' isSequential="true"' if sequential else ""
    drive.deploy({"mi.bpmn": _user_mi(
        f'<bpmn:multiInstanceLoopCharacteristics{seq} camunda:collection="${{reviewers}}" camunda:elementVariable="reviewer">'
        '<bpmn:completionCondition xsi:type="bpmn:tFormalExpression">${nrOfCompletedInstances &gt;= 2 '
        'and nrOfInstances == 4 and loopCounter &gt;= 0 and nrOfActiveInstances &gt;= 0}</bpmn:completionCondition>'
        '</bpmn:multiInstanceLoopCharacteristics>', 'camunda:assignee="${reviewer}"', after="after = 'fait'")})
    iid = rt().start("p", {"reviewers": ["a", "b", "c", "d"]}, actor="a")["instance_id"]
    for expected_open in ((1, 1) if sequential else (4, 3)):
        tasks = _open(rt, iid)
        assert len(tasks) == expected_open
        rt().complete(tasks[0]["id"], {}, actor=tasks[0]["assignee"])
    assert _open(rt, iid) == []
    shown = rt().show(iid)
    assert shown["variables"]["after"] == "fait"
    states = sorted(t["state"] for t in shown["tasks"] if t["element_id"] == "Review")
    assert states == (["completed", "completed"] if sequential else ["cancelled", "cancelled", "completed", "completed"])


def test_multi_instance_subprocess_writes_back_element(drive):
    rt = drive.runtime
    body = "\n".join([
        '<bpmn:startEvent id="StartEvent_1"/>',
        '<bpmn:subProcess id="Sub"><bpmn:multiInstanceLoopCharacteristics isSequential="true" '
        'camunda:collection="${items}" camunda:elementVariable="item"/>',
        '<bpmn:startEvent id="SubStart"/>',
        '<bpmn:userTask id="Review" name="Relire" camunda:candidateGroups="staff"/>',
        script_task("Mark", "item = dict(item, vu=True, rang=loopCounter); total = loopCounter + 1"),
        '<bpmn:endEvent id="SubEnd"/>', chain("SubStart", "Review", "Mark", "SubEnd"), '</bpmn:subProcess>',
        '<bpmn:userTask id="Done" name="Fin" camunda:candidateGroups="staff"/>',
        '<bpmn:endEvent id="EndEvent_1"/>', chain("StartEvent_1", "Sub", "Done", "EndEvent_1")])
    drive.deploy({"mi.bpmn": modeler_diagram(body)})
    iid = rt().start("p", {"items": [{"n": "x"}, {"n": "y"}]}, actor="alice")["instance_id"]
    for _ in range(2):
        [task] = _open(rt, iid)
        rt().complete(task["id"], {}, actor="alice")
    variables = rt().show(iid)["variables"]
    assert variables["items"] == [{"n": "x", "vu": True, "rang": 0}, {"n": "y", "vu": True, "rang": 1}]
    assert variables["total"] == 2


@pytest.mark.parametrize("value, message", [("${3 + 'a'}", "loopCardinality"), ("${missing_list}", "missing_list")])
def test_bad_cardinality_or_collection_is_a_french_incident(drive, value, message):
    rt = drive.runtime
    loop = (f'<bpmn:multiInstanceLoopCharacteristics><bpmn:loopCardinality>{value}</bpmn:loopCardinality>'
            '</bpmn:multiInstanceLoopCharacteristics>' if "3" in value else
            f'<bpmn:multiInstanceLoopCharacteristics camunda:collection="{value}" camunda:elementVariable="x"/>')
    drive.deploy({"mi.bpmn": _user_mi(loop)})
    result = rt().start("p", actor="alice")
    assert result["state"] == "incident"
    incident = rt().show(result["instance_id"])["incident"]
    assert incident["element_id"] == "Review"
    assert message in incident["message"]
