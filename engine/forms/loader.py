"""Form files compiled into Form objects: every mistake in a ``.form`` is refused here, at
deployment, with a French message naming the file and the component, never at completion."""
from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any, Mapping

from arsflow.engine.forms.errors import FormError
from arsflow.engine.forms.feel import _Feel, _FeelError
from arsflow.engine.forms.form import Form, _Schema
from arsflow.engine.forms.model import (
    _DISPLAY_TYPES,
    _INPUT_TYPES,
    _OPTION_TYPES,
    _TEXT_TYPES,
    _UNSUPPORTED_TYPES,
    Component,
    Field,
)
from arsflow.engine.forms.paths import _MISSING
from arsflow.engine.forms.values import _DATETIME_COERCERS, _coerce, _match_option, _number_out, _parse_decimal

_KEY_RE = re.compile(r"\w+(?:\.\w+)*", re.ASCII)
_PATH_RE = re.compile(r"(?:\w+(?:\.\w+)*)?", re.ASCII)


def _compile_js_regex(pattern: str) -> re.Pattern:
    """Compile a form-js (JavaScript) pattern with Python's ``re``.

    JS named groups ``(?<n>…)``/``\\k<n>`` are rewritten; ``re.ASCII`` keeps ``\\d``/``\\w``
    as narrow as in JavaScript, so the modeler preview and the server agree.
    """
    translated = re.sub(r"\(\?<(?![=!])([A-Za-z_]\w*)>", r"(?P<\1>", pattern)
    translated = re.sub(r"\\k<([A-Za-z_]\w*)>", r"(?P=\1)", translated)
    return re.compile(translated, re.ASCII)


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
