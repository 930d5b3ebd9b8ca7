"""Procédures: deployed definitions and their versions, upload of Camunda Modeler files
(lint only, or deploy; deployers group) and starting an instance through the start
event's form (or start variables as JSON when the start event has no form)."""
from __future__ import annotations

import json
from collections import defaultdict

from arsflow.engine.bpmn.definitions import kind_of
from arsflow.engine.errors import DeploymentError, InvalidInput, NotFound
from arsflow.engine.forms import FormValidationError
from arsflow.engine.models import (
    DecisionDefinition,
    Deployment,
    FormDefinition,
    Instance,
    ProcessDefinition,
    Resource,
)
from arsflow.web import form_render, get_runtime, upload_store
from arsflow.web.formatting import zone
from arsflow.web.queries import reading
from arsflow.web.security import group_required, require_login
from arsflow.web.uploads import read_sources
from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, url_for
from sqlalchemy import func, select

bp = Blueprint("procedures", __name__, url_prefix="/procedures")
bp.before_request(require_login)


@bp.route("")
def index():
    rt = get_runtime()
    with reading(rt) as s:
        rows = s.execute(select(ProcessDefinition, Deployment)
                         .join(Deployment, Deployment.id == ProcessDefinition.deployment_id)
                         .order_by(ProcessDefinition.key, ProcessDefinition.version.desc())).all()
        running = dict(s.execute(select(Instance.definition_id, func.count())
                                 .where(Instance.state.not_in(("completed", "terminated")))
                                 .group_by(Instance.definition_id)).all())
        others = s.execute(
            select(FormDefinition.key, FormDefinition.version, Resource.name, Deployment.created_at)
            .join(Resource, Resource.id == FormDefinition.resource_id)
            .join(Deployment, Deployment.id == FormDefinition.deployment_id)
            .order_by(FormDefinition.key, FormDefinition.version.desc())).all()
        decisions = s.execute(
            select(DecisionDefinition.key, DecisionDefinition.version, Resource.name, Deployment.created_at)
            .join(Resource, Resource.id == DecisionDefinition.resource_id)
            .join(Deployment, Deployment.id == DecisionDefinition.deployment_id)
            .order_by(DecisionDefinition.key, DecisionDefinition.version.desc())).all()
    procedures: dict[str, list] = defaultdict(list)
    for definition, deployment in rows:
        procedures[definition.key].append({"definition": definition, "deployment": deployment,
                                           "running": running.get(definition.id, 0)})
    return render_template("procedures.html", procedures=procedures, forms=others, decisions=decisions)


@bp.route("/<key>/versions/<int:version>")
def definition(key: str, version: int):
    rt = get_runtime()
    with reading(rt) as s:
        row = _definition(s, key, version)
        deployment = s.get(Deployment, row.deployment_id)
    return render_template("definition.html", definition=row, deployment=deployment)


@bp.route("/<key>/versions/<int:version>/diagramme.json")
def definition_diagram(key: str, version: int):
    rt = get_runtime()
    with reading(rt) as s:
        row = _definition(s, key, version)
        xml = s.get(Resource, row.resource_id).content.decode("utf-8-sig")
    return jsonify(xml=xml, active=[], completed=[], process_key=key, version=version)


def _definition(session, key: str, version: int) -> ProcessDefinition:
    row = session.scalars(select(ProcessDefinition).where(ProcessDefinition.key == key,
                                                          ProcessDefinition.version == version)).first()
    if row is None:
        raise NotFound(f"procédure {key} version {version} introuvable")
    return row


# -- upload: lint or deploy -------------------------------------------------------------------

@bp.route("/depot", methods=["GET", "POST"])
@group_required("deployers")
def upload():
    if request.method == "GET":
        return _upload_page()
    action = request.form.get("_action")
    if action not in ("verifier", "deployer"):
        abort(400, description="Choisissez « Vérifier » ou « Déployer ».")
    token = request.form.get("_depot") or None
    try:
        sources = read_sources(request.files.getlist("files"))
        token = None  # newly chosen files replace the ones kept
    except InvalidInput as err:
        sources = upload_store.kept(token, g.user.login) if not _chose_files() else None
        if not sources:
            if token and not _chose_files():
                err = InvalidInput("les fichiers vérifiés ne sont plus conservés (plus de deux heures) : "
                                   "choisissez-les à nouveau")
            text = err.message if "." in err.message.split(" ", 1)[0] else err.message[:1].upper() + err.message[1:]
            return _upload_page(field_error=text.rstrip(".") + "."), 400
    rt = get_runtime()
    diagrams = [{"name": n, "xml": d.decode("utf-8-sig", errors="replace")}
                for n, d in sources if kind_of(n) == "bpmn"]
    checked = [n for n, _ in sources]
    if action == "verifier":
        with reading(rt) as s:
            report = rt.definitions.lint(s, sources)
        token = token or upload_store.keep(sources, g.user.login)
        return _upload_page(report=report, diagrams=diagrams, checked=checked, token=token), 200
    name = (request.form.get("name") or "").strip()[:200] or ", ".join(checked)[:200]
    try:
        with rt.db.transaction() as s:
            result = rt.definitions.deploy(s, sources, name=name, source="web", deployed_by=g.user.login,
                                           now=rt.now())
    except DeploymentError as err:
        if err.report is None:
            raise
        token = token or upload_store.keep(sources, g.user.login)
        return _upload_page(report=err.report, diagrams=diagrams, refused=True, checked=checked, token=token), 400
    upload_store.forget(token)
    if result.created:
        created = ", ".join(f"{c['key']} v{c['version']}" for c in result.created)
        flash(f"Déploiement effectué : {created}.", "success")
    else:
        flash("Aucun changement : ces fichiers sont identiques aux versions déjà déployées.", "info")
    if result.report is not None and result.report.warnings:
        flash(f"{len(result.report.warnings)} avertissement(s) du vérificateur : relancez « Vérifier » "
              "pour les voir.", "warning")
    return redirect(url_for("procedures.index"))


