"""Mes tâches / Tâches de mes groupes, and the page of one task (its form, its deadline,
its instance's history). Claiming, releasing and completing go through the engine, which
checks who may act; these views only decide what to show."""
from __future__ import annotations

from arsflow.engine.errors import InvalidInput
from arsflow.engine.models import Instance, ProcessDefinition
from arsflow.web import documents, form_render, get_runtime, queries, timeline
from arsflow.web.formatting import end_of_week, legal_explanation, zone
from arsflow.web.queries import reading
from arsflow.web.security import require_login
from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for

bp = Blueprint("inbox", __name__)
bp.before_request(require_login)

SCOPE_PATHS = {"mine": "inbox.tasks", "groups": "inbox.group_tasks"}


@bp.route("/")
def home():
    return redirect(url_for("inbox.tasks"))


@bp.route("/taches")
def tasks():
    return _task_list("mine")


@bp.route("/taches/groupes")
def group_tasks():
    return _task_list("groups")


def _task_list(scope: str):
    rt = get_runtime()
    login = g.user.login
    filters = queries.TaskFilters.from_args(request.args, default_scope=scope)
    filters.scope = scope
    now = rt.now()
    week_end = end_of_week(now)
    cap = current_app.config["ARSFLOW_COUNT_CAP"]
    size = current_app.config["ARSFLOW_PAGE_SIZE"]
    with reading(rt) as s:
        query = queries.task_query(rt, s, login, filters, now, week_end)
        page = queries.paginate(s, query, order=filters.order, limit=size,
                                after=request.args.get("apres"), before=request.args.get("avant"))
        instances = queries.instances_by_id(s, [t.instance_id for t in page.items])
        names = queries.process_names(s)
        counts = {}
        for tab in ("mine", "groups"):
            counts[tab] = queries.capped_count(
                s, queries.task_query(rt, s, login, queries.TaskFilters(scope=tab), now), cap)
        unfiltered = not (filters.process_key or filters.territory or filters.overdue or filters.this_week)
        total = counts[scope] if unfiltered else queries.capped_count(s, query, cap)
        overdue = queries.capped_count(
            s, queries.task_query(rt, s, login, queries.TaskFilters(scope=scope, overdue=True), now), cap)
    args = {k: v for k, v in request.args.items() if k not in ("apres", "avant") and v}
    return render_template("inbox.html", scope=scope, page=page, instances=instances, names=names,
                           counts=counts, total=total, overdue=overdue, filters=filters, args=args,
                           endpoint=SCOPE_PATHS[scope], now=now)


@bp.route("/taches/<task_id>/prendre", methods=["POST"])
def claim(task_id: str):
    rt = get_runtime()
    task = rt.claim(task_id, g.user.login)
    flash(f"Vous avez pris en charge la tâche « {task['name']} ».", "success")
    return redirect(url_for("inbox.task", task_id=task_id))


@bp.route("/taches/<task_id>/attribuer", methods=["POST"])
def assign(task_id: str):
    """Administrators give a task that names nobody to someone (or to themselves)."""
    rt = get_runtime()
    assignee = (request.form.get("assignee") or "").strip()
    if not assignee:
        flash("Indiquez l'identifiant de la personne à qui attribuer la tâche.", "error")
        return redirect(url_for("inbox.task", task_id=task_id))
    task = rt.assign(task_id, assignee, g.user.login)
    flash(f"La tâche « {task['name']} » est attribuée à {assignee}.", "success")
    return redirect(url_for("inbox.task", task_id=task_id) if assignee == g.user.login else url_for("inbox.group_tasks"))


@bp.route("/taches/<task_id>/relacher", methods=["POST"])
def unclaim(task_id: str):
    rt = get_runtime()
    task = rt.unclaim(task_id, g.user.login)
    flash(f"La tâche « {task['name']} » est de nouveau disponible pour votre groupe.", "info")
    return redirect(url_for("inbox.group_tasks"))


