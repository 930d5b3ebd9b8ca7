"""Submitted values turned into each field's Python type, before any rule is checked."""
from __future__ import annotations

import math
import re
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from arsflow.engine.forms.errors import (
    MSG_BOOLEAN,
    MSG_DATE,
    MSG_DATETIME,
    MSG_LIST,
    MSG_NUMBER,
    MSG_SINGLE,
    MSG_TEXT,
    MSG_TIME,
)
from arsflow.engine.forms.feel import _is_num
from arsflow.engine.forms.model import _MULTI_TYPES, _TEXT_TYPES, Field
from arsflow.engine.forms.paths import _MISSING

_DATE_ISO_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_FR_RE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_TIME_RE = re.compile(r"(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?")
_DATETIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)")
_TRUE_STRINGS = frozenset({"on", "true", "1", "yes", "oui"})
_FALSE_STRINGS = frozenset({"", "off", "false", "0", "no", "non"})


def _parse_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(str(value)) if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, str):
        text = value.strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
        if not _NUMBER_RE.fullmatch(text):
            return None
        try:
            return Decimal(text.replace(",", "."))
        except InvalidOperation:
            return None
    return None


def _number_out(value: Decimal, as_string: bool) -> Any:
    if as_string:
        return format(value.normalize(), "f") if value != 0 else "0"
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def _coerce_date(value: Any) -> str:
    if isinstance(value, datetime):
        raise ValueError
    if isinstance(value, date):
        return value.isoformat()
    if not isinstance(value, str):
        raise ValueError
    text = value.strip()
    if _DATE_ISO_RE.fullmatch(text):
        return date.fromisoformat(text).isoformat()
    match = _DATE_FR_RE.fullmatch(text)
    if match:
        day, month, year = (int(g) for g in match.groups())
        return date(year, month, day).isoformat()
    raise ValueError


def _coerce_time(value: Any) -> str:
    if isinstance(value, time):
        return value.isoformat(timespec="seconds" if value.second else "minutes")
    if not isinstance(value, str):
        raise ValueError
    match = _TIME_RE.fullmatch(value.strip())
    if not match:
        raise ValueError
    hours, minutes, seconds, zone = match.groups()
    time(int(hours), int(minutes), int(seconds or 0))  # range check
    if zone and zone != "Z":
        sign_h, sign_m = int(zone[1:3]), int(zone[4:6])
        if sign_h > 23 or sign_m > 59:
            raise ValueError
    out = f"{hours}:{minutes}"
    if seconds and int(seconds):
        out += f":{seconds}"
    return out + (zone or "")


def _coerce_datetime(value: Any) -> str:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and _DATETIME_RE.match(value.strip()):
        parsed = datetime.fromisoformat(value.strip())
    else:
        raise ValueError
    spec = "minutes" if parsed.second == 0 and parsed.microsecond == 0 else "seconds"
    return parsed.isoformat(timespec=spec)


_DATETIME_COERCERS = {
    "date": (_coerce_date, MSG_DATE),
    "time": (_coerce_time, MSG_TIME),
    "datetime": (_coerce_datetime, MSG_DATETIME),
}


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _coerce(field: Field, raw: Any, from_strings: bool) -> tuple[Any, str | None]:
    """Turn a submitted value into the field's Python type; (value, None) or (None, message)."""
    ftype = field.type
    if ftype in _TEXT_TYPES:
        if raw is None:
            return "", None
        if isinstance(raw, str):
            return raw, None
        if _is_num(raw):
            return str(raw), None
        return None, MSG_SINGLE if isinstance(raw, list) else MSG_TEXT
    if ftype == "checkbox":
        if isinstance(raw, bool):
            return raw, None
        if raw is None:
            return False, None
        if from_strings:
            values = raw if isinstance(raw, list) else [raw]
            flags = [str(v).strip().lower() for v in values]
            if any(f in _TRUE_STRINGS for f in flags):
                return True, None
            if all(f in _FALSE_STRINGS for f in flags):
                return False, None
        return None, MSG_BOOLEAN
    if ftype in _MULTI_TYPES:
        if raw is None or (from_strings and raw == ""):
            return [], None
        if from_strings and isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, (list, tuple)):
            return None, MSG_LIST
        values = [v for v in raw if not (from_strings and v == "")]
        return values, None
    if isinstance(raw, list):
        if not from_strings:  # JSON says what it means: [1] is a list, not the number 1
            return None, MSG_SINGLE
        if len(raw) == 1:
            raw = raw[0]
        elif raw:
            return None, MSG_SINGLE
        else:
            raw = None
    if ftype == "number":
        if _is_blank(raw):
            return None, None
        number = _parse_decimal(raw)
        if number is None:
            return None, MSG_NUMBER
        return number, None
    if ftype in ("radio", "select"):
        return (None if _is_blank(raw) else raw), None
    if ftype == "datetime":
        if _is_blank(raw):
            return None, None
        coercer, message = _DATETIME_COERCERS[field.subtype or "date"]
        try:
            return coercer(raw), None
        except (ValueError, TypeError):
            return None, message
    return raw, None  # pragma: no cover - every input type is handled above


def _normalize_options(entries: Any) -> list[tuple[Any, str]] | None:
    """Options from data: ``[{label, value}]`` or plain values, as form-js accepts them."""
    if not isinstance(entries, list):
        return None
    options = []
    for entry in entries:
        if isinstance(entry, Mapping):
            if "value" not in entry:
                continue
            value = entry["value"]
            options.append((value, str(entry.get("label", value))))
        elif entry is not None:
            options.append((entry, str(entry)))
    return options


def _match_option(options: list[tuple[Any, str]], value: Any) -> Any:
    """The canonical option value equal to ``value`` (exactly, else by text), or _MISSING."""
    for option, _ in options:
        if option == value and type(option) is type(value):
            return option
    text = str(value)
    for option, _ in options:
        if str(option) == text:
            return option
    return _MISSING
