"""Composition rules of a CTS (CSP R1434-33) and the helpers the cts_nomination process calls."""
from __future__ import annotations

import ast
import copy
import json
from pathlib import Path

import pytest
from arsflow.processes import cts_composition as cc
from arsflow.processes.cts_composition import (vacancies, 
    DEFAULT_BODIES,
    HELPERS,
    apply_seat_corrections,
    arrete_text,
    check_cts_composition,
    format_arrete,
    gender_balance,
    seat_list_text,
    seats_from_form,
)
from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
ROWS = {row["code"]: row for row in DEFAULT_BODIES}


def member(name, sex="F", quality="membre", **extra):
    return {"name": name, "sex": sex, "quality": quality, **extra}


def seat(code, index, sex="F", suppleant=True, rows=ROWS):
    row = rows[code]
    municipal = {"conseiller_municipal": True} if row["member_condition"] == "conseiller_municipal" else {}
    other = "M" if sex == "F" else "F"
    return {"body": row["name"], "college": row["college"],
            "titulaire": member(f"{code} titulaire {index}", sex, **municipal),
            "suppleant": member(f"{code} suppléant {index}", other, **municipal) if suppleant else None}


def full_composition(rows=DEFAULT_BODIES):
    """Every body fills its cap: 49 seats, titulaires alternately F and M."""
    seats = []
    for row in rows:
        for i in range(row["cap"]):
            seats.append(seat(row["code"], i + 1, "F" if len(seats) % 2 == 0 else "M",
                              rows={r["code"]: r for r in rows}))
    return seats


def minimal_composition():
    """Each collège at its legal minimum: 20 + 6 + 4 + 2 + 2 = 34 seats."""
    wanted = {"etablissements_gestionnaires": 3, "etablissements_cme": 3, "medico_social": 5,
              "urps_medecins": 3, "urps_autres": 3, "internes": 1, "had": 1, "ordre_medecins": 1,
              "usagers_agrees": 4, "cdca": 2, "conseil_regional": 1, "pmi": 1, "amf": 2,
              "etat": 1, "securite_sociale": 1, "personnalites_qualifiees": 2}
    return [seat(code, i + 1, "F" if i % 2 == 0 else "M") for code, n in wanted.items() for i in range(n)]


def drop(seats, code, n):
    """Remove the last n seats of a body."""
    name = ROWS[code]["name"]
    positions = [i for i, s in enumerate(seats) if s["body"] == name][-n:]
    return [s for i, s in enumerate(seats) if i not in positions]


# --------------------------------------------------------------------------- valid compositions


def test_full_composition_of_fiche_technique_passes():
    seats = full_composition()
    assert len(seats) == 49
    assert check_cts_composition(seats) == []


def test_composition_at_every_legal_minimum_passes():
    seats = minimal_composition()
    assert len(seats) == 34
    assert check_cts_composition(seats) == []


def test_dmn_caps_replace_the_defaults():
    rows = copy.deepcopy(DEFAULT_BODIES)
    amf = next(r for r in rows if r["code"] == "amf")
    seats = drop(full_composition(), "adcf", 1) + [seat("amf", 3)]
    assert any("AMF" in p and "au plus 2" in p for p in check_cts_composition(seats))
    amf["cap"] = 3
    assert check_cts_composition(seats, rows) == []


# --------------------------------------------------------------------------- collège bounds


@pytest.mark.parametrize("college,code,remove,count,bound", [
    (1, "medico_social", 2, 18, 20),
    (1, "urps_medecins", 1, 19, 20),
    (2, "cdca", 1, 5, 6),
    (3, "amf", 2, 2, 4),
    (3, "conseil_regional", 1, 3, 4),
    (4, "securite_sociale", 1, 1, 2),
    (5, "personnalites_qualifiees", 1, 1, 2),
])
def test_college_below_minimum_names_college_and_bound(college, code, remove, count, bound):
    seats = drop(minimal_composition(), code, remove)
    problems = check_cts_composition(seats)
    label = cc.COLLEGES[college][0]
    expected = [p for p in problems if p.startswith(f"Collège {college} ({label})")]
    assert expected == [f"Collège {college} ({label}) : {count} membre(s), le minimum est de {bound} "
                        f"(article R. 1434-33 du code de la santé publique)."], problems


