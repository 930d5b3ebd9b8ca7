"""Process definitions: read, and start an instance (Camunda Modeler's "Start instance":
`POST /process-definition/{id}/start` and `/key/{key}/start`, JSON
`{"businessKey", "variables": {name: {"value", "type", "valueInfo"}}}`)."""
from __future__ import annotations

from arsflow.engine.input_checks import MAX_ID

from flask import g, jsonify, request
from sqlalchemy import select

from arsflow.engine.models import DecisionDefinition, ProcessDefinition, Resource
from arsflow.engine.bpmn.xmlsafe import XmlError, parse_xml

from arsflow.web.engine_rest.auth import require_deployer
from arsflow.web.engine_rest.blueprint import bp, runtime
from arsflow.web.engine_rest.dto import definition_id_of
from arsflow.web.engine_rest.errors import RestError, bad
from arsflow.web.engine_rest.process_instance import instance_dto
from arsflow.web.engine_rest.variables import from_camunda_variables

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"


@bp.get("/process-definition/<definition_id>")
def get_process_definition(definition_id):
    require_deployer("READ", "ProcessDefinition", definition_id)
    with runtime().db.read() as session:
        return jsonify(process_definition_dto(session, definition_by_id(session, definition_id)))


@bp.get("/process-definition/key/<key>")
def get_process_definition_by_key(key):
    require_deployer("READ", "ProcessDefinition", key)
    rt = runtime()
    with rt.db.read() as session:
        return jsonify(process_definition_dto(session, latest_definition(session, key)))


@bp.post("/process-definition/<definition_id>/start")
def start_by_id(definition_id):
    """Starts exactly the version named by the id, as Camunda does: the Modeler keeps the id
    of the definition it last deployed and starts it, even if nothing changed since."""
    require_deployer("CREATE_INSTANCE", "ProcessDefinition", definition_id)
    business_key, data, with_variables = _start_payload()
    rt = runtime()
    with rt.db.read() as session:
        definition = definition_by_id(session, definition_id)
        key, row_id = definition.key, definition.id
    summary = start_definition(rt, key, row_id, data, business_key, g.engine_rest_login)
    return jsonify(instance_dto(summary["id"], with_variables))


@bp.post("/process-definition/key/<key>/start")
def start_by_key(key):
    require_deployer("CREATE_INSTANCE", "ProcessDefinition", key)
    business_key, data, with_variables = _start_payload()
    rt = runtime()
    with rt.db.read() as session:
        latest_definition(session, key)  # 404 in Camunda's words before anything starts
    summary = rt.start(key, data, business_key=business_key, actor=g.engine_rest_login)
    return jsonify(instance_dto(summary["id"], with_variables))


def definition_by_id(session, definition_id: str) -> ProcessDefinition:
    """`{key}:{version}:{row id}`, the shape of Camunda's definition ids; all three must agree."""
    parts = definition_id.rsplit(":", 2)
    row = None
    if len(parts) == 3 and parts[2].isdigit() and int(parts[2]) <= MAX_ID:
        row = session.get(ProcessDefinition, int(parts[2]))
    if row is None or row.key != parts[0] or str(row.version) != parts[1]:
        raise RestError(404, "InvalidRequestException",
                        f"aucune définition de processus déployée avec l'identifiant {definition_id!r} "
                        f"(redéployez le diagramme depuis Camunda Modeler)")
    return row


def latest_definition(session, key: str) -> ProcessDefinition:
    row = session.scalars(select(ProcessDefinition).where(ProcessDefinition.key == key)
                          .order_by(ProcessDefinition.version.desc()).limit(1)).first()
    if row is None:
        raise RestError(404, "InvalidRequestException", f"aucune définition de processus déployée avec la clé {key!r}")
    return row


def _start_payload() -> tuple[str | None, dict, bool]:
    body = request.get_json(silent=True) if request.get_data() else {}
    if not isinstance(body, dict):
        raise bad("corps de requête JSON attendu : {\"businessKey\": …, \"variables\": {…}}")
    if body.get("startInstructions"):
        raise bad("startInstructions : le démarrage à une autre activité que l'événement de début "
                   "n'est pas pris en charge par arsflow")
    business_key = body.get("businessKey")
    if business_key is not None and not isinstance(business_key, str):
        raise bad("businessKey : texte attendu")
    return business_key or None, from_camunda_variables(body.get("variables")), bool(body.get("withVariablesInReturn"))


def start_definition(rt, key: str, definition_id: int, data: dict, business_key: str | None,
                     login: str) -> dict:
    """Start that exact version (the Modeler restarts the definition id it deployed last)."""
    return rt.start(key, data, business_key=business_key, actor=login, definition_id=definition_id)



def process_definition_dto(session, row: ProcessDefinition) -> dict:
    resource = session.get(Resource, row.resource_id)
    attrs = process_attributes(resource, row.key)
    return {"id": definition_id_of(row), "key": row.key, "category": attrs.get("category"),
            "description": attrs.get("description"), "name": row.name, "version": row.version,
            "resource": resource.name, "deploymentId": str(row.deployment_id), "diagram": None,
            "suspended": False, "tenantId": None, "versionTag": attrs.get("versionTag"),
            "historyTimeToLive": attrs.get("historyTimeToLive"),
            "startableInTasklist": attrs.get("startableInTasklist", True)}


def decision_definition_dto(session, row: DecisionDefinition) -> dict:
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


def process_attributes(resource: Resource, key: str) -> dict:
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


