"""Nested data by data path: a field's value lives at ``a.b.c`` in task data and submissions."""
from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

# Absent, as opposed to a value that is None: a path not in the data, a value not among the options.
_MISSING = object()


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
