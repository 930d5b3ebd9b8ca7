"""Camunda Forms loading and server-side validation (engine/forms/)."""
from __future__ import annotations

import copy
import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from arsflow.engine.forms import (
    Component,
    Field,
    FormError,
    FormValidationError,
    form_id_of,
    load_form,
    load_form_dir,
    load_form_file,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

FIXTURE = Path(__file__).parent / "fixtures" / "forms" / "instruction_autorisation.form"
CONTEXT = {
    "numero_dossier": "ARS-2024-0042",
    "departements": [
        {"label": "Paris", "value": "75"},
        {"label": "Corse-du-Sud", "value": "2A"},
        {"label": "Guadeloupe", "value": "971"},
    ],
}


@pytest.fixture(scope="module")
def form():
    return load_form_file(FIXTURE)


def valid_submission(**overrides):
    data = {
        "raison_sociale": "Clinique du Parc",
        "finess": "2A0001234",
        "email_contact": "direction@clinique-parc.fr",
        "telephone": "01 23 45 67 89",
        "capacite": 120,
        "montant": 15000.5,
        "taux": 92.5,
        "dossier_complet": True,
        "pieces": ["cerfa", "budget"],
        "avis": "favorable",
        "departement": "2A",
        "activites": ["MED", "CHIR"],
        "date_visite": "2024-06-12",
        "heure_commission": "14:30",
        "rendez_vous": "2024-06-20T09:15:00+02:00",
    }
    data.update(overrides)
    return data


def errors_of(form, data, **kwargs):
    kwargs.setdefault("context", CONTEXT)
    with pytest.raises(FormValidationError) as info:
        form.validate(data, **kwargs)
    return info.value.errors


def bad_form(components, **top):
    raw = {"id": "Form_test", "type": "default", "components": components}
    raw.update(top)
    return json.dumps(raw)


def load_error(text, filename="mauvais.form"):
    with pytest.raises(FormError) as info:
        load_form(text, filename=filename)
    return info.value


# --------------------------------------------------------------------------- loading


def test_modeler_file_loads_with_fields_in_document_order(form):
    assert form.id == "Form_instruction_autorisation"
    assert form.source == "instruction_autorisation.form"
    assert form.raw["executionPlatformVersion"] == "7.20.0"
    assert [f.name for f in form.fields] == [
        "numero_dossier", "raison_sociale", "finess", "email_contact", "telephone", "capacite",
        "montant", "taux", "dossier_complet", "pieces", "avis", "motif", "departement",
        "activites", "date_visite", "heure_commission", "rendez_vous",
    ]
    finess = form.field("finess")
    assert (finess.id, finess.label, finess.required) == ("Field_1finess", "N° FINESS", True)
    assert finess.description.startswith("9 caractères")
    assert form.field("date_visite").label == "Date de la visite de conformité"
    assert form.field("heure_commission").subtype == "time"
    assert form.field("avis").options == [
        ("favorable", "Favorable"), ("defavorable", "Défavorable"), ("reserves", "Favorable avec réserves"),
    ]
    capacite = form.field("capacite")
    assert (capacite.min, capacite.max, capacite.decimal_digits) == (Decimal(0), Decimal(500), 0)
    assert form.field("montant").suffix == "€"
    assert form.field("taux").default == 80 and form.field("taux").increment == Decimal("0.5")
    assert form.field("numero_dossier").readonly
    assert form.field("motif").hide == '=avis != "defavorable"'
    assert form.field("departement").options_key == "departements"


def test_component_tree_keeps_display_components_and_groups(form):
    types = [c.type for c in form.components]
    assert types == [
        "text", "textfield", "group", "number", "number", "number", "checkbox", "checklist", "radio",
        "textarea", "select", "taglist", "datetime", "datetime", "datetime", "separator", "spacer", "button",
    ]
    text, _, group = form.components[:3]
    assert isinstance(text, Component) and text.text.startswith("# Instruction")
    assert isinstance(group, Component) and group.label == "Établissement demandeur"
    assert [c.key for c in group.children] == ["raison_sociale", "finess", "email_contact", "telephone"]
    assert all(isinstance(c, Field) for c in group.children)
    assert group.children[0] is form.field("raison_sociale")


def test_form_id_of_reads_only_the_id(form):
    assert form_id_of(FIXTURE.read_text(encoding="utf-8")) == "Form_instruction_autorisation"
    assert form_id_of(FIXTURE) == "Form_instruction_autorisation"
    assert form_id_of({"id": "Form_x", "components": "not even checked"}) == "Form_x"
    with pytest.raises(FormError, match="« id »"):
        form_id_of('{"components": []}')


def test_load_form_accepts_text_bytes_dict_and_path():
    text = FIXTURE.read_text(encoding="utf-8")
    for source in (text, text.encode("utf-8-sig"), json.loads(text), FIXTURE):
        assert load_form(source).id == "Form_instruction_autorisation"


def test_load_form_dir_indexes_by_id_and_rejects_duplicate_ids(tmp_path):
    (tmp_path / "a.form").write_text(bad_form([], id="Form_a"), encoding="utf-8")
    (tmp_path / "b.form").write_text(bad_form([], id="Form_b"), encoding="utf-8")
    (tmp_path / "notes.txt").write_text("ignored", encoding="utf-8")
    assert sorted(load_form_dir(tmp_path)) == ["Form_a", "Form_b"]
    (tmp_path / "c.form").write_text(bad_form([], id="Form_a"), encoding="utf-8")
    with pytest.raises(FormError) as info:
        load_form_dir(tmp_path)
    assert "c.form" in str(info.value) and "a.form" in str(info.value)


# --------------------------------------------------------------------------- bad form files


def test_invalid_json_reports_file_line_and_column():
    err = load_error('{\n  "id": "Form_x",\n  "components": [\n    {"type": "textfield",}\n  ]\n}')
    assert (err.line, err.column) == (4, 26)
    assert str(err).startswith("mauvais.form : JSON invalide à la ligne 4, colonne 26")


def test_non_utf8_file_is_a_form_error(tmp_path):
    path = tmp_path / "latin1.form"
    path.write_bytes('{"id": "Form_é", "components": []}'.encode("latin-1"))
    with pytest.raises(FormError, match="latin1.form : .*UTF-8"):
        load_form_file(path)


@pytest.mark.parametrize(
    "components, component, reason",
    [
        ([{"type": "textfield", "id": "Field_0nokey1", "label": "Nom"}], "Field_0nokey1", "« key » manquant"),
        ([{"type": "textfield", "id": "Field_0badkey", "key": "nom du patient"}], "« nom du patient » (Field_0badkey)",
         "clé « nom du patient » invalide"),
        ([{"type": "signature", "id": "Field_0sig001", "key": "sig"}], "« sig » (Field_0sig001)",
         "type de composant inconnu « signature »"),
        ([{"type": "filepicker", "id": "Field_0file01", "key": "pj", "multiple": "=plusieurs"}],
         "« pj » (Field_0file01)", "« multiple » doit valoir vrai ou faux"),
        ([{"type": "textfield", "id": "Field_0regex1", "key": "code", "validate": {"pattern": "[0-9"}}],
         "« code » (Field_0regex1)", "expression régulière « [0-9 » invalide"),
        ([{"type": "number", "id": "Field_0minmax", "key": "n", "validate": {"min": 10, "max": 1}}],
         "« n » (Field_0minmax)", "minimale supérieure"),
        ([{"type": "number", "id": "Field_0min001", "key": "n", "validate": {"min": "beaucoup"}}],
         "« n » (Field_0min001)", "« min » doit être un nombre"),
        ([{"type": "select", "id": "Field_0noopts", "key": "choix"}], "« choix » (Field_0noopts)", "aucun choix"),
        ([{"type": "radio", "id": "Field_0dupopt", "key": "r",
           "values": [{"label": "A", "value": "a"}, {"label": "A bis", "value": "a"}]}],
         "« r » (Field_0dupopt)", "choix « a » en double"),
        ([{"type": "select", "id": "Field_0baddef", "key": "s", "defaultValue": "z",
           "values": [{"label": "A", "value": "a"}]}], "« s » (Field_0baddef)", "valeur par défaut 'z' invalide"),
        ([{"type": "number", "id": "Field_0defnan", "key": "n", "defaultValue": "abc"}],
         "« n » (Field_0defnan)", "Nombre invalide"),
        ([{"type": "datetime", "id": "Field_0subtyp", "key": "d", "subtype": "week"}],
         "« d » (Field_0subtyp)", "sous-type « week »"),
        ([{"type": "textfield", "id": "Field_0vtype1", "key": "t", "validate": {"validationType": "iban"}}],
         "« t » (Field_0vtype1)", "type de validation « iban »"),
        ([{"type": "textarea", "id": "Field_0cond01", "key": "m", "conditional": {"hide": "=avis ~ 3"}}],
         "« m » (Field_0cond01)", "expression FEEL non prise en charge"),
        ([{"type": "dynamiclist", "id": "Field_0dyn001", "components": []}], "Field_0dyn001", "« path » manquant"),
        (["textfield"], "components[0]", "doit être un objet JSON"),
        ([{"type": "group", "id": "Field_0grp001", "components": [{"label": "x"}]}],
         "components[0].components[0]", "« type » manquant"),
    ],
)
def test_invalid_component_names_file_and_component(components, component, reason):
    err = load_error(bad_form(components))
    assert err.filename == "mauvais.form"
    assert err.component == component
    assert reason in str(err)
    assert str(err).startswith(f"mauvais.form : composant {component} : ")


def test_duplicate_key_names_both_components_even_across_groups():
    err = load_error(bad_form([
        {"type": "textfield", "id": "Field_0first1", "key": "nom"},
        {"type": "group", "id": "Field_0grp001", "components": [
            {"type": "textfield", "id": "Field_0second", "key": "nom"},
        ]},
    ]))
    assert err.component == "« nom » (Field_0second)"
    assert "clé « nom » en double" in str(err) and "Field_0first1" in str(err)


def test_key_that_shadows_another_field_path_is_rejected():
    err = load_error(bad_form([
        {"type": "textfield", "id": "Field_0a", "key": "demandeur"},
        {"type": "textfield", "id": "Field_0b", "key": "demandeur.nom"},
    ]))
    assert "en conflit" in str(err) and err.component == "« demandeur.nom » (Field_0b)"


@pytest.mark.parametrize(
    "text, reason",
    [
        ('[]', "objet JSON"),
        ('{"components": []}', "« id »"),
        ('{"id": "Form_x"}', "« components »"),
        ('{"id": "Form_x", "components": {}}', "« components »"),
        ('{"id": "Form_x", "type": "survey", "components": []}', "« survey »"),
    ],
)
def test_invalid_form_top_level(text, reason):
    err = load_error(text)
    assert str(err).startswith("mauvais.form : ") and reason in str(err)


# --------------------------------------------------------------------------- valid submissions


def test_valid_submission_is_cleaned_and_typed(form):
    cleaned = form.validate(valid_submission(), context=CONTEXT)
    assert cleaned == {
        "raison_sociale": "Clinique du Parc",
        "finess": "2A0001234",
        "email_contact": "direction@clinique-parc.fr",
        "telephone": "01 23 45 67 89",
        "capacite": 120,
        "montant": 15000.5,
        "taux": 92.5,
        "dossier_complet": True,
        "pieces": ["cerfa", "budget"],
        "avis": "favorable",
        "departement": "2A",
        "activites": ["MED", "CHIR"],
        "date_visite": "2024-06-12",
        "heure_commission": "14:30",
        "rendez_vous": "2024-06-20T09:15+02:00",
    }
    assert type(cleaned["capacite"]) is int


def test_unknown_keys_and_readonly_fields_are_not_taken_from_the_user(form):
    cleaned = form.validate(
        valid_submission(numero_dossier="PIRATE", statut_instruction="clos", initiator="admin"), context=CONTEXT
    )
    assert "numero_dossier" not in cleaned
    assert "statut_instruction" not in cleaned and "initiator" not in cleaned


def test_disabled_field_is_neither_validated_nor_returned():
    f = load_form(bad_form([
        {"type": "number", "id": "Field_0dis001", "key": "score", "disabled": True, "validate": {"required": True}},
        {"type": "textfield", "id": "Field_0txt001", "key": "nom"},
    ]))
    assert f.validate({"score": "n'importe quoi", "nom": "x"}) == {"nom": "x"}


def test_omitted_json_field_keeps_task_value_then_default_then_empty(form):
    data = valid_submission()
    for key in ("montant", "taux", "activites", "telephone"):
        del data[key]
    cleaned = form.validate(data, context={**CONTEXT, "montant": 2500})
    assert cleaned["montant"] == 2500      # unchanged task variable
    assert cleaned["taux"] == 80           # defaultValue
    assert cleaned["activites"] == []      # taglist empty value
    assert cleaned["telephone"] == ""      # textfield empty value


def test_required_field_satisfied_by_existing_task_value(form):
    data = valid_submission()
    del data["raison_sociale"]
    cleaned = form.validate(data, context={**CONTEXT, "raison_sociale": "Clinique du Parc"})
    assert cleaned["raison_sociale"] == "Clinique du Parc"


# --------------------------------------------------------------------------- error paths


def test_all_required_errors_are_reported_at_once(form):
    errors = errors_of(form, {})
    assert errors == {
        "raison_sociale": "Ce champ est obligatoire.",
        "finess": "Ce champ est obligatoire.",
        "capacite": "Ce champ est obligatoire.",
        "dossier_complet": "Cette case doit être cochée.",
        "pieces": "Sélectionnez au moins une option.",
        "avis": "Ce champ est obligatoire.",
        "departement": "Ce champ est obligatoire.",
        "date_visite": "Ce champ est obligatoire.",
    }


def test_blank_text_counts_as_missing(form):
    errors = errors_of(form, valid_submission(raison_sociale="   ", dossier_complet=False, pieces=[]))
    assert errors == {
        "raison_sociale": "Ce champ est obligatoire.",
        "dossier_complet": "Cette case doit être cochée.",
        "pieces": "Sélectionnez au moins une option.",
    }


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"capacite": -1}, "capacite", "La valeur doit être au moins 0."),
        ({"capacite": 501}, "capacite", "La valeur doit être au plus 500."),
        ({"capacite": 12.5}, "capacite", "La valeur doit être un nombre entier."),
        ({"capacite": "beaucoup"}, "capacite", "Nombre invalide."),
        ({"capacite": True}, "capacite", "Nombre invalide."),
        ({"capacite": float("nan")}, "capacite", "Nombre invalide."),
        ({"montant": 10.125}, "montant", "La valeur doit avoir au plus 2 décimales."),
        ({"montant": -0.5}, "montant", "La valeur doit être au moins 0."),
        ({"taux": 92.3}, "taux", "La valeur doit être un multiple de 0,5 (valeurs valides les plus proches : 92 et 92,5)."),
        ({"raison_sociale": "AB"}, "raison_sociale", "Le texte doit contenir au moins 3 caractères."),
        ({"raison_sociale": "x" * 101}, "raison_sociale", "Le texte doit contenir au plus 100 caractères."),
        ({"raison_sociale": "  AB  "}, "raison_sociale", "Le texte doit contenir au moins 3 caractères."),
        ({"raison_sociale": ["a", "b"]}, "raison_sociale", "Une seule valeur est attendue."),
        ({"raison_sociale": {"nom": "x"}}, "raison_sociale", "Texte attendu."),
        ({"finess": "75000000"}, "finess", "Format attendu : [0-9][0-9AB][0-9]{7}"),
        ({"finess": "7500000001"}, "finess", "Format attendu : [0-9][0-9AB][0-9]{7}"),
        ({"finess": "x750000000"}, "finess", "Format attendu : [0-9][0-9AB][0-9]{7}"),
        ({"email_contact": "direction@"}, "email_contact", "Adresse électronique invalide."),
        ({"email_contact": "di rection@ars.fr"}, "email_contact", "Adresse électronique invalide."),
        ({"telephone": "12 34"}, "telephone", "Numéro de téléphone invalide (ex. : 01 23 45 67 89 ou +33 1 23 45 67 89)."),
        ({"avis": "peut-être"}, "avis", "Valeur non autorisée : « peut-être »."),
        ({"pieces": ["cerfa", "casier"]}, "pieces", "Valeur non autorisée : « casier »."),
        ({"pieces": "cerfa"}, "pieces", "Liste de valeurs attendue."),
        ({"activites": ["MED", "SMR"]}, "activites", "Valeur non autorisée : « SMR »."),
        ({"departement": "13"}, "departement", "Valeur non autorisée : « 13 »."),
        ({"dossier_complet": "oui"}, "dossier_complet", "Valeur booléenne attendue (coché ou non coché)."),
        ({"date_visite": "12/13/2024"}, "date_visite", "Date invalide. Format attendu : AAAA-MM-JJ."),
        ({"date_visite": "2024-02-30"}, "date_visite", "Date invalide. Format attendu : AAAA-MM-JJ."),
        ({"date_visite": "2024-06-12T10:00"}, "date_visite", "Date invalide. Format attendu : AAAA-MM-JJ."),
        ({"heure_commission": "25:00"}, "heure_commission", "Heure invalide. Format attendu : HH:MM."),
        ({"rendez_vous": "2024-06-20"}, "rendez_vous", "Date et heure invalides. Format attendu : AAAA-MM-JJTHH:MM."),
        ({"rendez_vous": "demain 9h"}, "rendez_vous", "Date et heure invalides. Format attendu : AAAA-MM-JJTHH:MM."),
    ],
)
def test_each_rule_rejects_with_a_french_message(form, overrides, field, message):
    assert errors_of(form, valid_submission(**overrides)) == {field: message}


