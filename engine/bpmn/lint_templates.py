"""Lint: the letter templates a diagram names exist.

A `document` service task names its template in an input parameter (`template`, and
`portal_receipt_template` for the portal's accusé de réception). A name that is neither deployed
with the diagram nor already deployed would only fail when an instance reaches the task, as a
history entry nobody reads: it is refused at deployment instead, naming the element and field.
A name computed by an expression (`${…}`, `#{…}`) cannot be known before run time and passes.
"""
from __future__ import annotations

from typing import Iterable

from arsflow.engine.bpmn.lint import CAMUNDA_NS, ERROR, Finding
from arsflow.engine.bpmn.xmlsafe import XmlError, parse_xml

TEMPLATE_INPUTS = ("template", "portal_receipt_template")
TEMPLATE_SUFFIXES = (".docx", ".odt")
DOCUMENT_TOPIC = "document"


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def template_findings(sources: list[tuple[str, bytes]], known_templates: Iterable[str]) -> list[Finding]:
    """Errors for each `document` task input naming a template absent from `known_templates`
    (the templates deployed together and those already deployed)."""
    known = set(known_templates)
    findings: list[Finding] = []
    topic_attr = f"{{{CAMUNDA_NS}}}topic"
    for name, data in sources:
        if not name.lower().endswith((".bpmn", ".bpmn20.xml")):
            continue
        try:
            root = parse_xml(data, name).getroot()
        except XmlError:
            continue  # the main lint reports it
        for element in root.iter():
            if element.get(topic_attr) != DOCUMENT_TOPIC:
                continue
            for param in element.iter(f"{{{CAMUNDA_NS}}}inputParameter"):
                field = param.get("name")
                if field not in TEMPLATE_INPUTS or len(param):
                    continue
                value = (param.text or "").strip()
                if not value or "${" in value or "#{" in value:
                    continue
                why = None
                if not value.lower().endswith(TEMPLATE_SUFFIXES):
                    why = (f"« {value} » n'est pas un modèle de document (attendu un fichier .docx ou .odt "
                           f"déployé avec le diagramme)")
                elif value not in known:
                    why = (f"modèle « {value} » introuvable : il n'est ni déployé avec ce diagramme ni déjà "
                           f"déployé ; ajoutez le fichier {value} au déploiement")
                if why:
                    findings.append(Finding(name, element.get("id"), _local(element.tag), param.sourceline,
                                            f"paramètre d'entrée « {field} » : {why}", ERROR))
    return findings
