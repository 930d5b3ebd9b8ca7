"""The subset of the Camunda 7 REST API that Camunda Modeler's "Deploy" and "Start instance"
buttons call, so a process owner deploys a diagram with its forms and decision tables, and
tries it, without leaving the Modeler.

Matched against Camunda Modeler 5's own client (camunda/camunda-modeler,
client/src/plugins/camunda-plugin/shared/CamundaAPI.js and RestAPI.js, deployment-tool/
DeploymentTool.js, start-instance-tool/StartInstanceTool.js, shared/WellKnownAPI.js) and the
Camunda 7.20 REST reference and implementation (camunda/camunda-bpm-platform,
engine-rest: DeploymentRestServiceImpl.java, DeploymentWithDefinitionsDto.java,
ParseExceptionDto.java, ExceptionHandlerHelper.java; engine: DeployCmd.java):

- connection check `GET /deployment?maxResults=0`, then `GET /version`;
- `POST /deployment/create`, multipart: `deployment-name`, `deployment-source`
  ("Camunda Modeler"), `enable-duplicate-filtering` ("true"; older clients send
  `deploy-changed-only`), optional `tenant-id`, then one part per file whose *field name*
  is the file name (resources are named by the part's file name, as Camunda does);
  the Modeler reads `id` and `deployedProcessDefinitions` (null when nothing was deployed)
  and keeps the first definition's `id` for "Start instance";
- `POST /process-definition/{id}/start` (and `/key/{key}/start`), JSON
  `{"businessKey", "variables": {name: {"value", "type", "valueInfo"}}}`;
- errors: the Modeler logs the body's `message`; a message starting with
  "ENGINE-09005 Could not parse BPMN process." is its "diagram parse error".

Authentication is the Modeler's: HTTP basic (arsflow accounts) or bearer (API token). Only
members of the deployers group deploy or start; requests never rely on the session
cookie, which is why the blueprint is exempt from the pages' CSRF check.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from datetime import datetime

from arsflow.engine.bpmn.definitions import kind_of
from arsflow.engine.bpmn.xmlsafe import XmlError, parse_xml
from arsflow.engine.errors import ArsflowError, Conflict, DeploymentError, Forbidden, NotFound
from arsflow.engine.models import (
    DecisionDefinition,
    Deployment,
    FormDefinition,
    Instance,
    ProcessDefinition,
    Resource,
)
from arsflow.engine.people import users as users_module
from flask import Blueprint, Flask, current_app, g, jsonify, redirect, request, url_for
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# The Camunda 7 release whose REST subset this module answers (GET /version).
CAMUNDA_VERSION = "7.20.0"
DEFAULT_BASE_PATH = "/engine-rest"
REALM = 'Basic realm="arsflow"'
# Camunda Modeler recognises a parse error by this prefix (CamundaAPI.js, getCamundaErrorCode).
PARSE_ERROR_PREFIX = "ENGINE-09005 Could not parse BPMN process."
RESERVED_FIELDS = frozenset({"deployment-name", "deployment-source", "deploy-changed-only",
                             "enable-duplicate-filtering", "tenant-id", "deployment-activation-time"})
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
INT_RANGES = {"short": 2 ** 15, "integer": 2 ** 31, "long": 2 ** 63}

bp = Blueprint("engine_rest", __name__)
# Camunda Modeler asks the host root where Cockpit lives, to link to what it deployed/started.
well_known_bp = Blueprint("engine_rest_well_known", __name__)


def register(app: Flask) -> None:
    """Mount the API under `ARSFLOW_ENGINE_REST_PATH` (default /engine-rest); idempotent."""
    if "arsflow_engine_rest" in app.extensions:
        return
    base = "/" + str(app.config.get("ARSFLOW_ENGINE_REST_PATH", DEFAULT_BASE_PATH)).strip().strip("/")
    if base == "/":
        raise ValueError("ARSFLOW_ENGINE_REST_PATH : un chemin non vide est attendu (par ex. /engine-rest)")
    app.register_blueprint(bp, url_prefix=base)
    app.register_blueprint(well_known_bp)
    app.extensions["arsflow_engine_rest"] = base
    try:  # the pages' CSRF check (web.security) must not apply: no cookie session here
        from arsflow.web import security
    except ImportError:  # pragma: no cover - web app without its security module
        return
    for name in (bp.name, well_known_bp.name):
        security.csrf_exempt(app, name)


def _runtime():
    from arsflow.web import get_runtime  # late: web/__init__ imports this module from create_app
    return get_runtime()


# -- errors, in Camunda's shape ({"type", "message"}) with French messages ----------------

class RestError(Exception):
    def __init__(self, status: int, type_: str, message: str, **extra):
        super().__init__(message)
        self.status, self.type, self.message, self.extra = status, type_, message, extra


def _bad(message: str) -> RestError:
    return RestError(400, "InvalidRequestException", message)


@bp.errorhandler(RestError)
def _rest_error(err: RestError):
    response = jsonify({"type": err.type, "message": err.message, **err.extra})
    response.status_code = err.status
    if err.status == 401:
        response.headers["WWW-Authenticate"] = REALM
    return response


@bp.errorhandler(ArsflowError)
def _engine_error(err: ArsflowError):
    if isinstance(err, DeploymentError):
        return _rest_error(_parse_exception(err))
    type_ = {NotFound: "InvalidRequestException", Forbidden: "AuthorizationException"}.get(
        type(err), "InvalidRequestException" if err.code == 400 else "ProcessEngineException")
    return _rest_error(RestError(err.code, type_, err.message))


@bp.errorhandler(HTTPException)
def _http_error(err: HTTPException):
    return _rest_error(RestError(err.code or 500, "RestException", err.description or err.name))


@bp.errorhandler(Exception)
def _unexpected(err: Exception):
    """A bug still answers JSON, which the Modeler logs; tests see the exception itself."""
    if current_app.testing:
        raise err
    log.exception("erreur interne sur %s %s", request.method, request.path)
    return _rest_error(RestError(500, "ProcessEngineException",
                                 "erreur interne d'arsflow : réessayez, puis prévenez l'administrateur"))


def _parse_exception(err: DeploymentError) -> RestError:
    """A refused deployment as Camunda's ParseException: per resource, errors and warnings
    with line, column and element id, and a message listing them for the Modeler's log."""
    report = err.report
    findings = report.findings if report is not None else []
    details: dict = {}
    for f in findings:
        entry = details.setdefault(f.file, {"errors": [], "warnings": []})
        entry["errors" if f.severity == "error" else "warnings"].append({
            "message": f.message, "line": f.line, "column": f.column,
            "mainElementId": f.element_id, "elementIds": [f.element_id] if f.element_id else []})
    errors = [f for f in findings if f.severity == "error"]
    lines = [f"{PARSE_ERROR_PREFIX} Déploiement refusé par arsflow, rien n'a été déployé : "
             f"{len(errors) or 1} erreur(s)."]
    for f in errors:
        where = f.file + (f", ligne {f.line}" if f.line else "") + (f", colonne {f.column}" if f.column else "")
        if f.element_id:
            where += f", élément « {f.element_id} »" + (f" ({f.element_type})" if f.element_type else "")
        lines.append(f"* {where} : {f.message}")
    if not errors:
        lines.append(f"* {err.message}")
    return RestError(400, "ParseException", "\n".join(lines), details=details)


