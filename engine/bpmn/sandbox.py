"""Restricted execution of the Python written by process owners.

Script tasks, gateway conditions and `${…}` expressions come from BPMN files that people
outside the development team edit. SpiffWorkflow's `TaskDataEnvironment` runs them with
plain `eval`/`exec` (`__import__('os')` works), so this module compiles them with
RestrictedPython instead and runs the result against a small, explicit set of builtins,
guards and registered helpers.

Two lines of defence:
1. compile time: a first AST pass rejects imports, `_`-prefixed names and attributes,
   introspection attributes, calls to `open`/`exec`/`eval`/`getattr`/… and classes with a
   French message naming the construct (`SandboxError`); RestrictedPython's transformer then
   rewrites attribute/item access, writes, iteration and unpacking into guarded calls.
2. run time: the guards below refuse what the AST cannot see (writes to modules, functions
   or classes, `str.format` reached indirectly) and the builtins simply do not contain
   `open`, `__import__`, `getattr`, `type`…

Time and memory are bounded by `script_limits` (guarded `*`, `**`, `<<`, `+`, `range` and
growing `str` methods; a watchdog interrupts an evaluation past its time or memory budget).
Helpers are trusted code: whatever they return is reachable by scripts.
"""
from __future__ import annotations

import ast
import builtins
import dataclasses
import functools
import logging
import operator
import textwrap
from datetime import date, datetime, timedelta, timezone
from types import CodeType, SimpleNamespace
from typing import Any, Callable, Literal

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence
from RestrictedPython.transformer import (
    INSPECT_ATTRIBUTES,
    IOPERATOR_TO_STR,
    RestrictingNodeTransformer,
    copy_locations,
)
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

from arsflow.engine.bpmn.script_limits import (GROWING_TEXT_METHODS, INPLACE_GUARDS, Limits, guarded_add, guarded_lshift,
                            guarded_mul, guarded_pow, guarded_range, guarded_text_method)

__all__ = ["SandboxError", "RestrictedEnvironment", "make_script_engine", "compile_script"]

log = logging.getLogger(__name__)

CACHE_SIZE = 1024
# Scripts are compiled under this name so SpiffWorkflow's `get_error_line_number_and_content`
# finds the failing line in the traceback.
SCRIPT_FILENAME = "<string>"
PRINT_LIMIT = 10_000


class SandboxError(Exception):
    """A script or expression used a construct the sandbox forbids.

    Raised at compile time (before any of the script runs) for forbidden syntax, and at run
    time by the guards for forbidden operations on objects. `errors` lists every violation
    found, `lineno` is the line of the first one when known.
    """

    def __init__(self, errors: list[str] | str, lineno: int | None = None):
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        self.lineno = lineno
        super().__init__("Script refusé par le bac à sable : " + " ; ".join(self.errors))


# --------------------------------------------------------------------------- compile time

# Builtins whose *call* is refused outright. Most are also absent from the builtins, but a
# compile-time refusal names the culprit instead of failing later with a NameError.
FORBIDDEN_CALLS = frozenset({
    "open", "exec", "eval", "compile", "globals", "locals", "vars", "getattr", "setattr",
    "delattr", "type", "dir", "input", "breakpoint", "help", "exit", "quit", "object",
    "super", "memoryview", "classmethod", "staticmethod", "property",
})
# Attributes refused even without a leading underscore: frame/code/generator introspection,
# `mro()` (a step towards `object` subclass walking) and `str.format`, whose format string
# can walk attributes (`"{0.__class__}".format(x)`) behind the guards' back.
FORBIDDEN_ATTRIBUTES = frozenset(INSPECT_ATTRIBUTES | {"mro", "format", "format_map"})


def _reserved_name(name: str) -> bool:
    return name.startswith("_") and name != "_"