@pytest.mark.parametrize("college,code,extra,bound", [
    (1, "medico_social", 2, 28),
    (2, "cdca", 1, 10),
    (3, "amf", 1, 7),
    (4, "etat", 1, 3),
    (5, "personnalites_qualifiees", 1, 2),
])
def test_college_above_maximum_names_college_and_bound(college, code, extra, bound):
    rows = copy.deepcopy(DEFAULT_BODIES)
    for row in rows:
        row["cap"] = 99  # isolate the collège rule from the per-body caps
    # make room elsewhere so that the total stays within 34-50 and only this collège is wrong
    seats = drop(full_composition(), "cdca" if college != 2 else "medico_social", extra)
    seats += [seat(code, 100 + i) for i in range(extra)]
    problems = check_cts_composition(seats, rows)
    count = sum(1 for s in seats if s["college"] == college)
    assert problems == [f"Collège {college} ({cc.COLLEGES[college][0]}) : {count} membre(s), le maximum est de "
                        f"{bound} ({cc.LEGAL_REFERENCE})."]


def test_total_below_34_is_reported_with_the_bound():
    seats = drop(minimal_composition(), "etat", 1)
    problems = check_cts_composition(seats)
    assert "Composition totale : 33 membre(s), le minimum est de 34 (article R. 1434-33 du code de la santé publique)." \
        in problems


def test_total_above_50_is_reported_with_the_bound():
    rows = copy.deepcopy(DEFAULT_BODIES)
    for row in rows:
        row["cap"] = 99
    seats = full_composition() + [seat("cdca", 50), seat("cdca", 51)]
    problems = check_cts_composition(seats, rows)
    assert any(p.startswith("Composition totale : 51 membre(s), le maximum est de 50") for p in problems), problems


# --------------------------------------------------------------------------- per-body caps and seats


@pytest.mark.parametrize("code,cap", [("amf", 2), ("had", 1), ("urps_medecins", 3), ("cdca", 4), ("etat", 1)])
def test_body_over_its_cap_names_body_college_and_cap(code, cap):
    seats = full_composition() + [seat(code, 99)]
    row = ROWS[code]
    message = f"Organisme « {row['name']} » (collège {row['college']}) : {cap + 1} sièges pour au plus {cap}."
    assert message in check_cts_composition(seats)


def test_a_missing_suppleant_is_a_vacancy_not_a_violation():
    """Seed 000 l. 138: installation once « la désignation effective de l'essentiel des représentants
    de chaque catégorie » is ensured. Before #12 a missing suppléant blocked the arrêté."""
    seats = full_composition()
    seats[4]["suppleant"] = None
    seats[7]["suppleant"] = {"name": "  ", "sex": "F", "quality": ""}
    assert check_cts_composition(seats) == []
    assert vacancies(seats) == [f"Siège n° 5 (« {seats[4]['body']} », collège 1) : suppléant vacant.",
                                f"Siège n° 8 (« {seats[7]['body']} », collège 1) : suppléant vacant."]


def test_missing_titulaire_and_unknown_sex_are_reported():
    seats = full_composition()
    seats[0]["titulaire"] = {"name": "", "sex": "F", "quality": ""}
    seats[1]["suppleant"]["sex"] = "X"
    seats[2]["titulaire"]["sex"] = None
    problems = check_cts_composition(seats)
    assert problems == [   # the missing titulaire is a vacancy (seed 000 l. 138), no longer a violation
        f"Siège n° 2 (« {seats[1]['body']} », collège 1) : sexe du suppléant non renseigné (F ou M attendu).",
        f"Siège n° 3 (« {seats[2]['body']} », collège 1) : sexe du titulaire non renseigné (F ou M attendu).",
    ]


