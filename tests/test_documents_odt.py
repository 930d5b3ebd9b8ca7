"""`.odt` templates (relatorio): filled field by field through the `document` topic, the same
bytes for the same variables, and tags that would run Python outside the sandbox refused at
deployment."""
from __future__ import annotations

import io
import time
import zipfile

import pytest
from arsflow.engine.documents import templates
from arsflow.engine.documents.store import ODT, sniff
from arsflow.engine.errors import DeploymentError

from tests.odt_support import make_odt, odt_text
from tests.test_documents import _letter_process

PARAGRAPHS = ["Objet : saisine pour avis — [[procedure]]",
              "Madame, Monsieur le représentant de [[body]],",
              "Avis attendu au plus tard le [[date_fr(deadline_day)]].",
              '[[if test="kind == \'adoption\'"]]Adoption du projet.[[/if]]',
              "Pièces :",
              '[[for each="piece in pieces"]]',
              "– [[piece]]",
              "[[/for]]",
              "Dossier [[business_key]] — [[note]]"]


def test_an_odt_template_is_filled_field_by_field(runtime, deploy, make_user):
    make_user("alice", "staff")
    result = deploy({"letters.bpmn": _letter_process("saisine.odt"), "saisine.odt": make_odt(PARAGRAPHS)})
    assert {"kind": "template", "key": "saisine.odt", "version": None, "file": "saisine.odt"} in result.created
    instance = runtime.start("letters", {"procedure": "PRS 2028", "body": "CRSA", "deadline_day": "2027-03-01",
                                         "kind": "adoption", "pieces": ["projet.pdf", "annexe.pdf"],
                                         "note": "<b>&amp; sûr</b>"}, business_key="PRS-2028", actor="alice")
    [document] = runtime.show(instance["id"])["documents"]
    assert (document["name"], document["media_type"]) == ("Courrier de saisine — CRSA.odt", ODT)
    with runtime.db.read() as s:
        data = runtime.documents.content(runtime.documents.get(s, document["id"]))
    assert sniff(data) == ODT
    assert odt_text(data) == ["Objet : saisine pour avis — PRS 2028",
                              "Madame, Monsieur le représentant de CRSA,",
                              "Avis attendu au plus tard le 1er mars 2027.",
                              "Adoption du projet.",
                              "Pièces :", "– projet.pdf", "– annexe.pdf",
                              "Dossier PRS-2028 — <b>&amp; sûr</b>"]
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        first = archive.infolist()[0]
    assert (first.filename, first.compress_type) == ("mimetype", zipfile.ZIP_STORED)  # as ODF requires


def test_the_same_odt_letter_is_the_same_bytes(monkeypatch):
    from relatorio.templates import opendocument
    template = make_odt(["Saisine de [[body]]"])
    instants = iter([(2026, 11, 30, 9, 0, 0), (2027, 1, 2, 3, 4, 6)])

    class Clock:  # relatorio stamps the entries it rewrites with time.localtime()
        @staticmethod
        def localtime():
            return time.struct_time(next(instants) + (0, 1, -1))
    monkeypatch.setattr(opendocument, "time", Clock)
    first = templates.render_odt(template, {"body": "CRSA"})
    second = templates.render_odt(template, {"body": "CRSA"})
    assert first == second and odt_text(first) == ["Saisine de CRSA"]


@pytest.mark.parametrize("tag, why", [
    ("__import__('os').system('id')", "« __import__ » est interdit"),
    ("open('/etc/passwd').read()", "« open() » est interdite"),
    ('for each="x in body.__class__.__mro__"', "« .__class__ » est interdit"),
    ('with vars="x = 1"', "instruction non prise en charge"),
    ("body +", "expression invalide"),
])
def test_an_odt_tag_outside_the_sandbox_is_refused_at_deploy(deploy, tag, why):
    with pytest.raises(DeploymentError) as err:
        deploy({"letters.bpmn": _letter_process("saisine.odt"), "saisine.odt": make_odt([f"[[{tag}]]"])})
    assert "saisine.odt : modèle invalide" in str(err.value) and why in str(err.value)


def test_genshi_markup_in_an_odt_is_refused(deploy):
    raw = make_odt(["Bonjour"])
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw)) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "content.xml":
                data = data.replace(b"<text:p ", b'<text:p xmlns:py="http://genshi.edgewall.org/" '
                                                 b'py:content="__import__(\'os\').getcwd()" ')
            target.writestr(item, data)
    with pytest.raises(DeploymentError) as err:
        deploy({"letters.bpmn": _letter_process("saisine.odt"), "saisine.odt": out.getvalue()})
    assert "instructions Genshi interdites" in str(err.value)


def test_a_missing_odt_variable_is_said_in_the_history(runtime, deploy, make_user):
    make_user("alice", "staff")
    deploy({"letters.bpmn": _letter_process("saisine.odt"), "saisine.odt": make_odt(["Pour [[destinataire]]"])})
    instance = runtime.start("letters", {"body": "CRSA"}, actor="alice")
    [entry] = [e for e in runtime.show(instance["id"])["audit"] if e["action"] == "document"]
    assert "variable « destinataire » non définie" in entry["details"]["error"]
    assert runtime.show(instance["id"])["documents"] == []


def test_an_odt_letter_goes_to_pdf_where_libreoffice_is(runtime, deploy, make_user, tmp_path, monkeypatch):
    """A stand-in `soffice` (LibreOffice is not on the test machine) sees the .odt and answers a PDF."""
    fake = tmp_path / "bin" / "soffice"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\nfor a; do case "$prev" in --outdir) out="$a";; esac; prev="$a"; done\n'
                    'case "$prev" in *.odt) printf "%%PDF-1.4 odt" > "$out/document.pdf";; esac\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    make_user("alice", "staff")
    deploy({"letters.bpmn": _letter_process("saisine.odt"), "saisine.odt": make_odt(["Pour [[body]]"])})
    instance = runtime.start("letters", {"body": "CRSA"}, actor="alice")
    [document] = runtime.show(instance["id"])["documents"]
    assert (document["name"], document["media_type"]) == ("Courrier de saisine — CRSA.pdf", "application/pdf")
    with runtime.db.read() as s:
        assert runtime.documents.content(runtime.documents.get(s, document["id"])) == b"%PDF-1.4 odt"
