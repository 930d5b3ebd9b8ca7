"""OpenDocument (`.odt`) templates, filled by relatorio (Tryton's ODF templating, on Genshi).

Why relatorio: maintained with Tryton, whose letters it prints, on current Python; it keeps the
ODF structure (styles, tables, images) and repeats paragraphs or table rows around a `for`.
py3o.template is Genshi too but less active, secretary (Jinja2) has had no release since 2017.

A template's tags are LibreOffice *placeholder* fields (Insert ▸ Field ▸ More fields ▸
Functions ▸ Placeholder) or hyperlinks `relatorio://…`: `<body>`, `<date_fr(today)>`,
`<for each="name in files">` … `</for>`, `<if test="kind == 'adoption'">` … `</if>`.
Genshi evaluates Python without a sandbox, so every tag is first checked by the scripts'
sandbox (engine.bpmn.sandbox: no `_names`, no import, no `open`…), inline Python blocks are off
(`allow_exec=False`) and a template carrying Genshi's own XML namespace is refused: a template
is data a deployer edits, never code.
"""
from __future__ import annotations

import io
import re
import urllib.parse
import zipfile

from arsflow.engine.bpmn.script_limits import ScriptLimitExceeded
from arsflow.engine.documents.store import ODT, sniff

PARTS = ("content.xml", "styles.xml", "meta.xml")
GENSHI_NAMESPACE = b"genshi.edgewall.org"
DIRECTIVES = {"for": "each", "if": "test", "choose": "test", "when": "test", "otherwise": None}
UNSUPPORTED = ("with", "attrs", "content", "replace", "strip")
_TAG = re.compile(r"""^(/)?(\w+)\s*(?:\s([\w:-]+)=["'](.*)["'])?\s*$""", re.S)
_PLACEHOLDER = re.compile(rb"<text:placeholder\b[^>]*>(.*?)</text:placeholder>", re.S)
_LINK = re.compile(rb"""xlink:href=["']relatorio://([^"']*)["']""")
_META_TAG = re.compile(rb">\s*relatorio://([^<]*)<")  # a meta field or dc:* whose text is a tag
_INSTANTS = re.compile(rb"<meta:(creation-date|date)\b[^>]*>[^<]*</meta:\1>")


class OdtTemplateError(Exception):
    """A tag refused or a template relatorio cannot read; the message is French."""


def _xml_text(raw: bytes) -> str:
    from xml.sax.saxutils import unescape
    return unescape(re.sub(rb"<[^>]+>", b"", raw).decode("utf-8"), {"&quot;": '"', "&apos;": "'"})


def tags(content: bytes) -> list[str]:
    """The tags of a template as typed (without the placeholder's angle brackets)."""
    found = []
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        for part in PARTS:
            if part not in archive.namelist():
                continue
            xml = archive.read(part)
            if GENSHI_NAMESPACE in xml or b"<?python" in xml:
                raise OdtTemplateError(f"{part} : instructions Genshi interdites (seuls les champs "
                                       f"« substituant » et les liens relatorio:// sont lus)")
            for raw in _PLACEHOLDER.findall(xml):
                text = _xml_text(raw).strip()
                found.append(text[1:-1] if text.startswith("<") and text.endswith(">") else text)
            found.extend(urllib.parse.unquote(link.decode("utf-8")) for link in _LINK.findall(xml))
            if part == "meta.xml":
                found.extend(_xml_text(raw) for raw in _META_TAG.findall(xml))
    return found


def check_tag(tag: str) -> None:
    """A tag's Python goes through the scripts' sandbox compiler, or the template is refused."""
    from arsflow.engine.bpmn.sandbox import SandboxError, compile_script
    match = _TAG.match(tag.strip())
    if match and match.group(2) in DIRECTIVES:
        closing, directive, attribute, value = match.groups()
        if closing:
            return
        expected = DIRECTIVES[directive]
        if expected is None and attribute is None:
            return
        if attribute != expected:
            raise OdtTemplateError(f"« {tag} » : attendu {directive} {expected}=\"…\"")
        source = f"[None for {value}]" if directive == "for" else value
    elif match and (match.group(1) or match.group(2) in UNSUPPORTED):
        raise OdtTemplateError(f"« {tag} » : instruction non prise en charge (for, if, choose, when, otherwise)")
    else:
        source = tag
    try:
        compile_script(source, "eval")
    except SyntaxError as err:
        raise OdtTemplateError(f"« {tag} » : expression invalide ({err.msg})") from None
    except SandboxError as err:
        raise OdtTemplateError(f"« {tag} » : {'; '.join(err.errors)}") from None


def check(content: bytes):
    """relatorio's template, once every tag passed the sandbox; OdtTemplateError otherwise."""
    if sniff(content) != ODT:
        raise OdtTemplateError("modèle illisible (un document OpenDocument .odt est attendu)")
    for tag in tags(content):
        check_tag(tag)
    return _template(content)


def _template(content: bytes):
    """Its expressions compiled with the scripts' size guards and builtins (template_limits)."""
    from relatorio.templates.opendocument import Template

    from arsflow.engine.documents.template_limits import genshi_lookup, guarded_compile
    try:
        with guarded_compile():
            return Template(io.BytesIO(content), allow_exec=False, lookup=genshi_lookup())
    except Exception as err:  # genshi's TemplateSyntaxError, lxml's, relatorio's assertions
        raise OdtTemplateError(str(err) or type(err).__name__) from err


def without_instants(name: str, data: bytes) -> bytes:
    """relatorio writes the instant of rendering into meta.xml: dropped, so the same variables
    give the same bytes (warm and cold runs agree, a letter is stored once)."""
    return _INSTANTS.sub(b"", data) if name == "meta.xml" else data


def render(content: bytes, variables: dict, helpers: dict) -> bytes:
    """The filled document (not yet reproducible: relatorio stamps the entries with now)."""
    from arsflow.engine.documents.template_limits import guarded_compile
    with guarded_compile():  # Genshi compiles the expressions while it renders
        return _render(content, variables, helpers)


def _render(content: bytes, variables: dict, helpers: dict) -> bytes:
    template = check(content)
    context = {k: v for k, v in variables.items() if isinstance(k, str) and not k.startswith("_")}
    context.update(helpers)
    stream = template.generate(**context)
    try:
        return stream.render().getvalue()
    except BaseException as err:  # a missing variable (strict lookup), a failing expression, a limit
        for archive in (stream.serializer.outzip, stream.serializer.inzip):
            if archive is not None and archive.fp is not None:
                archive.fp = None  # half-written: forgotten, not closed later against a freed buffer
        if not isinstance(err, Exception) or isinstance(err, ScriptLimitExceeded):
            raise  # the watchdog's interruption, a guard's refusal: engine.documents.templates says which
        missing = re.match(r'"(\w+)" not defined', str(err))
        if missing:
            raise OdtTemplateError(f"variable « {missing.group(1)} » non définie") from err
        raise OdtTemplateError(str(err) or type(err).__name__) from err
