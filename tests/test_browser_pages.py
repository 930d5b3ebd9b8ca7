"""The pages as each persona sees them, at a laptop's width (1366 px) and a phone's (390 px),
with the demo's three procedures: nothing scrolls sideways, and axe-core (vendored from npm,
tests/vendor/axe-core) finds no violation. Screenshots are kept in test-artifacts/."""
from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from tests.test_browser import ARTIFACTS, browser  # noqa: F401  (the module skips without Chromium)

from playwright.sync_api import expect  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from arsflow import web  # noqa: E402
from arsflow.processes.demo import DEMO_PASSWORD, load_demo  # noqa: E402

AXE = Path(__file__).with_name("vendor") / "axe-core" / "axe.min.js"
WIDTHS = (1366, 390)
PAGES = {
    "sophie.durand": ["/taches", "/taches/groupes", "/procedures", "/compte"],
    "claire.martin": ["/echeances", "/notifications"],
}


@pytest.fixture
def demo_server(runtime, clock):
    clock.set("2026-12-15T09:00:00+00:00")
    demo = load_demo(runtime)
    app = web.create_app(runtime, config={"SECRET_KEY": "browser-pages"})
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{httpd.server_port}", "rt": runtime, "demo": demo}
    httpd.shutdown()
    thread.join(timeout=5)


def open_as(browser, base: str, login: str, width: int, locale: str = "en-US"):
    """A visitor whose browser speaks English: the pages must stay French all the same."""
    # axe-core is injected as a script: the test context alone bypasses the CSP.
    context = browser.new_context(locale=locale, viewport={"width": width, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(base + "/connexion")
    page.fill("#login", login)
    page.fill("#password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("header")).to_contain_text("Se déconnecter")
    return context, page


def overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def axe_violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '));
    }""")
    return result


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_its_width_and_passes_axe(demo_server, browser, width):
    base = demo_server["url"]
    problems = []
    for login, paths in PAGES.items():
        context, page = open_as(browser, base, login, width)
        task_link = None
        for path in paths + (["TASK", "INSTANCE"] if login == "sophie.durand" else []):
            if path == "TASK":
                page.goto(base + "/taches/groupes")
                path = page.locator("#liste-taches tbody a.fr-link").first.get_attribute("href")
                task_link = path
            elif path == "INSTANCE":
                page.goto(base + task_link)
                path = page.locator("a[href^='/instances/']").first.get_attribute("href")
            page.goto(base + path)
            page.wait_for_load_state("load")
            name = f"{login}{path.replace('/', '_')}_{width}"
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            if overflow(page) > 0:
                problems.append(f"{path} at {width}px scrolls sideways by {overflow(page)} px")
            problems += [f"{path} at {width}px: {v}" for v in axe_violations(page)]
        context.close()
    assert problems == [], "\n".join(problems)


def test_rows_become_labelled_cards_on_a_phone(demo_server, browser):
    context, page = open_as(browser, demo_server["url"], "sophie.durand", 390)
    page.goto(demo_server["url"] + "/taches/groupes")
    first = page.locator("#liste-taches tbody tr").first
    expect(first.locator("td").nth(2)).to_have_attribute("data-label", "Échéance")
    assert first.locator("td").nth(0).evaluate("td => getComputedStyle(td).display") == "block"
    box = first.get_by_role("button", name="Prendre en charge").bounding_box()
    assert box["x"] + box["width"] <= 390
    context.close()


def test_the_prs_avis_form_takes_the_signed_deliberation(demo_server, browser, tmp_path):
    """The PRS avis task's file picker in Chromium: axe-clean, a file chosen, the task completed,
    the deliberation listed on the instance."""
    rt = demo_server["rt"]
    [task] = [t for t in rt.tasks(actor="sophie.durand")
              if t["element_id"] == "Task_enregistrer_avis" and (t.get("properties") or {}).get("subject") == "CRSA"]
    signed = tmp_path / "délibération CRSA.pdf"
    signed.write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    context, page = open_as(browser, demo_server["url"], "sophie.durand", 1366)
    page.goto(f"{demo_server['url']}/taches/{task['id']}")
    page.click("#prendre")  # the form is worked once the task is taken
    page.goto(f"{demo_server['url']}/taches/{task['id']}")
    expect(page.locator("#champ-deliberation")).to_have_attribute("accept", ".pdf,.odt,.docx,.png,.jpg,.jpeg")
    page.screenshot(path=str(ARTIFACTS / "prs-avis-deliberation_1366.png"), full_page=True)
    assert [v for v in axe_violations(page) if "deliberation" in v] == []  # the picker itself
    page.fill("#champ-received_on", "14/12/2026")
    page.click("label[for=champ-sens-1]")  # DSFR draws the radio over its label
    page.fill("#champ-reference", "Délibération CRSA n° 2026-12")
    page.set_input_files("#champ-deliberation", str(signed))
    page.click("#formulaire-tache button[value=complete]")
    expect(page.locator(".fr-alert--success")).to_contain_text("terminée")
    [doc] = [d for d in rt.show(task["instance_id"])["documents"] if d["name"] == "délibération CRSA.pdf"]
    assert doc["task_id"] == task["id"]
    context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_prs_avis_task_page_passes_axe(demo_server, browser, width):
    """« Enregistrer l'avis reçu », before and after it is taken: its read-only fields (the body
    consulted, the end of the délai) are read at WCAG AA contrast, and still not editable."""
    rt = demo_server["rt"]
    [task] = [t for t in rt.tasks(actor="sophie.durand")
              if t["element_id"] == "Task_enregistrer_avis" and (t.get("properties") or {}).get("subject") == "CRSA"]
    context, page = open_as(browser, demo_server["url"], "sophie.durand", width)
    url = f"{demo_server['url']}/taches/{task['id']}"
    problems = []
    for state in ("offerte", "prise"):
        if state == "prise":
            page.click("#prendre")
        page.goto(url)
        page.screenshot(path=str(ARTIFACTS / f"prs-avis-{state}_{width}.png"), full_page=True)
        problems += [f"{state} at {width}px: {v}" for v in axe_violations(page)]
        if overflow(page) > 0:
            problems.append(f"{state} at {width}px scrolls sideways by {overflow(page)} px")
    body = page.locator("[data-field=body] input")
    expect(body).to_have_attribute("readonly", "")
    expect(body).not_to_be_editable()
    context.close()
    assert problems == [], "\n".join(problems)
