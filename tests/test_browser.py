"""The app in headless Chromium (Playwright): what only a browser shows — DSFR styles and
scripts under the Content-Security-Policy, bpmn-js drawing the diagrams, forms typed and
sent by a person. Screenshots go to test-artifacts/ (gitignored).

The app is served by werkzeug on a free loopback port in a background thread, over a
temporary SQLite database (fixtures from tests/conftest.py and tests/test_web.py).
"""
from __future__ import annotations

import logging
import os
import re
import threading
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} absent : les tests navigateur ont besoin du Chromium du système "
                "(aucun navigateur n'est téléchargé)", allow_module_level=True)

from playwright.sync_api import expect, sync_playwright  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from arsflow import web  # noqa: E402
from tests.test_web import BAD_BPMN, BAD_BPMN_MESSAGE, NOW, PASSWORD, deploy_all  # noqa: E402

# Screenshots: test-artifacts/ (gitignored), or the folder ARSFLOW_TEST_ARTIFACTS names (a CI tmp dir).
ARTIFACTS = Path(os.environ.get("ARSFLOW_TEST_ARTIFACTS") or Path(__file__).resolve().parents[1] / "test-artifacts")
LAUNCH_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def server(runtime, clock, make_user):
    clock.set(NOW)
    for login, group in (("alice", "instructeurs"), ("carol", "managers"), ("dave", "deployers")):
        make_user(login, group)
    deploy_all(runtime)
    started = runtime.start("Process_Analyse", {"territory": "75"}, business_key="DOS-2027-001", actor="alice")
    app = web.create_app(runtime, config={"SECRET_KEY": "browser-tests"})
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per static file
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{httpd.server_port}", "instance_id": started["instance_id"], "rt": runtime}
    httpd.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(15000)
    problems: list[str] = []
    tab.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    tab.on("pageerror", lambda err: problems.append(str(err)))
    tab.problems = problems
    yield tab
    context.close()


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(page, base: str, login: str):
    page.goto(base + "/connexion")
    page.fill("#login", login)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("header")).to_contain_text("Se déconnecter")


def test_claim_fix_a_form_error_and_complete(server, page):
    base = server["url"]
    log_in(page, base, "alice")
    # DSFR's stylesheet is applied: the header uses the Marianne font family.
    page.wait_for_load_state("load")
    page.wait_for_function("getComputedStyle(document.body).fontFamily.includes('Marianne')", timeout=10000)
    assert "Marianne" in page.evaluate("getComputedStyle(document.body).fontFamily")
    page.click("text=Tâches de mes groupes")
    row = page.locator("#liste-taches tbody tr", has_text="DOS-2027-001")
    expect(row).to_contain_text("Analyse de dossier")
    shot(page, "taches-de-mes-groupes")
    row.get_by_role("button", name="Prendre en charge").click()
    expect(page.locator(".fr-alert--success")).to_contain_text("Vous avez pris en charge")
    expect(page.locator("h1")).to_have_text("Rédiger l'analyse")

    page.fill("#champ-titre", "ab")
    page.fill("#champ-lits", "900")
    page.fill("#champ-commentaire", "Dossier reçu le 29 janvier")
    page.click("label[for=champ-pieces-1]")  # DSFR draws the box on the label
    page.click("label[for=champ-avis-1]")
    page.click("button[value=complete]")
    expect(page.locator("#erreurs-formulaire")).to_be_visible()
    # The summary has the focus and links each error to its field.
    page.wait_for_function("document.activeElement && document.activeElement.id === 'erreurs-formulaire'")
    link = page.locator("#erreurs-formulaire a[href='#champ-titre']")
    expect(link).to_contain_text("Le texte doit contenir au moins 3 caractères.")
    link.click()
    assert page.evaluate("location.hash") == "#champ-titre"
    titre = page.locator("[data-field=titre]")
    expect(titre).to_have_class("fr-input-group fr-input-group--error")
    expect(titre.locator(".fr-error-text")).to_have_text("Le texte doit contenir au moins 3 caractères.")
    expect(page.locator("[data-field=lits] .fr-error-text")).to_have_text("La valeur doit être au plus 500.")
    expect(page.locator("#champ-titre")).to_have_value("ab")
    expect(page.locator("#champ-commentaire")).to_have_value("Dossier reçu le 29 janvier")
    expect(page.locator("#champ-pieces-1")).to_be_checked()
    expect(page.locator("#champ-avis-1")).to_be_checked()
    # The DSFR error style is applied (red error text).
    color = page.evaluate("getComputedStyle(document.querySelector('[data-field=titre] .fr-error-text')).color")
    assert color not in ("rgb(0, 0, 0)", "rgb(22, 22, 22)"), color
    shot(page, "tache-erreurs")

    page.fill("#champ-titre", "Analyse complète du dossier")
    page.fill("#champ-lits", "120")
    page.click("label[for=champ-complet]")
    page.click("button[value=complete]")
    expect(page.locator(".fr-alert--success")).to_contain_text("terminée")
    assert page.url.endswith("/taches")
    shot(page, "mes-taches-apres")
    variables = server["rt"].show(server["instance_id"])["variables"]
    assert variables["titre"] == "Analyse complète du dossier" and variables["lits"] == 120
    # The only console error is the form page itself coming back with HTTP 400.
    assert all("status of 400" in p for p in page.problems), page.problems


