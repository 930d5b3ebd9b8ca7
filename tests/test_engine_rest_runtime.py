"""Camunda REST for tools: /process-instance, /message, /task, /incident, /job (web/engine_rest/),
with Camunda 7.2x's paths, bodies, status codes and error shapes."""
from __future__ import annotations

import json
import re

import pytest

from tests.bpmn_builder import chain, definitions, user_task
from tests.test_engine_rest import basic, build_app

BASE = "/engine-rest"
DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}$")
OWNER = basic("proprio", "mot-de-passe-proprio")
AGENT = basic("agent", "mot-de-passe-agent")
OTHER = basic("autre", "mot-de-passe-autre")

FORM = json.dumps({"id": "avis-form", "type": "default", "schemaVersion": 12, "components": [
    {"key": "sens", "label": "Sens", "type": "select", "validate": {"required": True},
     "values": [{"label": "Favorable", "value": "favorable"}, {"label": "Défavorable", "value": "defavorable"}]},
    {"key": "delai", "label": "Délai (jours)", "type": "number", "validate": {"min": 1}}]})

AVIS = definitions(
    '<bpmn:startEvent id="start"/>'
    + user_task("donner_avis", "Donner l'avis", attrs='camunda:candidateGroups="instructeurs" '
                'camunda:formRef="avis-form" camunda:formRefBinding="latest" camunda:dueDate="P10D" camunda:priority="70"')
    + '<bpmn:receiveTask id="attendre" messageRef="msg_reponse"/>'
    + user_task("cloturer", "Clôturer", attrs='camunda:candidateGroups="instructeurs"')
    + '<bpmn:endEvent id="end"/>' + chain("start", "donner_avis", "attendre", "cloturer", "end"),
    pid="avis", extra='<bpmn:message id="msg_reponse" name="reponse_recue"/>')


@pytest.fixture
def client(runtime, make_user, deploy):
    make_user("proprio", "deployers", password="mot-de-passe-proprio")
    make_user("agent", "instructeurs", password="mot-de-passe-agent")
    make_user("autre", "staff", password="mot-de-passe-autre")
    deploy({"avis.bpmn": AVIS, "avis-form.form": FORM})
    return build_app(runtime).test_client()


def send(client, method, path, body=None, headers=OWNER):
    return client.open(BASE + path, method=method, data=json.dumps(body) if body is not None else None,
                       headers={**headers, "content-type": "application/json"})


def start(runtime, key="A", **variables):
    return runtime.start("avis", {"dossier": key, "montant": 12, **variables}, business_key=f"DOSSIER-{key}")["id"]


# -- process instances ---------------------------------------------------------------------

def test_process_instances_list_filter_read_and_variables(client, runtime):
    a, b = start(runtime, "A"), start(runtime, "B", urgent=True)
    listed = client.get(f"{BASE}/process-instance?processDefinitionKey=avis&sortBy=instanceId&sortOrder=asc",
                        headers=OWNER).get_json()
    assert [p["id"] for p in listed] == [str(a), str(b)]
    assert listed[0] == {"links": [], "id": str(a), "definitionId": listed[0]["definitionId"], "definitionKey": "avis",
                         "businessKey": "DOSSIER-A", "caseInstanceId": None, "ended": False, "suspended": False,
                         "tenantId": None}
    assert [p["id"] for p in client.get(f"{BASE}/process-instance?businessKey=DOSSIER-B", headers=OWNER).get_json()] == [str(b)]
    assert [p["id"] for p in client.get(f"{BASE}/process-instance?variables=dossier_eq_A", headers=OWNER).get_json()] == [str(a)]
    assert [p["id"] for p in client.get(f"{BASE}/process-instance?variables=montant_gt_10,dossier_like_B%25",
                                        headers=OWNER).get_json()] == [str(b)]
    assert client.get(f"{BASE}/process-instance/count?processDefinitionKey=avis", headers=OWNER).get_json() == {"count": 2}
    one = client.get(f"{BASE}/process-instance/{a}", headers=OWNER).get_json()
    assert one["links"][0]["rel"] == "self" and one["businessKey"] == "DOSSIER-A"
    variables = client.get(f"{BASE}/process-instance/{b}/variables", headers=OWNER).get_json()
    assert variables["montant"] == {"type": "Integer", "value": 12, "valueInfo": {}}
    assert variables["urgent"] == {"type": "Boolean", "value": True, "valueInfo": {}}
    assert client.get(f"{BASE}/process-instance/{b}/variables/dossier", headers=OWNER).get_json() == {
        "type": "String", "value": "B", "valueInfo": {}}
    missing = client.get(f"{BASE}/process-instance/{b}/variables/inconnue", headers=OWNER)
    assert missing.status_code == 404 and missing.get_json()["type"] == "InvalidRequestException"
    assert client.get(f"{BASE}/process-instance/999", headers=OWNER).get_json() == {
        "type": "InvalidRequestException", "message": "Process instance with id 999 does not exist"}
    assert client.get(f"{BASE}/process-instance", headers=AGENT).status_code == 403


