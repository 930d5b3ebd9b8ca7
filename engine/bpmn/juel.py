"""JUEL, the expression language of Camunda 7 (`${…}` / `#{…}`), parsed and evaluated here.

Process owners copy conditions from Camunda's documentation (`${amount gt 1000 && approved}`,
`${empty comment}`, `${execution.getVariable("x")}`): they must mean what they mean in Camunda.
No maintained Python package implements EL, so this is a small Pratt parser to an expression
tree, evaluated with the EL 2.2 coercion rules (null/empty, number coercion, `+` numeric only,
division to double, Java remainder). Nothing is ever handed to `eval`: the tree only reads
variables, calls registered helpers and a short list of Java-like methods on plain data.
"""
from __future__ import annotations

import math
import re
from datetime import date, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Callable, Mapping

__all__ = ["JuelError", "JuelSyntaxError", "parse", "evaluate", "to_string", "to_boolean",
           "Bean", "JUEL_ONLY_NAMES"]

# Names that mean something in JUEL and nothing in arsflow's Python: their use marks an
# expression as JUEL (see engine expressions' language choice).
JUEL_ONLY_NAMES = frozenset({"true", "false", "null", "execution", "task", "empty", "eq", "ne",
                             "lt", "gt", "le", "ge", "div", "mod"})


class JuelError(Exception):
    """An expression that cannot be evaluated (French message, as raised to an incident)."""


class JuelSyntaxError(JuelError):
    def __init__(self, message: str, position: int | None = None):
        self.position = position
        where = f" (caractère {position + 1})" if position is not None else ""
        super().__init__(f"expression JUEL invalide : {message}{where}")


# --------------------------------------------------------------------------- tokens

