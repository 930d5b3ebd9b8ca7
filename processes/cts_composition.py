"""Composition rules of a conseil territorial de santé (CSP R1434-33), as pure functions.

The BPMN `cts_nomination` calls these from its scripts (see `HELPERS`): the legal bounds and
the French wording live here, tested, instead of in long Python snippets inside the diagram.
Nothing here imports the engine: data in (the `seats` list, the DMN rows), data out.

Data model (process variable `seats`), one entry per seat, in arrêté order:
    {"body": "Association des maires de France (AMF)", "college": 3,
     "titulaire": {"name": "Jeanne Dupont", "sex": "F", "quality": "maire de Melun",
                   "conseiller_municipal": True},          # key only where the DMN asks
     "suppleant": {"name": "Paul Martin", "sex": "M", "quality": "adjoint au maire"}}
`suppleant` is None while nobody is named. The DMN rows (`designating_bodies`) are
{"code", "name", "college", "cap", "circuit", "member_condition", ...}; a seat's `body`
is the row's `name`.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

LEGAL_REFERENCE = "article R. 1434-33 du code de la santé publique"

# collège → (short label, arrêté heading, minimum, maximum) — R1434-33.
COLLEGES: dict[int, tuple[str, str, int, int]] = {
    1: ("professionnels et offreurs des services de santé",
        "1° Collège des professionnels et offreurs des services de santé", 20, 28),
    2: ("usagers et associations d'usagers",
        "2° Collège des usagers et associations d'usagers œuvrant dans les domaines de "
        "compétence de l'agence régionale de santé", 6, 10),
    3: ("collectivités territoriales",
        "3° Collège des collectivités territoriales ou de leurs groupements du territoire "
        "de démocratie sanitaire", 4, 7),
    4: ("État et organismes de sécurité sociale",
        "4° Collège des représentants de l'État et des organismes de sécurité sociale", 2, 3),
    5: ("personnalités qualifiées", "5° Collège des personnalités qualifiées", 2, 2),
}
TOTAL_BOUNDS = (34, 50)
SEXES = ("F", "M")
CIVILITY = {"F": "Mme", "M": "M."}
MUNICIPAL_CONDITION = "conseiller_municipal"
ROLES = (("titulaire", "titulaire"), ("suppleant", "suppléant"))

# Fiche technique n°1 as shipped in processes/cts_organismes.dmn (mainland rows). Used only
# when a caller does not pass the DMN result: the process always passes it.
DEFAULT_BODIES: list[dict[str, Any]] = [
    {"code": code, "name": name, "college": college, "cap": cap, "circuit": circuit,
     "member_condition": condition}
    for code, name, college, cap, circuit, condition in (
        ("etablissements_gestionnaires", "Fédérations d'établissements de santé — personnes "
         "morales gestionnaires", 1, 3, "ars", ""),
        ("etablissements_cme", "Fédérations d'établissements de santé — présidents de CME",
         1, 3, "ars", ""),
        ("medico_social", "Fédérations des institutions sociales et médico-sociales", 1, 5,
         "ars", ""),
        ("prevention", "Organismes de promotion de la santé, de prévention, d'environnement "
         "et de lutte contre la précarité", 1, 3, "appel", ""),
        ("urps_medecins", "URPS — médecins", 1, 3, "urps", ""),
        ("urps_autres", "URPS — autres professionnels de santé", 1, 3, "urps", ""),
        ("internes", "Internes en médecine (ISNAR-IMG et ISNI)", 1, 1, "ars", ""),
        ("centres_maisons_reseaux", "Centres de santé, maisons de santé et réseaux de santé",
         1, 2, "ars", ""),
        ("exercice_coordonne", "Exercice coordonné et coopération territoriale (CPTS, équipes "
         "de soins primaires, communautés psychiatriques de territoire)", 1, 2, "appel", ""),
        ("had", "Hospitalisation à domicile (FNEHAD)", 1, 1, "ars", ""),
        ("ordre_medecins", "Conseil régional de l'ordre des médecins", 1, 1, "ars", ""),
        ("usagers_agrees", "Associations d'usagers agréées (art. L. 1114-1 du CSP)", 2, 6,
         "appel", ""),
        ("cdca", "Conseils départementaux de la citoyenneté et de l'autonomie (CDCA)", 2, 4,
         "ars", ""),
        ("conseil_regional", "Conseil régional", 3, 1, "ars", ""),
        ("adf", "Assemblée des départements de France (ADF)", 3, 1, "sg", ""),
        ("pmi", "Conseil départemental — protection maternelle et infantile (PMI)", 3, 1,
         "ars", ""),
        ("adcf", "Assemblée des communautés de France (AdCF)", 3, 2, "sg", ""),
        ("amf", "Association des maires de France (AMF)", 3, 2, "sg", MUNICIPAL_CONDITION),
        ("etat", "Préfet de département — représentant de l'État", 4, 1, "ars", ""),
        ("securite_sociale", "Organismes de sécurité sociale (proposition conjointe)", 4, 2,
         "ars", ""),
        ("personnalites_qualifiees", "Personnalités qualifiées désignées par le DG ARS", 5, 2,
         "dg", ""),
    )
]


# --------------------------------------------------------------------------- small readers


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _college(value: Any) -> int | None:
    """1..5 from an int, an integral float or a digit string (form selects submit strings)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    return value if isinstance(value, int) and value in COLLEGES else None