def test_delete_process_instance(client, runtime):
    a = start(runtime)
    assert client.delete(f"{BASE}/process-instance/{a}", headers=OWNER).status_code == 204
    assert runtime.show(a)["state"] == "terminated"
    again = client.delete(f"{BASE}/process-instance/{a}", headers=OWNER)
    assert again.status_code == 404 and again.get_json()["message"] == f"Process instance with id {a} does not exist"
    assert client.get(f"{BASE}/process-instance?processDefinitionKey=avis", headers=OWNER).get_json() == []


# -- messages ------------------------------------------------------------------------------

def to_receive_task(runtime, client, iid):
    [task] = runtime.tasks(instance_id=iid)
    runtime.complete(task["id"], {"sens": "favorable"}, actor="agent")


def test_message_correlates_by_business_key_and_keys(client, runtime):
    a, b = start(runtime, "A"), start(runtime, "B")
    for iid in (a, b):
        to_receive_task(runtime, client, iid)
    ambiguous = send(client, "POST", "/message", {"messageName": "reponse_recue"})
    assert ambiguous.status_code == 400 and ambiguous.get_json()["type"] == "RestException"
    assert "to a single execution. 2 executions match" in ambiguous.get_json()["message"]
    done = send(client, "POST", "/message", {"messageName": "reponse_recue", "businessKey": "DOSSIER-A",
                                             "processVariables": {"reponse": {"value": "oui", "type": "String"}}})
    assert done.status_code == 204
    assert runtime.show(a)["variables"]["reponse"] == "oui"
    assert [t["element_id"] for t in runtime.tasks(instance_id=a)] == ["cloturer"]
    result = send(client, "POST", "/message", {"messageName": "reponse_recue", "resultEnabled": True,
                                               "variablesInResultEnabled": True,
                                               "correlationKeys": {"dossier": {"value": "B", "type": "String"}}})
    assert result.status_code == 200
    [item] = result.get_json()
    assert item["resultType"] == "Execution" and item["execution"]["processInstanceId"] == str(b)
    assert item["processInstance"] is None and item["variables"]["dossier"]["value"] == "B"
    nobody = send(client, "POST", "/message", {"messageName": "reponse_recue", "businessKey": "DOSSIER-A"})
    assert nobody.status_code == 400 and nobody.get_json()["message"] == (
        "Cannot correlate message 'reponse_recue': No process definition or execution matches the parameters")
    assert send(client, "POST", "/message", {"businessKey": "x"}).get_json() == {
        "type": "InvalidRequestException", "message": "No message name supplied"}


def test_message_to_all_waiting_instances(client, runtime):
    ids = [start(runtime, k) for k in "CDE"]
    for iid in ids[:2]:
        to_receive_task(runtime, client, iid)
    result = send(client, "POST", "/message", {"messageName": "reponse_recue", "all": True, "resultEnabled": True})
    assert sorted(r["execution"]["processInstanceId"] for r in result.get_json()) == sorted(str(i) for i in ids[:2])
    assert send(client, "POST", "/message", {"messageName": "reponse_recue", "all": True}).status_code == 204


# -- tasks ---------------------------------------------------------------------------------

def test_task_list_filters_and_shape(client, runtime):
    a = start(runtime, "A")
    start(runtime, "B")
    tasks = client.get(f"{BASE}/task?processInstanceId={a}", headers=AGENT).get_json()
    [task] = tasks
    assert task["name"] == "Donner l'avis" and task["taskDefinitionKey"] == "donner_avis"
    assert task["processInstanceId"] == str(a) and task["priority"] == 70 and task["assignee"] is None
    assert DATE.match(task["created"]) and DATE.match(task["due"])
    assert task["camundaFormRef"] == {"key": "avis-form", "binding": "version", "version": 1}
    assert task["formKey"] is None and task["processDefinitionId"].startswith("avis:1:")
    assert client.get(f"{BASE}/task/count?candidateGroup=instructeurs", headers=AGENT).get_json() == {"count": 2}
    assert client.get(f"{BASE}/task/count?candidateUser=agent", headers=AGENT).get_json() == {"count": 2}
    assert client.get(f"{BASE}/task/count", headers=OTHER).get_json() == {"count": 0}  # not a candidate
    assert client.get(f"{BASE}/task/{task['id']}", headers=OTHER).status_code == 404
    due = task["due"]
    assert client.get(f"{BASE}/task/count?dueBefore={due.replace('+', '%2B')}", headers=AGENT).get_json() == {"count": 0}
    later = "2099-01-01T00:00:00.000%2B0100"
    assert client.get(f"{BASE}/task/count?dueBefore={later}", headers=AGENT).get_json() == {"count": 2}
    assert client.get(f"{BASE}/task/count?dueAfter={later}", headers=AGENT).get_json() == {"count": 0}
    bad = client.get(f"{BASE}/task?dueBefore=demain", headers=AGENT)
    assert bad.status_code == 400 and bad.get_json()["type"] == "InvalidRequestException"
    ordered = client.get(f"{BASE}/task?sortBy=dueDate&sortOrder=desc&maxResults=1", headers=AGENT).get_json()
    assert len(ordered) == 1


