"""Documents: files checked by their content and kept by SHA-256 with a task completion;
letters filled from templates deployed with the diagram (field by field), versioned with it."""
from __future__ import annotations

import hashlib
import time
from datetime import datetime, timezone

import pytest
from arsflow.engine.documents.store import DocumentStore, sniff
from arsflow.engine.errors import DeploymentError, InvalidInput
from arsflow.engine.models import Document

from tests.bpmn_builder import chain, definitions, simple_user_process, user_task
from tests.docx_support import PDF_BYTES, PNG_BYTES, docx_text, make_docx


def _stored_files(root):
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))


def test_types_are_recognised_by_content_not_by_name():
    assert sniff(PDF_BYTES) == "application/pdf"
    assert sniff(PNG_BYTES) == "image/png"
    assert sniff(b"\xff\xd8\xff\xe0" + b"\x00" * 10) == "image/jpeg"
    assert sniff(make_docx(["x"])).endswith("wordprocessingml.document")
    assert sniff(b"MZ\x90\x00 not a pdf") is None
    assert sniff(b"PK\x03\x04broken zip") is None


def test_refusals_name_the_file_and_store_nothing(tmp_path):
    store = DocumentStore(tmp_path / "docs", max_bytes=1000)
    with pytest.raises(InvalidInput) as err:
        store.put("avis.exe", b"MZ\x90\x00" * 10)
    assert "avis.exe" in err.value.message and "type de fichier refusé" in err.value.message
    assert "PDF, ODT, DOCX, PNG, JPEG" in err.value.message
    with pytest.raises(InvalidInput) as err:
        store.put("gros.pdf", PDF_BYTES + b" " * 2000)
    assert "gros.pdf : fichier trop volumineux" in err.value.message
    assert _stored_files(tmp_path) == []
    first = store.put("../../etc/avis.pdf", PDF_BYTES)
    again = store.put("copie.pdf", PDF_BYTES)
    assert first.name == "avis.pdf" and first.sha256 == hashlib.sha256(PDF_BYTES).hexdigest()
    assert [p.name for p in _stored_files(tmp_path)] == [first.sha256] == [again.sha256]  # stored once


def test_completion_keeps_its_files_in_the_same_transaction(runtime, deploy, make_user):
    make_user("alice", "staff")
    deploy({"p.bpmn": simple_user_process()})
    instance = runtime.start("p", actor="alice")
    [task] = runtime.tasks(actor="alice")
    files = runtime.documents.receive([("délibération.pdf", PDF_BYTES), ("plan.png", PNG_BYTES)])
    with pytest.raises(InvalidInput):  # a refused file refuses the whole set, before anything is kept
        runtime.documents.receive([("ok.pdf", PDF_BYTES), ("virus.exe", b"MZ")])
    runtime.complete(task["id"], {}, actor="alice", attachments=files)
    shown = runtime.show(instance["id"])
    assert [(d["name"], d["media_type"], d["size"], d["task_id"]) for d in shown["documents"]] == [
        ("délibération.pdf", "application/pdf", len(PDF_BYTES), task["id"]),
        ("plan.png", "image/png", len(PNG_BYTES), task["id"])]
    assert set(shown["documents"][0]) >= {"id", "name", "media_type", "size", "sha256", "task_id", "created_at"}
    attached = [e for e in shown["audit"] if e["action"] == "document_attached"]
    assert [e["details"]["name"] for e in attached] == ["délibération.pdf", "plan.png"]
    with runtime.db.read() as s:
        row = runtime.documents.get(s, shown["documents"][0]["id"])
        assert runtime.documents.content(row) == PDF_BYTES and row.uploaded_by == "alice"


def test_a_refused_completion_keeps_no_row(runtime, deploy, make_user):
    make_user("alice", "staff")
    make_user("bob", "other")
    deploy({"p.bpmn": simple_user_process()})
    instance = runtime.start("p", actor="alice")
    [task] = runtime.tasks(actor="alice")
    files = runtime.documents.receive([("avis.pdf", PDF_BYTES)])
    with pytest.raises(Exception):
        runtime.complete(task["id"], {}, actor="bob", attachments=files)  # not a candidate
    with runtime.db.read() as s:
        assert s.query(Document).count() == 0
    assert runtime.show(instance["id"])["documents"] == []


TEMPLATE_PARAGRAPHS = ["Objet : saisine pour avis — {{ procedure }}",
                       "Madame, Monsieur le représentant de {{ body }},",
                       "Avis attendu au plus tard le {{ deadline_day|date_fr }}.",
                       "Dossier {{ business_key }} — {{ note }}"]


