"""External tasks in the engine (engine/external_tasks.py): a service task with
camunda:type="external" and a topic no built-in handler owns waits for a worker.

Each scenario runs warm (one runtime) and cold (a new runtime and database handle, empty
caches, for every operation); both must agree."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from arsflow.engine.config import Settings
from arsflow.engine.db import Database
from arsflow.engine.errors import InvalidInput, NotFound
from arsflow.engine.external_tasks import UncaughtBpmnError, WrongWorker
from arsflow.engine.models import AuditEntry, ExternalTask, Instance
from arsflow.engine.runtime import Runtime
from tests.bpmn_builder import chain, definitions, flow, user_task

PUBLISH = definitions(
    '<bpmn:startEvent id="start"/>'
    '<bpmn:serviceTask id="publier" name="Publier au RAA" camunda:type="external" camunda:topic="raa-publication"'
    ' camunda:taskPriority="${urgence}">'
    '<bpmn:extensionElements>'
    '<camunda:properties><camunda:property name="raa_api" value="https://raa.example/api"/></camunda:properties>'
    '<camunda:inputOutput>'
    '<camunda:inputParameter name="recueil">RAA ${territory}</camunda:inputParameter>'
    '<camunda:outputParameter name="raa_reference">${numero} (${recueil})</camunda:outputParameter>'
    '</camunda:inputOutput></bpmn:extensionElements></bpmn:serviceTask>'
    '<bpmn:boundaryEvent id="raa_ko" attachedToRef="publier"><bpmn:errorEventDefinition errorRef="err_raa" camunda:errorCodeVariable="code_erreur" camunda:errorMessageVariable="message_erreur"/></bpmn:boundaryEvent>'
    + user_task("verifier", attrs='camunda:candidateGroups="staff"')
    + user_task("corriger", attrs='camunda:candidateGroups="staff"')
    + '<bpmn:endEvent id="end"/><bpmn:endEvent id="end_ko"/>'
    + chain("start", "publier", "verifier", "end") + chain("raa_ko", "corriger", "end_ko"),
    pid="publication", extra='<bpmn:error id="err_raa" name="RAA indisponible" errorCode="RAA_INDISPONIBLE"/>')

NOTIFY = definitions(
    '<bpmn:startEvent id="start"/>'
    '<bpmn:serviceTask id="prevenir" camunda:type="external" camunda:topic="notification">'
    '<bpmn:extensionElements><camunda:inputOutput>'
    '<camunda:inputParameter name="to_groups">staff</camunda:inputParameter>'
    '<camunda:inputParameter name="subject">Publication</camunda:inputParameter>'
    '</camunda:inputOutput></bpmn:extensionElements></bpmn:serviceTask>'
    + user_task("suite", attrs='camunda:candidateGroups="staff"') + '<bpmn:endEvent id="end"/>'
    + chain("start", "prevenir", "suite", "end"), pid="notif")


@pytest.fixture(params=["warm", "cold"])
def rt(request, runtime, deploy):
    """The runtime for the next operation: the same one (warm) or a brand new one (cold)."""
    deploy({"publication.bpmn": PUBLISH, "notif.bpmn": NOTIFY})
    if request.param == "warm":
        yield lambda: runtime
        return
    made = []

    def fresh():
        db = Database(runtime.db.url)
        made.append(db)
        return Runtime(db, Settings(database_url=db.url, territory="75", timezone="Europe/Paris"),
                       clock=runtime.clock)
    yield fresh
    for db in made:
        db.dispose()


def topic(name="raa-publication", ms=60_000, **extra):
    return {"name": name, "lock_duration": ms, **extra}


def rows(runtime):
    with runtime.db.read() as session:
        return session.execute(select(ExternalTask.__table__).order_by(ExternalTask.created_at, ExternalTask.id)).all()


def test_external_topic_waits_for_a_worker_and_completes(rt, runtime):
    started = rt().start("publication", {"territory": "75", "urgence": 7}, business_key="ARR-2027-001")
    assert started["state"] == "waiting" and started["incident"] is None
    [row] = rows(runtime)
    assert (row.topic, row.element_id, row.state, row.priority, row.business_key) == (
        "raa-publication", "publier", "open", 7, "ARR-2027-001")
    assert row.local_variables == {"recueil": "RAA 75"}

    [task] = rt().external_tasks.fetch_and_lock("w1", [topic()], 5)
    assert task["id"] == row.id and task["worker_id"] == "w1"
    assert task["variables"]["recueil"] == "RAA 75" and task["variables"]["urgence"] == 7
    assert task["lock_expires_at"] == runtime.now() + timedelta(seconds=60)
    assert rt().external_tasks.fetch_and_lock("w2", [topic()], 5) == []  # locked: not handed again

    with pytest.raises(WrongWorker, match="It is locked by worker 'w1'"):
        rt().external_tasks.complete(row.id, "w2", {"numero": "n"})
    shown = rt().show(started["id"])["external_tasks"]
    assert [(t["topic"], t["state"], t["worker_id"]) for t in shown] == [("raa-publication", "open", "w1")]
    result = rt().external_tasks.complete(row.id, "w1", {"numero": "75-2027-014"}, {"scratch": 1})
    assert result["state"] == "waiting"
    with runtime.db.read() as session:
        instance = session.get(Instance, result["id"])
        assert instance.variables["raa_reference"] == "75-2027-014 (RAA 75)"
        assert "scratch" not in instance.variables and "recueil" not in instance.variables
    assert [r.state for r in rows(runtime)] == ["completed"]
    assert [t["element_id"] for t in rt().tasks()] == ["verifier"]
    with pytest.raises(NotFound):
        rt().external_tasks.complete(row.id, "w1", {})


def test_builtin_topic_still_runs_in_process(rt, runtime):
    result = rt().start("notif", {})
    assert result["state"] == "waiting" and rows(runtime) == []
    with runtime.db.read() as session:
        actions = [a.action for a in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert "notification" in actions


def test_lock_expires_by_itself(rt, runtime, clock):
    rt().start("publication", {"territory": "75", "urgence": 1})
    [first] = rt().external_tasks.fetch_and_lock("w1", [topic(ms=1000)], 1)
    clock.advance(timedelta(milliseconds=999))
    assert rt().external_tasks.fetch_and_lock("w2", [topic()], 1) == []
    clock.advance(timedelta(milliseconds=2))
    [again] = rt().external_tasks.fetch_and_lock("w2", [topic()], 1)
    assert again["id"] == first["id"] and again["worker_id"] == "w2"
    with pytest.raises(WrongWorker, match="cannot be completed by worker 'w1'. It is locked by worker 'w2'"):
        rt().external_tasks.complete(first["id"], "w1", {})
    rt().external_tasks.complete(first["id"], "w2", {"numero": "1"})


def test_failure_retries_then_incident_then_retries_again(rt, runtime, clock):
    rt().start("publication", {"territory": "75", "urgence": 1})
    [task] = rt().external_tasks.fetch_and_lock("w1", [topic()], 1)
    rt().external_tasks.failure(task["id"], "w1", "RAA fermé", "trace", retries=1, retry_timeout=5000)
    assert rt().external_tasks.fetch_and_lock("w1", [topic()], 1) == []  # back after the retry timeout
    clock.advance(timedelta(seconds=5))
    [task] = rt().external_tasks.fetch_and_lock("w1", [topic()], 1)
    assert (task["retries"], task["error_message"], task["error_details"]) == (1, "RAA fermé", "trace")
    rt().external_tasks.failure(task["id"], "w1", "RAA toujours fermé", None, retries=0, retry_timeout=0)
    [row] = rows(runtime)
    assert row.retries == 0 and row.incident_at == runtime.now() and row.error_message == "RAA toujours fermé"
    clock.advance(timedelta(hours=1))
    assert rt().external_tasks.fetch_and_lock("w1", [topic()], 1) == []  # an incident is not fetched
    rt().external_tasks.set_retries(row.id, 2)
    [task] = rt().external_tasks.fetch_and_lock("w1", [topic()], 1)
    assert task["retries"] == 2 and rows(runtime)[0].incident_at is None
    with pytest.raises(InvalidInput):
        rt().external_tasks.failure(task["id"], "w1", "x", None, retries=-1, retry_timeout=0)


def test_bpmn_error_goes_to_the_boundary_event(rt, runtime):
    rt().start("publication", {"territory": "75", "urgence": 1})
    [task] = rt().external_tasks.fetch_and_lock("w1", [topic()], 1)
    rt().external_tasks.bpmn_error(task["id"], "w1", "RAA_INDISPONIBLE", "serveur du RAA en panne",
                                   {"motif": "panne"})
    assert [t["element_id"] for t in rt().tasks()] == ["corriger"]
    assert rows(runtime)[0].state == "error"
    with runtime.db.read() as session:
        variables = session.scalars(select(Instance)).one().variables
    # as Camunda's boundary event does, with errorCodeVariable / errorMessageVariable
    assert (variables["motif"], variables["code_erreur"], variables["message_erreur"]) == (
        "panne", "RAA_INDISPONIBLE", "serveur du RAA en panne")


def test_uncaught_bpmn_error_changes_nothing(rt, runtime):
    rt().start("publication", {"territory": "75", "urgence": 1})
    [task] = rt().external_tasks.fetch_and_lock("w1", [topic()], 1)
    with pytest.raises(UncaughtBpmnError, match="no catching boundary event"):
        rt().external_tasks.bpmn_error(task["id"], "w1", "AUTRE_CODE", "?")
    assert rows(runtime)[0].state == "open"
    rt().external_tasks.complete(task["id"], "w1", {"numero": "1"})


def test_extend_lock_unlock_and_priority_order(rt, runtime, clock):
    for urgence in (1, 9, 5):
        rt().start("publication", {"territory": "75", "urgence": urgence})
    tasks = rt().external_tasks.fetch_and_lock("w1", [topic(ms=1000)], 2, use_priority=True)
    assert [t["priority"] for t in tasks] == [9, 5]
    rt().external_tasks.extend_lock(tasks[0]["id"], "w1", 10_000)
    with pytest.raises(WrongWorker):
        rt().external_tasks.extend_lock(tasks[0]["id"], "w2", 10_000)
    clock.advance(timedelta(seconds=2))
    with pytest.raises(InvalidInput, match="expired"):
        rt().external_tasks.extend_lock(tasks[1]["id"], "w1", 10_000)
    rt().external_tasks.unlock(tasks[1]["id"])
    with pytest.raises(WrongWorker, match="locked by worker 'None'"):  # unlocked: nobody holds it
        rt().external_tasks.complete(tasks[1]["id"], "w1", {})
    free = rt().external_tasks.fetch_and_lock("w2", [topic()], 5, use_priority=True)
    assert [t["priority"] for t in free] == [5, 1]  # 9 is still held by w1 (lock extended)


def test_terminating_the_instance_cancels_its_external_task(rt, runtime, make_user):
    make_user("chef", "managers")
    started = rt().start("publication", {"territory": "75", "urgence": 1})
    rt().terminate(started["id"], actor="chef")
    assert rows(runtime)[0].state == "cancelled"
    assert rt().external_tasks.fetch_and_lock("w1", [topic()], 1) == []


def test_variable_filters(rt, runtime):
    rt().start("publication", {"territory": "75", "urgence": 1}, business_key="A")
    rt().start("publication", {"territory": "57", "urgence": 1}, business_key="B")
    [task] = rt().external_tasks.fetch_and_lock("w1", [topic(process_variables={"territory": "57"},
                                                             variables=["territory"])], 5)
    assert task["business_key"] == "B" and task["variables"] == {"territory": "57"}
    [task] = rt().external_tasks.fetch_and_lock("w1", [topic(business_key="A", local_variables=True)], 5)
    assert task["variables"] == {"recueil": "RAA 75"}
