"""Drive a scenario warm (one runtime) or cold (a new runtime, new database engine and empty
caches for every operation), as `arsflow` commands and restarted servers do."""
from __future__ import annotations

import pytest

from arsflow.engine.config import Settings
from arsflow.engine.db import Database
from arsflow.engine.runtime import Runtime


@pytest.fixture(params=["warm", "cold"])
def rt(request, runtime, clock):
    """`rt()` gives the runtime for the next operation."""
    if request.param == "warm":
        yield lambda: runtime
        return
    made = []

    def fresh():
        fresh_runtime = Runtime(Database(runtime.db.url), Settings(database_url=runtime.db.url, territory="75",
                                                                   timezone="Europe/Paris"), clock=clock)
        made.append(fresh_runtime)
        return fresh_runtime
    yield fresh
    for each in made:
        each.db.dispose()