def test_several_errors_at_once_and_exception_summary(form):
    with pytest.raises(FormValidationError) as info:
        form.validate(
            valid_submission(capacite=900, finess="123", email_contact="non", avis="bof", date_visite="hier"),
            context=CONTEXT,
        )
    err = info.value
    assert set(err.errors) == {"capacite", "finess", "email_contact", "avis", "date_visite"}
    assert isinstance(err, ValueError)
    assert str(err).startswith("5 champs invalides — ")
    assert "capacite : La valeur doit être au plus 500." in str(err)


def test_valid_phone_and_email_variants(form):
    for phone in ("0123456789", "01.23.45.67.89", "+33 1 23 45 67 89", "0033123456789", "+590 590 12 34 56"):
        assert form.validate(valid_submission(telephone=phone), context=CONTEXT)["telephone"] == phone
    assert form.validate(valid_submission(email_contact="ars-idf-dt75@ars.sante.fr"), context=CONTEXT)


def test_pattern_must_match_the_whole_value():
    f = load_form(bad_form([{"type": "textfield", "id": "F1", "key": "cp", "validate": {"pattern": r"\d{5}"}}]))
    assert f.validate({"cp": "75013"}) == {"cp": "75013"}
    assert f.validate({"cp": ""}) == {"cp": ""}  # optional: empty is not checked against the pattern
    assert errors_of(f, {"cp": "750130"}) == {"cp": r"Format attendu : \d{5}"}
    # JavaScript semantics: \d is ASCII only, so Arabic-Indic digits do not pass
    assert errors_of(f, {"cp": "٧٥٠١٣"}) == {"cp": r"Format attendu : \d{5}"}


