"""Document rows: written in the transaction of the operation that keeps the files (a task
completion, a generated letter, a portal filing), listed with the instance, read back by id.

Who may read a document is the caller's question (the web and the API ask whether the person
may see the instance); the engine only stores and finds."""
from __future__ import annotations

from arsflow.engine.documents.store import DocumentStore, Incoming, for_settings
from arsflow.engine.errors import InvalidInput, NotFound
from arsflow.engine.models import Document
from sqlalchemy import insert, select

MAX_FILES = 10


def _iso(value):
    return value.isoformat() if value is not None else None


def document_json(row) -> dict:
    return {"id": row.id, "name": row.name, "media_type": row.media_type, "size": row.size,
            "sha256": row.sha256, "task_id": row.task_id, "element_id": row.element_id,
            "source": row.source, "uploaded_by": row.uploaded_by, "created_at": _iso(row.created_at)}


def reference(details: dict) -> dict:
    """What a process variable holds for a document: enough to show and fetch it."""
    return {"document_id": details["document_id"], "name": details["name"], "media_type": details["media_type"],
            "size": details["size"], "sha256": details["sha256"]}


class Documents:
    """The runtime's documents: `runtime.documents` (installed by engine.documents.install)."""

    def __init__(self, runtime):
        self.runtime = runtime

    @property
    def store(self) -> DocumentStore:
        return for_settings(self.runtime.settings)

    def receive(self, files) -> list[Incoming]:
        """(name, bytes) pairs → checked and stored files, before the operation's transaction
        (an operation that then fails leaves only unreferenced files behind)."""
        files = [(name, data) for name, data in files if name or data]
        if len(files) > MAX_FILES:
            raise InvalidInput(f"trop de fichiers : {MAX_FILES} au plus à la fois")
        store = self.store
        checked = [(name, data, store.check(name, data)) for name, data in files]  # refuse before storing any
        return [store.put(name, data, media_type) for name, data, media_type in checked]

    def record(self, session, *, instance_id: int, files: list[Incoming], source: str, now,
               task_id: str | None = None, element_id: str | None = None, by: str | None = None) -> list[int]:
        ids = []
        for item in files:
            ids.append(session.execute(insert(Document).values(
                instance_id=instance_id, task_id=task_id, element_id=element_id, name=item.name,
                media_type=item.media_type, size=item.size, sha256=item.sha256, source=source,
                uploaded_by=by, created_at=now).returning(Document.id)).scalar_one())
        return ids

    def on_completion(self, session, task, files: list[Incoming], login: str | None, now) -> list[dict]:
        """Rows for files sent with a task completion, and their history entries."""
        ids = self.record(session, instance_id=task.instance_id, files=files, source="upload", now=now,
                          task_id=task.id, element_id=task.element_id, by=login)
        return [{"instance_id": task.instance_id, "task_id": task.id, "at": now, "actor": login,
                 "action": "document_attached", "element_id": task.element_id,
                 "details": {"document_id": doc_id, "name": f.name, "media_type": f.media_type,
                             "size": f.size, "sha256": f.sha256}}
                for doc_id, f in zip(ids, files)]

    def on_form_files(self, session, task, form, data: dict, login: str | None, now) -> list[dict]:
        """The files of the form's filepickers (validated, in `data` at their path) get their rows
        and history entries; `data` then holds their references (form-js' filepicker value)."""
        audit = []
        for field in form.file_fields:
            parent = data
            for part in field.path[:-1]:
                parent = parent.get(part) if isinstance(parent, dict) else None
            files = parent.get(field.path[-1]) if isinstance(parent, dict) else None
            if not files:
                continue
            entries = self.on_completion(session, task, files, login, now)
            parent[field.path[-1]] = [reference(e["details"]) for e in entries]
            audit += entries
        return audit

    def attach(self, files: list[Incoming], actor: str, *, task_id: str | None = None, instance_id: int | None = None,
               description: str | None = None, declared_type: str | None = None) -> list[dict]:
        """Files added to an open task (whoever may work it) or to an instance (the caller has
        checked that the person may see it), without completing anything: rows and history
        entries in one transaction. `description` and the client's `declared_type` (Camunda's
        attachment-type) are kept in the history entry."""
        from arsflow.engine.models import AuditEntry, Instance
        rt = self.runtime
        now = rt.now()
        with rt.db.transaction() as session:
            who = rt.actor(session, actor)
            if task_id is not None:
                task = rt._task_for(session, task_id, who)
                instance_id, element_id = task.instance_id, task.element_id
            elif session.get(Instance, instance_id) is None:
                raise NotFound(f"instance {instance_id} introuvable")
            else:
                element_id = None
            ids = self.record(session, instance_id=instance_id, files=files, source="upload", now=now,
                              task_id=task_id, element_id=element_id, by=who.login)
            extra = {k: v for k, v in (("description", description), ("declared_type", declared_type)) if v}
            for doc_id, item in zip(ids, files):
                session.add(AuditEntry(instance_id=instance_id, task_id=task_id, at=now, actor=who.login,
                                       action="document_attached", element_id=element_id,
                                       details={"document_id": doc_id, "name": item.name, "media_type": item.media_type,
                                                "size": item.size, "sha256": item.sha256, **extra}))
            session.flush()
            return [document_json(session.get(Document, doc_id)) for doc_id in ids]

    @staticmethod
    def listing(session, instance_id: int) -> list[dict]:
        rows = session.scalars(select(Document).where(Document.instance_id == instance_id).order_by(Document.id))
        return [document_json(r) for r in rows]

    def get(self, session, document_id) -> Document:
        try:
            document_id = int(document_id)
        except (TypeError, ValueError):
            raise NotFound(f"document {document_id!r} introuvable") from None
        row = session.get(Document, document_id)
        if row is None:
            raise NotFound(f"document {document_id} introuvable")
        return row

    def content(self, row) -> bytes:
        return self.store.read(row.sha256)
