#!/usr/bin/env bash
# Refresh the front-end assets vendored under web/static/vendor/.
#
# arsflow must run with no internet access, so DSFR (@gouvfr/dsfr) and
# bpmn-js are served as static files from the Flask app, never from a CDN.
# This script fetches the pinned tarballs with `npm pack` (no install, no
# lifecycle scripts, no node_modules), extracts them in a temporary directory
# and copies exactly the files the app loads at run time, plus each
# package's licence.  It then writes web/static/vendor/VERSIONS.txt with the
# package versions, the tarball integrity and the sha256 of every copied
# file (checked by tests/test_vendor_assets.py).
#
# Usage: scripts/refresh_vendor.sh        (needs bash, npm, python3, sha256sum)
# To upgrade: change the pinned versions below, run the script, run
#   python -m pytest -q tests/test_vendor_assets.py
# and review the diff of web/static/vendor/.
set -euo pipefail

# ---- pinned versions -------------------------------------------------------
DSFR_VERSION="1.15.3"
BPMN_JS_VERSION="18.31.1"

# ---- DSFR icon policy ------------------------------------------------------
# The full DSFR icon set (dist/icons/**/*.svg, referenced by
# dist/utility/icons/icons.min.css) is kept only when its total size is below
# this threshold (bytes, sum of file sizes).  Above it, only the categories
# below are kept and a trimmed icons.min.css is generated containing only the
# rules whose url() targets are kept.  The decision depends only on the
# tarball's content, so it is deterministic for a given DSFR version.
# (ICONS_MAX_BYTES may be overridden from the environment for testing only.)
ICONS_MAX_BYTES="${ICONS_MAX_BYTES:-3145728}"   # 3 MiB
TRIMMED_ICON_CATEGORIES="arrows business communication document system user"

# ---- paths -----------------------------------------------------------------
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENDOR="${ARSFLOW_VENDOR_DIR:-$ROOT/web/static/vendor}"

export LC_ALL=C
umask 022

for tool in npm python3 sha256sum tar; do
  command -v "$tool" >/dev/null 2>&1 || { echo "refresh_vendor: '$tool' is required" >&2; exit 1; }
done

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

log() { printf 'refresh_vendor: %s\n' "$*" >&2; }

# ---- fetch -----------------------------------------------------------------
# npm pack <spec> downloads the registry tarball (integrity-checked by npm)
# without installing it or running any of its scripts.
pack() {  # $1 = spec, $2 = output dir name; prints the integrity
  local spec="$1" name="$2"
  (cd "$WORK" && npm pack --json --ignore-scripts --pack-destination "$WORK" "$spec" >"$WORK/$name.json" 2>"$WORK/$name.log") \
    || { cat "$WORK/$name.log" >&2; exit 1; }
  python3 - "$WORK" "$name" <<'PY'
import json, os, sys, tarfile
work, name = sys.argv[1], sys.argv[2]
with open(os.path.join(work, name + ".json"), encoding="utf-8") as fh:
    meta = json.load(fh)[0]
dest = os.path.join(work, name)
os.makedirs(dest)
with tarfile.open(os.path.join(work, meta["filename"])) as tf:
    try:
        tf.extractall(dest, filter="data")
    except TypeError:  # Python without extraction filters
        tf.extractall(dest)
print(meta["integrity"])
PY
}

log "npm pack @gouvfr/dsfr@$DSFR_VERSION"
DSFR_INTEGRITY="$(pack "@gouvfr/dsfr@$DSFR_VERSION" dsfr)"
log "npm pack bpmn-js@$BPMN_JS_VERSION"
BPMN_INTEGRITY="$(pack "bpmn-js@$BPMN_JS_VERSION" bpmn-js)"

DSFR_PKG="$WORK/dsfr/package"
BPMN_PKG="$WORK/bpmn-js/package"
grep -q "\"version\": \"$DSFR_VERSION\"" "$DSFR_PKG/package.json"
grep -q "\"version\": \"$BPMN_JS_VERSION\"" "$BPMN_PKG/package.json"

STAGE="$WORK/stage"
mkdir -p "$STAGE/dsfr" "$STAGE/bpmn-js"

