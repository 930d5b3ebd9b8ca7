"""Warm and cold runs of a procedure scenario. Warm: one Runtime for the whole scenario. Cold: a
new Runtime (empty caches, nothing in memory) for every operation, as each `arsflow` command and
each worker restart does. A scenario must give the same result both ways."""
from __future__ import annotations

from arsflow.engine.config import Settings
from arsflow.engine.runtime import Runtime


class ColdRuntime:
    """Every attribute access builds a fresh Runtime on the same database and clock."""

    def __init__(self, database, clock, territory="75", timezone="Europe/Paris", services=None):
        self._database, self._clock, self._services = database, clock, services
        self._settings = Settings(database_url=database.url, territory=territory, timezone=timezone)

    def fresh(self) -> Runtime:
        """`services`: handlers registered by the test, as an installed plugin registers them
        in every process."""
        return Runtime(self._database, self._settings, clock=self._clock, services=self._services)

    def __getattr__(self, name):
        return getattr(self.fresh(), name)


def runtime_for(mode: str, runtime, database, clock):
    """Warm: the one runtime. Cold: a fresh runtime per operation; on SQLite, each operation is
    also replayed on a warm runtime over a copy of the database and the two must agree after
    every step (tests/twin.py)."""
    if mode == "warm":
        return runtime
    if database.url.startswith("sqlite:///"):
        from tests.twin import Twin
        return Twin(database, clock)
    return ColdRuntime(database, clock, services=runtime.services)
