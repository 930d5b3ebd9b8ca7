"""People and groups as staff name them: display names instead of logins, readable group
names instead of ids. Looked up once per request (a page names the same few people)."""
from __future__ import annotations

import json
import os
from functools import lru_cache

from arsflow.engine.models import User
from flask import Flask, g
from sqlalchemy import select


def person(login: str | None, default: str = "—") -> str:
    """'Sophie Durand' for sophie.durand; the login itself for an account with no name."""
    if not login:
        return default
    names = g.setdefault("_people", {})
    if login not in names:
        from arsflow.web import get_runtime
        rt = get_runtime()
        with rt.db.read() as session:
            names[login] = session.scalar(select(User.display_name).where(User.login == login)) or login
    return names[login]


@lru_cache(maxsize=1)
def _configured_group_names() -> dict:
    """ARSFLOW_GROUP_NAMES: a JSON file {"pole_democratie_sanitaire": "Pôle démocratie sanitaire"}."""
    path = os.environ.get("ARSFLOW_GROUP_NAMES")
    if not path:
        return {}
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def group_name(group: str | None) -> str:
    """The configured name, else the id made readable ('pole_democratie_sanitaire' →
    'Pole democratie sanitaire')."""
    if not group:
        return "—"
    named = _configured_group_names().get(group)
    if named:
        return named
    words = group.replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:]


def group_names(groups) -> str:
    return ", ".join(group_name(grp) for grp in groups or ()) or "—"


def register(app: Flask) -> None:
    app.jinja_env.globals.update(person=person, group_name=group_name, group_names=group_names)