# -- authentication ------------------------------------------------------------------------

_PUBLIC_ENDPOINTS = {"engine_rest.cockpit_instance", "engine_rest.cockpit_other"}


@bp.before_request
def _authenticate():
    """Basic (login:password) or Bearer (API token); never the session cookie."""
    if request.method == "OPTIONS" or request.endpoint in _PUBLIC_ENDPOINTS:
        return None
    auth = request.authorization
    rt = _runtime()
    user = None
    with rt.db.read() as session:
        if auth is not None and auth.type == "basic" and auth.username:
            user = users_module.authenticate(session, auth.username, auth.password or "")
        elif auth is not None and auth.type == "bearer":
            user = users_module.user_for_token(session, auth.token or "")
        if user is None:
            message = ("identifiant ou mot de passe refusé par arsflow" if auth is not None
                       else "authentification requise : configurez « Basic » (identifiant arsflow) "
                            "ou « Bearer » (jeton d'API) dans Camunda Modeler")
            raise RestError(401, "AuthenticationException", message)
        login = user.login
        groups = users_module.groups_of(session, login)
    g.engine_rest_login = login
    g.engine_rest_deployer = rt.settings.deployers_group in groups
    return None


def _require_deployer(permission: str, resource: str, resource_id: str | None = None):
    if g.engine_rest_deployer:
        return
    group = _runtime().settings.deployers_group
    action = "déployer" if permission == "CREATE" and resource == "Deployment" else "démarrer ou consulter"
    raise RestError(403, "AuthorizationException",
                    f"l'utilisateur {g.engine_rest_login!r} ne peut pas {action} depuis Camunda Modeler : "
                    f"réservé au groupe « {group} »",
                    userId=g.engine_rest_login,
                    missingAuthorizations=[{"permissionName": permission, "resourceName": resource,
                                            "resourceId": resource_id}])


