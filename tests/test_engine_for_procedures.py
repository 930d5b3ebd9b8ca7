"""Engine features the procedures of #12 rely on, tested on their own: a legal timer on a day with
its declared extension policy, date bounds on form fields, `refuse(…)` at start, and a
multi-instance that completes when its last element finishes in a new runtime (cold)."""
from __future__ import annotations

import json
from datetime import date

import pytest

from arsflow.engine.errors import InvalidInput
from arsflow.engine.forms import FormValidationError, load_form

from tests.bpmn_builder import chain, definitions, script_task, timer_boundary, user_task
from tests.procedure_support import ColdRuntime


def _day_timer_process(calendar: str) -> str:
    ext = f'<camunda:properties><camunda:property name="calendar" value="{calendar}"/></camunda:properties>'
    return definitions("\n".join([
        '<bpmn:startEvent id="start"/>', user_task("t1", "Attendre", 'camunda:candidateGroups="staff"'),
        '<bpmn:endEvent id="end"/>', '<bpmn:endEvent id="late"/>',
        timer_boundary("timer", "t1", "timeDate", "${last_day}", ext=ext),
        chain("start", "t1", "end"), chain("timer", "late")]), pid="p_" + calendar.replace("-", "_"))


@pytest.mark.parametrize("calendar, fires_at", [
    ("legal-no-extension", "2017-12-30T23:00:00+00:00"),   # Saturday 30/12/2017 at 24 h, Paris
    ("legal", "2018-01-02T23:00:00+00:00"),                # extended to Tuesday 2/01 at 24 h (1/01 is a holiday)
])
def test_a_legal_timer_on_a_day_fires_when_the_day_ends_with_its_declared_policy(
        runtime, deploy, make_user, clock, database, calendar, fires_at):
    make_user("agent", "staff")
    deploy({"p.bpmn": _day_timer_process(calendar)})
    clock.set("2017-12-01T09:00:00+00:00")
    cold = ColdRuntime(database, clock)
    iid = cold.start("p_" + calendar.replace("-", "_"), {"last_day": "2017-12-30"}, actor="agent")["instance_id"]
    shown = cold.show(iid)
    [timer] = shown["timers"]
    assert timer["due_at"] == fires_at


def test_refuse_in_a_start_script_refuses_the_start_and_writes_nothing(runtime, deploy, make_user):
    make_user("agent", "staff")
    body = "\n".join(['<bpmn:startEvent id="start"/>',
                      script_task("check", 'if not x:\n    refuse("x manquant : indiquez x")'),
                      user_task("t1", "Tâche", 'camunda:candidateGroups="staff"'), '<bpmn:endEvent id="end"/>',
                      chain("start", "check", "t1", "end")])
    deploy({"r.bpmn": definitions(body, pid="r")})
    with pytest.raises(InvalidInput) as err:
        runtime.start("r", {"x": ""}, actor="agent")
    assert err.value.message == "x manquant : indiquez x"
    assert runtime.tasks(actor="agent") == []
    assert runtime.start("r", {"x": "ok"}, actor="agent")["state"] != "incident"


FORM = {"id": "f", "type": "default", "components": [
    {"type": "datetime", "subtype": "date", "key": "received_on", "id": "Field_1", "dateLabel": "Reçu le",
     "properties": {"minDate": "=publication_date", "maxDate": "today",
                    "minDateMessage": "Pas avant la publication ({date})."}},
    {"type": "datetime", "subtype": "date", "key": "fixed", "id": "Field_2", "properties": {"minDate": "2027-01-01"}},
]}


def test_date_bounds_from_custom_properties():
    form = load_form(json.dumps(FORM))
    today = date(2027, 1, 10)
    context = {"publication_date": "2026-11-30"}
    assert form.validate({"received_on": "2027-01-10"}, context=context, today=today)["received_on"] == "2027-01-10"
    with pytest.raises(FormValidationError) as err:
        form.validate({"received_on": "2027-01-11", "fixed": "2026-12-31"}, context=context, today=today)
    assert err.value.errors["received_on"] == "La date ne peut pas être postérieure au 10/01/2027."
    assert err.value.errors["fixed"] == "La date ne peut pas être antérieure au 01/01/2027."
    with pytest.raises(FormValidationError) as err:
        form.validate({"received_on": "2026-11-29"}, context=context, today=today)
    assert err.value.errors["received_on"] == "Pas avant la publication (30/11/2026)."
    # Without the reference value the bound does not apply.
    assert form.validate({"received_on": "2026-01-01"}, context={}, today=today)


def test_an_invalid_date_bound_is_refused_when_the_form_loads():
    bad = json.loads(json.dumps(FORM))
    bad["components"][1]["properties"]["minDate"] = "1er janvier"
    with pytest.raises(Exception) as err:
        load_form(json.dumps(bad), filename="bad.form")
    assert "minDate" in str(err.value) and "bad.form" in str(err.value)


def test_a_multi_instance_completes_when_its_last_element_finishes_cold(runtime, deploy, make_user, clock, database):
    make_user("agent", "staff")
    body = "\n".join([
        '<bpmn:startEvent id="start"/>',
        '<bpmn:userTask id="each" name="Chaque" camunda:candidateGroups="staff">'
        '<bpmn:multiInstanceLoopCharacteristics camunda:collection="items" camunda:elementVariable="item"/>'
        '</bpmn:userTask>',
        user_task("after", "Après", 'camunda:candidateGroups="staff"'), '<bpmn:endEvent id="end"/>',
        chain("start", "each", "after", "end")])
    deploy({"mi.bpmn": definitions(body, pid="mi")})
    cold = ColdRuntime(database, clock)
    iid = cold.start("mi", {"items": ["a", "b", "c"]}, actor="agent")["instance_id"]
    for task in cold.tasks(instance_id=iid):
        cold.complete(task["id"], {}, actor="agent")
    [after] = cold.tasks(instance_id=iid)
    assert after["name"] == "Après"
    assert cold.show(iid)["variables"]["items"] == ["a", "b", "c"]   # updated in place, not appended
