"""Data refused at the door, before it reaches a workflow or a row.

Whatever enters through the CLI, the JSON API or /engine-rest ends up in task data, JSON
columns and pages. Values that Python accepts but that break later (a lone UTF-16
surrogate cannot be encoded, NaN is not JSON and PostgreSQL's json type refuses it,
900-deep nesting becomes a RecursionError in the serializer) are refused here with the
path of the offending field.
"""
from __future__ import annotations

import math

from arsflow.engine.errors import InvalidInput

MAX_DEPTH = 64
MAX_BUSINESS_KEY = 255  # the column's size
MAX_KEY_LENGTH = 255


def _label(path: list) -> str:
    text = ".".join(str(p) for p in path) or "(racine)"
    return text if len(text) <= 120 else text[:57] + "…" + text[-60:]


def _bad(what: str, path: list, reason: str) -> InvalidInput:
    field = _label([what, *path])
    return InvalidInput(f"« {field} » : {reason}", field=field)


def _text_problem(text: str) -> str | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "caractère invalide (demi-code UTF-16 isolé, par exemple « \\ud800 »)"
    if "\x00" in text:
        return "caractère nul (\\u0000) refusé"
    return None


def check_data(data, what: str = "variables") -> None:
    """Walk `data` (iteratively: no recursion on hostile depth) and refuse what breaks later."""
    stack = [(data, [], 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _bad(what, path[:8] + ["…"], f"imbrication trop profonde (plus de {MAX_DEPTH} niveaux)")
        if isinstance(value, str):
            problem = _text_problem(value)
            if problem:
                raise _bad(what, path, problem)
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise _bad(what, path, f"nombre non fini ({value!r}) refusé : NaN et Infinity ne sont pas du JSON")
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str):
                    problem = _text_problem(key) or ("nom trop long" if len(key) > MAX_KEY_LENGTH else None)
                    if problem:
                        raise _bad(what, path + [repr(key)[:40]], f"nom de champ refusé : {problem}")
                stack.append((item, path + [key], depth + 1))
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                stack.append((item, path + [index], depth + 1))


def check_business_key(business_key) -> None:
    if business_key is None:
        return
    if not isinstance(business_key, str):
        raise InvalidInput("« business_key » doit être un texte", field="business_key")
    if len(business_key) > MAX_BUSINESS_KEY:
        raise InvalidInput(f"« business_key » : {len(business_key)} caractères, {MAX_BUSINESS_KEY} au plus",
                           field="business_key")
    problem = _text_problem(business_key)
    if problem:
        raise InvalidInput(f"« business_key » : {problem}", field="business_key")


MAX_ID = 2 ** 63 - 1  # BIGINT: larger ids cannot exist, and the drivers fail on them


def check_id(value, what: str = "instance") -> int:
    """An integer id as the database can hold it; anything else is not found."""
    from arsflow.engine.errors import NotFound
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise NotFound(f"{what} {str(value)[:40]} introuvable") from None
    if not -MAX_ID <= number <= MAX_ID:
        raise NotFound(f"{what} {str(value)[:40]} introuvable")
    return number


# -- what a script may leave in the process data ---------------------------------------------
SAVEABLE_SCALARS = (type(None), bool, int, str)  # plus finite floats, dates, instants, durations


def saveable_problem(data: dict) -> tuple[str, str] | None:
    """(variable path, reason) for the first value in `data` that the instance cannot be saved
    with, or that would come back different in the next process (a set would return as a
    list, a dict's number keys as texts); None when everything saves and reloads as it is."""
    from datetime import date, datetime, timedelta
    from uuid import UUID
    stack = [(value, [key], 1) for key, value in data.items()]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, SAVEABLE_SCALARS) or type(value) in (date, datetime, timedelta, UUID):
            if isinstance(value, str):
                problem = _text_problem(value)
                if problem:
                    return _label(path), problem
            continue
        if depth > MAX_DEPTH:
            return _label(path[:8] + ["…"]), f"imbrication trop profonde (plus de {MAX_DEPTH} niveaux)"
        if isinstance(value, float):
            if not math.isfinite(value):
                return _label(path), f"nombre non fini ({value!r}) : NaN et Infinity ne s'enregistrent pas"
        elif isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    return (_label(path + [repr(key)[:40]]),
                            f"clé {type(key).__name__} ({key!r:.40}) : une clé de dictionnaire doit être un texte "
                            "(elle reviendrait en texte au prochain chargement)")
                stack.append((item, path + [key], depth + 1))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                stack.append((item, path + [index], depth + 1))
        else:
            kind = type(value).__name__
            hint = {"set": "écrivez une liste : sorted(…)", "frozenset": "écrivez une liste : sorted(…)",
                    "range": "écrivez une liste : list(range(…))"}
            return _label(path), (f"une valeur de type {kind} ne s'enregistre pas"
                                  + (f" ({hint[kind]})" if kind in hint else
                                     " : textes, nombres, booléens, listes, dictionnaires, dates seulement"))
    return None


def untuple(data: dict) -> None:
    """Tuples become lists in place, as the next process would read them back (JSON has no
    tuple): a warm worker and a restarted one then compare `x == [1, 2]` alike."""
    stack, seen = [data], set()
    while stack:
        container = stack.pop()
        if id(container) in seen:
            continue  # a list holding itself: saveable_problem says why it cannot be saved
        seen.add(id(container))
        items = container.items() if isinstance(container, dict) else enumerate(container)
        for key, value in list(items):
            if isinstance(value, tuple):
                value = container[key] = list(value)
            if isinstance(value, (dict, list)):
                stack.append(value)