_KEYWORDS = {
    "and": "&&", "or": "||", "not": "!", "eq": "==", "ne": "!=", "lt": "<", "gt": ">",
    "le": "<=", "ge": ">=", "div": "/", "mod": "%", "empty": "empty",
    "true": "true", "false": "false", "null": "null", "instanceof": "instanceof",
}
_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<op>==|!=|<=|>=|&&|\|\||[-+*/%<>!?:.\[\](),])
""", re.VERBOSE)


def _tokenize(text: str) -> list[tuple[str, Any, int]]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise JuelSyntaxError(f"caractère inattendu « {text[pos]} »", pos)
        kind, value = match.lastgroup, match.group()
        if kind == "number":
            number = float(value) if any(c in value for c in ".eE") else int(value)
            tokens.append(("lit", number, pos))
        elif kind == "string":
            body = value[1:-1]
            tokens.append(("lit", re.sub(r"\\([\\'\"])", r"\1", body), pos))
        elif kind == "name":
            keyword = _KEYWORDS.get(value)
            if keyword in ("true", "false", "null"):
                tokens.append(("lit", {"true": True, "false": False, "null": None}[keyword], pos))
            elif keyword == "instanceof":
                raise JuelSyntaxError("« instanceof » n'est pas pris en charge", pos)
            elif keyword:
                tokens.append(("op", keyword, pos))
            else:
                tokens.append(("name", value, pos))
        elif kind == "op":
            tokens.append(("op", value, pos))
        pos = match.end()
    tokens.append(("end", None, len(text)))
    return tokens


# --------------------------------------------------------------------------- tree

class Node:
    __slots__ = ()

    def eval(self, ctx: "_Context") -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


class Literal(Node):
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def eval(self, ctx):
        return self.value


class Identifier(Node):
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def eval(self, ctx):
        return ctx.resolve(self.name)


class Unary(Node):
    __slots__ = ("op", "operand")

    def __init__(self, op, operand):
        self.op, self.operand = op, operand

    def eval(self, ctx):
        value = self.operand.eval(ctx)
        if self.op == "!":
            return not to_boolean(value)
        if self.op == "empty":
            return is_empty(value)
        return _negate(value)


class Binary(Node):
    __slots__ = ("op", "left", "right")

    def __init__(self, op, left, right):
        self.op, self.left, self.right = op, left, right

    def eval(self, ctx):
        op = self.op
        if op == "&&":
            return to_boolean(self.left.eval(ctx)) and to_boolean(self.right.eval(ctx))
        if op == "||":
            return to_boolean(self.left.eval(ctx)) or to_boolean(self.right.eval(ctx))
        a, b = self.left.eval(ctx), self.right.eval(ctx)
        if op in ("==", "!="):
            return _equals(a, b) == (op == "==")
        if op in ("<", ">", "<=", ">="):
            return _compare(op, a, b)
        return _arithmetic(op, a, b)


class Conditional(Node):
    __slots__ = ("test", "then", "otherwise")

    def __init__(self, test, then, otherwise):
        self.test, self.then, self.otherwise = test, then, otherwise

    def eval(self, ctx):
        return self.then.eval(ctx) if to_boolean(self.test.eval(ctx)) else self.otherwise.eval(ctx)


class Access(Node):
    """`a.b` and `a[b]`: map entry, list element or bean property (null-safe as in EL)."""
    __slots__ = ("target", "key")

    def __init__(self, target, key):
        self.target, self.key = target, key

    def eval(self, ctx):
        return get_property(self.target.eval(ctx), self.key.eval(ctx))


class MethodCall(Node):
    __slots__ = ("target", "name", "args")

    def __init__(self, target, name, args):
        self.target, self.name, self.args = target, name, args

    def eval(self, ctx):
        target = self.target.eval(ctx)
        return call_method(target, self.name, [a.eval(ctx) for a in self.args])


class FunctionCall(Node):
    __slots__ = ("name", "args")

    def __init__(self, name, args):
        self.name, self.args = name, args

    def eval(self, ctx):
        function = ctx.functions.get(self.name)
        if function is None:
            raise JuelError(f"fonction inconnue « {self.name}() »")
        return function(*[a.eval(ctx) for a in self.args])


# --------------------------------------------------------------------------- parser

_INFIX = {"?": 1, "||": 2, "&&": 3, "==": 4, "!=": 4, "<": 5, ">": 5, "<=": 5, ">=": 5,
          "+": 6, "-": 6, "*": 7, "/": 7, "%": 7, ".": 9, "[": 9}
_PREFIX_POWER = 8


class _Parser:
    def __init__(self, text: str):
        self.tokens = _tokenize(text)
        self.index = 0

    def peek(self):
        return self.tokens[self.index]

    def take(self):
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, op: str):
        kind, value, pos = self.take()
        if kind != "op" or value != op:
            raise JuelSyntaxError(f"« {op} » attendu, trouvé {_describe(kind, value)}", pos)

    def expression(self, power: int = 0) -> Node:
        kind, value, pos = self.take()
        if kind == "lit":
            left = Literal(value)
        elif kind == "name":
            if self.peek()[:2] == ("op", "("):
                left = FunctionCall(value, self.arguments())
            else:
                left = Identifier(value)
        elif kind == "op" and value in ("!", "-", "empty"):
            left = Unary(value, self.expression(_PREFIX_POWER))
        elif kind == "op" and value == "(":
            left = self.expression()
            self.expect(")")
        else:
            raise JuelSyntaxError(f"opérande attendu, trouvé {_describe(kind, value)}", pos)
        while True:
            kind, value, pos = self.peek()
            bp = _INFIX.get(value) if kind == "op" else None
            if bp is None or bp <= power:
                break
            self.take()
            if value == ".":
                name_kind, name, name_pos = self.take()
                if name_kind != "name" and not (name_kind == "op" and name.isalpha()):
                    raise JuelSyntaxError(f"nom de propriété attendu après « . », trouvé "
                                          f"{_describe(name_kind, name)}", name_pos)
                if name_kind == "op":  # a keyword used as a property name (a.empty)
                    name = next(k for k, v in _KEYWORDS.items() if v == name)
                if self.peek()[:2] == ("op", "("):
                    left = MethodCall(left, name, self.arguments())
                else:
                    left = Access(left, Literal(name))
            elif value == "[":
                key = self.expression()
                self.expect("]")
                if self.peek()[:2] == ("op", "(") and isinstance(key, Literal) and isinstance(key.value, str):
                    left = MethodCall(left, key.value, self.arguments())
                else:
                    left = Access(left, key)
            elif value == "?":
                then = self.expression()
                self.expect(":")
                left = Conditional(left, then, self.expression(bp - 1))
            else:
                left = Binary(value, left, self.expression(bp))
        return left

    def arguments(self) -> list[Node]:
        self.expect("(")
        args: list[Node] = []
        if self.peek()[:2] == ("op", ")"):
            self.take()
            return args
        while True:
            args.append(self.expression())
            kind, value, pos = self.take()
            if kind == "op" and value == ")":
                return args
            if not (kind == "op" and value == ","):
                raise JuelSyntaxError(f"« , » ou « ) » attendu, trouvé {_describe(kind, value)}", pos)


def _describe(kind, value) -> str:
    if kind == "end":
        return "la fin de l'expression"
    if kind == "lit":
        return f"la valeur {to_string(value)!r}" if value is not None else "null"
    return f"« {value} »"


@lru_cache(maxsize=2048)
def parse(text: str) -> Node:
    """The tree of one expression body (what is between `${` and `}`)."""
    if not text.strip():
        raise JuelSyntaxError("expression vide")
    parser = _Parser(text)
    tree = parser.expression()
    kind, value, pos = parser.peek()
    if kind != "end":
        raise JuelSyntaxError(f"suite inattendue {_describe(kind, value)}", pos)
    return tree


# --------------------------------------------------------------------------- evaluation

class _Context:
    __slots__ = ("variables", "functions", "objects")

    def __init__(self, variables, functions, objects):
        self.variables, self.functions, self.objects = variables, functions, objects

    def resolve(self, name):
        # As Camunda's VariableScopeElResolver: `execution` and `task` before variables.
        if name in self.objects:
            return self.objects[name]
        try:
            return self.variables[name]
        except KeyError:
            raise JuelError(f"variable inconnue « {name} » (Cannot resolve identifier '{name}')") from None


def evaluate(tree: Node | str, variables: Mapping[str, Any], functions: Mapping[str, Callable] | None = None,
             objects: Mapping[str, Any] | None = None) -> Any:
    """Evaluate a tree (or an expression body) against variables, helper functions and the
    `execution`/`task` beans."""
    if isinstance(tree, str):
        tree = parse(tree)
    return tree.eval(_Context(variables, functions or {}, objects or {}))


class Bean:
    """An object whose public getters EL may call: `x.name` reads `getName()`/`isName()`.
    Subclasses list the methods expressions may call in `METHODS`."""
    METHODS: frozenset = frozenset()

    def el_property(self, name: str):
        for prefix in ("get", "is"):
            method = prefix + name[:1].upper() + name[1:]
            if method in self.METHODS:
                return getattr(self, method)()
        raise JuelError(f"propriété « {name} » introuvable sur {type(self).__name__}")


# ---- coercions (EL 2.2 spec, section 1.18)

def _is_number(value) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def _type_name(value) -> str:
    names = {bool: "booléen", str: "texte", list: "liste", tuple: "liste", dict: "map"}
    return names.get(type(value), type(value).__name__)


def _floaty_string(value) -> bool:
    return isinstance(value, str) and any(c in value for c in ".eE")


def to_long(value) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise JuelError(f"impossible de convertir le booléen {to_string(value)} en nombre")
    if isinstance(value, (int, float, Decimal)):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise JuelError(f"impossible de convertir « {value} » en nombre entier") from None
    raise JuelError(f"impossible de convertir une valeur de type {_type_name(value)} en nombre")


def to_double(value) -> float:
    if value is None or value == "":
        return 0.0
    if isinstance(value, bool):
        raise JuelError(f"impossible de convertir le booléen {to_string(value)} en nombre")
    if isinstance(value, (int, float, Decimal)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise JuelError(f"impossible de convertir « {value} » en nombre") from None
    raise JuelError(f"impossible de convertir une valeur de type {_type_name(value)} en nombre")


def to_decimal(value) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, str) and value.strip():
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            raise JuelError(f"impossible de convertir « {value} » en nombre") from None
    return Decimal(repr(to_double(value))) if isinstance(value, float) else Decimal(to_long(value))


def to_boolean(value) -> bool:
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.lower() == "true"
    raise JuelError(f"impossible de convertir une valeur de type {_type_name(value)} "
                    f"({to_string(value)}) en booléen")


def _java_double(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        text = repr(value)
        return text if "." in text or "e" in text else text + ".0"
    mantissa, exponent = f"{value:.16E}".split("E")
    mantissa = repr(float(mantissa))
    return f"{mantissa}E{int(exponent)}"


def to_string(value) -> str:
    """EL's coercion to String: null is "", booleans and numbers as Java prints them."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _java_double(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(to_string(v) if v is not None else "null" for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{to_string(k)}={to_string(v) if v is not None else 'null'}"
                               for k, v in value.items()) + "}"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def is_empty(value) -> bool:
    if value is None:
        return True
    if isinstance(value, (str, list, tuple, dict, set, frozenset)):
        return len(value) == 0
    return False


