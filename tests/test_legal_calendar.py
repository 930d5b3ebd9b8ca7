"""French legal deadlines: worked examples of domain.md, territories, extension policy,
ARS days off, suspension, bad input and properties over 2026-2040."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
import pytest
from arsflow.engine.time import legal_calendar as lc
from arsflow.engine.time.legal_calendar import (
    Deadline,
    LegalCalendarError,
    clear_extra_days_off,
    compute_deadline,
    days_before,
    french_date,
    is_working_day,
    legal_deadline_expiry,
    register_extra_days_off,
    resolve_territory,
    working_days_between,
)
from hypothesis import given, settings
from hypothesis import strategies as st

UTC = timezone.utc


@pytest.fixture(autouse=True)
def _clean_days_off(monkeypatch):
    monkeypatch.delenv(lc.ENV_EXTRA_DAYS_OFF, raising=False)
    clear_extra_days_off()
    yield
    clear_extra_days_off()


# --------------------------------------------------------------------- domain.md examples

def test_mainland_three_months_ending_on_sunday_is_extended_to_monday():
    d = compute_deadline(date(2026, 11, 30), "P3M")
    assert d.nominal_end == date(2027, 2, 28)
    assert d.end == date(2027, 3, 1)
    assert d.expires_at == datetime(2027, 3, 1, 23, 0, tzinfo=UTC)
    assert d.expires_at.utcoffset() == timedelta(0)
    assert d.expires_at_local == datetime(2027, 3, 2, 0, 0, tzinfo=ZoneInfo("Europe/Paris"))
    assert d.extended and len(d.extensions) == 1
    step = d.extensions[0]
    assert (step.from_day, step.to_day, step.reasons) == (date(2027, 2, 28), date(2027, 3, 1),
                                                          ("dimanche",))
    assert "dimanche 28 février 2027 → lundi 1er mars 2027 (dimanche)" in d.explanation()


def test_moselle_good_friday_and_easter_monday_push_to_tuesday():
    mainland = compute_deadline("2027-01-26", "P2M")
    moselle = compute_deadline("2027-01-26", "P2M", "57")
    assert mainland.nominal_end == mainland.end == date(2027, 3, 26)
    assert not mainland.extended
    assert moselle.end == date(2027, 3, 30)
    assert moselle.extensions[0].reasons == ("Vendredi saint", "samedi", "dimanche",
                                             "Lundi de Pâques")
    # 31 March 00:00 in Paris is already summer time (UTC+2).
    assert moselle.expires_at == datetime(2027, 3, 30, 22, 0, tzinfo=UTC)
    text = moselle.explanation()
    assert "vendredi 26 mars 2027 → mardi 30 mars 2027 (Vendredi saint, samedi, dimanche, Lundi de Pâques)" in text


def test_reunion_abolition_day_pushes_to_tuesday():
    assert compute_deadline("2027-10-20", "P2M").end == date(2027, 12, 20)
    d = compute_deadline("2027-10-20", "P2M", "974")
    assert d.end == date(2027, 12, 21)
    assert d.extensions[0].reasons == ("Abolition de l'esclavage",)
    # 22 December 00:00 Réunion (UTC+4) = 21 December 20:00 UTC.
    assert d.expires_at == datetime(2027, 12, 21, 20, 0, tzinfo=UTC)
    assert "Indian/Reunion" in d.explanation()


# --------------------------------------------------------------------- counting

@pytest.mark.parametrize("start, delay, nominal", [
    (date(2027, 1, 31), "P1M", date(2027, 2, 28)),
    (date(2028, 1, 31), "P1M", date(2028, 2, 29)),          # leap year
    (date(2027, 11, 30), "P3M", date(2028, 2, 29)),
    (date(2028, 2, 29), "P1Y", date(2029, 2, 28)),
    (date(2027, 3, 31), "P1M", date(2027, 4, 30)),
    (date(2027, 1, 15), "P24M", date(2029, 1, 15)),
    (date(2027, 1, 26), "P10D", date(2027, 2, 5)),           # start day not counted
    (date(2027, 1, 26), "P2W", date(2027, 2, 9)),
    (date(2027, 1, 31), "P1M15D", date(2027, 3, 15)),
    (date(2027, 3, 1), "p1y2m", date(2028, 5, 1)),
])
def test_nominal_end_clamps_months_and_counts_days_after_start(start, delay, nominal):
    assert compute_deadline(start, delay, extension=False).nominal_end == nominal


def test_zero_delay_ends_on_start_day_and_is_still_extended():
    monday = compute_deadline("2027-03-01", "P0D")
    assert monday.end == date(2027, 3, 1)
    assert monday.expires_at == datetime(2027, 3, 1, 23, 0, tzinfo=UTC)
    assert compute_deadline("2027-02-28", "P0D").end == date(2027, 3, 1)
    assert "délai nul" in monday.explanation()


@pytest.mark.parametrize("holiday, name", [
    (date(2028, 4, 17), "Lundi de Pâques"),
    (date(2028, 5, 25), "Ascension"),
    (date(2028, 6, 5), "Lundi de Pentecôte"),
])
def test_moveable_feasts_extend_to_next_day(holiday, name):
    d = compute_deadline(holiday - timedelta(days=20), "P20D")
    assert d.nominal_end == holiday
    assert d.end == holiday + timedelta(days=1)
    assert d.extensions[0].reasons == (name,)
    assert name in d.explanation()


def test_new_year_across_years_and_weekend():
    # Fri 31 Dec 2027 + P1D → Sat 1 Jan 2028 (Jour de l'an), Sun → Mon 3 Jan 2028.
    d = compute_deadline("2027-12-31", "P1D")
    assert d.end == date(2028, 1, 3)
    assert d.extensions[0].reasons == ("Jour de l'an", "dimanche")


@pytest.mark.parametrize("territory, holiday, name, end", [
    ("57", date(2029, 3, 30), "Vendredi saint", date(2029, 4, 3)),  # + week-end, Easter Monday
    ("68", date(2030, 4, 19), "Vendredi saint", date(2030, 4, 23)),
    ("57", date(2028, 12, 26), "Saint-Étienne", date(2028, 12, 27)),
    ("67", date(2028, 12, 26), "Saint-Étienne", date(2028, 12, 27)),
    ("68", date(2029, 12, 26), "Saint-Étienne", date(2029, 12, 27)),
    ("976", date(2027, 4, 27), "Abolition de l'esclavage", date(2027, 4, 28)),
    ("972", date(2028, 5, 22), "Abolition de l'esclavage", date(2028, 5, 23)),
    ("971", date(2027, 5, 27), "Abolition de l'esclavage", date(2027, 5, 28)),
    ("973", date(2027, 6, 10), "Abolition de l'esclavage", date(2027, 6, 11)),
    ("974", date(2027, 12, 20), "Abolition de l'esclavage", date(2027, 12, 21)),
])
def test_territorial_holidays_only_apply_in_their_territory(territory, holiday, name, end):
    assert is_working_day(holiday, "75")
    assert not is_working_day(holiday, territory)
    start = holiday - timedelta(days=10)
    assert compute_deadline(start, "P10D", "75").end == holiday
    local = compute_deadline(start, "P10D", territory)
    assert local.end == end
    assert local.extensions[0].reasons[0] == name
    assert lc.public_holiday(holiday, territory) == name


def test_extension_policy_switched_off():
    d = compute_deadline("2026-11-30", "P3M", extension=False)
    assert d.end == d.nominal_end == date(2027, 2, 28)
    assert not d.extended and d.extensions == ()
    assert d.expires_at == datetime(2027, 2, 28, 23, 0, tzinfo=UTC)
    assert "désactivée" in d.explanation()
    assert legal_deadline_expiry("2026-11-30", "P3M", extension=False) == d.expires_at


# --------------------------------------------------------------------- time zones

def test_expiry_instant_in_guyane_and_reunion():
    guyane = compute_deadline("2027-01-31", "P1M", "973")
    assert guyane.end == date(2027, 3, 1)
    assert guyane.expires_at == datetime(2027, 3, 2, 3, 0, tzinfo=UTC)   # UTC-3
    reunion = legal_deadline_expiry("2027-01-31", "P1M", "reunion")
    assert reunion == datetime(2027, 3, 1, 20, 0, tzinfo=UTC)           # UTC+4
    assert "America/Cayenne" in guyane.explanation()
    # Staff read local words, not offsets nor UTC instants (#12: no "(UTC)" shown to staff).
    assert "lundi 1er mars 2027 à 24 h (heure de Guyane)" in guyane.explanation()
    assert "UTC" not in guyane.explanation()


def test_aware_datetime_start_takes_local_date():
    instant = datetime(2027, 1, 25, 23, 30, tzinfo=UTC)
    assert compute_deadline(instant, "P1D", "75").start == date(2027, 1, 26)   # 00:30 Paris
    assert compute_deadline(instant, "P1D", "973").start == date(2027, 1, 25)  # 20:30 Cayenne
    assert compute_deadline("2027-01-25T23:30:00Z", "P1D", "974").start == date(2027, 1, 26)


# --------------------------------------------------------------------- territories

@pytest.mark.parametrize("code, expected_code, zone, subdivision", [
    (None, "75", "Europe/Paris", None),
    ("", "75", "Europe/Paris", None),
    ("2A", "2A", "Europe/Paris", None),
    ("2b", "2B", "Europe/Paris", None),
    ("1", "01", "Europe/Paris", None),
    ("57", "57", "Europe/Paris", "57"),
    ("Moselle", "57", "Europe/Paris", "57"),
    ("67", "67", "Europe/Paris", "6AE"),
    ("68", "68", "Europe/Paris", "6AE"),
    ("6AE", "6AE", "Europe/Paris", "6AE"),
    ("IDF", "IDF", "Europe/Paris", None),
    ("ile-de-france", "IDF", "Europe/Paris", None),
    ("ARS Île-de-France", "IDF", "Europe/Paris", None),
    ("grand-est", "GES", "Europe/Paris", None),
    ("reunion", "974", "Indian/Reunion", "974"),
    ("La Réunion", "974", "Indian/Reunion", "974"),
    ("GP", "971", "America/Guadeloupe", "971"),
    ("martinique", "972", "America/Martinique", "972"),
    ("guyane", "973", "America/Cayenne", "973"),
    ("976", "976", "Indian/Mayotte", "976"),
    ("PF", "PF", "Pacific/Tahiti", "PF"),
    ("988", "NC", "Pacific/Noumea", "NC"),
    ("Saint-Pierre-et-Miquelon", "PM", "America/Miquelon", "PM"),
    ("wallis-et-futuna", "WF", "Pacific/Wallis", "WF"),
])
def test_resolve_territory(code, expected_code, zone, subdivision):
    t = resolve_territory(code)
    assert (t.code, t.timezone, t.subdivision) == (expected_code, zone, subdivision)
    assert t.tzinfo == ZoneInfo(zone)


def test_every_package_subdivision_is_a_territory_with_its_own_zone():
    for subdivision in holidays.France.subdivisions:
        if subdivision.startswith("Zone"):
            continue  # school-holiday zones, not calendars of public holidays
        t = resolve_territory(subdivision)
        assert t.subdivision == subdivision
        ZoneInfo(t.timezone)
        if subdivision not in ("57", "6AE"):
            assert t.timezone != "Europe/Paris", subdivision


def test_all_eighteen_ars_regions_resolve():
    names = ["Auvergne-Rhône-Alpes", "Bourgogne-Franche-Comté", "Bretagne",
             "Centre-Val de Loire", "Corse", "Grand Est", "Hauts-de-France", "Île-de-France",
             "Normandie", "Nouvelle-Aquitaine", "Occitanie", "Pays de la Loire",
             "Provence-Alpes-Côte d'Azur", "Guadeloupe", "Martinique", "Guyane",
             "La Réunion", "Mayotte"]
    assert len({resolve_territory(n).code for n in names}) == 18


def test_grand_est_region_uses_mainland_rules_unless_department_given():
    assert compute_deadline("2027-01-26", "P2M", "grand-est").end == date(2027, 3, 26)
    assert compute_deadline("2027-01-26", "P2M", "68").end == date(2027, 3, 30)


def test_holidays_are_cached_per_territory_and_year(monkeypatch):
    calls = []
    real = holidays.France

    def counting(*args, **kwargs):
        calls.append(kwargs.get("subdiv"))
        return real(*args, **kwargs)

    lc._public_holidays.cache_clear()
    monkeypatch.setattr(lc.holidays, "France", counting)
    for _ in range(5):
        compute_deadline("2027-01-26", "P2M", "57")
    assert calls == ["57"]


# --------------------------------------------------------------------- ARS days off

def test_registered_days_off_extend_and_can_be_cleared():
    register_extra_days_off("974", ["2027-12-21"], label="fermeture de l'ARS")
    d = compute_deadline("2027-10-20", "P2M", "reunion")
    assert d.end == date(2027, 12, 22)
    assert d.extensions[0].reasons == ("Abolition de l'esclavage", "fermeture de l'ARS")
    assert compute_deadline("2027-10-20", "P2M", "971").end == date(2027, 12, 20)
    clear_extra_days_off()
    assert compute_deadline("2027-10-20", "P2M", "974").end == date(2027, 12, 21)


def test_days_off_registered_on_a_region_apply_to_its_departments():
    register_extra_days_off("ile-de-france", [date(2027, 12, 20)])
    assert compute_deadline("2027-10-20", "P2M", "92").end == date(2027, 12, 21)
    assert compute_deadline("2027-10-20", "P2M").end == date(2027, 12, 21)  # default 75 is IDF
    assert compute_deadline("2027-10-20", "P2M", "13").end == date(2027, 12, 20)
    assert lc.DEFAULT_EXTRA_LABEL in compute_deadline("2027-10-20", "P2M", "92").explanation()


def test_days_off_from_env_json_file(tmp_path, monkeypatch):
    path = tmp_path / "jours.json"
    path.write_text(json.dumps({"974": ["2027-12-21"], "75": ["2027-12-20"]}), encoding="utf-8")
    monkeypatch.setenv(lc.ENV_EXTRA_DAYS_OFF, str(path))
    assert compute_deadline("2027-10-20", "P2M", "974").end == date(2027, 12, 22)
    assert compute_deadline("2027-10-20", "P2M", "75").end == date(2027, 12, 21)
    assert compute_deadline("2027-10-20", "P2M", "13").end == date(2027, 12, 20)


@pytest.mark.parametrize("content, fragment", [
    ("{not json", "JSON illisible"),
    ('["2027-12-21"]', "objet JSON attendu"),
    ('{"999": ["2027-12-21"]}', "territoire inconnu"),
    ('{"974": ["21/12/2027"]}', "AAAA-MM-JJ"),
    ('{"974": "2027-12-21"}', "liste de dates"),
])
def test_bad_env_json_file_is_a_clear_error(tmp_path, monkeypatch, content, fragment):
    path = tmp_path / "jours.json"
    path.write_text(content, encoding="utf-8")
    monkeypatch.setenv(lc.ENV_EXTRA_DAYS_OFF, str(path))
    with pytest.raises(LegalCalendarError, match=fragment):
        compute_deadline("2027-10-20", "P2M", "974")


def test_missing_env_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv(lc.ENV_EXTRA_DAYS_OFF, str(tmp_path / "absent.json"))
    with pytest.raises(LegalCalendarError, match="introuvable"):
        is_working_day("2027-12-20")


def test_explicit_extra_days_off_argument():
    d = compute_deadline("2027-10-20", "P2M", "75", extra_days_off=["2027-12-20"])
    assert d.end == date(2027, 12, 21)
    labelled = compute_deadline("2027-10-20", "P2M", extra_days_off={"2027-12-20": "pont"})
    assert labelled.extensions[0].reasons == ("pont",)
    # kept through suspension and serialisation
    again = Deadline.from_json(labelled.to_json())
    assert again.end == date(2027, 12, 21)
    assert labelled.suspend("2027-11-01").resume("2027-11-01").end == date(2027, 12, 21)


# --------------------------------------------------------------------- helpers

def test_working_day_helpers():
    assert french_date(date(2027, 3, 1)) == "lundi 1er mars 2027"
    assert french_date(date(2027, 8, 15)) == "dimanche 15 août 2027"
    assert french_date(date(2027, 12, 2)) == "jeudi 2 décembre 2027"
    assert is_working_day("2027-03-26", "75") and not is_working_day("2027-03-26", "57")
    assert not is_working_day(date(2027, 3, 27))
    assert days_before(date(2027, 3, 30), 5) == date(2027, 3, 25)
    assert days_before(date(2027, 3, 30), 1, "57", working=True) == date(2027, 3, 25)
    assert days_before(date(2027, 3, 30), 1, "75", working=True) == date(2027, 3, 26)
    assert days_before(date(2027, 3, 30), 0, "57", working=True) == date(2027, 3, 30)
    assert days_before(date(2027, 3, 30), 3, "57", working=True) == date(2027, 3, 23)
    assert days_before("2027-03-30", 3, "75", working=True) == date(2027, 3, 24)
    # (Thu 25 Mar, Wed 31 Mar]: mainland counts Fri 26, Tue 30, Wed 31; Moselle not Fri 26.
    assert working_days_between("2027-03-25", "2027-03-31", "75") == 3
    assert working_days_between("2027-03-25", "2027-03-31", "57") == 2
    assert working_days_between("2027-03-31", "2027-03-25", "57") == -2
    assert working_days_between("2027-03-25", "2027-03-25") == 0
    with pytest.raises(LegalCalendarError):
        days_before(date(2027, 3, 30), -1)


# --------------------------------------------------------------------- suspension

def test_suspension_and_resumption_shift_the_end_and_reapply_extension():
    d = compute_deadline("2026-11-30", "P3M")
    suspended = d.suspend("2027-02-01")
    assert suspended.suspended and suspended.end is None and suspended.expires_at is None
    assert d.end == date(2027, 3, 1)               # immutability: the original is untouched
    assert "28 jour(s) restant(s)" in suspended.explanation()
    resumed = suspended.resume(date(2027, 2, 15))   # 14 days neutralised
    assert resumed.base_end == date(2027, 3, 14)    # a Sunday…
    assert resumed.end == date(2027, 3, 15)         # …extended again
    assert resumed.expires_at == datetime(2027, 3, 15, 23, 0, tzinfo=UTC)
    assert [s.days for s in resumed.suspensions] == [14]
    text = resumed.explanation()
    assert "Suspension du lundi 1er février 2027" in text and "14 jour(s)" in text
    twice = resumed.suspend("2027-03-01").resume("2027-03-04")
    assert twice.end == date(2027, 3, 17)
    assert len(twice.suspensions) == 2
    rebuilt = Deadline.from_json(json.loads(json.dumps(twice.to_json())))
    assert rebuilt.end == twice.end and rebuilt.suspensions == twice.suspensions


def test_suspension_during_the_extension_window_ends_on_resumption_day():
    d = compute_deadline("2027-01-26", "P2M", "57")       # 26 Mar → Tue 30 Mar
    late = d.suspend("2027-03-28").resume("2027-04-06")   # only the postponed day was left
    assert late.end == date(2027, 4, 6)
    early = d.suspend("2027-03-26").resume("2027-04-06")  # the nominal last day itself
    assert early.end == date(2027, 4, 6)


def test_suspension_errors():
    d = compute_deadline("2026-11-30", "P3M")
    with pytest.raises(LegalCalendarError, match="expiré"):
        d.suspend("2027-03-02")
    with pytest.raises(LegalCalendarError, match="antérieure"):
        d.suspend("2026-11-01")
    with pytest.raises(LegalCalendarError, match="pas suspendu"):
        d.resume("2027-02-01")
    s = d.suspend("2027-02-01")
    with pytest.raises(LegalCalendarError, match="déjà suspendu"):
        s.suspend("2027-02-02")
    with pytest.raises(LegalCalendarError, match="antérieure à la suspension"):
        s.resume("2027-01-15")


# --------------------------------------------------------------------- bad input, JSON

@pytest.mark.parametrize("kwargs, fragment", [
    ({"territory": "999"}, "territoire inconnu.*974"),
    ({"territory": "Atlantide"}, "territoire inconnu"),
    ({"territory": 75}, "territoire attendu"),
    ({"delay": "3 mois"}, "délai illisible"),
    ({"delay": "P3X"}, "délai illisible"),
    ({"delay": "-P1D"}, "négatif"),
    ({"delay": "PT12H"}, "pas en heures"),
    ({"delay": None}, "délai ISO 8601 attendu"),
    ({"start": "2027-02-30"}, "inexistante"),
    ({"start": "hier"}, "illisible"),
    ({"start": 20270226}, "date de départ attendue"),
    ({"start": None}, "date de départ attendue"),
    ({"extension": "non"}, "booléen"),
])
def test_bad_input_gives_a_clear_french_error(kwargs, fragment):
    args = {"start": "2027-01-26", "delay": "P2M", **kwargs}
    with pytest.raises(LegalCalendarError, match=fragment):
        compute_deadline(**args)
    assert issubclass(LegalCalendarError, ValueError)


def test_to_json_contents():
    data = compute_deadline("2026-11-30", "P3M").to_json()
    assert data["start"] == "2026-11-30" and data["delay"] == "P3M"
    assert data["territory"] == "75"
    assert (data["nominal_end"], data["end"]) == ("2027-02-28", "2027-03-01")
    assert data["expires_at"] == "2027-03-01T23:00:00Z"
    assert data["extended"] is True
    assert "lundi 1er mars 2027" in data["explanation"]
    assert "lundi 1er mars 2027 à 24 h (heure de Paris)" in data["explanation"]   # #12: no ISO/UTC shown
    assert "UTC" not in data["explanation"] and "2027-03-01T" not in data["explanation"]
    json.dumps(data)


# --------------------------------------------------------------------- properties

TERRITORY_SUBDIVISIONS = {"75": None, "57": "57", "67": "6AE", "971": "971", "972": "972",
                          "973": "973", "974": "974", "976": "976", "PF": "PF", "NC": "NC",
                          "WF": "WF", "BL": "BL", "PM": "PM"}


@lru_cache(maxsize=None)
def longest_days_off_run(subdivision):
    """Computed straight from `holidays`, independently of the module under test."""
    kwargs = {"subdiv": subdivision} if subdivision else {}
    calendar = holidays.France(years=range(2026, 2044), **kwargs)
    day, run, best = date(2026, 1, 1), 0, 0
    while day.year < 2044:
        run = run + 1 if day.weekday() >= 5 or day in calendar else 0
        best = max(best, run)
        day += timedelta(days=1)
    return best


starts = st.dates(min_value=date(2026, 1, 1), max_value=date(2040, 12, 31))
delays = st.one_of(st.integers(1, 120).map(lambda n: f"P{n}D"),
                   st.integers(1, 24).map(lambda n: f"P{n}M"))
territory_codes = st.sampled_from(sorted(TERRITORY_SUBDIVISIONS))


@settings(max_examples=150, deadline=None)
@given(starts, delays, territory_codes)
def test_extended_end_is_the_first_working_day_within_the_bound(start, delay, code):
    d = compute_deadline(start, delay, code)
    bound = longest_days_off_run(TERRITORY_SUBDIVISIONS[code])
    assert bound <= 4
    assert d.end >= d.nominal_end
    assert (d.end - d.nominal_end).days <= bound
    assert is_working_day(d.end, code)
    for offset in range((d.end - d.nominal_end).days):
        assert not is_working_day(d.nominal_end + timedelta(days=offset), code)
    assert d.expires_at.tzinfo is not None and d.expires_at.utcoffset() == timedelta(0)
    assert d.expires_at.astimezone(ZoneInfo(d.territory.timezone)).date() == \
        d.end + timedelta(days=1)


@settings(max_examples=150, deadline=None)
@given(starts, st.integers(1, 40), delays, territory_codes)
def test_end_never_decreases_when_start_increases(start, shift, delay, code):
    later = start + timedelta(days=shift)
    assert compute_deadline(later, delay, code).end >= compute_deadline(start, delay, code).end


@settings(max_examples=100, deadline=None)
@given(starts, delays, territory_codes)
def test_without_extension_end_is_nominal(start, delay, code):
    d = compute_deadline(start, delay, code, extension=False)
    assert d.end == d.nominal_end and not d.extended
    assert d.nominal_end > start
