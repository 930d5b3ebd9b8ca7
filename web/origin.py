"""Cross-origin writes refused for the machine APIs (/api/v1, /engine-rest) and the pages.

A browser that cached HTTP Basic credentials for /engine-rest sends them with any request,
including a form or `fetch(…, {mode: "no-cors"})` from another site with a "simple" body
(text/plain, urlencoded). Two checks stop that without touching real clients (Camunda
Modeler, the external-task clients, curl send no Origin and JSON or multipart bodies):

- an unsafe request whose Origin (or, failing that, Referer) names another host is refused
  with 403; `ARSFLOW_TRUSTED_ORIGINS` lists extra origins allowed to write;
- on the APIs a non-empty write body must be JSON or multipart (415 otherwise): the content
  types a page in another site cannot send without a CORS preflight, which we never grant.
"""
from __future__ import annotations

import os
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, request

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
API_BLUEPRINTS = frozenset({"api", "engine_rest"})
WRITE_TYPES = frozenset({"application/json", "multipart/form-data"})


def _trusted(app: Flask) -> frozenset:
    raw = app.config.get("ARSFLOW_TRUSTED_ORIGINS") or os.environ.get("ARSFLOW_TRUSTED_ORIGINS", "")
    items = raw if isinstance(raw, (list, tuple, set, frozenset)) else str(raw).split(",")
    return frozenset(urlsplit(o.strip()).netloc.lower() for o in items if o.strip())


def _check():
    if request.method not in UNSAFE:
        return None
    source = request.headers.get("Origin")
    if source is None and request.headers.get("Referer"):
        source = request.headers["Referer"]
    if source is not None:
        host = urlsplit(source).netloc.lower() if source != "null" else "null"
        if host != request.host.lower() and host not in _trusted(current_app):
            abort(403, description=f"Écriture refusée : la requête vient d'un autre site ({source[:100]}).")
    if request.blueprint in API_BLUEPRINTS and (request.content_length or request.headers.get("Transfer-Encoding")):
        mimetype = request.mimetype
        if mimetype not in WRITE_TYPES and not mimetype.endswith("+json"):
            abort(415, description="Type de contenu refusé pour une écriture : envoyez du JSON "
                                   "(application/json) ou un formulaire multipart (multipart/form-data).")
    return None


def register(app: Flask) -> None:
    app.before_request(_check)
