"""Task attachments under /engine-rest (Camunda 7's TaskAttachmentResource: paths, multipart
parts, AttachmentDto, status codes) and document uploads under /api/v1, both visible only to
those who may see the task or the instance."""
from __future__ import annotations

import io

import pytest
from arsflow.engine.people import users

from tests.docx_support import PDF_BYTES, PNG_BYTES
from tests.test_engine_rest_runtime import AGENT, BASE, OTHER, OWNER, client, start  # noqa: F401


def _task(runtime):
    [task] = [t for t in runtime.tasks(actor="agent") if t["element_id"] == "donner_avis"]
    return task["id"]


def _create(client, task_id, headers=AGENT, **parts):
    data = {k.replace("_", "-"): v for k, v in parts.items()}
    return client.post(f"{BASE}/task/{task_id}/attachment/create", data=data, headers=headers,
                       content_type="multipart/form-data")


def test_create_list_read_and_download_a_task_attachment(client, runtime):
    iid = start(runtime)
    task_id = _task(runtime)
    created = _create(client, task_id, attachment_name="Délibération CRSA.pdf",
                      attachment_description="Délibération du 12 janvier", attachment_type="application/pdf",
                      content=(io.BytesIO(PDF_BYTES), "scan.pdf"))
    assert created.status_code == 200
    dto = created.get_json()
    assert set(dto) == {"id", "name", "description", "taskId", "type", "url", "createTime", "removalTime",
                        "rootProcessInstanceId", "links"}
    assert (dto["name"], dto["description"], dto["taskId"], dto["type"], dto["url"], dto["rootProcessInstanceId"]) == (
        "Délibération CRSA.pdf", "Délibération du 12 janvier", task_id, "application/pdf", None, str(iid))
    assert dto["links"] == [{"method": "GET", "rel": "self",
                             "href": f"http://localhost{BASE}/task/{task_id}/attachment/{dto['id']}"}]
    listed = client.get(f"{BASE}/task/{task_id}/attachment", headers=AGENT).get_json()
    assert [a["id"] for a in listed] == [dto["id"]] and listed[0]["links"] == []
    one = client.get(f"{BASE}/task/{task_id}/attachment/{dto['id']}", headers=OWNER)  # deployers see everything
    assert one.status_code == 200 and one.get_json()["description"] == "Délibération du 12 janvier"
    data = client.get(f"{BASE}/task/{task_id}/attachment/{dto['id']}/data", headers=AGENT)
    assert data.status_code == 200 and data.data == PDF_BYTES
    assert runtime.task(task_id)["state"] == "open"  # attaching completes nothing
    [doc] = runtime.show(iid)["documents"]
    assert (doc["task_id"], doc["uploaded_by"], doc["source"]) == (task_id, "agent", "upload")
    assert [e["action"] for e in runtime.show(iid)["audit"]].count("document_attached") == 1


def test_attachment_refusals_and_visibility(client, runtime):
    start(runtime)
    task_id = _task(runtime)
    no_content = _create(client, task_id, attachment_name="x")
    assert no_content.status_code == 400
    assert (no_content.get_json()["type"], no_content.get_json()["message"]) == (
        "InvalidRequestException", "No content or url to remote content exists to create the task attachment.")
    url_only = _create(client, task_id, url="https://exemple.org/avis.pdf")
    assert url_only.status_code == 400 and "pas des liens" in url_only.get_json()["message"]
    exe = _create(client, task_id, content=(io.BytesIO(b"MZ\x90\x00"), "macro.exe"))
    assert exe.status_code == 400 and "type de fichier refusé" in exe.get_json()["message"]
    assert client.get(f"{BASE}/task/{task_id}/attachment", headers=AGENT).get_json() == []
    unknown = _create(client, "00000000-0000-0000-0000-000000000000", content=(io.BytesIO(PDF_BYTES), "a.pdf"))
    assert unknown.status_code == 400 and unknown.get_json()["message"].startswith("No task found for task id")
    # Someone who may not see the task: the same answers as for a task that does not exist.
    hidden = _create(client, task_id, headers=OTHER, content=(io.BytesIO(PDF_BYTES), "a.pdf"))
    assert hidden.status_code == 400 and hidden.get_json()["type"] == "InvalidRequestException"
    assert client.get(f"{BASE}/task/{task_id}/attachment", headers=OTHER).status_code == 404
    # A deployer sees the task but is not its candidate: may read, may not add.
    refused = _create(client, task_id, headers=OWNER, content=(io.BytesIO(PDF_BYTES), "a.pdf"))
    assert refused.status_code == 403 and refused.get_json()["type"] == "AuthorizationException"
    ok = _create(client, task_id, content=(io.BytesIO(PNG_BYTES), "plan.png")).get_json()
    assert client.get(f"{BASE}/task/{task_id}/attachment/{ok['id']}", headers=OTHER).status_code == 404
    assert client.get(f"{BASE}/task/{task_id}/attachment/{ok['id']}/data", headers=OTHER).status_code == 404
    missing = client.get(f"{BASE}/task/{task_id}/attachment/999999", headers=AGENT)
    assert missing.status_code == 404
    assert missing.get_json()["message"] == f"Task attachment with id 999999 does not exist for task id '{task_id}'."


@pytest.fixture
def token_for(runtime):
    def issue(login):
        with runtime.db.transaction() as s:
            return {"Authorization": f"Bearer {users.issue_api_token(s, login)}"}
    return issue


def test_api_v1_uploads_to_an_instance_and_to_a_task(client, runtime, token_for):
    iid = start(runtime)
    task_id = _task(runtime)
    agent, other = token_for("agent"), token_for("autre")
    on_task = client.post(f"/api/v1/tasks/{task_id}/documents", headers=agent, content_type="multipart/form-data",
                          data={"files": [(io.BytesIO(PDF_BYTES), "avis.pdf"), (io.BytesIO(PNG_BYTES), "plan.png")]})
    assert on_task.status_code == 201
    assert [(d["name"], d["task_id"]) for d in on_task.get_json()["documents"]] == [("avis.pdf", task_id),
                                                                                    ("plan.png", task_id)]
    on_instance = client.post(f"/api/v1/instances/{iid}/documents", headers=agent, content_type="multipart/form-data",
                              data={"files": [(io.BytesIO(PDF_BYTES + b"\n"), "complément.pdf")]})
    assert on_instance.status_code == 201 and on_instance.get_json()["documents"][0]["task_id"] is None
    assert client.post(f"/api/v1/instances/{iid}/documents", headers=other, content_type="multipart/form-data",
                       data={"files": [(io.BytesIO(PDF_BYTES), "x.pdf")]}).status_code == 403
    assert client.post(f"/api/v1/tasks/{task_id}/documents", headers=other, content_type="multipart/form-data",
                       data={"files": [(io.BytesIO(PDF_BYTES), "x.pdf")]}).status_code == 403
    mixed = client.post(f"/api/v1/instances/{iid}/documents", headers=agent, content_type="multipart/form-data",
                        data={"files": [(io.BytesIO(PDF_BYTES), "ok.pdf"), (io.BytesIO(b"MZ"), "virus.exe")]})
    assert mixed.status_code == 400
    assert len(runtime.show(iid)["documents"]) == 3  # nothing of the refused upload was kept
