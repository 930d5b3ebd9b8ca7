"""Starting the demo procedures from their start forms (Camunda Forms on the start events):
the form is rendered instead of raw JSON, French dates and numbers are read, dynamic lists
grow without JavaScript, a refusal comes back on the form with nothing written, and an
incident's « Relancer » takes corrected data."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from arsflow import web
from arsflow.engine.models import Instance
from arsflow.processes.demo import DEMO_PASSWORD, load_demo
from tests.test_web import csrf_of, post


@pytest.fixture
def demo(runtime, clock):
    clock.set("2026-12-15T09:00:00+00:00")
    load_demo(runtime)
    app = web.create_app(runtime, config={"TESTING": True, "SECRET_KEY": "start-forms"})
    return {"app": app, "rt": runtime}


def client_as(demo, login: str):
    client = demo["app"].test_client()
    token = csrf_of(client)
    response = client.post("/connexion", data={"login": login, "password": DEMO_PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.text
    return client


def instances(rt) -> int:
    with rt.db.read() as s:
        return s.scalar(select(func.count()).select_from(Instance))


@pytest.mark.parametrize("key,fields", [
    ("prs_consultation", ["champ-publication_date", "champ-kind-1", "champ-territory", "champ-bodies",
                          "champ-reminder_days", "champ-arrete_au_plus_tard"]),
    ("cts_nomination", ["champ-cts_name", "champ-territory", "champ-answer_days", "champ-reminder_days"]),
    ("cts_sante_mentale", ["champ-cts_name", "champ-date_seance", "champ-cts_members"]),
    ("cpom_etat_ars", ["champ-year", "champ-region", "champ-cnp_date"]),
])
def test_each_procedure_starts_from_its_form_not_json(demo, key, fields):
    page = client_as(demo, "paul.david").get(f"/procedures/{key}/demarrer").text
    assert 'name="_variables"' not in page
    for html_id in fields:
        assert f'id="{html_id}"' in page, html_id
    assert 'placeholder="jj/mm/aaaa"' in page or key == "cts_nomination"


def test_prs_start_with_french_dates_and_a_grown_list_of_bodies(demo):
    rt = demo["rt"]
    client = client_as(demo, "sophie.durand")
    form = {"_business_key": "PRS-NORM-2027", "publication_date": "01/12/2026", "kind": "revision",
            "territory": "76", "reminder_days": "10", "bodies[0].name": "CRSA de Normandie"}
    grown = post(client, "/procedures/prs_consultation/demarrer", {**form, "_action": "ajouter:bodies"})
    assert grown.status_code == 200 and instances(rt) == 4  # adding an item starts nothing
    assert 'name="bodies[1].name"' in grown.text and 'value="CRSA de Normandie"' in grown.text
    done = post(client, "/procedures/prs_consultation/demarrer",
                {**form, "bodies[1].name": "Préfet de la région Normandie", "_action": "demarrer"})
    assert done.status_code == 302, done.text
    iid = int(done.headers["Location"].rsplit("/", 1)[-1])
    variables = rt.show(iid)["variables"]
    assert variables["publication_date"] == "2026-12-01" and variables["reminder_days"] == 10
    assert variables["bodies"][:2] == ["CRSA de Normandie", "Préfet de la région Normandie"]
    assert rt.show(iid)["state"] in ("running", "waiting")


def test_prs_start_form_gives_the_correspondents_addresses(demo):
    """As `correspondants` in JSON (CLI, demo): a body listed with an address gets its courrier
    de saisine and a personal portal link by email; a malformed address refuses the start."""
    from arsflow.engine.models import OutboxMessage
    rt = demo["rt"]
    client = client_as(demo, "sophie.durand")
    grown = post(client, "/procedures/prs_consultation/demarrer", {"_action": "ajouter:bodies"})
    assert 'name="bodies[0].name"' in grown.text and 'name="bodies[0].email"' in grown.text
    form = {"_business_key": "PRS-NORM-2027", "publication_date": "01/12/2026", "kind": "revision",
            "territory": "76", "reminder_days": "10", "_action": "demarrer",
            "bodies[0].name": "CRSA de Normandie", "bodies[0].email": "crsa@ars-normandie.example.org",
            "bodies[1].name": "Préfet de la région Normandie", "bodies[1].email": ""}
    bad = post(client, "/procedures/prs_consultation/demarrer", {**form, "bodies[0].email": "crsa-arobase"})
    assert bad.status_code == 400 and "Adresse électronique invalide." in bad.text and instances(rt) == 4
    with rt.db.read() as s:
        before = {m.id for m in s.scalars(select(OutboxMessage))}
    done = post(client, "/procedures/prs_consultation/demarrer", form)
    assert done.status_code == 302, done.text
    iid = int(done.headers["Location"].rsplit("/", 1)[-1])
    variables = rt.show(iid)["variables"]
    assert variables["correspondants"] == {"CRSA de Normandie": "crsa@ars-normandie.example.org"}
    assert variables["bodies"][:2] == ["CRSA de Normandie", "Préfet de la région Normandie"]
    with rt.db.read() as s:
        sent = [(m.email, m.text_body) for m in s.scalars(select(OutboxMessage)) if m.id not in before]
    assert [email for email, _ in sent] == ["crsa@ars-normandie.example.org"]
    assert "/portail/" in sent[0][1]


def test_a_refused_start_comes_back_on_the_form_and_writes_nothing(demo):
    rt = demo["rt"]
    client = client_as(demo, "sophie.durand")
    before = instances(rt)
    # The form's own rules: required fields, pattern of the territory.
    missing = post(client, "/procedures/prs_consultation/demarrer", {"territory": "Paris", "_action": "demarrer"})
    assert missing.status_code == 400
    assert 'id="erreurs-formulaire"' in missing.text and "data-focus-on-load" in missing.text
    assert 'href="#champ-publication_date"' in missing.text and 'href="#champ-kind-1"' in missing.text
    assert 'value="Paris"' in missing.text
    # The script's own rule (refuse): the PRS cannot be adopted before the consultation ends.
    early = post(client, "/procedures/prs_consultation/demarrer",
                 {"publication_date": "01/12/2026", "kind": "revision", "territory": "75",
                  "arrete_au_plus_tard": "15/12/2026", "_action": "demarrer"})
    assert early.status_code == 400
    assert 'id="champ-arrete_au_plus_tard-erreur"' in early.text
    assert "ne peut être arrêté qu&#39;après la consultation" in early.text
    assert instances(rt) == before


def test_an_incident_is_retried_with_the_data_corrected_on_the_start_form(demo):
    rt = demo["rt"]
    # Started without its form (API): the first script fails, the instance is in incident.
    iid = rt.start("cts_nomination", {"territory": "91"}, business_key="CTS-91", actor="paul.david")["instance_id"]
    assert rt.show(iid)["state"] == "incident"
    client = client_as(demo, "paul.david")
    page = client.get(f"/instances/{iid}").text
    assert f'href="/instances/{iid}/relancer"' in page and "Corriger les données puis relancer" in page
    form = client.get(f"/instances/{iid}/relancer").text
    assert 'id="champ-cts_name"' in form and 'value="91"' in form  # prefilled from the instance
    refused = post(client, f"/instances/{iid}/relancer", {"_mode": "donnees", "territory": "91", "cts_name": ""})
    assert refused.status_code == 400 and 'href="#champ-cts_name"' in refused.text
    assert rt.show(iid)["state"] == "incident"
    done = post(client, f"/instances/{iid}/relancer", {"_mode": "donnees", "territory": "91",
                                                      "cts_name": "CTS de l'Essonne", "answer_days": "45"})
    assert done.status_code == 302
    shown = rt.show(iid)
    assert shown["state"] in ("running", "waiting"), shown["incident"]
    assert shown["variables"]["cts_name"] == "CTS de l'Essonne" and shown["variables"]["answer_days"] == 45
    # Someone who neither started it nor manages cannot open the retry page.
    assert client_as(demo, "amelie.robert").get(f"/instances/{iid}/relancer").status_code == 403


def test_french_dates_and_numbers_inside_dynamic_lists_are_converted():
    from werkzeug.datastructures import MultiDict

    from arsflow.engine.forms import load_form
    from arsflow.web import form_render
    form = load_form({"id": "seances", "components": [
        {"type": "number", "key": "total", "label": "Total"},
        {"type": "dynamiclist", "path": "seances", "label": "Séances", "components": [
            {"type": "datetime", "subtype": "date", "key": "jour", "dateLabel": "Jour"},
            {"type": "number", "key": "presents", "label": "Présents", "decimalDigits": 0},
            {"type": "number", "key": "budget", "label": "Budget"},
            {"type": "textfield", "key": "total", "label": "Un texte qui s'appelle total"}]}]})
    post = MultiDict([("total", "1 234,5"), ("seances[0].jour", "03/02/2027"), ("seances[0].presents", "12"),
                      ("seances[0].budget", "2 500,75"), ("seances[0].total", "12,5 %"),
                      ("seances[1].jour", "28/02/2027"), ("seances[1].presents", "1\u202f000")])
    data = form_render.post_for_form(form, post)
    assert data["total"] == "1234.5"
    assert data["seances[0].jour"] == "2027-02-03" and data["seances[1].jour"] == "2027-02-28"
    assert data["seances[0].budget"] == "2500.75" and data["seances[1].presents"] == "1000"
    assert data["seances[0].total"] == "12,5 %"  # a text field of the item keeps what was typed
    validated = form.validate(data, from_strings=True)
    assert validated["seances"][0]["jour"] == "2027-02-03" and validated["seances"][1]["presents"] == 1000
