"""Safe XML parsing for everything users hand us: BPMN, DMN, uploads.

Diagrams arrive from Camunda Modeler but also from other tools and from upload forms, so
the parser must never expand entities (billion laughs), read a local file or the network
(XXE), nor accept an unbounded document. Every failure becomes an `XmlError` that says
where (file, line, column) and why, in French, so the linter and the web layer can show it
as is.
"""
from __future__ import annotations

import re

from lxml import etree

MAX_XML_BYTES = 5 * 1024 * 1024

# A DTD can only hurt us through entities; BPMN/DMN never need one. The byte scan refuses
# the payload before libxml2 reads it (ASCII-compatible encodings); the DTD inspection
# after parsing catches the rest (UTF-16…), since the parser itself never expands them.
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)


class XmlError(ValueError):
    """An XML document we refuse: malformed, too large, or carrying entity declarations."""

    def __init__(self, filename: str, line: int | None, column: int | None, message: str):
        self.filename = filename
        self.line = line
        self.column = column
        self.message = message
        where = filename
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        super().__init__(f"{where}: {message}")


def _parser() -> etree.XMLParser:
    # A new parser per call: lxml parsers keep an error log and are not thread-safe.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=False,
    )


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _refuse_entities(filename: str, line: int | None) -> XmlError:
    # The message never quotes the declaration: it may name a local file or a URL.
    return XmlError(
        filename, line, None,
        "déclaration DOCTYPE avec entités refusée (protection contre XXE et « billion "
        "laughs ») : supprimez le DOCTYPE, un fichier BPMN, DMN ou de formulaire n'en a pas besoin",
    )


def parse_xml(data: bytes, filename: str, max_bytes: int = MAX_XML_BYTES) -> etree._ElementTree:
    """Parse `data` without ever resolving entities or touching the network.

    Raises XmlError for an empty or oversized document, a DOCTYPE that declares entities or
    points to an external DTD, and malformed XML (with the line and column of the fault)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > max_bytes:
        raise XmlError(
            filename, None, None,
            f"fichier trop volumineux ({len(data) / 1_048_576:.1f} Mo) : "
            f"la taille maximale est {max_bytes / 1_048_576:.0f} Mo",
        )
    if not data.strip():
        raise XmlError(filename, None, None, "fichier vide : un document XML est attendu")
    match = _ENTITY_DECL.search(data)
    if match:
        raise _refuse_entities(filename, _line_of(data, match.start()))
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (exc.lineno, None)
        raise XmlError(filename, line or None, column or None,
                       f"XML mal formé : {exc.msg}") from None
    if root is None:
        raise XmlError(filename, None, None, "document XML sans élément racine")
    tree = root.getroottree()
    docinfo = tree.docinfo
    dtd = docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        raise _refuse_entities(filename, 1)
    if docinfo.system_url or docinfo.public_id:
        raise XmlError(
            filename, 1, None,
            "DOCTYPE avec DTD externe refusé (le fichier ne doit rien charger d'extérieur) : "
            "supprimez la ligne <!DOCTYPE …>",
        )
    return tree
