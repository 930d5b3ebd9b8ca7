"""Camunda REST /external-task (web/engine_rest/external_task.py): paths, bodies, status codes
and error shapes as Camunda 7.2x answers them (ExternalTaskResourceImpl, FetchAndLockHandlerImpl)."""
from __future__ import annotations

import json
import re
import threading
import time
from datetime import timedelta

import pytest

from tests.test_engine_rest import basic, build_app
from tests.test_external_tasks import PUBLISH

BASE = "/engine-rest"
WORKER = basic("robot-raa", "mot-de-passe-robot")
DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}$")


@pytest.fixture
def client(runtime, make_user, deploy):
    make_user("robot-raa", "workers", password="mot-de-passe-robot")
    make_user("agent", "staff", password="mot-de-passe-agent")
    make_user("proprio", "deployers", password="mot-de-passe-proprio")
    deploy({"publication.bpmn": PUBLISH})
    return build_app(runtime).test_client()


def post(client, path, body=None, headers=WORKER):
    return client.post(BASE + path, data=json.dumps(body) if body is not None else None,
                       headers={**headers, "content-type": "application/json"})


def fetch(client, worker="w1", topics=(("raa-publication", 60000),), **extra):
    body = {"workerId": worker, "maxTasks": 10,
            "topics": [{"topicName": t, "lockDuration": ms} for t, ms in topics], **extra}
    return post(client, "/external-task/fetchAndLock", body)


def test_fetch_and_lock_returns_locked_tasks_in_camunda_shape(client, runtime):
    started = runtime.start("publication", {"territory": "75", "urgence": 3}, business_key="ARR-1")
    response = fetch(client, variables=None, usePriority=True)
    assert response.status_code == 200 and response.content_type == "application/json"
    [task] = response.get_json()
    assert task["topicName"] == "raa-publication" and task["workerId"] == "w1"
    assert task["processInstanceId"] == str(started["id"]) and task["businessKey"] == "ARR-1"
    assert task["activityId"] == "publier" and task["priority"] == 3 and task["retries"] is None
    assert task["processDefinitionKey"] == "publication"
    assert task["processDefinitionId"].startswith("publication:1:")
    assert DATE.match(task["lockExpirationTime"]) and DATE.match(task["createTime"])
    assert task["variables"]["urgence"] == {"type": "Integer", "value": 3, "valueInfo": {}}
    assert task["variables"]["recueil"] == {"type": "String", "value": "RAA 75", "valueInfo": {}}
    assert set(task) >= {"id", "executionId", "activityInstanceId", "errorMessage", "errorDetails", "suspended",
                         "tenantId", "extensionProperties", "processDefinitionVersionTag"}
    assert task["extensionProperties"] == {}  # not asked for
    assert fetch(client, worker="w2").get_json() == []


def test_extension_properties_when_asked(client, runtime):
    runtime.start("publication", {"territory": "75", "urgence": 3})
    [task] = fetch(client, includeExtensionProperties=True).get_json()
    assert task["extensionProperties"] == {"raa_api": "https://raa.example/api"}


def test_complete_is_204_and_only_for_the_holder(client, runtime):
    runtime.start("publication", {"territory": "75", "urgence": 1})
    [task] = fetch(client).get_json()
    other = post(client, f"/external-task/{task['id']}/complete", {"workerId": "w2"})
    assert other.status_code == 400
    assert other.get_json()["type"] == "RestException"
    assert other.get_json()["message"] == (f"External Task {task['id']} cannot be completed by worker 'w2'. "
                                           f"It is locked by worker 'w1'.")
    done = post(client, f"/external-task/{task['id']}/complete",
                {"workerId": "w1", "variables": {"numero": {"value": "75-2027-001", "type": "String"}},
                 "localVariables": {"essai": {"value": 2, "type": "Integer"}}})
    assert done.status_code == 204 and done.data == b""
    missing = post(client, f"/external-task/{task['id']}/complete", {"workerId": "w1"})
    assert missing.status_code == 404
    assert missing.get_json() == {"type": "RestException",
                                  "message": f"External task with id {task['id']} does not exist"}
    assert runtime.tasks()[0]["element_id"] == "verifier"


def test_failure_then_incident_then_retries(client, runtime, clock):
    iid = runtime.start("publication", {"territory": "75", "urgence": 1})["instance_id"]
    [task] = fetch(client).get_json()
    failed = post(client, f"/external-task/{task['id']}/failure",
                  {"workerId": "w1", "errorMessage": "RAA indisponible", "errorDetails": "HTTP 503",
                   "retries": 0, "retryTimeout": 1000,
                   "variables": {"derniere_erreur": {"value": "HTTP 503", "type": "String"}}})
    assert failed.status_code == 204
    # handleFailure's variables are set on the process at once, as Camunda 7.17+ does
    assert runtime.show(iid)["variables"]["derniere_erreur"] == "HTTP 503"
    incidents = client.get(f"{BASE}/incident", headers=basic("proprio", "mot-de-passe-proprio")).get_json()
    assert [(i["incidentType"], i["incidentMessage"], i["configuration"], i["activityId"]) for i in incidents] == [
        ("failedExternalTask", "RAA indisponible", task["id"], "publier")]
    details = client.get(f"{BASE}/external-task/{task['id']}/errorDetails", headers=WORKER)
    assert details.status_code == 200 and details.data == b"HTTP 503"
    clock.advance(timedelta(hours=1))
    assert fetch(client).get_json() == []
    listed = client.get(f"{BASE}/external-task?noRetriesLeft=true", headers=WORKER).get_json()
    assert [(t["id"], t["retries"], t["errorMessage"]) for t in listed] == [(task["id"], 0, "RAA indisponible")]
    assert client.put(f"{BASE}/external-task/{task['id']}/retries", data=json.dumps({"retries": 3}),
                      headers={**WORKER, "content-type": "application/json"}).status_code == 204
    [again] = fetch(client).get_json()
    assert again["retries"] == 3 and again["errorMessage"] == "RAA indisponible"
    assert client.get(f"{BASE}/incident", headers=basic("proprio", "mot-de-passe-proprio")).get_json() == []


