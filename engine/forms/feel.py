"""The FEEL subset of form conditions, choice lists and bounds, compiled once when the form is
loaded: anything outside it is refused then, rather than silently misread at completion."""
from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any, Callable, Mapping


class _FeelError(ValueError):
    pass


_FEEL_TOKEN = re.compile(
    r"""\s*(?:
        (?P<num>\d+(?:\.\d+)?|\.\d+)
      | (?P<str>"(?:[^"\\]|\\.)*")
      | (?P<fn>(?:list\s+contains|string\s+length|is\s+defined|is\s+empty|upper\s+case
               |lower\s+case|not|count|contains|sum)(?=\s*\())
      | (?P<name>[A-Za-z_$][\w$]*)
      | (?P<op><=|>=|!=|[=<>+\-*/().,\[\]{}:])
    )""",
    re.X,
)


def _is_num(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def _feel_eq(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_num(a) and _is_num(b):
        return Decimal(str(a)) == Decimal(str(b))
    if type(a) is not type(b) and not (isinstance(a, str) and isinstance(b, str)):
        return False
    return a == b


def _feel_order(a: Any, b: Any) -> int | None:
    if _is_num(a) and _is_num(b):
        da, db = Decimal(str(a)), Decimal(str(b))
    elif isinstance(a, str) and isinstance(b, str):
        da, db = a, b
    else:
        return None
    return (da > db) - (da < db)


def _feel_lookup(value: Any, name: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(name)
    return None


def _fn_list_contains(seq: Any, item: Any) -> Any:
    if not isinstance(seq, list):
        return None
    return any(_feel_eq(x, item) for x in seq)


def _fn_not(value: Any) -> Any:
    return (not value) if isinstance(value, bool) else None


def _fn_count(seq: Any) -> Any:
    return len(seq) if isinstance(seq, list) else None


def _fn_is_empty(seq: Any) -> Any:
    return len(seq) == 0 if isinstance(seq, list) else None


def _fn_string_length(text: Any) -> Any:
    return len(text) if isinstance(text, str) else None


def _fn_contains(text: Any, part: Any) -> Any:
    return part in text if isinstance(text, str) and isinstance(part, str) else None


def _fn_sum(seq: Any) -> Any:
    if isinstance(seq, list) and all(_is_num(x) for x in seq):
        return sum(Decimal(str(x)) for x in seq)
    return None


_FEEL_FUNCTIONS: dict[str, tuple[int, Callable[..., Any]]] = {
    "not": (1, _fn_not),
    "list contains": (2, _fn_list_contains),
    "count": (1, _fn_count),
    "is defined": (1, lambda value: value is not None),
    "is empty": (1, _fn_is_empty),
    "string length": (1, _fn_string_length),
    "contains": (2, _fn_contains),
    "upper case": (1, lambda s: s.upper() if isinstance(s, str) else None),
    "lower case": (1, lambda s: s.lower() if isinstance(s, str) else None),
    "sum": (1, _fn_sum),
}


class _Feel:
    """A compiled FEEL expression from the subset process owners write in form conditions.

    Supported: number/string/boolean/null literals, variable paths (``a.b``), list ``[..]``
    and context ``{k: v}`` literals, ``+ - * /``, ``= != < <= > >=``, ``and``/``or``,
    parentheses and the functions in ``_FEEL_FUNCTIONS``. Comparisons with null or across types
    yield null (falsy), as in FEEL, so a hide condition on an empty field does not hide it.
    Evaluation never raises: a field must not become impossible to submit because of a typo in
    a condition that was accepted at load time.
    """

    def __init__(self, source: str):
        self.source = source
        text = source.strip()
        if text.startswith("="):
            text = text[1:]
        self._tokens = self._tokenize(text)
        self._pos = 0
        if not self._tokens:
            raise _FeelError("expression vide")
        self._fn = self._disjunction()
        if self._pos != len(self._tokens):
            raise _FeelError(f"élément inattendu « {self._tokens[self._pos][1]} »")
        del self._tokens

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        try:
            return self._fn(scope)
        except Exception:  # noqa: BLE001 - documented: an odd runtime value yields null
            return None

    # -- tokenizer / recursive descent parser producing closures

    @staticmethod
    def _tokenize(text: str) -> list[tuple[str, str]]:
        tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            match = _FEEL_TOKEN.match(text, pos)
            if not match or match.end() == pos:
                raise _FeelError(f"syntaxe non prise en charge à partir de « {text[pos:].strip()[:20]} »")
            kind = match.lastgroup
            value = match.group(kind)
            if kind == "fn":
                value = " ".join(value.split())
            tokens.append((kind, value))
            pos = match.end()
        return tokens

    def _peek(self) -> tuple[str, str] | None:
        return self._tokens[self._pos] if self._pos < len(self._tokens) else None

    def _accept(self, *values: str) -> str | None:
        tok = self._peek()
        if tok and tok[0] in ("op", "name") and tok[1] in values:
            self._pos += 1
            return tok[1]
        return None

    def _expect(self, value: str) -> None:
        if not self._accept(value):
            tok = self._peek()
            found = f"« {tok[1]} »" if tok else "la fin de l'expression"
            raise _FeelError(f"« {value} » attendu, trouvé {found}")

    def _disjunction(self):
        left = self._conjunction()
        while self._accept("or"):
            right = self._conjunction()
            left = self._or(left, right)
        return left

    @staticmethod
    def _or(left, right):
        def run(scope):
            a, b = left(scope), right(scope)
            if a is True or b is True:
                return True
            if a is False and b is False:
                return False
            return None

        return run

    def _conjunction(self):
        left = self._comparison()
        while self._accept("and"):
            right = self._comparison()
            left = self._and(left, right)
        return left

    @staticmethod
    def _and(left, right):
        def run(scope):
            a, b = left(scope), right(scope)
            if a is False or b is False:
                return False
            if a is True and b is True:
                return True
            return None

        return run

    def _comparison(self):
        left = self._sum()
        op = self._accept("=", "!=", "<", "<=", ">", ">=")
        if not op:
            return left
        right = self._sum()
        if op == "=":
            return lambda s: _feel_eq(left(s), right(s))
        if op == "!=":
            return lambda s: not _feel_eq(left(s), right(s))
        test = {"<": lambda c: c < 0, "<=": lambda c: c <= 0, ">": lambda c: c > 0, ">=": lambda c: c >= 0}[op]

        def run(scope):
            cmp = _feel_order(left(scope), right(scope))
            return None if cmp is None else test(cmp)

        return run

    def _sum(self):
        left = self._term()
        while op := self._accept("+", "-"):
            left = self._arith(op, left, self._term())
        return left

    def _term(self):
        left = self._unary()
        while op := self._accept("*", "/"):
            left = self._arith(op, left, self._unary())
        return left

    @staticmethod
    def _arith(op, left, right):
        def run(scope):
            a, b = left(scope), right(scope)
            if op == "+" and isinstance(a, str) and isinstance(b, str):
                return a + b
            if not (_is_num(a) and _is_num(b)):
                return None
            da, db = Decimal(str(a)), Decimal(str(b))
            if op == "+":
                return da + db
            if op == "-":
                return da - db
            if op == "*":
                return da * db
            return None if db == 0 else da / db

        return run

    def _unary(self):
        if self._accept("-"):
            inner = self._unary()
            return lambda s: (-Decimal(str(v)) if _is_num(v := inner(s)) else None)
        return self._postfix()

    def _postfix(self):
        node = self._primary()
        while self._accept("."):
            tok = self._peek()
            if not tok or tok[0] != "name":
                raise _FeelError("nom de propriété attendu après « . »")
            self._pos += 1
            node = self._member(node, tok[1])
        return node

    @staticmethod
    def _member(node, name):
        return lambda s: _feel_lookup(node(s), name)

    def _primary(self):
        tok = self._peek()
        if tok is None:
            raise _FeelError("expression incomplète")
        kind, value = tok
        self._pos += 1
        if kind == "num":
            number = Decimal(value)
            return lambda s: number
        if kind == "str":
            text = json.loads(value)
            return lambda s: text
        if kind == "fn":
            arity, fn = _FEEL_FUNCTIONS[value]
            self._expect("(")
            args = [self._disjunction()]
            while self._accept(","):
                args.append(self._disjunction())
            self._expect(")")
            if len(args) != arity:
                raise _FeelError(f"la fonction « {value} » attend {arity} argument(s)")
            return lambda s: fn(*(a(s) for a in args))
        if kind == "name":
            if value == "true":
                return lambda s: True
            if value == "false":
                return lambda s: False
            if value == "null":
                return lambda s: None
            if value in ("and", "or"):
                raise _FeelError(f"« {value} » inattendu")
            return lambda s: _feel_lookup(s, value)
        if value == "(":
            inner = self._disjunction()
            self._expect(")")
            return inner
        if value == "[":
            items = []
            if not self._accept("]"):
                items.append(self._disjunction())
                while self._accept(","):
                    items.append(self._disjunction())
                self._expect("]")
            return lambda s: [i(s) for i in items]
        if value == "{":
            entries = []
            if not self._accept("}"):
                while True:
                    key_tok = self._peek()
                    if not key_tok or key_tok[0] not in ("name", "str"):
                        raise _FeelError("nom d'entrée attendu dans le contexte { … }")
                    self._pos += 1
                    key = json.loads(key_tok[1]) if key_tok[0] == "str" else key_tok[1]
                    self._expect(":")
                    entries.append((key, self._disjunction()))
                    if not self._accept(","):
                        break
                self._expect("}")
            return lambda s: {k: v(s) for k, v in entries}
        raise _FeelError(f"« {value} » inattendu")