# -- version and deployments -------------------------------------------------------------

@bp.get("/version")
def version():
    return jsonify({"version": CAMUNDA_VERSION})


@bp.get("/deployment")
def list_deployments():
    """Camunda Modeler's connection check (`?maxResults=0`); other users see an empty list,
    as Camunda filters what a user may not read."""
    first, limit = _int_arg("firstResult", 0), _int_arg("maxResults", None)
    if not g.engine_rest_deployer or limit == 0:
        return jsonify([])
    query = _deployment_query()
    order = {"id": Deployment.id, "name": Deployment.name, "deploymentTime": Deployment.created_at}.get(
        request.args.get("sortBy", "id"))
    if order is None:
        raise _bad(f"sortBy : valeur {request.args['sortBy']!r} non prise en charge (id, name, deploymentTime)")
    query = query.order_by(order.desc() if request.args.get("sortOrder") == "desc" else order.asc())
    query = query.offset(first).limit(limit) if limit is not None else query.offset(first)
    rt = _runtime()
    with rt.db.read() as session:
        return jsonify([_deployment_dto(d, links=False) for d in session.scalars(query)])


@bp.get("/deployment/count")
def count_deployments():
    if not g.engine_rest_deployer:
        return jsonify({"count": 0})
    with _runtime().db.read() as session:
        count = session.scalar(select(func.count()).select_from(_deployment_query().subquery()))
    return jsonify({"count": count})


@bp.get("/deployment/<deployment_id>")
def get_deployment(deployment_id):
    _require_deployer("READ", "Deployment", deployment_id)
    with _runtime().db.read() as session:
        deployment = session.get(Deployment, _int_id(deployment_id, "déploiement"))
        if deployment is None:
            raise RestError(404, "InvalidRequestException", f"déploiement {deployment_id} introuvable")
        return jsonify(_deployment_dto(deployment))


