"""Bad input refused at the door (400 naming the field), 4xx instead of 500s, cross-origin
writes refused, concurrent deployments: the loser gets 409."""
from __future__ import annotations

import base64
import io
import json
import threading

import pytest
from sqlalchemy import func, select

from arsflow import web
from arsflow.engine.people import users
from arsflow.engine.errors import InvalidInput, NotFound
from arsflow.engine.models import Instance, ProcessDefinition
from tests.bpmn_builder import simple_user_process

PASSWORD = "motdepasse-long-42"
FORM = json.dumps({"id": "montant-form", "type": "default", "components": [
    {"type": "number", "key": "amount", "label": "Montant", "id": "F_amount"}]})


@pytest.fixture
def env(runtime, make_user, deploy):
    make_user("proprio", "deployers", "staff", password=PASSWORD)
    make_user("agent", "staff", password=PASSWORD)
    deploy({"p.bpmn": simple_user_process(attrs='camunda:candidateGroups="staff" camunda:formRef="montant-form"'),
            "montant.form": FORM})
    with runtime.db.transaction() as s:
        token = users.issue_api_token(s, "proprio")
    app = web.create_app(runtime, config={"TESTING": True, "SECRET_KEY": "test"})
    return {"app": app, "rt": runtime,
            "bearer": {"Authorization": f"Bearer {token}"},
            "basic": {"Authorization": "Basic " + base64.b64encode(f"proprio:{PASSWORD}".encode()).decode()}}


def instances(runtime) -> int:
    with runtime.db.read() as s:
        return s.scalar(select(func.count()).select_from(Instance))


def _json(client, path, body, headers, **extra):
    return client.post(path, data=body if isinstance(body, str) else json.dumps(body),
                       headers={**headers, "Content-Type": "application/json", **extra})


# -- cross-origin writes -------------------------------------------------------------------------

@pytest.mark.parametrize("header", [{"Origin": "http://evil.example"}, {"Referer": "http://evil.example/page"},
                                    {"Origin": "null"}])
def test_cross_origin_writes_refused_on_both_apis(env, header):
    client = env["app"].test_client()
    body = json.dumps({"businessKey": "x"})
    for path, auth in (("/engine-rest/process-definition/key/p/start", env["basic"]),
                       ("/api/v1/process-definitions/p/start", env["bearer"])):
        response = client.post(path, data=body, headers={**auth, **header, "Content-Type": "text/plain"})
        assert response.status_code == 403, (path, response.status_code)
        response = client.post(path, data=body, headers={**auth, **header, "Content-Type": "application/json"})
        assert response.status_code == 403
    assert instances(env["rt"]) == 0


def test_simple_content_types_refused_for_api_writes(env):
    client = env["app"].test_client()
    for path, auth in (("/engine-rest/process-definition/key/p/start", env["basic"]),
                       ("/api/v1/process-definitions/p/start", env["bearer"])):
        for ctype in ("text/plain", "application/x-www-form-urlencoded"):
            response = client.post(path, data='{"variables": {}}', headers={**auth, "Content-Type": ctype})
            assert response.status_code == 415, (path, ctype)
    assert instances(env["rt"]) == 0


def test_same_origin_and_originless_clients_still_write(env):
    client = env["app"].test_client()
    ok = _json(client, "/engine-rest/process-definition/key/p/start", {}, env["basic"],
               Origin="http://localhost")
    assert ok.status_code == 200, ok.text
    ok = _json(client, "/api/v1/process-definitions/p/start", {}, env["bearer"])
    assert ok.status_code == 201
    deploy = client.post("/engine-rest/deployment/create", content_type="multipart/form-data", headers=env["basic"],
                         data={"deployment-name": "q", "q.bpmn": (io.BytesIO(simple_user_process("q").encode()),
                                                                  "q.bpmn")})
    assert deploy.status_code == 200, deploy.text
    assert instances(env["rt"]) == 2


