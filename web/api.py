"""JSON API under /api/v1: the command line's operations for scripts and other systems.

Authentication is `Authorization: Bearer <token>` only (tokens from "Mon compte"); the
session cookie is ignored here, so a page in another site cannot drive the API through
a logged-in browser, and no CSRF token is needed. Every route applies the same rules
as the pages: the engine's task visibility, instance visibility, deployers for deploying.
"""
from __future__ import annotations

from pathlib import Path

from arsflow.engine.errors import Forbidden, InvalidInput, NotFound
from arsflow.engine.models import Deployment, HumanTask, Instance, MessageSubscription, ProcessDefinition
from arsflow.engine.people import users as users_module
from arsflow.web import get_runtime, queries
from arsflow.web.formatting import end_of_week
from arsflow.web.queries import reading
from arsflow.web.security import CurrentUser
from arsflow.web.uploads import read_sources
from flask import Blueprint, Response, abort, current_app, g, jsonify, request
from sqlalchemy import select

bp = Blueprint("api", __name__, url_prefix="/api/v1")
OPENAPI = Path(__file__).with_name("openapi.yaml")
MAX_LIMIT = 200


@bp.before_request
def _authenticate():
    if request.endpoint == "api.openapi":
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        abort(401, description="Jeton d'API requis : en-tête « Authorization: Bearer <jeton> » "
                               "(générez-le dans « Mon compte »).")
    rt = get_runtime()
    with reading(rt) as s:
        user = users_module.user_for_token(s, token.strip())
        if user is None:
            abort(401, description="Jeton d'API invalide ou révoqué.")
        groups = frozenset(users_module.groups_of(s, user.login))
    g.user = CurrentUser(login=user.login, display_name=user.display_name or user.login, groups=groups,
                         is_manager=rt.settings.managers_group in groups,
                         is_deployer=rt.settings.deployers_group in groups)
    return None


def _body() -> dict:
    if not request.data:
        return {}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidInput("corps de requête invalide : objet JSON attendu (Content-Type: application/json)")
    return data


def _object(data: dict, key: str) -> dict:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise InvalidInput(f"« {key} » doit être un objet JSON")
    return value


def _require_deployer():
    if not g.user.is_deployer:
        raise Forbidden(f"réservé au groupe « {get_runtime().settings.deployers_group} »")


def _iso(value):
    return value.isoformat() if value is not None else None


def task_json(task: HumanTask, instance: Instance | None) -> dict:
    return {
        "id": task.id, "name": task.name, "instance_id": task.instance_id, "process_key": task.process_key,
        "element_id": task.element_id, "lane": task.lane, "assignee": task.assignee,
        "candidate_groups": task.candidate_groups, "candidate_users": task.candidate_users,
        "due_at": _iso(task.due_at), "follow_up_at": _iso(task.follow_up_at), "priority": task.priority,
        "form": task.form_key, "properties": task.properties, "state": task.state,
        "created_at": _iso(task.created_at), "completed_at": _iso(task.completed_at),
        "completed_by": task.completed_by,
        "business_key": instance.business_key if instance else None,
        "territory": instance.territory if instance else None,
    }


@bp.route("/openapi.yaml")
def openapi():
    return Response(OPENAPI.read_text(encoding="utf-8"), mimetype="application/yaml")


@bp.route("/me")
def me():
    return {"login": g.user.login, "display_name": g.user.display_name, "groups": sorted(g.user.groups)}


# -- definitions ----------------------------------------------------------------------------

@bp.route("/process-definitions")
def definitions():
    rt = get_runtime()
    with reading(rt) as s:
        rows = s.execute(select(ProcessDefinition, Deployment)
                         .join(Deployment, Deployment.id == ProcessDefinition.deployment_id)
                         .order_by(ProcessDefinition.key, ProcessDefinition.version)).all()
    return {"items": [{"key": d.key, "version": d.version, "name": d.name, "id": d.id,
                       "deployment_id": dep.id, "deployed_at": _iso(dep.created_at),
                       "deployed_by": dep.deployed_by} for d, dep in rows]}