@bp.post("/deployment/create")
def create_deployment():
    _require_deployer("CREATE", "Deployment")
    if (request.form.get("tenant-id") or "").strip():
        raise _bad("tenant-id : arsflow ne gère pas les tenants ; laissez « Tenant ID » vide "
                   "dans la fenêtre de déploiement de Camunda Modeler")
    sources = _uploaded_sources()
    name = (request.form.get("deployment-name") or "").strip() or sources[0][0].rsplit(".", 1)[0]
    source = (request.form.get("deployment-source") or "").strip() or None
    rt = _runtime()
    try:
        with rt.db.transaction() as session:
            changed_only = _changed_only(session, sources)
            result = rt.definitions.deploy(session, sources, name=name, source=source,
                                           deployed_by=g.engine_rest_login, changed_only=changed_only,
                                           now=rt.now())
            if result.deployment_id is not None:
                deployment = session.get(Deployment, result.deployment_id)
                body = _deployment_dto(deployment)
                body.update(_deployed_definitions(session, result.created))
            else:
                body = _deployment_dto(_existing_deployment(session, result.unchanged))
                body.update({k: None for k in _DEPLOYED_KEYS})
    except IntegrityError as err:  # two deployments raced for the same version number
        raise Conflict("un autre déploiement du même processus vient d'avoir lieu : redéployez") from err
    return jsonify(body)


def _uploaded_sources() -> list[tuple[str, bytes]]:
    """Every file part is a resource named by its file name (DeploymentRestServiceImpl)."""
    sources: list[tuple[str, bytes]] = []
    for field, storage in request.files.items(multi=True):
        if field in RESERVED_FIELDS:
            continue
        filename = (storage.filename or "").strip()
        if not filename:
            raise _bad(f"partie « {field} » : nom de fichier manquant")
        if kind_of(filename) is None:
            raise _bad(f"{filename} : type de fichier non déployable (attendu .bpmn, .dmn ou .form)")
        if any(filename == known for known, _ in sources):
            raise _bad(f"{filename} : deux fichiers portent ce nom dans le même déploiement")
        sources.append((filename, storage.read()))
    if not sources:
        raise _bad("aucun fichier à déployer dans l'envoi (attendu .bpmn, .dmn ou .form)")
    return sources


def _flag(name: str) -> bool:
    return (request.form.get(name) or "").strip().lower() == "true"


def _changed_only(session, sources) -> bool:
    """Camunda's duplicate filtering (DeployCmd.resolveResourcesToDeploy):
    `deploy-changed-only` versions only the changed files; `enable-duplicate-filtering`
    (what the Modeler sends) deploys nothing when no file changed and every file otherwise,
    so a diagram is redeployed with the decision table it was changed with."""
    if _flag("deploy-changed-only"):
        return True
    if not _flag("enable-duplicate-filtering"):
        return False
    for name, data in sources:
        latest = session.execute(select(Resource.id, Resource.sha256).where(Resource.name == name)
                                 .order_by(Resource.id.desc()).limit(1)).first()
        if latest is None or latest.sha256 != hashlib.sha256(data).hexdigest():
            return False
        if kind_of(name) == "bpmn" and _bound_to_older_files(session, latest.id):
            return False
    return True


def _bound_to_older_files(session, resource_id: int) -> bool:
    """An unchanged diagram still counts as changed when the decision tables or called
    diagrams it was deployed with have newer versions: arsflow binds them at deployment
    (Camunda resolves them at run time), so redeploying is how the new ones take effect."""
    dependencies = set()
    for row in session.scalars(select(ProcessDefinition.dependencies)
                               .where(ProcessDefinition.resource_id == resource_id)):
        dependencies.update(row or [])
    for dependency_id in dependencies:
        used = session.get(Resource, dependency_id)
        newer = session.scalar(select(Resource.id).where(Resource.name == used.name, Resource.id > used.id)
                               .limit(1))
        if newer is not None:
            return True
    return False


def _existing_deployment(session, unchanged: list[dict]) -> Deployment:
    """Nothing new: Camunda answers with the latest deployment holding these resources."""
    models = {"process": ProcessDefinition, "decision": DecisionDefinition, "form": FormDefinition}
    ids = []
    for item in unchanged:
        model = models[item["kind"]]
        ids.append(session.scalar(select(model.deployment_id)
                                  .where(model.key == item["key"], model.version == item["version"])))
    ids = [i for i in ids if i is not None]
    if not ids:
        raise _bad("rien à déployer : aucun processus exécutable, table de décision ou formulaire dans l'envoi "
                   "(cochez « Executable » dans les propriétés du processus)")
    return session.get(Deployment, max(ids))


