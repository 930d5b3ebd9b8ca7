"""Files checked with « Vérifier », kept server-side for a while under an unguessable token so
that « Déployer » needs no second choice of the same files (a browser cannot refill a file
input). One JSON file per token in a private folder, tied to the login that sent them and
removed after `TTL` seconds; the bytes are linted again on deploy, as any upload."""
from __future__ import annotations

import base64
import json
import os
import re
import secrets
import tempfile
import time
from pathlib import Path

from flask import current_app

TTL = 2 * 3600
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


def _folder() -> Path:
    folder = Path(current_app.config.get("ARSFLOW_UPLOAD_DIR")
                  or Path(tempfile.gettempdir()) / "arsflow-depots")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def _purge(folder: Path, now: float) -> None:
    for path in folder.glob("*.json"):
        try:
            if now - path.stat().st_mtime > TTL:
                path.unlink()
        except OSError:
            pass  # another worker removed it first


def keep(sources: list[tuple[str, bytes]], login: str) -> str:
    folder = _folder()
    now = time.time()
    _purge(folder, now)
    token = secrets.token_urlsafe(24)
    payload = {"login": login, "files": [{"name": n, "data": base64.b64encode(d).decode("ascii")}
                                         for n, d in sources]}
    path = folder / f"{token}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(payload, out)
    return token


def kept(token: str | None, login: str) -> list[tuple[str, bytes]] | None:
    """The files kept under `token` for `login`, or None (unknown, expired or someone else's)."""
    if not token or not _TOKEN.match(token):
        return None
    path = _folder() / f"{token}.json"
    try:
        if time.time() - path.stat().st_mtime > TTL:
            return None
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if payload.get("login") != login:
        return None
    return [(f["name"], base64.b64decode(f["data"])) for f in payload.get("files", [])]


def forget(token: str | None) -> None:
    if token and _TOKEN.match(token):
        try:
            (_folder() / f"{token}.json").unlink()
        except OSError:
            pass