def test_claim_unclaim_complete_with_form_validation(client, runtime, make_user):
    make_user("collegue", "instructeurs", password="mot-de-passe-collegue")
    a = start(runtime)
    [task] = client.get(f"{BASE}/task?processInstanceId={a}", headers=AGENT).get_json()
    tid = task["id"]
    assert send(client, "POST", f"/task/{tid}/claim", {"userId": "agent"}, headers=AGENT).status_code == 204
    assert client.get(f"{BASE}/task/{tid}", headers=AGENT).get_json()["assignee"] == "agent"
    taken = send(client, "POST", f"/task/{tid}/claim", {"userId": "collegue"},
                 headers=basic("collegue", "mot-de-passe-collegue"))
    assert taken.status_code == 500 and taken.get_json()["type"] == "TaskAlreadyClaimedException"
    assert taken.get_json()["message"] == f"Task '{tid}' is already claimed by someone else."
    forbidden = send(client, "POST", f"/task/{tid}/complete", {"variables": {}}, headers=OTHER)
    assert forbidden.status_code == 403 and forbidden.get_json()["type"] == "AuthorizationException"
    invalid = send(client, "POST", f"/task/{tid}/complete",
                   {"variables": {"sens": {"value": "peut-etre", "type": "String"},
                                  "delai": {"value": 0, "type": "Integer"}}}, headers=AGENT)
    assert invalid.status_code == 400 and invalid.get_json()["type"] == "RestException"
    assert invalid.get_json()["message"].startswith(f"Cannot complete task {tid}: ")
    assert "sens" in invalid.get_json()["message"] and "delai" in invalid.get_json()["message"]
    form_variables = client.get(f"{BASE}/task/{tid}/form-variables?variableNames=dossier,montant",
                                headers=AGENT).get_json()
    assert form_variables == {"dossier": {"type": "String", "value": "A", "valueInfo": {}},
                              "montant": {"type": "Integer", "value": 12, "valueInfo": {}}}
    assert send(client, "POST", f"/task/{tid}/unclaim", headers=AGENT).status_code == 204
    assert client.get(f"{BASE}/task/{tid}", headers=AGENT).get_json()["assignee"] is None
    done = send(client, "POST", f"/task/{tid}/complete",
                {"variables": {"sens": {"value": "favorable", "type": "String"},
                               "delai": {"value": 5, "type": "Long"}}, "withVariablesInReturn": True}, headers=AGENT)
    assert done.status_code == 200 and done.get_json()["sens"]["value"] == "favorable"
    again = send(client, "POST", f"/task/{tid}/complete", {"variables": {}}, headers=AGENT)
    assert again.status_code == 500 and "Cannot find task with id" in again.get_json()["message"]


# -- incidents and job retries ---------------------------------------------------------------

def test_engine_incident_is_a_failed_job_retried_by_put_retries(client, runtime, deploy):
    broken = definitions('<bpmn:startEvent id="s"/><bpmn:scriptTask id="calc" scriptFormat="python">'
                         '<bpmn:script>y = x + 1</bpmn:script></bpmn:scriptTask>'
                         + user_task("ok", attrs='camunda:candidateGroups="instructeurs"') + '<bpmn:endEvent id="e"/>'
                         + chain("s", "calc", "ok", "e"), pid="calcul")
    deploy({"calcul.bpmn": broken})
    iid = runtime.start("calcul", {})["id"]
    [incident] = client.get(f"{BASE}/incident?processInstanceId={iid}", headers=OWNER).get_json()
    assert incident["incidentType"] == "failedJob" and incident["activityId"] == "calc"
    assert DATE.match(incident["incidentTimestamp"]) and "x" in incident["incidentMessage"]
    job = client.get(f"{BASE}/job/{incident['configuration']}", headers=OWNER).get_json()
    assert job["processInstanceId"] == str(iid) and job["retries"] == 0
    # Retrying without fixing the data fails again: a new incident (a new job id).
    assert send(client, "PUT", f"/job/{incident['configuration']}/retries", {"retries": 1}).status_code == 204
    [again] = client.get(f"{BASE}/incident", headers=OWNER).get_json()
    assert again["configuration"] != incident["configuration"]
    runtime.retry(iid, data={"x": 41})  # fixed by an operator (`arsflow retry --data`)
    assert client.get(f"{BASE}/incident", headers=OWNER).get_json() == []
    assert send(client, "PUT", f"/job/{again['configuration']}/retries", {"retries": 1}).status_code == 404


