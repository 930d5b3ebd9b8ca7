"""PRS consultation with its letters: starting it writes one courrier de saisine per body from
processes/prs_courrier_saisine.docx, invites each body with an address to the portal, and a
filing there is the avis with the server's day as received_on (warm and cold)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from arsflow.engine.bpmn.definitions import collect_sources
from arsflow.engine.documents import portal
from arsflow.engine.models import OutboxMessage
from sqlalchemy import select

from tests.docx_support import PDF_BYTES, docx_text
from tests.odt_support import odt_text
from tests.procedure_support import runtime_for
from tests.test_procedure_prs import BODIES, start

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=["warm", "cold"])
def prs(request, runtime, database, make_user, clock):
    make_user("secretariat", "pole_democratie_sanitaire")
    with runtime.db.transaction() as s:
        runtime.definitions.deploy(s, collect_sources([ROOT / "processes" / "prs_consultation.bpmn",
                                                       ROOT / "processes" / "prs_courrier_saisine.docx",
                                                       ROOT / "processes" / "prs_accuse_reception.odt",
                                                       ROOT / "forms"]), now=runtime.now())
    return runtime_for(request.param, runtime, database, clock)


def test_one_letter_per_body_and_the_avis_filed_on_the_portal(prs, clock):
    iid = start(prs, clock, correspondants={"CRSA": "crsa@example.org"})
    shown = prs.show(iid)
    letters = {d["name"]: d for d in shown["documents"]}
    assert sorted(letters) == sorted(f"Courrier de saisine — {b}.docx" for b in shown["variables"]["bodies"])
    assert set(BODIES) <= set(shown["variables"]["bodies"])
    with prs.db.read() as s:
        paragraphs = docx_text(prs.documents.content(prs.documents.get(s, letters["Courrier de saisine — CRSA.docx"]["id"])))[0]
    assert "À l'attention de : CRSA" in paragraphs
    assert "Le 30 novembre 2026" in paragraphs and "Dossier : PRS-75" in paragraphs
    assert any("solliciter l'avis de la CRSA sur le projet régional de santé (révision), dont l'avis de "
               "consultation a été publié au recueil des actes administratifs le 30 novembre 2026." in p
               for p in paragraphs)
    assert any(p.startswith("Votre avis est attendu au plus tard le " + shown["variables"]["echeance_texte"])
               for p in paragraphs)
    with prs.db.read() as s:
        mails = [(m.email, m.text_body) for m in s.scalars(select(OutboxMessage))]
    assert [email for email, _ in mails] == ["crsa@example.org"]  # the other bodies have no address
    token = re.search(r"/portail/(\S+)", mails[0][1]).group(1)
    clock.set("2026-12-15T09:00:00+00:00")
    portal.file_avis(prs, token, sens="defavorable", comment="Voir délibération",
                     files=[("délibération CRSA.pdf", PDF_BYTES)])
    avis = prs.show(iid)["variables"]["avis"]["CRSA"]
    assert (avis["status"], avis["sens"], avis["received_on"]) == ("explicit", "defavorable", "2026-12-15")
    assert avis["reference"].startswith("Reçu via le portail le 2026-12-15")
    names = [d["name"] for d in prs.show(iid)["documents"]]
    assert "délibération CRSA.pdf" in names and "Accusé de réception — CRSA.odt" in names
    [receipt] = [d for d in prs.show(iid)["documents"] if d["name"] == "Accusé de réception — CRSA.odt"]
    with prs.db.read() as s:
        lines = odt_text(prs.documents.content(prs.documents.get(s, receipt["id"])))
    assert "L'agence régionale de santé accuse réception de l'avis de : CRSA." in lines
    assert "Sens de l'avis : Défavorable." in lines and "– délibération CRSA.pdf" in lines
    assert "Dossier : PRS-75" in lines and any(p.startswith("Reçu le ") and "dépôt n° " in p for p in lines)