@bp.route("/lint", methods=["POST"])
def lint():
    _require_deployer()
    sources = read_sources(request.files.getlist("files"))
    rt = get_runtime()
    with reading(rt) as s:
        report = rt.definitions.lint(s, sources)
    return {"ok": report.ok, "findings": report.to_json()}


@bp.route("/deployments", methods=["POST"])
def deploy():
    _require_deployer()
    sources = read_sources(request.files.getlist("files"))
    rt = get_runtime()
    name = (request.form.get("name") or "").strip()[:200] or ", ".join(n for n, _ in sources)[:200]
    with rt.db.transaction() as s:
        result = rt.definitions.deploy(s, sources, name=name, source="api", deployed_by=g.user.login,
                                       now=rt.now())
    return jsonify(result.to_json()), (201 if result.created else 200)


@bp.route("/process-definitions/<key>/start", methods=["POST"])
def start(key: str):
    data = _body()
    business_key = data.get("business_key")
    if business_key is not None and not isinstance(business_key, str):
        raise InvalidInput("« business_key » doit être un texte")
    result = get_runtime().start(key, _object(data, "variables"), business_key=business_key,
                                 actor=g.user.login)
    return jsonify(result), 201


# -- tasks ----------------------------------------------------------------------------------

@bp.route("/tasks")
def tasks():
    rt = get_runtime()
    filters = queries.TaskFilters.from_args(request.args, default_scope="all")
    try:
        limit = int(request.args.get("limit", 50))
    except ValueError:
        raise InvalidInput("« limit » doit être un entier") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"« limit » doit être compris entre 1 et {MAX_LIMIT}")
    now = rt.now()
    cap = current_app.config["ARSFLOW_COUNT_CAP"]
    with reading(rt) as s:
        query = queries.task_query(rt, s, g.user.login, filters, now, end_of_week(now))
        page = queries.paginate(s, query, order=filters.order, limit=limit,
                                after=request.args.get("after"), before=request.args.get("before"))
        instances = queries.instances_by_id(s, [t.instance_id for t in page.items])
        total, capped = queries.capped_count(s, query, cap)
    return {"items": [task_json(t, instances.get(t.instance_id)) for t in page.items],
            "next_cursor": page.next_cursor, "prev_cursor": page.prev_cursor,
            "total": total, "total_is_lower_bound": capped}


@bp.route("/tasks/<task_id>")
def task(task_id: str):
    rt = get_runtime()
    data = rt.task(task_id, g.user.login)
    with reading(rt) as s:
        instance = s.get(Instance, data["instance_id"])
        row = s.get(HumanTask, task_id)
    body = task_json(row, instance)
    body["lock_version"] = instance.lock_version
    return body


@bp.route("/tasks/<task_id>/claim", methods=["POST"])
def claim(task_id: str):
    return get_runtime().claim(task_id, g.user.login)


@bp.route("/tasks/<task_id>/assign", methods=["POST"])
def assign(task_id: str):
    """Administrators (ARSFLOW_ADMINS_GROUP) give a task that names nobody to someone."""
    assignee = _body().get("assignee")
    if not isinstance(assignee, str) or not assignee.strip():
        raise InvalidInput("« assignee » (identifiant de la personne) est obligatoire")
    return get_runtime().assign(task_id, assignee.strip(), g.user.login)


@bp.route("/tasks/<task_id>/unclaim", methods=["POST"])
def unclaim(task_id: str):
    return get_runtime().unclaim(task_id, g.user.login)


