"""What the bench scripts share: a throw-away PostgreSQL schema per run, and where the
shared benchmark diagram lives (one copy of each, so the scripts cannot drift apart)."""
from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent


def shared_flow() -> Path:
    """`shared/bench/flow.bpmn`, beside the checkout or one of its parents (worktrees sit deeper)."""
    for folder in ROOT.parents:
        candidate = folder / "shared" / "bench" / "flow.bpmn"
        if candidate.exists():
            return candidate
    return ROOT.parent / "shared" / "bench" / "flow.bpmn"


def fresh_postgres(url: str, prefix: str = "bench") -> tuple[str, callable]:
    """A new schema on the server at `url`: the URL that uses it, and a function dropping it."""
    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in url else "?"

    def drop():
        with admin.connect() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
    return f"{url}{sep}options=-csearch_path%3D{schema}", drop
