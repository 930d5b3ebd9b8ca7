"""Time and memory bounds for the scripts and expressions process owners write.

A runaway script must become an incident on its element, not a frozen worker, a frozen web
server or a row lock held for ever. Two mechanisms, both in-process so that cheap
expressions stay cheap (a fork per evaluation would cost more than the whole engine step):

1. Static guards (`_pow_`, `_mul_`, `_lshift_`, `_add_`, `range`, the growing `str` methods):
   the sandbox's AST policy routes these operators through functions that refuse, before any
   work is done, a result larger than `MAX_SEQUENCE` items or `MAX_INT_BITS` bits. This is
   what stops `7 ** (10**8)` or `'x' * 2*10**9`: a single C call that holds the GIL and that
   no timer could interrupt.
2. A watchdog thread: each evaluation registers its thread and deadline; past the deadline,
   or when the process grew by more than the memory budget while it runs, the watchdog
   raises `_Interrupt` inside that thread (CPython's `PyThreadState_SetAsyncExc`, delivered
   between two bytecodes). The evaluation then fails with `ScriptLimitExceeded`, which
   SpiffWorkflow turns into an incident like any script error.

Not covered: a single C-level call that runs long on inputs within the guards (sorting ten
million items takes about a second). `ARSFLOW_MEMORY_LIMIT_MB` adds a hard process-wide cap
(RLIMIT_AS) for deployments that want one: allocations past it raise `MemoryError`.
"""
from __future__ import annotations

import ctypes
import math
import operator
import os
import resource
import threading
import time
from typing import Any, Callable

MAX_SEQUENCE = 10_000_000  # characters, bytes or items in one value built by a script
MAX_INT_BITS = 1_000_000  # about 300,000 decimal digits
DEFAULT_TIMEOUT = 5.0
DEFAULT_MEMORY_MB = 512
POLL = 0.05  # seconds between two watchdog checks while an evaluation runs


class ScriptLimitExceeded(Exception):
    """A script or expression ran too long, used too much memory, or would have built a
    value too large. A plain Exception: SpiffWorkflow makes it an incident on the element."""


class _Interrupt(BaseException):
    """Raised inside the runaway thread; a BaseException so `except Exception` in a script
    cannot swallow it (and a bare `except:` only delays it: it is raised again)."""


# --------------------------------------------------------------------------- static guards

def _too_big(what: str) -> ScriptLimitExceeded:
    return ScriptLimitExceeded(f"valeur trop grande : {what} (limite : {MAX_SEQUENCE:,} éléments ou "
                               f"{MAX_INT_BITS:,} bits)".replace(",", " "))


def _sized(value: Any) -> bool:
    return isinstance(value, (str, bytes, bytearray, list, tuple))


def guarded_pow(base: Any, exponent: Any, modulo: Any = None) -> Any:
    if modulo is None and type(base) is int and type(exponent) is int and exponent > 1 and abs(base) > 1:
        if exponent * math.log2(abs(base)) > MAX_INT_BITS:
            raise _too_big(f"{base} ** {exponent}")
    if modulo is None:
        return base ** exponent
    return pow(base, exponent, modulo)


def guarded_mul(left: Any, right: Any) -> Any:
    if _sized(left) and isinstance(right, int) and len(left) * right > MAX_SEQUENCE:
        raise _too_big(f"répétition de {len(left)} éléments × {right}")
    if _sized(right) and isinstance(left, int) and len(right) * left > MAX_SEQUENCE:
        raise _too_big(f"répétition de {len(right)} éléments × {left}")
    if type(left) is int and type(right) is int and left.bit_length() + right.bit_length() > MAX_INT_BITS:
        raise _too_big("produit d'entiers")
    return left * right


def guarded_lshift(left: Any, right: Any) -> Any:
    if type(left) is int and type(right) is int and left and left.bit_length() + right > MAX_INT_BITS:
        raise _too_big(f"{left} << {right}")
    return left << right


def guarded_add(left: Any, right: Any) -> Any:
    if _sized(left) and _sized(right) and len(left) + len(right) > MAX_SEQUENCE:
        raise _too_big(f"concaténation de {len(left) + len(right)} éléments")
    return left + right


def _in_place(check: Callable, apply: Callable) -> Callable:
    """`x += y` keeps mutating lists in place; only the size check is borrowed."""
    def guarded(left, right):
        if _sized(left):
            _check_size(check, left, right)
        return apply(left, right)
    return guarded


def _check_size(check: Callable, left: Any, right: Any) -> None:
    if check is guarded_add and _sized(right):
        _check_len(len(left) + len(right), f"concaténation de {len(left) + len(right)} éléments")
    elif check is guarded_mul and isinstance(right, int):
        _check_len(len(left) * right, f"répétition de {len(left)} éléments × {right}")


INPLACE_GUARDS = {"+=": _in_place(guarded_add, operator.iadd), "*=": _in_place(guarded_mul, operator.imul),
                  "**=": guarded_pow, "<<=": guarded_lshift}


def guarded_range(*args: int) -> range:
    result = range(*args)
    if len(result) > MAX_SEQUENCE:
        raise _too_big(f"range de {len(result)} éléments")
    return result


