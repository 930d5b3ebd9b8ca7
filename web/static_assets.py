"""Static files served the way a slow ARS network needs them: compressed (Flask-Compress,
gzip/brotli) and cached for a year by the browser, each URL carrying the file's content
hash so a new version is fetched at once after an upgrade."""
from __future__ import annotations

import hashlib
import os
from functools import lru_cache

from flask import Flask, request
from flask_compress import Compress

ONE_YEAR = 365 * 24 * 3600
COMPRESSED = ["text/html", "text/css", "text/xml", "text/plain", "application/json", "application/javascript",
              "text/javascript", "image/svg+xml", "text/calendar", "application/xml"]


def register(app: Flask) -> None:
    app.config.setdefault("COMPRESS_MIMETYPES", COMPRESSED)
    app.config.setdefault("COMPRESS_MIN_SIZE", 500)
    # Static files are streamed: Flask-Compress encodes them with brotli (or zstd/deflate), what
    # every current browser asks for; pages are compressed whole (gzip too).
    Compress(app)
    static_folder = app.static_folder

    @lru_cache(maxsize=4096)
    def fingerprint(filename: str) -> str | None:
        path = os.path.join(static_folder, filename)
        try:
            with open(path, "rb") as handle:
                return hashlib.sha256(handle.read()).hexdigest()[:12]
        except OSError:
            return None

    @app.url_defaults
    def _versioned_static(endpoint, values):
        if endpoint == "static" and "v" not in values and values.get("filename"):
            version = fingerprint(values["filename"])
            if version:
                values["v"] = version

    @app.after_request
    def _immutable(response):
        # Only a URL that names the content's hash may be kept for a year; others revalidate.
        if request.endpoint == "static" and request.args.get("v") and response.status_code == 200:
            response.headers["Cache-Control"] = f"public, max-age={ONE_YEAR}, immutable"
        return response

