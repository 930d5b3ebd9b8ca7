"""The database layer without the pool's pre-ping: a connection the server closed is replaced
at checkout (no round trip per operation to find out), and writes sent as one pipeline
still fail as SQLAlchemy errors and roll back with their transaction."""
from __future__ import annotations

import select
import time

import pytest
from arsflow.engine.db import pipelined
from arsflow.engine.models import Deployment
from sqlalchemy import create_engine, func, insert, select as sql_select, text

from tests.conftest import POSTGRES_URL


def _wait_readable(fd: int) -> None:
    """The server's goodbye reaches the idle socket a moment after pg_terminate_backend."""
    for _ in range(200):
        if select.select([fd], [], [], 0.05)[0]:
            return
    pytest.fail("the terminated connection never heard from the server")


def test_a_connection_the_server_closed_is_replaced_at_checkout(database):
    if not database.is_postgres:
        pytest.skip("PostgreSQL: SQLite has no server to close a connection")
    with database.read() as session:
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar()
        fd = session.connection().connection.driver_connection.fileno()
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    finally:
        admin.dispose()
    _wait_readable(fd)
    with database.read() as session:  # without the checkout check: "terminating connection…"
        assert session.execute(text("SELECT pg_backend_pid()")).scalar() != pid


def test_pipelined_writes_fail_as_sqlalchemy_errors_and_roll_back(database):
    from sqlalchemy.exc import IntegrityError
    now = datetime_now()
    row = {"id": 4242, "name": "un", "source": None, "deployed_by": None, "created_at": now}
    with pytest.raises(IntegrityError):
        with database.transaction() as session:
            conn = session.connection()
            with pipelined(conn):
                conn.execute(insert(Deployment.__table__).inline(), [dict(row, name="premier")])
                conn.execute(insert(Deployment.__table__).inline(), [row])  # same id: refused
    with database.read() as session:
        assert session.scalar(sql_select(func.count()).select_from(Deployment)) == 0


def test_pipelined_writes_land_when_they_succeed(database):
    now = datetime_now()
    with database.transaction() as session:
        conn = session.connection()
        with pipelined(conn):
            conn.execute(insert(Deployment.__table__).inline(),
                         [{"name": f"d{i}", "source": None, "deployed_by": None, "created_at": now} for i in range(3)])
            conn.execute(insert(Deployment.__table__).inline(),
                         {"name": "d3", "source": None, "deployed_by": None, "created_at": now})
    with database.read() as session:
        assert session.scalars(sql_select(Deployment.name).order_by(Deployment.name)).all() == ["d0", "d1", "d2", "d3"]


def datetime_now():
    from datetime import datetime, timezone
    return datetime.fromtimestamp(time.time(), timezone.utc)