def test_js_named_groups_in_patterns_are_understood():
    f = load_form(bad_form([{
        "type": "textfield", "id": "F1", "key": "code",
        "validate": {"pattern": r"(?<lettre>[A-Z])-\k<lettre>"},
    }]))
    assert f.validate({"code": "B-B"}) == {"code": "B-B"}
    assert "code" in errors_of(f, {"code": "B-C"})


def test_passed_dates_refused_when_the_modeler_says_so():
    f = load_form(bad_form([
        {"type": "datetime", "subtype": "date", "id": "F1", "key": "echeance", "disallowPassedDates": True},
    ]))
    today = date(2024, 6, 12)
    assert f.validate({"echeance": "2024-06-12"}, today=today) == {"echeance": "2024-06-12"}
    assert errors_of(f, {"echeance": "2024-06-11"}, today=today) == {
        "echeance": "La date ne peut pas être antérieure à aujourd'hui."
    }


# --------------------------------------------------------------------------- HTML posts


def test_html_post_is_coerced_from_strings(form):
    post = MultiDict([
        ("raison_sociale", "Clinique du Parc"),
        ("finess", "750001234"),
        ("email_contact", ""),
        ("telephone", ""),
        ("capacite", "1 200".replace("1 2", "2")),  # "200"
        ("montant", "15 000,50"),
        ("taux", "80"),
        ("dossier_complet", "on"),
        ("pieces", "cerfa"),
        ("pieces", "projet_medical"),
        ("avis", "defavorable"),
        ("motif", "Projet médical incomplet."),
        ("departement", "75"),
        ("date_visite", "2024-06-12"),
        ("heure_commission", "09:00"),
        ("rendez_vous", "2024-06-20T09:15"),
        ("numero_dossier", "PIRATE"),
    ])
    cleaned = form.validate(post, from_strings=True, context=CONTEXT)
    assert cleaned == {
        "raison_sociale": "Clinique du Parc",
        "finess": "750001234",
        "email_contact": "",
        "telephone": "",
        "capacite": 200,
        "montant": 15000.5,
        "taux": 80,
        "dossier_complet": True,
        "pieces": ["cerfa", "projet_medical"],
        "avis": "defavorable",
        "motif": "Projet médical incomplet.",
        "departement": "75",
        "activites": [],
        "date_visite": "2024-06-12",
        "heure_commission": "09:00",
        "rendez_vous": "2024-06-20T09:15",
    }


