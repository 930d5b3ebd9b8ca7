"""The form tree: Component for what is only shown, Field for what carries data."""
from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field as dc_field
from decimal import Decimal
from typing import Any

from arsflow.engine.forms.feel import _Feel

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
