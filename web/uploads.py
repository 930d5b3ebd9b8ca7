"""Uploaded Camunda Modeler files → the engine's `[(file name, bytes)]`, with clear refusals.

The bytes are never parsed here: the engine's linter reads them with its hardened XML
parser. Only names and sizes are checked (the whole request is already capped by
MAX_CONTENT_LENGTH, answered with a 413).
"""
from __future__ import annotations

import posixpath

from arsflow.engine.bpmn.definitions import kind_of
from arsflow.engine.errors import InvalidInput
from flask import current_app

MAX_FILES = 50


def read_sources(files) -> list[tuple[str, bytes]]:
    """`files` is a list of werkzeug FileStorage (request.files.getlist(...))."""
    sources: list[tuple[str, bytes]] = []
    seen: set[str] = set()
    total = 0
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    for storage in files:
        if storage is None or not storage.filename:
            continue
        name = posixpath.basename(storage.filename.replace("\\", "/")).strip()
        if not name or len(name) > 200 or any(ord(c) < 32 for c in name):
            raise InvalidInput(f"nom de fichier invalide : « {storage.filename[:80]} »")
        if kind_of(name) is None:
            raise InvalidInput(f"{name} : type de fichier non déployable (attendu .bpmn, .dmn, .form, .docx ou .odt)")
        if name in seen:
            raise InvalidInput(f"{name} : fichier envoyé deux fois")
        data = storage.read(limit + 1)
        total += len(data)
        if total > limit:
            raise InvalidInput(f"les fichiers dépassent {limit // (1024 * 1024)} Mo au total")
        if not data.strip():
            raise InvalidInput(f"{name} : fichier vide")
        seen.add(name)
        sources.append((name, data))
        if len(sources) > MAX_FILES:
            raise InvalidInput(f"trop de fichiers : {MAX_FILES} au plus par envoi")
    if not sources:
        raise InvalidInput("aucun fichier reçu : choisissez un ou plusieurs fichiers .bpmn, .dmn ou .form")
    return sources
