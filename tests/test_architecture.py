"""The layers of docs/architecture.md: the engine imports neither the web, the CLI nor a
procedure; the web never imports the CLI; procedures use the engine only."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "engine": ("arsflow.web", "arsflow.cli", "arsflow.processes"),
    "web": ("arsflow.cli",),
    "processes": ("arsflow.web", "arsflow.cli"),
}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, wherever the import stands (functions included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import; the project imports absolutely"
            names.add(node.module or "")
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def violations(folder: str, root: Path = ROOT) -> list[str]:
    found = []
    for path in sorted((root / folder).rglob("*.py")):
        for name in sorted(imported_modules(path)):
            if name.startswith(FORBIDDEN[folder]) or name.split(".")[0] in ("engine", "web", "cli"):
                found.append(f"{path.relative_to(root)} imports {name}")
    return found


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_layers_import_only_what_they_may(folder):
    assert violations(folder) == []


@pytest.mark.parametrize("folder", ["cli", "tests", "bench"])
def test_nothing_imports_the_folders_by_their_bare_names(folder):
    """From the repository root `web` would import as a second, unrelated copy of arsflow.web."""
    bare = [f"{path.relative_to(ROOT)} imports {name}" for path in sorted((ROOT / folder).rglob("*.py"))
            for name in imported_modules(path) if name.split(".")[0] in ("engine", "web", "cli", "processes")]
    assert bare == []


def test_the_check_sees_a_forbidden_import(tmp_path):
    """The rule bites: an engine module importing the web is reported."""
    fake = tmp_path / "engine"
    fake.mkdir()
    (fake / "leak.py").write_text("def f():\n    from arsflow.web import create_app\n")
    assert violations("engine", tmp_path) == ["engine/leak.py imports arsflow.web",
                                    "engine/leak.py imports arsflow.web.create_app"]
