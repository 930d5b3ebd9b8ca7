"""A user task naming nobody: the linter warns, administrators (ARSFLOW_ADMINS_GROUP) see it
and assign it (engine, command line, inbox, API); nobody else sees it."""
from __future__ import annotations

import json

import pytest

from arsflow.cli.main import main
from arsflow.engine.bpmn.lint import lint_sources
from arsflow.engine.errors import Forbidden, NotFound
from tests.test_web import api, client_for, env, new_token, post  # noqa: F401  (fixtures)

from tests.bpmn_builder import chain
from tests.modeler import modeler_diagram


def _orphan_process(pid="orphelin") -> str:
    return modeler_diagram("\n".join([
        '<bpmn:startEvent id="StartEvent_1"/>',
        '<bpmn:userTask id="Task_personne" name="Tâche sans destinataire"/>',
        '<bpmn:endEvent id="EndEvent_1"/>', chain("StartEvent_1", "Task_personne", "EndEvent_1")]), pid=pid)


def test_lint_warns_about_a_user_task_naming_nobody():
    report = lint_sources([("orphelin.bpmn", _orphan_process().encode())])
    assert report.ok
    [warning] = [w for w in report.warnings if w.element_id == "Task_personne"]
    assert "administrateurs" in warning.message and warning.line is not None


def test_admins_see_and_assign_a_task_naming_nobody(drive):
    rt = drive.runtime
    drive.deploy({"orphelin.bpmn": _orphan_process()})
    iid = rt().start("orphelin", actor="alice")["instance_id"]
    assert rt().tasks(actor="alice") == []  # not a candidate: does not see it
    [task] = rt().tasks(actor="root")  # root is in "admins"
    assert task["element_id"] == "Task_personne"
    with pytest.raises(Forbidden):
        rt().assign(task["id"], "bob", actor="alice")
    with pytest.raises(Forbidden):
        rt().claim(task["id"], actor="alice")
    with pytest.raises(NotFound):
        rt().assign(task["id"], "personne-inconnue", actor="root")
    rt().assign(task["id"], "bob", actor="root")
    assert [t["id"] for t in rt().tasks(actor="bob")] == [task["id"]]
    assert rt().tasks(actor="root") == []  # no longer names nobody
    rt().complete(task["id"], actor="bob")
    assert rt().show(iid)["state"] == "completed"
    assigned = [a for a in rt().show(iid)["audit"] if a["action"] == "assigned"]
    assert assigned[0]["actor"] == "root" and assigned[0]["details"]["after"] == "bob"


def test_admins_group_is_a_setting(drive, monkeypatch):
    monkeypatch.setenv("ARSFLOW_ADMINS_GROUP", "staff")
    from arsflow.engine.config import Settings
    assert Settings(database_url="sqlite://").admins_group == "staff"


def test_assign_through_the_command_line(db_url, tmp_path, capsys):
    path = tmp_path / "orphelin.bpmn"
    path.write_text(_orphan_process())

    def cli(*argv):
        code = main([*argv, "--db", db_url, "--json"])
        return code, capsys.readouterr().out

    assert cli("init")[0] == 0
    assert cli("deploy", str(path))[0] == 0
    for login, group in (("root", "admins"), ("bob", "staff")):
        assert main(["users", "add", login, "--group", group, "--db", db_url]) == 0
    capsys.readouterr()
    cli("start", "orphelin", "--as", "bob")
    code, out = cli("tasks")  # (the inbox and the engine show it to administrators)
    [task] = json.loads(out)
    assert cli("assign", task["id"], "--to", "bob", "--as", "bob")[0] == 2  # not an administrator
    code, out = cli("assign", task["id"], "--to", "bob", "--as", "root")
    assert code == 0 and json.loads(out)["assignee"] == "bob"


def test_inbox_and_api_let_an_administrator_assign(client_for, env):  # noqa: F811
    rt = env["rt"]
    from arsflow.engine.people import users
    with rt.db.transaction() as s:
        users.add_user(s, "root", ["admins"], password="motdepasse-demo", now=rt.now())
        rt.definitions.deploy(s, [("orphelin.bpmn", _orphan_process().encode())], now=rt.now())
    rt.start("orphelin", actor="alice")
    [task] = rt.tasks(actor="root")
    root = client_for("root")
    page = root.get(f"/taches/{task['id']}").text
    assert 'id="tache-sans-destinataire"' in page and 'id="attribuer"' in page
    assert client_for("alice").get(f"/taches/{task['id']}").status_code == 403
    assert root.post(f"/taches/{task['id']}/attribuer", data={"assignee": "alice"}).status_code == 400  # CSRF
    response = post(root, f"/taches/{task['id']}/attribuer", data={"assignee": "alice"})
    assert response.status_code == 302
    assert rt.task(task["id"])["assignee"] == "alice"
    rt.start("orphelin", actor="alice")
    [other] = rt.tasks(actor="root")
    token = new_token(root)
    sent = api(root, "post", f"/api/v1/tasks/{other['id']}/assign", token, json={"assignee": "bob"})
    assert sent.status_code == 200 and sent.get_json()["assignee"] == "bob"