_DEPLOYED_KEYS = ("deployedProcessDefinitions", "deployedCaseDefinitions", "deployedDecisionDefinitions",
                  "deployedDecisionRequirementsDefinitions")


def _deployed_definitions(session, created: list[dict]) -> dict:
    """DeploymentWithDefinitionsDto: a map per kind, null when the kind has none."""
    processes, decisions = {}, {}
    for item in created:
        if item["kind"] == "process":
            row = session.scalars(select(ProcessDefinition).where(
                ProcessDefinition.key == item["key"], ProcessDefinition.version == item["version"])).one()
            dto = _process_definition_dto(session, row)
            processes[dto["id"]] = dto
        elif item["kind"] == "decision":
            row = session.scalars(select(DecisionDefinition).where(
                DecisionDefinition.key == item["key"], DecisionDefinition.version == item["version"])).one()
            dto = _decision_definition_dto(session, row)
            decisions[dto["id"]] = dto
    return {"deployedProcessDefinitions": processes or None, "deployedCaseDefinitions": None,
            "deployedDecisionDefinitions": decisions or None, "deployedDecisionRequirementsDefinitions": None}


def _deployment_query():
    query = select(Deployment)
    if request.args.get("id"):
        query = query.where(Deployment.id == _int_id(request.args["id"], "déploiement"))
    if request.args.get("name"):
        query = query.where(Deployment.name == request.args["name"])
    if request.args.get("nameLike"):
        query = query.where(Deployment.name.like(request.args["nameLike"]))
    if request.args.get("source"):
        query = query.where(Deployment.source == request.args["source"])
    return query


# -- process definitions and instances ---------------------------------------------------

@bp.get("/process-definition/<definition_id>")
def get_process_definition(definition_id):
    _require_deployer("READ", "ProcessDefinition", definition_id)
    with _runtime().db.read() as session:
        return jsonify(_process_definition_dto(session, _definition_by_id(session, definition_id)))


@bp.get("/process-definition/key/<key>")
def get_process_definition_by_key(key):
    _require_deployer("READ", "ProcessDefinition", key)
    rt = _runtime()
    with rt.db.read() as session:
        return jsonify(_process_definition_dto(session, _latest_definition(session, key)))


@bp.post("/process-definition/<definition_id>/start")
def start_by_id(definition_id):
    """Starts exactly the version named by the id, as Camunda does: the Modeler keeps the id
    of the definition it last deployed and starts it, even if nothing changed since."""
    _require_deployer("CREATE_INSTANCE", "ProcessDefinition", definition_id)
    business_key, data, with_variables = _start_payload()
    rt = _runtime()
    with rt.db.read() as session:
        definition = _definition_by_id(session, definition_id)
        key, row_id = definition.key, definition.id
    summary = start_definition(rt, key, row_id, data, business_key, g.engine_rest_login)
    return jsonify(_instance_dto(summary["id"], with_variables))


@bp.post("/process-definition/key/<key>/start")
def start_by_key(key):
    _require_deployer("CREATE_INSTANCE", "ProcessDefinition", key)
    business_key, data, with_variables = _start_payload()
    rt = _runtime()
    with rt.db.read() as session:
        _latest_definition(session, key)  # 404 in Camunda's words before anything starts
    summary = rt.start(key, data, business_key=business_key, actor=g.engine_rest_login)
    return jsonify(_instance_dto(summary["id"], with_variables))


@bp.get("/process-instance/<instance_id>")
def get_process_instance(instance_id):
    _require_deployer("READ", "ProcessInstance", instance_id)
    return jsonify(_instance_dto(_int_id(instance_id, "instance"), False))


