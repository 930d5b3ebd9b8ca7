"""Database engine and transactions: one `transaction()` per state change."""
from __future__ import annotations

import logging
from contextlib import contextmanager

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
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
    return create_engine(url, pool_pre_ping=True)


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
    def read(self):
        session: Session = self.sessionmaker()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    def dispose(self):
        self.engine.dispose()
