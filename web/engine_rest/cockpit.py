"""Where Camunda Modeler's links land: its "Open in Cockpit" URLs redirect to arsflow's pages."""
from __future__ import annotations

from flask import current_app, jsonify, redirect, request, url_for

from arsflow.web.engine_rest.blueprint import bp, well_known_bp
from arsflow.web.engine_rest.dto import int_id


@bp.get("/app/process-instance/<instance_id>", endpoint="cockpit_instance")
def cockpit_instance(instance_id):
    """Where the Modeler's "Open in Cockpit" link lands: arsflow's own instance page."""
    number = int_id(instance_id, "instance")
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


