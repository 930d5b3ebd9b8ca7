"""The blueprints every resource module adds its routes to."""
from __future__ import annotations

from flask import Blueprint

DEFAULT_BASE_PATH = "/engine-rest"

bp = Blueprint("engine_rest", __name__)
# Camunda Modeler asks the host root where Cockpit lives, to link to what it deployed/started.
well_known_bp = Blueprint("engine_rest_well_known", __name__)


def runtime():
    from arsflow.web import get_runtime  # late: web/__init__ imports this package from create_app
    return get_runtime()