def _seat_number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return value if isinstance(value, int) else None


def _sex(value: Any) -> str:
    return _text(value).upper()


def _person_key(name: str) -> str:
    return " ".join(name.casefold().split())


def _has_person(member: Any) -> bool:
    return isinstance(member, Mapping) and bool(_text(member.get("name")))


def _rows_by_name(bodies: Iterable[Mapping] | None) -> dict[str, Mapping]:
    rows = DEFAULT_BODIES if bodies is None else bodies
    index: dict[str, Mapping] = {}
    for position, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping) or not _text(row.get("name")):
            raise ValueError(f"organismes désignataires : ligne {position} sans « name » ({row!r})")
        index.setdefault(_text(row["name"]), row)
    return index


def _seat_label(number: int, seat: Mapping) -> str:
    body = _text(seat.get("body")) or "organisme non renseigné"
    college = _college(seat.get("college"))
    where = f"« {body} », collège {college}" if college else f"« {body} »"
    return f"Siège n° {number} ({where})"


def _require_list(seats: Any, what: str = "seats") -> list:
    if not isinstance(seats, list):
        raise TypeError(f"« {what} » doit être une liste de sièges, reçu {type(seats).__name__}")
    return seats


# --------------------------------------------------------------------------- the check


def _out_of_bounds(what: str, count: int, low: int, high: int) -> list[str]:
    """R1434-33's bounds for a collège or the whole CTS, as a French violation (or none)."""
    if count < low:
        return [f"{what} : {count} membre(s), le minimum est de {low} ({LEGAL_REFERENCE})."]
    if count > high:
        return [f"{what} : {count} membre(s), le maximum est de {high} ({LEGAL_REFERENCE})."]
    return []


# Fiche 1: CDCA members « ne soient pas membres des institutions fournissant des services aux
# personnes âgées ou aux personnes handicapées »; the conseil régional names « un conseiller
# régional » (Corse, Guyane, Martinique: a member of their assembly). Checked on what the data
# holds: an explicit flag, or the quality written in the proposal.
_PA_PH_INSTITUTIONS = re.compile(
    r"\b(ehpad|esat|ssiad|saad|spasad|ime|itep|mas|fam|foyer|usld|résidence autonomie|"
    r"maison de retraite|établissement|etablissement|service d'aide|service de soins)\b", re.I)
_REGIONAL_COUNCILLOR = re.compile(
    r"conseill[eè]re?s? (r[ée]gional|territorial|[àa] l'assembl[ée]e)|membre de l'assembl[ée]e", re.I)
_OTHER_MANDATE = re.compile(
    r"\b(maire|adjoint|adjointe|conseill[eè]re? (d[ée]partemental|municipal|communautaire)|d[ée]put[ée]|"
    r"s[ée]nat(eur|rice)|agent|directeur|directrice|fonctionnaire|salari[ée])", re.I)