def _letter_process(template="saisine.docx", extra_inputs=""):
    service = (f'<bpmn:serviceTask id="Letter" name="Établir le courrier" camunda:type="external" '
               f'camunda:topic="document"><bpmn:extensionElements><camunda:inputOutput>'
               f'<camunda:inputParameter name="template">{template}</camunda:inputParameter>'
               f'<camunda:inputParameter name="name">Courrier de saisine — ${{body}}</camunda:inputParameter>'
               f'{extra_inputs}</camunda:inputOutput></bpmn:extensionElements></bpmn:serviceTask>')
    return definitions("\n".join(['<bpmn:startEvent id="start"/>', service,
                                  user_task("Wait", "Attendre", 'camunda:candidateGroups="staff"'),
                                  '<bpmn:endEvent id="end"/>', chain("start", "Letter", "Wait", "end")]), "letters")


def test_a_template_is_filled_field_by_field(runtime, deploy, make_user):
    make_user("alice", "staff")
    template = make_docx(TEMPLATE_PARAGRAPHS, table=[["Organisme", "{{ body }}"], ["Délai", "{{ delay }}"]])
    result = deploy({"letters.bpmn": _letter_process(), "saisine.docx": template})
    assert {"kind": "template", "key": "saisine.docx", "version": None, "file": "saisine.docx"} in result.created
    instance = runtime.start("letters", {"procedure": "PRS 2028", "body": "CRSA", "deadline_day": "2027-03-01",
                                         "delay": "P3M", "note": "<b>&amp; sûr</b>"},
                             business_key="PRS-2028", actor="alice")
    [document] = runtime.show(instance["id"])["documents"]
    assert document["name"] == "Courrier de saisine — CRSA.docx" and document["source"] == "generated"
    with runtime.db.read() as s:
        paragraphs, cells = docx_text(runtime.documents.content(runtime.documents.get(s, document["id"])))
    assert paragraphs == ["Objet : saisine pour avis — PRS 2028",
                          "Madame, Monsieur le représentant de CRSA,",
                          "Avis attendu au plus tard le 1er mars 2027.",
                          "Dossier PRS-2028 — <b>&amp; sûr</b>"]
    assert cells == [["Organisme", "CRSA"], ["Délai", "P3M"]]
    [entry] = [e for e in runtime.show(instance["id"])["audit"] if e["action"] == "document"]
    assert entry["details"]["document_id"] == document["id"] and "variables" not in entry["details"]


def test_templates_are_versioned_with_the_diagram(runtime, deploy, make_user):
    make_user("alice", "staff")
    deploy({"letters.bpmn": _letter_process(), "saisine.docx": make_docx(["Version un : {{ body }}"])})
    first = runtime.start("letters", {"body": "CRSA"}, actor="alice")
    # A new letter alone is a new resource; instances of the earlier diagram keep theirs.
    deploy({"saisine.docx": make_docx(["Version deux : {{ body }}"])})
    deploy({"letters.bpmn": _letter_process().replace("Établir le courrier", "Établir le courrier (v2)")})
    second = runtime.start("letters", {"body": "CRSA"}, actor="alice")
    texts = []
    with runtime.db.read() as s:
        for inst in (first, second):
            [doc] = runtime.show(inst["id"])["documents"]
            texts.append(docx_text(runtime.documents.content(runtime.documents.get(s, doc["id"])))[0])
    assert texts == [["Version un : CRSA"], ["Version deux : CRSA"]]


def test_a_broken_template_is_refused_at_deploy(runtime, deploy):
    with pytest.raises(DeploymentError) as err:
        deploy({"letters.bpmn": _letter_process(), "saisine.docx": make_docx(["{{ body "])})
    assert "saisine.docx : modèle invalide" in str(err.value)
    with pytest.raises(DeploymentError) as err:
        deploy({"letters.bpmn": _letter_process(), "saisine.docx": PDF_BYTES})
    assert "saisine.docx : modèle illisible" in str(err.value)


def test_a_missing_template_is_said_in_the_history(runtime, deploy, make_user):
    make_user("alice", "staff")
    deploy({"letters.bpmn": _letter_process("${modele}")})  # a computed name: lint cannot know it
    instance = runtime.start("letters", {"body": "CRSA", "modele": "absent.docx"}, actor="alice")
    [entry] = [e for e in runtime.show(instance["id"])["audit"] if e["action"] == "document"]
    assert "modèle « absent.docx » introuvable" in entry["details"]["error"]


def test_the_same_letter_is_the_same_bytes(runtime, deploy, make_user, clock):
    make_user("alice", "staff")
    deploy({"letters.bpmn": _letter_process(), "saisine.docx": make_docx(["Saisine de {{ body }}"])})
    first = runtime.start("letters", {"body": "CRSA"}, actor="alice")
    clock.set("2026-11-30T09:00:07+00:00")
    time.sleep(2.1)  # zip entries keep the wall-clock time at 2-second resolution
    second = runtime.start("letters", {"body": "CRSA"}, actor="alice")
    [a], [b] = runtime.show(first["id"])["documents"], runtime.show(second["id"])["documents"]
    assert a["sha256"] == b["sha256"] and a["id"] != b["id"]
