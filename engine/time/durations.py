"""ISO 8601 durations, instants and cycles as process owners write them in Camunda Modeler.

Months and years end on the same day number, clamped to the month's end
(31 January + P1M = 28/29 February), unlike SpiffWorkflow's 30-day arithmetic:
`dateutil.relativedelta` does exactly that.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timezone, tzinfo

from dateutil.relativedelta import relativedelta

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?$"
)


class DurationError(ValueError):
    """A duration, instant or cycle that cannot be read; the message says why."""


def is_duration(text: str) -> bool:
    return isinstance(text, str) and text.strip().upper().startswith(("P", "-P"))


def parse_duration(text: str) -> relativedelta:
    """`P3M`, `P1Y2M10DT2H`, `P2W`… → relativedelta. Negative or fractional units are refused."""
    if not isinstance(text, str):
        raise DurationError(f"durée attendue au format ISO 8601 (ex. P3M), reçu {text!r}")
    value = text.strip().upper()
    if value.startswith("-"):
        raise DurationError(f"durée négative refusée : {text!r}")
    match = _DURATION.match(value)
    if not match:
        raise DurationError(
            f"durée ISO 8601 illisible : {text!r} (attendu par ex. P3M, P2W, P10D, PT12H, P1Y2M)"
        )
    parts = {k: v for k, v in match.groupdict().items() if v is not None}
    seconds = float(parts.pop("seconds", "0").replace(",", "."))
    delta = relativedelta(**{k: int(v) for k, v in parts.items()}, seconds=int(seconds),
                          microseconds=int(round((seconds - int(seconds)) * 1_000_000)))
    return delta


def add_duration(start: datetime | date, duration: str | relativedelta):
    """start + duration, months clamped to the month's end."""
    delta = parse_duration(duration) if isinstance(duration, str) else duration
    return start + delta


def parse_instant(text: str, default_tz: tzinfo = timezone.utc) -> datetime:
    """ISO 8601 date or date-time → aware UTC datetime. A naive value is read in `default_tz`
    (the ARS's time zone); a bare date means its midnight there."""
    if isinstance(text, datetime):
        value = text
    elif isinstance(text, date):
        value = datetime(text.year, text.month, text.day)
    else:
        try:
            value = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
        except ValueError:
            raise DurationError(
                f"date ISO 8601 illisible : {text!r} (attendu par ex. 2027-03-01T00:00:00+01:00)"
            ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=default_tz)
    return value.astimezone(timezone.utc)


@dataclass(frozen=True)
class Cycle:
    """`R3/P1W`, `R/P1D`, `R2/2027-01-01T09:00:00+01:00/P1M`: repetitions (None = unbounded),
    an optional first instant, and the period."""
    repetitions: int | None
    start: datetime | None
    period: str

    def occurrence(self, index: int, anchor: datetime) -> datetime:
        """The instant of the index-th firing (0-based), counting from `start` or `anchor`."""
        delta = parse_duration(self.period)
        if self.start is not None:
            return self.start + delta * index
        return anchor + delta * (index + 1)


def parse_cycle(text: str, default_tz: tzinfo = timezone.utc) -> Cycle:
    parts = str(text).strip().split("/")
    head = parts[0].upper()
    if not head.startswith("R") or len(parts) not in (2, 3):
        raise DurationError(f"cycle ISO 8601 illisible : {text!r} (attendu par ex. R3/P1W)")
    count = head[1:]
    if count and not count.isdigit():
        raise DurationError(f"nombre de répétitions illisible dans {text!r}")
    repetitions = int(count) if count else None
    if len(parts) == 2:
        parse_duration(parts[1])
        return Cycle(repetitions, None, parts[1].strip().upper())
    if is_duration(parts[1]):
        raise DurationError(f"cycle {text!r} : seule la forme R/début/durée est acceptée")
    start = parse_instant(parts[1], default_tz)
    parse_duration(parts[2])
    return Cycle(repetitions, start, parts[2].strip().upper())


def describe_timer_value(kind: str, text: str) -> None:
    """Raise DurationError if a timer value of this kind ('timeDuration', 'timeDate',
    'timeCycle') cannot be read. `${…}` and Python expressions are checked at run time."""
    timer_source(kind, text)


