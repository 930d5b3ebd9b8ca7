"""Shared fixtures: a fresh database per test on SQLite, and on PostgreSQL too when
ARSFLOW_TEST_POSTGRES_URL is set (each test in its own schema)."""
from __future__ import annotations

import os
import uuid

import pytest
from arsflow.engine.config import Settings
from arsflow.engine.db import Database
from arsflow.engine.migrate import upgrade
from arsflow.engine.people import users
from arsflow.engine.runtime import Runtime
from arsflow.engine.time.clock import FixedClock
from sqlalchemy import create_engine, text

POSTGRES_URL = os.environ.get("ARSFLOW_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


def _postgres_schema_url():
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}", admin, schema


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'arsflow.db'}"
        return
    url, admin, schema = _postgres_schema_url()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def clock():
    return FixedClock("2026-11-30T09:00:00+00:00")


@pytest.fixture
def database(db_url):
    db = Database(db_url)
    upgrade(db.engine)
    yield db
    db.dispose()


@pytest.fixture
def runtime(database, clock):
    return Runtime(database, Settings(database_url=database.url, territory="75", timezone="Europe/Paris"),
                   clock=clock)


@pytest.fixture
def make_user(runtime):
    def make(login, *groups, password="motdepasse-demo"):
        with runtime.db.transaction() as session:
            users.add_user(session, login, list(groups), password=password, now=runtime.now())
        return login
    return make


@pytest.fixture
def deploy(runtime):
    """Deploy files given as {name: text}; returns the DeployResult."""
    def do(files: dict, **kwargs):
        sources = [(name, content.encode() if isinstance(content, str) else content)
                   for name, content in files.items()]
        with runtime.db.transaction() as session:
            return runtime.definitions.deploy(session, sources, now=runtime.now(), **kwargs)
    return do


class Drive:
    """Drives a scenario warm (one runtime for every operation) or cold (a new Database and
    Runtime, so empty caches, for each operation, as each `arsflow` command is a new process)."""

    def __init__(self, mode, runtime, database, clock):
        self.mode, self._runtime, self._database, self.clock = mode, runtime, database, clock
        self._opened, self._twin = [], None
        self.twin = True  # False: plain cold (a scenario of thousands of steps, checked at its end)

    def runtime(self) -> Runtime:
        if self.mode == "warm":
            return self._runtime
        if self._database.url.startswith("sqlite:///") and self.twin:
            # cold, and each operation replayed warm on a copy: both must agree (tests/twin.py)
            if self._twin is None:
                from tests.twin import Twin
                self._twin = Twin(self._database, self.clock)
                self._twin.services = self._runtime.services
                self._twin.cold._services = self._runtime.services
            return self._twin
        for done in self._opened:  # the previous "process" has exited: its connections close
            done.dispose()
        db = Database(self._database.url)
        self._opened = [db]
        return Runtime(db, self._runtime.settings, clock=self.clock, services=self._runtime.services)

    def deploy(self, files: dict, **kwargs):
        rt = self.runtime()
        sources = [(name, content.encode() if isinstance(content, str) else content) for name, content in files.items()]
        with rt.db.transaction() as session:
            return rt.definitions.deploy(session, sources, now=rt.now(), **kwargs)

    def close(self):
        for db in self._opened:
            db.dispose()
        if self._twin is not None:
            self._twin.close()


@pytest.fixture(params=["warm", "cold"])
def drive(request, runtime, database, clock, make_user):
    for login, groups in (("alice", ["staff"]), ("bob", ["staff"]), ("carol", ["staff"]), ("a", ["staff"]),
                          ("b", ["staff"]), ("c", ["staff"]), ("d", ["staff"]), ("root", ["admins"])):
        make_user(login, *groups)
    driver = Drive(request.param, runtime, database, clock)
    yield driver
    driver.close()


@pytest.fixture
def rt(drive):
    """`rt()`: the runtime for the next operation, warm or cold (each cold operation also
    replayed warm and compared, on SQLite: tests/twin.py)."""
    return drive.runtime
