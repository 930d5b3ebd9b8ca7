"""Camunda Forms (`engine.forms.Form`) turned into a tree of plain render nodes for the
`_form.html` macros: each input with its HTML name, value(s) as strings, options, HTML
validation attributes and error message.

Values come from the task's data on display, or from the submitted post when the page
comes back with errors, so nothing typed is lost. The engine validates again on submit:
the HTML attributes (required, min, max, pattern…) only describe the rules to browsers
and assistive technologies.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from arsflow.engine.forms import Component, Field, Form
from markupsafe import Markup, escape

_TEXT_INPUTS = {"textfield", "textarea"}
_MULTI = {"checklist", "taglist"}
_MISSING = object()


@dataclass
class Node:
    kind: str                       # field | text | group | list | separator | spacer
    type: str = ""
    name: str = ""
    html_id: str = ""
    label: str = ""
    description: str = ""
    required: bool = False
    readonly: bool = False
    value: str = ""
    values: list = dc_field(default_factory=list)
    checked: bool = False
    options: list = dc_field(default_factory=list)   # [(value text, label, selected)]
    attrs: dict = dc_field(default_factory=dict)
    error: str | None = None
    prefix: str | None = None
    suffix: str | None = None
    html: Markup | None = None
    children: list = dc_field(default_factory=list)
    items: list = dc_field(default_factory=list)      # dynamic list: one children list per item
    addable: bool = False                             # dynamic list: offer « Ajouter » (server-side)


def error_entries(nodes) -> list[tuple[str, str, str]]:
    """(anchor, label, message) for each field shown with an error, in page order: the error
    summary links each entry to its field."""
    entries = []
    for node in nodes:
        if node.kind in ("field", "list") and node.error:
            checkable = node.type in ("radio", "checklist") and node.options
            anchor = f"{node.html_id}-1" if checkable else node.html_id
            entries.append((anchor, node.label or node.name, node.error))
        entries += error_entries(node.children)
        for item in node.items:
            entries += error_entries(item)
    return entries


# What a filepicker without `accept` offers: the types the documents store keeps (checked by content).
ACCEPTED_FILES = ".pdf,.odt,.docx,.png,.jpg,.jpeg"


def html_id(name: str) -> str:
    return "champ-" + re.sub(r"[^A-Za-z0-9_-]", "-", name)


def _get(data: Any, path) -> Any:
    for part in path:
        if not isinstance(data, Mapping) or part not in data:
            return _MISSING
        data = data[part]
    return data


def _text(value: Any) -> str:
    if value is None or value is _MISSING:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# Dates, times and numbers are typed the French way whatever the browser's language (a
# native <input type=date> shows mm/dd/yyyy in an English browser): text inputs with a
# French placeholder, converted to the engine's ISO/decimal strings on submit.
_FR_DATE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*$")
_FR_DATETIME = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*(?:à\s*)?(\d{1,2})\s*[h:]\s*(\d{2})?\s*$")
_FR_TIME = re.compile(r"^\s*(\d{1,2})\s*[h:]\s*(\d{2})?\s*$")
_FR_NUMBER = re.compile(r"^\s*[-+]?[\d\s\u00a0\u202f]*(?:[,.]\d+)?\s*$")
PLACEHOLDERS = {"date": "jj/mm/aaaa", "time": "hh:mm", "datetime": "jj/mm/aaaa hh:mm"}


def _date_input_value(field: Field, value: str) -> str:
    """An ISO value (what the engine keeps) as the French text the input shows."""
    if not value:
        return ""
    iso = re.match(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2}))?", value)
    clock = re.match(r"^(\d{2}):(\d{2})", value)
    if field.subtype == "time":
        return f"{clock.group(1)}:{clock.group(2)}" if clock else value
    if not iso:
        return value  # what the person typed, shown back with its error
    day = f"{iso.group(3)}/{iso.group(2)}/{iso.group(1)}"
    if field.subtype == "datetime":
        return f"{day} {iso.group(4) or '00'}:{iso.group(5) or '00'}"
    return day


def _from_french(field: Field, text: str) -> str:
    """French typing → the engine's strings; anything else is left for the engine to refuse
    with its own message."""
    if not isinstance(text, str) or not text.strip():
        return text
    if field.type == "number":
        if _FR_NUMBER.match(text) and re.search(r"\d", text):
            return re.sub(r"[\s\u00a0\u202f]", "", text).replace(",", ".")
        return text
    subtype = field.subtype or "date"
    if subtype == "date" and (m := _FR_DATE.match(text)):
        return f"{int(m.group(3)):04d}-{int(m.group(2)):02d}-{int(m.group(1)):02d}"
    if subtype == "datetime" and (m := _FR_DATETIME.match(text)):
        return (f"{int(m.group(3)):04d}-{int(m.group(2)):02d}-{int(m.group(1)):02d}"
                f"T{int(m.group(4)):02d}:{int(m.group(5) or 0):02d}")
    if subtype == "time" and (m := _FR_TIME.match(text)):
        return f"{int(m.group(1)):02d}:{int(m.group(2) or 0):02d}"
    return text


class Values:
    """Field values by data path, either from task data or from a submitted post."""

    def __init__(self, form: Form, context: Mapping, post=None):
        self.form = form
        self.context = context or {}
        self.post = post
        self.initial = form.initial_values(self.context)

    def locked(self, f: Field) -> bool:
        return f.readonly or f.disabled

    def single(self, f: Field, name: str) -> str:
        if self.post is not None and not self.locked(f):
            return self.post.get(name, "")
        return _text(self._stored(f, name))

    def multi(self, f: Field, name: str) -> list[str]:
        if self.post is not None and not self.locked(f):
            return list(self.post.getlist(name))
        value = self._stored(f, name)
        return [_text(v) for v in value] if isinstance(value, list) else []

    def checked(self, f: Field, name: str) -> bool:
        if self.post is not None and not self.locked(f):
            return str(self.post.get(name, "")).lower() in ("on", "true", "1", "oui", "yes")
        return self._stored(f, name) is True

    def _stored(self, f: Field, name: str):
        if name in self.initial:
            return self.initial[name]
        return None

    def nested(self) -> dict:
        """Current values nested by data path, typed enough for `conditional.hide`."""
        out: dict = {}
        for f in self.form.fields:
            if f.type == "dynamiclist":
                continue
            if f.type == "checkbox":
                value: Any = self.checked(f, f.name)
            elif f.type in _MULTI:
                value = self.multi(f, f.name)
            else:
                value = self.single(f, f.name) if self.post is not None else self.initial.get(f.name)
                if isinstance(value, str) and f.type == "number":
                    try:
                        value = Decimal(value.replace(",", ".")) if value.strip() else None
                    except InvalidOperation:
                        value = None
                elif isinstance(value, str) and not value.strip() and f.type not in _TEXT_INPUTS:
                    value = None
            target = out
            for part in f.path[:-1]:
                target = target.setdefault(part, {})
            target[f.path[-1]] = value
        return out


def build(form: Form, context: Mapping | None = None, post=None, errors: Mapping[str, str] | None = None,
          today: date | None = None, editable_lists: bool = False, files: bool = False) -> list[Node]:
    """Render nodes of the visible part of `form`; `post` is the submitted MultiDict.
    `editable_lists`: dynamic lists start with their `defaultRepetitions` empty items and
    offer an « Ajouter » button (`_action=ajouter:<list>`, answered by re-rendering the page).
    `files`: the page can send files (a task page): filepickers are shown, else left out."""
    context = context or {}
    values = Values(form, context, post)
    hidden = form.hidden_names(values.nested(), context)
    if not files:
        hidden |= {f.name for f in form.file_fields}
    builder = _Builder(form, values, errors or {}, hidden, context, today or date.today())
    builder.editable_lists = editable_lists
    return builder.nodes(form.components, prefix="")


ADD_ACTION = "ajouter:"


class _Builder:
    def __init__(self, form: Form, values: Values, errors: Mapping[str, str], hidden: set, context: Mapping,
                 today: date):
        self.form = form
        self.values = values
        self.errors = errors
        self.hidden = hidden
        self.context = context
        self.today = today
        self.editable_lists = False

    def nodes(self, components: list, prefix: str, item: Mapping | None = None) -> list[Node]:
        out = []
        for comp in components:
            if isinstance(comp, Field):
                if not prefix and comp.name in self.hidden:
                    continue
                node = self.list_node(comp) if comp.type == "dynamiclist" else self.field(comp, prefix, item)
                out.append(node)
            elif isinstance(comp, Component):
                node = self.component(comp, prefix, item)
                if node is not None:
                    out.append(node)
        return out

    def component(self, comp: Component, prefix: str, item) -> Node | None:
        if comp.type == "group":
            children = self.nodes(comp.children, prefix, item)
            if not children:
                return None
            return Node(kind="group", label=comp.label, children=children)
        if comp.type == "text":
            return Node(kind="text", html=markdown_text(comp.text, self.context))
        if comp.type == "separator":
            return Node(kind="separator")
        if comp.type == "spacer":
            return Node(kind="spacer")
        if comp.type == "html" and comp.text:
            # form-js renders sanitized HTML; arsflow shows it as plain text (never raw markup).
            return Node(kind="text", html=markdown_text(re.sub(r"<[^>]+>", " ", comp.text), self.context))
        return None  # buttons, images, iframes, tables: nothing to show offline

    def field(self, f: Field, prefix: str, item: Mapping | None) -> Node:
        name = prefix + f.name
        node = Node(kind="field", type=f.type, name=name, html_id=html_id(name), label=f.label,
                    description=f.description, required=f.required,
                    readonly=bool(f.readonly or f.disabled), error=self.errors.get(name),
                    prefix=f.prefix, suffix=f.suffix)
        values = self.values
        if item is not None:  # dynamic-list item: values live in the item itself
            values = _ItemValues(item, values.post, name, f)
        if f.type == "filepicker":  # files are sent again with each post: nothing to pre-fill
            node.attrs = {"accept": f.accept or ACCEPTED_FILES, "multiple": f.files_multiple}
            return node
        if f.type == "checkbox":
            node.checked = values.checked(f, name)
        elif f.type in _MULTI:
            node.values = values.multi(f, name)
        else:
            node.value = values.single(f, name)
        if f.type in ("checklist", "taglist", "radio", "select"):
            scope = dict(self.context)
            chosen = set(node.values) if f.type in _MULTI else {node.value}
            node.options = [(_text(v), label, _text(v) in chosen)
                            for v, label in self.form.options_for(f, scope)]
        node.attrs = self.attrs(f)
        if f.type == "datetime":
            node.value = _date_input_value(f, node.value)
        return node

    def attrs(self, f: Field) -> dict:
        attrs: dict[str, Any] = {}
        if f.type in _TEXT_INPUTS:
            if f.type == "textfield":
                attrs["type"] = {"email": "email", "phone": "tel"}.get(f.validation_type or "", "text")
            if f.min_length is not None:
                attrs["minlength"] = f.min_length
            if f.max_length is not None:
                attrs["maxlength"] = f.max_length
            if f.pattern and f.type == "textfield":
                attrs["pattern"] = f.pattern
        elif f.type == "number":
            # Text, not type=number: a French "1 234,5" must be accepted in any browser.
            attrs["type"] = "text"
            attrs["inputmode"] = "numeric" if f.decimal_digits == 0 else "decimal"
            if f.min is not None:
                attrs["data-min"] = _text(f.min)
            if f.max is not None:
                attrs["data-max"] = _text(f.max)
        elif f.type == "datetime":
            attrs["type"] = "text"
            attrs["inputmode"] = "numeric"
            attrs["placeholder"] = PLACEHOLDERS[f.subtype or "date"]
            attrs["autocomplete"] = "off"
            if f.disallow_passed_dates and f.subtype in ("date", "datetime"):
                attrs["data-min"] = self.today.isoformat()
        return attrs

    def list_node(self, f: Field) -> Node:
        """A dynamic list: its current items, editable in place (no add/remove without JS)."""
        post = self.values.post
        if post is not None:
            items = _posted_items(post, f.name)
            if self.editable_lists and post.get("_action") == ADD_ACTION + f.name:
                items.append({})
        else:
            stored = _get(self.context, f.path)
            items = [i for i in stored if isinstance(i, Mapping)] if isinstance(stored, list) else []
            if not items and stored is _MISSING and self.editable_lists:
                repetitions = (f.raw or {}).get("defaultRepetitions")
                items = [{} for _ in range(repetitions if isinstance(repetitions, int) and 0 < repetitions < 20 else 0)]
        node = Node(kind="list", name=f.name, label=f.label, description=f.description,
                    html_id=html_id(f.name), error=self.errors.get(f.name),
                    addable=self.editable_lists and not (f.readonly or f.disabled))
        for index, item in enumerate(items):
            node.items.append(self.nodes(f.children, prefix=f"{f.name}[{index}].", item=item))
        return node


class _ItemValues:
    """Values of one dynamic-list item: posted strings, or the stored item."""

    def __init__(self, item: Mapping, post, name: str, f: Field):
        self.item, self.post, self.name, self.f = item, post, name, f

    def _raw(self):
        found = _get(self.item, self.f.path)
        return None if found is _MISSING else found

    def single(self, f, name):
        if self.post is not None and not (f.readonly or f.disabled):
            return self.post.get(name, "")
        return _text(self._raw())

    def multi(self, f, name):
        if self.post is not None and not (f.readonly or f.disabled):
            return list(self.post.getlist(name))
        raw = self._raw()
        return [_text(v) for v in raw] if isinstance(raw, list) else []

    def checked(self, f, name):
        if self.post is not None and not (f.readonly or f.disabled):
            return str(self.post.get(name, "")).lower() in ("on", "true", "1", "oui", "yes")
        return self._raw() is True


def _posted_items(post, name: str) -> list[dict]:
    pattern = re.compile(re.escape(name) + r"\[(\d+)\]\.(.+)")
    items: dict[int, dict] = {}
    for key in post.keys():
        match = pattern.fullmatch(key)
        if match:
            items.setdefault(int(match.group(1)), {})[match.group(2)] = post.get(key)
    return [items[i] for i in sorted(items)]


# Fields the page adds around the form's own inputs.
RESERVED = frozenset({"csrf_token", "_version", "_action", "_business_key", "_variables"})


def post_to_dict(post) -> dict:
    """An HTML post as the engine's `from_strings` reader expects it: one string per field,
    a list where the field was sent several times (checklist)."""
    data: dict[str, Any] = {}
    for key in post.keys():
        if key in RESERVED:
            continue
        values = post.getlist(key)
        data[key] = values if len(values) > 1 else values[0]
    return data


def multi_names(form: Form) -> set[str]:
    return {f.name for f in form.fields if f.type in _MULTI}


def _typed_field(form: Form, key: str) -> Field | None:
    """The number or date field an HTML name stands for: `champ`, or `liste[2].champ` for a
    field of a dynamic-list item (nested lists included)."""
    fields = form.fields
    parts = re.split(r"\[\d+\]\.", key)
    for depth, part in enumerate(parts):
        found = next((f for f in fields if f.name == part), None)
        if found is None:
            return None
        if depth == len(parts) - 1:
            return found if found.type in ("number", "datetime") else None
        if found.type != "dynamiclist":
            return None
        fields = found.item_fields or []
    return None


def post_for_form(form: Form, post) -> dict:
    """`post_to_dict`, with checklist fields always lists (even with one box ticked), and
    French dates and numbers turned into the engine's strings, dynamic-list items included."""
    data = post_to_dict(post)
    for key, value in data.items():
        field = _typed_field(form, key)
        if field is not None:
            data[key] = [_from_french(field, v) for v in value] if isinstance(value, list) else _from_french(field, value)
    for name in multi_names(form):
        if name in post:
            data[name] = post.getlist(name)
    return data