@bp.get("/app/process-instance/<instance_id>", endpoint="cockpit_instance")
def cockpit_instance(instance_id):
    """Where the Modeler's "Open in Cockpit" link lands: arsflow's own instance page."""
    number = _int_id(instance_id, "instance")
    return redirect(_page("instances.show", f"/instances/{number}", instance_id=number))


@bp.get("/app/", endpoint="cockpit_other", defaults={"rest": ""})
@bp.get("/app/<path:rest>", endpoint="cockpit_other")
def cockpit_other(rest):
    """The deployment link (`repository?deploymentsQuery=…`) lands on the procedures page."""
    return redirect(_page("procedures.index", "/procedures"))


def _page(endpoint: str, fallback: str, **values) -> str:
    return url_for(endpoint, **values) if endpoint in current_app.view_functions else fallback


@well_known_bp.get("/.well-known/camunda-automation-platform/webapps")
def well_known_webapps():
    """WellKnownAPI.js: a Cockpit URL under which the Modeler appends `process-instance/{id}`
    or `repository?…`; both redirect to arsflow's pages."""
    base = current_app.extensions["arsflow_engine_rest"]
    return jsonify({"cockpitUrl": request.host_url.rstrip("/") + base + "/app/",
                    "adminUrl": None, "tasklistUrl": None})


def _definition_by_id(session, definition_id: str) -> ProcessDefinition:
    """`{key}:{version}:{row id}`, the shape of Camunda's definition ids; all three must agree."""
    parts = definition_id.rsplit(":", 2)
    row = None
    if len(parts) == 3 and parts[2].isdigit():
        row = session.get(ProcessDefinition, int(parts[2]))
    if row is None or row.key != parts[0] or str(row.version) != parts[1]:
        raise RestError(404, "InvalidRequestException",
                        f"aucune définition de processus déployée avec l'identifiant {definition_id!r} "
                        f"(redéployez le diagramme depuis Camunda Modeler)")
    return row


def _latest_definition(session, key: str) -> ProcessDefinition:
    row = session.scalars(select(ProcessDefinition).where(ProcessDefinition.key == key)
                          .order_by(ProcessDefinition.version.desc()).limit(1)).first()
    if row is None:
        raise RestError(404, "InvalidRequestException", f"aucune définition de processus déployée avec la clé {key!r}")
    return row


def definition_id_of(row) -> str:
    return f"{row.key}:{row.version}:{row.id}"


def _start_payload() -> tuple[str | None, dict, bool]:
    body = request.get_json(silent=True) if request.get_data() else {}
    if not isinstance(body, dict):
        raise _bad("corps de requête JSON attendu : {\"businessKey\": …, \"variables\": {…}}")
    if body.get("startInstructions"):
        raise _bad("startInstructions : le démarrage à une autre activité que l'événement de début "
                   "n'est pas pris en charge par arsflow")
    business_key = body.get("businessKey")
    if business_key is not None and not isinstance(business_key, str):
        raise _bad("businessKey : texte attendu")
    return business_key or None, from_camunda_variables(body.get("variables")), bool(body.get("withVariablesInReturn"))


def start_definition(rt, key: str, definition_id: int, data: dict, business_key: str | None,
                     login: str) -> dict:
    """Start that exact version (the Modeler restarts the definition id it deployed last)."""
    return rt.start(key, data, business_key=business_key, actor=login, definition_id=definition_id)


def _instance_dto(instance_id: int, with_variables: bool) -> dict:
    """ProcessInstanceDto; `incident` is arsflow's addition when the start already failed
    somewhere (the instance exists and waits for a fix in arsflow)."""
    rt = _runtime()
    with rt.db.read() as session:
        instance = session.get(Instance, instance_id)
        if instance is None:
            raise RestError(404, "InvalidRequestException", f"instance {instance_id} introuvable")
        definition = session.get(ProcessDefinition, instance.definition_id)
        dto = {
            "links": [{"method": "GET", "rel": "self",
                       "href": url_for("engine_rest.get_process_instance", instance_id=instance.id,
                                       _external=True)}],
            "id": str(instance.id), "definitionId": definition_id_of(definition),
            "businessKey": instance.business_key, "caseInstanceId": None,
            "ended": instance.state in ("completed", "terminated"), "suspended": False, "tenantId": None,
        }
        if with_variables:
            dto["variables"] = to_camunda_variables(instance.variables or {})
        if instance.state == "incident" and instance.incident:
            dto["incident"] = instance.incident
        return dto


