"""Camunda Forms' `filepicker` on a task form: the files are checked by content and by the
field's `accept`, stored as documents with the completion, and the variable holds their
references; a refusal completes nothing and keeps no row."""
from __future__ import annotations

import io
import json

import pytest
from arsflow.engine.errors import InvalidInput

from tests.bpmn_builder import simple_user_process
from tests.docx_support import PDF_BYTES, PNG_BYTES
from tests.test_web_documents import _login, _token

FORM = {"id": "avis_form", "type": "default", "components": [
    {"type": "textfield", "key": "reference", "label": "Référence", "validate": {"required": True}},
    {"type": "filepicker", "key": "avis.deliberation", "label": "Délibération signée", "accept": ".pdf",
     "validate": {"required": True}},
    {"type": "filepicker", "key": "annexes", "label": "Annexes", "multiple": True}]}
PROPS = ('<camunda:properties><camunda:property name="attachments" value="none"/></camunda:properties>')


@pytest.fixture
def app(runtime, make_user, deploy):
    from arsflow import web
    make_user("alice", "staff")
    deploy({"p.bpmn": simple_user_process(attrs='camunda:candidateGroups="staff" camunda:formRef="avis_form"',
                                          ext=PROPS),
            "avis.form": json.dumps(FORM)})
    return web.create_app(runtime, config={"TESTING": True, "SECRET_KEY": "test-secret"})


def _post(client, runtime, task_id, files: dict, reference="Délib. n° 12"):
    from arsflow.engine.models import Instance
    with runtime.db.read() as s:
        version = s.get(Instance, runtime.task(task_id)["instance_id"]).lock_version
    data = {"csrf_token": _token(client), "_version": str(version), "_action": "complete", "reference": reference,
            "avis.deliberation": "forgé"}  # a text under the picker's name is not a document
    for name, uploads in files.items():
        data[name] = [(io.BytesIO(content), filename) for filename, content in uploads]
    return client.post(f"/taches/{task_id}", data=data, content_type="multipart/form-data")


def test_the_filepicker_stores_documents_and_the_variable_holds_their_references(app, runtime):
    instance = runtime.start("p", actor="alice")
    [task] = runtime.tasks(actor="alice")
    alice = _login(app, "alice")
    page = alice.get(f"/taches/{task['id']}").get_data(as_text=True)
    assert 'type="file" id="champ-avis-deliberation" name="avis.deliberation" accept=".pdf" required' in page
    assert 'name="annexes" accept=".pdf,.odt,.docx,.png,.jpg,.jpeg" multiple' in page
    assert 'name="documents"' not in page  # the task's own panel is off (property attachments = none)

    refusals = [({}, "Joignez un fichier."),
                ({"avis.deliberation": [("plan.png", PNG_BYTES)]},
                 "plan.png : type de fichier non accepté ici (attendu : .pdf)."),
                ({"avis.deliberation": [("a.pdf", PDF_BYTES), ("b.pdf", PDF_BYTES + b" ")]},
                 "Un seul fichier est attendu."),
                ({"avis.deliberation": [("macro.pdf", b"MZ\x90 pas un PDF")]}, "macro.pdf : type de fichier refusé")]
    for files, message in refusals:
        answer = _post(alice, runtime, task["id"], files)
        assert answer.status_code == 400 and message in answer.get_data(as_text=True)
        assert runtime.task(task["id"])["state"] == "open" and runtime.show(instance["id"])["documents"] == []

    done = _post(alice, runtime, task["id"], {"avis.deliberation": [("délibération.pdf", PDF_BYTES)],
                                              "annexes": [("plan.png", PNG_BYTES), ("note.pdf", PDF_BYTES + b"%")]})
    assert done.status_code == 302
    shown = runtime.show(instance["id"])
    docs = {d["name"]: d for d in shown["documents"]}
    assert sorted(docs) == ["délibération.pdf", "note.pdf", "plan.png"]
    assert {d["task_id"] for d in docs.values()} == {task["id"]}
    variables = shown["variables"]
    assert variables["reference"] == "Délib. n° 12"
    assert variables["avis"]["deliberation"] == [{
        "document_id": docs["délibération.pdf"]["id"], "name": "délibération.pdf", "media_type": "application/pdf",
        "size": len(PDF_BYTES), "sha256": docs["délibération.pdf"]["sha256"]}]
    assert [a["document_id"] for a in variables["annexes"]] == [docs["plan.png"]["id"], docs["note.pdf"]["id"]]
    attached = [e for e in shown["audit"] if e["action"] == "document_attached"]
    assert len(attached) == 3
    got = alice.get(f"/documents/{docs['délibération.pdf']['id']}")
    assert got.status_code == 200 and got.data == PDF_BYTES