# -- markdown-ish display text ------------------------------------------------------------------

_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][\w.]*)\s*\}\}")
_LINK = re.compile(r"\[([^\]]+)\]\(((?:https?://|mailto:|/)[^)\s]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__")
_ITALIC = re.compile(r"(?<![*\w])\*(?!\s)(.+?)(?<!\s)\*(?![*\w])|(?<![_\w])_(?!\s)(.+?)(?<!\s)_(?![_\w])")
_CODE = re.compile(r"`([^`]+)`")


def _inline(text: str, context: Mapping) -> str:
    """Escape first, then add the few inline marks form-js text commonly uses."""
    def substitute(match):
        found = _get(context, match.group(1).split("."))
        return "" if found is _MISSING or found is None else _text(found)

    out = str(escape(_TEMPLATE.sub(substitute, text)))
    out = _CODE.sub(lambda m: f"<code>{m.group(1)}</code>", out)
    out = _LINK.sub(lambda m: f'<a href="{m.group(2)}" rel="noopener noreferrer">{m.group(1)}</a>', out)
    out = _BOLD.sub(lambda m: f"<strong>{m.group(1) or m.group(2)}</strong>", out)
    out = _ITALIC.sub(lambda m: f"<em>{m.group(1) or m.group(2)}</em>", out)
    return out