# -- DTOs ---------------------------------------------------------------------------------

def _camunda_time(value: datetime | None) -> str | None:
    """Camunda's default date format, yyyy-MM-dd'T'HH:mm:ss.SSSZ, in the ARS's time zone."""
    if value is None:
        return None
    local = value.astimezone(_runtime().settings.tzinfo)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}" + local.strftime("%z")


def _deployment_dto(deployment: Deployment, links: bool = True) -> dict:
    dto = {}
    if links:  # DeploymentRestServiceImpl adds the "self" link to a created deployment
        dto["links"] = [{"method": "GET", "rel": "self", "href": url_for(
            "engine_rest.get_deployment", deployment_id=deployment.id, _external=True)}]
    dto.update({"id": str(deployment.id), "name": deployment.name, "source": deployment.source,
                "deploymentTime": _camunda_time(deployment.created_at), "tenantId": None})
    return dto


def _process_definition_dto(session, row: ProcessDefinition) -> dict:
    resource = session.get(Resource, row.resource_id)
    attrs = _process_attributes(resource, row.key)
    return {"id": definition_id_of(row), "key": row.key, "category": attrs.get("category"),
            "description": attrs.get("description"), "name": row.name, "version": row.version,
            "resource": resource.name, "deploymentId": str(row.deployment_id), "diagram": None,
            "suspended": False, "tenantId": None, "versionTag": attrs.get("versionTag"),
            "historyTimeToLive": attrs.get("historyTimeToLive"),
            "startableInTasklist": attrs.get("startableInTasklist", True)}


def _decision_definition_dto(session, row: DecisionDefinition) -> dict:
    resource = session.get(Resource, row.resource_id)
    name = None
    try:
        for node in parse_xml(resource.content, resource.name).getroot().iter():
            if isinstance(node.tag, str) and node.tag.endswith("}decision") and node.get("id") == row.key:
                name = node.get("name")
                break
    except XmlError:
        pass
    return {"id": definition_id_of(row), "key": row.key, "category": None, "name": name,
            "version": row.version, "resource": resource.name, "deploymentId": str(row.deployment_id),
            "tenantId": None, "decisionRequirementsDefinitionId": None,
            "decisionRequirementsDefinitionKey": None, "historyTimeToLive": None, "versionTag": None}


def _process_attributes(resource: Resource, key: str) -> dict:
    """What Camunda reads off the <process> element: namespace, version tag, TTL, startable."""
    try:
        root = parse_xml(resource.content, resource.name).getroot()
    except XmlError:
        return {}
    for node in root.iter(f"{{{BPMN_NS}}}process"):
        if node.get("id") != key:
            continue
        ttl = node.get(f"{{{CAMUNDA_NS}}}historyTimeToLive")
        doc = node.find(f"{{{BPMN_NS}}}documentation")
        description = (doc.text or "").strip() if doc is not None else ""
        return {"category": root.get("targetNamespace"), "description": description or None,
                "versionTag": node.get(f"{{{CAMUNDA_NS}}}versionTag"),
                "historyTimeToLive": int(ttl) if ttl and ttl.isdigit() else None,
                "startableInTasklist": node.get(f"{{{CAMUNDA_NS}}}isStartableInTasklist", "true") != "false"}
    return {}


def _int_arg(name: str, default):
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise _bad(f"{name} : entier positif attendu, reçu {raw!r}")
    return int(raw)