# -- Camunda's cron form of timeCycle (Quartz: seconds first) -----------------------------
_QUARTZ_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_FIELD_MAX = {"second": 59, "minute": 59, "hour": 23, "day": 31, "month": 12}


def is_cron(text) -> bool:
    """`0 0 9 * * ?` (6 or 7 fields) — Camunda's cron form of timeCycle."""
    return isinstance(text, str) and len(text.split()) in (6, 7) and not text.strip().upper().startswith("R")


def _quartz_field(name: str, value: str) -> str:
    if value == "?":
        return "*"
    if any(ch in value for ch in "#W") or (value not in ("L",) and "L" in value.upper() and name != "month"):
        raise DurationError(f"cron : « {value} » ({name}) n'est pas pris en charge (#, W, nL)")
    if name == "day" and value.upper() == "L":
        return "last"
    parts = []
    for part in value.split(","):
        step = ""
        if "/" in part:
            part, step = part.split("/", 1)
            step = "/" + step
            if part not in ("*", "") and "-" not in part and name in _FIELD_MAX:
                part = f"{part}-{_FIELD_MAX[name]}"
        if name == "day_of_week":
            part = "-".join(_QUARTZ_DAYS[int(p) - 1] if p.isdigit() and 1 <= int(p) <= 7 else p.lower()
                            for p in part.split("-"))
        elif name == "month":
            part = part.lower()
        parts.append(part + step)
    return ",".join(parts)


@dataclass(frozen=True)
class CronSchedule:
    text: str
    zone: tzinfo

    def trigger(self):
        from apscheduler.triggers.cron import CronTrigger
        fields = self.text.split()
        names = ["second", "minute", "hour", "day", "month", "day_of_week", "year"][:len(fields)]
        try:
            return CronTrigger(timezone=self.zone, **{n: _quartz_field(n, f) for n, f in zip(names, fields)})
        except ValueError as err:
            raise DurationError(f"cron illisible : {self.text!r} ({err})") from None

    def next_after(self, instant: datetime) -> datetime | None:
        """The first occurrence strictly after `instant` (UTC), or None when the cron ends."""
        from datetime import timedelta
        start = instant.astimezone(self.zone) + timedelta(microseconds=1)
        nxt = self.trigger().get_next_fire_time(None, start)
        return nxt.astimezone(timezone.utc) if nxt is not None else None


def parse_cron(text: str, default_tz: tzinfo = timezone.utc) -> CronSchedule:
    schedule = CronSchedule(" ".join(str(text).split()), default_tz)
    schedule.trigger()  # validates
    return schedule


# -- timer text: Camunda literal, ${expression}, or SpiffArena's Python --------------------
def timer_source(kind: str, text: str) -> tuple[str, str]:
    """How a timer's text is read: ("literal", value) for Camunda's literal (`P3D`,
    `R3/PT1H`, `0 0 9 * * ?`, an ISO date) or SpiffArena's quoted Python string (`"P3D"`);
    ("expression", text) for `${…}`; ("python", text) for SpiffArena's Python expression.
    Raises DurationError when it is none of these."""
    import ast
    value = (text or "").strip()
    if not value:
        raise DurationError(f"{kind} vide")
    if value.startswith(("${", "#{")):
        if not value.endswith("}"):
            raise DurationError(f"expression {value!r} non fermée")
        return "expression", value
    try:
        _check_literal(kind, value)
        return "literal", value
    except DurationError as err:
        literal_error = err
    try:
        node = ast.parse(value, mode="eval")
    except SyntaxError:
        raise literal_error from None
    if isinstance(node.body, ast.Constant) and isinstance(node.body.value, str):
        _check_literal(kind, node.body.value.strip())
        return "literal", node.body.value.strip()
    if isinstance(node.body, ast.Constant) or (isinstance(node.body, ast.Name) and node.body.id[:1] in "PR"
                                               and node.body.id[1:2].isdigit()):
        raise literal_error  # `P3X`: a mistyped literal, not an expression
    return "python", value


def _check_literal(kind: str, value: str) -> None:
    if kind == "timeDuration":
        parse_duration(value)
    elif kind == "timeDate":
        parse_instant(value)
    elif kind == "timeCycle":
        parse_cron(value) if is_cron(value) else parse_cycle(value)
    else:
        raise DurationError(f"type de minuterie inconnu {kind!r}")