def test_lowercase_sex_is_accepted():
    seats = full_composition()
    seats[0]["titulaire"]["sex"] = "f"
    assert check_cts_composition(seats) == []


def test_unknown_body_wrong_college_and_invalid_college():
    seats = full_composition()
    seats[0]["body"] = "Fédération imaginaire"
    seats[1]["college"] = 2
    seats[2]["college"] = 7
    problems = check_cts_composition(seats)
    assert "Siège n° 1 (« Fédération imaginaire », collège 1) : organisme absent de la table des organismes " \
           "désignataires." in problems
    assert f"Siège n° 2 (« {seats[1]['body']} », collège 2) : rattaché au collège 2 alors que l'organisme relève " \
           f"du collège 1." in problems
    assert f"Siège n° 3 (« {seats[2]['body']} ») : collège « 7 » invalide (1 à 5 attendu)." in problems


@pytest.mark.parametrize("value", [0, 6, "x", True, None, 2.5])
def test_college_must_be_1_to_5(value):
    seats = full_composition()
    seats[0]["college"] = value
    assert any("invalide (1 à 5 attendu)" in p for p in check_cts_composition(seats))


def test_college_given_as_text_is_read():
    seats = full_composition()
    seats[0]["college"] = "1"
    assert check_cts_composition(seats) == []


def test_amf_members_must_be_confirmed_conseillers_municipaux():
    seats = full_composition()
    index = next(i for i, s in enumerate(seats) if s["body"] == ROWS["amf"]["name"])
    del seats[index]["suppleant"]["conseiller_municipal"]
    problems = check_cts_composition(seats)
    assert problems == [f"Siège n° {index + 1} (« {ROWS['amf']['name']} », collège 3) : la qualité de conseiller "
                        f"municipal du suppléant n'est pas confirmée."]


def test_same_person_twice_is_reported_whatever_the_case_and_spacing():
    seats = full_composition()
    seats[10]["suppleant"]["name"] = "Jeanne  DUPONT"
    seats[20]["titulaire"]["name"] = "jeanne dupont"
    problems = check_cts_composition(seats)
    assert problems == ["« Jeanne  DUPONT » est nommé(e) plusieurs fois : siège n° 11 (suppléant), "
                        "siège n° 21 (titulaire)."]


def test_unreadable_seat_and_bad_arguments():
    assert "Siège n° 1 : donnée illisible" in check_cts_composition(["x"] + full_composition())[0]
    with pytest.raises(TypeError, match="« seats » doit être une liste"):
        check_cts_composition({"body": "x"})
    with pytest.raises(ValueError, match="ligne 2 sans « name »"):
        check_cts_composition([], [{"name": "A", "college": 1, "cap": 1}, {"college": 2}])


# --------------------------------------------------------------------------- gender balance


def test_gender_balance_counts_per_college_and_overall():
    seats = [
        {"body": "A", "college": 1, "titulaire": member("a1", "F"), "suppleant": member("a2", "M")},
        {"body": "A", "college": 1, "titulaire": member("a3", "F"), "suppleant": member("a4", "F")},
        {"body": "B", "college": 3, "titulaire": member("b1", "M"), "suppleant": None},
        {"body": "C", "college": 5, "titulaire": member("c1", "m"), "suppleant": member("c2", "")},
    ]
    report = gender_balance(seats)
    by_college = {c["college"]: c for c in report["colleges"]}
    assert [c["college"] for c in report["colleges"]] == [1, 2, 3, 4, 5]
    assert by_college[1]["titulaires"] == {"F": 2, "M": 0, "inconnu": 0}
    assert by_college[1]["suppleants"] == {"F": 1, "M": 1, "inconnu": 0}
    assert by_college[2]["titulaires"] == {"F": 0, "M": 0, "inconnu": 0}
    assert by_college[3]["suppleants"] == {"F": 0, "M": 0, "inconnu": 0}
    assert by_college[5]["titulaires"] == {"F": 0, "M": 1, "inconnu": 0}
    assert by_college[5]["suppleants"] == {"F": 0, "M": 0, "inconnu": 1}
    assert report["total"] == {"titulaires": {"F": 2, "M": 2, "inconnu": 0},
                               "suppleants": {"F": 1, "M": 1, "inconnu": 1}}
    assert report["women_share"] == 50
    lines = report["text"].split("\n")
    assert lines[0] == ("Collège 1 (professionnels et offreurs des services de santé) : titulaires 2 F / 0 M ; "
                        "suppléants 1 F / 1 M")
    assert lines[4].endswith("titulaires 0 F / 1 M ; suppléants 0 F / 0 M ; 1 sans sexe renseigné")
    assert lines[5] == ("Ensemble : titulaires 2 F / 2 M ; suppléants 1 F / 1 M ; 1 sans sexe renseigné — "
                        "50 % de femmes parmi les titulaires")
    json.dumps(report)  # task data must serialise as is


