"""The correspondents' portal, engine side: one signed link per body, filing completes the
ARS task with the server's day as received_on, an acknowledgement goes back, and every misuse
(tampered, expired, second filing) is refused with its reason."""
from __future__ import annotations

import re

import pytest
from arsflow.engine.documents import portal
from arsflow.engine.models import OutboxMessage, PortalInvitation
from sqlalchemy import select

from tests.docx_support import PDF_BYTES, docx_text
from tests.portal_support import START, files


def _links(runtime):
    with runtime.db.read() as s:
        rows = s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        return {r.email: re.search(r"/portail/(\S+)", r.text_body).group(1) for r in rows if "/portail/" in r.text_body}


@pytest.fixture
def consultation(runtime, deploy, make_user):
    make_user("alice", "staff")
    deploy(files())
    return runtime.start("consultation", START, business_key="PRS-2028", actor="alice")


def test_each_body_gets_its_letter_and_its_own_link(runtime, consultation):
    shown = runtime.show(consultation["id"])
    assert sorted(d["name"] for d in shown["documents"]) == [
        "Courrier de saisine — CRSA.docx", "Courrier de saisine — Conseil départemental.docx"]
    links = _links(runtime)
    assert set(links) == {"crsa@example.org", "cd@example.org"}
    with runtime.db.read() as s:
        crsa = portal.invitation_for(s, runtime.settings, links["crsa@example.org"])
        assert (crsa.body, crsa.element_id, portal.status(s, crsa, runtime.now())) == ("CRSA", "Record", "open")
        assert crsa.expires_at.isoformat() == "2026-12-31T23:00:00+00:00"


def test_filing_completes_the_task_with_the_server_day_and_acknowledges(runtime, consultation, clock):
    token = _links(runtime)["crsa@example.org"]
    clock.set("2026-12-10T15:30:00+00:00")
    result = portal.file_avis(runtime, token, sens="reserve", comment="Sous réserve du volet urgences",
                              files=[("délibération signée.pdf", PDF_BYTES)])
    shown = runtime.show(consultation["id"])
    done = [t for t in shown["tasks"] if t["state"] == "completed"]
    assert [t["properties"]["subject"] for t in done] == ["CRSA"]
    filed = [e for e in shown["audit"] if e["action"] == "portal_filed"]
    assert filed[0]["details"]["body"] == "CRSA" and filed[0]["details"]["received_at"] == "2026-12-10T15:30:00+00:00"
    completed = [e for e in shown["audit"] if e["action"] == "completed"][0]
    assert completed["details"]["data"]["received_on"] == "2026-12-10"
    assert completed["details"]["data"]["reference"].startswith("Reçu via le portail le 2026-12-10")
    names = {d["name"]: d for d in shown["documents"]}
    assert names["délibération signée.pdf"]["source"] == "portal"
    receipt = names["Accusé de réception — CRSA.docx"]
    assert receipt["id"] == result["receipt_document_id"]
    with runtime.db.read() as s:
        text = docx_text(runtime.documents.content(runtime.documents.get(s, receipt["id"])))[0]
        mails = [m.subject for m in s.scalars(select(OutboxMessage).where(
            OutboxMessage.email == "crsa@example.org").order_by(OutboxMessage.id))]
    assert text == ["Accusé de réception : CRSA, reçu le jeudi 10 décembre 2026 à 16 h 30, "
                    "avis Favorable avec réserves."]
    assert mails[-1] == "Accusé de réception de votre avis — CRSA"
    # A second filing, the same link again: refused, nothing changes.
    with pytest.raises(portal.PortalRefusal) as err:
        portal.file_avis(runtime, token, sens="favorable", comment=None, files=[("autre.pdf", PDF_BYTES)])
    assert err.value.reason == "filed"
    assert len(runtime.show(consultation["id"])["documents"]) == len(shown["documents"])


def test_tampered_expired_and_refused_files(runtime, consultation, clock):
    links = _links(runtime)
    token = links["cd@example.org"]
    with pytest.raises(portal.PortalRefusal) as err:
        portal.file_avis(runtime, token[:-2] + ("AA" if not token.endswith("AA") else "BB"), sens="favorable",
                         comment=None, files=[("a.pdf", PDF_BYTES)])
    assert err.value.reason == "invalid"
    # Another invitation's signed id with this body's name: refused too (bound to one body).
    with runtime.db.read() as s:
        crsa = portal.invitation_for(s, runtime.settings, links["crsa@example.org"])
        forged = portal.make_token(runtime.settings, {"id": crsa.id, "instance_id": crsa.instance_id,
                                                      "body": "Conseil départemental", "element_id": "Record"})
    with pytest.raises(portal.PortalRefusal) as err:
        portal.file_avis(runtime, forged, sens="favorable", comment=None, files=[("a.pdf", PDF_BYTES)])
    assert err.value.reason == "invalid"
    with pytest.raises(Exception) as err:
        portal.file_avis(runtime, token, sens="favorable", comment=None, files=[("a.exe", b"MZ\x00")])
    assert "a.exe : type de fichier refusé" in str(err.value)
    clock.set("2026-12-31T23:00:00+00:00")
    with pytest.raises(portal.PortalRefusal) as err:
        portal.file_avis(runtime, token, sens="favorable", comment=None, files=[("a.pdf", PDF_BYTES)])
    assert err.value.reason == "expired"
    with runtime.db.read() as s:
        assert s.scalars(select(PortalInvitation.filed_at)).all() == [None, None]
