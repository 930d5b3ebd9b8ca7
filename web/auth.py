"""Connexion, déconnexion and "Mon compte" (API token, calendar feed address)."""
from __future__ import annotations

from arsflow.engine.people import users as users_module
from arsflow.web import get_runtime, throttle
from arsflow.web.queries import reading
from arsflow.web.security import log_in, log_out, require_login, safe_next
from flask import Blueprint, flash, g, redirect, render_template, request, url_for

bp = Blueprint("auth", __name__)


@bp.route("/connexion", methods=["GET", "POST"])
def login():
    target = safe_next(request.values.get("suivant"))
    if request.method == "GET":
        if g.get("user") is not None:
            return redirect(target or url_for("inbox.tasks"))
        return render_template("login.html", suivant=target, login_value="")
    login_value = (request.form.get("login") or "").strip()
    password = request.form.get("password") or ""
    rt = get_runtime()
    user = None
    if login_value and password:
        with reading(rt) as s:
            user, wait = throttle.check_password_login(s, login_value, password, request.remote_addr)
            version = user.session_version if user is not None else 0
        if wait:
            return render_template("login.html", suivant=target, login_value=login_value,
                                   error=f"Trop de tentatives : réessayez dans {wait} seconde(s)."), \
                429, {"Retry-After": str(wait)}
    if user is None:
        # One message for unknown login and wrong password: no account enumeration.
        return render_template("login.html", suivant=target, login_value=login_value,
                               error="Identifiant ou mot de passe incorrect."), 401
    log_in(user.login, version)
    flash(f"Bienvenue, {user.display_name or user.login}.", "success")
    return redirect(target or url_for("inbox.tasks"))


@bp.route("/deconnexion", methods=["POST"])
def logout():
    log_out()
    flash("Vous êtes déconnecté.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/compte", methods=["GET"])
def account():
    denied = require_login()
    if denied:
        return denied
    return _account_page()


@bp.route("/compte/jeton", methods=["POST"])
def new_token():
    """A new API token, shown once: only its hash is stored, the previous one stops working."""
    denied = require_login()
    if denied:
        return denied
    rt = get_runtime()
    with rt.db.transaction() as s:
        token = users_module.issue_api_token(s, g.user.login)
    return _account_page(token=token)


def _account_page(token: str | None = None):
    rt = get_runtime()
    with reading(rt) as s:
        user = users_module.get_user(s, g.user.login)
        calendar_token = user.calendar_token
        has_token = bool(user.api_token_hash)
    calendar_url = url_for("dashboard.calendar_feed", token=calendar_token, _external=True) if calendar_token else None
    team_url = (url_for("dashboard.calendar_feed", token=calendar_token, equipe=1, _external=True)
                if calendar_token and g.user.is_manager else None)
    return render_template("account.html", token=token, has_token=has_token or bool(token),
                           calendar_url=calendar_url, team_calendar_url=team_url,
                           api_base=url_for("api.openapi", _external=True))