def test_html_post_absent_checkbox_is_unchecked_and_errors_on_bad_strings(form):
    post = {
        "raison_sociale": "Clinique du Parc", "finess": "750001234", "capacite": "douze",
        "pieces": [], "avis": "favorable", "departement": "75", "date_visite": "31/02/2024",
        "montant": "", "taux": "",
    }
    errors = errors_of(form, post, from_strings=True)
    assert errors == {
        "capacite": "Nombre invalide.",
        "dossier_complet": "Cette case doit être cochée.",
        "pieces": "Sélectionnez au moins une option.",
        "date_visite": "Date invalide. Format attendu : AAAA-MM-JJ.",
    }


def test_html_post_keeps_empty_fields_empty_not_task_values(form):
    post = {
        "raison_sociale": "Clinique du Parc", "finess": "750001234", "capacite": "10", "dossier_complet": "true",
        "pieces": "cerfa", "avis": "reserves", "departement": "971", "date_visite": "12/06/2024",
        "montant": "", "email_contact": "",
    }
    cleaned = form.validate(post, from_strings=True, context={**CONTEXT, "montant": 99, "taux": 70})
    assert cleaned["montant"] is None and cleaned["taux"] is None
    assert cleaned["pieces"] == ["cerfa"]  # a lone string is a one-item checklist
    assert cleaned["date_visite"] == "2024-06-12"  # French date typed into a text input