def _precheck(tree: ast.AST) -> list[tuple[int, int, int, str]]:
    """French diagnostics for the constructs process owners are likely to hit."""
    found: list[tuple[int, int, int, str]] = []

    def err(node: ast.AST, message: str) -> None:
        line = getattr(node, "lineno", 0)
        found.append((line, getattr(node, "col_offset", 0), getattr(node, "end_col_offset", 0),
                      f"ligne {line} : {message}"))

    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            err(node, "l'instruction « import » est interdite")
        elif isinstance(node, ast.Name) and _reserved_name(node.id):
            err(node, f"le nom « {node.id} » est interdit (les noms commençant par « _ » "
                      "sont réservés)")
        elif isinstance(node, ast.Attribute):
            if _reserved_name(node.attr):
                err(node, f"l'attribut « .{node.attr} » est interdit (les noms commençant "
                          "par « _ » sont réservés)")
            elif node.attr in FORBIDDEN_ATTRIBUTES:
                hint = " (utilisez une f-string)" if node.attr.startswith("format") else ""
                err(node, f"l'attribut « .{node.attr} » est interdit{hint}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in FORBIDDEN_CALLS:
            err(node, f"la fonction « {node.func.id}() » est interdite")
        elif isinstance(node, ast.ClassDef):
            err(node, "la définition de classe (« class ») est interdite")
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Attribute):
            err(node, "l'affectation augmentée d'un attribut (« x.a += … ») est interdite")
    return sorted(found)


_GUARDED_BINOPS = {ast.Mult: "_mul_", ast.Pow: "_pow_", ast.LShift: "_lshift_", ast.Add: "_add_"}


