"""Camunda 7 REST subset for Camunda Modeler's "Deploy" and "Start instance" (web/engine_rest.py).

Requests are shaped as Camunda Modeler 5 sends them (client/src/plugins/camunda-plugin/shared/
CamundaAPI.js): `accept: application/json`, basic or bearer `authorization`, a multipart
deployment whose file parts use the file name as field name, and a JSON start body.
"""
from __future__ import annotations

import base64
import io
import json
import re

import pytest
from arsflow import web
from arsflow.engine.models import DecisionDefinition, Deployment, FormDefinition, Instance, ProcessDefinition
from arsflow.engine.people import users
from arsflow.web import engine_rest
from flask import Flask
from sqlalchemy import func, select

PASSWORD = "mot-de-passe-proprio"
BASE = "/engine-rest"

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:modeler="http://camunda.org/schema/modeler/1.0" id="Definitions_autorisation" targetNamespace="http://bpmn.io/schema/bpmn" exporter="Camunda Modeler" exporterVersion="5.28.0" modeler:executionPlatform="Camunda Platform" modeler:executionPlatformVersion="7.20.0">
  <bpmn:process id="Process_Autorisation" name="Autorisation d'EHPAD" isExecutable="true" camunda:versionTag="2025-03" camunda:historyTimeToLive="180">
    <bpmn:startEvent id="StartEvent_Depot" name="Demande déposée" />
    <bpmn:sequenceFlow id="Flow_1" sourceRef="StartEvent_Depot" targetRef="Task_Eligibilite" />
    <bpmn:businessRuleTask id="Task_Eligibilite" name="Évaluer l'éligibilité" camunda:resultVariable="eligible" camunda:decisionRef="eligibilite" camunda:mapDecisionResult="singleEntry" />
    <bpmn:sequenceFlow id="Flow_2" sourceRef="Task_Eligibilite" targetRef="Task_Instruire" />
    <bpmn:userTask id="Task_Instruire" name="Instruire la demande" camunda:formRef="demande-instruction" camunda:formRefBinding="latest" camunda:candidateGroups="instructeurs" />
    <bpmn:sequenceFlow id="Flow_3" sourceRef="Task_Instruire" targetRef="EndEvent_Fin" />
    <bpmn:endEvent id="EndEvent_Fin" name="Demande instruite" />
  </bpmn:process>
</bpmn:definitions>
"""

DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="Definitions_elig" name="Éligibilité" namespace="http://camunda.org/schema/1.0/dmn">
  <decision id="eligibilite" name="Éligibilité de la demande">
    <decisionTable id="DecisionTable_elig" hitPolicy="FIRST">
      <input id="Input_1" label="Catégorie">
        <inputExpression id="InputExpression_1" typeRef="string"><text>categorie</text></inputExpression>
      </input>
      <output id="Output_1" label="Éligible" name="eligible" typeRef="boolean" />
      <rule id="Rule_ehpad">
        <inputEntry id="In_1"><text>"ehpad"</text></inputEntry>
        <outputEntry id="Out_1"><text>True</text></outputEntry>
      </rule>
      <rule id="Rule_autre">
        <inputEntry id="In_2"><text>-</text></inputEntry>
        <outputEntry id="Out_2"><text>False</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
</definitions>
"""

FORM = json.dumps({
    "components": [{"label": "Avis de l'instructeur", "type": "textfield", "id": "Field_avis", "key": "avis"}],
    "type": "default", "id": "demande-instruction", "executionPlatform": "Camunda Platform",
    "executionPlatformVersion": "7.20.0", "exporter": {"name": "Camunda Modeler", "version": "5.28.0"},
    "schemaVersion": 12,
})

BROKEN_BPMN = BPMN.replace('camunda:decisionRef="eligibilite"', 'camunda:decisionRef="grille-inconnue"')


def basic(login: str, password: str) -> dict:
    """RestAPI.js getHeaders(): accept JSON plus the authorization header."""
    token = base64.b64encode(f"{login}:{password}".encode()).decode()
    return {"Accept": "application/json", "Authorization": f"Basic {token}"}