def test_put_job_retries_runs_the_failed_element_again(client, runtime, deploy):
    flaky = definitions('<bpmn:startEvent id="s"/><bpmn:serviceTask id="svc" camunda:class="ged.Classer"/>'
                        + user_task("ok", attrs='camunda:candidateGroups="instructeurs"') + '<bpmn:endEvent id="e"/>'
                        + chain("s", "svc", "ok", "e"), pid="ged")
    deploy({"ged.bpmn": flaky})
    iid = runtime.start("ged", {})["id"]
    [incident] = client.get(f"{BASE}/incident", headers=OWNER).get_json()
    runtime.services.register("ged.Classer", lambda call: {"classe": True})
    assert send(client, "PUT", f"/job/{incident['configuration']}/retries", {}).status_code == 400
    assert send(client, "PUT", f"/job/{incident['configuration']}/retries", {"retries": 1}).status_code == 204
    assert runtime.show(iid)["state"] == "waiting" and runtime.show(iid)["variables"]["classe"] is True
    assert client.get(f"{BASE}/incident/count", headers=OWNER).get_json() == {"count": 0}


# -- history -------------------------------------------------------------------------------

def test_history_process_instances(client, runtime, clock):
    a, b = start(runtime, "A"), start(runtime, "B")
    clock.advance(minutes=90)
    assert send(client, "DELETE", f"/process-instance/{b}").status_code == 204
    listed = client.get(f"{BASE}/history/process-instance?processDefinitionKey=avis&sortBy=instanceId&sortOrder=asc",
                        headers=OWNER).get_json()
    assert [(h["id"], h["state"], h["durationInMillis"]) for h in listed] == [
        (str(a), "ACTIVE", None), (str(b), "EXTERNALLY_TERMINATED", 90 * 60 * 1000)]
    assert DATE.match(listed[1]["startTime"]) and DATE.match(listed[1]["endTime"])
    assert listed[0]["processDefinitionVersion"] == 1 and listed[0]["businessKey"] == "DOSSIER-A"
    assert client.get(f"{BASE}/history/process-instance/count?finished=true", headers=OWNER).get_json() == {"count": 1}
    assert client.get(f"{BASE}/history/process-instance?unfinished=true", headers=OWNER).get_json()[0]["id"] == str(a)
    assert client.get(f"{BASE}/history/process-instance/{b}", headers=OWNER).get_json()["endTime"] is not None
    assert client.get(f"{BASE}/history/process-instance/999", headers=OWNER).status_code == 404


def test_history_activity_instances_of_people_and_workers(client, runtime, clock):
    a = start(runtime, "A")
    [task] = runtime.tasks(instance_id=a)
    clock.advance(minutes=30)
    runtime.complete(task["id"], {"sens": "favorable"}, actor="agent")
    activities = client.get(f"{BASE}/history/activity-instance?processInstanceId={a}&sortBy=startTime&sortOrder=asc",
                            headers=OWNER).get_json()
    [done] = [x for x in activities if x["activityId"] == "donner_avis"]
    assert (done["activityType"], done["taskId"], done["durationInMillis"], done["canceled"]) == (
        "userTask", task["id"], 30 * 60 * 1000, False)
    assert DATE.match(done["startTime"]) and DATE.match(done["endTime"])
    assert client.get(f"{BASE}/history/activity-instance/count?processInstanceId={a}&activityType=userTask"
                      "&unfinished=true", headers=OWNER).get_json() == {"count": 0}
    to_cancel = start(runtime, "B")
    assert send(client, "DELETE", f"/process-instance/{to_cancel}").status_code == 204
    listed = client.get(f"{BASE}/history/activity-instance?processInstanceId={to_cancel}",
                        headers=OWNER).get_json()
    [cancelled] = [x for x in listed if x["activityType"] == "userTask"]
    assert cancelled["canceled"] is True and cancelled["endTime"] is not None
    # Every element is told, not only people's and workers' tasks (Camunda's ACT_HI_ACTINST).
    assert {x["activityType"] for x in listed} >= {"startEvent", "userTask"}
    one = client.get(f"{BASE}/history/activity-instance/{cancelled['id']}", headers=OWNER).get_json()
    assert one["activityId"] == cancelled["activityId"]
    assert client.get(f"{BASE}/history/activity-instance/nope", headers=OWNER).status_code == 404
