"""Documents on the web: download for whoever may see the instance (the instance page's rule),
the list shown on the instance and task pages, and the files sent with a task completion.
Also the size cap of requests that carry documents (larger than a diagram upload's)."""
from __future__ import annotations

from urllib.parse import quote

from arsflow.engine.errors import InvalidInput
from arsflow.engine.models import Instance
from arsflow.web import get_runtime, queries
from arsflow.web.queries import reading
from arsflow.web.security import require_login
from flask import Blueprint, Flask, Response, abort, g, request

bp = Blueprint("documents", __name__)
bp.before_request(require_login)

FIELD = "documents"  # the task form's file input
# Endpoints whose requests carry documents: their cap is the documents' own, not the diagrams'.
LARGE_ENDPOINTS = {"inbox.task", "portal.page", "api.document_upload", "api.task_document_upload",
                   "engine_rest.create_attachment"}


def files_from(storage_list) -> list[tuple[str, bytes]]:
    rt = get_runtime()
    limit = int(rt.settings.documents_max_mb * 1024 * 1024)
    out = []
    for storage in storage_list:
        if storage is None or not storage.filename:
            continue
        data = storage.read(limit + 1)
        out.append((storage.filename, data))
    return out


def attachments_for(task_data: dict, storage_list) -> list:
    """Files of a task form, checked and stored; the task's `attachments` property `required`
    refuses a completion without any."""
    files = files_from(storage_list)
    if not files and str((task_data.get("properties") or {}).get("attachments") or "").lower() == "required":
        raise InvalidInput("Joignez au moins un document à cette tâche (pièce jointe obligatoire).",
                           errors={FIELD: "Joignez au moins un document."})
    try:
        return get_runtime().documents.receive(files) if files else []
    except InvalidInput as err:  # shown beside the file field, the form kept as typed
        raise InvalidInput(err.message, errors={FIELD: err.message}) from None


def form_files_for(form, request_files) -> dict:
    """The files sent to each filepicker of the task's form, checked and stored, by field name;
    a refused file is named beside its own field."""
    picked = {}
    for field in (form.file_fields if form is not None else []):
        files = files_from(request_files.getlist(field.name))
        try:
            picked[field.name] = get_runtime().documents.receive(files) if files else []
        except InvalidInput as err:
            raise InvalidInput(err.message, errors={field.name: err.message}) from None
    return picked


def panel_mode(task_data: dict) -> str:
    """optional (default) | required | none: whether the task page offers files."""
    mode = str((task_data.get("properties") or {}).get("attachments") or "optional").lower()
    return mode if mode in ("optional", "required", "none") else "optional"


def send_document(rt, session, document_id) -> Response:
    row = rt.documents.get(session, document_id)
    instance = session.get(Instance, row.instance_id)
    if not may_read(rt, session, instance, row, g.user.login, g.user.groups):
        abort(403, description="Vous n'avez ni démarré cette instance ni eu de tâche à y traiter.")
    return download(rt, row)


def may_read(rt, session, instance, row, login, groups) -> bool:
    """The instance page's rule, and the task's when the document came with a task the person
    may not see (as its history entries are withheld, web.queries.filter_show)."""
    if not queries.may_view_instance(rt, session, instance, login, groups):
        return False
    return (not row.task_id or queries.sees_everything(rt, groups)
            or row.task_id in queries.visible_task_ids(rt, session, instance.id, login))


def download(rt, row) -> Response:
    data = rt.documents.content(row)
    inline = row.media_type in ("application/pdf", "image/png", "image/jpeg") and request.args.get("telecharger") is None
    disposition = "inline" if inline else "attachment"
    ascii_name = row.name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return Response(data, mimetype=row.media_type, headers={
        "Content-Disposition": f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(row.name)}",
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store",
        "Content-Security-Policy": "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"})


@bp.route("/documents/<int:document_id>")
def show(document_id: int):
    rt = get_runtime()
    with reading(rt) as s:
        return send_document(rt, s, document_id)


def _raise_cap():
    if request.endpoint in LARGE_ENDPOINTS:
        from arsflow.engine.documents.records import MAX_FILES
        rt = get_runtime()
        request.max_content_length = int(rt.settings.documents_max_mb * 1024 * 1024 * MAX_FILES) + 1024 * 1024


def register(app: Flask) -> None:
    """Before any other hook reads the form: the cap is set before the body is parsed."""
    app.before_request(_raise_cap)
    app.register_blueprint(bp)