def modeler_deploy(client, diagram=("autorisation.bpmn", BPMN), attachments=(("eligibilite.dmn", DMN),
                   ("demande-instruction.form", FORM)), headers=None, name="autorisation", fields=None,
                   base=BASE):
    """CamundaAPI.deployDiagram: name, source, enable-duplicate-filtering, [tenant-id], then the
    diagram and each attachment as a part whose field name is the file name."""
    data = {"deployment-name": name, "deployment-source": "Camunda Modeler",
            "enable-duplicate-filtering": "true"}
    if fields is not None:
        data = {"deployment-name": name, "deployment-source": "Camunda Modeler", **fields}
    diagram_name, diagram_text = diagram
    data[diagram_name] = (io.BytesIO(diagram_text.encode()), diagram_name, "text/xml")
    for file_name, text in attachments:
        data[file_name] = (io.BytesIO(text.encode()), file_name, "application/octet-stream")
    return client.post(f"{base}/deployment/create", data=data, content_type="multipart/form-data",
                       headers=headers if headers is not None else basic("proprio", PASSWORD))


def modeler_start(client, definition_id, business_key=None, variables=None, headers=None, by_key=False, **extra):
    """CamundaAPI.startInstance: JSON {businessKey, variables} with content-type JSON."""
    path = f"key/{definition_id}" if by_key else definition_id
    body = {"businessKey": business_key, "variables": variables, **extra}
    return client.post(f"{BASE}/process-definition/{path}/start", data=json.dumps(body),
                       headers={**(headers if headers is not None else basic("proprio", PASSWORD)),
                                "content-type": "application/json"})


def build_app(runtime, **config) -> Flask:
    config = {"TESTING": True, "SECRET_KEY": "test", **config}
    try:
        app = web.create_app(runtime, config=config)
    except ImportError as err:
        # The inbox's other blueprints are still being written: mount the API on a bare app.
        if not (err.name or "").startswith("web"):
            raise
        app = Flask("arsflow-test")
        app.config.update(config)
        app.extensions["arsflow_runtime"] = runtime
    engine_rest.register(app)  # no-op when create_app already registered it
    return app


@pytest.fixture
def app(runtime, make_user):
    make_user("proprio", "deployers", password=PASSWORD)
    make_user("agent", "instructeurs", password="mot-de-passe-agent")
    return build_app(runtime)


@pytest.fixture
def client(app):
    return app.test_client()


def deployed_definition(response) -> dict:
    """What the Modeler keeps: the first of deployedProcessDefinitions."""
    definitions = response.get_json()["deployedProcessDefinitions"]
    assert definitions is not None
    return list(definitions.values())[0]


def count(runtime, model, **where) -> int:
    with runtime.db.read() as session:
        query = select(func.count()).select_from(model)
        for column, value in where.items():
            query = query.where(getattr(model, column) == value)
        return session.scalar(query)


# -- connection check ------------------------------------------------------------------------

def test_connection_check_and_version_as_the_modeler_asks(client):
    response = client.get(f"{BASE}/deployment?maxResults=0", headers=basic("proprio", PASSWORD))
    assert response.status_code == 200 and response.get_json() == []
    version = client.get(f"{BASE}/version", headers=basic("proprio", PASSWORD))
    assert version.get_json() == {"version": "7.20.0"}


