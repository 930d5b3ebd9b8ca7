"""`${…}` expressions inside Camunda attribute values, found with balanced braces so that
dict literals and `}` inside strings work. Shared by the script engine and the linter."""
from __future__ import annotations

import ast
import functools
from dataclasses import dataclass

from arsflow.engine.bpmn import juel
from arsflow.engine.bpmn.sandbox import SandboxError, compile_script


def split_expressions(text: str) -> list[tuple[str, str]]:
    """`a ${x['k']} b ${ {1: 2}[1] }` → [("text","a "), ("expr","x['k']"), ("text"," b "), …].
    Braces are balanced and quoted strings skipped, so dict literals and `}` in strings work."""
    return [(kind, body) for kind, body, _ in split_marked(text)]


def split_marked(text: str) -> list[tuple[str, str, bool]]:
    """As `split_expressions`, each part also telling whether it was written `#{…}`."""
    parts, i, n, buf = [], 0, len(text), []
    while i < n:
        if text[i] in "$#" and i + 1 < n and text[i + 1] == "{":
            depth, j, quote = 1, i + 2, None
            while j < n and depth:
                ch = text[j]
                if quote:
                    if ch == "\\":
                        j += 1
                    elif ch == quote:
                        quote = None
                elif ch in "'\"":
                    quote = ch
                elif ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                j += 1
            if depth == 0:
                if buf:
                    parts.append(("text", "".join(buf), False))
                    buf = []
                parts.append(("expr", text[i + 2:j - 1].strip(), text[i] == "#"))
                i = j
                continue
        buf.append(text[i])
        i += 1
    if buf:
        parts.append(("text", "".join(buf), False))
    return parts


def unclosed_expression(text: str) -> str | None:
    """The start of the first `${…`/`#{…` that never closes, or None."""
    for kind, part in split_expressions(text):
        if kind == "text":
            for marker in ("${", "#{"):
                at = part.find(marker)
                if at >= 0:
                    return part[at:at + 40]
    return None


# --------------------------------------------------------------------------- language choice

class ExpressionError(Exception):
    """An expression that is neither valid JUEL nor valid (sandboxed) Python."""


@dataclass(frozen=True)
class Compiled:
    language: str  # "juel" | "python"
    body: str
    tree: object = None  # the JUEL tree (Python is compiled by the sandbox when run)


@functools.lru_cache(maxsize=4096)
def unwrap(text: str) -> tuple[str, bool]:
    """`${x}` → ("x", False), `#{x}` → ("x", True), `x` → ("x", False)."""
    stripped = text.strip()
    parts = split_marked(stripped)
    if len(parts) == 1 and parts[0][0] == "expr":
        return parts[0][1], parts[0][2]
    return stripped, False


def _python_reading(body: str) -> tuple[set[str], bool] | None:
    """The names a Python reading uses and whether it reads a property path (`a.b` not
    called: a map entry in JUEL, an AttributeError on task data in Python); None when Python
    cannot read it."""
    try:
        tree = ast.parse(body.strip(), "<expression>", "eval")
    except SyntaxError:
        return None
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    paths = any(isinstance(node, ast.Attribute) and id(node) not in called for node in ast.walk(tree))
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}, paths


@functools.lru_cache(maxsize=4096)
def compile_expression(body: str, deferred: bool = False) -> Compiled:
    """Which language an expression body is written in, parsed once.

    The rule (README, authoring guide): `#{…}` is JUEL; otherwise an expression is Python when
    Python reads it, it names none of JUEL's words (`true`, `null`, `execution`, `empty`,
    `gt`…) and reads no property path (`${demandeur.nom}`), JUEL when JUEL reads it. `${amount > 1000}` and every existing Python condition stay
    Python; `${amount gt 1000 && approved}` or `${comment != null}` are JUEL. Raises
    `ExpressionError` (French) when neither language reads it; a Python expression the sandbox
    refuses raises the sandbox's error."""
    body = body.strip()
    reading = None if deferred else _python_reading(body)
    if reading is not None and not reading[0] & juel.JUEL_ONLY_NAMES:
        if reading[1]:
            try:
                return Compiled("juel", body, juel.parse(body))
            except juel.JuelSyntaxError:
                pass
        compile_script(body, "eval")  # SyntaxError / SandboxError, as at run time
        return Compiled("python", body)
    try:
        return Compiled("juel", body, juel.parse(body))
    except juel.JuelSyntaxError as err:
        if reading is not None:  # Python syntax with a JUEL word: the JUEL error is the useful one
            raise ExpressionError(str(err)) from None
        raise ExpressionError(f"{err} ; ce n'est pas non plus une expression Python valide") from None


def check_value(text: str) -> list[str]:
    """Every problem in an attribute or element value holding `${…}`/`#{…}` (or a bare
    condition): what lint reports, in French; empty when it would run."""
    problems = []
    if "${" in text or "#{" in text:
        fragment = unclosed_expression(text)
        if fragment is not None:
            return [f"expression non fermée : « {fragment.strip()} » (il manque « }} »)"]
        pieces = [(body, deferred) for kind, body, deferred in split_marked(text) if kind == "expr"]
    else:
        pieces = [(text.strip(), False)] if text.strip() else []
    for body, deferred in pieces:
        problems.extend(check_body(body, deferred))
    return problems


def check_body(body: str, deferred: bool = False) -> list[str]:
    if not body.strip():
        return ["expression vide"]
    try:
        compile_expression(body, deferred)
    except ExpressionError as err:
        return [str(err)]
    except SandboxError as err:
        return ["; ".join(err.errors)]
    except SyntaxError as err:
        return [f"expression Python invalide : {err.msg}"]
    return []