@pytest.mark.parametrize("value, expected", [("on", True), ("true", True), ("1", True), ("oui", True),
                                             ("false", False), ("off", False), ("", False)])
def test_checkbox_strings(value, expected):
    f = load_form(bad_form([{"type": "checkbox", "id": "F1", "key": "ok"}]))
    assert f.validate({"ok": value}, from_strings=True) == {"ok": expected}


def test_checkbox_hidden_false_plus_checked_on():
    f = load_form(bad_form([{"type": "checkbox", "id": "F1", "key": "ok"}]))
    assert f.validate(MultiDict([("ok", "false"), ("ok", "on")]), from_strings=True) == {"ok": True}
    assert errors_of(f, {"ok": "peut-être"}, from_strings=True) == {"ok": "Valeur booléenne attendue (coché ou non coché)."}


def test_repeated_single_value_is_an_error():
    f = load_form(bad_form([{"type": "textfield", "id": "F1", "key": "nom"}]))
    assert errors_of(f, MultiDict([("nom", "a"), ("nom", "b")]), from_strings=True) == {
        "nom": "Une seule valeur est attendue."
    }


def test_number_serialize_to_string_and_increment_neighbours_below_zero():
    f = load_form(bad_form([
        {"type": "number", "id": "F1", "key": "montant", "serializeToString": True, "decimalDigits": 2},
        {"type": "number", "id": "F2", "key": "pas", "increment": 5},
    ]))
    assert f.validate({"montant": "1234,50", "pas": -10}) == {"montant": "1234.5", "pas": -10}
    assert errors_of(f, {"montant": "1", "pas": -7}) == {
        "pas": "La valeur doit être un multiple de 5 (valeurs valides les plus proches : -10 et -5)."
    }


