"""Composition of the commission spécialisée en santé mentale of a conseil territorial de santé
(décret n° 2016-1024 ; arrêté du 3 août 2016 ; seed 003, CTS de Seine-et-Marne, 3 juillet 2017),
called by the scripts of `cts_sante_mentale.bpmn`. Pure functions on plain data.

A member is `{"name", "college": 1..5, "letter": "a".."h" (the letter of the 2016 arrêté, none for
collège 5), "mode": "acclamation" | "vote", "votes": int | None}`.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Any, Iterable, Mapping

SOURCE = ("CTS — commission spécialisée en santé mentale : 21 membres au plus, élus au sein de "
          "l'assemblée parmi ses membres titulaires (décret n° 2016-1024, arrêté du 3 août 2016)")
TOTAL_MAX = 21

# Letters of each collège (arrêté du 3 août 2016, art. 1er), as the seed lists them.
LETTERS = {
    1: {"a": "établissements de santé", "b": "services et établissements sociaux et médico-sociaux",
        "c": "promotion de la santé, prévention, environnement, lutte contre la précarité",
        "d": "URPS", "e": "internes", "f": "modes d'exercice coordonné",
        "g": "hospitalisation à domicile", "h": "ordre des médecins"},
    2: {"a": "associations agréées représentant les usagers",
        "b": "associations de personnes handicapées, retraités et personnes âgées"},
    3: {"a": "conseiller régional", "b": "conseil départemental", "c": "PMI",
        "d": "communautés de communes", "e": "communes"},
    4: {"a": "État", "b": "organismes de sécurité sociale"},
    5: {},
}

# Seats: (id, label, cap, collèges, letters or None = every letter of those collèges).
# Seed 003: « Au plus 12 membres issus des professionnels et offreurs de santé (collège 1) » with
# « a) et g) […] et b) […] Maximum 5 », « c) […] Maximum 2 », « d) URPS […] e) f) h) Maximum 5 » ;
# « Au plus 4 […] (collège 2) » with a) Maximum 2, b) Maximum 2 ; « Au plus 3 […] (collège 3) » ;
# « Au plus 2 membres issus de l'Etat et organismes de sécurité sociale (collège 4) et Personnes
# Qualifiées (collège 5) ».
GROUPS = (
    ("1-agb", "Collège 1, a) g) b) : établissements de santé, ESMS", 5, (1,), ("a", "g", "b")),
    ("1-defh", "Collège 1, d) e) f) h) : URPS, internes, exercice coordonné, ordre des médecins", 5,
     (1,), ("d", "e", "f", "h")),
    ("1-c", "Collège 1, c) : promotion de la santé, prévention, précarité", 2, (1,), ("c",)),
    ("2-a", "Collège 2, a) : associations agréées d'usagers", 2, (2,), ("a",)),
    ("2-b", "Collège 2, b) : personnes handicapées, retraités et personnes âgées", 2, (2,), ("b",)),
    ("3", "Collège 3 : collectivités territoriales", 3, (3,), None),
    ("45", "Collèges 4 et 5 : État, sécurité sociale, personnes qualifiées", 2, (4, 5), None),
)
COLLEGE_CAPS = {1: 12, 2: 4, 3: 3}
MODES = ("acclamation", "vote")


def _key(name: Any) -> str:
    text = unicodedata.normalize("NFKD", str(name or "")).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", " ", text.casefold()).strip()


def _college(value: Any) -> int | None:
    try:
        college = int(value)
    except (TypeError, ValueError):
        return None
    return college if college in LETTERS else None


def group_of(member: Mapping) -> str | None:
    """The seat group a member sits in, or None when collège/letter do not exist."""
    college = _college(member.get("college"))
    letter = str(member.get("letter") or "").strip().lower()
    if college is None or (college != 5 and letter not in LETTERS[college]):
        return None
    for gid, _label, _cap, colleges, letters in GROUPS:
        if college in colleges and (letters is None or letter in letters):
            return gid
    return None


def check_candidates(candidates: Iterable[Mapping], titulaires: Iterable[Mapping] | None = None) -> list[str]:
    """Why candidates cannot stand (French, one line each): unknown collège or letter, a name
    twice, or — when the CTS's members are known — not a titulaire of the CTS in that collège
    (« Chaque membre titulaire du Conseil territorial de santé peut être membre d'une ou plusieurs
    commissions »)."""
    problems: list[str] = []
    known = None
    if titulaires:
        known = {_key(m.get("name")): _college(m.get("college")) for m in titulaires
                 if m.get("role", "titulaire") == "titulaire"}
        deputies = {_key(m.get("name")) for m in titulaires if m.get("role") == "suppleant"}
    seen: set[str] = set()
    for index, member in enumerate(candidates or [], start=1):
        name = str(member.get("name") or "").strip()
        label = f"candidat n° {index} ({name or 'sans nom'})"
        if not name:
            problems.append(f"{label} : nom manquant")
            continue
        if _key(name) in seen:
            problems.append(f"{label} : candidat en double")
        seen.add(_key(name))
        college = _college(member.get("college"))
        if college is None:
            problems.append(f"{label} : collège {member.get('college')!r} inconnu (1 à 5)")
            continue
        if group_of(member) is None:
            letters = ", ".join(f"{k})" for k in LETTERS[college])
            problems.append(f"{label} : lettre {member.get('letter')!r} inconnue pour le collège {college} "
                            f"(lettres de l'arrêté du 3 août 2016 : {letters})")
        if known is not None:
            if _key(name) not in known:
                why = "suppléant" if _key(name) in deputies else "absent de la composition du CTS"
                problems.append(f"{label} : seuls les membres titulaires du CTS peuvent être élus ({why})")
            elif known[_key(name)] not in (None, college):
                problems.append(f"{label} : titulaire du collège {known[_key(name)]}, pas du collège {college}")
    return problems


def check_election(elected: Iterable[Mapping], candidates: Iterable[Mapping]) -> list[str]:
    """Why an election result breaks the rules: a member who was not a candidate, a cap exceeded
    (total, collège, sub-group), an unknown mode, an acclamation where candidates outnumbered the
    seats (a vote is then needed), a vote without a vote count."""
    elected = list(elected or [])
    candidates = list(candidates or [])
    problems: list[str] = []
    by_name = {_key(c.get("name")): c for c in candidates}
    for index, member in enumerate(elected, start=1):
        name = str(member.get("name") or "").strip()
        label = f"élu n° {index} ({name or 'sans nom'})"
        candidate = by_name.get(_key(name))
        if candidate is None:
            problems.append(f"{label} : n'était pas candidat")
            continue
        if (_college(candidate.get("college")), group_of(candidate)) != (_college(member.get("college")),
                                                                       group_of(member)):
            problems.append(f"{label} : élu dans un autre collège ou une autre lettre que sa candidature")
        if member.get("mode") not in MODES:
            problems.append(f"{label} : mode d'élection {member.get('mode')!r} inconnu (acclamation ou vote)")
        elif member.get("mode") == "vote" and member.get("votes") in (None, ""):
            problems.append(f"{label} : élu par vote, nombre de voix manquant")
    names = [_key(m.get("name")) for m in elected]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"« {name} » élu deux fois")
    if len(elected) > TOTAL_MAX:
        problems.append(f"{len(elected)} élus pour {TOTAL_MAX} sièges au plus")
    for college, cap in COLLEGE_CAPS.items():
        count = sum(1 for m in elected if _college(m.get("college")) == college)
        if count > cap:
            problems.append(f"collège {college} : {count} élus pour {cap} sièges au plus")
    for gid, label, cap, _colleges, _letters in GROUPS:
        group_elected = [m for m in elected if group_of(m) == gid]
        if len(group_elected) > cap:
            problems.append(f"{label} : {len(group_elected)} élus pour {cap} sièges au plus")
        standing = sum(1 for c in candidates if group_of(c) == gid)
        if standing > cap and any(m.get("mode") == "acclamation" for m in group_elected):
            problems.append(f"{label} : {standing} candidats pour {cap} sièges, l'élection par acclamation "
                            "n'est pas possible : procédez à un vote")
    return problems


def composition(elected: Iterable[Mapping]) -> dict:
    """Seats filled and vacant per group, and the text of the composition (« 14 membres élus sur
    21 sièges »)."""
    elected = list(elected or [])
    groups = []
    for gid, label, cap, _colleges, _letters in GROUPS:
        members = sorted((m for m in elected if group_of(m) == gid), key=lambda m: _key(m.get("name")))
        groups.append({"id": gid, "label": label, "seats": cap, "filled": len(members),
                       "vacant": cap - len(members),
                       "members": [{"name": m.get("name"), "college": _college(m.get("college")),
                                    "letter": str(m.get("letter") or "").lower() or None,
                                    "mode": m.get("mode")} for m in members]})
    # Collège 1 has 12 seats in all but its three groups add up to 12: no extra vacancy.
    filled = sum(g["filled"] for g in groups)
    lines = [f"Commission spécialisée en santé mentale : {filled} membres élus sur {TOTAL_MAX} sièges."]
    for group in groups:
        names = ", ".join(f"{m['name']} ({'acclamation' if m['mode'] == 'acclamation' else 'vote'})"
                          for m in group["members"]) or "—"
        vacant = f", {group['vacant']} siège(s) vacant(s)" if group["vacant"] else ""
        lines.append(f"- {group['label']} : {group['filled']}/{group['seats']}{vacant} : {names}")
    return {"filled": filled, "seats": TOTAL_MAX, "vacant": TOTAL_MAX - filled, "groups": groups,
            "text": "\n".join(lines)}


HELPERS = {"cmsm_check_candidates": check_candidates, "cmsm_check_election": check_election,
           "cmsm_composition": composition}
