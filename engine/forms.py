"""Camunda Forms (``.form`` files saved by Camunda Modeler) compiled for server-side validation.

A user task names its form with ``camunda:formRef``; the inbox renders it and, on completion,
the submitted values go through :meth:`Form.validate` before they become process variables.
Validation must therefore be strict, fast (the form is compiled once, regexes are cached) and
must report every error at once, in French, keyed by the field's data path.

Behaviour follows form-js (the library Camunda Modeler previews forms with) where it matters:

* a field's data path is its group/dynamic-list ``path`` segments plus its ``key``, which may
  itself be dotted (``demandeur.nom``); cleaned data is nested accordingly;
* fields hidden by ``conditional.hide`` are neither validated nor returned;
* empty values are ``""`` for text, ``None`` for number/select/radio/datetime, ``False`` for a
  checkbox and ``[]`` for checklist/taglist.

Deliberate differences, chosen for an administrative back office:

* ``validate.pattern`` must match the *whole* value (``re.fullmatch``; form-js searches);
* ``validationType: "phone"`` accepts French numbers (``01 23 45 67 89``) as well as
  international ones (``+33 1 23 45 67 89``);
* readonly/disabled fields never take their value from the submission, and are not returned:
  they show process data, they do not change it;
* keys in the submission that are not editable fields of the form are ignored (not returned),
  so a crafted post cannot overwrite arbitrary process variables;
* the FEEL used in ``conditional.hide``, ``valuesExpression`` and expression bounds is a small,
  safe subset (see ``_Feel``); anything outside it is refused when the form is loaded rather
  than silently misread at completion time.
* a ``filepicker`` takes its files from the upload (``files=`` of :meth:`Form.validate`), never
  from the submitted data: the runtime stores them as documents and the variable becomes the list
  of their references (form-js hands a file key to Camunda 8, which stores documents likewise).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import date, datetime, time
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

__all__ = [
    "Component",
    "Field",
    "Form",
    "FormError",
    "FormValidationError",
    "form_id_of",
    "load_form",
    "load_form_dir",
    "load_form_file",
]


# --------------------------------------------------------------------------- errors


class FormError(ValueError):
    """A form file that cannot be used: the message names the file, the component and why."""

    def __init__(
        self,
        message: str,
        *,
        filename: str | None = None,
        component: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ):
        self.filename = filename
        self.component = component
        self.line = line
        self.column = column
        self.reason = message
        parts = [filename] if filename else []
        if component:
            parts.append(f"composant {component}")
        parts.append(message)
        super().__init__(" : ".join(parts))


class FormValidationError(ValueError):
    """Submitted data rejected; ``errors`` maps each field's data path to a French message."""

    def __init__(self, errors: Mapping[str, str]):
        self.errors: dict[str, str] = dict(errors)
        count = len(self.errors)
        head = "1 champ invalide" if count == 1 else f"{count} champs invalides"
        detail = " ; ".join(f"{name} : {msg}" for name, msg in self.errors.items())
        super().__init__(f"{head} — {detail}")


# French messages, in one place so the web layer and the tests agree on wording.
MSG_REQUIRED = "Ce champ est obligatoire."
MSG_REQUIRED_CHECKBOX = "Cette case doit être cochée."
MSG_REQUIRED_MULTI = "Sélectionnez au moins une option."
MSG_TEXT = "Texte attendu."
MSG_NUMBER = "Nombre invalide."
MSG_BOOLEAN = "Valeur booléenne attendue (coché ou non coché)."
MSG_LIST = "Liste de valeurs attendue."
MSG_SINGLE = "Une seule valeur est attendue."
MSG_OPTIONS_MISSING = "Aucune liste de choix n'est disponible pour ce champ."
MSG_DATE = "Date invalide. Format attendu : AAAA-MM-JJ."
MSG_TIME = "Heure invalide. Format attendu : HH:MM."
MSG_DATETIME = "Date et heure invalides. Format attendu : AAAA-MM-JJTHH:MM."
MSG_PAST_DATE = "La date ne peut pas être antérieure à aujourd'hui."
MSG_EMAIL = "Adresse électronique invalide."
MSG_PHONE = "Numéro de téléphone invalide (ex. : 01 23 45 67 89 ou +33 1 23 45 67 89)."
MSG_INTEGER = "La valeur doit être un nombre entier."
MSG_LIST_ITEMS = "Liste d'éléments attendue."
MSG_LIST_ITEM = "Élément invalide."
MSG_REQUIRED_FILE = "Joignez un fichier."
MSG_SINGLE_FILE = "Un seul fichier est attendu."


def _fr_number(value: Any) -> str:
    """Numbers as a French reader expects them in a message: decimal comma, no exponent."""
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f") if value == value else str(value)
    else:
        text = str(value)
    return text.replace(".", ",")


# --------------------------------------------------------------------------- FEEL subset


class _FeelError(ValueError):
    pass


_FEEL_TOKEN = re.compile(
    r"""\s*(?:
        (?P<num>\d+(?:\.\d+)?|\.\d+)
      | (?P<str>"(?:[^"\\]|\\.)*")
      | (?P<fn>(?:list\s+contains|string\s+length|is\s+defined|is\s+empty|upper\s+case
               |lower\s+case|not|count|contains|sum)(?=\s*\())
      | (?P<name>[A-Za-z_$][\w$]*)
      | (?P<op><=|>=|!=|[=<>+\-*/().,\[\]{}:])
    )""",
    re.X,
)

_MISSING = object()


