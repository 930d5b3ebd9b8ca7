"""The upload page as a deployer uses it: files checked with « Vérifier » are kept for
« Déployer », a renamed copy of a deployed diagram is a new version, a broken condition is
caught at « Vérifier », and sending no file is a message beside the field."""
from __future__ import annotations

import re

from sqlalchemy import select

from arsflow.engine.models import ProcessDefinition
from arsflow.web import upload_store
from tests.test_lint_expressions import gateway_process
from tests.test_web import ANALYSE_BPMN, client_for, env, post, upload  # noqa: F401  (fixtures)


def kept_token(page: str) -> str:
    return re.search(r'name="_depot" value="([^"]+)"', page).group(1)


def test_checked_files_are_kept_for_deploy(client_for, env):
    client = client_for("dave")
    changed = ANALYSE_BPMN.replace('camunda:dueDate="P20D"', 'camunda:dueDate="P30D"')
    checked = upload(client, [("analyse.bpmn", changed)], "verifier")
    assert checked.status_code == 200 and "Fichiers conservés : <strong>analyse.bpmn</strong>" in checked.text
    token = kept_token(checked.text)
    # « Déployer » with no file chosen again deploys the kept ones.
    deployed = post(client, "/procedures/depot", {"_action": "deployer", "_depot": token, "name": "P30D"},
                    content_type="multipart/form-data")
    assert deployed.status_code == 302, deployed.text
    assert "Process_Analyse v2" in client.get("/procedures").text
    # The token is spent, and never usable by someone else.
    again = post(client, "/procedures/depot", {"_action": "deployer", "_depot": token},
                 content_type="multipart/form-data")
    assert again.status_code == 400 and "ne sont plus conservés" in again.text
    other = kept_token(upload(client, [("analyse.bpmn", changed.replace("P30D", "P31D"))], "verifier").text)
    with env["app"].test_request_context():
        assert upload_store.kept(other, "dave")[0][0] == "analyse.bpmn"
        assert upload_store.kept(other, "mallory") is None  # tied to the login that sent them
        assert upload_store.kept("../../etc/passwd", "dave") is None


def test_no_file_is_a_message_beside_the_field(client_for, env):
    response = post(client_for("dave"), "/procedures/depot", {"_action": "verifier"},
                    content_type="multipart/form-data")
    assert response.status_code == 400
    assert 'id="files-erreur"' in response.text and "Aucun fichier reçu" in response.text
    assert 'aria-describedby="files-erreur"' in response.text and "<h1>Vérifier ou déployer" in response.text


def test_a_renamed_copy_of_a_deployed_diagram_is_a_new_version(client_for, env):
    client = client_for("dave")
    copy = ANALYSE_BPMN.replace('camunda:dueDate="P20D"', 'camunda:dueDate="P21D"')
    checked = upload(client, [("analyse-copie.bpmn", copy)], "verifier")
    assert checked.status_code == 200, checked.text
    assert "Duplicate" not in checked.text and "en double" not in checked.text
    assert "Aucune erreur" in checked.text
    deployed = upload(client, [("analyse-copie.bpmn", copy)], "deployer")
    assert deployed.status_code == 302
    with env["rt"].db.read() as s:
        versions = s.scalars(select(ProcessDefinition.version).where(ProcessDefinition.key == "Process_Analyse")).all()
    assert sorted(versions) == [1, 2]
    started = env["rt"].start("Process_Analyse", {"territory": "75"}, actor="alice")
    assert started["state"] != "incident"


def test_a_broken_condition_is_caught_at_verify(client_for, env):
    client = client_for("dave")
    for condition, expected in (("${montant &gt;}", "opérande attendu"),
                                ("${montant} &gt; 1000", "une seule expression")):
        xml = gateway_process(condition).replace('id="p"', 'id="Process_Conditions"')
        response = upload(client, [("conditions.bpmn", xml)], "verifier")
        assert response.status_code == 200
        assert "Flow_Big" in response.text and expected in response.text, condition
        assert "Aucune erreur" not in response.text