def test_a_required_filepicker_refuses_a_completion_without_files(runtime, make_user, deploy):
    make_user("alice", "staff")
    deploy({"p.bpmn": simple_user_process(attrs='camunda:candidateGroups="staff" camunda:formRef="avis_form"'),
            "avis.form": json.dumps(FORM)})
    runtime.start("p", actor="alice")
    [task] = runtime.tasks(actor="alice")
    forged = {"reference": "x", "avis": {"deliberation": [{"document_id": 1}]}}  # JSON cannot name documents
    with pytest.raises(InvalidInput) as err:
        runtime.complete(task["id"], forged, actor="alice")
    assert err.value.details["errors"] == {"avis.deliberation": "Joignez un fichier."}


def test_a_page_that_cannot_send_files_leaves_the_pickers_out():
    """A start form or a retry: no instance to keep files yet, so no picker is shown or required."""
    from arsflow.engine.forms import load_form
    from arsflow.web import form_render
    form = load_form(FORM)
    assert form.validate({"reference": "x", "annexes": "forgé"}) == {"reference": "x"}
    assert [n.name for n in form_render.build(form, {})] == ["reference"]
    assert [n.name for n in form_render.build(form, {}, files=True)] == ["reference", "avis.deliberation", "annexes"]


def test_the_prs_avis_task_takes_the_signed_deliberation(runtime, clock):
    """The real form: PRS « Enregistrer l'avis reçu » has a `deliberation` picker and no panel."""
    from arsflow.engine.models import Instance
    from tests.test_web_start_forms import client_as
    from arsflow.processes.demo import load_demo
    from arsflow import web
    clock.set("2026-12-15T09:00:00+00:00")
    load_demo(runtime)
    app = web.create_app(runtime, config={"TESTING": True, "SECRET_KEY": "prs-picker"})
    client = client_as({"app": app, "rt": runtime}, "sophie.durand")
    [task] = [t for t in runtime.tasks(actor="sophie.durand")
              if t["element_id"] == "Task_enregistrer_avis" and (t.get("properties") or {}).get("subject") == "CRSA"]
    page = client.get(f"/taches/{task['id']}").text
    assert 'name="deliberation"' in page and 'name="documents"' not in page
    with runtime.db.read() as s:
        version = s.get(Instance, task["instance_id"]).lock_version
    done = client.post(f"/taches/{task['id']}", content_type="multipart/form-data", data={
        "csrf_token": _token(client), "_version": str(version), "_action": "complete", "received_on": "14/12/2026",
        "sens": "favorable", "reference": "Délibération CRSA n° 2026-12",
        "deliberation": [(io.BytesIO(PDF_BYTES), "délibération CRSA.pdf")]})
    assert done.status_code == 302, done.text
    [doc] = [d for d in runtime.show(task["instance_id"])["documents"] if d["name"] == "délibération CRSA.pdf"]
    assert doc["task_id"] == task["id"] and doc["uploaded_by"] == "sophie.durand"
    assert runtime.show(task["instance_id"])["variables"]["avis"]["CRSA"]["status"] == "explicit"