def _int_id(raw, what: str) -> int:
    if isinstance(raw, int):
        return raw
    if not str(raw).isdigit():
        raise RestError(404, "InvalidRequestException", f"{what} {raw} introuvable")
    return int(raw)


# -- typed variables ----------------------------------------------------------------------

def from_camunda_variables(variables) -> dict:
    """`{name: {"value", "type", "valueInfo"}}` → plain values (VariableValueDto types).
    Json and JSON-serialised Object are parsed; Date stays an ISO 8601 string."""
    if variables is None:
        return {}
    if not isinstance(variables, dict):
        raise _bad("variables : objet {\"nom\": {\"value\": …, \"type\": …}} attendu")
    return {name: _typed_value(name, spec) for name, spec in variables.items()}


def _typed_value(name: str, spec):
    if not isinstance(spec, dict) or ("value" not in spec and "type" not in spec):
        raise _bad(f"variable « {name} » : objet {{\"value\": …, \"type\": …}} attendu")
    value, kind = spec.get("value"), str(spec.get("type") or "")
    low = kind.lower()

    def refuse(why: str):
        return _bad(f"variable « {name} » de type {kind or 'non précisé'} : {why}")

    if not low:
        return value  # untyped: Camunda keeps the JSON value as given
    if low in ("bytes", "file"):
        raise refuse("les fichiers ne sont pas pris en charge ici ; joignez-les depuis arsflow")
    if low == "null" or value is None:
        return None
    if low == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise refuse(f"texte attendu, reçu {value!r}")
    if low in INT_RANGES:
        number = _as_int(value)
        if number is None:
            raise refuse(f"nombre entier attendu, reçu {value!r}")
        bound = INT_RANGES[low]
        if not -bound <= number < bound:
            raise refuse(f"{number} dépasse la capacité du type {kind}")
        return number
    if low == "double":
        try:
            number = float(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is None or not math.isfinite(number):
            raise refuse(f"nombre attendu, reçu {value!r}")
        return number
    if low == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise refuse(f"true ou false attendu, reçu {value!r}")
    if low == "date":
        try:
            return datetime.fromisoformat(str(value).strip().replace("Z", "+00:00")).isoformat()
        except ValueError:
            raise refuse(f"date ISO 8601 attendue (par ex. 2025-03-01T09:00:00.000+0100), reçu {value!r}") from None
    if low in ("json", "object"):
        if low == "object":
            fmt = ((spec.get("valueInfo") or {}).get("serializationDataFormat") or "application/json").lower()
            if fmt != "application/json":
                raise refuse(f"format de sérialisation {fmt!r} non pris en charge (seul application/json l'est)")
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except ValueError as err:
            raise refuse(f"JSON illisible ({err.msg}, position {err.pos})") from None
    raise refuse("type inconnu (attendu String, Integer, Long, Short, Double, Boolean, Date, Json, Object ou Null)")


_INT_TEXT = re.compile(r"^[+-]?\d+$")


def _as_int(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_TEXT.match(value.strip()):
        return int(value.strip())
    return None


def to_camunda_variables(variables: dict) -> dict:
    """Plain values → typed, for `withVariablesInReturn`."""
    typed = {}
    for name, value in variables.items():
        if value is None:
            typed[name] = {"type": "Null", "value": None, "valueInfo": {}}
        elif isinstance(value, bool):
            typed[name] = {"type": "Boolean", "value": value, "valueInfo": {}}
        elif isinstance(value, int):
            kind = "Integer" if -2 ** 31 <= value < 2 ** 31 else "Long"
            typed[name] = {"type": kind, "value": value, "valueInfo": {}}
        elif isinstance(value, float):
            typed[name] = {"type": "Double", "value": value, "valueInfo": {}}
        elif isinstance(value, str):
            typed[name] = {"type": "String", "value": value, "valueInfo": {}}
        else:
            typed[name] = {"type": "Json", "value": json.dumps(value, ensure_ascii=False), "valueInfo": {}}
    return typed