def _negate(value):
    if value is None:
        return 0
    if isinstance(value, str):
        return -to_double(value) if _floaty_string(value) else -to_long(value)
    if _is_number(value):
        return -value
    raise JuelError(f"opposé (-) d'une valeur de type {_type_name(value)} impossible")


def _arithmetic(op: str, a, b):
    if a is None and b is None:
        return 0
    if op == "/":
        if isinstance(a, Decimal) or isinstance(b, Decimal):
            divisor = to_decimal(b)
            if divisor == 0:
                raise JuelError("division par zéro")
            return to_decimal(a) / divisor
        x, y = to_double(a), to_double(b)
        if y == 0:
            return math.nan if x == 0 or math.isnan(x) else math.copysign(math.inf, x) * math.copysign(1, y)
        return x / y
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        x, y = to_decimal(a), to_decimal(b)
    elif isinstance(a, float) or isinstance(b, float) or _floaty_string(a) or _floaty_string(b):
        x, y = to_double(a), to_double(b)
        if op == "%":
            return math.fmod(x, y) if y != 0 else math.nan
    else:
        x, y = to_long(a), to_long(b)
        if op == "%":
            if y == 0:
                raise JuelError("modulo par zéro")
            remainder = abs(x) % abs(y)
            return -remainder if x < 0 else remainder
    if op == "+":
        return x + y
    if op == "-":
        return x - y
    if op == "*":
        return x * y
    if y == 0:
        raise JuelError("modulo par zéro")
    return x % y  # Decimal % truncates like Java's BigDecimal.remainder