def test_gender_balance_of_full_composition():
    report = gender_balance(full_composition())
    assert report["total"]["titulaires"] == {"F": 25, "M": 24, "inconnu": 0}
    assert report["total"]["suppleants"] == {"F": 24, "M": 25, "inconnu": 0}
    assert report["women_share"] == 51
    assert gender_balance([])["women_share"] == 0


# --------------------------------------------------------------------------- the arrêté


def test_format_arrete_orders_by_college_then_dmn_order_then_seat_order():
    seats = [
        {"body": ROWS["etat"]["name"], "college": 4, "titulaire": member("Préfet Un", "M", "sous-préfet"),
         "suppleant": member("Préfète Deux", "F", "secrétaire générale")},
        {"body": ROWS["had"]["name"], "college": 1, "titulaire": member("Had Un", "F", "directrice"),
         "suppleant": None},
        {"body": "Organisme hors table", "college": 1, "titulaire": member("Hors Table", "M"), "suppleant": None},
        {"body": ROWS["etablissements_gestionnaires"]["name"], "college": 1,
         "titulaire": member("Jeanne Dupont", "F", "directrice du CH de Melun"),
         "suppleant": member("Paul Martin", "M", "directeur adjoint")},
        {"body": ROWS["etablissements_gestionnaires"]["name"], "college": 1,
         "titulaire": member("Second Siège", "M", ""), "suppleant": member("Sa Suppléante", "F", "cadre")},
    ]
    result = format_arrete(seats)
    assert [block["college"] for block in result] == [1, 4]  # empty collèges are left out
    assert result[0]["title"] == "1° Collège des professionnels et offreurs des services de santé"
    members = result[0]["members"]
    assert [m["seat"] for m in members] == [4, 5, 2, 3]
    assert members[0] == {"seat": 4, "body": ROWS["etablissements_gestionnaires"]["name"],
                          "titulaire": "Mme Jeanne Dupont, directrice du CH de Melun",
                          "suppleant": "M. Paul Martin, directeur adjoint"}
    assert members[1]["titulaire"] == "M. Second Siège"
    assert members[2]["suppleant"] == "siège vacant"   # listed as such in the arrêté (#12, seed 000 l. 138)
    assert result[1]["members"][0]["titulaire"] == "M. Préfet Un, sous-préfet"


def test_format_arrete_follows_the_dmn_order_given():
    rows = copy.deepcopy(DEFAULT_BODIES)
    rows.reverse()
    seats = [seat("etablissements_gestionnaires", 1), seat("had", 1)]
    assert [m["seat"] for m in format_arrete(seats)[0]["members"]] == [1, 2]
    assert [m["seat"] for m in format_arrete(seats, rows)[0]["members"]] == [2, 1]