@bp.route("/tasks/<task_id>/complete", methods=["POST"])
def complete(task_id: str):
    data = _body()
    version = data.get("expected_version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise InvalidInput("« expected_version » doit être un entier")
    return get_runtime().complete(task_id, _object(data, "variables"), actor=g.user.login,
                                  expected_version=version)


# -- messages and instances -----------------------------------------------------------------------

@bp.route("/messages", methods=["POST"])
def message():
    """Correlated like the engine does, but only to instances the caller may see: others
    are reported as absent rather than revealed. When no instance waits, a process whose
    message start event names it is started (if the caller may start it)."""
    rt = get_runtime()
    data = _body()
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("« name » (nom du message) est obligatoire")
    business_key = data.get("business_key")
    correlate = _object(data, "correlate")
    with reading(rt) as s:
        waiting = select(MessageSubscription.instance_id).where(
            MessageSubscription.message_name == name, MessageSubscription.status == "waiting",
            MessageSubscription.instance_id.is_not(None))
        query = select(Instance).where(Instance.id.in_(waiting))  # no DISTINCT over JSON columns (PostgreSQL)
        if business_key:
            query = query.where(Instance.business_key == str(business_key))
        candidates = [i for i in s.scalars(query)
                      if all(str((i.variables or {}).get(k)) == str(v) for k, v in correlate.items())]
        visible = [i for i in candidates if queries.may_view_instance(rt, s, i, g.user.login, g.user.groups)]
    if candidates and not visible:
        raise NotFound(f"aucune instance n'attend le message {name!r} pour cette corrélation")
    result = rt.message(name, business_key=business_key, correlate=correlate or None,
                        data=_object(data, "variables"), actor=g.user.login)
    return result


def _visible_instance(instance_id: int) -> Instance:
    rt = get_runtime()
    with reading(rt) as s:
        instance = s.get(Instance, instance_id)
        if instance is None:
            raise NotFound(f"instance {instance_id} introuvable")
        if not queries.may_view_instance(rt, s, instance, g.user.login, g.user.groups):
            raise Forbidden("vous n'avez ni démarré cette instance ni eu de tâche à y traiter")
    return instance


@bp.route("/instances/<int:instance_id>")
def show_instance(instance_id: int):
    _visible_instance(instance_id)
    rt = get_runtime()
    with reading(rt) as s:
        return queries.filter_show(rt, s, rt.show(instance_id), g.user.login, g.user.groups)


@bp.route("/documents/<int:document_id>")
def document(document_id: int):
    """A document's bytes, for whoever may see its instance (and its task, if it came with one)."""
    from arsflow.web import documents
    rt = get_runtime()
    with reading(rt) as s:
        row = rt.documents.get(s, document_id)
        if not documents.may_read(rt, s, s.get(Instance, row.instance_id), row, g.user.login, g.user.groups):
            raise Forbidden("vous n'avez ni démarré cette instance ni eu de tâche à y traiter")
        return documents.download(rt, row)


def _uploaded_files() -> list:
    """The multipart part `files` (several), checked by content and stored before the
    operation's transaction (engine.documents.records.Documents.receive)."""
    from arsflow.web import documents
    files = documents.files_from(request.files.getlist("files"))
    if not files:
        raise InvalidInput("aucun fichier reçu : envoyez-les en multipart/form-data, partie « files »")
    return get_runtime().documents.receive(files)


@bp.route("/instances/<int:instance_id>/documents", methods=["POST"])
def document_upload(instance_id: int):
    """Files added to an instance by whoever may see it (not tied to a task)."""
    _visible_instance(instance_id)
    stored = _uploaded_files()
    return {"documents": get_runtime().documents.attach(stored, g.user.login, instance_id=instance_id)}, 201


@bp.route("/tasks/<task_id>/documents", methods=["POST"])
def task_document_upload(task_id: str):
    """Files added to an open task by its assignee or a candidate, without completing it."""
    stored = _uploaded_files()
    return {"documents": get_runtime().documents.attach(stored, g.user.login, task_id=task_id)}, 201


@bp.route("/instances/<int:instance_id>/terminate", methods=["POST"])
def terminate(instance_id: int):
    _visible_instance(instance_id)
    reason = _body().get("reason")
    return get_runtime().terminate(instance_id, actor=g.user.login, reason=str(reason) if reason else None)


@bp.route("/instances/<int:instance_id>/retry", methods=["POST"])
def retry(instance_id: int):
    instance = _visible_instance(instance_id)
    if not (g.user.is_manager or g.user.is_deployer or instance.initiator == g.user.login):
        raise Forbidden("seuls l'initiateur, les managers et les déployeurs peuvent relancer une instance")
    data = _body()
    return get_runtime().retry(instance_id, data=_object(data, "variables") or None, actor=g.user.login,
                               latest_definition=bool(data.get("latest_definition")))
