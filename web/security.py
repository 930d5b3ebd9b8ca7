"""Who is asking, and may they: session login, CSRF tokens, group checks, response headers.

The browser side authenticates with a signed session cookie (HttpOnly, SameSite=Lax);
every state-changing request from a page must carry the session's CSRF token, because
SameSite=Lax still lets a top-level cross-site GET through and older browsers ignore it.
The JSON API authenticates with bearer tokens only (see `web.api`) and is exempt.
"""
from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from functools import wraps
from urllib.parse import urlsplit

from arsflow.engine.people import users as users_module
from flask import Flask, abort, current_app, g, has_request_context, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRFToken"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Loaded from static files only: no inline script may run (bpmn-js sets inline styles).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class CurrentUser:
    login: str
    display_name: str
    groups: frozenset
    is_manager: bool
    is_deployer: bool

    def in_group(self, group: str) -> bool:
        return group in self.groups


# -- CSRF -----------------------------------------------------------------------------------

def csrf_token() -> str:
    """The session's CSRF token, created on first use (also before login: the login form
    is protected too, against login CSRF)."""
    token = session.get(CSRF_FIELD)
    if not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


def csrf_exempt(app: Flask, blueprint_name: str) -> None:
    app.extensions.setdefault("arsflow_csrf_exempt", set()).add(blueprint_name)


def _check_csrf():
    if request.method not in UNSAFE_METHODS or request.url_rule is None:
        return None
    if request.blueprint in current_app.extensions.get("arsflow_csrf_exempt", set()):
        return None
    expected = session.get(CSRF_FIELD)
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not expected or not sent or not hmac.compare_digest(str(expected), str(sent)):
        abort(400, description="Jeton de sécurité (CSRF) manquant ou invalide : rechargez la page "
                               "puis renvoyez le formulaire.")
    return None


# -- current user ---------------------------------------------------------------------------

def _load_user():
    g.user = None
    login = session.get("login")
    if not login or request.blueprint in current_app.extensions.get("arsflow_csrf_exempt", set()):
        return
    from arsflow.web import get_runtime
    from arsflow.web.queries import reading
    rt = get_runtime()
    with reading(rt) as s:
        user = s.get(users_module.User, login)
        if user is None or not user.active or session.get("sv") != (user.session_version or 0):
            session.clear()  # logged out elsewhere, password changed, or account closed
            return
        groups = frozenset(users_module.groups_of(s, login))
    g.user = CurrentUser(login=login, display_name=user.display_name or login, groups=groups,
                         is_manager=rt.settings.managers_group in groups,
                         is_deployer=rt.settings.deployers_group in groups)


def log_in(login: str, session_version: int = 0) -> None:
    """A fresh session (new CSRF token) so a session fixed before login is worthless; it
    carries the account's session version, which logout and password changes bump."""
    session.clear()
    session.permanent = True
    session["login"] = login
    session["sv"] = session_version or 0
    csrf_token()


def log_out() -> None:
    """The cookie is signed, not stored: clearing it is not enough against a copy of it, so
    the account's session version moves on and every earlier cookie stops working."""
    login = session.get("login")
    session.clear()
    if login:
        from arsflow.web import get_runtime
        rt = get_runtime()
        with rt.db.transaction() as s:
            users_module.end_sessions(s, login)


def require_login():
    """`before_request` of the page blueprints: anonymous visitors go to the login page."""
    if g.get("user") is None:
        return redirect(url_for("auth.login", suivant=request.full_path.rstrip("?")))
    return None


def safe_next(target: str | None) -> str | None:
    """Only same-site paths are followed after login (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def group_required(which: str):
    """`which` is "managers" or "deployers": the group names come from the settings."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            user = g.get("user")
            if user is None:
                return require_login()
            allowed = user.is_manager if which == "managers" else user.is_deployer
            if not allowed:
                from arsflow.web import get_runtime
                group = getattr(get_runtime().settings, f"{which}_group")
                abort(403, description=f"Cette page est réservée au groupe « {group} ».")
            return view(*args, **kwargs)
        return wrapped
    return decorator


def _headers(response):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if g.get("user") is not None and response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    if request.is_secure:  # served over HTTPS (directly, or behind a proxy with ARSFLOW_PROXY_FIX)
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response


class _SessionInterface(SecureCookieSessionInterface):
    """The session cookie is Secure whenever the request came over HTTPS (or when
    ARSFLOW_SECURE_COOKIES forces it)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(super().get_cookie_secure(app) or (has_request_context() and request.is_secure))


def register(app: Flask) -> None:
    app.session_interface = _SessionInterface()
    app.before_request(_load_user)
    app.before_request(_check_csrf)
    app.after_request(_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
