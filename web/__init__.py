"""Flask task inbox. Imports `engine`; the engine never imports this package.

`create_app(runtime)` builds the whole app over one engine Runtime (shared with the
scheduler in `arsflow serve`). The app is split into blueprints: auth (login, account),
inbox (task lists, one task), instances, procedures (deploy, start), dashboard
(échéances, iCalendar feed) and api (/api/v1, token authentication).
"""
from __future__ import annotations

import logging
import os
import secrets
from datetime import timedelta

from arsflow.engine.config import Settings
from arsflow.engine.db import Database
from arsflow.engine.runtime import Runtime
from flask import Flask

log = logging.getLogger(__name__)

# 5 MB for a whole upload: a Camunda Modeler diagram weighs tens of kilobytes.
MAX_UPLOAD_BYTES = 5 * 1024 * 1024

DEFAULTS = {
    "MAX_CONTENT_LENGTH": MAX_UPLOAD_BYTES,
    "SESSION_COOKIE_NAME": "arsflow_session",
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "PERMANENT_SESSION_LIFETIME": timedelta(hours=10),
    # Tasks per inbox page, "Échéance proche" window (days), dashboard horizon (days).
    "ARSFLOW_PAGE_SIZE": 20,
    "ARSFLOW_DUE_SOON_DAYS": 3,
    "ARSFLOW_DASHBOARD_DAYS": 30,
    # Processes whose variables hold `avis[body] = {"status": "tacit", "acquired_at": …}`.
    "ARSFLOW_TACIT_PROCESSES": ("prs_consultation",),
    # Tab and list counts stop here ("1 000+"): each count reads at most this many index
    # entries, so it costs the same at any volume (docs/performance.md, "Counts").
    "ARSFLOW_COUNT_CAP": 1000,
    # Files checked with « Vérifier », kept for « Déployer » (web/upload_store.py); None: the
    # system temporary folder. Several servers behind one address need a shared folder here.
    "ARSFLOW_UPLOAD_DIR": None,
    # Camunda REST: external-task long polls waiting at once (each holds a server thread).
    "ARSFLOW_LONG_POLLS": 8,
}


def create_app(runtime: Runtime | None = None, settings: Settings | None = None, config: dict | None = None) -> Flask:
    """The app over one engine Runtime (shared with the scheduler in `arsflow serve`)."""
    if runtime is None:
        settings = settings or Settings()
        runtime = Runtime(Database(settings.database_url), settings)
    # `arsflow` is a namespace package: Flask cannot guess an instance folder for it.
    app = Flask(__name__, instance_path=os.path.abspath("instance"))
    app.config.update(DEFAULTS)
    app.config["SESSION_COOKIE_SECURE"] = os.environ.get("ARSFLOW_SECURE_COOKIES", "").lower() in ("1", "true", "oui")
    app.config.update(config or {})
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = os.environ.get("ARSFLOW_SECRET_KEY") or _ephemeral_secret()
    app.extensions["arsflow_runtime"] = runtime
    proxies = int(app.config.get("ARSFLOW_PROXY_FIX") or os.environ.get("ARSFLOW_PROXY_FIX") or 0)
    if proxies:  # behind N reverse proxies: trust their X-Forwarded-For/-Proto/-Host
        from werkzeug.middleware.proxy_fix import ProxyFix
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)

    from arsflow.web import (api, auth, dashboard, documents, door, errors, formatting, inbox, instances, notices,
                             origin, people, portal, procedures, security, static_assets)
    documents.register(app)  # first: its request size cap must precede any form parsing
    portal.register(app)
    door.register(app)
    origin.register(app)
    static_assets.register(app)
    people.register(app)
    notices.register(app)
    formatting.register(app)
    security.register(app)
    errors.register(app)
    for blueprint in (auth.bp, inbox.bp, instances.bp, procedures.bp, dashboard.bp, api.bp):
        app.register_blueprint(blueprint)
    security.csrf_exempt(app, api.bp.name)
    _register_engine_rest(app)
    return app


def _register_engine_rest(app: Flask) -> None:
    """The Camunda-compatible REST blueprint, when present; it authenticates by token, so
    the blueprints it adds are exempt from the cookie-session CSRF check."""
    from arsflow.web import security
    try:
        from arsflow.web import engine_rest
    except ImportError:
        return
    before = set(app.blueprints)
    engine_rest.register(app)
    for name in set(app.blueprints) - before:
        security.csrf_exempt(app, name)


def _ephemeral_secret() -> str:
    log.warning("ARSFLOW_SECRET_KEY non défini : clé de session aléatoire, les sessions "
                "ne survivront pas au redémarrage")
    return secrets.token_hex(32)


def get_runtime(app: Flask | None = None) -> Runtime:
    from flask import current_app
    return (app or current_app).extensions["arsflow_runtime"]
