"""French legal deadlines ("délais") as users of the ARS expect them to be counted.

Rules (Code de procédure civile art. 640-642, applied by case law to administrative
deadlines):

* the deadline runs from a start date (e.g. publication in the RAA); the starting day
  does not count, so `start + N days` is the last day;
* months and years end on the day with the same number, clamped to the month's end
  (30 November + P3M → 28 February) — `engine.durations.parse_duration` does the clamping;
  a combined delay (P1M15D) adds years/months first, then weeks/days;
* the deadline ends at 24:00 local time of its last day, so it *expires* at 00:00 of the
  next day in the territory's time zone (the instant a tacit avis is acquired);
* extension policy (on by default): a last day on a Saturday, Sunday, public holiday or a
  day off added by the ARS moves to the next working day;
* `P0D` ends on the start day itself (then the extension policy applies as usual).

Territories: every mainland département, Alsace-Moselle (57, 67, 68: Vendredi saint and
26 December), the overseas départements and the collectivities the `holidays` package
covers, and the 18 ARS regions. A region resolves to its calendar: overseas regions to
their département, mainland regions to the mainland calendar — including Grand Est, whose
Alsace-Moselle holidays only apply when the département (57, 67, 68) is given.

Suspension (CRPA L114-5): suspended on day S and resumed on day R, the days S … R-1 do
not count; the days left when the deadline was suspended run again from R. If the
deadline was suspended while only the postponed last day remained (S after the end
before extension), it ends on R. The extension policy is re-applied to the new end.
"""
from __future__ import annotations

import json
import os
import re
import threading
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from types import MappingProxyType
from typing import Mapping
from zoneinfo import ZoneInfo

import holidays
from arsflow.engine.time.clock import ensure_utc
from arsflow.engine.time.durations import DurationError, parse_duration

ENV_EXTRA_DAYS_OFF = "ARSFLOW_EXTRA_DAYS_OFF"
DEFAULT_TERRITORY = "75"
DEFAULT_EXTRA_LABEL = "jour chômé propre à l'ARS"
_MAX_EXTENSION_DAYS = 366


class LegalCalendarError(ValueError):
    """Bad input to the legal calendar; the message (in French) says what and why."""


# --------------------------------------------------------------------------- French dates

_WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre")


def french_date(day: date) -> str:
    """`lundi 1er mars 2027` — written by hand so the result never depends on the locale."""
    if isinstance(day, datetime):
        day = day.date()
    if not isinstance(day, date):
        raise LegalCalendarError(f"date attendue, reçu {day!r}")
    number = "1er" if day.day == 1 else str(day.day)
    return f"{_WEEKDAYS[day.weekday()]} {number} {_MONTHS[day.month - 1]} {day.year}"


def _french_time(moment: datetime) -> str:
    return f"{moment.hour} h {moment.minute:02d}"


# --------------------------------------------------------------------------- territories