def test_trusted_origin_setting(env, runtime):
    app = web.create_app(runtime, config={"TESTING": True, "SECRET_KEY": "t",
                                          "ARSFLOW_TRUSTED_ORIGINS": "https://modeler.ars.fr"})
    response = _json(app.test_client(), "/api/v1/process-definitions/p/start", {}, env["bearer"],
                     Origin="https://modeler.ars.fr")
    assert response.status_code == 201


# -- values refused with the field named ---------------------------------------------------------

@pytest.mark.parametrize("raw, field", [
    ('{"variables": {"nom": "\\ud800"}}', "variables.nom"),
    ('{"variables": {"x": NaN}}', "variables.x"),
    ('{"variables": {"liste": [1, Infinity]}}', "variables.liste.1"),
    ('{"variables": {"a": ' + "[" * 900 + "]" * 900 + "}}", "variables.a"),
])
def test_api_refuses_values_that_break_later(env, raw, field):
    response = _json(env["app"].test_client(), "/api/v1/process-definitions/p/start", raw, env["bearer"])
    assert response.status_code == 400
    assert field in response.get_json()["message"]
    assert instances(env["rt"]) == 0


def test_engine_rest_refuses_nan_and_surrogates(env):
    client = env["app"].test_client()
    for raw in ('{"variables": {"x": {"value": NaN, "type": "Double"}}}',
                '{"variables": {"x": {"value": "\\udfff", "type": "String"}}}'):
        response = _json(client, "/engine-rest/process-definition/key/p/start", raw, env["basic"])
        assert response.status_code == 400, response.text
        message = response.get_json()["message"]
        assert "variables.x" in message or "variable « x »" in message
    assert instances(env["rt"]) == 0


def test_oversized_business_key(env):
    client = env["app"].test_client()
    for path, auth, key in (("/api/v1/process-definitions/p/start", env["bearer"], "business_key"),
                            ("/engine-rest/process-definition/key/p/start", env["basic"], "businessKey")):
        response = _json(client, path, {key: "K" * 10_000}, auth)
        assert response.status_code == 400 and "business_key" in response.get_json()["message"]
    assert instances(env["rt"]) == 0


@pytest.mark.parametrize("depth", [1000, 5000])
def test_deep_json_is_a_400(env, depth):
    client = env["app"].test_client()
    raw = '{"variables": {"a": ' + "[" * depth + "]" * depth + "}}"
    for path, auth in (("/api/v1/process-definitions/p/start", env["bearer"]),
                       ("/engine-rest/process-definition/key/p/start", env["basic"])):
        assert _json(client, path, raw, auth).status_code == 400


def test_number_field_refuses_a_list(env):
    client = env["app"].test_client()
    started = _json(client, "/api/v1/process-definitions/p/start", {}, env["bearer"]).get_json()
    task_id = env["rt"].tasks(instance_id=started["id"])[0]["id"]
    response = _json(client, f"/api/v1/tasks/{task_id}/complete", {"variables": {"amount": [1]}}, env["bearer"])
    assert response.status_code == 400
    assert "amount" in json.dumps(response.get_json(), ensure_ascii=False)
    ok = _json(client, f"/api/v1/tasks/{task_id}/complete", {"variables": {"amount": 1}}, env["bearer"])
    assert ok.status_code == 200 and env["rt"].show(started["id"])["variables"]["amount"] == 1


def test_engine_level_checks_cover_every_entry_point(runtime, env):
    with pytest.raises(InvalidInput, match="variables.note"):
        runtime.start("p", {"note": "a\ud800"}, actor="agent")
    with pytest.raises(InvalidInput, match="business_key"):
        runtime.start("p", {}, business_key="x" * 256, actor="agent")
    with pytest.raises(NotFound):
        runtime.show(99999999999999999999)
    assert instances(runtime) == 0


# -- huge ids --------------------------------------------------------------------------------------

HUGE = "99999999999999999999"


