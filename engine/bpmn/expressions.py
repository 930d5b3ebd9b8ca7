"""`${…}` expressions inside Camunda attribute values, found with balanced braces so that
dict literals and `}` inside strings work. Shared by the script engine and the linter."""
from __future__ import annotations


def split_expressions(text: str) -> list[tuple[str, str]]:
    """`a ${x['k']} b ${ {1: 2}[1] }` → [("text","a "), ("expr","x['k']"), ("text"," b "), …].
    Braces are balanced and quoted strings skipped, so dict literals and `}` in strings work."""
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
                    parts.append(("text", "".join(buf)))
                    buf = []
                parts.append(("expr", text[i + 2:j - 1].strip()))
                i = j
                continue
        buf.append(text[i])
        i += 1
    if buf:
        parts.append(("text", "".join(buf)))
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