@settings(max_examples=60, deadline=None)
@given(st.decimals(min_value=0, max_value=500, places=2, allow_nan=False, allow_infinity=False))
def test_french_decimal_strings_round_trip(value):
    f = load_form(bad_form([{"type": "number", "id": "F1", "key": "m", "decimalDigits": 2,
                             "validate": {"min": 0, "max": 500}}]))
    text = format(value, "f").replace(".", ",")
    assert Decimal(str(f.validate({"m": text}, from_strings=True)["m"])) == value


# --------------------------------------------------------------------------- conditions


def test_hidden_field_is_not_validated_nor_returned(form):
    cleaned = form.validate(valid_submission(avis="favorable", motif="texte saisi puis masqué"), context=CONTEXT)
    assert "motif" not in cleaned
    assert form.hidden_names({"avis": "favorable"}) == {"motif"}


def test_shown_conditional_field_is_required(form):
    assert errors_of(form, valid_submission(avis="defavorable")) == {"motif": "Ce champ est obligatoire."}
    assert form.hidden_names({"avis": "defavorable"}) == set()
    cleaned = form.validate(valid_submission(avis="defavorable", motif="Hors schéma régional."), context=CONTEXT)
    assert cleaned["motif"] == "Hors schéma régional."


def test_group_condition_hides_its_children_and_feel_subset():
    f = load_form(bad_form([
        {"type": "checklist", "id": "F0", "key": "pieces", "values": [{"label": "A", "value": "a"}, {"label": "B", "value": "b"}]},
        {"type": "number", "id": "F1", "key": "montant"},
        {"type": "group", "id": "G1", "label": "Budget",
         "conditional": {"hide": '=not(list contains(pieces, "b")) or montant < 1000'},
         "components": [{"type": "textfield", "id": "F2", "key": "justif", "validate": {"required": True}}]},
        {"type": "textfield", "id": "F3", "key": "null_check",
         "conditional": {"hide": "=montant > 10 and count(pieces) >= 2"}},
    ]))
    assert f.validate({"pieces": ["a"], "montant": 5000}) == {"pieces": ["a"], "montant": 5000, "null_check": ""}
    assert f.validate({"pieces": ["b"], "montant": 500}) == {"pieces": ["b"], "montant": 500, "null_check": ""}
    assert errors_of(f, {"pieces": ["b"], "montant": 5000}) == {"justif": "Ce champ est obligatoire."}
    # null montant: "null < 1000" is null, so the group stays visible (FEEL semantics)
    assert errors_of(f, {"pieces": ["b"]}) == {"justif": "Ce champ est obligatoire."}
    assert "null_check" not in f.validate({"pieces": ["a", "b"], "montant": 20, "justif": "x"})