def _member_condition_problems(code: str, member: Mapping, role_label: str) -> list[str]:
    quality = _text(member.get("quality"))
    if code == "cdca":
        flagged = member.get("institution_pa_ph") is True
        match = _PA_PH_INSTITUTIONS.search(quality) if quality else None
        if flagged or match:
            what = f" (« {quality} »)" if match else ""
            return [f"le {role_label} est membre d'une institution fournissant des services aux personnes "
                    f"âgées ou handicapées{what} : incompatible avec un siège de représentant des usagers "
                    "désigné par le CDCA (instruction n° 2016-154, fiche 1)."]
    explicit = member.get("conseiller_regional")
    other = (quality and not _REGIONAL_COUNCILLOR.search(quality) and _OTHER_MANDATE.search(quality))
    if code == "conseil_regional" and (explicit is False or other):
        return [f"le {role_label} doit être un conseiller régional (ou membre de l'assemblée de Corse, "
                f"de Guyane ou de Martinique), sa qualité est « {quality} » (instruction n° 2016-154, fiche 1)."]
    return []


def vacancies(seats: list) -> list[str]:
    """Seats without a titulaire or a suppléant, in French: allowed at installation and listed
    in the arrêté as vacant."""
    _require_list(seats)
    lines = []
    for number, seat in enumerate(seats, start=1):
        if not isinstance(seat, Mapping):
            continue
        missing = [label for role, label in ROLES if not _has_person(seat.get(role))]
        if missing:
            why = " (aucune désignation reçue)" if seat.get("vacant") else ""
            lines.append(f"{_seat_label(number, seat)} : {' et '.join(missing)} vacant"
                         f"{'s' if len(missing) > 1 else ''}{why}.")
    return lines


def check_cts_composition(seats: list, bodies: Iterable[Mapping] | None = None) -> list[str]:
    """Every rule the composition breaks, in French; [] when the arrêté can be taken.

    `bodies` are the DMN rows (caps, collège, member conditions); without them the shipped
    Fiche technique n°1 defaults apply. Seats are numbered from 1 in list order, as shown
    to the staff who correct them.
    """
    _require_list(seats)
    rows = _rows_by_name(bodies)
    problems: list[str] = []
    per_college = {college: 0 for college in COLLEGES}
    per_body: dict[str, int] = {}
    people: dict[str, list[str]] = {}
    display: dict[str, str] = {}

    for number, seat in enumerate(seats, start=1):
        if not isinstance(seat, Mapping):
            problems.append(f"Siège n° {number} : donnée illisible (un siège est un objet "
                            f"« body », « college », « titulaire », « suppleant »).")
            continue
        label = _seat_label(number, seat)
        body = _text(seat.get("body"))
        college = _college(seat.get("college"))
        row = rows.get(body)
        if not body:
            problems.append(f"{label} : organisme non renseigné.")
        elif row is None:
            problems.append(f"{label} : organisme absent de la table des organismes désignataires.")
        if college is None:
            problems.append(f"{label} : collège « {seat.get('college')} » invalide (1 à 5 attendu).")
        else:
            per_college[college] += 1
            expected = _college(row.get("college")) if row is not None else None
            if expected is not None and expected != college:
                problems.append(f"{label} : rattaché au collège {college} alors que l'organisme "
                                f"relève du collège {expected}.")
        if body:
            per_body[body] = per_body.get(body, 0) + 1
        condition = _text(row.get("member_condition")) if row is not None else ""

        code = _text(row.get("code")) if row is not None else ""
        for role, role_label in ROLES:
            member = seat.get(role)
            if not _has_person(member):
                # A seat left vacant (no answer, no suppléant) does not block the arrêté: the CTS
                # is installed once « l'essentiel des représentants » is designated (fiche 1);
                # `vacancies` lists it and the arrêté prints it as vacant.
                continue
            problems.extend(f"{label} : {why}" for why in _member_condition_problems(code, member, role_label))
            if _sex(member.get("sex")) not in SEXES:
                problems.append(f"{label} : sexe du {role_label} non renseigné (F ou M attendu).")
            if condition == MUNICIPAL_CONDITION and member.get("conseiller_municipal") is not True:
                problems.append(f"{label} : la qualité de conseiller municipal du {role_label} "
                                f"n'est pas confirmée.")
            name = _text(member.get("name"))
            key = _person_key(name)
            display.setdefault(key, name)
            people.setdefault(key, []).append(f"n° {number} ({role_label})")

    for key, places in people.items():
        if len(places) > 1:
            problems.append(f"« {display[key]} » est nommé(e) plusieurs fois : "
                            f"siège {', siège '.join(places)}.")

    for body, count in per_body.items():
        row = rows.get(body)
        cap = row.get("cap") if row is not None else None
        if isinstance(cap, int) and not isinstance(cap, bool) and count > cap:
            college = _college(row.get("college"))
            problems.append(f"Organisme « {body} » (collège {college}) : {count} sièges pour "
                            f"au plus {cap}.")

    for college, (short, _heading, low, high) in COLLEGES.items():
        problems.extend(_out_of_bounds(f"Collège {college} ({short})", per_college[college], low, high))
    problems.extend(_out_of_bounds("Composition totale", sum(per_college.values()), *TOTAL_BOUNDS))
    return problems