def test_connection_check_without_credentials_asks_for_them(client):
    # DeploymentConfigValidator.validateConnectionWithoutCredentials: 401 shows the credential fields.
    response = client.get(f"{BASE}/deployment?maxResults=0", headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="arsflow"'


def test_deployment_list_shows_deployments_to_deployers_only(client):
    modeler_deploy(client)
    listed = client.get(f"{BASE}/deployment", headers=basic("proprio", PASSWORD)).get_json()
    assert [d["name"] for d in listed] == ["autorisation"]
    assert client.get(f"{BASE}/deployment", headers=basic("agent", "mot-de-passe-agent")).get_json() == []


# -- deployment ------------------------------------------------------------------------------

def test_deploy_diagram_with_form_and_decision(client, runtime):
    response = modeler_deploy(client)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["name"] == "autorisation" and body["source"] == "Camunda Modeler"
    assert body["tenantId"] is None
    assert body["links"][0]["rel"] == "self"
    assert body["links"][0]["href"].endswith(f"{BASE}/deployment/{body['id']}")
    # Camunda's default date format, in the ARS's zone (Paris is UTC+1 on 30 November).
    assert body["deploymentTime"] == "2026-11-30T10:00:00.000+0100"

    definition = deployed_definition(response)
    assert re.fullmatch(r"Process_Autorisation:1:\d+", definition["id"])
    assert definition["id"] in body["deployedProcessDefinitions"]
    assert definition["key"] == "Process_Autorisation" and definition["version"] == 1
    assert definition["name"] == "Autorisation d'EHPAD"
    assert definition["resource"] == "autorisation.bpmn"
    assert definition["deploymentId"] == body["id"]
    assert definition["versionTag"] == "2025-03" and definition["historyTimeToLive"] == 180
    decisions = list(body["deployedDecisionDefinitions"].values())
    assert [(d["key"], d["version"], d["name"], d["resource"]) for d in decisions] == [
        ("eligibilite", 1, "Éligibilité de la demande", "eligibilite.dmn")]
    # The form is deployed with them, in the same deployment.
    with runtime.db.read() as session:
        form = session.scalars(select(FormDefinition).where(FormDefinition.key == "demande-instruction")).one()
        deployment = session.get(Deployment, form.deployment_id)
        assert str(form.deployment_id) == body["id"] and deployment.deployed_by == "proprio"

    # GET of the self link answers the same deployment.
    again = client.get(f"{BASE}/deployment/{body['id']}", headers=basic("proprio", PASSWORD)).get_json()
    assert again["id"] == body["id"] and again["name"] == "autorisation"


def test_parse_error_answers_like_camunda_with_each_problem(client, runtime):
    response = modeler_deploy(client, diagram=("autorisation.bpmn", BROKEN_BPMN), attachments=())
    assert response.status_code == 400
    body = response.get_json()
    assert body["type"] == "ParseException"
    # CamundaAPI.getCamundaErrorCode recognises the prefix; the Modeler logs the whole message.
    assert body["message"].startswith("ENGINE-09005 Could not parse BPMN process.")
    assert "Task_Eligibilite" in body["message"] and "grille-inconnue" in body["message"]
    problems = body["details"]["autorisation.bpmn"]["errors"]
    line = next(i for i, text in enumerate(BROKEN_BPMN.splitlines(), 1) if 'id="Task_Eligibilite"' in text)
    problem = next(p for p in problems if p["mainElementId"] == "Task_Eligibilite")
    assert problem["line"] == line and problem["elementIds"] == ["Task_Eligibilite"]
    assert "grille-inconnue" in problem["message"]
    assert count(runtime, Deployment) == 0 and count(runtime, ProcessDefinition) == 0


def test_unchanged_redeploy_creates_no_version(client, runtime):
    first = modeler_deploy(client).get_json()
    second = modeler_deploy(client)
    assert second.status_code == 200
    body = second.get_json()
    assert body["deployedProcessDefinitions"] is None and body["deployedDecisionDefinitions"] is None
    assert body["id"] == first["id"]  # Camunda answers with the existing deployment
    assert count(runtime, Deployment) == 1
    assert count(runtime, ProcessDefinition, key="Process_Autorisation") == 1


def test_duplicate_filtering_redeploys_the_diagram_with_its_changed_decision(client, runtime):
    # enable-duplicate-filtering (what the Modeler sends): one changed file deploys them all,
    # so the new diagram version is bound to the new decision table.
    modeler_deploy(client)
    changed = DMN.replace('"ehpad"', '"usld"')
    body = modeler_deploy(client, attachments=(("eligibilite.dmn", changed), ("demande-instruction.form", FORM)))
    assert body.status_code == 200, body.get_data(as_text=True)
    assert deployed_definition(body)["version"] == 2
    assert count(runtime, DecisionDefinition, key="eligibilite") == 2
    assert count(runtime, FormDefinition, key="demande-instruction") == 2


def test_decision_deployed_alone_takes_effect_when_the_diagram_is_redeployed(client, runtime):
    # From the DMN tab the Modeler deploys the table alone; the diagram, unchanged, is then
    # redeployed (not skipped as a duplicate) so that new instances use the new table.
    modeler_deploy(client)
    changed = DMN.replace('"ehpad"', '"usld"')
    alone = modeler_deploy(client, diagram=("eligibilite.dmn", changed), attachments=(), name="eligibilite")
    assert alone.status_code == 200 and alone.get_json()["deployedProcessDefinitions"] is None
    redeployed = modeler_deploy(client, attachments=())
    definition = deployed_definition(redeployed)
    assert definition["version"] == 2
    started = modeler_start(client, definition["id"], variables={"categorie": {"value": "usld", "type": "String"}})
    assert runtime.show(int(started.get_json()["id"]))["variables"]["eligible"] is True
    # Once bound to the newest table, the same diagram is a duplicate again.
    assert modeler_deploy(client, attachments=()).get_json()["deployedProcessDefinitions"] is None


def test_deploy_changed_only_versions_only_what_changed(client, runtime):
    modeler_deploy(client, fields={"deploy-changed-only": "true"})
    changed = DMN.replace('"ehpad"', '"usld"')
    response = modeler_deploy(client, attachments=(("eligibilite.dmn", changed), ("demande-instruction.form", FORM)),
                              fields={"deploy-changed-only": "true"})
    body = response.get_json()
    assert response.status_code == 200
    assert body["deployedProcessDefinitions"] is None
    assert [d["version"] for d in body["deployedDecisionDefinitions"].values()] == [2]
    assert count(runtime, ProcessDefinition, key="Process_Autorisation") == 1
    assert count(runtime, FormDefinition, key="demande-instruction") == 1


def test_without_filtering_every_deploy_is_a_new_version(client, runtime):
    modeler_deploy(client, fields={})
    response = modeler_deploy(client, fields={})
    assert deployed_definition(response)["version"] == 2
    assert count(runtime, Deployment) == 2


def test_tenant_id_is_refused_with_a_reason(client, runtime):
    response = modeler_deploy(client, fields={"enable-duplicate-filtering": "true", "tenant-id": "ars-idf"})
    assert response.status_code == 400
    assert "tenant" in response.get_json()["message"]
    assert count(runtime, Deployment) == 0


def test_descriptive_diagram_alone_deploys_nothing_and_says_why(client, runtime):
    descriptive = BPMN.replace('isExecutable="true"', 'isExecutable="false"')
    response = modeler_deploy(client, diagram=("autorisation.bpmn", descriptive), attachments=())
    assert response.status_code == 400 and "Executable" in response.get_json()["message"]
    assert count(runtime, Deployment) == 0


def test_non_deployable_attachment_is_refused(client, runtime):
    response = modeler_deploy(client, attachments=(("notes.txt", "à relire"),))
    assert response.status_code == 400
    assert "notes.txt" in response.get_json()["message"]
    assert count(runtime, Deployment) == 0


# -- start instance --------------------------------------------------------------------------

TYPED_VARIABLES = {
    "categorie": {"value": "ehpad", "type": "String"},
    "montant": {"value": 1200, "type": "Integer"},
    "lits": {"value": "84", "type": "Long"},
    "taux": {"value": 0.5, "type": "Double"},
    "urgent": {"value": "true", "type": "Boolean"},
    "depot": {"value": "2026-11-02T09:30:00.000+0100", "type": "Date"},
    "dossier": {"value": '{"finess": "750000001", "sites": [1, 2]}', "type": "Json"},
    "gestionnaire": {"value": '{"nom": "Martin"}', "type": "Object",
                     "valueInfo": {"objectTypeName": "java.util.HashMap",
                                   "serializationDataFormat": "application/json"}},
    "commentaire": {"value": None, "type": "Null"},
}


def test_start_deployed_definition_with_typed_variables(client, runtime):
    definition = deployed_definition(modeler_deploy(client))
    response = modeler_start(client, definition["id"], business_key="ARS-2026-0042", variables=TYPED_VARIABLES)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["definitionId"] == definition["id"] and body["businessKey"] == "ARS-2026-0042"
    assert body["ended"] is False and body["suspended"] is False
    assert body["links"][0]["href"].endswith(f"{BASE}/process-instance/{body['id']}")

    shown = runtime.show(int(body["id"]))
    assert shown["state"] == "waiting" and shown["initiator"] == "proprio"
    assert shown["business_key"] == "ARS-2026-0042"
    variables = shown["variables"]
    assert variables["categorie"] == "ehpad"
    assert variables["montant"] == 1200 and variables["lits"] == 84 and variables["taux"] == 0.5
    assert variables["urgent"] is True
    assert variables["depot"] == "2026-11-02T09:30:00+01:00"
    assert variables["dossier"] == {"finess": "750000001", "sites": [1, 2]}
    assert variables["gestionnaire"] == {"nom": "Martin"}
    assert variables["commentaire"] is None
    assert variables["eligible"] is True  # the deployed decision table ran on "ehpad"
    task = shown["tasks"][0]
    assert task["element_id"] == "Task_Instruire" and task["form_id"] is not None


def test_start_with_variables_in_return(client):
    definition = deployed_definition(modeler_deploy(client))
    body = modeler_start(client, definition["id"], variables={"categorie": {"value": "usld", "type": "String"}},
                         withVariablesInReturn=True).get_json()
    assert body["variables"]["categorie"] == {"type": "String", "value": "usld", "valueInfo": {}}
    assert body["variables"]["eligible"]["type"] == "Boolean" and body["variables"]["eligible"]["value"] is False


def test_start_without_variables_reports_the_incident_it_ran_into(client, runtime):
    # StartInstanceTool.decorateVariables sends `variables: null` when the field is empty; here
    # the decision table then has no `categorie`: the instance exists, in incident, and says so.
    definition = deployed_definition(modeler_deploy(client))
    response = modeler_start(client, definition["id"], business_key=None, variables=None)
    assert response.status_code == 200
    body = response.get_json()
    shown = runtime.show(int(body["id"]))
    assert body["businessKey"] is None and shown["business_key"] is None
    assert shown["state"] == "incident"
    assert body["incident"]["element_id"] == "Task_Eligibilite"


def test_start_by_id_starts_that_version_and_by_key_the_latest(client, runtime):
    first = deployed_definition(modeler_deploy(client))
    second = deployed_definition(modeler_deploy(client, diagram=("autorisation.bpmn",
                                                                 BPMN.replace("Demande instruite", "Instruite"))))
    assert (first["version"], second["version"]) == (1, 2)
    by_id = modeler_start(client, first["id"]).get_json()
    by_key = modeler_start(client, "Process_Autorisation", by_key=True).get_json()
    assert runtime.show(int(by_id["id"]))["version"] == 1 and by_id["definitionId"] == first["id"]
    assert runtime.show(int(by_key["id"]))["version"] == 2 and by_key["definitionId"] == second["id"]


def test_process_definition_lookups(client):
    definition = deployed_definition(modeler_deploy(client))
    by_id = client.get(f"{BASE}/process-definition/{definition['id']}", headers=basic("proprio", PASSWORD))
    by_key = client.get(f"{BASE}/process-definition/key/Process_Autorisation", headers=basic("proprio", PASSWORD))
    assert by_id.get_json() == by_key.get_json() == definition


def test_bad_variable_is_refused_before_anything_starts(client, runtime):
    definition = deployed_definition(modeler_deploy(client))
    response = modeler_start(client, definition["id"], variables={"montant": {"value": "douze", "type": "Integer"}})
    assert response.status_code == 400
    assert response.get_json()["type"] == "InvalidRequestException"
    assert "montant" in response.get_json()["message"]
    for variables in ({"x": {"value": "abc", "type": "Json"}}, {"x": {"value": "hier", "type": "Date"}},
                      {"x": {"value": 2 ** 31, "type": "Integer"}}, {"x": {"value": "oui", "type": "Boolean"}},
                      {"x": {"value": "AAEC", "type": "Bytes"}}, {"x": {"value": 1, "type": "Money"}}):
        assert modeler_start(client, definition["id"], variables=variables).status_code == 400, variables
    assert count(runtime, Instance) == 0


# -- refusals --------------------------------------------------------------------------------

def test_refusals(client, runtime, app):
    definition = deployed_definition(modeler_deploy(client))
    no_auth = modeler_start(client, definition["id"], headers={"Accept": "application/json"})
    assert no_auth.status_code == 401 and no_auth.headers["WWW-Authenticate"] == 'Basic realm="arsflow"'
    wrong = modeler_deploy(client, headers=basic("proprio", "pas-le-bon"))
    assert wrong.status_code == 401
    assert modeler_start(client, definition["id"], headers=basic("inconnu", PASSWORD)).status_code == 401
    bad_token = {"Accept": "application/json", "Authorization": "Bearer faux-jeton"}
    assert client.get(f"{BASE}/version", headers=bad_token).status_code == 401

    agent = basic("agent", "mot-de-passe-agent")
    refused = modeler_deploy(client, headers=agent)
    assert refused.status_code == 403
    assert refused.get_json()["type"] == "AuthorizationException" and "deployers" in refused.get_json()["message"]
    assert modeler_start(client, definition["id"], headers=agent).status_code == 403

    assert modeler_start(client, "Process_Autorisation:1:999").status_code == 404
    assert modeler_start(client, "Process_Autre:1:" + definition["id"].rsplit(":", 1)[1]).status_code == 404
    assert modeler_start(client, "nimporte-quoi").status_code == 404
    unknown_key = modeler_start(client, "Process_Inconnu", by_key=True)
    assert unknown_key.status_code == 404 and "Process_Inconnu" in unknown_key.get_json()["message"]
    assert count(runtime, Instance) == 0 and count(runtime, Deployment) == 1


def test_bearer_token_as_the_modeler_sends_it(client, runtime):
    with runtime.db.transaction() as session:
        token = users.issue_api_token(session, "proprio")
    headers = {"Accept": "application/json", "Authorization": f"Bearer {token}"}
    response = modeler_deploy(client, headers=headers)
    assert response.status_code == 200
    with runtime.db.read() as session:
        assert session.get(Deployment, int(response.get_json()["id"])).deployed_by == "proprio"


# -- registration and links ----------------------------------------------------------------

def test_base_path_is_configurable_and_registration_idempotent(runtime, make_user):
    make_user("proprio", "deployers", password=PASSWORD)
    app = build_app(runtime, ARSFLOW_ENGINE_REST_PATH="/camunda/rest/")
    engine_rest.register(app)
    client = app.test_client()
    assert client.get("/camunda/rest/version", headers=basic("proprio", PASSWORD)).status_code == 200
    assert client.get("/engine-rest/version", headers=basic("proprio", PASSWORD)).status_code == 404
    assert modeler_deploy(client, base="/camunda/rest").status_code == 200


def test_cockpit_links_lead_to_arsflow_pages(runtime, make_user):
    make_user("proprio", "deployers", password=PASSWORD)
    client = build_app(runtime).test_client()
    # WellKnownAPI.getCockpitUrl, then CockpitProcessInstanceLink appends process-instance/{id}.
    cockpit = client.get("/.well-known/camunda-automation-platform/webapps").get_json()["cockpitUrl"]
    assert cockpit == f"http://localhost{BASE}/app/"
    response = client.get(cockpit.replace("http://localhost", "") + "process-instance/7")
    assert response.status_code == 302 and response.headers["Location"] == "/instances/7"
    deployment_link = client.get(cockpit.replace("http://localhost", "") + "repository?deploymentsQuery=%5B%5D")
    assert deployment_link.status_code == 302 and deployment_link.headers["Location"] == "/procedures"