@dataclass(frozen=True)
class Territory:
    """One calendar: a holiday list (`subdivision` of `holidays.France`, None = mainland)
    and an IANA time zone. `region` is the ARS region whose extra days off apply too."""
    code: str
    name: str
    timezone: str
    subdivision: str | None = None
    region: str | None = None

    @property
    def tzinfo(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def label(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def calendar_name(self) -> str:
        """Which list of public holidays applies, in French (for explanations)."""
        if self.subdivision is None:
            return "jours fériés de métropole"
        if self.subdivision in ("57", "6AE"):
            return "jours fériés d'Alsace-Moselle"
        return f"jours fériés de {_SUBDIVISIONS[self.subdivision][1]}"


_PARIS = "Europe/Paris"

# Mainland départements: code → name; region → départements (13 mainland ARS regions).
_DEPARTMENT_NAMES = {
    "01": "Ain", "02": "Aisne", "03": "Allier", "04": "Alpes-de-Haute-Provence",
    "05": "Hautes-Alpes", "06": "Alpes-Maritimes", "07": "Ardèche", "08": "Ardennes",
    "09": "Ariège", "10": "Aube", "11": "Aude", "12": "Aveyron", "13": "Bouches-du-Rhône",
    "14": "Calvados", "15": "Cantal", "16": "Charente", "17": "Charente-Maritime",
    "18": "Cher", "19": "Corrèze", "2A": "Corse-du-Sud", "2B": "Haute-Corse",
    "21": "Côte-d'Or", "22": "Côtes-d'Armor", "23": "Creuse", "24": "Dordogne", "25": "Doubs",
    "26": "Drôme", "27": "Eure", "28": "Eure-et-Loir", "29": "Finistère", "30": "Gard",
    "31": "Haute-Garonne", "32": "Gers", "33": "Gironde", "34": "Hérault",
    "35": "Ille-et-Vilaine", "36": "Indre", "37": "Indre-et-Loire", "38": "Isère",
    "39": "Jura", "40": "Landes", "41": "Loir-et-Cher", "42": "Loire", "43": "Haute-Loire",
    "44": "Loire-Atlantique", "45": "Loiret", "46": "Lot", "47": "Lot-et-Garonne",
    "48": "Lozère", "49": "Maine-et-Loire", "50": "Manche", "51": "Marne",
    "52": "Haute-Marne", "53": "Mayenne", "54": "Meurthe-et-Moselle", "55": "Meuse",
    "56": "Morbihan", "57": "Moselle", "58": "Nièvre", "59": "Nord", "60": "Oise",
    "61": "Orne", "62": "Pas-de-Calais", "63": "Puy-de-Dôme", "64": "Pyrénées-Atlantiques",
    "65": "Hautes-Pyrénées", "66": "Pyrénées-Orientales", "67": "Bas-Rhin", "68": "Haut-Rhin",
    "69": "Rhône", "70": "Haute-Saône", "71": "Saône-et-Loire", "72": "Sarthe",
    "73": "Savoie", "74": "Haute-Savoie", "75": "Paris", "76": "Seine-Maritime",
    "77": "Seine-et-Marne", "78": "Yvelines", "79": "Deux-Sèvres", "80": "Somme",
    "81": "Tarn", "82": "Tarn-et-Garonne", "83": "Var", "84": "Vaucluse", "85": "Vendée",
    "86": "Vienne", "87": "Haute-Vienne", "88": "Vosges", "89": "Yonne",
    "90": "Territoire de Belfort", "91": "Essonne", "92": "Hauts-de-Seine",
    "93": "Seine-Saint-Denis", "94": "Val-de-Marne", "95": "Val-d'Oise",
}

# ARS region code (ISO 3166-2:FR) → (name, départements, extra aliases).
_MAINLAND_REGIONS = {
    "ARA": ("Auvergne-Rhône-Alpes", "01 03 07 15 26 38 42 43 63 69 73 74", ("AURA",)),
    "BFC": ("Bourgogne-Franche-Comté", "21 25 39 58 70 71 89 90", ()),
    "BRE": ("Bretagne", "22 29 35 56", ()),
    "CVL": ("Centre-Val de Loire", "18 28 36 37 41 45", ("centre",)),
    "COR": ("Corse", "2A 2B", ("20",)),
    "GES": ("Grand Est", "08 10 51 52 54 55 57 67 68 88", ("GE",)),
    "HDF": ("Hauts-de-France", "02 59 60 62 80", ()),
    "IDF": ("Île-de-France", "75 77 78 91 92 93 94 95", ()),
    "NOR": ("Normandie", "14 27 50 61 76", ()),
    "NAQ": ("Nouvelle-Aquitaine", "16 17 19 23 24 33 40 47 64 79 86 87", ("NA",)),
    "OCC": ("Occitanie", "09 11 12 30 31 32 34 46 48 65 66 81 82", ()),
    "PDL": ("Pays de la Loire", "44 49 53 72 85", ()),
    "PAC": ("Provence-Alpes-Côte d'Azur", "04 05 06 13 83 84", ("PACA", "sud")),
}

# holidays.France subdivision → (territory code, name, time zone, ARS region, aliases).
# The five overseas ARS regions resolve to their département; Saint-Barthélemy and
# Saint-Martin depend on the ARS of Guadeloupe; the Pacific collectivities, Saint-Pierre-
# et-Miquelon and the TAAF have no ARS. Polynesia spans three zones: Tahiti's is used.
_SUBDIVISIONS = {
    "57": ("57", "Moselle", _PARIS, "GES", ()),
    "6AE": ("6AE", "Alsace (Bas-Rhin, Haut-Rhin)", _PARIS, "GES", ()),
    "971": ("971", "Guadeloupe", "America/Guadeloupe", "971", ("GLP",)),
    "972": ("972", "Martinique", "America/Martinique", "972", ("MTQ",)),
    "973": ("973", "Guyane", "America/Cayenne", "973", ("GF", "GUF", "Guyane française")),
    "974": ("974", "La Réunion", "Indian/Reunion", "974", ("REU", "Réunion")),
    "976": ("976", "Mayotte", "Indian/Mayotte", "976", ("MYT",)),
    "PM": ("PM", "Saint-Pierre-et-Miquelon", "America/Miquelon", None, ("975", "SPM")),
    "BL": ("BL", "Saint-Barthélemy", "America/St_Barthelemy", "971", ("977",)),
    "MF": ("MF", "Saint-Martin", "America/Marigot", "971", ("978",)),
    "TF": ("TF", "Terres australes et antarctiques françaises", "Indian/Kerguelen", None,
           ("984", "TAAF")),
    "WF": ("WF", "Wallis-et-Futuna", "Pacific/Wallis", None, ("986",)),
    "PF": ("PF", "Polynésie française", "Pacific/Tahiti", None, ("987",)),
    "NC": ("NC", "Nouvelle-Calédonie", "Pacific/Noumea", None, ("988",)),
}
_SUPPORTED_SUBDIVISIONS = frozenset(holidays.France.subdivisions)


def _normalize(text: str) -> str:
    """Case, accents, spaces and punctuation do not matter: `Île-de-France` = `ile de france`;
    a leading `ARS`, `région` or `département` is ignored; `1` = `01`."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    key = re.sub(r"[^a-z0-9]+", "-", ascii_text.casefold()).strip("-")
    key = re.sub(r"^(ars|region|departement)-", "", key)
    return "0" + key if re.fullmatch(r"\d", key) else key


def _build_index() -> tuple[dict[str, Territory], tuple[Territory, ...]]:
    index: dict[str, Territory] = {}

    def add(alias: str, territory: Territory) -> None:
        key = _normalize(alias)
        if index.setdefault(key, territory) != territory:  # a table error, not user input
            raise RuntimeError(f"alias de territoire ambigu : {alias!r}")

    by_subdivision: dict[str, Territory] = {}
    for subdivision, (code, name, zone, region, aliases) in _SUBDIVISIONS.items():
        if subdivision not in _SUPPORTED_SUBDIVISIONS:
            continue  # older `holidays`: the collectivity is simply not offered
        territory = Territory(code, name, zone, subdivision, region)
        by_subdivision[subdivision] = territory
        for alias in (code, name, *aliases):
            add(alias, territory)
    for alias, subdivision in getattr(holidays.France, "subdivisions_aliases", {}).items():
        if subdivision in by_subdivision:
            add(alias, by_subdivision[subdivision])

    region_of = {dep: region for region, (_, deps, _) in _MAINLAND_REGIONS.items()
                 for dep in deps.split()}
    for code, name in _DEPARTMENT_NAMES.items():
        # Bas-Rhin and Haut-Rhin keep their own code but use the package's Alsace list
        # (`holidays` raises for subdivisions 67 and 68).
        subdivision = {"57": "57", "67": "6AE", "68": "6AE"}.get(code)
        territory = Territory(code, name, _PARIS, subdivision, region_of[code])
        if code == "57" and "57" in by_subdivision:
            territory = by_subdivision["57"]
        add(code, territory)
        add(name, territory)
    for code, (name, _, aliases) in _MAINLAND_REGIONS.items():
        territory = Territory(code, name, _PARIS, None, code)
        for alias in (code, name, *aliases):
            add(alias, territory)
    territories = tuple(dict.fromkeys(index.values()))
    return index, territories


_INDEX, _TERRITORIES = _build_index()
_EXAMPLE_CODES = "75, 2A, 57, 67, 68, 971, 972, 973, 974, 976, PF, NC, IDF, grand-est, reunion"


def territories() -> tuple[Territory, ...]:
    """Every distinct territory the calendar knows (départements, collectivities, regions)."""
    return _TERRITORIES


def resolve_territory(code: str | Territory | None) -> Territory:
    """Département code, `holidays` subdivision code or alias, or ARS region name/code →
    Territory. None or "" → mainland (Paris, 75). Grand Est as a region → mainland rules:
    give 57, 67 or 68 for the Alsace-Moselle holidays."""
    if isinstance(code, Territory):
        return code
    if code is None or (isinstance(code, str) and not code.strip()):
        code = DEFAULT_TERRITORY
    if not isinstance(code, str):
        raise LegalCalendarError(
            f"territoire attendu sous forme de code (ex. {_EXAMPLE_CODES}), reçu {code!r}")
    territory = _INDEX.get(_normalize(code))
    if territory is None:
        raise LegalCalendarError(
            f"territoire inconnu : {code!r}. Codes acceptés, par exemple : {_EXAMPLE_CODES} "
            "(numéro de département, code de collectivité d'outre-mer ou région ARS).")
    return territory


# --------------------------------------------------------------------------- days off

@lru_cache(maxsize=1024)
def _public_holidays(subdivision: str | None, year: int) -> Mapping[date, str]:
    """One `holidays` computation per (calendar, year): deadlines sit in engine hot paths."""
    kwargs = {"subdiv": subdivision} if subdivision else {}
    calendar = holidays.France(years=year, language="fr", **kwargs)
    return MappingProxyType({day: name.replace("; ", " et ") for day, name in calendar.items()})


def public_holiday(day: date, territory: str | Territory | None = None) -> str | None:
    """French name of the public holiday on `day` in the territory, or None."""
    return _public_holidays(resolve_territory(territory).subdivision, day.year).get(day)


_registry: dict[str, dict[date, str]] = {}
_registry_lock = threading.Lock()
_env_cache: dict[str, object] = {"key": None, "days": {}}


def _parse_day(value, where: str) -> date:
    if isinstance(value, datetime):
        raise LegalCalendarError(f"{where} : date attendue (AAAA-MM-JJ), pas un horodatage {value!r}")
    if isinstance(value, date):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise LegalCalendarError(f"{where} : date inexistante {value!r}") from None
    raise LegalCalendarError(f"{where} : date au format AAAA-MM-JJ attendue, reçu {value!r}")


def _parse_days(values, where: str) -> dict[date, str]:
    """A list of dates (ARS default label) or a mapping date → label."""
    if isinstance(values, (str, bytes, date)) or values is None:
        raise LegalCalendarError(f"{where} : liste de dates attendue, reçu {values!r}")
    if isinstance(values, Mapping):
        items = values.items()
    else:
        try:
            items = [(value, DEFAULT_EXTRA_LABEL) for value in values]
        except TypeError:
            raise LegalCalendarError(f"{where} : liste de dates attendue, reçu {values!r}") from None
    days: dict[date, str] = {}
    for value, label in items:
        if not isinstance(label, str) or not label.strip():
            raise LegalCalendarError(f"{where} : libellé vide ou invalide pour {value!r}")
        days[_parse_day(value, where)] = label.strip()
    return days


def register_extra_days_off(territory: str | Territory | None, dates, label: str | None = None
                            ) -> None:
    """Days off an ARS adds on top of public holidays. Registered on a region code
    (e.g. `IDF`) they apply to all its départements; on a département, to it only."""
    code = resolve_territory(territory).code
    days = _parse_days(dates, f"jours chômés de {code}")
    if label is not None:
        days = dict.fromkeys(days, label)
    with _registry_lock:
        _registry.setdefault(code, {}).update(days)


def clear_extra_days_off(territory: str | Territory | None = None) -> None:
    """Forget registered days off (all territories, or one). The env-var file is untouched."""
    with _registry_lock:
        if territory is None:
            _registry.clear()
        else:
            _registry.pop(resolve_territory(territory).code, None)


def _env_days_off() -> dict[str, dict[date, str]]:
    """The JSON file named by ARSFLOW_EXTRA_DAYS_OFF, re-read only when it changes."""
    path = os.environ.get(ENV_EXTRA_DAYS_OFF, "").strip()
    if not path:
        return {}
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise LegalCalendarError(
            f"{ENV_EXTRA_DAYS_OFF}={path!r} : fichier des jours chômés introuvable ({exc.strerror})"
        ) from None
    key = (path, stat.st_mtime_ns, stat.st_size)
    if _env_cache["key"] == key:
        return _env_cache["days"]  # type: ignore[return-value]
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise LegalCalendarError(
            f"{ENV_EXTRA_DAYS_OFF}={path!r} : JSON illisible ({exc})") from None
    if not isinstance(data, dict):
        raise LegalCalendarError(
            f"{path} : objet JSON attendu, par ex. {{\"974\": [\"2027-05-02\"]}}")
    days: dict[str, dict[date, str]] = {}
    for raw_code, values in data.items():
        try:
            code = resolve_territory(raw_code).code
        except LegalCalendarError as exc:
            raise LegalCalendarError(f"{path} : clé {raw_code!r} : {exc}") from None
        days.setdefault(code, {}).update(_parse_days(values, f"{path}, territoire {raw_code!r}"))
    _env_cache.update(key=key, days=days)
    return days


def extra_days_off_for(territory: str | Territory | None = None, explicit=()) -> dict[date, str]:
    """ARS days off that apply to the territory: registry, env-var file (both for the
    territory's code and its ARS region) and `explicit` (dates or date → label)."""
    terr = resolve_territory(territory)
    codes = {terr.code, terr.region} - {None}
    merged: dict[date, str] = {}
    sources = (_env_days_off(), _registry)
    for source in sources:
        for code in codes:
            merged.update(source.get(code, {}))
    if explicit:
        merged.update(_parse_days(explicit, "extra_days_off"))
    return merged


def _day_off_reason(day: date, territory: Territory, extra: Mapping[date, str]) -> str | None:
    """Why `day` is not a working day (holiday name, ARS label or weekday), else None."""
    names = [name for name in (_public_holidays(territory.subdivision, day.year).get(day),
                               extra.get(day)) if name]
    if names:
        return " et ".join(names)
    if day.weekday() >= 5:
        return _WEEKDAYS[day.weekday()]
    return None


def _local_date(value, territory: Territory, what: str = "date") -> date:
    """date, ISO string or datetime → the local date in the territory. A naive datetime is
    taken as UTC, arsflow's storage convention (engine.clock.ensure_utc)."""
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            try:
                return date.fromisoformat(text)
            except ValueError:
                raise LegalCalendarError(f"{what} inexistante : {value!r}") from None
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise LegalCalendarError(
                f"{what} illisible : {value!r} (attendu AAAA-MM-JJ ou horodatage ISO 8601)"
            ) from None
    if isinstance(value, datetime):
        return ensure_utc(value).astimezone(territory.tzinfo).date()
    if isinstance(value, date):
        return value
    raise LegalCalendarError(
        f"{what} attendue (date, « AAAA-MM-JJ » ou datetime avec fuseau), reçu {value!r}")


def is_working_day(day, territory: str | Territory | None = None, extra_days_off=()) -> bool:
    """Not a Saturday, Sunday, public holiday of the territory or ARS day off."""
    terr = resolve_territory(territory)
    extra = extra_days_off_for(terr, extra_days_off)
    return _day_off_reason(_local_date(day, terr), terr, extra) is None


def days_before(day, n: int, territory: str | Territory | None = None, working: bool = False,
                extra_days_off=()) -> date:
    """The date n calendar days before `day`, or (working=True) the n-th working day before
    it, `day` itself not counted — for reminders ("5 jours ouvrés avant l'échéance")."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise LegalCalendarError(f"nombre de jours positif ou nul attendu, reçu {n!r}")
    terr = resolve_territory(territory)
    current = _local_date(day, terr)
    if not working:
        return current - timedelta(days=n)
    extra = extra_days_off_for(terr, extra_days_off)
    counted = 0
    while counted < n:
        current -= timedelta(days=1)
        if _day_off_reason(current, terr, extra) is None:
            counted += 1
    return current


def working_days_between(a, b, territory: str | Territory | None = None, extra_days_off=()
                         ) -> int:
    """Working days d with a < d ≤ b: like a deadline, the first day does not count and the
    last does. Negative when b is before a; 0 when a == b."""
    terr = resolve_territory(territory)
    first, last = _local_date(a, terr), _local_date(b, terr)
    sign = 1
    if last < first:
        first, last, sign = last, first, -1
    extra = extra_days_off_for(terr, extra_days_off)
    count = sum(1 for offset in range(1, (last - first).days + 1)
                if _day_off_reason(first + timedelta(days=offset), terr, extra) is None)
    return sign * count


# --------------------------------------------------------------------------- deadlines

@dataclass(frozen=True)
class Extension:
    """The last day `from_day` was a day off: the deadline moves to `to_day`; one reason
    per skipped day (from_day … to_day - 1)."""
    from_day: date
    to_day: date
    reasons: tuple[str, ...]

    def describe(self) -> str:
        return f"{french_date(self.from_day)} → {french_date(self.to_day)} ({', '.join(self.reasons)})"

    def to_json(self) -> dict:
        return {"from": self.from_day.isoformat(), "to": self.to_day.isoformat(),
                "reasons": list(self.reasons)}


@dataclass(frozen=True)
class Suspension:
    """Suspended on `suspended_on`, resumed on `resumed_on` (None: still suspended). The days
    suspended_on … resumed_on - 1 do not count."""
    suspended_on: date
    resumed_on: date | None = None

    @property
    def days(self) -> int | None:
        return None if self.resumed_on is None else (self.resumed_on - self.suspended_on).days

    def to_json(self) -> dict:
        return {"suspended_on": self.suspended_on.isoformat(),
                "resumed_on": self.resumed_on.isoformat() if self.resumed_on else None,
                "days": self.days}


_DELAY_UNITS = {"Y": ("an", "ans"), "M": ("mois", "mois"), "W": ("semaine", "semaines"),
                "D": ("jour", "jours")}


def _describe_delay(delay: str) -> str:
    parts = [f"{int(n)} {_DELAY_UNITS[unit][0 if int(n) <= 1 else 1]}"
             for n, unit in re.findall(r"(\d+)([YMWD])", delay)]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " et " + parts[-1]


def _parse_delay(delay) -> tuple[str, object]:
    if not isinstance(delay, str) or not delay.strip():
        raise LegalCalendarError(f"délai ISO 8601 attendu (ex. P3M, P2M, P15D), reçu {delay!r}")
    text = delay.strip().upper()
    if text.startswith("-"):
        raise LegalCalendarError(f"délai négatif refusé : {delay!r}")
    if "T" in text:
        raise LegalCalendarError(
            f"délai {delay!r} : un délai légal se compte en jours, semaines, mois ou années, "
            "pas en heures ni en minutes")
    try:
        return text, parse_duration(text)
    except DurationError as exc:
        raise LegalCalendarError(f"délai illisible : {exc}") from None


def _extend(day: date, territory: Territory, extra: Mapping[date, str]
            ) -> tuple[date, Extension | None]:
    """Next working day on or after `day`, with the reason for each day skipped."""
    reasons = []
    current = day
    while (reason := _day_off_reason(current, territory, extra)) is not None:
        reasons.append(reason)
        if len(reasons) > _MAX_EXTENSION_DAYS:
            raise LegalCalendarError(
                f"aucun jour ouvré dans l'année qui suit le {french_date(day)} "
                f"({territory.label}) : vérifiez les jours chômés ajoutés")
        current += timedelta(days=1)
    return current, (Extension(day, current, tuple(reasons)) if reasons else None)


def _expiry(end: date, territory: Territory) -> datetime:
    """24:00 of the last day = 00:00 of the next day, local time, as an aware UTC instant."""
    local = datetime.combine(end + timedelta(days=1), time(0), tzinfo=territory.tzinfo)
    return local.astimezone(timezone.utc)


_ZONE_PHRASES = {"Europe/Paris": "heure de Paris"}


def zone_phrase(territory: "Territory") -> str:
    """« heure de Paris », « heure de La Réunion » — never an offset or « UTC »."""
    return _ZONE_PHRASES.get(territory.timezone) or f"heure de {territory.name}"


def french_deadline(expires_at: datetime, territory: str | "Territory" | None = None) -> str:
    """The instant a délai expires as staff read it: « lundi 1er mars 2027 à 24 h (heure de Paris) »
    (00:00 local is written as 24 h of the day before)."""
    terr = resolve_territory(territory)
    local = ensure_utc(expires_at).astimezone(terr.tzinfo)
    if (local.hour, local.minute, local.second) == (0, 0, 0):
        return f"{french_date(local.date() - timedelta(days=1))} à 24 h ({zone_phrase(terr)})"
    return f"{french_date(local.date())} à {_french_time(local)} ({zone_phrase(terr)})"


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Deadline:
    """A computed délai. Immutable: `suspend`/`resume` return a new Deadline.

    `base_end` is the end before the extension policy (nominal end moved by the
    suspensions). While suspended, `end` and `expires_at` are None: nothing can expire.
    """
    start: date
    delay: str
    territory: Territory
    extension: bool
    nominal_end: date
    base_end: date
    end: date | None
    expires_at: datetime | None
    extensions: tuple[Extension, ...]
    suspensions: tuple[Suspension, ...]
    extra_days_off: tuple[tuple[date, str], ...] = ()

    # -- construction ---------------------------------------------------------------
    @classmethod
    def _build(cls, start: date, delay: str, territory: Territory, extension: bool,
               explicit: tuple[tuple[date, str], ...], suspensions: tuple[Suspension, ...]
               ) -> "Deadline":
        delay_text, delta = _parse_delay(delay)
        extra = extra_days_off_for(territory, dict(explicit))
        try:
            nominal = start + delta
        except (OverflowError, ValueError):
            raise LegalCalendarError(f"délai trop long : {delay!r} à partir du {start.isoformat()} dépasse "
                                     "l'an 9999") from None

        def finish(base: date) -> tuple[date, Extension | None]:
            return _extend(base, territory, extra) if extension else (base, None)

        base = nominal
        end, step = finish(base)
        previous_resume = start
        for index, suspension in enumerate(suspensions):
            on, back = suspension.suspended_on, suspension.resumed_on
            if on < previous_resume:
                raise LegalCalendarError(
                    f"suspension au {french_date(on)} antérieure au départ du délai ou à la "
                    f"reprise précédente ({french_date(previous_resume)})")
            if on > end:
                raise LegalCalendarError(
                    f"impossible de suspendre le {french_date(on)} : le délai a expiré le "
                    f"{french_date(end)} à 24 h")
            if back is None:
                if index != len(suspensions) - 1:
                    raise LegalCalendarError("seule la dernière suspension peut être en cours")
                return cls(start, delay_text, territory, extension, nominal, base, None, None,
                           (), suspensions, explicit)
            if back < on:
                raise LegalCalendarError(
                    f"reprise au {french_date(back)} antérieure à la suspension du {french_date(on)}")
            base = max(base + (back - on), back)
            end, step = finish(base)
            previous_resume = back
        return cls(start, delay_text, territory, extension, nominal, base, end,
                   _expiry(end, territory), (step,) if step else (), suspensions, explicit)

    # -- state ----------------------------------------------------------------------
    @property
    def extended(self) -> bool:
        return bool(self.extensions)

    @property
    def suspended(self) -> bool:
        return bool(self.suspensions) and self.suspensions[-1].resumed_on is None

    @property
    def expires_at_local(self) -> datetime | None:
        return None if self.expires_at is None else self.expires_at.astimezone(self.territory.tzinfo)

    def is_expired(self, now: datetime) -> bool:
        """True once the instant `now` (naive = UTC) has reached the expiry."""
        return self.expires_at is not None and ensure_utc(now) >= self.expires_at

    # -- suspension -----------------------------------------------------------------
    def suspend(self, on) -> "Deadline":
        """Stop the clock from day `on` (that day no longer counts)."""
        if self.suspended:
            raise LegalCalendarError(
                f"délai déjà suspendu depuis le {french_date(self.suspensions[-1].suspended_on)}")
        day = _local_date(on, self.territory, "date de suspension")
        return self._build(self.start, self.delay, self.territory, self.extension,
                           self.extra_days_off, self.suspensions + (Suspension(day),))

    def resume(self, on) -> "Deadline":
        """Restart the clock on day `on` (that day counts again) for the days left."""
        if not self.suspended:
            raise LegalCalendarError("reprise impossible : le délai n'est pas suspendu")
        day = _local_date(on, self.territory, "date de reprise")
        last = Suspension(self.suspensions[-1].suspended_on, day)
        return self._build(self.start, self.delay, self.territory, self.extension,
                           self.extra_days_off, self.suspensions[:-1] + (last,))

    # -- explanation ----------------------------------------------------------------
    def explanation(self, basis: str | None = None) -> str:
        """How the end was reached, in French, one step per line; `basis` (the rule and its
        source, e.g. why this délai is not extended) goes before the end."""
        terr = self.territory
        lines = [
            f"Délai de {_describe_delay(self.delay)} ({self.delay}) à compter du "
            f"{french_date(self.start)} ; le jour de départ ne compte pas.",
            f"Territoire : {terr.label}, {terr.calendar_name}, fuseau horaire {terr.timezone}.",
        ]
        nominal = f"Échéance nominale : {french_date(self.nominal_end)} à 24 h"
        if self.nominal_end == self.start:
            nominal += " (délai nul : il se termine le jour de départ)"
        if re.fullmatch(r"P(\d+Y)?(\d+M)?", self.delay) and self.nominal_end.day != self.start.day:
            nominal += (f" (pas de {self.start.day} {_MONTHS[self.nominal_end.month - 1]} : "
                        "dernier jour du mois)")
        lines.append(nominal + ".")
        for suspension in self.suspensions:
            if suspension.resumed_on is None:
                left = (self.base_end - suspension.suspended_on).days + 1
                lines.append(
                    f"Délai suspendu depuis le {french_date(suspension.suspended_on)} : "
                    f"{max(left, 1)} jour(s) restant(s) à courir à compter de la reprise ; "
                    "l'échéance sera recalculée à la reprise.")
            else:
                lines.append(
                    f"Suspension du {french_date(suspension.suspended_on)} à la reprise le "
                    f"{french_date(suspension.resumed_on)} : {suspension.days} jour(s) non "
                    "décompté(s), les jours restants courent à nouveau à la reprise.")
        if self.suspended:
            return "\n".join(lines)
        if any(s.resumed_on for s in self.suspensions):
            lines.append(f"Échéance après suspension(s) : {french_date(self.base_end)} à 24 h.")
        reason = _day_off_reason(self.base_end, terr,
                                 extra_days_off_for(terr, dict(self.extra_days_off)))
        if not self.extension:
            note = (f" ; le {french_date(self.base_end)} est pourtant non ouvré ({reason})"
                    if reason else "")
            lines.append("Prorogation désactivée pour ce délai : il n'est pas reporté au "
                         f"jour ouvré suivant{note}.")
        elif self.extensions:
            for step in self.extensions:
                lines.append("Prorogation au premier jour ouvré suivant : " + step.describe() + ".")
        else:
            lines.append("Pas de prorogation : l'échéance tombe un jour ouvré.")
        if basis:
            lines.append(basis)
        local = self.expires_at_local
        lines.append(
            f"Fin du délai : {french_date(self.end)} à 24 h ({zone_phrase(terr)}). Il expire le "
            f"{french_date(local.date())} à {_french_time(local)}.")
        return "\n".join(lines)

    # -- serialisation --------------------------------------------------------------
    def to_json(self) -> dict:
        return {
            "start": self.start.isoformat(),
            "delay": self.delay,
            "territory": self.territory.code,
            "territory_name": self.territory.name,
            "timezone": self.territory.timezone,
            "extension": self.extension,
            "nominal_end": self.nominal_end.isoformat(),
            "end": self.end.isoformat() if self.end else None,
            "expires_at": _utc_text(self.expires_at) if self.expires_at else None,
            "expires_at_local": self.expires_at_local.isoformat() if self.expires_at else None,
            "extended": self.extended,
            "extensions": [step.to_json() for step in self.extensions],
            "suspended": self.suspended,
            "suspensions": [s.to_json() for s in self.suspensions],
            "extra_days_off": {day.isoformat(): label for day, label in self.extra_days_off},
            "explanation": self.explanation(),
        }

    @classmethod
    def from_json(cls, data: Mapping) -> "Deadline":
        """Rebuild from `to_json()` output (recomputed: holidays and ARS days may have changed)."""
        if not isinstance(data, Mapping):
            raise LegalCalendarError(f"délai sérialisé attendu (objet JSON), reçu {data!r}")
        try:
            deadline = compute_deadline(data["start"], data["delay"], data.get("territory"),
                                        data.get("extension", True), data.get("extra_days_off") or ())
            suspensions = tuple(
                Suspension(_parse_day(s["suspended_on"], "suspension"),
                           _parse_day(s["resumed_on"], "reprise") if s.get("resumed_on") else None)
                for s in data.get("suspensions") or ())
        except (KeyError, TypeError) as exc:
            raise LegalCalendarError(f"délai sérialisé incomplet ou invalide : {exc!r}") from None
        if not suspensions:
            return deadline
        return cls._build(deadline.start, deadline.delay, deadline.territory, deadline.extension,
                          deadline.extra_days_off, suspensions)


def compute_deadline(start, delay: str, territory: str | Territory | None = None,
                     extension: bool = True, extra_days_off=()) -> Deadline:
    """The délai of `delay` (ISO 8601) from `start` (date, `YYYY-MM-DD`, or datetime → its
    local date) in `territory`; `extension` moves an end on a day off to the next working day."""
    terr = resolve_territory(territory)
    if not isinstance(extension, bool):
        raise LegalCalendarError(f"extension : booléen attendu (True/False), reçu {extension!r}")
    start_day = _local_date(start, terr, "date de départ")
    explicit = tuple(sorted(_parse_days(extra_days_off, "extra_days_off").items())) \
        if extra_days_off else ()
    return Deadline._build(start_day, delay, terr, extension, explicit, ())


def legal_deadline_expiry(start, delay: str, territory: str | Territory | None = None,
                          extension: bool = True, extra_days_off=()) -> datetime:
    """The aware UTC instant the délai expires (a tacit avis is acquired)."""
    return compute_deadline(start, delay, territory, extension, extra_days_off).expires_at