# --------------------------------------------------------------------------- parity report


def gender_balance(seats: list) -> dict:
    """Women/men counts per collège and overall, titulaires and suppléants apart.

    Returned as lists and string keys only, so it survives the JSON serialisation of
    task data unchanged; `text` is what the DG reads before signing.
    """
    _require_list(seats)

    def empty() -> dict:
        return {"titulaires": {"F": 0, "M": 0, "inconnu": 0},
                "suppleants": {"F": 0, "M": 0, "inconnu": 0}}

    per_college = {college: empty() for college in COLLEGES}
    total = empty()
    for seat in seats:
        if not isinstance(seat, Mapping):
            continue
        college = _college(seat.get("college"))
        for role, key in (("titulaire", "titulaires"), ("suppleant", "suppleants")):
            member = seat.get(role)
            if not _has_person(member):
                continue
            sex = _sex(member.get("sex"))
            bucket = sex if sex in SEXES else "inconnu"
            total[key][bucket] += 1
            if college is not None:
                per_college[college][key][bucket] += 1

    def line(title: str, counts: dict) -> str:
        tit, sup = counts["titulaires"], counts["suppleants"]
        text = (f"{title} : titulaires {tit['F']} F / {tit['M']} M ; "
                f"suppléants {sup['F']} F / {sup['M']} M")
        unknown = tit["inconnu"] + sup["inconnu"]
        return text + (f" ; {unknown} sans sexe renseigné" if unknown else "")

    colleges = []
    lines = []
    for college, (short, *_rest) in COLLEGES.items():
        counts = per_college[college]
        colleges.append({"college": college, "label": short, **counts})
        lines.append(line(f"Collège {college} ({short})", counts))
    members = total["titulaires"]["F"] + total["titulaires"]["M"]
    share = round(100 * total["titulaires"]["F"] / members) if members else 0
    lines.append(line("Ensemble", total) + f" — {share} % de femmes parmi les titulaires")
    return {"colleges": colleges, "total": total, "women_share": share, "text": "\n".join(lines)}


# --------------------------------------------------------------------------- the arrêté


def _member_line(member: Any) -> str:
    if not _has_person(member):
        return "siège vacant"
    civility = CIVILITY.get(_sex(member.get("sex")), "")
    quality = _text(member.get("quality"))
    name = _text(member.get("name"))
    text = f"{civility} {name}" if civility else name
    return f"{text}, {quality}" if quality else text


def format_arrete(seats: list, bodies: Iterable[Mapping] | None = None) -> list[dict]:
    """Members by collège as the arrêté of nomination lists them.

    Collèges 1 to 5; inside a collège, bodies in the DMN's order (bodies the DMN does not
    know come after, in order of appearance), a body's seats in their order. Empty collèges
    are left out. Each member: {"seat", "body", "titulaire", "suppleant"} with the printed
    "Mme Jeanne Dupont, quality" form.
    """
    _require_list(seats)
    rank = {name: position for position, name in enumerate(_rows_by_name(bodies))}
    first_seen: dict[str, int] = {}
    for number, seat in enumerate(seats, start=1):
        if isinstance(seat, Mapping):
            first_seen.setdefault(_text(seat.get("body")), number)

    result = []
    for college, (_short, heading, *_bounds) in COLLEGES.items():
        entries = [(number, seat) for number, seat in enumerate(seats, start=1)
                   if isinstance(seat, Mapping) and _college(seat.get("college")) == college]
        entries.sort(key=lambda item: (
            rank.get(_text(item[1].get("body")), len(rank)),
            first_seen[_text(item[1].get("body"))],
            item[0],
        ))
        if not entries:
            continue
        members = [{"seat": number, "body": _text(seat.get("body")),
                    "titulaire": _member_line(seat.get("titulaire")),
                    "suppleant": _member_line(seat.get("suppleant"))}
                   for number, seat in entries]
        result.append({"college": college, "title": heading, "members": members})
    return result