def test_arrete_text_groups_members_under_their_body():
    seats = [seat("adf", 1), seat("amf", 1), seat("amf", 2, "M")]
    text = arrete_text(format_arrete(seats))
    assert text.split("\n") == [
        cc.COLLEGES[3][1],
        f"  Au titre de : {ROWS['adf']['name']}",
        "    Titulaire : Mme adf titulaire 1, membre",
        "    Suppléant : M. adf suppléant 1, membre",
        f"  Au titre de : {ROWS['amf']['name']}",
        "    Titulaire : Mme amf titulaire 1, membre",
        "    Suppléant : M. amf suppléant 1, membre",
        "    Titulaire : M. amf titulaire 2, membre",
        "    Suppléant : Mme amf suppléant 2, membre",
    ]


def test_seat_list_text_numbers_seats_as_the_check_does():
    seats = full_composition()[:2] + [{"body": "", "college": None, "titulaire": None, "suppleant": None}]
    lines = seat_list_text(seats).split("\n")
    assert lines[0].startswith(f"1. Collège 1 — {seats[0]['body']} : titulaire Mme ")
    assert lines[2] == "3. Collège ? — ? : titulaire siège vacant ; suppléant siège vacant"


# --------------------------------------------------------------------------- form data → seats


def test_seats_from_form_reads_filled_seats_in_number_order():
    proposal = {
        "seat10": {"titulaire": member("Dixième", "M"), "suppleant": member("Dix bis", "F")},
        "seat2": {"titulaire": {"name": "  Anne Deux ", "sex": "f", "quality": " infirmière "},
                  "suppleant": {"name": "", "sex": None, "quality": ""}},
        "seat1": {"titulaire": {"name": "", "sex": None, "quality": ""},
                  "suppleant": {"name": "", "sex": None, "quality": ""}},
        "seat3": {"titulaire": {"name": "", "sex": None, "quality": ""}, "suppleant": member("Seule", "F")},
        "comment": "ignored",
    }
    seats = seats_from_form(proposal, ROWS["cdca"])
    assert [s["titulaire"]["name"] for s in seats] == ["Anne Deux", "", "Dixième"]
    assert seats[0] == {"body": ROWS["cdca"]["name"], "college": 2,
                        "titulaire": {"name": "Anne Deux", "sex": "F", "quality": "infirmière"}, "suppleant": None}
    assert seats[1]["suppleant"]["name"] == "Seule"
    lines = vacancies(seats)   # vacant, not blocking (seed 000 l. 138)
    assert f"Siège n° 1 (« {ROWS['cdca']['name']} », collège 2) : suppléant vacant." in lines
    assert f"Siège n° 2 (« {ROWS['cdca']['name']} », collège 2) : titulaire vacant." in lines


def test_seats_from_form_keeps_the_municipal_confirmation_and_accepts_a_name():
    proposal = {"seat1": {"titulaire": member("Maire", "F", conseiller_municipal=True),
                          "suppleant": member("Adjoint", "M", conseiller_municipal=False)}}
    (only,) = seats_from_form(proposal, "AMF", 3)
    assert only["titulaire"]["conseiller_municipal"] is True
    assert only["suppleant"]["conseiller_municipal"] is False
    assert only["college"] == 3
    assert seats_from_form(None, "AMF", 3) == [] and seats_from_form({}, ROWS["amf"]) == []


def test_seats_from_form_rejects_bad_input_clearly():
    with pytest.raises(ValueError, match="collège « 9 » invalide"):
        seats_from_form({}, "AMF", 9)
    with pytest.raises(ValueError, match="sans nom"):
        seats_from_form({}, {"college": 1})
    with pytest.raises(TypeError, match="propositions de « AMF »"):
        seats_from_form(["seat1"], "AMF", 3)


# --------------------------------------------------------------------------- corrections