def _compare(op: str, a, b) -> bool:
    if a is None or b is None:
        return False
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        x, y = to_decimal(a), to_decimal(b)
    elif isinstance(a, float) or isinstance(b, float) or (_is_number(a) and _floaty_string(b)) \
            or (_is_number(b) and _floaty_string(a)):
        x, y = to_double(a), to_double(b)
    elif _is_number(a) or _is_number(b):
        x, y = to_long(a), to_long(b)
    elif isinstance(a, str) or isinstance(b, str):
        x, y = to_string(a), to_string(b)
    elif type(a) is type(b) or (hasattr(a, "isoformat") and hasattr(b, "isoformat")):
        x, y = a, b
    else:
        raise JuelError(f"comparaison impossible entre {_type_name(a)} et {_type_name(b)}")
    try:
        return {"<": x < y, ">": x > y, "<=": x <= y, ">=": x >= y}[op]
    except TypeError:
        raise JuelError(f"comparaison impossible entre {_type_name(a)} et {_type_name(b)}") from None


def _equals(a, b) -> bool:
    if a is b:
        return True
    if a is None or b is None:
        return False
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return to_decimal(a) == to_decimal(b)
    if isinstance(a, float) or isinstance(b, float):
        return to_double(a) == to_double(b)
    if _is_number(a) or _is_number(b):
        return to_long(a) == to_long(b)
    if isinstance(a, bool) or isinstance(b, bool):
        return to_boolean(a) == to_boolean(b)
    if isinstance(a, str) or isinstance(b, str):
        return to_string(a) == to_string(b)
    return a == b


