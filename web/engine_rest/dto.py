"""What every resource shares: Camunda's date format, ids, query parameters, paging, bodies."""
from __future__ import annotations

from arsflow.engine.input_checks import MAX_ID

from datetime import datetime

from flask import request

from arsflow.web.engine_rest.blueprint import runtime
from arsflow.web.engine_rest.errors import RestError, bad


def camunda_time(value: datetime | None) -> str | None:
    """Camunda's default date format, yyyy-MM-dd'T'HH:mm:ss.SSSZ, in the ARS's time zone."""
    if value is None:
        return None
    local = value.astimezone(runtime().settings.tzinfo)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}" + local.strftime("%z")


def parse_camunda_time(name: str, raw: str) -> datetime:
    """A date query parameter: Camunda's format (…T14:42:45.000+0200) or ISO 8601."""
    text = raw.strip().replace(" ", "+")  # a '+' not encoded in a query string arrives as a space
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            pass
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise bad(f"Cannot set query parameter '{name}' to value '{raw}': date attendue au format "
                  f"yyyy-MM-dd'T'HH:mm:ss.SSSZ (par ex. 2025-03-01T09:00:00.000+0100)") from None
    return value if value.tzinfo else value.replace(tzinfo=runtime().settings.tzinfo)


def time_arg(name: str) -> datetime | None:
    raw = request.args.get(name)
    return parse_camunda_time(name, raw) if raw else None


def int_arg(name: str, default):
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) > MAX_ID:
        raise bad(f"Cannot set query parameter '{name}' to value '{raw[:40]}': entier positif attendu")
    return int(raw)


def bool_arg(name: str) -> bool | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() not in ("true", "false"):
        raise bad(f"Cannot set query parameter '{name}' to value '{raw}': true ou false attendu")
    return raw.lower() == "true"


def int_id(raw, what: str) -> int:
    if isinstance(raw, int):
        return raw
    if not str(raw).isdigit() or int(raw) > MAX_ID:
        raise RestError(404, "InvalidRequestException", f"{what} {str(raw)[:40]} introuvable")
    return int(raw)


def page(query):
    """firstResult / maxResults, as every Camunda list endpoint."""
    first, limit = int_arg("firstResult", 0), int_arg("maxResults", None)
    query = query.offset(first)
    return query.limit(limit) if limit is not None else query


def json_body(example: str) -> dict:
    """The JSON object a POST/PUT carries (an empty body is an empty object)."""
    if not request.get_data():
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise bad(f"corps de requête JSON attendu : {example}")
    return body


def definition_id_of(row) -> str:
    """`{key}:{version}:{row id}`, the shape of Camunda's definition ids."""
    return f"{row.key}:{row.version}:{row.id}"


def variables_in_query(raw_list: list[str], name: str) -> list[tuple[str, str, str]]:
    """Camunda's `variables=name_op_value,…` query parameter; op in eq, neq, like."""
    conditions = []
    for raw in raw_list:
        for item in filter(None, raw.split(",")):
            parts = item.split("_", 2)
            if len(parts) != 3 or parts[1] not in ("eq", "neq", "like", "gt", "gteq", "lt", "lteq"):
                raise bad(f"{name} : condition invalide {item!r} (attendu nom_eq_valeur, nom_like_valeur…)")
            conditions.append((parts[0], parts[1], parts[2]))
    return conditions


def matches(value, op: str, expected) -> bool:
    """One variable condition (query parameters compare as Camunda coerces: numbers, booleans, text)."""
    if op == "like":
        import fnmatch
        return value is not None and fnmatch.fnmatchcase(str(value), str(expected).replace("%", "*"))
    if isinstance(expected, str):
        expected = _coerce(expected, value)
    if op == "eq":
        return value == expected
    if op == "neq":
        return value != expected
    try:
        return {"gt": value > expected, "gteq": value >= expected, "lt": value < expected,
                "lteq": value <= expected}[op]
    except TypeError:
        return False


def _coerce(text: str, like):
    if isinstance(like, bool):
        return text.lower() == "true" if text.lower() in ("true", "false") else text
    if isinstance(like, (int, float)):
        try:
            return type(like)(text) if isinstance(like, float) or text.lstrip("+-").isdigit() else float(text)
        except ValueError:
            return text
    return text
