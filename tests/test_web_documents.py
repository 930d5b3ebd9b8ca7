"""Documents on the web and the API: a task form takes files (checked by content, refused in
French beside the field), the instance page lists them, and only those who may see the
instance (and the task the file came with) download them; the portal's pages, link by link."""
from __future__ import annotations

import io
import re

import pytest
from arsflow import web
from arsflow.engine.models import OutboxMessage
from arsflow.engine.people import users
from sqlalchemy import select

from tests.bpmn_builder import simple_user_process
from tests.docx_support import PDF_BYTES, PNG_BYTES
from tests.portal_support import START, files as portal_files

PASSWORD = "motdepasse-demo"


@pytest.fixture
def app(runtime, make_user, deploy):
    for login, group in (("alice", "staff"), ("bob", "staff"), ("eve", "other"), ("mgr", "managers")):
        make_user(login, group)
    deploy({"p.bpmn": simple_user_process()})
    app = web.create_app(runtime, config={"TESTING": True, "SECRET_KEY": "test-secret"})
    return app


def _csrf(client):
    client.get("/connexion")
    with client.session_transaction() as sess:
        return sess["csrf_token"]


def _login(app, who):
    client = app.test_client()
    token = _csrf(client)
    assert client.post("/connexion", data={"login": who, "password": PASSWORD, "csrf_token": token}).status_code == 302
    return client


def _token(client):
    with client.session_transaction() as sess:
        return sess["csrf_token"]


def _complete_with(client, runtime, task_id, uploads):
    instance = runtime.show(runtime.task(task_id)["instance_id"])
    with runtime.db.read() as s:
        from arsflow.engine.models import Instance
        version = s.get(Instance, instance["id"]).lock_version
    data = {"csrf_token": _token(client), "_version": str(version), "_action": "complete",
            "documents": [(io.BytesIO(data), name) for name, data in uploads]}
    return client.post(f"/taches/{task_id}", data=data, content_type="multipart/form-data")


def test_task_form_takes_files_and_the_instance_lists_them(app, runtime):
    instance = runtime.start("p", actor="alice")
    [task] = runtime.tasks(actor="alice")
    runtime.claim(task["id"], "alice")
    alice = _login(app, "alice")
    page = alice.get(f"/taches/{task['id']}").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page and 'name="documents"' in page
    refused = _complete_with(alice, runtime, task["id"], [("avis.pdf", PDF_BYTES), ("macro.exe", b"MZ\x90")])
    assert refused.status_code == 400
    assert "macro.exe : type de fichier refusé" in refused.get_data(as_text=True)
    assert runtime.show(instance["id"])["documents"] == [] and runtime.task(task["id"])["state"] == "open"
    done = _complete_with(alice, runtime, task["id"], [("avis signé.pdf", PDF_BYTES), ("plan.png", PNG_BYTES)])
    assert done.status_code == 302
    docs = runtime.show(instance["id"])["documents"]
    assert [d["name"] for d in docs] == ["avis signé.pdf", "plan.png"]
    listing = alice.get(f"/instances/{instance['id']}").get_data(as_text=True)
    assert "avis signé.pdf" in listing and f"/documents/{docs[0]['id']}" in listing
    got = alice.get(f"/documents/{docs[0]['id']}")
    assert got.status_code == 200 and got.data == PDF_BYTES and got.mimetype == "application/pdf"
    assert "filename*=UTF-8''avis%20sign%C3%A9.pdf" in got.headers["Content-Disposition"]
    assert got.headers["X-Content-Type-Options"] == "nosniff"


def test_downloads_follow_instance_visibility(app, runtime):
    runtime.start("p", actor="alice")
    [task] = runtime.tasks(actor="alice")
    files = runtime.documents.receive([("avis.pdf", PDF_BYTES)])
    runtime.complete(task["id"], {}, actor="alice", attachments=files)
    [doc] = runtime.show(task["instance_id"])["documents"]
    assert _login(app, "eve").get(f"/documents/{doc['id']}").status_code == 403
    assert _login(app, "mgr").get(f"/documents/{doc['id']}").data == PDF_BYTES
    assert _login(app, "alice").get("/documents/999999").status_code == 404
    assert app.test_client().get(f"/documents/{doc['id']}").status_code == 302  # to the login page
    tokens = {}
    with runtime.db.transaction() as s:
        for who in ("alice", "eve"):
            tokens[who] = users.issue_api_token(s, who)
    api = app.test_client()
    ok = api.get(f"/api/v1/documents/{doc['id']}", headers={"Authorization": f"Bearer {tokens['alice']}"})
    assert ok.status_code == 200 and ok.data == PDF_BYTES
    denied = api.get(f"/api/v1/documents/{doc['id']}", headers={"Authorization": f"Bearer {tokens['eve']}"})
    assert denied.status_code == 403 and "message" in denied.get_json()
    shown = api.get(f"/api/v1/instances/{task['instance_id']}", headers={"Authorization": f"Bearer {tokens['alice']}"})
    assert [d["sha256"] for d in shown.get_json()["documents"]] == [doc["sha256"]]


def _portal_link(runtime, email):
    with runtime.db.read() as s:
        bodies = [m.text_body for m in s.scalars(select(OutboxMessage).where(OutboxMessage.email == email))]
    return re.search(r"https?://[^/\s]+(/portail/\S+)", bodies[0]).group(1)


def test_portal_pages(app, runtime, deploy, clock):
    deploy(portal_files())
    instance = runtime.start("consultation", START, business_key="PRS-2028", actor="alice")
    link = _portal_link(runtime, "crsa@example.org")
    body = app.test_client()
    page = body.get(link)
    assert page.status_code == 200 and "Avis de CRSA" in page.get_data(as_text=True)
    letter = re.search(r'href="(/portail/[^"]+/documents/\d+)"', page.get_data(as_text=True)).group(1)
    assert body.get(letter).status_code == 200
    assert body.get(link.rsplit("/", 1)[0] + "/x" + link.rsplit("/", 1)[1][1:]).status_code == 403
    missing = body.post(link, data={"csrf_token": _token(body), "sens": "favorable"}, content_type="multipart/form-data")
    assert missing.status_code == 400 and "Joignez le document signé" in missing.get_data(as_text=True)
    clock.set("2026-12-10T15:30:00+00:00")
    filed = body.post(link, data={"csrf_token": _token(body), "sens": "favorable", "comment": "RAS",
                                  "document": (io.BytesIO(PDF_BYTES), "délibération.pdf")},
                      content_type="multipart/form-data")
    text = filed.get_data(as_text=True)
    assert filed.status_code == 200 and "Votre avis a bien été reçu" in text and "10 décembre 2026" in text
    again = body.get(link)
    assert again.status_code == 200 and "Avis déjà déposé" in again.get_data(as_text=True)
    second = body.post(link, data={"csrf_token": _token(body), "sens": "defavorable",
                                   "document": (io.BytesIO(PDF_BYTES), "autre.pdf")}, content_type="multipart/form-data")
    assert second.status_code == 409 and "un second dépôt n'est pas possible" in second.get_data(as_text=True)
    clock.set("2027-01-01T00:00:00+00:00")
    expired = body.get(_portal_link(runtime, "cd@example.org"))
    assert expired.status_code == 410 and "Délai de consultation expiré" in expired.get_data(as_text=True)
    staff = _login(app, "alice").get(f"/instances/{instance['id']}").get_data(as_text=True)
    assert "reçu via le portail" in staff and "délibération.pdf" in staff