def _is_num(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def _feel_eq(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_num(a) and _is_num(b):
        return Decimal(str(a)) == Decimal(str(b))
    if type(a) is not type(b) and not (isinstance(a, str) and isinstance(b, str)):
        return False
    return a == b


def _feel_order(a: Any, b: Any) -> int | None:
    if _is_num(a) and _is_num(b):
        da, db = Decimal(str(a)), Decimal(str(b))
    elif isinstance(a, str) and isinstance(b, str):
        da, db = a, b
    else:
        return None
    return (da > db) - (da < db)


def _feel_lookup(value: Any, name: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(name)
    return None


def _fn_list_contains(seq: Any, item: Any) -> Any:
    if not isinstance(seq, list):
        return None
    return any(_feel_eq(x, item) for x in seq)


def _fn_not(value: Any) -> Any:
    return (not value) if isinstance(value, bool) else None


def _fn_count(seq: Any) -> Any:
    return len(seq) if isinstance(seq, list) else None


def _fn_is_empty(seq: Any) -> Any:
    return len(seq) == 0 if isinstance(seq, list) else None


def _fn_string_length(text: Any) -> Any:
    return len(text) if isinstance(text, str) else None


def _fn_contains(text: Any, part: Any) -> Any:
    return part in text if isinstance(text, str) and isinstance(part, str) else None


def _fn_sum(seq: Any) -> Any:
    if isinstance(seq, list) and all(_is_num(x) for x in seq):
        return sum(Decimal(str(x)) for x in seq)
    return None


_FEEL_FUNCTIONS: dict[str, tuple[int, Callable[..., Any]]] = {
    "not": (1, _fn_not),
    "list contains": (2, _fn_list_contains),
    "count": (1, _fn_count),
    "is defined": (1, lambda value: value is not None),
    "is empty": (1, _fn_is_empty),
    "string length": (1, _fn_string_length),
    "contains": (2, _fn_contains),
    "upper case": (1, lambda s: s.upper() if isinstance(s, str) else None),
    "lower case": (1, lambda s: s.lower() if isinstance(s, str) else None),
    "sum": (1, _fn_sum),
}


class _Feel:
    """A compiled FEEL expression from the subset process owners write in form conditions.

    Supported: number/string/boolean/null literals, variable paths (``a.b``), list ``[..]``
    and context ``{k: v}`` literals, ``+ - * /``, ``= != < <= > >=``, ``and``/``or``,
    parentheses and the functions in ``_FEEL_FUNCTIONS``. Comparisons with null or across types
    yield null (falsy), as in FEEL, so a hide condition on an empty field does not hide it.
    Evaluation never raises: a field must not become impossible to submit because of a typo in
    a condition that was accepted at load time.
    """

    def __init__(self, source: str):
        self.source = source
        text = source.strip()
        if text.startswith("="):
            text = text[1:]
        self._tokens = self._tokenize(text)
        self._pos = 0
        if not self._tokens:
            raise _FeelError("expression vide")
        self._fn = self._disjunction()
        if self._pos != len(self._tokens):
            raise _FeelError(f"élément inattendu « {self._tokens[self._pos][1]} »")
        del self._tokens

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        try:
            return self._fn(scope)
        except Exception:  # noqa: BLE001 - documented: an odd runtime value yields null
            return None

    # -- tokenizer / recursive descent parser producing closures

    @staticmethod
    def _tokenize(text: str) -> list[tuple[str, str]]:
        tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            match = _FEEL_TOKEN.match(text, pos)
            if not match or match.end() == pos:
                raise _FeelError(f"syntaxe non prise en charge à partir de « {text[pos:].strip()[:20]} »")
            kind = match.lastgroup
            value = match.group(kind)
            if kind == "fn":
                value = " ".join(value.split())
            tokens.append((kind, value))
            pos = match.end()
        return tokens

    def _peek(self) -> tuple[str, str] | None:
        return self._tokens[self._pos] if self._pos < len(self._tokens) else None

    def _accept(self, *values: str) -> str | None:
        tok = self._peek()
        if tok and tok[0] in ("op", "name") and tok[1] in values:
            self._pos += 1
            return tok[1]
        return None

    def _expect(self, value: str) -> None:
        if not self._accept(value):
            tok = self._peek()
            found = f"« {tok[1]} »" if tok else "la fin de l'expression"
            raise _FeelError(f"« {value} » attendu, trouvé {found}")

    def _disjunction(self):
        left = self._conjunction()
        while self._accept("or"):
            right = self._conjunction()
            left = self._or(left, right)
        return left

    @staticmethod
    def _or(left, right):
        def run(scope):
            a, b = left(scope), right(scope)
            if a is True or b is True:
                return True
            if a is False and b is False:
                return False
            return None

        return run

    def _conjunction(self):
        left = self._comparison()
        while self._accept("and"):
            right = self._comparison()
            left = self._and(left, right)
        return left

    @staticmethod
    def _and(left, right):
        def run(scope):
            a, b = left(scope), right(scope)
            if a is False or b is False:
                return False
            if a is True and b is True:
                return True
            return None

        return run

    def _comparison(self):
        left = self._sum()
        op = self._accept("=", "!=", "<", "<=", ">", ">=")
        if not op:
            return left
        right = self._sum()
        if op == "=":
            return lambda s: _feel_eq(left(s), right(s))
        if op == "!=":
            return lambda s: not _feel_eq(left(s), right(s))
        test = {"<": lambda c: c < 0, "<=": lambda c: c <= 0, ">": lambda c: c > 0, ">=": lambda c: c >= 0}[op]

        def run(scope):
            cmp = _feel_order(left(scope), right(scope))
            return None if cmp is None else test(cmp)

        return run

    def _sum(self):
        left = self._term()
        while op := self._accept("+", "-"):
            left = self._arith(op, left, self._term())
        return left

    def _term(self):
        left = self._unary()
        while op := self._accept("*", "/"):
            left = self._arith(op, left, self._unary())
        return left

    @staticmethod
    def _arith(op, left, right):
        def run(scope):
            a, b = left(scope), right(scope)
            if op == "+" and isinstance(a, str) and isinstance(b, str):
                return a + b
            if not (_is_num(a) and _is_num(b)):
                return None
            da, db = Decimal(str(a)), Decimal(str(b))
            if op == "+":
                return da + db
            if op == "-":
                return da - db
            if op == "*":
                return da * db
            return None if db == 0 else da / db

        return run

    def _unary(self):
        if self._accept("-"):
            inner = self._unary()
            return lambda s: (-Decimal(str(v)) if _is_num(v := inner(s)) else None)
        return self._postfix()

    def _postfix(self):
        node = self._primary()
        while self._accept("."):
            tok = self._peek()
            if not tok or tok[0] != "name":
                raise _FeelError("nom de propriété attendu après « . »")
            self._pos += 1
            node = self._member(node, tok[1])
        return node

    @staticmethod
    def _member(node, name):
        return lambda s: _feel_lookup(node(s), name)

    def _primary(self):
        tok = self._peek()
        if tok is None:
            raise _FeelError("expression incomplète")
        kind, value = tok
        self._pos += 1
        if kind == "num":
            number = Decimal(value)
            return lambda s: number
        if kind == "str":
            text = json.loads(value)
            return lambda s: text
        if kind == "fn":
            arity, fn = _FEEL_FUNCTIONS[value]
            self._expect("(")
            args = [self._disjunction()]
            while self._accept(","):
                args.append(self._disjunction())
            self._expect(")")
            if len(args) != arity:
                raise _FeelError(f"la fonction « {value} » attend {arity} argument(s)")
            return lambda s: fn(*(a(s) for a in args))
        if kind == "name":
            if value == "true":
                return lambda s: True
            if value == "false":
                return lambda s: False
            if value == "null":
                return lambda s: None
            if value in ("and", "or"):
                raise _FeelError(f"« {value} » inattendu")
            return lambda s: _feel_lookup(s, value)
        if value == "(":
            inner = self._disjunction()
            self._expect(")")
            return inner
        if value == "[":
            items = []
            if not self._accept("]"):
                items.append(self._disjunction())
                while self._accept(","):
                    items.append(self._disjunction())
                self._expect("]")
            return lambda s: [i(s) for i in items]
        if value == "{":
            entries = []
            if not self._accept("}"):
                while True:
                    key_tok = self._peek()
                    if not key_tok or key_tok[0] not in ("name", "str"):
                        raise _FeelError("nom d'entrée attendu dans le contexte { … }")
                    self._pos += 1
                    key = json.loads(key_tok[1]) if key_tok[0] == "str" else key_tok[1]
                    self._expect(":")
                    entries.append((key, self._disjunction()))
                    if not self._accept(","):
                        break
                self._expect("}")
            return lambda s: {k: v(s) for k, v in entries}
        raise _FeelError(f"« {value} » inattendu")


# --------------------------------------------------------------------------- model

_INPUT_TYPES = frozenset(
    {"textfield", "textarea", "number", "checkbox", "checklist", "radio", "select", "taglist", "datetime"}
)
_OPTION_TYPES = frozenset({"checklist", "radio", "select", "taglist"})
_MULTI_TYPES = frozenset({"checklist", "taglist"})
_TEXT_TYPES = frozenset({"textfield", "textarea"})
# Shown to the user but carrying no data; "button" is the submit/reset button.
_DISPLAY_TYPES = frozenset(
    {"text", "html", "image", "separator", "spacer", "button", "iframe", "table", "documentPreview"}
)
_UNSUPPORTED_TYPES = {
    "expression": "les champs calculés (« expression ») ne sont pas pris en charge par arsflow",
    "multipage": "les formulaires multi-pages ne sont pas pris en charge par arsflow",
    "page": "les formulaires multi-pages ne sont pas pris en charge par arsflow",
}
_KEY_RE = re.compile(r"\w+(?:\.\w+)*", re.ASCII)
_PATH_RE = re.compile(r"(?:\w+(?:\.\w+)*)?", re.ASCII)
# form-js' email pattern; anchored through fullmatch.
_EMAIL_RE = re.compile(
    r"[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*"
)
_PHONE_SEPARATORS = re.compile(r"[\s.\-()/\u00a0]")
_PHONE_RE = re.compile(r"0[1-9]\d{8}|(?:\+|00)[1-9]\d{6,14}")
_DATE_ISO_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_FR_RE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_TIME_RE = re.compile(r"(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?")
_DATETIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)")
_TRUE_STRINGS = frozenset({"on", "true", "1", "yes", "oui"})
_FALSE_STRINGS = frozenset({"", "off", "false", "0", "no", "non"})


def _compile_js_regex(pattern: str) -> re.Pattern:
    """Compile a form-js (JavaScript) pattern with Python's ``re``.

    JS named groups ``(?<n>…)``/``\\k<n>`` are rewritten; ``re.ASCII`` keeps ``\\d``/``\\w``
    as narrow as in JavaScript, so the modeler preview and the server agree.
    """
    translated = re.sub(r"\(\?<(?![=!])([A-Za-z_]\w*)>", r"(?P<\1>", pattern)
    translated = re.sub(r"\\k<([A-Za-z_]\w*)>", r"(?P=\1)", translated)
    return re.compile(translated, re.ASCII)


@dataclass(eq=False)
class Component:
    """A non-input node of the form tree (text, group, separator, image…), kept for rendering."""

    type: str
    id: str | None
    raw: dict
    label: str = ""
    text: str = ""
    path: tuple[str, ...] = ()
    children: list = dc_field(default_factory=list)
    hide: str | None = None
    _hide: _Feel | None = dc_field(default=None, repr=False)


@dataclass(eq=False)
class Field:
    """An input of the form, with its validation rules compiled once at load time.

    ``name`` is the full data path (group paths + key, dotted; inside a dynamic list it is
    relative to the list item) and is what errors, cleaned data and HTML inputs are keyed by.
    """

    key: str
    name: str
    label: str
    type: str
    id: str | None = None
    path: tuple[str, ...] = ()
    required: bool = False
    options: list[tuple[Any, str]] = dc_field(default_factory=list)
    options_key: str | None = None
    options_expression: str | None = None
    min: Decimal | None = None
    max: Decimal | None = None
    min_expression: str | None = None
    max_expression: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    validation_type: str | None = None
    subtype: str | None = None
    default: Any = None
    readonly: bool = False
    disabled: bool = False
    readonly_expression: str | None = None
    description: str = ""
    decimal_digits: int | None = None
    increment: Decimal | None = None
    serialize_to_string: bool = False
    disallow_passed_dates: bool = False
    date_bounds: dict = dc_field(default_factory=dict)
    time_format: str | None = None
    searchable: bool = False
    prefix: str | None = None
    suffix: str | None = None
    hide: str | None = None
    raw: dict = dc_field(default_factory=dict, repr=False)
    # dynamiclist only: the item's own components and flattened fields
    children: list = dc_field(default_factory=list, repr=False)
    item_fields: list["Field"] = dc_field(default_factory=list, repr=False)
    regex: re.Pattern | None = dc_field(default=None, repr=False)
    _hide: _Feel | None = dc_field(default=None, repr=False)
    _readonly: _Feel | None = dc_field(default=None, repr=False)
    _min: _Feel | None = dc_field(default=None, repr=False)
    _max: _Feel | None = dc_field(default=None, repr=False)
    _options: _Feel | None = dc_field(default=None, repr=False)
    # filepicker only: several files, and form-js' `accept` (".pdf,image/*")
    files_multiple: bool = False
    accept: str = ""

    @property
    def multiple(self) -> bool:
        return self.type in _MULTI_TYPES

    @property
    def empty_value(self) -> Any:
        """The value form-js submits for an untouched field of this type."""
        if self.type in _TEXT_TYPES:
            return ""
        if self.type == "checkbox":
            return False
        if self.type in _MULTI_TYPES or self.type == "dynamiclist":
            return []
        return None

    @property
    def dynamic_options(self) -> bool:
        return self.options_key is not None or self.options_expression is not None


# --------------------------------------------------------------------------- nested data helpers


def _get_path(data: Any, path: Iterable[str]) -> Any:
    for part in path:
        if not isinstance(data, Mapping) or part not in data:
            return _MISSING
        data = data[part]
    return data


def _set_path(target: dict, path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        nxt = target.get(part)
        if not isinstance(nxt, dict):
            nxt = target[part] = {}
        target = nxt
    target[path[-1]] = value


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class _Reader:
    """Reads one field's submitted value from a flat (``a.b``) or nested mapping or a MultiDict."""

    def __init__(self, data: Any, from_strings: bool):
        self.data = data if data is not None else {}
        self.from_strings = from_strings
        self._getlist = getattr(self.data, "getlist", None)

    def read(self, name: str, path: tuple[str, ...], multi: bool) -> tuple[bool, Any]:
        data = self.data
        if name in data:
            if self._getlist is not None:
                values = self._getlist(name)
                return True, values if multi else (values[0] if len(values) == 1 else values)
            return True, data[name]
        if len(path) > 1:
            value = _get_path(data, path)
            if value is not _MISSING:
                return True, value
        return False, None

    def list_items(self, name: str, path: tuple[str, ...]) -> tuple[bool, Any]:
        """Dynamic-list items: a list of mappings, or HTML names ``liste[0].champ``."""
        present, value = self.read(name, path, multi=False)
        if present:
            return True, value
        prefix = re.compile(re.escape(name) + r"\[(\d+)\]\.(.+)")
        items: dict[int, dict] = {}
        for key in list(self.data.keys()):
            match = prefix.fullmatch(key) if isinstance(key, str) else None
            if match:
                value = self._getlist(key) if self._getlist is not None else self.data[key]
                if self._getlist is not None and len(value) == 1:
                    value = value[0]
                items.setdefault(int(match.group(1)), {})[match.group(2)] = value
        if not items:
            return False, None
        return True, [items[i] for i in sorted(items)]


# --------------------------------------------------------------------------- coercion


def _parse_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(str(value)) if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, str):
        text = value.strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
        if not _NUMBER_RE.fullmatch(text):
            return None
        try:
            return Decimal(text.replace(",", "."))
        except InvalidOperation:
            return None
    return None


def _number_out(value: Decimal, as_string: bool) -> Any:
    if as_string:
        return format(value.normalize(), "f") if value != 0 else "0"
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def _coerce_date(value: Any) -> str:
    if isinstance(value, datetime):
        raise ValueError
    if isinstance(value, date):
        return value.isoformat()
    if not isinstance(value, str):
        raise ValueError
    text = value.strip()
    if _DATE_ISO_RE.fullmatch(text):
        return date.fromisoformat(text).isoformat()
    match = _DATE_FR_RE.fullmatch(text)
    if match:
        day, month, year = (int(g) for g in match.groups())
        return date(year, month, day).isoformat()
    raise ValueError


def _coerce_time(value: Any) -> str:
    if isinstance(value, time):
        return value.isoformat(timespec="seconds" if value.second else "minutes")
    if not isinstance(value, str):
        raise ValueError
    match = _TIME_RE.fullmatch(value.strip())
    if not match:
        raise ValueError
    hours, minutes, seconds, zone = match.groups()
    time(int(hours), int(minutes), int(seconds or 0))  # range check
    if zone and zone != "Z":
        sign_h, sign_m = int(zone[1:3]), int(zone[4:6])
        if sign_h > 23 or sign_m > 59:
            raise ValueError
    out = f"{hours}:{minutes}"
    if seconds and int(seconds):
        out += f":{seconds}"
    return out + (zone or "")


def _coerce_datetime(value: Any) -> str:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and _DATETIME_RE.match(value.strip()):
        parsed = datetime.fromisoformat(value.strip())
    else:
        raise ValueError
    spec = "minutes" if parsed.second == 0 and parsed.microsecond == 0 else "seconds"
    return parsed.isoformat(timespec=spec)


_DATETIME_COERCERS = {
    "date": (_coerce_date, MSG_DATE),
    "time": (_coerce_time, MSG_TIME),
    "datetime": (_coerce_datetime, MSG_DATETIME),
}


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _coerce(field: Field, raw: Any, from_strings: bool) -> tuple[Any, str | None]:
    """Turn a submitted value into the field's Python type; (value, None) or (None, message)."""
    ftype = field.type
    if ftype in _TEXT_TYPES:
        if raw is None:
            return "", None
        if isinstance(raw, str):
            return raw, None
        if _is_num(raw):
            return str(raw), None
        return None, MSG_SINGLE if isinstance(raw, list) else MSG_TEXT
    if ftype == "checkbox":
        if isinstance(raw, bool):
            return raw, None
        if raw is None:
            return False, None
        if from_strings:
            values = raw if isinstance(raw, list) else [raw]
            flags = [str(v).strip().lower() for v in values]
            if any(f in _TRUE_STRINGS for f in flags):
                return True, None
            if all(f in _FALSE_STRINGS for f in flags):
                return False, None
        return None, MSG_BOOLEAN
    if ftype in _MULTI_TYPES:
        if raw is None or (from_strings and raw == ""):
            return [], None
        if from_strings and isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, (list, tuple)):
            return None, MSG_LIST
        values = [v for v in raw if not (from_strings and v == "")]
        return values, None
    if isinstance(raw, list):
        if not from_strings:  # JSON says what it means: [1] is a list, not the number 1
            return None, MSG_SINGLE
        if len(raw) == 1:
            raw = raw[0]
        elif raw:
            return None, MSG_SINGLE
        else:
            raw = None
    if ftype == "number":
        if _is_blank(raw):
            return None, None
        number = _parse_decimal(raw)
        if number is None:
            return None, MSG_NUMBER
        return number, None
    if ftype in ("radio", "select"):
        return (None if _is_blank(raw) else raw), None
    if ftype == "datetime":
        if _is_blank(raw):
            return None, None
        coercer, message = _DATETIME_COERCERS[field.subtype or "date"]
        try:
            return coercer(raw), None
        except (ValueError, TypeError):
            return None, message
    return raw, None  # pragma: no cover - every input type is handled above


def _normalize_options(entries: Any) -> list[tuple[Any, str]] | None:
    """Options from data: ``[{label, value}]`` or plain values, as form-js accepts them."""
    if not isinstance(entries, list):
        return None
    options = []
    for entry in entries:
        if isinstance(entry, Mapping):
            if "value" not in entry:
                continue
            value = entry["value"]
            options.append((value, str(entry.get("label", value))))
        elif entry is not None:
            options.append((entry, str(entry)))
    return options


def _match_option(options: list[tuple[Any, str]], value: Any) -> Any:
    """The canonical option value equal to ``value`` (exactly, else by text), or _MISSING."""
    for option, _ in options:
        if option == value and type(option) is type(value):
            return option
    text = str(value)
    for option, _ in options:
        if str(option) == text:
            return option
    return _MISSING


# --------------------------------------------------------------------------- the form


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


# --------------------------------------------------------------------------- loading


def _ident(comp: Any, where: str) -> str:
    """How an error names a component: its key/path and id as seen in the modeler."""
    if not isinstance(comp, dict):
        return where
    key = comp.get("key") if isinstance(comp.get("key"), str) else comp.get("path")
    cid = comp.get("id")
    if key and cid:
        return f"« {key} » ({cid})"
    if key:
        return f"« {key} »"
    if cid:
        return f"{cid}"
    return where


class _Loader:
    def __init__(self, filename: str):
        self.filename = filename

    def fail(self, message: str, comp: Any = None, where: str = "") -> FormError:
        component = _ident(comp, where) if (comp is not None or where) else None
        return FormError(message, filename=self.filename, component=component)

    def feel(self, source: Any, what: str, comp: dict, where: str) -> _Feel:
        if not isinstance(source, str):
            raise self.fail(f"{what} doit être une expression texte", comp, where)
        try:
            return _Feel(source)
        except _FeelError as exc:
            raise self.fail(f"{what} « {source} » : expression FEEL non prise en charge ({exc})", comp, where)

    def load(self, raw: Any) -> Form:
        if not isinstance(raw, dict):
            raise self.fail("le formulaire doit être un objet JSON")
        form_id = raw.get("id")
        if not isinstance(form_id, str) or not form_id.strip():
            raise self.fail("identifiant « id » du formulaire manquant (référencé par camunda:formRef)")
        if raw.get("type", "default") != "default":
            raise self.fail(f"type de formulaire « {raw.get('type')} » inattendu (attendu : « default »)")
        components = raw.get("components")
        if not isinstance(components, list):
            raise self.fail("la liste « components » est absente ou n'est pas une liste")
        self._names: dict[str, dict] = {}
        nodes, fields = self.components(components, (), "components")
        return Form(raw, self.filename, _Schema(nodes, fields))

    def components(self, comps: list, base: tuple[str, ...], where: str) -> tuple[list, list[Field]]:
        nodes: list = []
        fields: list[Field] = []
        for index, comp in enumerate(comps):
            here = f"{where}[{index}]"
            if not isinstance(comp, dict):
                raise self.fail("chaque composant doit être un objet JSON", None, here)
            ctype = comp.get("type")
            if not isinstance(ctype, str):
                raise self.fail("attribut « type » manquant", comp, here)
            if ctype in _UNSUPPORTED_TYPES:
                raise self.fail(_UNSUPPORTED_TYPES[ctype], comp, here)
            hide = self.hide(comp, here)
            if ctype in _INPUT_TYPES:
                f = self.field(comp, ctype, base, here)
                f.hide, f._hide = (hide.source, hide) if hide else (None, None)
                nodes.append(f)
                fields.append(f)
            elif ctype == "filepicker":
                if getattr(self, "_in_list", False):
                    raise self.fail("un dépôt de fichiers (« filepicker ») ne peut pas être dans une liste dynamique",
                                    comp, here)
                f = self.filepicker(comp, base, here)
                f.hide, f._hide = (hide.source, hide) if hide else (None, None)
                nodes.append(f)
                fields.append(f)
            elif ctype == "dynamiclist":
                f = self.dynamic_list(comp, base, here)
                f.hide, f._hide = (hide.source, hide) if hide else (None, None)
                nodes.append(f)
                fields.append(f)
            elif ctype == "group":
                path = self.path(comp, here, required=False)
                children = comp.get("components", [])
                if not isinstance(children, list):
                    raise self.fail("« components » doit être une liste", comp, here)
                sub_nodes, sub_fields = self.components(children, base + path, here + ".components")
                nodes.append(Component(
                    type=ctype, id=comp.get("id"), raw=comp, label=str(comp.get("label") or ""),
                    path=base + path, children=sub_nodes,
                    hide=hide.source if hide else None, _hide=hide,
                ))
                fields.extend(sub_fields)
            elif ctype in _DISPLAY_TYPES:
                text = comp.get("text") if ctype == "text" else comp.get("content", "")
                nodes.append(Component(
                    type=ctype, id=comp.get("id"), raw=comp, label=str(comp.get("label") or ""),
                    text=text if isinstance(text, str) else "", path=base,
                    hide=hide.source if hide else None, _hide=hide,
                ))
            else:
                raise self.fail(f"type de composant inconnu « {ctype} »", comp, here)
        return nodes, fields

    def hide(self, comp: dict, where: str) -> _Feel | None:
        conditional = comp.get("conditional")
        if conditional is None:
            return None
        if not isinstance(conditional, dict):
            raise self.fail("« conditional » doit être un objet", comp, where)
        hide = conditional.get("hide")
        if hide in (None, ""):
            return None
        return self.feel(hide, "la condition de masquage", comp, where)

    def path(self, comp: dict, where: str, *, required: bool) -> tuple[str, ...]:
        path = comp.get("path")
        if path in (None, ""):
            if required:
                raise self.fail("attribut « path » manquant (chemin des données de la liste)", comp, where)
            return ()
        if not isinstance(path, str) or not _PATH_RE.fullmatch(path):
            raise self.fail(f"chemin « {path} » invalide (lettres, chiffres, _ et points)", comp, where)
        return tuple(path.split("."))

    def register(self, name: str, comp: dict, where: str) -> None:
        if name in self._names:
            other = _ident(self._names[name], "")
            raise self.fail(f"clé « {name} » en double (déjà utilisée par {other})", comp, where)
        for existing in self._names:
            if existing.startswith(name + ".") or name.startswith(existing + "."):
                other = _ident(self._names[existing], "")
                raise self.fail(f"clé « {name} » en conflit avec « {existing} » ({other})", comp, where)
        self._names[name] = comp

    def dynamic_list(self, comp: dict, base: tuple[str, ...], where: str) -> Field:
        path = self.path(comp, where, required=True)
        full = base + path
        self.register(".".join(full), comp, where)
        children = comp.get("components", [])
        if not isinstance(children, list):
            raise self.fail("« components » doit être une liste", comp, where)
        outer_names = self._names
        self._names, self._in_list = {}, True
        try:
            nodes, item_fields = self.components(children, (), where + ".components")
        finally:
            self._names, self._in_list = outer_names, False
        return Field(
            key=".".join(path), name=".".join(full), label=str(comp.get("label") or ""), type="dynamiclist",
            id=comp.get("id"), path=full, raw=comp, description=str(comp.get("description") or ""),
            readonly=comp.get("readonly") is True, disabled=comp.get("disabled") is True,
            children=nodes, item_fields=item_fields,
        )

    def field(self, comp: dict, ctype: str, base: tuple[str, ...], where: str) -> Field:
        key = comp.get("key")
        if key in (None, ""):
            raise self.fail("attribut « key » manquant : un champ de saisie doit être lié à une variable", comp, where)
        if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
            raise self.fail(f"clé « {key} » invalide (lettres, chiffres, _ et points)", comp, where)
        path = base + tuple(key.split("."))
        name = ".".join(path)
        self.register(name, comp, where)

        validate = comp.get("validate") or {}
        if not isinstance(validate, dict):
            raise self.fail("« validate » doit être un objet", comp, where)
        label = comp.get("label") or comp.get("dateLabel") or comp.get("timeLabel") or key
        appearance = comp.get("appearance") if isinstance(comp.get("appearance"), dict) else {}
        f = Field(
            key=key, name=name, label=str(label), type=ctype, id=comp.get("id"), path=path,
            required=validate.get("required") is True,
            description=str(comp.get("description") or ""),
            disabled=comp.get("disabled") is True,
            readonly=comp.get("readonly") is True,
            searchable=comp.get("searchable") is True,
            prefix=appearance.get("prefixAdorner"), suffix=appearance.get("suffixAdorner"),
            raw=comp,
        )
        readonly = comp.get("readonly")
        if isinstance(readonly, str) and readonly.strip():
            f.readonly_expression = readonly
            f._readonly = self.feel(readonly, "l'expression « lecture seule »", comp, where)

        if ctype in _TEXT_TYPES:
            f.min_length = self.int_rule(validate, "minLength", comp, where)
            f.max_length = self.int_rule(validate, "maxLength", comp, where)
            if f.min_length is not None and f.max_length is not None and f.min_length > f.max_length:
                raise self.fail("longueur minimale supérieure à la longueur maximale", comp, where)
            pattern = validate.get("pattern")
            if pattern not in (None, ""):
                if not isinstance(pattern, str):
                    raise self.fail("le motif « pattern » doit être un texte", comp, where)
                try:
                    f.regex = _compile_js_regex(pattern)
                except re.error as exc:
                    raise self.fail(f"expression régulière « {pattern} » invalide ({exc})", comp, where)
                f.pattern = pattern
            vtype = validate.get("validationType")
            if vtype not in (None, "", "custom", "email", "phone"):
                raise self.fail(f"type de validation « {vtype} » inconnu (email, phone)", comp, where)
            f.validation_type = vtype if vtype in ("email", "phone") else None
        elif ctype == "number":
            f.min, f.min_expression, f._min = self.bound(validate, "min", comp, where)
            f.max, f.max_expression, f._max = self.bound(validate, "max", comp, where)
            if f.min is not None and f.max is not None and f.min > f.max:
                raise self.fail("valeur minimale supérieure à la valeur maximale", comp, where)
            digits = comp.get("decimalDigits")
            if digits is not None:
                if isinstance(digits, bool) or not isinstance(digits, int) or digits < 0:
                    raise self.fail(f"« decimalDigits » invalide : {digits!r}", comp, where)
                f.decimal_digits = digits
            increment = comp.get("increment")
            if increment not in (None, ""):
                inc = _parse_decimal(increment)
                if inc is None or inc <= 0:
                    raise self.fail(f"pas (« increment ») invalide : {increment!r}", comp, where)
                f.increment = inc
            f.serialize_to_string = comp.get("serializeToString") is True
        elif ctype in _OPTION_TYPES:
            self.options(f, comp, where)
        elif ctype == "datetime":
            subtype = comp.get("subtype", "date")
            if subtype not in _DATETIME_COERCERS:
                raise self.fail(f"sous-type « {subtype} » inconnu (date, time, datetime)", comp, where)
            f.subtype = subtype
            f.disallow_passed_dates = comp.get("disallowPassedDates") is True
            f.time_format = comp.get("timeSerializingFormat")
            # Date bounds: form-js has none, so they are custom properties (Modeler: « Custom
            # properties ») — `minDate` / `maxDate`, a date, `today` or a FEEL expression
            # (`=publication_date`), with `minDateMessage` / `maxDateMessage`.
            props = comp.get("properties") or {}
            if not isinstance(props, Mapping):
                raise self.fail("« properties » doit être un objet", comp, where)
            for side in ("min", "max"):
                raw = props.get(f"{side}Date")
                if raw in (None, ""):
                    continue
                if not isinstance(raw, str):
                    raise self.fail(f"« {side}Date » doit être un texte", comp, where)
                try:
                    bound = _Feel(raw) if raw.strip().startswith("=") else raw.strip()
                    if isinstance(bound, str) and bound != "today":
                        date.fromisoformat(bound)
                except (_FeelError, ValueError) as exc:
                    raise self.fail(f"« {side}Date » invalide : {raw!r} ({exc})", comp, where)
                f.date_bounds[side] = (bound, props.get(f"{side}DateMessage") or None)

        default = comp.get("defaultValue")
        if default is not None and not (ctype in _TEXT_TYPES and default == ""):
            value, error = _coerce(f, default, from_strings=False)
            if error is None and ctype in _OPTION_TYPES and not f.dynamic_options:
                chosen = value if f.multiple else [value]
                if any(_match_option(f.options, v) is _MISSING for v in chosen if v is not None):
                    error = "ne fait pas partie des choix"
            if error is not None:
                raise self.fail(f"valeur par défaut {default!r} invalide : {error}", comp, where)
            f.default = _number_out(value, f.serialize_to_string) if ctype == "number" and value is not None else value
        return f

    def filepicker(self, comp: dict, base: tuple[str, ...], where: str) -> Field:
        """form-js' file picker: `key`, `label`, `multiple`, `accept`, `validate.required`."""
        key = comp.get("key")
        if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
            raise self.fail(f"clé « {key} » invalide ou manquante pour le dépôt de fichiers", comp, where)
        path = base + tuple(key.split("."))
        self.register(".".join(path), comp, where)
        multiple, accept = comp.get("multiple", False), comp.get("accept") or ""
        if not isinstance(multiple, bool):
            raise self.fail(f"« multiple » doit valoir vrai ou faux (expression non prise en charge : {multiple!r})",
                            comp, where)
        if not isinstance(accept, str) or "{{" in accept or accept.strip().startswith("="):
            raise self.fail(f"« accept » doit être une liste fixe de types (.pdf, image/*), pas {accept!r}", comp, where)
        validate = comp.get("validate") or {}
        return Field(key=key, name=".".join(path), label=str(comp.get("label") or key), type="filepicker",
                     id=comp.get("id"), path=path, required=isinstance(validate, dict) and validate.get("required") is True,
                     description=str(comp.get("description") or ""), disabled=comp.get("disabled") is True,
                     readonly=comp.get("readonly") is True, raw=comp, files_multiple=multiple, accept=accept.strip())

    def int_rule(self, validate: dict, name: str, comp: dict, where: str) -> int | None:
        value = validate.get(name)
        if value in (None, ""):
            return None
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(f"« {name} » doit être un entier positif, pas {value!r}", comp, where)
        return value

    def bound(self, validate: dict, name: str, comp: dict, where: str):
        value = validate.get(name)
        if value in (None, ""):
            return None, None, None
        if isinstance(value, str) and value.strip().startswith("="):
            return None, value, self.feel(value, f"la borne « {name} »", comp, where)
        number = _parse_decimal(value)
        if number is None:
            raise self.fail(f"« {name} » doit être un nombre, pas {value!r}", comp, where)
        return number, None, None

    def options(self, f: Field, comp: dict, where: str) -> None:
        values_key = comp.get("valuesKey")
        expression = comp.get("valuesExpression")
        values = comp.get("values")
        if values_key not in (None, ""):
            if not isinstance(values_key, str) or not values_key.strip() or re.search(r"\s", values_key):
                raise self.fail(f"« valuesKey » invalide : {values_key!r}", comp, where)
            f.options_key = values_key
        elif expression not in (None, ""):
            f.options_expression = expression
            f._options = self.feel(expression, "l'expression des choix", comp, where)
        elif isinstance(values, list) and values:
            seen = set()
            for i, entry in enumerate(values):
                if not isinstance(entry, dict) or "value" not in entry:
                    raise self.fail(f"choix n° {i + 1} invalide : objet {{label, value}} attendu", comp, where)
                value = entry["value"]
                if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                    raise self.fail(f"choix n° {i + 1} : valeur {value!r} invalide", comp, where)
                if str(value) in seen:
                    raise self.fail(f"choix « {value} » en double", comp, where)
                seen.add(str(value))
                f.options.append((value, str(entry.get("label", value))))
        else:
            raise self.fail("aucun choix défini (« values », « valuesKey » ou « valuesExpression »)", comp, where)


def _parse_json(text: str | bytes, filename: str) -> Any:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise FormError(f"fichier illisible, encodage UTF-8 attendu (octet {exc.start})", filename=filename)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormError(
            f"JSON invalide à la ligne {exc.lineno}, colonne {exc.colno} ({exc.msg})",
            filename=filename, line=exc.lineno, column=exc.colno,
        ) from None


def load_form(source: str | bytes | dict | Path, filename: str = "<form>") -> Form:
    """Compile a form from JSON text, bytes, an already parsed dict, or a file path (Path)."""
    if isinstance(source, Path):
        return load_form_file(source)
    raw = source if isinstance(source, dict) else _parse_json(source, filename)
    return _Loader(filename).load(raw)


def load_form_file(path: str | Path) -> Form:
    """Compile a ``.form`` file; errors name the file as the process owner knows it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FormError(f"lecture impossible ({exc.strerror})", filename=path.name) from None
    return load_form(data, filename=path.name)


def load_form_dir(directory: str | Path) -> dict[str, Form]:
    """All ``*.form`` files of a directory, by form id; two files with one id is an error."""
    forms: dict[str, Form] = {}
    for path in sorted(Path(directory).glob("*.form")):
        form = load_form_file(path)
        if form.id in forms:
            raise FormError(
                f"identifiant « {form.id} » déjà utilisé par {forms[form.id].source}", filename=path.name
            )
        forms[form.id] = form
    return forms


def form_id_of(source: str | bytes | dict | Path, filename: str = "<form>") -> str:
    """The form's ``id`` (what ``camunda:formRef`` names) without compiling the whole form."""
    if isinstance(source, Path):
        filename = source.name
        source = source.read_bytes()
    raw = source if isinstance(source, dict) else _parse_json(source, filename)
    form_id = raw.get("id") if isinstance(raw, dict) else None
    if not isinstance(form_id, str) or not form_id.strip():
        raise FormError("identifiant « id » du formulaire manquant (référencé par camunda:formRef)", filename=filename)
    return form_id
