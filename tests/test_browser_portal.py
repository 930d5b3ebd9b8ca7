"""The correspondents' portal end to end in Chromium: the link comes from the email a real
SMTP server (loopback) received, the body files its avis with a signed PDF, the receipt comes
back at once (page, document, email), and reuse, tampering and expiry each get their page."""
from __future__ import annotations

import logging
import re
import threading

import pytest

from tests.test_browser import shot, browser  # noqa: F401  (the module skips without Chromium)
from tests.test_browser_pages import axe_violations  # noqa: E402

from playwright.sync_api import expect  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from arsflow import web  # noqa: E402
from arsflow.engine.people import notifications  # noqa: E402
from arsflow.engine.people.mailer import MailSettings  # noqa: E402
from tests.docx_support import PDF_BYTES  # noqa: E402
from tests.portal_support import START, files  # noqa: E402
from tests.test_notifications import SmtpServer, text_of  # noqa: E402


@pytest.fixture
def portal_server(runtime, clock, make_user, deploy):
    clock.set("2026-12-01T09:00:00+00:00")
    make_user("alice", "staff")
    smtp = SmtpServer()
    app = web.create_app(runtime, config={"SECRET_KEY": "browser-tests"})
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_port}"
    mail = MailSettings.load({"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "mail_from": "arsflow@ars.sante.fr",
                              "base_url": base}, environ={})
    notifications.install(runtime, MailSettings(**{**mail.__dict__, "timeout": 5.0}))
    deploy(files())
    started = runtime.start("consultation", START, business_key="PRS-2028", actor="alice")
    yield {"url": base, "rt": runtime, "smtp": smtp, "instance_id": started["instance_id"]}
    httpd.shutdown()
    thread.join(timeout=5)
    smtp.stop()


def _link_in(smtp, address):
    [message] = [m for m in smtp.box.to(address) if "Demande d'avis" in m["Subject"]]
    return re.search(r"https?://\S+/portail/\S+", text_of(message)).group(0)


def test_a_body_files_its_avis_from_the_emailed_link(portal_server, browser, clock, tmp_path):
    rt, smtp = portal_server["rt"], portal_server["smtp"]
    assert rt.notifier.deliver()["sent"] == 2
    link = _link_in(smtp, "crsa@example.org")
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900}, bypass_csp=True,
                                  accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(link)
    expect(page.locator("h1")).to_have_text("Avis de CRSA")
    expect(page.locator("#courrier")).to_have_text("Courrier de saisine")
    assert axe_violations(page) == []
    shot(page, "portail-depot")

    # Sent without a file: refused, the choice kept.
    page.click("label[for=sens-reserve]")
    page.fill("#comment", "Réserve sur le volet urgences")
    page.click("button[type=submit]")
    expect(page.locator("#erreurs")).to_contain_text("Joignez le document signé")
    expect(page.locator("#sens-reserve")).to_be_checked()

    clock.set("2026-12-10T15:30:00+00:00")
    pdf = tmp_path / "délibération signée.pdf"
    pdf.write_bytes(PDF_BYTES)
    page.set_input_files("#document", str(pdf))
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Votre avis a bien été reçu")
    expect(page.locator("#recu-le")).to_have_text("jeudi 10 décembre 2026 à 16 h 30")
    with page.expect_download() as download:
        page.click("#accuse-document")
    assert download.value.suggested_filename == "Accusé de réception — CRSA.docx"
    shot(page, "portail-accuse")

    # The acknowledgement email goes out at once; the ARS side shows the avis received.
    rt.notifier.deliver()
    [receipt] = [m for m in smtp.box.to("crsa@example.org") if "Accusé de réception" in m["Subject"]]
    assert "le jeudi 10 décembre 2026 à 16 h 30" in text_of(receipt)
    shown = rt.show(portal_server["instance_id"])
    assert [e["details"]["body"] for e in shown["audit"] if e["action"] == "portal_filed"] == ["CRSA"]

    # The same link again, then a tampered one, then another body's link after the deadline.
    page.goto(link)
    expect(page.locator("h1")).to_have_text("Avis déjà déposé")
    page.goto(link[:-3] + ("xyz" if not link.endswith("xyz") else "abc"))
    expect(page.locator("h1")).to_have_text("Lien non valide")
    expect(page.locator("#refus")).to_have_attribute("data-reason", "invalid")
    clock.set("2027-01-01T00:00:00+00:00")
    page.goto(_link_in(smtp, "cd@example.org"))
    expect(page.locator("h1")).to_have_text("Délai de consultation expiré")
    shot(page, "portail-expire")
    context.close()