def _chose_files() -> bool:
    return any(f is not None and f.filename for f in request.files.getlist("files"))


def _upload_page(report=None, diagrams=(), checked=(), token=None, refused=False, field_error=None):
    return render_template("upload.html", report=report, diagrams=list(diagrams), result=None, checked=list(checked),
                           token=token, refused=refused, field_error=field_error,
                           deploy_name=(request.form.get("name") or "") if request.method == "POST" else "")


# -- start an instance ----------------------------------------------------------------------

def start_form(session, definition: ProcessDefinition):
    """The Camunda form of the start event (camunda:formRef), or None."""
    rt = get_runtime()
    spec, _subs = rt.definitions.spec_for(session, definition)
    for event in spec.start.outputs:
        ext = getattr(event, "extensions", None) or {}
        if ext.get("formRef"):
            ref = (ext["formRef"], ext.get("formRefBinding") or "latest", ext.get("formRefVersion"),
                   definition.deployment_id)
            form_id = rt.definitions.form_ids(session, {ref}).get(ref)
            if form_id is None:
                raise NotFound(f"formulaire de démarrage {ext['formRef']!r} introuvable (camunda:formRef)")
            return rt.definitions.form(session, form_id)
    return None


def refusal_errors(err: InvalidInput, form) -> dict[str, str]:
    """A start refused by the engine (a script's `refuse("champ : motif")`, bad data) as form
    errors: on the field it names when the form has it, else in the summary."""
    field, _, reason = err.message.partition(" : ")
    field = field.strip("« »")
    if form is not None and reason and field in form:
        return {field: reason[:1].upper() + reason[1:]}
    return {"_start": err.message[:1].upper() + err.message[1:]}


@bp.route("/<key>/demarrer", methods=["GET", "POST"])
def start(key: str):
    rt = get_runtime()
    with reading(rt) as s:
        definition = rt.definitions.latest_process(s, key)
        form = start_form(s, definition)
    today = rt.now().astimezone(zone()).date()
    if request.method == "GET":
        return _start_page(definition, form, today, errors={}, business_key="", variables_text="{}")
    business_key = (request.form.get("_business_key") or "").strip() or None
    action = request.form.get("_action") or "demarrer"
    if form is not None and action.startswith(form_render.ADD_ACTION):
        return _start_page(definition, form, today, errors={}, business_key=business_key or "", post=request.form)
    errors: dict[str, str] = {}
    data: dict = {}
    if form is not None:
        try:
            data = form.validate(form_render.post_for_form(form, request.form), from_strings=True, today=today)
        except FormValidationError as err:
            errors = err.errors
    else:
        text = request.form.get("_variables") or "{}"
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                errors["_variables"] = "Un objet JSON est attendu, par exemple {\"territory\": \"75\"}."
        except json.JSONDecodeError as err:
            errors["_variables"] = f"JSON invalide à la ligne {err.lineno}, colonne {err.colno} : {err.msg}."
    if business_key and len(business_key) > 255:
        errors["_business_key"] = "255 caractères au plus."
    if not errors:
        try:
            result = rt.start(key, data, business_key=business_key, actor=g.user.login)
        except InvalidInput as err:  # refused by a script or the engine's checks: nothing written
            errors = refusal_errors(err, form) if form is not None else {"_variables": err.message}
    if errors:
        return _start_page(definition, form, today, errors=errors, business_key=business_key or "",
                           post=request.form, variables_text=request.form.get("_variables", "{}")), 400
    if result.get("state") == "incident":
        flash(f"Instance n° {result['instance_id']} démarrée, mais en incident : voir ci-dessous.", "error")
    else:
        flash(f"Instance n° {result['instance_id']} démarrée.", "success")
    return redirect(url_for("instances.show", instance_id=result["instance_id"]))


def _start_page(definition, form, today, errors: dict, business_key: str, post=None, variables_text: str = "{}"):
    nodes = form_render.build(form, {}, post=post, errors=errors, today=today, editable_lists=True) if form else []
    shown = {anchor for anchor, _label, _message in form_render.error_entries(nodes)}
    links = form_render.error_entries(nodes)
    others = [m for name, m in errors.items()
              if name not in ("_business_key", "_variables") and form_render.html_id(name) not in shown
              and f"{form_render.html_id(name)}-1" not in shown]
    return render_template("start.html", definition=definition, form=form, nodes=nodes, errors=errors,
                           error_links=links, other_errors=others, business_key=business_key,
                           variables_text=variables_text)
