"""OpenDocument texts for tests and for scripts/make_document_templates.py: a minimal `.odt`
whose `[[tag]]` markers become LibreOffice placeholder fields (relatorio's tags), and the
paragraphs of a filled document read back from its content.xml."""
from __future__ import annotations

import io
import re
import zipfile
from xml.sax.saxutils import escape

NS = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
      'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
      'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
      'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
      'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" '
      'xmlns:xlink="http://www.w3.org/1999/xlink" '
      'xmlns:dc="http://purl.org/dc/elements/1.1/" '
      'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0"')
TEXT_NS = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
MANIFEST = ('<?xml version="1.0" encoding="UTF-8"?>\n<manifest:manifest '
            'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
            '<manifest:file-entry manifest:full-path="/" manifest:version="1.2" '
            'manifest:media-type="application/vnd.oasis.opendocument.text"/>'
            + "".join(f'<manifest:file-entry manifest:full-path="{p}" manifest:media-type="text/xml"/>'
                      for p in ("content.xml", "styles.xml", "meta.xml")) + "</manifest:manifest>")
STYLES = (f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document-styles {NS} office:version="1.2">'
          '<office:font-face-decls/><office:styles><style:style style:name="Standard" style:family="paragraph">'
          '<style:text-properties fo:font-size="11pt" style:font-name="Marianne"/></style:style>'
          '<style:style style:name="Gras" style:family="text"><style:text-properties fo:font-weight="bold"/>'
          '</style:style></office:styles></office:document-styles>')


def _paragraph(text: str, bold: bool = False) -> str:
    parts = re.split(r"\[\[(.*?)\]\]", text)
    xml = []
    for i, part in enumerate(parts):
        if i % 2:
            xml.append(f'<text:placeholder text:placeholder-type="text">{escape("<" + part + ">")}</text:placeholder>')
        else:
            xml.append(escape(part))
    body = "".join(xml)
    if bold:
        body = f'<text:span text:style-name="Gras">{body}</text:span>'
    return f'<text:p text:style-name="Standard">{body}</text:p>'


def make_odt(paragraphs: list[str], bold: tuple[int, ...] = (), title: str = "modèle") -> bytes:
    """`paragraphs`: texts with `[[tag]]` markers; indexes in `bold` are set in bold."""
    content = (f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document-content {NS} office:version="1.2">'
               '<office:body><office:text>'
               + "".join(_paragraph(p, i in bold) for i, p in enumerate(paragraphs))
               + "</office:text></office:body></office:document-content>")
    meta = (f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document-meta {NS} office:version="1.2">'
            f'<office:meta><dc:title>{escape(title)}</dc:title><meta:generator>arsflow</meta:generator>'
            '</office:meta></office:document-meta>')
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        def put(name, data, compress=zipfile.ZIP_DEFLATED):
            archive.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data, compress_type=compress)
        put("mimetype", "application/vnd.oasis.opendocument.text", zipfile.ZIP_STORED)
        put("META-INF/manifest.xml", MANIFEST)
        put("content.xml", content)
        put("styles.xml", STYLES)
        put("meta.xml", meta)
    return out.getvalue()


def odt_text(data: bytes) -> list[str]:
    """The paragraphs of an .odt as read in content.xml (placeholders left show as `<tag>`)."""
    from lxml import etree
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        root = etree.fromstring(archive.read("content.xml"))
    return ["".join(p.itertext()) for p in root.iter(TEXT_NS + "p", TEXT_NS + "h")]
