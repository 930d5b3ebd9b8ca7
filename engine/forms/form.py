"""A compiled form: what the inbox pre-fills and hides, and the validation of a submission."""
from __future__ import annotations

import re
from datetime import date
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Mapping

from arsflow.engine.forms.errors import (
    MSG_EMAIL,
    MSG_INTEGER,
    MSG_LIST_ITEM,
    MSG_LIST_ITEMS,
    MSG_OPTIONS_MISSING,
    MSG_PAST_DATE,
    MSG_PHONE,
    MSG_REQUIRED,
    MSG_REQUIRED_CHECKBOX,
    MSG_REQUIRED_FILE,
    MSG_REQUIRED_MULTI,
    MSG_SINGLE_FILE,
    FormValidationError,
    _fr_number,
)
from arsflow.engine.forms.model import _MULTI_TYPES, _OPTION_TYPES, _TEXT_TYPES, Field
from arsflow.engine.forms.paths import _MISSING, _deep_merge, _get_path, _Reader, _set_path
from arsflow.engine.forms.values import (
    _coerce,
    _is_blank,
    _match_option,
    _normalize_options,
    _number_out,
    _parse_decimal,
)

# form-js' email pattern; anchored through fullmatch.
_EMAIL_RE = re.compile(
    r"[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*"
)
_PHONE_SEPARATORS = re.compile(r"[\s.\-()/\u00a0]")
_PHONE_RE = re.compile(r"0[1-9]\d{8}|(?:\+|00)[1-9]\d{6,14}")


class _Schema:
    """The nodes and flattened fields of one data scope: the form itself or a dynamic-list item."""

    def __init__(self, nodes: list, fields: list[Field]):
        self.nodes = nodes
        self.fields = fields