def markdown_text(text: str, context: Mapping | None = None) -> Markup:
    """Headings, paragraphs, bullet/numbered lists, bold, italics, code and http(s) links;
    everything else is escaped text. `{{ variable }}` shows a task variable."""
    context = context or {}
    html: list[str] = []
    paragraph: list[str] = []
    list_tag: str | None = None

    def flush_paragraph():
        if paragraph:
            html.append("<p>" + "<br>".join(paragraph) + "</p>")
            paragraph.clear()

    def close_list():
        nonlocal list_tag
        if list_tag:
            html.append(f"</{list_tag}>")
            list_tag = None

    next_level = 2  # the form sits under the page's h1: headings never skip a level below it
    for raw in (text or "").splitlines():
        line = raw.strip()
        heading = re.match(r"(#{1,6})\s+(.*)", line)
        bullet = re.match(r"[-*+]\s+(.*)", line)
        numbered = re.match(r"\d+[.)]\s+(.*)", line)
        if not line:
            flush_paragraph()
            close_list()
        elif heading:
            flush_paragraph()
            close_list()
            level = min(len(heading.group(1)) + 1, next_level, 6)
            next_level = level + 1
            html.append(f'<h{level} class="fr-h{max(level, 4)}">{_inline(heading.group(2), context)}</h{level}>')
        elif bullet or numbered:
            flush_paragraph()
            tag = "ul" if bullet else "ol"
            if list_tag != tag:
                close_list()
                html.append(f"<{tag}>")
                list_tag = tag
            html.append(f"<li>{_inline((bullet or numbered).group(1), context)}</li>")
        else:
            close_list()
            paragraph.append(_inline(line, context))
    flush_paragraph()
    close_list()
    return Markup("".join(html))
