"""Who calls: HTTP basic (login:password) or bearer (API token), never the session cookie;
and what they may do, answered as Camunda's AuthorizationException (403) with the missing
permission.

Deployers (ARSFLOW_DEPLOYERS_GROUP) deploy, start and administer; workers
(ARSFLOW_WORKERS_GROUP) fetch, lock and complete external tasks; task endpoints apply each
task's assignee and candidates, as the inbox does.
"""
from __future__ import annotations

from flask import g, request

from arsflow.engine.people import users as users_module

from arsflow.web.engine_rest.blueprint import bp, runtime
from arsflow.web.engine_rest.errors import RestError

_PUBLIC_ENDPOINTS = {"engine_rest.cockpit_instance", "engine_rest.cockpit_other"}


@bp.before_request
def _authenticate():
    if request.method == "OPTIONS" or request.endpoint in _PUBLIC_ENDPOINTS:
        return None
    auth = request.authorization
    rt = runtime()
    user = None
    with rt.db.read() as session:
        if auth is not None and auth.type == "basic" and auth.username:
            from arsflow.web import throttle
            user, wait = throttle.check_password_login(session, auth.username, auth.password or "",
                                                       request.remote_addr)
            if wait:
                raise RestError(429, "AuthenticationException",
                                f"trop de tentatives de connexion : réessayez dans {wait} s", retryAfter=wait)
        elif auth is not None and auth.type == "bearer":
            user = users_module.user_for_token(session, auth.token or "")
        if user is None:
            message = ("identifiant ou mot de passe refusé par arsflow" if auth is not None
                       else "authentification requise : « Basic » (identifiant arsflow) ou « Bearer » "
                            "(jeton d'API)")
            raise RestError(401, "AuthenticationException", message)
        login = user.login
        groups = frozenset(users_module.groups_of(session, login))
    settings = rt.settings
    g.engine_rest_login = login
    g.engine_rest_groups = groups
    g.engine_rest_deployer = settings.deployers_group in groups
    g.engine_rest_worker = settings.workers_group in groups
    g.engine_rest_manager = settings.managers_group in groups
    return None


def forbidden(permission: str, resource: str, resource_id: str | None, why: str) -> RestError:
    return RestError(403, "AuthorizationException", f"l'utilisateur {g.engine_rest_login!r} {why}",
                     userId=g.engine_rest_login,
                     missingAuthorizations=[{"permissionName": permission, "resourceName": resource,
                                             "resourceId": resource_id}])


def require_deployer(permission: str, resource: str, resource_id: str | None = None):
    if g.engine_rest_deployer:
        return
    group = runtime().settings.deployers_group
    action = "déployer" if permission == "CREATE" and resource == "Deployment" else "démarrer ou consulter"
    raise forbidden(permission, resource, resource_id,
                    f"ne peut pas {action} depuis Camunda Modeler : réservé au groupe « {group} »")


def require_worker(permission: str = "UPDATE", resource_id: str | None = None):
    """External tasks: the workers group (and deployers, who administer the engine)."""
    if g.engine_rest_worker or g.engine_rest_deployer:
        return
    group = runtime().settings.workers_group
    raise forbidden(permission, "ProcessInstance", resource_id,
                    f"ne peut pas traiter de tâches externes : réservé au groupe « {group} »")


def require_reader(resource: str, resource_id: str | None = None):
    """Instances, incidents, history: deployers, managers and workers read them."""
    if g.engine_rest_deployer or g.engine_rest_manager or g.engine_rest_worker:
        return
    raise forbidden("READ", resource, resource_id,
                    "ne peut pas consulter les instances par l'API : réservé aux groupes déployeurs, "
                    "managers et workers")