def test_instance_diagram_is_drawn_with_markers(server, page):
    base = server["url"]
    log_in(page, base, "alice")
    page.goto(f"{base}/instances/{server['instance_id']}")
    expect(page.locator("#diagramme-instance")).to_have_attribute("data-import-state", "ok")
    outcome = page.evaluate("window.arsflowDiagramImport")
    assert outcome == {"warnings": [], "error": None}
    active = page.locator('#diagramme-instance svg [data-element-id="Task_Analyse"]')
    expect(active).to_have_count(1)
    assert "arsflow-active" in active.get_attribute("class")
    done = page.locator('#diagramme-instance svg [data-element-id="StartEvent_1"]')
    assert "arsflow-completed" in done.get_attribute("class")
    # The active marker is visible: its shape is stroked in the DSFR blue.
    stroke = page.evaluate("""getComputedStyle(document.querySelector(
        '[data-element-id="Task_Analyse"] .djs-visual > :first-child')).stroke""")
    assert stroke == "rgb(0, 0, 145)", stroke
    shot(page, "instance")
    # The DSFR tabs script works under the CSP: the history tab opens.
    page.click("#onglet-historique")
    expect(page.locator("#onglet-historique-panel")).to_contain_text("Procédure démarrée par")
    expect(page.locator("#onglet-historique-panel")).to_be_visible()
    expect(page.locator("#minuteries")).to_be_hidden()
    assert not page.problems, page.problems


def test_upload_a_diagram_with_errors_and_read_the_report(server, page, tmp_path):
    base = server["url"]
    log_in(page, base, "dave")
    page.goto(base + "/procedures/depot")
    bad = tmp_path / "procedure-erronee.bpmn"
    bad.write_text(BAD_BPMN, encoding="utf-8")
    page.set_input_files("#files", str(bad))
    page.click("button[value=verifier]")
    report = page.locator("#constats")
    expect(report).to_contain_text(BAD_BPMN_MESSAGE)
    expect(report.locator("tbody tr")).to_have_count(2)
    expect(page.locator("#diagramme-1")).to_have_attribute("data-import-state", "ok")
    assert page.evaluate("window.arsflowDiagramImport") == {"warnings": [], "error": None}
    start = page.locator('#diagramme-1 svg [data-element-id="Start"]')
    assert "arsflow-error" in start.get_attribute("class")
    shot(page, "depot-rapport")

    page.set_input_files("#files", str(bad))  # the page came back: choose the file again
    page.click("button[value=deployer]")
    expect(page.locator("#rapport .fr-alert--error")).to_contain_text("Déploiement refusé")
    assert all("status of 400" in p for p in page.problems), page.problems  # the refusal is a 400


def test_dashboard_and_procedures_look_right(server, page):
    base = server["url"]
    server["rt"].clock.advance(days=12)
    log_in(page, base, "carol")
    page.goto(base + "/echeances")
    expect(page.locator("h1")).to_have_text("Échéances")
    expect(page.locator("#taches-en-retard")).to_contain_text("DOS-2027-001")
    expect(page.locator("#taches-en-retard .fr-badge--error")).to_have_text(re.compile(r"^En retard de \d+ jours?$"))
    assert page.locator("svg.arsflow-chart rect.bar-overdue").count() >= 1
    shot(page, "echeances")
    page.goto(base + "/procedures/Process_Analyse/versions/1")
    expect(page.locator("#diagramme-procedure")).to_have_attribute("data-import-state", "ok")
    assert page.evaluate("window.arsflowDiagramImport") == {"warnings": [], "error": None}
    shot(page, "procedure")
    assert not page.problems, page.problems
