"""Query plans of the hot pages, as the database runs them: every SELECT a page issues is
captured and EXPLAINed with its own parameters. Output is Markdown (docs/performance.md).

    python bench/load.py --n 10000 --keep /tmp/arsflow-load      # prints the database URL
    python bench/explain.py --db URL [--now 2026-12-01T08:00:00+00:00]
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from sqlalchemy import event

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from arsflow.engine.config import Settings  # noqa: E402
from arsflow.engine.db import Database  # noqa: E402
from arsflow.engine.runtime import Runtime  # noqa: E402
from arsflow.engine.time.clock import FixedClock  # noqa: E402
from arsflow.processes.demo import DEMO_PASSWORD  # noqa: E402

SKIP = re.compile(r"FROM (users|user_groups|process_definitions|alembic_version)\b|^SELECT 1$", re.S)


class Capture:
    def __init__(self, engine):
        self.statements: list = []
        event.listen(engine, "before_cursor_execute", self._on)

    def _on(self, conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and not SKIP.search(statement):
            self.statements.append((statement, parameters))


def explain(db: Database, statement: str, parameters) -> str:
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        if db.is_postgres:
            cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) " + statement, parameters)
            return "\n".join(r[0] for r in cursor.fetchall())
        cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
        return "\n".join(r[-1] for r in cursor.fetchall())
    finally:
        raw.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--now", default="2026-12-01T08:00:00+00:00")
    ap.add_argument("--staff", default="sophie.durand")
    ap.add_argument("--manager", default="claire.martin")
    args = ap.parse_args()
    from arsflow.web import create_app
    db = Database(args.db)
    rt = Runtime(db, Settings(database_url=args.db), clock=FixedClock(args.now))
    app = create_app(rt, config={"TESTING": True, "SECRET_KEY": "explain"})
    pages = [(args.staff, "/taches"), (args.staff, "/taches/groupes"), (args.manager, "/echeances"),
             (args.manager, "/api/v1/tasks")]
    capture = Capture(db.engine)
    print(f"# Query plans ({db.engine.dialect.name})\n")
    for login, path in pages:
        client = app.test_client()
        client.get("/connexion")
        with client.session_transaction() as session:
            token = session["csrf_token"]
        client.post("/connexion", data={"login": login, "password": DEMO_PASSWORD, "csrf_token": token})
        if path.startswith("/api/"):
            from arsflow.engine.people import users
            with db.transaction() as s:
                bearer = users.issue_api_token(s, login)
            client = app.test_client()
            headers = {"Authorization": f"Bearer {bearer}"}
        else:
            headers = {}
        capture.statements.clear()
        response = client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.status_code)
        print(f"## {path} ({login})\n")
        for statement, parameters in list(capture.statements):
            print("```sql\n" + re.sub(r"\s+", " ", statement).strip() + "\n```\n```\n"
                  + explain(db, statement, parameters) + "\n```\n")
    capture.statements.clear()
    rt.next_due()
    rt.notifier.scan_deadlines()
    print("## engine: next-due timer query, notifier scan\n")
    for statement, parameters in list(capture.statements):
        print("```sql\n" + re.sub(r"\s+", " ", statement).strip() + "\n```\n```\n"
              + explain(db, statement, parameters) + "\n```\n")


if __name__ == "__main__":
    main()
