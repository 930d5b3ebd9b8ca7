"""One visibility rule for tasks, audit and variables, on the API and the instance page:
what a completion wrote is withheld from those who may not see that completion."""
from __future__ import annotations

import pytest

from arsflow import web
from arsflow.engine.config import Settings
from arsflow.engine.people import users
from arsflow.engine.runtime import Runtime
from tests.bpmn_builder import chain, definitions, user_task

PASSWORD = "motdepasse-long-42"
BODY = "\n".join(['<bpmn:startEvent id="start"/>',
                  user_task("instruire", attrs='camunda:candidateGroups="instructeurs"'),
                  user_task("valider", attrs='camunda:candidateGroups="valideurs"'),
                  '<bpmn:endEvent id="end"/>', chain("start", "instruire", "valider", "end")])


@pytest.fixture(params=["warm", "cold"])
def env(request, runtime, make_user, deploy, database, clock):
    make_user("alice", "instructeurs", password=PASSWORD)
    make_user("bruno", "valideurs", password=PASSWORD)
    make_user("chef", "managers", password=PASSWORD)
    deploy({"p.bpmn": definitions(BODY, "p")})
    tokens = {}
    with runtime.db.transaction() as s:
        for login in ("alice", "bruno", "chef"):
            tokens[login] = users.issue_api_token(s, login)

    def rt():
        if request.param == "warm":
            return runtime
        return Runtime(database, Settings(database_url=database.url, territory="75", timezone="Europe/Paris"),
                       clock=clock)

    warm_app = web.create_app(runtime, config={"TESTING": True, "SECRET_KEY": "t"})

    def app():
        return warm_app if request.param == "warm" else web.create_app(rt(), config={"TESTING": True,
                                                                                   "SECRET_KEY": "t"})
    return {"rt": rt, "app": app, "tokens": tokens}


def api_show(env, who, instance_id):
    response = env["app"]().test_client().get(f"/api/v1/instances/{instance_id}",
                                              headers={"Authorization": f"Bearer {env['tokens'][who]}"})
    assert response.status_code == 200, response.text
    return response.get_json()


def page_of(env, who, instance_id):
    client = env["app"]().test_client()
    client.get("/connexion")
    with client.session_transaction() as sess:
        token = sess["csrf_token"]
    assert client.post("/connexion", data={"login": who, "password": PASSWORD, "csrf_token": token}).status_code == 302
    response = client.get(f"/instances/{instance_id}")
    assert response.status_code == 200
    return response.text


def test_variables_follow_the_audit_rule(env):
    started = env["rt"]().start("p", {"dossier": "D-1"})
    instance = started["id"]
    task = env["rt"]().tasks(instance_id=instance)[0]["id"]
    env["rt"]().complete(task, {"note_confidentielle": "SECRET-ALICE"}, actor="alice")
    task = env["rt"]().tasks(instance_id=instance)[0]["id"]
    env["rt"]().complete(task, {"avis_valideur": "SECRET-BRUNO"}, actor="bruno")

    bruno = api_show(env, "bruno", instance)
    assert "note_confidentielle" not in bruno["variables"] and "SECRET-ALICE" not in str(bruno)
    assert bruno["variables"]["avis_valideur"] == "SECRET-BRUNO" and bruno["variables"]["dossier"] == "D-1"
    assert bruno["hidden_variables"] == ["note_confidentielle"]
    hidden = [a for a in bruno["audit"] if a.get("hidden")]
    assert hidden and all(a["details"] == {} for a in hidden)

    alice = api_show(env, "alice", instance)
    assert "SECRET-BRUNO" not in str(alice) and alice["variables"]["note_confidentielle"] == "SECRET-ALICE"

    chef = api_show(env, "chef", instance)  # managers see everything
    assert chef["variables"]["note_confidentielle"] == "SECRET-ALICE"
    assert chef["variables"]["avis_valideur"] == "SECRET-BRUNO"

    page = page_of(env, "bruno", instance)
    assert "SECRET-ALICE" not in page and "SECRET-BRUNO" in page and "note_confidentielle" in page
