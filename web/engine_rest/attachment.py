"""Task attachments (TaskAttachmentResourceImpl, AttachmentDto): create (multipart), list, read,
content. An attachment is one of arsflow's documents that came with the task (uploaded with
it, picked in its form, filed on the portal, or created here): same store, same checks.

Who: creating needs the open task's assignee or a candidate (403 otherwise, as completing);
reading follows the documents' rule — whoever may see the task, open or done — and a task
the caller may not see answers as a missing one. Differences from Camunda, on purpose: only
files are kept (an attachment that is only a `url` is refused), the type of the content is
checked (PDF, ODT, DOCX, PNG, JPEG), no DELETE (documents are evidence: the history keeps
them), `/data` answers the document's own media type.
"""
from __future__ import annotations

from flask import g, jsonify, request, url_for
from sqlalchemy import select

from arsflow.engine.documents.store import clean_name
from arsflow.engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from arsflow.engine.models import AuditEntry, Document, HumanTask

from arsflow.web.engine_rest.blueprint import bp, runtime
from arsflow.web.engine_rest.dto import camunda_time
from arsflow.web.engine_rest.errors import RestError

PARTS = ("attachment-name", "attachment-description", "attachment-type", "url", "content")


def _task_seen(session, task_id: str, status: int) -> HumanTask:
    """The task, if the caller may see it (open or done); else Camunda's « No task found »."""
    from arsflow.web import queries
    task = session.get(HumanTask, str(task_id))
    rt = runtime()
    if task is not None and (queries.sees_everything(rt, g.engine_rest_groups)
                             or task.id in queries.visible_task_ids(rt, session, task.instance_id,
                                                                   g.engine_rest_login)):
        return task
    raise RestError(status, "InvalidRequestException", f"No task found for task id {task_id}")


def _notes(session, task_id: str) -> dict[int, dict]:
    """Description and declared type of each attachment, kept in its history entry."""
    rows = session.scalars(select(AuditEntry.details).where(AuditEntry.task_id == task_id,
                                                            AuditEntry.action == "document_attached"))
    return {d["document_id"]: d for d in rows if isinstance(d, dict) and "document_id" in d}


def attachment_dto(row: Document, note: dict | None) -> dict:
    note = note or {}
    return {"id": str(row.id), "name": row.name, "description": note.get("description"), "taskId": row.task_id,
            "type": note.get("declared_type") or row.media_type, "url": None,
            "createTime": camunda_time(row.created_at), "removalTime": None,
            "rootProcessInstanceId": str(row.instance_id), "links": []}


def _attachment(session, task_id: str, attachment_id: str) -> Document:
    row = session.get(Document, int(attachment_id)) if attachment_id.isdigit() else None
    if row is None or row.task_id != task_id:
        raise RestError(404, "InvalidRequestException",
                        f"Task attachment with id {attachment_id} does not exist for task id '{task_id}'.")
    return row


@bp.get("/task/<task_id>/attachment")
def list_attachments(task_id):
    with runtime().db.read() as session:
        _task_seen(session, task_id, 404)
        notes = _notes(session, task_id)
        rows = session.scalars(select(Document).where(Document.task_id == task_id).order_by(Document.id))
        return jsonify([attachment_dto(row, notes.get(row.id)) for row in rows])


@bp.get("/task/<task_id>/attachment/<attachment_id>")
def get_attachment(task_id, attachment_id):
    with runtime().db.read() as session:
        _task_seen(session, task_id, 404)
        row = _attachment(session, task_id, attachment_id)
        return jsonify(attachment_dto(row, _notes(session, task_id).get(row.id)))


@bp.get("/task/<task_id>/attachment/<attachment_id>/data")
def get_attachment_data(task_id, attachment_id):
    from arsflow.web.documents import download
    rt = runtime()
    with rt.db.read() as session:
        _task_seen(session, task_id, 404)
        row = _attachment(session, task_id, attachment_id)
        return download(rt, row)


def _text_part(name: str) -> str | None:
    value = request.form.get(name)
    if value is None and name in request.files:
        value = request.files[name].read(4096).decode("utf-8", "replace")
    return value.strip() or None if value is not None else None


@bp.post("/task/<task_id>/attachment/create")
def create_attachment(task_id):
    rt = runtime()
    with rt.db.read() as session:
        _task_seen(session, task_id, 400)
    upload = request.files.get("content")
    if upload is not None:
        content = upload.read(int(rt.settings.documents_max_mb * 1024 * 1024) + 1)
        filename = upload.filename
    else:
        text = request.form.get("content")
        content, filename = (text.encode("utf-8"), None) if text is not None else (None, None)
    url = _text_part("url")
    if content is None and url is None:
        raise RestError(400, "InvalidRequestException",
                        "No content or url to remote content exists to create the task attachment.")
    if content is None:
        raise RestError(400, "InvalidRequestException",
                        "arsflow conserve des fichiers, pas des liens : envoyez le document dans la partie « content »")
    name = clean_name(_text_part("attachment-name") or filename)
    try:
        [stored] = rt.documents.receive([(name, content)])
        [document] = rt.documents.attach([stored], g.engine_rest_login, task_id=task_id,
                                         description=_text_part("attachment-description"),
                                         declared_type=_text_part("attachment-type"))
    except Forbidden as err:
        raise RestError(403, "AuthorizationException", err.message, userId=g.engine_rest_login,
                        missingAuthorizations=[{"permissionName": "UPDATE", "resourceName": "Task",
                                                "resourceId": task_id}]) from None
    except (InvalidInput, Conflict, NotFound) as err:
        raise RestError(400, "InvalidRequestException", err.message) from None
    with rt.db.read() as session:
        row = session.get(Document, document["id"])
        dto = attachment_dto(row, _notes(session, task_id).get(row.id))
    dto["links"] = [{"method": "GET", "rel": "self",
                     "href": url_for("engine_rest.get_attachment", task_id=task_id, attachment_id=dto["id"],
                                     _external=True)}]
    return jsonify(dto)