def test_bpmn_error_and_uncaught_error(client, runtime):
    runtime.start("publication", {"territory": "75", "urgence": 1})
    [task] = fetch(client).get_json()
    uncaught = post(client, f"/external-task/{task['id']}/bpmnError",
                    {"workerId": "w1", "errorCode": "INCONNU", "errorMessage": "?"})
    assert uncaught.status_code == 500 and uncaught.get_json()["type"] == "ProcessEngineException"
    assert "no catching boundary event" in uncaught.get_json()["message"]
    caught = post(client, f"/external-task/{task['id']}/bpmnError",
                  {"workerId": "w1", "errorCode": "RAA_INDISPONIBLE", "errorMessage": "panne",
                   "variables": {"motif": {"value": "panne", "type": "String"}}})
    assert caught.status_code == 204
    assert runtime.tasks()[0]["element_id"] == "corriger"


def test_extend_lock_unlock_lock_count_and_get(client, runtime, clock):
    runtime.start("publication", {"territory": "75", "urgence": 1})
    [task] = fetch(client, topics=(("raa-publication", 1000),)).get_json()
    tid = task["id"]
    assert post(client, f"/external-task/{tid}/extendLock", {"workerId": "w1", "newDuration": 5000}).status_code == 204
    clock.advance(timedelta(seconds=2))
    assert fetch(client, worker="w2").get_json() == []
    wrong = post(client, f"/external-task/{tid}/lock", {"workerId": "w2", "lockDuration": 1000})
    assert wrong.status_code == 400 and "It is locked by worker 'w1'" in wrong.get_json()["message"]
    got = client.get(f"{BASE}/external-task/{tid}", headers=WORKER).get_json()
    assert got["workerId"] == "w1" and "variables" not in got
    assert client.get(f"{BASE}/external-task/count?locked=true", headers=WORKER).get_json() == {"count": 1}
    assert client.get(f"{BASE}/external-task/count?notLocked=true", headers=WORKER).get_json() == {"count": 0}
    assert post(client, f"/external-task/{tid}/unlock").status_code == 204
    assert client.get(f"{BASE}/external-task?workerId=w1", headers=WORKER).get_json() == []
    assert post(client, f"/external-task/{tid}/lock", {"workerId": "w2", "lockDuration": 1000}).status_code == 204
    assert client.get(f"{BASE}/external-task/nope", headers=WORKER).status_code == 404


def test_workers_group_is_required(client, runtime):
    body = {"workerId": "w", "maxTasks": 1, "topics": [{"topicName": "raa-publication", "lockDuration": 1000}]}
    refused = post(client, "/external-task/fetchAndLock", body, headers=basic("agent", "mot-de-passe-agent"))
    assert refused.status_code == 403 and refused.get_json()["type"] == "AuthorizationException"
    assert refused.get_json()["missingAuthorizations"][0]["permissionName"] == "UPDATE"
    assert post(client, "/external-task/fetchAndLock", body, headers={}).status_code == 401


def test_bad_requests(client):
    too_long = fetch(client, asyncResponseTimeout=1_800_001)
    assert too_long.status_code == 400 and too_long.get_json() == {
        "type": "InvalidRequestException",
        "message": "The asynchronous response timeout cannot be set to a value greater than 1800000 milliseconds"}
    assert fetch(client, topics=(("raa-publication", 0),)).status_code == 400
    assert post(client, "/external-task/fetchAndLock", {"maxTasks": 1, "topics": []}).status_code == 400


def test_long_polling_answers_as_soon_as_work_appears(client, runtime):
    """The poll waits while nothing is there and returns once an instance creates work."""
    starter = threading.Timer(0.3, lambda: runtime.start("publication", {"territory": "75", "urgence": 1}))
    begun = time.monotonic()
    starter.start()
    response = fetch(client, asyncResponseTimeout=20_000)
    starter.join()
    assert response.status_code == 200 and len(response.get_json()) == 1
    assert time.monotonic() - begun < 20  # answered by the new work, not by the timeout


def test_long_polling_gives_up_at_the_timeout(client):
    response = fetch(client, asyncResponseTimeout=300)
    assert response.status_code == 200 and response.get_json() == []


def test_long_polls_beyond_the_cap_do_not_hold_threads(runtime, make_user, deploy):
    """With ARSFLOW_LONG_POLLS=1 a second waiting poll answers empty after a short wait,
    while the first keeps waiting and gets the work when it appears."""
    from arsflow.web.engine_rest import external_task
    make_user("robot-raa", "workers", password="mot-de-passe-robot")
    deploy({"publication.bpmn": PUBLISH})
    app = build_app(runtime, ARSFLOW_LONG_POLLS=1)
    first_result = {}

    def first():
        first_result["response"] = fetch(app.test_client(), worker="w1", asyncResponseTimeout=60_000)

    waiter = threading.Thread(target=first)
    waiter.start()
    with app.app_context():
        slots = external_task._long_poll_slots()
    while slots._value:  # the first poll holds the only slot
        time.sleep(0.01)
    second = fetch(app.test_client(), worker="w2", asyncResponseTimeout=60_000)
    assert second.status_code == 200 and second.get_json() == [] and waiter.is_alive()
    runtime.start("publication", {"territory": "75", "urgence": 1})
    waiter.join(30)
    assert [t["workerId"] for t in first_result["response"].get_json()] == ["w1"]