def test_condition_can_read_task_data_from_context():
    f = load_form(bad_form([
        {"type": "textfield", "id": "F1", "key": "avis_dg", "validate": {"required": True},
         "conditional": {"hide": '=circuit.niveau != "DG"'}},
    ]))
    assert f.validate({}, context={"circuit": {"niveau": "DT"}}) == {}
    assert errors_of(f, {}, context={"circuit": {"niveau": "DG"}}) == {"avis_dg": "Ce champ est obligatoire."}


def test_readonly_expression_is_evaluated_against_task_data():
    f = load_form(bad_form([
        {"type": "textfield", "id": "F1", "key": "decision", "readonly": "=etape = \"cloture\""},
    ]))
    assert f.validate({"decision": "x"}, context={"etape": "cloture"}) == {}
    assert f.validate({"decision": "x"}, context={"etape": "instruction"}) == {"decision": "x"}


# --------------------------------------------------------------------------- dynamic options


def test_values_key_options_come_from_context(form):
    field = form.field("departement")
    assert form.options_for(field, CONTEXT) == [("75", "Paris"), ("2A", "Corse-du-Sud"), ("971", "Guadeloupe")]
    assert form.options_for("departement") == []
    assert form.validate(valid_submission(departement="971"), context=CONTEXT)["departement"] == "971"
    assert errors_of(form, valid_submission(), context={}) == {
        "departement": "Aucune liste de choix n'est disponible pour ce champ."
    }
    assert errors_of(form, valid_submission(), context={"departements": []}) == {
        "departement": "Aucune liste de choix n'est disponible pour ce champ."
    }


def test_values_key_with_plain_and_numeric_values_maps_strings_back():
    f = load_form(bad_form([
        {"type": "select", "id": "F1", "key": "annee", "valuesKey": "annees"},
        {"type": "checklist", "id": "F2", "key": "sites", "valuesKey": "ref.sites"},
    ]))
    context = {"annees": [2024, 2025], "ref": {"sites": [{"value": 1, "label": "Site A"}, {"value": 2, "label": "Site B"}]}}
    assert f.options_for("annee", context) == [(2024, "2024"), (2025, "2025")]
    cleaned = f.validate({"annee": "2025", "sites": ["2"]}, from_strings=True, context=context)
    assert cleaned == {"annee": 2025, "sites": [2]}
    assert errors_of(f, {"annee": "2030", "sites": []}, from_strings=True, context=context) == {
        "annee": "Valeur non autorisée : « 2030 »."
    }


def test_values_expression_options():
    f = load_form(bad_form([
        {"type": "radio", "id": "F1", "key": "niveau",
         "valuesExpression": '=[{label: "Bas", value: "bas"}, {label: "Haut", value: "haut"}]'},
        {"type": "select", "id": "F2", "key": "dt", "valuesExpression": "=referentiel.dts"},
    ]))
    context = {"referentiel": {"dts": ["DT75", "DT93"]}}
    assert f.options_for("niveau") == [("bas", "Bas"), ("haut", "Haut")]
    assert f.validate({"niveau": "haut", "dt": "DT93"}, context=context) == {"niveau": "haut", "dt": "DT93"}
    assert errors_of(f, {"niveau": "moyen", "dt": "DT92"}, context=context) == {
        "niveau": "Valeur non autorisée : « moyen ».",
        "dt": "Valeur non autorisée : « DT92 ».",
    }


# --------------------------------------------------------------------------- partial (draft) saves


def test_partial_skips_required_and_returns_only_submitted_fields(form):
    assert form.validate({"raison_sociale": "Clinique"}, partial=True, context=CONTEXT) == {"raison_sociale": "Clinique"}
    # other rules still apply to what was submitted
    assert errors_of(form, {"capacite": 9000}, partial=True) == {"capacite": "La valeur doit être au plus 500."}


# --------------------------------------------------------------------------- nesting: group path, dotted keys, dynamic lists


NESTED = [
    {"type": "group", "id": "G1", "label": "Demandeur", "path": "demandeur", "components": [
        {"type": "textfield", "id": "F1", "key": "nom", "validate": {"required": True}},
        {"type": "textfield", "id": "F2", "key": "adresse.ville"},
    ]},
    {"type": "dynamiclist", "id": "L1", "label": "Équipements", "path": "equipements", "components": [
        {"type": "textfield", "id": "F3", "key": "libelle", "validate": {"required": True}},
        {"type": "number", "id": "F4", "key": "quantite", "validate": {"min": 1}},
        {"type": "textfield", "id": "F5", "key": "autorisation",
         "conditional": {"hide": "=quantite < 2"}, "validate": {"required": True}},
    ]},
]


