"""Typed variables, as Camunda's VariableValueDto: `{"value", "type", "valueInfo"}`.

In: String, Integer, Long, Short, Double, Boolean, Date, Json, Object (JSON-serialised),
Null, or untyped (the JSON value as given, what the Python client sends). Out: the type a
Camunda engine would report for the stored value; Date values go out in Camunda's date
format (yyyy-MM-dd'T'HH:mm:ss.SSSZ).
"""
from __future__ import annotations

import json
import math
import re
from datetime import datetime

from arsflow.web.engine_rest.errors import bad as _bad

INT_RANGES = {"short": 2 ** 15, "integer": 2 ** 31, "long": 2 ** 63}


def from_camunda_variables(variables) -> dict:
    """`{name: {"value", "type", "valueInfo"}}` → plain values (VariableValueDto types).
    Json and JSON-serialised Object are parsed; Date stays an ISO 8601 string."""
    if variables is None:
        return {}
    if not isinstance(variables, dict):
        raise _bad("variables : objet {\"nom\": {\"value\": …, \"type\": …}} attendu")
    return {name: _typed_value(name, spec) for name, spec in variables.items()}


def _typed_value(name: str, spec):
    if not isinstance(spec, dict) or ("value" not in spec and "type" not in spec):
        raise _bad(f"variable « {name} » : objet {{\"value\": …, \"type\": …}} attendu")
    value, kind = spec.get("value"), str(spec.get("type") or "")
    low = kind.lower()

    def refuse(why: str):
        return _bad(f"variable « {name} » de type {kind or 'non précisé'} : {why}")

    if not low:
        return value  # untyped: Camunda keeps the JSON value as given
    if low in ("bytes", "file"):
        raise refuse("les fichiers ne sont pas pris en charge ici ; joignez-les depuis arsflow")
    if low == "null" or value is None:
        return None
    if low == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise refuse(f"texte attendu, reçu {value!r}")
    if low in INT_RANGES:
        number = _as_int(value)
        if number is None:
            raise refuse(f"nombre entier attendu, reçu {value!r}")
        bound = INT_RANGES[low]
        if not -bound <= number < bound:
            raise refuse(f"{number} dépasse la capacité du type {kind}")
        return number
    if low == "double":
        try:
            number = float(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is None or not math.isfinite(number):
            raise refuse(f"nombre attendu, reçu {value!r}")
        return number
    if low == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise refuse(f"true ou false attendu, reçu {value!r}")
    if low == "date":
        try:
            return datetime.fromisoformat(str(value).strip().replace("Z", "+00:00")).isoformat()
        except ValueError:
            raise refuse(f"date ISO 8601 attendue (par ex. 2025-03-01T09:00:00.000+0100), reçu {value!r}") from None
    if low in ("json", "object"):
        if low == "object":
            fmt = ((spec.get("valueInfo") or {}).get("serializationDataFormat") or "application/json").lower()
            if fmt != "application/json":
                raise refuse(f"format de sérialisation {fmt!r} non pris en charge (seul application/json l'est)")
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except ValueError as err:
            raise refuse(f"JSON illisible ({err.msg}, position {err.pos})") from None
    raise refuse("type inconnu (attendu String, Integer, Long, Short, Double, Boolean, Date, Json, Object ou Null)")


_INT_TEXT = re.compile(r"^[+-]?\d+$")


def _as_int(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_TEXT.match(value.strip()):
        return int(value.strip())
    return None


def to_camunda_variables(variables: dict, names=None) -> dict:
    """Plain values → typed (`names`: only those, as Camunda's variable filters)."""
    wanted = variables if names is None else {n: variables[n] for n in names if n in variables}
    return {name: typed_value(value) for name, value in wanted.items()}


def typed_value(value) -> dict:
    """One stored value as VariableValueDto."""
    if value is None:
        return {"type": "Null", "value": None, "valueInfo": {}}
    if isinstance(value, bool):
        return {"type": "Boolean", "value": value, "valueInfo": {}}
    if isinstance(value, int):
        return {"type": "Integer" if -2 ** 31 <= value < 2 ** 31 else "Long", "value": value, "valueInfo": {}}
    if isinstance(value, float):
        return {"type": "Double", "value": value, "valueInfo": {}}
    if isinstance(value, str):
        return {"type": "String", "value": value, "valueInfo": {}}
    return {"type": "Json", "value": json.dumps(value, ensure_ascii=False), "valueInfo": {}}
