"""Error pages in French, JSON under /api: engine errors keep their status and message."""
from __future__ import annotations

import logging
import re

from arsflow.engine.errors import ArsflowError
from flask import Flask, current_app, render_template, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

TITLES = {
    400: "Requête invalide",
    401: "Authentification requise",
    403: "Accès refusé",
    404: "Page introuvable",
    405: "Méthode non autorisée",
    409: "Conflit",
    413: "Envoi trop volumineux",
    415: "Type de contenu refusé",
    429: "Trop de tentatives",
    422: "Incident d'exécution",
    500: "Erreur interne",
}

HINTS = {
    403: "Vous n'avez pas les droits nécessaires pour cette page ou cette action. "
         "Si vous pensez que c'est une erreur, contactez l'administrateur de votre ARS.",
    404: "La page ou l'élément demandé n'existe pas ou n'existe plus.",
    409: "L'état a changé depuis l'affichage de la page (par exemple, quelqu'un d'autre a "
         "traité la tâche). Rechargez la page avant de recommencer.",
    413: "Les fichiers envoyés dépassent la taille maximale autorisée.",
    500: "Une erreur inattendue s'est produite. Réessayez plus tard.",
}


def wants_json() -> bool:
    return request.path.startswith("/api/")


def render_error(status: int, message: str, details: dict | None = None, error: str | None = None):
    if wants_json():
        body = {"error": error or TITLES.get(status, "Erreur"), "message": message}
        body.update(details or {})
        return body, status
    return render_template("error.html", status=status, title=TITLES.get(status, "Erreur"),
                           message=message, hint=HINTS.get(status)), status


def _engine_error(err: ArsflowError):
    if wants_json():
        return err.to_json(), err.code
    return render_error(err.code, _sentence(err.message))


def _http_error(err: HTTPException):
    status = err.code or 500
    message = err.description if _is_custom(err) else _default_message(status)
    if status == 413:
        limit = request.max_content_length or 0
        message = (f"L'envoi dépasse la taille maximale de {limit / 1024 / 1024:.0f} Mo au total. "
                   "Envoyez moins de fichiers à la fois ou allégez-les.")
    response = render_error(status, message)
    if status == 401 and wants_json():
        body, code = response
        return body, code, {"WWW-Authenticate": 'Bearer realm="arsflow"'}
    return response


def _unexpected(err: Exception):
    if current_app.testing:
        raise err
    log.exception("erreur interne sur %s %s", request.method, request.path)
    return render_error(500, HINTS[500])


def _is_custom(err: HTTPException) -> bool:
    return type(err).description != err.description


def _default_message(status: int) -> str:
    return {
        400: "La requête est invalide.",
        401: "Authentification requise.",
        403: "Accès refusé.",
        404: "La page demandée n'existe pas.",
        405: "Cette méthode n'est pas autorisée pour cette adresse.",
        409: "Conflit avec l'état actuel.",
    }.get(status, TITLES.get(status, "Erreur"))


def _sentence(text: str) -> str:
    """Engine messages start in lower case; a page shows them as sentences, but a message
    that starts with a file name or an identifier keeps it as written."""
    text = (text or "").strip()
    if re.match(r"[a-zàâçéèêëîïôûùüÿœ]+[\s'’]", text):
        return text[:1].upper() + text[1:]
    return text


def register(app: Flask) -> None:
    app.register_error_handler(ArsflowError, _engine_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