def arrete_text(arrete_members: list) -> str:
    """`format_arrete`'s result as plain text, for the DG's task and the notification."""
    _require_list(arrete_members, "arrete_members")
    lines: list[str] = []
    for block in arrete_members:
        lines.append(block["title"])
        current = None
        for member in block["members"]:
            if member["body"] != current:
                current = member["body"]
                lines.append(f"  Au titre de : {current}")
            lines.append(f"    Titulaire : {member['titulaire']}")
            lines.append(f"    Suppléant : {member['suppleant']}")
    return "\n".join(lines)


def seat_list_text(seats: list) -> str:
    """Numbered seats (the numbers the check and the correction form use)."""
    _require_list(seats)
    lines = []
    for number, seat in enumerate(seats, start=1):
        if not isinstance(seat, Mapping):
            lines.append(f"{number}. (siège illisible)")
            continue
        college = _college(seat.get("college"))
        lines.append(f"{number}. Collège {college if college else '?'} — "
                     f"{_text(seat.get('body')) or '?'} : titulaire {_member_line(seat.get('titulaire'))} ; "
                     f"suppléant {_member_line(seat.get('suppleant'))}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- form data → seats

_SEAT_KEY = re.compile(r"^seat(\d+)$")


def _member_from_form(raw: Any) -> dict | None:
    if not isinstance(raw, Mapping) or not _text(raw.get("name")):
        return None
    member = {"name": _text(raw.get("name")), "sex": _sex(raw.get("sex")),
              "quality": _text(raw.get("quality"))}
    if "conseiller_municipal" in raw:
        member["conseiller_municipal"] = raw.get("conseiller_municipal") is True
    for flag in ("institution_pa_ph", "conseiller_regional"):
        if flag in raw:
            member[flag] = raw.get(flag) is True
    return member


def _row_identity(body: Any, college: Any) -> tuple[str, int | None]:
    if isinstance(body, Mapping):
        name = _text(body.get("name"))
        college = body.get("college") if college is None else college
    else:
        name = _text(body)
    if not name:
        raise ValueError(f"organisme désignataire sans nom : {body!r}")
    number = _college(college)
    if number is None:
        raise ValueError(f"organisme « {name} » : collège « {college} » invalide (1 à 5 attendu)")
    return name, number


def seats_from_form(proposal: Any, body: Any, college: Any = None) -> list[dict]:
    """The seats a proposal form recorded for one body.

    `proposal` is the form's group data {"seat1": {"titulaire": {...}, "suppleant": {...}},
    "seat2": …}; `body` a DMN row (name and collège taken from it) or a name with `college`.
    Seats where neither person is named are skipped (the form shows more seat groups than
    a body usually fills); a seat with only a suppléant keeps an empty titulaire so the
    composition check reports it.
    """
    name, number = _row_identity(body, college)
    if proposal in (None, ""):
        return []
    if not isinstance(proposal, Mapping):
        raise TypeError(f"propositions de « {name} » : objet attendu (seat1, seat2…), "
                        f"reçu {type(proposal).__name__}")
    numbered = sorted((int(m.group(1)), key) for key in proposal
                      if isinstance(key, str) and (m := _SEAT_KEY.match(key)))
    seats = []
    for _index, key in numbered:
        raw = proposal[key]
        if not isinstance(raw, Mapping):
            continue
        titulaire = _member_from_form(raw.get("titulaire"))
        suppleant = _member_from_form(raw.get("suppleant"))
        if titulaire is None and suppleant is None:
            continue
        seats.append({"body": name, "college": number,
                      "titulaire": titulaire or {"name": "", "sex": "", "quality": ""},
                      "suppleant": suppleant})
    return seats


# --------------------------------------------------------------------------- corrections

ACTIONS = ("modifier", "supprimer", "ajouter")


def _merge_member(current: Any, raw: Any) -> dict | None:
    """Fields filled in the correction replace the current ones; blanks keep them."""
    if not isinstance(raw, Mapping):
        return current
    member = dict(current) if isinstance(current, Mapping) else None
    if _text(raw.get("name")):
        member = member or {"name": "", "sex": "", "quality": ""}
        member["name"] = _text(raw["name"])
    if member is None:
        return None
    if _sex(raw.get("sex")):
        member["sex"] = _sex(raw["sex"])
    if _text(raw.get("quality")):
        member["quality"] = _text(raw["quality"])
    if raw.get("conseiller_municipal") is True:
        member["conseiller_municipal"] = True
    return member


def _correction_items(corrections: Any) -> list[tuple[str, Any]]:
    if corrections in (None, ""):
        return []
    if isinstance(corrections, list):
        return [(str(i), item) for i, item in enumerate(corrections, start=1)]
    if isinstance(corrections, Mapping):
        numbered = sorted((int(m.group(1)), key) for key in corrections
                          if isinstance(key, str) and (m := re.match(r"^fix(\d+)$", key)))
        return [(str(n), corrections[key]) for n, key in numbered]
    raise TypeError(f"« corrections » : objet (fix1, fix2…) ou liste attendu, "
                    f"reçu {type(corrections).__name__}")


def apply_seat_corrections(seats: list, corrections: Any,
                           bodies: Iterable[Mapping] | None = None) -> dict:
    """Apply the "Corriger la composition" form to `seats`.

    Each correction: {"action": "modifier"|"supprimer"|"ajouter"|"" , "seat": n,
    "body", "college", "titulaire": {...}, "suppleant": {...}}. Seat numbers refer to the
    list the staff saw (before this batch): edits first, additions appended, deletions last.
    Returns {"seats": new list, "errors": [French messages]}; a faulty correction is skipped
    and reported, never half-applied, so the next check shows it.
    """
    _require_list(seats)
    rows = _rows_by_name(bodies)
    result = [dict(seat) if isinstance(seat, Mapping) else seat for seat in seats]
    errors: list[str] = []
    deletions: set[int] = set()
    additions: list[dict] = []

    for label, item in _correction_items(corrections):
        if not isinstance(item, Mapping):
            continue
        action = _text(item.get("action")).lower()
        if not action:
            continue
        where = f"Correction n° {label}"
        if action not in ACTIONS:
            errors.append(f"{where} : action « {action} » inconnue ({', '.join(ACTIONS)}).")
            continue
        body = _text(item.get("body"))
        college = _college(item.get("college"))
        if body and college is None and body in rows:
            college = _college(rows[body].get("college"))
        if action in ("modifier", "supprimer"):
            number = _seat_number(item.get("seat"))
            if number is None or not 1 <= number <= len(seats):
                errors.append(f"{where} : numéro de siège « {item.get('seat')} » invalide "
                              f"(la composition compte {len(seats)} siège(s)).")
                continue
            if action == "supprimer":
                deletions.add(number - 1)
                continue
            seat = result[number - 1]
            if not isinstance(seat, dict):
                seat = result[number - 1] = {}
            if body:
                seat["body"] = body
            if college is not None:
                seat["college"] = college
            seat["titulaire"] = _merge_member(seat.get("titulaire"), item.get("titulaire"))
            seat["suppleant"] = _merge_member(seat.get("suppleant"), item.get("suppleant"))
            continue
        # ajouter
        titulaire = _member_from_form(item.get("titulaire"))
        if not body or college is None or titulaire is None:
            missing = [what for what, ok in (("l'organisme", body), ("le collège", college),
                                             ("le nom du titulaire", titulaire)) if not ok]
            errors.append(f"{where} : pour ajouter un siège, indiquez {', '.join(missing)}.")
            continue
        additions.append({"body": body, "college": college, "titulaire": titulaire,
                          "suppleant": _member_from_form(item.get("suppleant"))})

    kept = [seat for index, seat in enumerate(result) if index not in deletions]
    return {"seats": kept + additions, "errors": errors}


HELPERS = {
    "cts_vacancies": vacancies,
    "check_cts_composition": check_cts_composition,
    "gender_balance": gender_balance,
    "format_arrete": format_arrete,
    "arrete_text": arrete_text,
    "seat_list_text": seat_list_text,
    "seats_from_form": seats_from_form,
    "apply_seat_corrections": apply_seat_corrections,
}