cp_file() {  # $1 = source file, $2 = destination file
  [[ -f "$1" ]] || { echo "refresh_vendor: missing upstream file $1" >&2; exit 1; }
  mkdir -p "$(dirname "$2")"
  cp "$1" "$2"
  chmod 0644 "$2"
}

# ---- DSFR ------------------------------------------------------------------
D="$DSFR_PKG/dist"
S="$STAGE/dsfr"
cp_file "$DSFR_PKG/LICENSE.md"        "$S/LICENSE.md"
# LICENSE.md makes the terms of use (doc/legal/cgu.md) part of the licence.
cp_file "$DSFR_PKG/doc/legal/cgu.md"  "$S/CGU.md"
for f in dsfr.min.css dsfr.module.min.js dsfr.nomodule.min.js; do
  cp_file "$D/$f" "$S/$f"
done
while IFS= read -r f; do
  cp_file "$D/fonts/$f" "$S/fonts/$f"
done < <(cd "$D/fonts" && find . -maxdepth 1 -type f \( -name 'Marianne-*.woff' -o -name 'Marianne-*.woff2' -o -name 'Spectral-*.woff' -o -name 'Spectral-*.woff2' \) | sed 's#^\./##' | sort)
while IFS= read -r f; do
  cp_file "$D/favicon/$f" "$S/favicon/$f"
done < <(cd "$D/favicon" && find . -maxdepth 1 -type f | sed 's#^\./##' | sort)

ICONS_BYTES="$(cd "$D/icons" && find . -type f -name '*.svg' -printf '%s\n' | awk '{s+=$1} END {print s+0}')"
if (( ICONS_BYTES < ICONS_MAX_BYTES )); then
  ICONS_MODE="full"
  log "DSFR icons: $ICONS_BYTES bytes < $ICONS_MAX_BYTES -> keeping the full icon set"
  cp_file "$D/utility/icons/icons.min.css" "$S/utility/icons/icons.min.css"
  while IFS= read -r f; do
    cp_file "$D/icons/$f" "$S/icons/$f"
  done < <(cd "$D/icons" && find . -type f -name '*.svg' | sed 's#^\./##' | sort)
else
  ICONS_MODE="trimmed ($TRIMMED_ICON_CATEGORIES)"
  log "DSFR icons: $ICONS_BYTES bytes >= $ICONS_MAX_BYTES -> keeping only: $TRIMMED_ICON_CATEGORIES"
  # Generates the trimmed utility/icons/icons.min.css and prints the icon
  # files (relative to dist/icons) to copy: the kept categories plus every
  # icon that dsfr.min.css itself references (logo, editor, ...).
  while IFS= read -r f; do
    cp_file "$D/icons/$f" "$S/icons/$f"
  done < <(python3 - "$D" "$S/utility/icons/icons.min.css" $TRIMMED_ICON_CATEGORIES <<'PY'
import os, re, sys

dist, out_css, cats = sys.argv[1], sys.argv[2], set(sys.argv[3:])
URL = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)'"\s]*))\s*\)""")

def urls(text):
    return [next(g for g in m.groups() if g is not None) for m in URL.finditer(text)]

def skip_string(s, i):
    q = s[i]; i += 1
    while i < len(s) and s[i] != q:
        i += 2 if s[i] == "\\" else 1
    return i + 1

def blocks(s):
    """Split CSS text into top-level items: ('comment', text) or (prelude, body)."""
    items, i, start, n = [], 0, 0, len(s)
    while i < n:
        c = s[i]
        if s.startswith("/*", i):
            j = s.index("*/", i + 2) + 2
            if not s[start:i].strip():
                items.append(("comment", s[i:j])); start = j
            i = j
        elif c in "\"'":
            i = skip_string(s, i)
        elif c == ";":
            items.append((s[start:i + 1].strip(), None)); i += 1; start = i
        elif c == "{":
            depth, j = 1, i + 1
            while depth:
                if s.startswith("/*", j):
                    j = s.index("*/", j + 2) + 2; continue
                if s[j] in "\"'":
                    j = skip_string(s, j); continue
                depth += {"{": 1, "}": -1}.get(s[j], 0); j += 1
            items.append((s[start:i].strip(), s[i + 1:j - 1])); i = j; start = j
        else:
            i += 1
    return items

