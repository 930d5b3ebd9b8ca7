"""Camunda 7 REST API (engine-rest), one module per resource, so that Camunda Modeler,
external-task workers (npm camunda-external-task-client-js, PyPI
camunda-external-task-client-python3) and clients generated from Camunda's OpenAPI work
against arsflow unchanged.

Matched against camunda/camunda-bpm-platform 7.2x (engine-rest/engine-rest: the
`*RestServiceImpl`/`*ResourceImpl` classes, their DTOs, ExceptionHandlerHelper) and the
clients' own sources. Authentication is HTTP basic (arsflow accounts) or bearer (API token),
never the session cookie, which is why these blueprints are exempt from the pages' CSRF check.

Modules: errors (Camunda's error shapes), auth, variables (typed values), dto (dates, ids,
paging), deployment and process_definition (Camunda Modeler), process_instance,
external_task, task (and its attachments), message, incident (incidents and job retries), history, cockpit (links
the Modeler opens).
"""
from __future__ import annotations

from flask import Flask

from arsflow.web.engine_rest.blueprint import DEFAULT_BASE_PATH, bp, well_known_bp
from arsflow.web.engine_rest.variables import from_camunda_variables, to_camunda_variables
from arsflow.web.engine_rest import errors, auth  # noqa: F401  (handlers and before_request hooks)
from arsflow.web.engine_rest import (attachment, cockpit, deployment, external_task, history, incident, message, process_definition,  # noqa: F401
               process_instance, task)

__all__ = ["register", "from_camunda_variables", "to_camunda_variables", "bp", "CAMUNDA_VERSION"]

CAMUNDA_VERSION = deployment.CAMUNDA_VERSION


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