def _check_len(size: int, what: str) -> None:
    if size > MAX_SEQUENCE:
        raise _too_big(what)


def _padding(method: Callable) -> Callable:
    def padded(width, *args):
        _check_len(int(width), f"{method.__name__}({width})")
        return method(width, *args)
    return padded


def guarded_text_method(text: Any, name: str, method: Callable) -> Callable:
    """`str`/`bytes` methods whose result can dwarf their input."""
    if name in ("ljust", "rjust", "center", "zfill"):
        return _padding(method)
    if name == "expandtabs":
        def expandtabs(tabsize=8):
            _check_len(len(text) + text.count("\t" if isinstance(text, str) else b"\t") * int(tabsize),
                       "expandtabs")
            return method(tabsize)
        return expandtabs
    if name == "replace":
        def replace(old, new, count=-1):
            hits = text.count(old) if old else len(text) + 1
            hits = hits if count < 0 else min(hits, count)
            _check_len(len(text) + hits * (len(new) - len(old)), "replace")
            return method(old, new, count)
        return replace
    if name == "join":
        def join(items):
            items = list(items)
            _check_len(sum(len(i) for i in items if _sized(i)) + len(text) * len(items), "join")
            return method(items)
        return join
    return method


GROWING_TEXT_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs", "replace", "join"})


# --------------------------------------------------------------------------- watchdog

_set_async_exc = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.py_object)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi))
_clear_async_exc = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi))  # NULL exception: drop a pending one


def _resident_bytes() -> int | None:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


get_ident = threading.get_ident
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class _Entry:
    __slots__ = ("timeout", "deadline", "memory", "baseline", "reason", "last_injection")

    def __init__(self, timeout: float | None, memory: int | None):
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout if timeout else math.inf
        self.memory = memory
        self.baseline: int | None = None
        self.reason: str | None = None
        self.last_injection = 0.0


class Watchdog:
    """One per process: evaluations register; a daemon thread checks them every `POLL`."""

    def __init__(self):
        self._active: dict[int, _Entry] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        if hasattr(os, "register_at_fork"):  # a forked child has no watchdog thread yet
            os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        self._thread = None
        self._active = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()

    def _start_thread(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="arsflow-script-watchdog", daemon=True)
                self._thread.start()

    def run(self, func: Callable[[], Any], timeout: float | None, memory_mb: int | None) -> Any:
        """`func()` under the bounds; nested evaluations run under the outer one's."""
        ident = get_ident()
        if ident in self._active or (not timeout and not memory_mb):
            return func()
        if self._thread is None:
            self._start_thread()
        entry = _Entry(timeout, memory_mb * 1024 * 1024 if memory_mb else None)
        self._active[ident] = entry
        if not self._wake.is_set():
            self._wake.set()
        try:
            try:
                return func()
            except _Interrupt:
                pass
            finally:
                # No Python-level call in here: an injected exception is only delivered at
                # function entry or a backward jump, and the pending one is cleared under
                # the lock the watchdog injects under.
                while True:
                    try:
                        with self._lock:
                            del self._active[ident]
                            if entry.reason is not None:
                                _clear_async_exc(ident, None)
                        break
                    except _Interrupt:
                        continue
                    except KeyError:
                        break
        except _Interrupt:
            pass
        raise ScriptLimitExceeded(entry.reason or "script interrompu")

    def _run(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(POLL)
            with self._lock:
                if not self._active:
                    self._wake.clear()
                    continue
                now = time.monotonic()
                resident = _resident_bytes() if any(e.memory for e in self._active.values()) else None
                for ident, entry in self._active.items():
                    if entry.reason is None:
                        if now > entry.deadline:
                            entry.reason = (f"durée maximale dépassée ({entry.timeout:g} s) : "
                                            "le script ou l'expression a été interrompu")
                        elif entry.memory and resident is not None:
                            if entry.baseline is None:
                                entry.baseline = resident
                            elif resident - entry.baseline > entry.memory:
                                entry.reason = (f"mémoire maximale dépassée (+{entry.memory // 2**20} Mo) : "
                                                "le script ou l'expression a été interrompu")
                    if entry.reason is not None and now - entry.last_injection > 0.5:
                        entry.last_injection = now
                        _set_async_exc(ident, _Interrupt)


WATCHDOG = Watchdog()


class Limits:
    """The bounds one runtime applies (settings `script_timeout`, `script_memory_mb`)."""

    __slots__ = ("timeout", "memory_mb")

    def __init__(self, timeout: float | None = DEFAULT_TIMEOUT, memory_mb: int | None = DEFAULT_MEMORY_MB):
        self.timeout = timeout
        self.memory_mb = memory_mb

    def run(self, func: Callable[[], Any]) -> Any:
        return WATCHDOG.run(func, self.timeout, self.memory_mb)


def apply_process_memory_limit(megabytes: int | None) -> None:
    """Hard cap on the process's address space (`ARSFLOW_MEMORY_LIMIT_MB`): past it any
    allocation fails with MemoryError, which a script turns into an incident."""
    if not megabytes:
        return
    limit = int(megabytes) * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
