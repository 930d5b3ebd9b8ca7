"""The scripts' bounds (engine.bpmn.script_limits) applied to the tags of letter templates.

A template is data a deployer edits: a tag such as `{{ 'x' * 10**10 }}` (docx, Jinja) or
`<'x' * 10**10>` (odt, Genshi) must become an incident on the `document` element, not a worker
frozen or out of memory. As for scripts, two mechanisms:

1. static guards before the work: Jinja's sandbox routes `*`, `**`, `+` through `call_binop`
   and every call through `call` (the growing `str` methods), and the width-taking filters are
   wrapped; Genshi's expressions are compiled, while an arsflow template is built or filled, by a
   transformer that turns `a * b`, `a ** b`, `a + b`, `a << b` into the same guards, and its
   name lookup gives the sandbox's builtins (guarded `range`, `pow`) instead of Python's.
2. the watchdog (`Limits.run`): the time limit and memory budget of scripts.
"""
from __future__ import annotations

import ast
import functools
from contextvars import ContextVar

from arsflow.engine.bpmn.script_limits import (GROWING_TEXT_METHODS, MAX_SEQUENCE, Limits, ScriptLimitExceeded,
                                               guarded_add, guarded_lshift, guarded_mul, guarded_pow,
                                               guarded_text_method)

_BINOPS = {"*": guarded_mul, "**": guarded_pow, "+": guarded_add}


def _check(size: int, what: str) -> None:
    if size > MAX_SEQUENCE:
        raise ScriptLimitExceeded(f"valeur trop grande : {what} (limite : {MAX_SEQUENCE:,} éléments)".replace(",", " "))


def jinja_environment():
    """Jinja's sandbox whose operators, calls and widening filters are size-checked."""
    from jinja2 import pass_eval_context
    from jinja2.filters import do_center, do_indent, do_replace, sync_do_join
    from jinja2.sandbox import SandboxedEnvironment

    class BoundedEnvironment(SandboxedEnvironment):
        intercepted_binops = frozenset(_BINOPS)

        def call_binop(self, context, operator, left, right):
            guard = _BINOPS.get(operator)
            return guard(left, right) if guard else super().call_binop(context, operator, left, right)

        def call(self, context, obj, /, *args, **kwargs):
            owner = getattr(obj, "__self__", None)
            name = getattr(obj, "__name__", "")
            if name in GROWING_TEXT_METHODS and isinstance(owner, (str, bytes, bytearray)):
                obj = guarded_text_method(owner, name, obj)
            return super().call(context, obj, *args, **kwargs)

    def center(value, width=80):
        _check(int(width), f"center({width})")
        return do_center(value, width)

    def indent(s, width=4, first=False, blank=False):
        lines = str(s).count("\n") + 1
        _check(len(str(s)) + lines * (len(width) if isinstance(width, str) else int(width)), "indent")
        return do_indent(s, width, first, blank)

    @pass_eval_context
    def replace(eval_ctx, s, old, new, count=None):
        hits = str(s).count(str(old)) if old else len(str(s)) + 1
        hits = hits if count is None else min(hits, int(count))
        _check(len(str(s)) + hits * max(0, len(str(new)) - len(str(old))), "replace")
        return do_replace(eval_ctx, s, old, new, count)

    @pass_eval_context
    def join(eval_ctx, value, d="", attribute=None):
        items = list(value)
        _check(sum(len(i) for i in items if isinstance(i, str)) + len(d) * len(items), "join")
        return sync_do_join(eval_ctx, items, d, attribute)

    env = BoundedEnvironment(autoescape=True)
    env.filters.update(center=center, indent=indent, replace=replace, join=join)
    return env


# --------------------------------------------------------------------------- Genshi (odt)

_GUARD_NAMES = {ast.Mult: "_mul_", ast.Pow: "_pow_", ast.Add: "_add_", ast.LShift: "_lshift_"}
_GUARDS = {"_mul_": guarded_mul, "_pow_": guarded_pow, "_add_": guarded_add, "_lshift_": guarded_lshift}
_building = ContextVar("arsflow_genshi_guarded", default=False)
_installed = False


def install_genshi_guards() -> None:
    """Genshi passes no transformer to the expressions its directives compile: its module's
    default is replaced by a subclass that guards operators only while `guarded_compile()` is
    on (any other Genshi template in the process compiles as before)."""
    global _installed
    if _installed:
        return
    from genshi.template import eval as genshi_eval

    base = genshi_eval.ExpressionASTTransformer

    class GuardedTransformer(base):
        def visit_BinOp(self, node):
            guard = _GUARD_NAMES.get(type(node.op))
            if guard is None or not _building.get():
                return super().visit_BinOp(node)
            call = ast.Call(func=ast.Name(id=guard, ctx=ast.Load()), args=[node.left, node.right], keywords=[])
            return self.visit(ast.copy_location(call, node))

    genshi_eval.ExpressionASTTransformer = GuardedTransformer
    _installed = True


class guarded_compile:
    """`with guarded_compile(): …`: expressions Genshi compiles meanwhile (when the template
    is built, and lazily while it renders) call the guards."""

    def __enter__(self):
        install_genshi_guards()
        self._token = _building.set(True)

    def __exit__(self, *exc):
        _building.reset(self._token)


@functools.cache
def genshi_lookup():
    """Strict lookup (a missing variable is an error) whose builtins are the sandbox's."""
    from genshi.template.eval import UNDEFINED, StrictLookup

    from arsflow.engine.bpmn.sandbox import SAFE_BUILTINS

    builtins = {name: value for name, value in SAFE_BUILTINS.items() if not name.startswith("_")}

    class BoundedLookup(StrictLookup):
        @classmethod
        def lookup_name(cls, data, name):
            if name in _GUARDS:  # tags cannot name `_…` (refused by the sandbox check)
                return _GUARDS[name]
            value = data.get(name, UNDEFINED)
            if value is UNDEFINED:
                value = builtins.get(name, UNDEFINED)
            return cls.undefined(name) if value is UNDEFINED else value

        @classmethod
        def lookup_attr(cls, obj, key):
            value = super().lookup_attr(obj, key)
            if key in GROWING_TEXT_METHODS and isinstance(obj, (str, bytes, bytearray)):
                return guarded_text_method(obj, key, value)
            return value

    return BoundedLookup


def bounded(limits: Limits | None, func):
    """`func()` under the scripts' time and memory limits (none given: the defaults)."""
    return (limits or Limits()).run(func)
