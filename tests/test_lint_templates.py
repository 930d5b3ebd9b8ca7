"""Lint: a `document` task naming a template that is neither deployed with the diagram nor
already deployed is an error naming the file, the element, the field and why."""
from __future__ import annotations

import pytest
from arsflow.engine.errors import DeploymentError

from tests.docx_support import make_docx
from tests.odt_support import make_odt
from tests.test_documents import _letter_process

RECEIPT = '<camunda:inputParameter name="portal_receipt_template">accuse.odt</camunda:inputParameter>'


def _lint(runtime, files: dict):
    sources = [(n, d.encode() if isinstance(d, str) else d) for n, d in files.items()]
    with runtime.db.read() as session:
        return runtime.definitions.lint(session, sources)


def test_a_template_deployed_neither_with_the_diagram_nor_before_is_an_error(runtime, deploy):
    report = _lint(runtime, {"letters.bpmn": _letter_process("saisine.docx", RECEIPT)})
    found = sorted((f.file, f.element_id, f.element_type, f.message) for f in report.errors)
    assert found == [
        ("letters.bpmn", "Letter", "serviceTask",
         "paramètre d'entrée « portal_receipt_template » : modèle « accuse.odt » introuvable : il n'est ni "
         "déployé avec ce diagramme ni déjà déployé ; ajoutez le fichier accuse.odt au déploiement"),
        ("letters.bpmn", "Letter", "serviceTask",
         "paramètre d'entrée « template » : modèle « saisine.docx » introuvable : il n'est ni déployé avec "
         "ce diagramme ni déjà déployé ; ajoutez le fichier saisine.docx au déploiement")]
    assert all(f.line and f.line > 1 for f in report.errors)
    with pytest.raises(DeploymentError) as err:
        deploy({"letters.bpmn": _letter_process("saisine.docx")})
    assert "Letter" in str(err.value) and "modèle « saisine.docx » introuvable" in str(err.value)


def test_templates_deployed_together_or_before_are_found(runtime, deploy):
    assert _lint(runtime, {"letters.bpmn": _letter_process("saisine.docx", RECEIPT),
                           "saisine.docx": make_docx(["{{ body }}"]),
                           "accuse.odt": make_odt(["[[body]]"])}).ok
    deploy({"saisine.docx": make_docx(["{{ body }}"])})  # a template alone, deployed earlier
    assert _lint(runtime, {"letters.bpmn": _letter_process("saisine.docx")}).ok
    deploy({"letters.bpmn": _letter_process("saisine.docx")})


def test_a_computed_name_is_left_to_run_time_and_a_wrong_kind_is_said(runtime):
    assert _lint(runtime, {"letters.bpmn": _letter_process("${modele}")}).ok
    [finding] = _lint(runtime, {"letters.bpmn": _letter_process("saisine.pdf")}).errors
    assert finding.element_id == "Letter" and "« saisine.pdf » n'est pas un modèle de document" in finding.message