def allowed(url):
    parts = url.split("?")[0].split("#")[0].split("/")
    if "icons" not in parts:
        return True
    k = len(parts) - 1 - parts[::-1].index("icons")
    return k + 1 < len(parts) and parts[k + 1] in cats

def filt(text, top):
    out, seen_rule = [], False
    for prelude, body in blocks(text):
        if prelude == "comment":
            if top and not seen_rule and body.startswith("/*!"):
                out.append(body)
            continue
        seen_rule = True
        if body is None:
            out.append(prelude)
        elif prelude.startswith("@"):
            inner = filt(body, False)
            if inner.strip():
                out.append(prelude + "{" + inner + "}")
        elif all(allowed(u) for u in urls(body)):
            out.append(prelude + "{" + body + "}")
    return "".join(out)

src = open(os.path.join(dist, "utility/icons/icons.min.css"), encoding="utf-8").read()
trimmed = filt(src, True)
os.makedirs(os.path.dirname(out_css), exist_ok=True)
with open(out_css, "w", encoding="utf-8", newline="") as fh:
    fh.write(trimmed)

needed = set()
for css_dir, text in ((os.path.join(dist, "utility/icons"), trimmed),
                      (dist, open(os.path.join(dist, "dsfr.min.css"), encoding="utf-8").read())):
    for u in urls(text):
        if u.startswith("data:"):
            continue
        p = os.path.relpath(os.path.normpath(os.path.join(css_dir, u.split("?")[0].split("#")[0])),
                            os.path.join(dist, "icons"))
        if not p.startswith(".."):
            needed.add(p)
print("\n".join(sorted(needed)))
PY
)
  chmod 0644 "$S/utility/icons/icons.min.css"
fi

# ---- bpmn-js ---------------------------------------------------------------
B="$BPMN_PKG/dist"
S="$STAGE/bpmn-js"
cp_file "$BPMN_PKG/LICENSE" "$S/LICENSE"
cp_file "$B/bpmn-navigated-viewer.production.min.js" "$S/bpmn-navigated-viewer.production.min.js"
cp_file "$B/assets/diagram-js.css" "$S/assets/diagram-js.css"
cp_file "$B/assets/bpmn-js.css"    "$S/assets/bpmn-js.css"
while IFS= read -r f; do
  cp_file "$B/assets/bpmn-font/$f" "$S/assets/bpmn-font/$f"
done < <(cd "$B/assets/bpmn-font" && find . -type f \( -path './css/*' -o -path './font/*' \) ! -name '*.map' | sed 's#^\./##' | sort)

# ---- replace the vendored tree and write VERSIONS.txt ----------------------
{
  echo "# Vendored front-end assets - generated by scripts/refresh_vendor.sh, do not edit."
  echo "# Check with: cd web/static/vendor && grep -E '^[0-9a-f]{64}  ' VERSIONS.txt | sha256sum -c -"
  echo
  echo "@gouvfr/dsfr@$DSFR_VERSION"
  echo "  npm-integrity: $DSFR_INTEGRITY"
  echo "  icons: $ICONS_MODE; upstream dist/icons = $ICONS_BYTES bytes, threshold $ICONS_MAX_BYTES"
  echo "bpmn-js@$BPMN_JS_VERSION"
  echo "  npm-integrity: $BPMN_INTEGRITY"
  echo
  for pkg in dsfr bpmn-js; do
    echo "# files from $([[ $pkg == dsfr ]] && echo "@gouvfr/dsfr@$DSFR_VERSION" || echo "bpmn-js@$BPMN_JS_VERSION")"
    (cd "$STAGE" && find "$pkg" -type f | sort | xargs -d '\n' sha256sum)
  done
} > "$STAGE/VERSIONS.txt"

mkdir -p "$VENDOR"
rm -rf "$VENDOR/dsfr" "$VENDOR/bpmn-js"
mv "$STAGE/dsfr" "$STAGE/bpmn-js" "$STAGE/VERSIONS.txt" "$VENDOR/"

total="$(find "$VENDOR" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')"
count="$(find "$VENDOR" -type f | wc -l)"
log "done: $VENDOR ($count files, $total bytes)"
