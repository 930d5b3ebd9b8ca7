"""Errors in Camunda's shape: `{"type", "message"}` (ExceptionDto) with the status
ExceptionHandlerHelper gives them, and French messages.

Camunda's mapping: a `RestException` carries its own status (404 not found, 400 bad user
request…); an engine `BadUserRequestException` is 400, an `AuthorizationException` 403, any
other `ProcessEngineException` (optimistic locking, task already claimed, a failed
continuation) 500. When the cause is an engine exception the body also has its `code` (0).
"""
from __future__ import annotations

import logging

from flask import current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from arsflow.engine.errors import ArsflowError, Conflict, DeploymentError, Forbidden, IncidentError, InvalidInput, NotFound

from arsflow.web.engine_rest.blueprint import bp

log = logging.getLogger(__name__)

REALM = 'Basic realm="arsflow"'
# Camunda Modeler recognises a parse error by this prefix (CamundaAPI.js, getCamundaErrorCode).
PARSE_ERROR_PREFIX = "ENGINE-09005 Could not parse BPMN process."


class RestError(Exception):
    def __init__(self, status: int, type_: str, message: str, **extra):
        super().__init__(message)
        self.status, self.type, self.message, self.extra = status, type_, message, extra


def bad(message: str) -> RestError:
    """A malformed request (InvalidRequestException, 400)."""
    return RestError(400, "InvalidRequestException", message)


def not_found(message: str, type_: str = "InvalidRequestException") -> RestError:
    return RestError(404, type_, message)


def engine_error(err: ArsflowError, not_found_type: str = "InvalidRequestException") -> RestError:
    """An engine error as Camunda would answer it (see the module docstring)."""
    if isinstance(err, NotFound):
        return RestError(404, not_found_type, err.message)
    if isinstance(err, Forbidden):
        return RestError(403, "AuthorizationException", err.message)
    if isinstance(err, Conflict):
        return RestError(500, "ProcessEngineException", err.message, code=0)
    if isinstance(err, (InvalidInput,)) or err.code == 400:
        return RestError(400, "InvalidRequestException", err.message)
    if isinstance(err, IncidentError):
        return RestError(500, "ProcessEngineException", err.message, code=0)
    return RestError(err.code if err.code >= 400 else 500, "ProcessEngineException", err.message, code=0)


@bp.errorhandler(RestError)
def _rest_error(err: RestError):
    response = jsonify({"type": err.type, "message": err.message, **err.extra})
    response.status_code = err.status
    if err.status == 401:
        response.headers["WWW-Authenticate"] = REALM
    if err.status == 429:
        response.headers["Retry-After"] = str(err.extra.get("retryAfter", 1))
    return response


@bp.errorhandler(ArsflowError)
def _engine_error(err: ArsflowError):
    if isinstance(err, DeploymentError):
        return _rest_error(parse_exception(err))
    return _rest_error(engine_error(err))


@bp.errorhandler(HTTPException)
def _http_error(err: HTTPException):
    return _rest_error(RestError(err.code or 500, "RestException", err.description or err.name))


@bp.errorhandler(Exception)
def _unexpected(err: Exception):
    """A bug still answers JSON, which clients log; tests see the exception itself."""
    if current_app.testing:
        raise err
    log.exception("erreur interne sur %s %s", request.method, request.path)
    return _rest_error(RestError(500, "ProcessEngineException",
                                 "erreur interne d'arsflow : réessayez, puis prévenez l'administrateur"))


def parse_exception(err: DeploymentError) -> RestError:
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
