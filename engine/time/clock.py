"""The one clock every engine operation reads.

SpiffWorkflow reads the wall clock itself; arsflow's timer definitions read this instead,
so a test or `--now` can drive deadlines to the exact instant.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone


def ensure_utc(value: datetime) -> datetime:
    """Aware UTC datetime; a naive value is taken as UTC (the storage convention)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


class Clock:
    def now(self) -> datetime:  # pragma: no cover - interface
        raise NotImplementedError


class SystemClock(Clock):
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FixedClock(Clock):
    """A clock that only moves when told to (tests, `--now`, simulations)."""

    def __init__(self, at: datetime | str):
        self.set(at)

    def set(self, at: datetime | str) -> None:
        if isinstance(at, str):
            at = datetime.fromisoformat(at)
        self._now = ensure_utc(at)

    def advance(self, delta: timedelta | None = None, **kwargs) -> datetime:
        self._now += delta if delta is not None else timedelta(**kwargs)
        return self._now

    def now(self) -> datetime:
        return self._now
