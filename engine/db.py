"""Database engine and transactions: one `transaction()` per state change."""
from __future__ import annotations

import logging
import select
from contextlib import contextmanager

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            # WAL lets the web app read while the scheduler writes; NORMAL is durable at
            # each checkpoint and an order of magnitude cheaper than FULL per commit.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    engine = create_engine(url)
    # A list of rows is one multi-row INSERT (psycopg's executemany sends a statement per row).
    engine.dialect.use_insertmanyvalues_wo_returning = True
    event.listen(engine, "checkout", _drop_dead_connection)
    return engine


def _drop_dead_connection(dbapi_connection, _record, _proxy):
    """The pool's pre-ping without its round trip. The server never speaks to an idle
    connection unless it is closing it (restart, idle timeout, pg_terminate_backend: an
    error, then end of file), and arsflow does not LISTEN: an idle connection with something
    to read is discarded, and the pool hands out another (DisconnectionError makes it retry
    the checkout). A live one goes straight to its first statement."""
    if dbapi_connection.closed or dbapi_connection.broken:
        raise DisconnectionError("connection closed")
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN)
    if poller.poll(0):
        raise DisconnectionError("the server closed this connection")


@contextmanager
def pipelined(conn):
    """Writes whose results nobody reads (no RETURNING, no rowcount), sent one after the
    other without waiting for each reply: psycopg's pipeline mode, one round trip for the
    whole block when it ends. Errors surface there, as SQLAlchemy's (IntegrityError…).
    SQLite runs in process: the block runs as is."""
    if conn.dialect.name != "postgresql":
        yield
        return
    import psycopg
    try:
        with conn.connection.driver_connection.pipeline():
            yield
    except psycopg.Error as err:
        raise DBAPIError.instance(None, None, err, psycopg.Error, dialect=conn.dialect) from err


class Database:
    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self.after_commit: list = []  # callables run after each committed transaction (e.g. wake the mailer)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def transaction(self):
        """A session whose work commits as one transaction, or rolls back entirely."""
        session: Session = self.sessionmaker()
        try:
            with session.begin():
                yield session
        finally:
            session.close()
        for callback in list(self.after_commit):
            try:
                callback()
            except Exception:  # a callback never undoes or fails a committed change
                logging.getLogger("arsflow").exception("after-commit callback failed")

    @contextmanager
    def sweep_turn(self):
        """Yields whether this process may sweep timers now. SQLite runs one writer at a time:
        workers sweeping together only wait on each other's locks and redo each other's work,
        so one sweeps while the others skip their turn (an exclusive lock on a file beside the
        database). PostgreSQL workers sweep together, each firing the batch of due timers it
        claimed (engine.time.timer_claims)."""
        path = self.engine.url.database if self.engine.dialect.name == "sqlite" else None
        if not path or path == ":memory:":
            yield True
            return
        import fcntl
        with open(f"{path}.sweep-lock", "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextmanager
    def read(self):
        session: Session = self.sessionmaker()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    def dispose(self):
        self.engine.dispose()