def test_corrections_modify_delete_and_add_with_original_numbering():
    seats = full_composition()
    before = copy.deepcopy(seats)
    seats[2]["suppleant"] = None
    corrections = {
        "fix1": {"action": "supprimer", "seat": 1},
        "fix2": {"action": "modifier", "seat": 3, "body": "", "college": None,
                 "titulaire": {"name": "", "sex": None, "quality": "présidente de CME"},
                 "suppleant": {"name": "Nouveau Suppléant", "sex": "M", "quality": ""}},
        "fix3": {"action": "ajouter", "seat": None, "body": ROWS["etablissements_gestionnaires"]["name"],
                 "college": None, "titulaire": member("Ajoutée", "F"), "suppleant": member("Ajouté", "M")},
        "fix4": {"action": "", "seat": 5},
    }
    result = apply_seat_corrections(seats, corrections, DEFAULT_BODIES)
    assert result["errors"] == []
    new = result["seats"]
    assert len(new) == 49
    assert new[0] == seats[1]                       # seat 1 removed, the others move up
    assert new[1]["titulaire"]["name"] == seats[2]["titulaire"]["name"]
    assert new[1]["titulaire"]["quality"] == "présidente de CME"
    assert new[1]["suppleant"] == {"name": "Nouveau Suppléant", "sex": "M", "quality": ""}
    assert new[-1]["college"] == 1 and new[-1]["titulaire"]["name"] == "Ajoutée"
    assert seats[2]["suppleant"] is None and before[1] == seats[1]  # the input is not modified
    assert check_cts_composition(new) == []


def test_invalid_corrections_are_reported_and_skipped():
    seats = full_composition()[:3]
    corrections = [
        {"action": "modifier", "seat": 7, "titulaire": member("X")},
        {"action": "supprimer", "seat": None},
        {"action": "ajouter", "body": "", "college": None, "titulaire": {"name": ""}},
        {"action": "déplacer", "seat": 1},
        {"action": "modifier", "seat": "2", "college": "3"},
    ]
    result = apply_seat_corrections(seats, corrections)
    assert result["errors"] == [
        "Correction n° 1 : numéro de siège « 7 » invalide (la composition compte 3 siège(s)).",
        "Correction n° 2 : numéro de siège « None » invalide (la composition compte 3 siège(s)).",
        "Correction n° 3 : pour ajouter un siège, indiquez l'organisme, le collège, le nom du titulaire.",
        "Correction n° 4 : action « déplacer » inconnue (modifier, supprimer, ajouter).",
    ]
    assert [s["college"] for s in result["seats"]] == [1, 3, 1]
    assert apply_seat_corrections(seats, {})["seats"] == seats
    with pytest.raises(TypeError, match="« corrections »"):
        apply_seat_corrections(seats, "fix1")


def test_modifying_adds_a_missing_suppleant_and_confirms_municipal_status():
    seats = [seat("amf", 1)]
    seats[0]["suppleant"] = None
    fix = {"fix1": {"action": "modifier", "seat": 1,
                    "suppleant": {"name": "Élue", "sex": "F", "quality": "conseillère", "conseiller_municipal": True},
                    "titulaire": {"name": "", "conseiller_municipal": False}}}
    (new,) = apply_seat_corrections(seats, fix)["seats"]
    assert new["suppleant"] == {"name": "Élue", "sex": "F", "quality": "conseillère", "conseiller_municipal": True}
    assert new["titulaire"]["conseiller_municipal"] is True  # an unticked box does not revoke it


# --------------------------------------------------------------------------- registration and shipped files


def test_helpers_are_registrable_script_helpers():
    assert set(HELPERS) == {"cts_vacancies", "check_cts_composition", "gender_balance", "format_arrete", "arrete_text",
                            "seat_list_text", "seats_from_form", "apply_seat_corrections"}
    for name, func in HELPERS.items():
        assert name.isidentifier() and not name.startswith("_") and callable(func)