class Form:
    """A loaded Camunda form: metadata, component tree and compiled fields."""

    def __init__(self, raw: dict, source: str, schema: _Schema):
        self.raw = raw
        self.source = source
        self.id: str = raw["id"]
        self._schema = schema
        self.components: list = schema.nodes
        self.fields: list[Field] = schema.fields
        self._by_name = {f.name: f for f in schema.fields}

    def __repr__(self) -> str:
        return f"<Form {self.id!r} from {self.source!r}: {len(self.fields)} champs>"

    def field(self, name: str) -> Field:
        """The field bound to data path ``name``; KeyError if the form has none."""
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @property
    def file_fields(self) -> list[Field]:
        """The filepickers: their files come with the upload, not with the data."""
        return [f for f in self.fields if f.type == "filepicker"]

    # -- rendering helpers

    def options_for(self, field: Field | str, context: Mapping[str, Any] | None = None) -> list[tuple[Any, str]]:
        """(value, label) choices of a radio/select/checklist/taglist, resolved against task data.

        A missing or malformed dynamic source gives no choice at all rather than an error:
        the inbox shows an empty list, and validation refuses any value.
        """
        if isinstance(field, str):
            field = self.field(field)
        return self._options(field, context or {}) or []

    @staticmethod
    def _options(field: Field, scope: Mapping[str, Any]) -> list[tuple[Any, str]] | None:
        if field.options_key is not None:
            found = _get_path(scope, field.options_key.split("."))
            return _normalize_options(None if found is _MISSING else found)
        if field._options is not None:
            return _normalize_options(field._options.evaluate(scope))
        return field.options

    def defaults(self) -> dict[str, Any]:
        """``defaultValue`` of each field that declares one, by data path."""
        return {f.name: f.default for f in self.fields if f.default is not None}

    def initial_values(self, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """What the inbox pre-fills, by data path: task data, else ``defaultValue``, else empty."""
        context = context or {}
        values = {}
        for f in self.fields:
            found = _get_path(context, f.path)
            if found is _MISSING:
                found = f.default if f.default is not None else f.empty_value
            values[f.name] = found
        return values

    def hidden_names(self, data: Mapping[str, Any] | None = None, context: Mapping[str, Any] | None = None) -> set[str]:
        """Data paths of the fields ``conditional.hide`` hides for these values."""
        scope = _deep_merge(context or {}, data or {})
        hidden: set[str] = set()
        self._collect_hidden(self.components, scope, False, hidden)
        return hidden

    def _collect_hidden(self, nodes: list, scope: Mapping, parent_hidden: bool, out: set[str]) -> None:
        for node in nodes:
            hidden = parent_hidden or (node._hide is not None and node._hide.evaluate(scope) is True)
            if isinstance(node, Field):
                if hidden:
                    out.add(node.name)
            else:
                self._collect_hidden(node.children, scope, hidden, out)

    # -- validation

    def validate(
        self,
        data: Mapping[str, Any] | None,
        *,
        from_strings: bool = False,
        partial: bool = False,
        context: Mapping[str, Any] | None = None,
        today: date | None = None,
        files: Mapping[str, list] | None = None,
    ) -> dict:
        """Check and clean a submission; raise FormValidationError listing every error.

        ``data`` is the user's submission: a JSON object (nested or with dotted keys), or with
        ``from_strings=True`` an HTML form post (strings, a MultiDict works: a checklist is
        read with ``getlist``, an unchecked checkbox is simply absent).
        ``context`` is the task's current data: it feeds ``valuesKey``/``valuesExpression``
        options and conditions, and stands for the value of a field a JSON submission omits
        (the inbox would have shown it pre-filled). ``partial=True`` saves a draft: required
        rules are skipped and, for JSON, only submitted fields are returned.
        ``today`` is the reference for ``disallowPassedDates`` (defaults to the system date).
        ``files`` maps a filepicker's name to its uploaded files (objects with ``name`` and
        ``media_type``, content already checked); they are returned as given, for the caller to
        turn into document references. ``files=None``: the submission has no way to send files
        (a start form, a retry): the filepickers are left out.

        Returns the cleaned data, nested by data path, for visible editable fields only.
        """
        context = context or {}
        errors: dict[str, str] = {}
        out = self._run(
            self._schema, _Reader(data, from_strings), "", context, context,
            partial=partial, today=today or date.today(), errors=errors, files=files,
        )
        if errors:
            raise FormValidationError(errors)
        return out

    def _run(
        self, schema: _Schema, reader: _Reader, prefix: str, context: Mapping, outer_scope: Mapping,
        *, partial: bool, today: date, errors: dict[str, str], files: Mapping[str, list] | None = None,
    ) -> dict:
        from_strings = reader.from_strings
        values: dict = {}
        pending: list[tuple[Field, str, bool, Any, str | None]] = []
        lists: list[Field] = []
        pickers: list[Field] = []
        for f in schema.fields:
            if f.type == "filepicker":
                pickers.append(f)
                continue
            if f.type == "dynamiclist":
                lists.append(f)
                continue
            locked = f.disabled or f.readonly or (
                f._readonly is not None and f._readonly.evaluate(outer_scope) is True
            )
            present, raw = (False, None) if locked else reader.read(f.name, f.path, f.multiple)
            if not present and (locked or not from_strings):
                existing = _get_path(context, f.path)
                if existing is not _MISSING:
                    raw = existing
                elif f.default is not None:
                    raw = f.default
            value, error = _coerce(f, raw, from_strings)
            if error is None:
                _set_path(values, f.path, value)
            pending.append((f, prefix + f.name, locked or (partial and not present and not from_strings), value, error))

        scope = _deep_merge(outer_scope, values)
        list_results: dict[str, tuple[bool, Any, dict[str, str]]] = {}
        for f in lists:
            list_results[f.name] = self._run_list(f, reader, prefix, scope, partial=partial, today=today)

        hidden: set[str] = set()
        self._collect_hidden(schema.nodes, scope, False, hidden)

        out: dict = {}
        for f, full_name, skip, value, error in pending:
            if skip or f.name in hidden:
                continue
            if error is None:
                error = self._check(f, value, scope, partial=partial, today=today)
            if error is not None:
                errors[full_name] = error
                continue
            if f.type == "number" and value is not None:
                value = _number_out(value, f.serialize_to_string)
            elif f.type in _OPTION_TYPES:
                value = self._canonical(f, value, scope)
            _set_path(out, f.path, value)
        for f in lists:
            present, items, item_errors = list_results[f.name]
            if f.name in hidden or f.disabled or f.readonly or (partial and not present and not from_strings):
                continue
            if item_errors:
                errors.update(item_errors)
                continue
            _set_path(out, f.path, items)
        for f in pickers:
            if files is None or f.name in hidden or f.disabled or f.readonly or partial:
                continue
            chosen = list(files.get(f.name) or [])
            error = _file_error(f, chosen)
            if error is not None:
                errors[prefix + f.name] = error
            elif chosen:
                _set_path(out, f.path, chosen)
        return out

    def _run_list(
        self, f: Field, reader: _Reader, prefix: str, scope: Mapping, *, partial: bool, today: date,
    ) -> tuple[bool, list, dict[str, str]]:
        present, raw = reader.list_items(f.name, f.path)
        name = prefix + f.name
        if not present:
            raw = [] if reader.from_strings else _get_path(scope, f.path)
            raw = [] if raw is _MISSING or raw is None else raw
        if not isinstance(raw, list):
            return present, [], {name: MSG_LIST_ITEMS}
        errors: dict[str, str] = {}
        items = []
        schema = _Schema(f.children, f.item_fields)
        for index, item in enumerate(raw):
            item_name = f"{name}[{index}]"
            if not isinstance(item, Mapping):
                errors[item_name] = MSG_LIST_ITEM
                continue
            item_scope = _deep_merge(scope, item)
            item_scope.update({"this": item, "parent": scope, "i": [index + 1]})
            items.append(self._run(
                schema, _Reader(item, reader.from_strings), item_name + ".", {}, item_scope,
                partial=partial, today=today, errors=errors,
            ))
        return present, items, errors

    def _check(self, f: Field, value: Any, scope: Mapping, *, partial: bool, today: date) -> str | None:
        """The first rule ``value`` breaks, as a French message; None when valid."""
        ftype = f.type
        if ftype == "checkbox":
            return MSG_REQUIRED_CHECKBOX if f.required and not partial and value is not True else None
        if ftype in _MULTI_TYPES:
            if not value:
                return MSG_REQUIRED_MULTI if f.required and not partial else None
        elif _is_blank(value):
            return MSG_REQUIRED if f.required and not partial else None

        if ftype in _TEXT_TYPES:
            length = len(value.strip())
            if f.min_length is not None and length < f.min_length:
                return f"Le texte doit contenir au moins {f.min_length} caractère{'s' if f.min_length > 1 else ''}."
            if f.max_length is not None and length > f.max_length:
                return f"Le texte doit contenir au plus {f.max_length} caractère{'s' if f.max_length > 1 else ''}."
            if f.regex is not None and not f.regex.fullmatch(value):
                return f"Format attendu : {f.pattern}"
            if f.validation_type == "email" and not _EMAIL_RE.fullmatch(value.strip()):
                return MSG_EMAIL
            if f.validation_type == "phone" and not _PHONE_RE.fullmatch(_PHONE_SEPARATORS.sub("", value)):
                return MSG_PHONE
            return None
        if ftype == "number":
            lower = f.min if f._min is None else _parse_decimal_feel(f._min.evaluate(scope))
            upper = f.max if f._max is None else _parse_decimal_feel(f._max.evaluate(scope))
            if lower is not None and value < lower:
                return f"La valeur doit être au moins {_fr_number(lower)}."
            if upper is not None and value > upper:
                return f"La valeur doit être au plus {_fr_number(upper)}."
            if f.decimal_digits is not None:
                digits = max(0, -value.normalize().as_tuple().exponent)
                if digits > f.decimal_digits:
                    if f.decimal_digits == 0:
                        return MSG_INTEGER
                    plural = "s" if f.decimal_digits > 1 else ""
                    return f"La valeur doit avoir au plus {f.decimal_digits} décimale{plural}."
            if f.increment is not None:
                if value % f.increment != 0:
                    below = (value / f.increment).to_integral_value(rounding=ROUND_FLOOR) * f.increment
                    return (
                        f"La valeur doit être un multiple de {_fr_number(f.increment)} "
                        f"(valeurs valides les plus proches : {_fr_number(below)} et "
                        f"{_fr_number(below + f.increment)})."
                    )
            return None
        if ftype in _OPTION_TYPES:
            options = self._options(f, scope)
            if options is None or (not options and f.dynamic_options):
                return MSG_OPTIONS_MISSING
            chosen = value if ftype in _MULTI_TYPES else [value]
            for item in chosen:
                if not isinstance(item, (str, int, float, bool)) or _match_option(options, item) is _MISSING:
                    return f"Valeur non autorisée : « {item} »."
            return None
        if ftype == "datetime" and f.disallow_passed_dates and f.subtype in ("date", "datetime"):
            if date.fromisoformat(value[:10]) < today:
                return MSG_PAST_DATE
        if ftype == "datetime" and f.date_bounds and f.subtype in ("date", "datetime"):
            return _date_bound_error(f, date.fromisoformat(value[:10]), scope, today)
        return None

    def _canonical(self, f: Field, value: Any, scope: Mapping) -> Any:
        """Submitted strings mapped back to the option values (a valuesKey may hold numbers)."""
        options = self._options(f, scope) or []
        if f.type in _MULTI_TYPES:
            return [_match_option(options, v) for v in value]
        return None if value is None else _match_option(options, value)


_ACCEPT_EXTENSIONS = {".pdf": "application/pdf", ".odt": "application/vnd.oasis.opendocument.text",
                      ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                      ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


def _accepts(accept: str, media_type: str) -> bool:
    """form-js' `accept` (the HTML attribute) against the type the server read in the content."""
    for token in (t.strip().lower() for t in accept.split(",")):
        if (token == media_type or (token.endswith("/*") and media_type.startswith(token[:-1]))
                or _ACCEPT_EXTENSIONS.get(token) == media_type):
            return True
    return not accept.strip()


def _file_error(f: Field, chosen: list) -> str | None:
    if not chosen:
        return MSG_REQUIRED_FILE if f.required else None
    if len(chosen) > 1 and not f.files_multiple:
        return MSG_SINGLE_FILE
    for item in chosen:
        if not _accepts(f.accept, item.media_type):
            return f"{item.name} : type de fichier non accepté ici (attendu : {f.accept})."
    return None


def _date_bound_error(f: Field, day: date, scope: Mapping, today: date) -> str | None:
    for side, (bound, message) in f.date_bounds.items():
        if bound == "today":
            limit = today
        elif isinstance(bound, str):
            limit = date.fromisoformat(bound)
        else:
            value = bound.evaluate({**scope, "today": today.isoformat()})
            try:
                limit = date.fromisoformat(str(value)[:10]) if value not in (None, "") else None
            except ValueError:
                limit = None
            if limit is None:
                continue  # no reference yet: the bound does not apply
        shown = limit.strftime("%d/%m/%Y")
        if side == "min" and day < limit:
            return message.replace("{date}", shown) if message else f"La date ne peut pas être antérieure au {shown}."
        if side == "max" and day > limit:
            return message.replace("{date}", shown) if message else f"La date ne peut pas être postérieure au {shown}."
    return None


def _parse_decimal_feel(value: Any) -> Decimal | None:
    return _parse_decimal(value) if value is not None else None
