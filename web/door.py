"""Requests refused at the door with a 4xx rather than failing deeper with a 500.

- `<int:…>` URL parts larger than a database BIGINT do not match (404) instead of
  overflowing the driver;
- a JSON body nested past the parser's recursion limit is a 400, not a RecursionError;
- the loser of two concurrent writes of the same unique row gets a 409.
Values inside accepted JSON (NaN, lone surrogates, depth, business key) are checked by
the engine itself (`engine.input_checks`), for every entry point alike.
"""
from __future__ import annotations

from flask import Flask, Request
from flask.json.provider import DefaultJSONProvider
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter

from arsflow.engine.input_checks import MAX_ID


class BoundedIntConverter(IntegerConverter):
    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


class JSONProvider(DefaultJSONProvider):
    def loads(self, s, **kwargs):
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("imbrication trop profonde") from None


class DoorRequest(Request):
    def on_json_loading_failed(self, e):
        if e is None:
            raise BadRequest("Corps JSON attendu (Content-Type: application/json).")
        raise BadRequest(f"Corps JSON illisible : {e}")


def _concurrent_write(err: IntegrityError):
    from arsflow.web.errors import render_error
    return render_error(409, "Une autre opération vient d'écrire la même chose en même temps : "
                             "rechargez puis réessayez.", error="Conflict")


def register(app: Flask) -> None:
    """Before any blueprint: converters are bound when routes are added."""
    app.url_map.converters["int"] = BoundedIntConverter
    app.json = JSONProvider(app)
    app.request_class = DoorRequest
    app.register_error_handler(IntegrityError, _concurrent_write)
