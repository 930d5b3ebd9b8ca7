"""Password guessing slowed down: per account and per client address, growing delays.

After `FREE` failures in a row for a key (an account, or an address), each further failure
locks that key for `BASE` seconds, doubled at each failure, up to `MAX` (so 40 guesses take
hours, not seconds). A success clears the account's counter, not the address's. While a key
is locked the login is answered 429 with `Retry-After`, before the password is even
checked. Counters live in the process (one `serve` process per database in the supported
set-ups); a restart forgets them, which only restarts the delays.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

FREE = 5
BASE = 1.0
MAX = 900.0
FORGET_AFTER = 3600.0  # a key with no failure for an hour starts afresh


@dataclass
class _State:
    failures: int = 0
    locked_until: float = 0.0
    last: float = 0.0


class Throttle:
    def __init__(self, free: int = FREE, base: float = BASE, maximum: float = MAX, clock=time.monotonic):
        self.free, self.base, self.maximum, self.clock = free, base, maximum, clock
        self._states: dict[str, _State] = {}
        self._lock = threading.Lock()

    @staticmethod
    def keys(login: str | None, address: str | None) -> list[str]:
        keys = [f"adresse:{address or '?'}"]
        if login:
            keys.append(f"compte:{login.strip().lower()[:128]}")
        return keys

    def retry_after(self, keys: list[str]) -> int | None:
        """Seconds to wait before trying again, or None when a try is allowed now."""
        now = self.clock()
        with self._lock:
            wait = max((s.locked_until - now for k in keys if (s := self._states.get(k))), default=0)
        return math.ceil(wait) if wait > 0 else None

    def failure(self, keys: list[str]) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                state = self._states.get(key)
                if state is None or now - state.last > FORGET_AFTER:
                    state = self._states[key] = _State()
                state.failures += 1
                state.last = now
                extra = state.failures - self.free
                if extra > 0:
                    state.locked_until = now + min(self.base * 2 ** (extra - 1), self.maximum)
            if len(self._states) > 100_000:  # bounded memory under a spray of addresses
                for key in [k for k, s in self._states.items() if now - s.last > FORGET_AFTER]:
                    del self._states[key]

    def success(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                if key.startswith("compte:"):
                    self._states.pop(key, None)


def get(app=None) -> Throttle:
    from flask import current_app
    app = app or current_app
    throttle = app.extensions.get("arsflow_throttle")
    if throttle is None:
        throttle = app.extensions["arsflow_throttle"] = Throttle(
            free=int(app.config.get("ARSFLOW_LOGIN_FREE_FAILURES", FREE)),
            base=float(app.config.get("ARSFLOW_LOGIN_DELAY_BASE", BASE)),
            maximum=float(app.config.get("ARSFLOW_LOGIN_DELAY_MAX", MAX)))
    return throttle


def check_password_login(session, login: str, password: str, address: str | None):
    """The account for (login, password), with throttling: returns (user, retry_after).
    `retry_after` set means refused without checking (429)."""
    from arsflow.engine.people import users as users_module
    throttle = get()
    keys = Throttle.keys(login, address)
    wait = throttle.retry_after(keys)
    if wait:
        return None, wait
    user = users_module.authenticate(session, login, password)
    if user is None:
        throttle.failure(keys)
    else:
        throttle.success(keys)
    return user, None
