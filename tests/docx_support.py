"""Word documents for tests: templates written with python-docx (docxtpl's own dependency),
and the text of a filled document read back, paragraph by paragraph and cell by cell."""
from __future__ import annotations

import io

PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def make_docx(paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    import docx
    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, text in enumerate(row):
                grid.cell(r, c).text = text
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def docx_text(data: bytes) -> tuple[list[str], list[list[str]]]:
    import docx
    document = docx.Document(io.BytesIO(data))
    paragraphs = [p.text for p in document.paragraphs]
    cells = [[cell.text for cell in row.cells] for t in document.tables for row in t.rows]
    return paragraphs, cells