def test_huge_ids_are_not_found(env):
    client = env["app"].test_client()
    for path, headers in ((f"/api/v1/instances/{HUGE}", env["bearer"]),
                          (f"/api/v1/instances/{HUGE}/terminate", env["bearer"]),
                          (f"/instances/{HUGE}", {}),
                          (f"/engine-rest/process-instance/{HUGE}", env["basic"]),
                          (f"/engine-rest/process-definition/p:1:{HUGE}", env["basic"]),
                          (f"/engine-rest/app/process-instance/{HUGE}", env["basic"])):
        method = client.post if path.endswith("terminate") else client.get
        response = method(path, headers=headers)
        assert response.status_code == 404, (path, response.status_code)
    response = client.get(f"/engine-rest/deployment?maxResults={HUGE}", headers=env["basic"])
    assert response.status_code in (200, 400)


# -- concurrent deployments ------------------------------------------------------------------------

def test_concurrent_deployments_of_one_key_loser_gets_409(env):
    """Four clients deploy a new version of the same key at once, on each API."""
    for attempt, (path, auth) in enumerate((("/api/v1/deployments", env["bearer"]),
                                            ("/engine-rest/deployment/create", env["basic"]))):
        statuses, barrier = [], threading.Barrier(4)

        def one(i):
            body = simple_user_process("race", attrs=f'camunda:candidateGroups="g{attempt}-{i}"')
            field = "files" if path.startswith("/api") else "race.bpmn"
            client = env["app"].test_client()
            barrier.wait()
            try:
                response = client.post(path, headers=auth, content_type="multipart/form-data",
                                       data={field: (io.BytesIO(body.encode()), "race.bpmn")})
                statuses.append(response.status_code if response.status_code != 500 else response.text[:300])
            except Exception as err:  # TESTING re-raises what would have been a 500
                statuses.append(repr(err))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(s in (200, 201, 409) for s in statuses), statuses
        assert any(s in (200, 201) for s in statuses)
    with env["rt"].db.read() as s:
        versions = s.scalars(select(ProcessDefinition.version).where(ProcessDefinition.key == "race")).all()
    assert sorted(versions) == list(range(1, len(versions) + 1))


# -- the command line: French messages, no traceback ------------------------------------------

@pytest.mark.parametrize("argv, expected", [
    (["deadline", "2027-02-28", "P99999999Y"], "délai trop long"),
    (["deadline", "2027-02-28", "-P1D"], "délai négatif refusé"),
    (["deadline", "2027-02-30", "P1D"], "date de départ inexistante"),
    (["deadline", "2027-02-28"], "arguments obligatoires manquants"),
])
def test_cli_errors_are_french_sentences(argv, expected):
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "arsflow.cli.main", *argv], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode in (1, 2)
    assert expected in done.stderr and "Traceback" not in done.stderr


def test_cli_huge_id_and_bad_data(db_url, tmp_path):
    import subprocess
    import sys

    def arsflow(*argv, stdin=None):
        return subprocess.run([sys.executable, "-m", "arsflow.cli.main", *argv, "--db", db_url],
                              capture_output=True, text=True, timeout=120, input=stdin)
    assert arsflow("init").returncode == 0
    shown = arsflow("show", "99999999999999999999")
    assert shown.returncode == 2 and "introuvable" in shown.stderr and "Traceback" not in shown.stderr
    (tmp_path / "p.bpmn").write_text(simple_user_process())
    assert arsflow("deploy", str(tmp_path / "p.bpmn")).returncode == 0
    assert arsflow("users", "add", "agent", "--group", "staff", "--password-stdin", stdin=PASSWORD).returncode == 0
    for data, field in (('{"x": NaN}', "variables.x"), ('{"d": "\\ud800"}', "variables.d")):
        started = arsflow("start", "p", "--as", "agent", "--data", data)
        assert started.returncode == 1 and field in started.stderr and "Traceback" not in started.stderr
