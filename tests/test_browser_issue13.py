"""Issue #13, the process owners' and managers' pages in Chromium at 1366 and 390 px, as the
demo's people use them: start forms instead of raw JSON (and a retry with corrected data),
the upload page that keeps the checked files, the instance diagram readable at first sight,
the managers' dashboard with every running délai, and no reminder for an avis already tacit.
Each page is checked for sideways scrolling and with axe-core; screenshots go to
test-artifacts/."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.test_browser import ARTIFACTS, browser  # noqa: F401  (the module skips without Chromium)
from tests.test_browser_pages import WIDTHS, axe_violations, demo_server, open_as, overflow  # noqa: F401

from playwright.sync_api import expect  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def check(page, name: str) -> list[str]:
    """Screenshot, sideways scrolling and axe-core: the problems found, as text."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    problems = [f"{name}: scrolls sideways by {overflow(page)} px"] if overflow(page) > 0 else []
    return problems + [f"{name}: {v}" for v in axe_violations(page)]


@pytest.mark.parametrize("width", WIDTHS)
def test_start_a_procedure_from_its_form(demo_server, browser, width):
    base = demo_server["url"]
    context, page = open_as(browser, base, "sophie.durand", width)
    page.goto(base + "/procedures/prs_consultation/demarrer")
    expect(page.locator("#variables")).to_have_count(0)  # no raw JSON
    expect(page.locator("#champ-publication_date")).to_have_attribute("placeholder", "jj/mm/aaaa")
    problems = check(page, f"demarrer-prs_{width}")
    # A start the form refuses: the summary has the focus and links to the fields.
    page.fill("#champ-territory", "Paris")
    page.click("#demarrer")
    expect(page.locator("#erreurs-formulaire")).to_be_visible()
    page.wait_for_function("document.activeElement && document.activeElement.id === 'erreurs-formulaire'")
    expect(page.locator("#erreurs-formulaire a[href='#champ-publication_date']")).to_be_visible()
    expect(page.locator("#champ-territory")).to_have_value("Paris")
    problems += check(page, f"demarrer-prs-erreurs_{width}")
    # Filled the French way, with one more body added to the list (no JavaScript needed).
    page.fill("#business_key", f"PRS-NORM-{width}")
    page.fill("#champ-publication_date", "01/12/2026")
    page.click("label[for=champ-kind-1]")
    page.fill("#champ-territory", "76")
    page.get_by_role("button", name=re.compile("Ajouter un élément")).click()
    page.fill("[name='bodies[0].name']", "CRSA de Normandie")
    page.fill("#champ-arrete_au_plus_tard", "15/12/2026")  # before the consultation ends: refused by the script
    page.click("#demarrer")
    expect(page.locator("#champ-arrete_au_plus_tard-erreur")).to_contain_text("ne peut être arrêté qu'après")
    page.fill("#champ-arrete_au_plus_tard", "")
    page.click("#demarrer")
    expect(page.locator(".fr-alert--success")).to_contain_text("démarrée")
    assert re.search(r"/instances/\d+$", page.url)
    iid = int(page.url.rsplit("/", 1)[-1])
    variables = demo_server["rt"].show(iid)["variables"]
    assert variables["publication_date"] == "2026-12-01" and variables["bodies"][0] == "CRSA de Normandie"
    context.close()
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("width", WIDTHS)
def test_retry_an_incident_with_corrected_data(demo_server, browser, width):
    rt = demo_server["rt"]
    iid = rt.start("cts_nomination", {"territory": "91"}, business_key=f"CTS-91-{width}",
                   actor="paul.david")["instance_id"]
    assert rt.show(iid)["state"] == "incident"
    context, page = open_as(browser, demo_server["url"], "paul.david", width)
    page.goto(f"{demo_server['url']}/instances/{iid}")
    page.click("#corriger-relancer")
    expect(page.locator("#champ-territory")).to_have_value("91")
    problems = check(page, f"relancer_{width}")
    page.fill("#champ-cts_name", "CTS de l'Essonne")
    page.click("#relancer")
    expect(page.locator(".fr-alert--success")).to_contain_text("a repris")
    assert rt.show(iid)["variables"]["cts_name"] == "CTS de l'Essonne"
    context.close()
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("width", WIDTHS)
def test_upload_keeps_the_checked_files_and_deploys_a_renamed_copy(demo_server, browser, width, tmp_path):
    base = demo_server["url"]
    context, page = open_as(browser, base, "paul.david", width)
    page.goto(base + "/procedures/depot")
    page.click("button[value=verifier]")  # no file chosen
    expect(page.locator("#files-erreur")).to_contain_text("Aucun fichier reçu")
    expect(page.locator("h1")).to_have_text("Vérifier ou déployer des fichiers")
    problems = check(page, f"depot-sans-fichier_{width}")
    copy = tmp_path / "cts-copie.bpmn"
    source = (ROOT / "processes" / "cts_nomination.bpmn").read_text(encoding="utf-8")
    copy.write_text(source.replace("Constitution du CTS lancée", f"Constitution du CTS lancée ({width})"),
                    encoding="utf-8")
    page.set_input_files("#files", str(copy))
    page.click("button[value=verifier]")
    expect(page.locator("#rapport")).to_contain_text("Aucune erreur")
    expect(page.locator("#fichiers-conserves")).to_contain_text("cts-copie.bpmn")
    expect(page.locator("#diagramme-1")).to_have_attribute("data-import-state", "ok")
    assert "Duplicate" not in page.content()
    problems += check(page, f"depot-verifie_{width}")
    page.click("button[value=deployer]")  # the files are not chosen again
    expect(page.locator(".fr-alert--success")).to_contain_text(re.compile(r"cts_nomination v\d+"))
    context.close()
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("width", WIDTHS)
def test_instance_diagram_is_readable_at_first_sight(demo_server, browser, width):
    base = demo_server["url"]
    [prs] = [i for i in demo_server["demo"]["instances"] if i["process_key"] == "prs_consultation"]
    context, page = open_as(browser, base, "sophie.durand", width)
    page.goto(f"{base}/instances/{prs['instance_id']}")
    diagram = page.locator("#diagramme-instance")
    expect(diagram).to_have_attribute("data-import-state", "ok")
    assert page.evaluate("window.arsflowDiagramImport") == {"warnings": [], "error": None}
    expect(page.locator(".arsflow-diagram__current")).to_contain_text("Étape")
    badges = diagram.locator(".arsflow-overlay-active")
    assert badges.count() >= 1
    expect(badges.first).to_have_text("En cours")
    # The current step is in view, at a readable size, inside the diagram's box.
    box = diagram.bounding_box()
    active = page.locator("#diagramme-instance svg .djs-element.arsflow-active").first.bounding_box()
    assert box["x"] <= active["x"] and active["x"] + active["width"] <= box["x"] + box["width"] + 1, (box, active)
    assert box["y"] <= active["y"] and active["y"] < box["y"] + box["height"]
    assert active["width"] >= 0.69 * 100 - 1 or page.evaluate("document.querySelector('#diagramme-instance').dataset.view") == "ensemble"
    assert box["width"] <= width
    legend = page.locator(".arsflow-legend")
    expect(legend).to_contain_text("étape en cours")
    expect(legend).to_contain_text("étape terminée")
    page.get_by_role("button", name="Vue d'ensemble").click()
    expect(diagram).to_have_attribute("data-view", "ensemble")
    page.get_by_role("button", name="Étape en cours").click()
    page.locator(".arsflow-diagram-figure").screenshot(path=str(ARTIFACTS / f"schema-prs_{width}.png"))
    problems = check(page, f"instance-prs_{width}")
    # bpmn-js's messages in French.
    assert page.evaluate("arsflowDiagramFrench('unparsable content <foo> detected')") == "contenu illisible <foo> détecté"
    assert page.evaluate("arsflowDiagramFrench('unresolved reference <Flow_1>')") == "référence non résolue <Flow_1>"
    context.close()
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("width", WIDTHS)
def test_managers_dashboard_shows_every_running_delai(demo_server, browser, width):
    rt = demo_server["rt"]
    base = demo_server["url"]
    context, page = open_as(browser, base, "claire.martin", width)
    page.goto(base + "/echeances")
    # The PRS avis délai ends on 28 February 2027, 75 days away: shown from day one.
    delais = page.locator("#minuteries-a-venir")
    expect(delais).to_contain_text("Échéance légale")
    expect(delais).to_contain_text("février 2027")
    problems = check(page, f"echeances_{width}")
    rt.clock.advance(days=40)
    page.goto(base + "/echeances")
    late = page.locator("#taches-en-retard tbody tr").first
    expect(late.locator("td").nth(6)).to_have_text(re.compile(r"^\d+ jours?$"))
    expect(page.locator("#taches-en-retard")).to_contain_text(re.compile(r"Sophie Durand|Personne \(proposée à"))
    # Chart labels are text at a readable size, within the page.
    labels = page.locator(".arsflow-bars__label")
    assert labels.count() >= 1
    for i in range(labels.count()):
        b = labels.nth(i).bounding_box()
        assert b["x"] >= 0 and b["x"] + b["width"] <= width, b
        assert float(labels.nth(i).evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 12
    expect(labels.first).not_to_contain_text("…")
    problems += check(page, f"echeances-retard_{width}")
    # The team's calendar feed, offered to managers on their account page.
    page.goto(base + "/compte")
    url = page.locator("#team-calendar-url").input_value()
    assert url.endswith("?equipe=1")
    feed = page.request.get(url).text()
    assert "BEGIN:VEVENT" in feed and "Délai : " in feed.replace("\r\n ", "")
    problems += check(page, f"compte-manager_{width}")
    context.close()
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("width", WIDTHS)
def test_no_reminder_for_an_avis_already_tacit(demo_server, browser, width):
    rt = demo_server["rt"]
    rt.clock.set("2027-03-05T09:00:00+00:00")  # the consultation ended unwatched
    rt.tick()
    context, page = open_as(browser, demo_server["url"], "sophie.durand", width)
    page.goto(demo_server["url"] + "/notifications")
    expect(page.locator("h1")).to_contain_text("Notifications")
    assert "Relance" not in page.locator("main").inner_text()
    problems = check(page, f"notifications-apres-echeance_{width}")
    context.close()
    assert problems == [], "\n".join(problems)