@bp.route("/taches/<task_id>", methods=["GET", "POST"])
def task(task_id: str):
    rt = get_runtime()
    login = g.user.login
    task_data = rt.task(task_id, login)  # NotFound / Forbidden from the engine
    if request.method == "GET":
        return _task_page(task_data)
    action = request.form.get("_action", "complete")
    if action == "refresh":
        return _task_page(task_data, post=request.form)
    if action != "complete":
        abort(400, description=f"Action « {action} » inconnue.")
    version = request.form.get("_version", "")
    if not version.isdigit():
        raise InvalidInput("version de l'instance manquante : rechargez la page de la tâche")
    form = _form_of(task_data)
    data = form_render.post_for_form(form, request.form) if form else {}
    try:
        attachments = documents.attachments_for(task_data, request.files.getlist(documents.FIELD))
        form_files = documents.form_files_for(form, request.files)
        rt.complete(task_id, data, actor=login, expected_version=int(version), from_strings=True,
                    attachments=attachments, form_files=form_files)
    except InvalidInput as err:
        errors = err.details.get("errors")
        if not errors:
            raise
        return _task_page(task_data, post=request.form, errors=errors), 400
    flash(f"Tâche « {task_data['name']} » terminée.", "success")
    return redirect(url_for("inbox.tasks"))


def _form_of(task_data: dict):
    if not task_data.get("form_id"):
        return None
    rt = get_runtime()
    with reading(rt) as s:
        return rt.definitions.form(s, task_data["form_id"])


def _task_page(task_data: dict, post=None, errors: dict | None = None):
    rt = get_runtime()
    with reading(rt) as s:
        instance = s.get(Instance, task_data["instance_id"])
        definition = s.get(ProcessDefinition, instance.definition_id)
        form = rt.definitions.form(s, task_data["form_id"]) if task_data.get("form_id") else None
        show = queries.filter_show(rt, s, rt.show(instance.id), g.user.login, g.user.groups)
        people = timeline.display_names(s, [e.get("actor") for e in show["audit"]] + [
            (e.get("details") or {}).get("assignee") for e in show["audit"]])
    subjects = {t["id"]: (t.get("properties") or {}).get("subject") for t in show["tasks"]}
    # The task's own data (inside a multi-instance each element has its own copy).
    context = rt.task_data(task_data["id"], g.user.login)
    nodes = form_render.build(form, context, post=post, errors=errors or {},
                              today=rt.now().astimezone(zone()).date(), files=True) if form else []
    has_conditions = bool(form and any(f.hide for f in form.fields))
    explanation, explanation_error = legal_explanation(task_data.get("properties"), context,
                                                       instance.territory or rt.settings.territory)
    unknown_errors = {k: v for k, v in (errors or {}).items() if not _error_shown(nodes, k)}
    error_links = form_render.error_entries(nodes) if errors else []
    return render_template(
        "task.html", task=task_data, instance=instance, definition=definition, nodes=nodes,
        errors=errors or {}, unknown_errors=unknown_errors, error_links=error_links, has_conditions=has_conditions,
        explanation=explanation, explanation_error=explanation_error,
        history=timeline.readable(show["audit"], people, subjects),
        mine=task_data.get("assignee") == g.user.login, now=rt.now(),
        orphan=task_data.get("state") == "open" and rt.names_nobody(_Row(task_data)),
        documents=show.get("documents") or [], attachments_mode=documents.panel_mode(task_data),
        documents_max_mb=f"{rt.settings.documents_max_mb:g}",
        admin=rt.settings.admins_group in (g.user.groups or ()))


class _Row:
    """A task's JSON read like its row (assignee, candidate_groups, candidate_users)."""

    def __init__(self, data: dict):
        self.assignee = data.get("assignee")
        self.candidate_groups = data.get("candidate_groups") or []
        self.candidate_users = data.get("candidate_users") or []


def _error_shown(nodes, name: str) -> bool:
    for node in nodes:
        if node.kind == "field" and node.name == name and node.error:
            return True
        if node.kind == "list" and (node.name == name and node.error):
            return True
        if _error_shown(node.children, name) or any(_error_shown(item, name) for item in node.items):
            return True
    return False
