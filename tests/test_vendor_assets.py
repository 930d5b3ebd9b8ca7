"""Checks on the front-end assets vendored under web/static/vendor/.

The app must work with no internet access, so every stylesheet's relative
url() must resolve to a vendored file, no stylesheet may load anything
remote, and the tree must be exactly what scripts/refresh_vendor.sh wrote
(VERSIONS.txt lists a sha256 for every file).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENDOR = Path(os.environ.get("ARSFLOW_VENDOR_DIR", ROOT / "web" / "static" / "vendor"))
VERSIONS = VENDOR / "VERSIONS.txt"
# Files in the vendor folder that the refresh script does not generate.
UNLISTED = {"README.md", "VERSIONS.txt"}
MAX_TOTAL_BYTES = 5 * 1024 * 1024

# Entry points that the HTML templates link (see web/static/vendor/README.md).
ENTRY_POINTS = [
    "dsfr/dsfr.min.css",
    "dsfr/utility/icons/icons.min.css",
    "dsfr/dsfr.module.min.js",
    "dsfr/dsfr.nomodule.min.js",
    "dsfr/favicon/favicon.svg",
    "dsfr/favicon/favicon.ico",
    "dsfr/favicon/apple-touch-icon.png",
    "dsfr/favicon/manifest.webmanifest",
    "dsfr/LICENSE.md",
    "bpmn-js/bpmn-navigated-viewer.production.min.js",
    "bpmn-js/assets/diagram-js.css",
    "bpmn-js/assets/bpmn-js.css",
    "bpmn-js/assets/bpmn-font/css/bpmn.css",
    "bpmn-js/LICENSE",
]

_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_URL = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)'"\s]*))\s*\)""", re.I)
_IMPORT = re.compile(r"""@import\s+(?:"([^"]*)"|'([^']*)')""", re.I)
_HASH_LINE = re.compile(r"^([0-9a-f]{64})  (.+)$")


def _css_files() -> list[Path]:
    return sorted(VENDOR.rglob("*.css"))


def _references(css: Path) -> list[str]:
    text = _COMMENT.sub("", css.read_text(encoding="utf-8"))
    refs = []
    for pattern in (_URL, _IMPORT):
        for m in pattern.finditer(text):
            refs.append(next(g for g in m.groups() if g is not None).strip())
    return refs


def _listed_hashes() -> dict[str, str]:
    hashes = {}
    for line in VERSIONS.read_text(encoding="utf-8").splitlines():
        m = _HASH_LINE.match(line)
        if m:
            assert m.group(2) not in hashes, f"{m.group(2)} listed twice"
            hashes[m.group(2)] = m.group(1)
    return hashes


def _vendored_files() -> set[str]:
    return {
        p.relative_to(VENDOR).as_posix()
        for p in VENDOR.rglob("*")
        if p.is_file() and p.relative_to(VENDOR).as_posix() not in UNLISTED
    }


def test_vendor_tree_present():
    assert VERSIONS.is_file(), "run scripts/refresh_vendor.sh"
    assert _css_files(), "no vendored css found"


@pytest.mark.parametrize("rel", ENTRY_POINTS)
def test_entry_point_exists(rel):
    assert (VENDOR / rel).is_file(), f"missing vendored entry point {rel}"


def test_css_relative_urls_resolve():
    missing, remote, checked = [], [], 0
    for css in _css_files():
        for ref in _references(css):
            if not ref or ref.lower().startswith("data:") or ref.startswith("#"):
                continue
            if re.match(r"^([a-z][a-z0-9+.-]*:|//)", ref, re.I):
                remote.append(f"{css.relative_to(VENDOR)}: {ref}")
                continue
            if ref.startswith("/"):
                remote.append(f"{css.relative_to(VENDOR)}: absolute path {ref}")
                continue
            path = unquote(ref.split("#", 1)[0].split("?", 1)[0])
            target = (css.parent / path).resolve()
            checked += 1
            if VENDOR.resolve() not in target.parents or not target.is_file():
                missing.append(f"{css.relative_to(VENDOR)}: {ref}")
    missing = sorted(set(missing))
    assert not remote, "stylesheets must not load remote resources:\n" + "\n".join(remote)
    assert not missing, f"{len(missing)} unresolved url() targets:\n" + "\n".join(missing[:50])
    assert checked > 0


def test_versions_pins_both_packages():
    text = VERSIONS.read_text(encoding="utf-8")
    assert re.search(r"^@gouvfr/dsfr@\d+\.\d+\.\d+$", text, re.M)
    assert re.search(r"^bpmn-js@\d+\.\d+\.\d+$", text, re.M)
    assert text.count("npm-integrity: sha512-") == 2


def test_versions_hashes_match_files():
    listed = _listed_hashes()
    assert listed, "VERSIONS.txt lists no file"
    bad = []
    for rel, expected in sorted(listed.items()):
        path = VENDOR / rel
        if not path.is_file():
            bad.append(f"missing: {rel}")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != expected:
            bad.append(f"hash mismatch: {rel}")
    assert not bad, "\n".join(bad)


def test_no_unlisted_files():
    extra = sorted(_vendored_files() - set(_listed_hashes()))
    assert not extra, "files not written by scripts/refresh_vendor.sh:\n" + "\n".join(extra)


def test_payload_is_lean():
    files = [VENDOR / rel for rel in _vendored_files()]
    assert not [f for f in files if f.suffix == ".map"], "source maps must not be vendored"
    total = sum(f.stat().st_size for f in files)
    assert total < MAX_TOTAL_BYTES, f"vendored payload is {total} bytes"
