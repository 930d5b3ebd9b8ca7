"""Deployments and the version check, as Camunda Modeler's "Deploy" button calls them.

Matched against Camunda Modeler 5's own client (camunda/camunda-modeler,
client/src/plugins/camunda-plugin/shared/CamundaAPI.js and RestAPI.js, deployment-tool/
DeploymentTool.js, shared/WellKnownAPI.js) and Camunda 7.20 (DeploymentRestServiceImpl.java,
DeploymentWithDefinitionsDto.java, ParseExceptionDto.java; engine: DeployCmd.java):

- connection check `GET /deployment?maxResults=0`, then `GET /version`;
- `POST /deployment/create`, multipart: `deployment-name`, `deployment-source`
  ("Camunda Modeler"), `enable-duplicate-filtering` ("true"; older clients send
  `deploy-changed-only`), optional `tenant-id`, then one part per file whose *field name*
  is the file name (resources are named by the part's file name, as Camunda does);
  the Modeler reads `id` and `deployedProcessDefinitions` (null when nothing was deployed)
  and keeps the first definition's `id` for "Start instance";
- errors: the Modeler logs the body's `message`; a message starting with
  "ENGINE-09005 Could not parse BPMN process." is its "diagram parse error".
"""
from __future__ import annotations

import hashlib

from flask import g, jsonify, request, url_for
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from arsflow.engine.bpmn.definitions import kind_of
from arsflow.engine.models import DecisionDefinition, Deployment, FormDefinition, ProcessDefinition, Resource

from arsflow.web.engine_rest.auth import require_deployer
from arsflow.web.engine_rest.blueprint import bp, runtime
from arsflow.web.engine_rest.dto import camunda_time, int_arg, int_id
from arsflow.web.engine_rest.errors import RestError, bad
from arsflow.web.engine_rest.process_definition import decision_definition_dto, process_definition_dto

# The Camunda 7 release whose REST API this package answers (GET /version).
CAMUNDA_VERSION = "7.20.0"
RESERVED_FIELDS = frozenset({"deployment-name", "deployment-source", "deploy-changed-only",
                             "enable-duplicate-filtering", "tenant-id", "deployment-activation-time"})


@bp.get("/version")
def version():
    return jsonify({"version": CAMUNDA_VERSION})


@bp.get("/deployment")
def list_deployments():
    """Camunda Modeler's connection check (`?maxResults=0`); other users see an empty list,
    as Camunda filters what a user may not read."""
    first, limit = int_arg("firstResult", 0), int_arg("maxResults", None)
    if not g.engine_rest_deployer or limit == 0:
        return jsonify([])
    query = _deployment_query()
    order = {"id": Deployment.id, "name": Deployment.name, "deploymentTime": Deployment.created_at}.get(
        request.args.get("sortBy", "id"))
    if order is None:
        raise bad(f"sortBy : valeur {request.args['sortBy']!r} non prise en charge (id, name, deploymentTime)")
    query = query.order_by(order.desc() if request.args.get("sortOrder") == "desc" else order.asc())
    query = query.offset(first).limit(limit) if limit is not None else query.offset(first)
    rt = runtime()
    with rt.db.read() as session:
        return jsonify([_deployment_dto(d, links=False) for d in session.scalars(query)])


@bp.get("/deployment/count")
def count_deployments():
    if not g.engine_rest_deployer:
        return jsonify({"count": 0})
    with runtime().db.read() as session:
        count = session.scalar(select(func.count()).select_from(_deployment_query().subquery()))
    return jsonify({"count": count})


@bp.get("/deployment/<deployment_id>")
def get_deployment(deployment_id):
    require_deployer("READ", "Deployment", deployment_id)
    with runtime().db.read() as session:
        deployment = session.get(Deployment, int_id(deployment_id, "déploiement"))
        if deployment is None:
            raise RestError(404, "InvalidRequestException", f"déploiement {deployment_id} introuvable")
        return jsonify(_deployment_dto(deployment))


@bp.post("/deployment/create")
def create_deployment():
    require_deployer("CREATE", "Deployment")
    if (request.form.get("tenant-id") or "").strip():
        raise bad("tenant-id : arsflow ne gère pas les tenants ; laissez « Tenant ID » vide "
                   "dans la fenêtre de déploiement de Camunda Modeler")
    sources = _uploaded_sources()
    name = (request.form.get("deployment-name") or "").strip() or sources[0][0].rsplit(".", 1)[0]
    source = (request.form.get("deployment-source") or "").strip() or None
    rt = runtime()
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
        # 409, not the 500 of other engine conflicts: nothing was deployed, redeploying is the answer.
        raise RestError(409, "ProcessEngineException",
                        "un autre déploiement du même processus vient d'avoir lieu : redéployez") from err
    return jsonify(body)


def _uploaded_sources() -> list[tuple[str, bytes]]:
    """Every file part is a resource named by its file name (DeploymentRestServiceImpl)."""
    sources: list[tuple[str, bytes]] = []
    for field, storage in request.files.items(multi=True):
        if field in RESERVED_FIELDS:
            continue
        filename = (storage.filename or "").strip()
        if not filename:
            raise bad(f"partie « {field} » : nom de fichier manquant")
        if kind_of(filename) is None:
            raise bad(f"{filename} : type de fichier non déployable (attendu .bpmn, .dmn, .form, .docx ou .odt)")
        if any(filename == known for known, _ in sources):
            raise bad(f"{filename} : deux fichiers portent ce nom dans le même déploiement")
        sources.append((filename, storage.read()))
    if not sources:
        raise bad("aucun fichier à déployer dans l'envoi (attendu .bpmn, .dmn, .form, .docx ou .odt)")
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
        raise bad("rien à déployer : aucun processus exécutable, table de décision ou formulaire dans l'envoi "
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
            dto = process_definition_dto(session, row)
            processes[dto["id"]] = dto
        elif item["kind"] == "decision":
            row = session.scalars(select(DecisionDefinition).where(
                DecisionDefinition.key == item["key"], DecisionDefinition.version == item["version"])).one()
            dto = decision_definition_dto(session, row)
            decisions[dto["id"]] = dto
    return {"deployedProcessDefinitions": processes or None, "deployedCaseDefinitions": None,
            "deployedDecisionDefinitions": decisions or None, "deployedDecisionRequirementsDefinitions": None}


def _deployment_query():
    query = select(Deployment)
    if request.args.get("id"):
        query = query.where(Deployment.id == int_id(request.args["id"], "déploiement"))
    if request.args.get("name"):
        query = query.where(Deployment.name == request.args["name"])
    if request.args.get("nameLike"):
        query = query.where(Deployment.name.like(request.args["nameLike"]))
    if request.args.get("source"):
        query = query.where(Deployment.source == request.args["source"])
    return query



def _deployment_dto(deployment: Deployment, links: bool = True) -> dict:
    dto = {}
    if links:  # DeploymentRestServiceImpl adds the "self" link to a created deployment
        dto["links"] = [{"method": "GET", "rel": "self", "href": url_for(
            "engine_rest.get_deployment", deployment_id=deployment.id, _external=True)}]
    dto.update({"id": str(deployment.id), "name": deployment.name, "source": deployment.source,
                "deploymentTime": camunda_time(deployment.created_at), "tenantId": None})
    return dto


