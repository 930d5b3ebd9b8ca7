"""One instance: its diagram with what is active and done, waiting timers, variables and
history. Visible to its initiator, to anyone who has or had a task in it, to managers and
to deployers; everyone else gets a 403 (and an unknown id a 404)."""
from __future__ import annotations

import json

from arsflow.engine.errors import NotFound
from arsflow.engine.models import Instance, ProcessDefinition, Resource
from arsflow.engine.forms import FormValidationError
from arsflow.web import form_render, get_runtime, queries, timeline
from arsflow.web.formatting import zone
from arsflow.web.procedures import start_form
from arsflow.web.queries import reading
from arsflow.web.security import require_login
from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, url_for

bp = Blueprint("instances", __name__, url_prefix="/instances")
bp.before_request(require_login)


def load_visible_instance(session, instance_id: int) -> Instance:
    rt = get_runtime()
    instance = session.get(Instance, instance_id)
    if instance is None:
        raise NotFound(f"instance {instance_id} introuvable")
    if not queries.may_view_instance(rt, session, instance, g.user.login, g.user.groups):
        abort(403, description="Vous n'avez ni démarré cette instance ni eu de tâche à y traiter.")
    return instance


def may_terminate(instance: Instance) -> bool:
    """The engine's rule: stopping a procedure is for managers and deployers."""
    return g.user.is_manager or g.user.is_deployer


def may_retry(instance: Instance) -> bool:
    """Resuming after an incident is also open to whoever started the instance."""
    return may_terminate(instance) or instance.initiator == g.user.login


@bp.route("/<int:instance_id>")
def show(instance_id: int):
    rt = get_runtime()
    with reading(rt) as s:
        instance = load_visible_instance(s, instance_id)
        data = queries.filter_show(rt, s, rt.show(instance_id), g.user.login, g.user.groups)
        people = timeline.display_names(s, [e.get("actor") for e in data["audit"]] + [
            (e.get("details") or {}).get("assignee") for e in data["audit"]] + [data.get("initiator")])
    subjects = {t["id"]: (t.get("properties") or {}).get("subject") for t in data["tasks"]}
    return render_template("instance.html", instance=instance, data=data, can_stop=may_terminate(instance),
                           can_retry=may_retry(instance), history=timeline.readable(data["audit"], people, subjects),
                           initiator=people.get(data.get("initiator"), data.get("initiator")), now=rt.now())


@bp.route("/<int:instance_id>/diagramme.json")
def diagram(instance_id: int):
    """The BPMN XML the instance runs on, with the element ids to mark, for bpmn-js."""
    rt = get_runtime()
    with reading(rt) as s:
        instance = load_visible_instance(s, instance_id)
        definition = s.get(ProcessDefinition, instance.definition_id)
        resource = s.get(Resource, definition.resource_id)
        xml = resource.content.decode("utf-8-sig")
    state = rt.workflow_state(instance_id)
    return jsonify(xml=xml, active=state["active"], completed=state["completed"],
                   process_key=definition.key, version=definition.version)


@bp.route("/<int:instance_id>/arreter", methods=["POST"])
def terminate(instance_id: int):
    rt = get_runtime()
    with reading(rt) as s:
        instance = load_visible_instance(s, instance_id)
        if not may_terminate(instance):
            abort(403, description="Seuls les managers et les déployeurs peuvent arrêter une instance.")
    reason = (request.form.get("reason") or "").strip()
    if not reason or request.form.get("confirm") != "on":
        flash("Pour arrêter l'instance, indiquez le motif et cochez la confirmation.", "error")
        return redirect(url_for("instances.show", instance_id=instance_id) + "#arreter")
    rt.terminate(instance_id, actor=g.user.login, reason=reason)
    flash(f"L'instance n° {instance_id} a été arrêtée.", "info")
    return redirect(url_for("instances.show", instance_id=instance_id))


@bp.route("/<int:instance_id>/relancer", methods=["GET", "POST"])
def retry(instance_id: int):
    """« Relancer »: as is, or with the data corrected through the start event's form (or
    as JSON when it has none); the corrected data goes to the failed element (Runtime.retry)."""
    rt = get_runtime()
    with reading(rt) as s:
        instance = load_visible_instance(s, instance_id)
        if not may_retry(instance):
            abort(403, description="Seuls l'initiateur, les managers et les déployeurs peuvent relancer une instance.")
        form = start_form(s, s.get(ProcessDefinition, instance.definition_id))
    if instance.state != "incident":
        flash(f"L'instance n° {instance_id} n'est pas en incident : rien à relancer.", "info")
        return redirect(url_for("instances.show", instance_id=instance_id))
    today = rt.now().astimezone(zone()).date()
    variables = rt.show(instance_id)["variables"] or {}
    if request.method == "GET":
        return _retry_page(instance, form, variables, today, errors={})
    latest = request.form.get("latest_definition") == "on"
    data = None
    if request.form.get("_mode") == "donnees":
        action = request.form.get("_action") or "relancer"
        if form is not None and action.startswith(form_render.ADD_ACTION):
            return _retry_page(instance, form, variables, today, errors={}, post=request.form)
        errors: dict[str, str] = {}
        if form is not None:
            try:
                data = form.validate(form_render.post_for_form(form, request.form), from_strings=True, today=today)
            except FormValidationError as err:
                errors = err.errors
        else:
            try:
                data = json.loads(request.form.get("_variables") or "{}")
                if not isinstance(data, dict):
                    errors["_variables"] = "Un objet JSON est attendu, par exemple {\"territory\": \"75\"}."
            except json.JSONDecodeError as err:
                errors["_variables"] = f"JSON invalide à la ligne {err.lineno}, colonne {err.colno} : {err.msg}."
        if errors:
            return _retry_page(instance, form, variables, today, errors=errors, post=request.form), 400
    result = rt.retry(instance_id, data=data, actor=g.user.login, latest_definition=latest)
    if result["state"] == "incident":
        flash("La relance a de nouveau échoué : voir l'incident ci-dessous.", "error")
    else:
        flash(f"L'instance n° {instance_id} a repris.", "success")
    return redirect(url_for("instances.show", instance_id=instance_id))


def _retry_page(instance, form, variables: dict, today, errors: dict, post=None):
    nodes = form_render.build(form, variables, post=post, errors=errors, today=today,
                              editable_lists=True) if form else []
    text = post.get("_variables", "{}") if post is not None else "{}"
    return render_template("retry.html", instance=instance, form=form, nodes=nodes, errors=errors,
                           error_links=form_render.error_entries(nodes), variables_text=text)