def test_group_path_and_dotted_keys_nest_the_cleaned_data():
    f = load_form(bad_form(NESTED))
    assert [x.name for x in f.fields] == ["demandeur.nom", "demandeur.adresse.ville", "equipements"]
    cleaned = f.validate({"demandeur": {"nom": "CH Sud", "adresse": {"ville": "Ajaccio"}}, "equipements": []})
    assert cleaned == {"demandeur": {"nom": "CH Sud", "adresse": {"ville": "Ajaccio"}}, "equipements": []}
    assert f.validate({"demandeur.nom": "CH Sud", "demandeur.adresse.ville": "Bastia"}, from_strings=True) == {
        "demandeur": {"nom": "CH Sud", "adresse": {"ville": "Bastia"}}, "equipements": [],
    }
    assert errors_of(f, {"demandeur": {}}) == {"demandeur.nom": "Ce champ est obligatoire."}


def test_dynamic_list_items_are_validated_each_with_their_own_conditions():
    f = load_form(bad_form(NESTED))
    data = {"demandeur": {"nom": "CH"}, "equipements": [
        {"libelle": "IRM", "quantite": 1},
        {"libelle": "", "quantite": 3},
        "pas un objet",
    ]}
    assert errors_of(f, data) == {
        "equipements[1].libelle": "Ce champ est obligatoire.",
        "equipements[1].autorisation": "Ce champ est obligatoire.",
        "equipements[2]": "Élément invalide.",
    }
    data["equipements"] = [{"libelle": "IRM", "quantite": 1, "autorisation": "masqué"},
                           {"libelle": "Scanner", "quantite": 2, "autorisation": "AUT-1"}]
    assert f.validate(data)["equipements"] == [
        {"libelle": "IRM", "quantite": 1},
        {"libelle": "Scanner", "quantite": 2, "autorisation": "AUT-1"},
    ]
    assert errors_of(f, {"demandeur": {"nom": "CH"}, "equipements": "IRM"}) == {
        "equipements": "Liste d'éléments attendue."
    }


def test_dynamic_list_from_html_names():
    f = load_form(bad_form(NESTED))
    post = MultiDict([
        ("demandeur.nom", "CH"),
        ("equipements[1].libelle", "Scanner"), ("equipements[1].quantite", "2"),
        ("equipements[1].autorisation", "AUT-2"),
        ("equipements[0].libelle", "IRM"), ("equipements[0].quantite", "0"),
    ])
    assert errors_of(f, post, from_strings=True) == {"equipements[0].quantite": "La valeur doit être au moins 1."}
    post.setlist("equipements[0].quantite", ["1"])
    assert f.validate(post, from_strings=True)["equipements"] == [
        {"libelle": "IRM", "quantite": 1},
        {"libelle": "Scanner", "quantite": 2, "autorisation": "AUT-2"},
    ]


def test_keys_may_repeat_across_dynamic_list_and_form():
    f = load_form(bad_form([
        {"type": "textfield", "id": "F1", "key": "libelle"},
        {"type": "dynamiclist", "id": "L1", "path": "lignes", "components": [
            {"type": "textfield", "id": "F2", "key": "libelle"}]},
    ]))
    assert f.validate({"libelle": "a", "lignes": [{"libelle": "b"}]}) == {"libelle": "a", "lignes": [{"libelle": "b"}]}


# --------------------------------------------------------------------------- rendering helpers and speed


def test_initial_values_prefill_from_task_data_then_defaults(form):
    initial = form.initial_values({"numero_dossier": "ARS-1", "capacite": 40})
    assert initial["numero_dossier"] == "ARS-1" and initial["capacite"] == 40
    assert initial["taux"] == 80 and initial["pieces"] == [] and initial["dossier_complet"] is False
    assert form.defaults() == {"taux": 80}


def test_validation_reuses_compiled_patterns(form, monkeypatch):
    """Regexes are compiled at load time: validating must not compile anything."""
    def no_compile(*args, **kwargs):
        raise AssertionError("re.compile called during validation")

    monkeypatch.setattr(re, "compile", no_compile)
    monkeypatch.setattr(re, "fullmatch", no_compile)
    monkeypatch.setattr(re, "match", no_compile)
    assert form.validate(valid_submission(), context=CONTEXT)["finess"] == "2A0001234"


def test_validate_does_not_mutate_inputs(form):
    data = valid_submission(pieces=["cerfa"])
    context = copy.deepcopy(CONTEXT)
    snapshot, ctx_snapshot = copy.deepcopy(data), copy.deepcopy(context)
    form.validate(data, context=context)
    assert data == snapshot and context == ctx_snapshot