class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's policy, plus `d[k] += v` (very common in scripts, refused upstream).

    `d[k] op= v` becomes `_inplaceitem_(d, k, 'op=', v)`: `d` and `k` are evaluated once and
    the write still goes through the write guard. `a * b`, `a ** b`, `a << b` and `a + b`
    become `_mul_(a, b)`…: size checks before the work (see `script_limits`).
    """

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        node = super().visit_BinOp(node)
        guard = _GUARDED_BINOPS.get(type(node.op))
        if guard is None:
            return node
        call = ast.Call(func=ast.Name(guard, ast.Load()), args=[node.left, node.right], keywords=[])
        copy_locations(call, node)
        ast.fix_missing_locations(call)
        return call

    def visit_AugAssign(self, node: ast.AugAssign) -> Any:
        if not isinstance(node.target, ast.Subscript):
            return super().visit_AugAssign(node)
        call = ast.Call(
            func=ast.Name("_inplaceitem_", ast.Load()),
            args=[
                self.visit(node.target.value),
                self.visit(node.target.slice),
                ast.Constant(IOPERATOR_TO_STR[type(node.op)]),
                self.visit(node.value),
            ],
            keywords=[],
        )
        new_node = ast.Expr(call)
        copy_locations(new_node, node)
        ast.fix_missing_locations(new_node)
        return new_node


def _unwrap_expression(source: str) -> str:
    """`${ montant > 1000 }` (Camunda Modeler habit) → `montant > 1000`; eval ignores layout."""
    text = source.strip()
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1].strip()
    return text


@functools.lru_cache(maxsize=CACHE_SIZE)
def compile_script(source: str, mode: Literal["exec", "eval"] = "exec") -> CodeType:
    """Restricted bytecode for `source`, cached by (source text, mode).

    Raises `SyntaxError` for invalid Python (SpiffWorkflow reads its `lineno`) and
    `SandboxError` for forbidden constructs. Also usable to validate a process at upload.
    """
    if mode == "eval":
        text = _unwrap_expression(source)
    elif mode == "exec":
        text = textwrap.dedent(source)  # scripts indented inside the XML
    else:
        raise ValueError(f"mode inconnu : {mode!r}")
    tree = ast.parse(text, SCRIPT_FILENAME, mode)
    problems = _precheck(tree)
    if problems:
        raise SandboxError([p[-1] for p in problems], lineno=problems[0][0])
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    result = compiler(tree, filename=SCRIPT_FILENAME, policy=_Policy)
    if result.errors:
        raise SandboxError([f"construction refusée : {e}" for e in result.errors])
    return result.code


# --------------------------------------------------------------------------- run time

_WRITABLE_TYPES = (dict, list, set, bytearray, SimpleNamespace)


def _guarded_write(ob: Any) -> Any:
    """Target of `x[k] = …`, `x.a = …`, `del x[k]`: plain data containers only."""
    if isinstance(ob, _WRITABLE_TYPES):
        return ob
    if dataclasses.is_dataclass(ob) and not isinstance(ob, type):
        return ob
    raise SandboxError(f"modification interdite d'un objet de type « {type(ob).__name__} »")


def _guarded_getattr(ob: Any, name: str) -> Any:
    """Attribute read. The compile-time check already saw the (constant) name; this is the
    second line for `str.format` and anything a future transformer change might let through."""
    if name[0] == "_" or name in FORBIDDEN_ATTRIBUTES:
        raise SandboxError(f"l'attribut « .{name} » est interdit")
    if name in GROWING_TEXT_METHODS and isinstance(ob, (str, bytes, bytearray)):
        return guarded_text_method(ob, name, getattr(ob, name))
    return getattr(ob, name)


_INPLACE_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "%=": operator.imod, "**=": operator.ipow, "<<=": operator.ilshift,
    ">>=": operator.irshift, "|=": operator.ior, "^=": operator.ixor, "&=": operator.iand,
    "//=": operator.ifloordiv, "@=": operator.imatmul,
}


_INPLACE_OPS.update(INPLACE_GUARDS)  # `s += s` checked like `s = s + s` (result size, not in place)


def _inplacevar(op: str, x: Any, y: Any) -> Any:
    return _INPLACE_OPS[op](x, y)


def _inplaceitem(ob: Any, key: Any, op: str, value: Any) -> None:
    target = _guarded_write(ob)
    target[key] = _INPLACE_OPS[op](ob[key], value)


def _apply(func: Callable, *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


class _PrintSink:
    """`print` inside a script writes here, never to stdout; `printed` reads it back."""

    def __init__(self, _getattr_: Any = None):
        self.parts: list[str] = []
        self.size = 0

    def write(self, text: str) -> None:
        if self.size < PRINT_LIMIT:
            text = text[: PRINT_LIMIT - self.size]
            self.parts.append(text)
            self.size += len(text)

    def __call__(self) -> str:
        return "".join(self.parts)

    def _call_print(self, *objects: Any, **kwargs: Any) -> None:
        kwargs.pop("file", None)  # no writing to another stream
        kwargs.pop("flush", None)
        print(*objects, file=self, **kwargs)


_BUILTIN_NAMES = (
    # conversions and constructors
    "bool", "int", "float", "complex", "str", "list", "dict", "set", "frozenset", "tuple",
    "range", "slice",
    # iteration and aggregation (RestrictedPython leaves these out because they iterate in
    # C past `_getiter_`; our `_getiter_` is plain `iter`, so nothing is bypassed)
    "len", "min", "max", "sum", "sorted", "reversed", "any", "all", "enumerate", "zip",
    "map", "filter", "iter", "next",
    # numbers and text
    "abs", "round", "divmod", "pow", "chr", "ord", "hex", "oct", "bin", "repr", "hash",
    "isinstance", "issubclass", "callable",
    # exceptions a script may raise or catch (not BaseException/SystemExit/KeyboardInterrupt:
    # the engine only turns `Exception` into an incident)
    "Exception", "ArithmeticError", "AssertionError", "AttributeError", "IndexError",
    "KeyError", "LookupError", "NameError", "NotImplementedError", "OverflowError",
    "RuntimeError", "StopIteration", "TypeError", "ValueError", "ZeroDivisionError",
)

SAFE_BUILTINS: dict[str, Any] = {name: getattr(builtins, name) for name in _BUILTIN_NAMES}
SAFE_BUILTINS.update(datetime=datetime, date=date, timedelta=timedelta, timezone=timezone,
                     pow=guarded_pow, range=guarded_range)

# C code imports through the *calling frame's* builtins: `datetime.strftime` does
# `import time`, `datetime.strptime` does `import _strptime`. Scripts cannot name
# `__import__` (underscore), so this only serves those internal imports.
_INTERNAL_IMPORTS = frozenset({"time", "_strptime"})


def _internal_import(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 0 and name in _INTERNAL_IMPORTS:
        return builtins.__import__(name, globals, locals, fromlist, level)
    raise SandboxError(f"import interdit : « {name} »")


SAFE_BUILTINS["__import__"] = _internal_import

# Names the transformed code calls. They go into the namespace *after* task data, so a task
# data key can never replace a guard (scripts themselves cannot name them: `_` prefix).
_GUARDS: dict[str, Any] = {
    "__builtins__": SAFE_BUILTINS,
    "_getattr_": _guarded_getattr,
    "_getitem_": operator.getitem,
    "_write_": _guarded_write,
    "_getiter_": iter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_inplacevar_": _inplacevar,
    "_inplaceitem_": _inplaceitem,
    "_apply_": _apply,
    "_print_": _PrintSink,
    "_mul_": guarded_mul,
    "_pow_": guarded_pow,
    "_lshift_": guarded_lshift,
    "_add_": guarded_add,
}
_SCRIPT_LOCALS = frozenset({"_print"})  # created by the transformed module itself


def _check_helper_name(name: str) -> None:
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        raise ValueError(f"nom de fonction auxiliaire invalide : {name!r}")


class RestrictedEnvironment(TaskDataEnvironment):
    """Drop-in replacement for `TaskDataEnvironment` that runs code through the sandbox.

    Same data contract as SpiffWorkflow: task data variables are plain names, a script's
    new or changed variables stay in task data, helpers/builtins/functions do not, and a
    task data key shadowing a helper makes `execute` fail fast (`check_for_overwrite`).
    """

    def __init__(self, helpers: dict[str, Callable] | None = None, limits: Limits | None = None):
        super().__init__({})
        self.limits = limits or Limits()
        for name, func in (helpers or {}).items():
            self.register(name, func)

    def register(self, name: str, func: Callable) -> None:
        """Make `func` callable as `name(...)` from scripts and expressions."""
        _check_helper_name(name)
        if not callable(func):
            raise TypeError(f"la fonction auxiliaire « {name} » n'est pas appelable")
        self.globals[name] = func

    def evaluate(self, expression: str, context: dict, external_context: dict | None = None):
        code = compile_script(expression, "eval")
        self._prepare_context(context)
        namespace = {**self.globals, **(external_context or {}), **context, **_GUARDS}
        return self.limits.run(lambda: eval(code, namespace))

    def execute(self, script: str, context: dict, external_context: dict | None = None):
        code = compile_script(script, "exec")  # refuses before touching task data
        external_context = external_context or {}
        self.check_for_overwrite(context, external_context)
        self._prepare_context(context)
        # Run in the task data dict itself, as SpiffWorkflow does: no copy-back needed and
        # in-place mutation of data containers is visible to the workflow.
        context.update(self.globals)
        context.update(external_context)
        context.update(_GUARDS)
        try:
            self.limits.run(lambda: exec(code, context))
        except Exception as err:
            _stringify_first_arg(err)
            raise
        finally:
            sink = context.get("_print")
            if isinstance(sink, _PrintSink) and sink.size:
                log.debug("print d'un script : %s", sink())
            self._remove_globals_and_functions_from_context(context, external_context)
        return True

    def _remove_globals_and_functions_from_context(self, context, external_context=None):
        """Strip guards, builtins, helpers, external context and any callable from task data."""
        for key in list(context):
            if (key in _GUARDS or key in _SCRIPT_LOCALS or key in self.globals
                    or (external_context and key in external_context)
                    or callable(context[key])):
                del context[key]


def _stringify_first_arg(err: Exception) -> None:
    """SpiffWorkflow 3.2 builds its incident text with `name + ":" + err.args[0]` and dies
    with a TypeError when that is not a str (`d[5]` → KeyError(5)), losing the task."""
    if err.args and not isinstance(err.args[0], str):
        try:
            err.args = (repr(err.args[0]),) + err.args[1:]
        except Exception:  # pragma: no cover - exotic exception types
            pass


def make_script_engine(helpers: dict[str, Callable] | None = None) -> PythonScriptEngine:
    """A SpiffWorkflow script engine whose scripts and expressions run in the sandbox."""
    return PythonScriptEngine(environment=RestrictedEnvironment(helpers))
