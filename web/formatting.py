"""Dates and deadlines as ARS staff read them: French words, the ARS's own time zone.

Instants are stored in UTC; a deadline "by the end of 1 March" is stored as 2 March 0:00
local time, which is shown as "avant le lundi 1er mars 2027 à 24 h" — the day the texts name,
never a day late nor an hour that reads as the start of the next day. Everything is written by hand (no locale), like `engine.legal_calendar`.
"""
from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from arsflow.engine.time.clock import ensure_utc
from arsflow.engine.time.legal_calendar import LegalCalendarError, compute_deadline, french_date
from flask import Flask, current_app, g, has_request_context

_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre")

STATE_LABELS = {
    "running": ("En cours", "info"),
    "waiting": ("En attente", "info"),
    "completed": ("Terminée", "success"),
    "terminated": ("Arrêtée", "warning"),
    "incident": ("Incident", "error"),
    "open": ("À faire", "info"),
    "cancelled": ("Annulée", "warning"),
    "fired": ("Déclenchée", "success"),
}


def _runtime():
    from arsflow.web import get_runtime
    return get_runtime()


def zone() -> ZoneInfo:
    """The ARS's time zone, looked up once per request (a dashboard formats ~1,000 instants)."""
    if has_request_context():
        found = g.get("arsflow_zone")
        if found is None:
            found = g.arsflow_zone = ZoneInfo(_runtime().settings.timezone)
        return found
    return ZoneInfo(_runtime().settings.timezone)


def as_datetime(value) -> datetime | None:
    """Aware UTC datetime from a datetime or an ISO string (what `rt.show` returns)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return ensure_utc(value)


def local(value) -> datetime | None:
    moment = as_datetime(value)
    return moment.astimezone(zone()) if moment else None


def _clock(moment: datetime) -> str:
    return f"{moment.hour} h" if moment.minute == 0 else f"{moment.hour} h {moment.minute:02d}"


def fr_datetime(value) -> str:
    """`lundi 1er mars 2027 à 9 h 05` (ARS time)."""
    moment = local(value)
    if moment is None:
        return "—"
    return f"{french_date(moment.date())} à {_clock(moment)}"


def fr_due(value) -> str:
    """A due instant; midnight means "by the end of the previous day"."""
    moment = local(value)
    if moment is None:
        return "Sans échéance"
    if moment.time() == time(0):
        return f"avant le {french_date(moment.date() - timedelta(days=1))} à 24 h"
    return fr_datetime(moment)


def _short_date(day) -> str:
    return f"{'1er' if day.day == 1 else day.day} {_MONTHS[day.month - 1]} {day.year}"


def fr_short(value) -> str:
    """`1er mars 2027 à 9 h 05` for tables (no weekday)."""
    moment = local(value)
    if moment is None:
        return "—"
    if moment.time() == time(0):
        return f"avant le {_short_date(moment.date() - timedelta(days=1))} à 24 h"
    return f"{_short_date(moment.date())} à {_clock(moment)}"


def last_day(value):
    """The calendar day (ARS time) a due instant belongs to: midnight closes the day before."""
    moment = local(value)
    if moment is None:
        return None
    return moment.date() - timedelta(days=1) if moment.time() == time(0) else moment.date()


def time_left(value, now: datetime | None = None) -> str | None:
    """"J-14", "aujourd'hui", "en retard de 3 jours" — counted in ARS calendar days."""
    moment = as_datetime(value)
    if moment is None:
        return None
    now = ensure_utc(now or _runtime().now())
    today = now.astimezone(zone()).date()
    days = (last_day(moment) - today).days
    if moment <= now:
        late = max(1, -days)
        return f"en retard de {late} jour{'s' if late > 1 else ''}"
    if days == 0:
        return "dernier jour aujourd'hui"
    return f"J-{days}"


def plural(count: int, word: str, plural_word: str | None = None) -> str:
    """`0 tâche`, `1 tâche`, `2 tâches`: French keeps the singular below two."""
    return f"{count} {word if abs(count) < 2 else (plural_word or word + 's')}"


def fr_date(value) -> str:
    moment = local(value)
    return french_date(moment.date()) if moment else "—"


def iso(value) -> str:
    moment = as_datetime(value)
    return moment.isoformat() if moment else ""


def days_late(value, now: datetime | None = None) -> int:
    """Whole ARS calendar days past the due instant (1 on the day it passed), else 0."""
    moment = as_datetime(value)
    if moment is None:
        return 0
    now = ensure_utc(now or _runtime().now())
    if moment > now:
        return 0
    return max(1, (now.astimezone(zone()).date() - last_day(moment)).days)


def due_status(value, now: datetime | None = None) -> str | None:
    """"overdue" once the instant has passed, "soon" within ARSFLOW_DUE_SOON_DAYS."""
    moment = as_datetime(value)
    if moment is None:
        return None
    now = ensure_utc(now or _runtime().now())
    if moment <= now:
        return "overdue"
    if moment <= now + timedelta(days=current_app.config["ARSFLOW_DUE_SOON_DAYS"]):
        return "soon"
    return None


def end_of_week(now: datetime) -> datetime:
    """Next Monday 0:00 in the ARS zone, as UTC: "due this week" means before it."""
    today = ensure_utc(now).astimezone(zone()).date()
    monday = today + timedelta(days=7 - today.weekday())
    return datetime.combine(monday, time(0), tzinfo=zone()).astimezone(ZoneInfo("UTC"))


def legal_explanation(properties: dict | None, variables: dict | None, default_territory: str | None):
    """(explanation lines, error message) when the task names `deadline_start` and
    `deadline_delay` (and optionally `deadline_extension`, `deadline_basis`); (None, None) when
    it does not."""
    properties = properties or {}
    start, delay = properties.get("deadline_start"), properties.get("deadline_delay")
    if not start or not delay:
        return None, None
    territory = (variables or {}).get("territory") or properties.get("territory") or default_territory
    # The task declares its délai's extension policy (`deadline_extension`, true by default)
    # and may state the rule and its source (`deadline_basis`).
    extension = str(properties.get("deadline_extension", "true")).strip().lower() not in ("false", "non", "0")
    try:
        deadline = compute_deadline(str(start), str(delay), str(territory) if territory else None,
                                    extension=extension)
    except (LegalCalendarError, ValueError) as err:
        return None, f"Délai légal non calculable : {err}"
    return deadline.explanation(properties.get("deadline_basis") or None).splitlines(), None


def pretty_json(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)


def state_label(state: str | None) -> tuple[str, str]:
    return STATE_LABELS.get(state or "", (state or "—", "info"))


def register(app: Flask) -> None:
    app.jinja_env.filters.update({
        "fr_datetime": fr_datetime, "fr_due": fr_due, "fr_short": fr_short, "fr_date": fr_date,
        "iso": iso, "pretty_json": pretty_json,
    })
    app.jinja_env.globals.update({"due_status": due_status, "state_label": state_label, "time_left": time_left,
                                  "plural": plural})