# ---- property access and methods

_TEMPORAL = (date, time, timedelta)  # datetime is a date
_TEMPORAL_PROPERTIES = frozenset({"year", "month", "day", "hour", "minute", "second", "microsecond",
                                  "days", "seconds", "tzinfo"})


def get_property(target, key):
    if target is None or key is None:
        return None
    if isinstance(target, Bean):
        return target.el_property(to_string(key))
    if isinstance(target, dict):
        return target.get(key)
    if isinstance(target, (list, tuple)):
        try:
            index = to_long(key)
        except JuelError:
            raise JuelError(f"indice de liste invalide : {to_string(key)!r}") from None
        return target[index] if 0 <= index < len(target) else None
    if isinstance(target, _TEMPORAL) and isinstance(key, str) and key in _TEMPORAL_PROPERTIES:
        return getattr(target, key)
    raise JuelError(f"propriété « {to_string(key)} » introuvable sur une valeur de type {_type_name(target)}")


def _index_of(sequence, item):
    try:
        return sequence.index(item)
    except ValueError:
        return -1


_STRING_METHODS: dict[str, Callable] = {
    "length": len, "isEmpty": lambda s: len(s) == 0, "trim": str.strip,
    "toUpperCase": str.upper, "toLowerCase": str.lower,
    "contains": lambda s, x: to_string(x) in s, "startsWith": lambda s, x: s.startswith(to_string(x)),
    "endsWith": lambda s, x: s.endswith(to_string(x)), "indexOf": lambda s, x: s.find(to_string(x)),
    "substring": lambda s, a, b=None: s[to_long(a):] if b is None else s[to_long(a):to_long(b)],
    "equalsIgnoreCase": lambda s, x: x is not None and s.lower() == to_string(x).lower(),
    "replace": lambda s, a, b: s.replace(to_string(a), to_string(b)),
    "charAt": lambda s, i: s[to_long(i)],
}
_LIST_METHODS: dict[str, Callable] = {
    "size": len, "isEmpty": lambda l: len(l) == 0, "contains": lambda l, x: x in l,
    "get": lambda l, i: l[to_long(i)], "indexOf": _index_of,
}
_MAP_METHODS: dict[str, Callable] = {
    "size": len, "isEmpty": lambda m: len(m) == 0, "containsKey": lambda m, k: k in m,
    "containsValue": lambda m, v: v in m.values(), "get": lambda m, k: m.get(k),
    "keySet": lambda m: list(m), "values": lambda m: list(m.values()),
}
_ANY_METHODS: dict[str, Callable] = {
    "equals": lambda o, x: _equals(o, x), "toString": to_string,
}


def call_method(target, name: str, args: list):
    if target is None:
        raise JuelError(f"appel de « {name}() » sur une valeur nulle (null)")
    if isinstance(target, Bean):
        if name not in target.METHODS:
            raise JuelError(f"méthode « {name}() » non disponible sur {type(target).__name__}")
        method = getattr(target, name)
    else:
        table = (_STRING_METHODS if isinstance(target, str) else
                 _LIST_METHODS if isinstance(target, (list, tuple)) else
                 _MAP_METHODS if isinstance(target, dict) else {})
        function = table.get(name) or _ANY_METHODS.get(name)
        if function is None:
            raise JuelError(f"méthode « {name}() » non disponible sur une valeur de type {_type_name(target)}")

        def method(*values):
            return function(target, *values)
    try:
        return method(*args)
    except JuelError:
        raise
    except (TypeError, IndexError) as err:
        raise JuelError(f"appel de « {name}() » impossible : {err}") from None
