"""Writes the procedures' letter templates (processes/*.docx with python-docx, the accusé de
réception as an .odt with placeholder fields).

The files are what process owners edit in Word or LibreOffice (docx tags `{{ body }}`,
`{% if %}`, filters `|date_fr`; odt placeholders `<body>`, `<for each="…">`, see
docs/documents.md); this script only made their first version, reproducibly:
`python scripts/make_document_templates.py`.
"""
from __future__ import annotations

import sys
from pathlib import Path

import docx
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Pt

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = ROOT / "processes"
sys.path.insert(0, str(ROOT))
from tests.odt_support import make_odt  # noqa: E402  (the same minimal ODT writer as the tests)


def _letter(paragraphs, path: Path, right=(), title=None) -> None:
    document = docx.Document()
    style = document.styles["Normal"]
    style.font.name, style.font.size = "Marianne", Pt(11)
    header = document.add_paragraph("Agence régionale de santé")
    header.runs[0].bold = True
    for text in right:
        p = document.add_paragraph(text)
        p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    if title:
        p = document.add_paragraph(title)
        p.runs[0].bold = True
    for text in paragraphs:
        document.add_paragraph(text)
    document.core_properties.title = path.stem
    document.core_properties.author = "arsflow"
    document.save(path)


def main() -> None:
    _letter([
        "Madame, Monsieur,",
        "En application de l'article R. 1434-1 du code de la santé publique, j'ai l'honneur de solliciter "
        "l'{{ libelle }} sur le projet régional de santé ({% if kind == 'adoption' %}adoption{% elif kind == 'modification' %}modification{% else %}révision{% endif %}), dont l'avis de consultation a été "
        "publié au recueil des actes administratifs le {{ publication_date|date_fr }}.",
        "Votre avis est attendu au plus tard le {{ echeance_texte }}. À défaut, il sera réputé rendu.",
        "Vous pouvez déposer votre avis (délibération ou courrier signé) sur la page personnelle dont le lien "
        "vous est adressé par courriel : la date de votre dépôt y est enregistrée et vaut date de réception.",
        "Je vous prie d'agréer, Madame, Monsieur, l'expression de ma considération distinguée.",
        "Le directeur général de l'agence régionale de santé",
    ], PROCESSES / "prs_courrier_saisine.docx",
        right=["À l'attention de : {{ body }}", "Le {{ today|date_fr }}", "Dossier : {{ business_key }}"],
        title="Objet : consultation sur le projet régional de santé — saisine pour avis")
    (PROCESSES / "prs_accuse_reception.odt").write_bytes(make_odt([
        "Agence régionale de santé",
        "Dossier : [[business_key]]",
        "Accusé de réception",
        "L'agence régionale de santé accuse réception de l'avis de : [[body]].",
        "Reçu le [[received_at]] via le portail des correspondants (dépôt n° [[invitation_id]]).",
        "Sens de l'avis : [[sens]].",
        "Documents reçus :",
        '[[for each="name in files"]]',
        "– [[name]]",
        "[[/for]]",
        "Cette date de réception, enregistrée par nos serveurs, fait foi.",
    ], bold=(0, 2), title="prs_accuse_reception"))
    _letter([
        "Le directeur général de l'agence régionale de santé,",
        "Vu le code de la santé publique, notamment ses articles L. 1434-10 et R. 1434-33 ;",
        "Arrête :",
        "Article 1er — La composition du {{ cts_name }} est fixée comme suit :",
        "{%p for college in membres %}",
        "{{ college.title }}",
        "{%p for membre in college.members %}",
        "Au titre de {{ membre.body }} — titulaire : {{ membre.titulaire }} ; suppléant : {{ membre.suppleant }}",
        "{%p endfor %}",
        "{%p endfor %}",
        "Article 2 — Le présent arrêté sera publié au recueil des actes administratifs.",
    ], PROCESSES / "cts_arrete_composition.docx", right=["Le {{ today|date_fr }}"],
        title="Arrêté portant composition du {{ cts_name }}")


if __name__ == "__main__":
    main()