def _dmn_rows(territory):
    """Evaluate the shipped DMN as SpiffWorkflow does (Python cells, `?` = the input)."""
    ns = {"d": "https://www.omg.org/spec/DMN/20191111/MODEL/"}
    root = etree.parse(str(ROOT / "processes" / "cts_organismes.dmn")).getroot()
    table = root.find(".//d:decisionTable", ns)
    assert table.get("hitPolicy") == "COLLECT"
    names = [o.get("name") for o in table.findall("d:output", ns)]
    rows = []
    for rule in table.findall("d:rule", ns):
        test = (rule.find("d:inputEntry/d:text", ns).text or "").strip()
        if test and not eval(test.replace("?", repr(territory)), {}):  # noqa: S307 - our own file
            continue
        values = [ast.literal_eval(e.text) for e in rule.findall("d:outputEntry/d:text", ns)]
        rows.append({n.split(".", 1)[1]: v for n, v in zip(names, values)})
    assert all(n.startswith("designating_bodies.") for n in names)
    return rows


def test_default_bodies_mirror_the_shipped_dmn_for_mainland():
    keys = ("code", "name", "college", "cap", "circuit", "member_condition")
    assert [{k: r[k] for k in keys} for r in _dmn_rows("77")] == DEFAULT_BODIES


@pytest.mark.parametrize("territory", ["77", "2A", "972", "973", "974"])
def test_shipped_dmn_can_fill_every_college(territory):
    rows = _dmn_rows(territory)
    assert len({r["code"] for r in rows}) == len(rows), "une seule ligne par organisme et par territoire"
    assert check_cts_composition(full_composition(rows), rows) == []


def test_a_validated_proposal_form_gives_checkable_seats():
    forms = pytest.importorskip("arsflow.engine.forms")
    form = forms.load_form_file(ROOT / "forms" / "cts_propositions.form")
    context = {"body": dict(ROWS["amf"])}
    submitted = {"response_date": "2026-10-01", "proposal": {"seat1": {
        "titulaire": member("Maire Un", "F", "maire", conseiller_municipal=True),
        "suppleant": member("Adjoint Un", "M", "adjoint", conseiller_municipal=True)}}}
    data = form.validate(submitted, context=context)
    seats = seats_from_form(data["proposal"], context["body"])
    assert len(seats) == 1 and seats[0]["titulaire"]["conseiller_municipal"] is True
    assert not [p for p in check_cts_composition(seats) if "AMF" in p]
    unconfirmed = copy.deepcopy(submitted)
    del unconfirmed["proposal"]["seat1"]["suppleant"]["conseiller_municipal"]
    with pytest.raises(forms.FormValidationError) as err:
        form.validate(unconfirmed, context=context)
    assert list(err.value.errors) == ["proposal.seat1.suppleant.conseiller_municipal"]


def test_cdca_members_must_not_belong_to_institutions_serving_elderly_or_disabled_people():
    """Seed 000 l. 363: « Vous veillerez à ce que ces membres […] ne soient pas membres des
    institutions fournissant des services aux personnes âgées ou aux personnes handicapées »."""
    seats = full_composition()
    [index] = [i for i, seat in enumerate(seats) if seat["body"] == ROWS["cdca"]["name"]][:1]
    seats[index]["titulaire"]["quality"] = "directrice d'EHPAD"
    seats[index]["suppleant"]["institution_pa_ph"] = True
    problems = check_cts_composition(seats)
    assert len(problems) == 2 and all("personnes âgées ou handicapées" in p for p in problems)
    assert "« directrice d'EHPAD »" in problems[0]


def test_the_conseil_regional_names_a_conseiller_regional_where_the_data_says():
    """Seed 000 l. 367: « au président du Conseil régional de désigner au plus, un conseiller
    régional et son suppléant »."""
    seats = full_composition()
    [index] = [i for i, seat in enumerate(seats) if seat["body"] == ROWS["conseil_regional"]["name"]][:1]
    seats[index]["titulaire"]["quality"] = "conseillère régionale"
    seats[index]["suppleant"]["quality"] = "maire de Melun"
    [problem] = check_cts_composition(seats)
    assert "suppléant doit être un conseiller régional" in problem and "maire de Melun" in problem
    seats[index]["suppleant"]["quality"] = "conseiller régional, vice-président"
    assert check_cts_composition(seats) == []
