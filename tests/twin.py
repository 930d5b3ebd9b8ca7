"""Cold and warm, side by side, compared after every operation.

`Twin` gives a scenario test the cold runtime (a new Runtime, empty caches, for every
operation, as each `arsflow` command is a new process) and replays each operation on a warm
runtime (one Runtime for the whole scenario) over a copy of the database taken when the
scenario starts. After every call, the result and what each database shows of every instance
(state, incident, variables, open tasks, timers, external tasks, history) must be the same:
the first divergence fails the test at the step that caused it.

Task ids are SpiffWorkflow's random UUIDs, so the two databases name the same task
differently: ids are paired in the order tasks were created (then by element, name and
properties) and the warm side's are written as the cold side's before comparing.
"""
from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime
from pathlib import Path

from arsflow.engine.config import Settings
from arsflow.engine.db import Database
from arsflow.engine.runtime import Runtime
from sqlalchemy import text

from tests.procedure_support import ColdRuntime

# human tasks and external tasks: what pairs a cold id with a warm one
_TASK_KEYS = ("SELECT id, instance_id, created_at, element_id, name, properties FROM human_tasks "
              "ORDER BY instance_id, created_at, element_id, name, rowid")
_HISTORY_KEYS = ("SELECT id, instance_id, seq, activity_id, NULL, NULL FROM activity_history "
                 "ORDER BY instance_id, seq, rowid")
_TIMER_KEYS = ("SELECT id, instance_id, due_at, element_id, NULL, NULL FROM timers "
               "ORDER BY instance_id, due_at, element_id, rowid")
_EXTERNAL_KEYS = ("SELECT id, instance_id, created_at, element_id, topic, NULL FROM external_tasks "
                  "ORDER BY instance_id, created_at, element_id, rowid")


def sqlite_copy(url: str, suffix: str) -> str:
    """A consistent copy of a SQLite database (WAL included), as a new URL."""
    source = url.removeprefix("sqlite:///")
    target = str(Path(source).with_suffix(suffix))
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return "sqlite:///" + target


class Twin:
    def __init__(self, database, clock, territory="75", timezone="Europe/Paris"):
        from arsflow.engine.services import default_registry
        self.services = default_registry()  # one registry for both sides, as a plugin's in every process
        self.cold = ColdRuntime(database, clock, territory, timezone, services=self.services)
        self._cold_db = database
        self._settings = (territory, timezone)
        self._warm_db = self.warm = None
        self._stale = True  # the warm copy is taken at the first operation
        self.ids: dict[str, str] = {}  # cold id -> warm id
        self.steps = 0

    def _sync(self):
        """(Re)take the warm side's database from the cold one: at the first operation, and
        after the test wrote through `db` or `definitions` (a deployment, a user) between two
        operations. The warm runtime (and its caches) stays the same object."""
        if self._warm_db is None:
            self._warm_db = Database(sqlite_copy(self._cold_db.url, ".warm.db"))
            territory, timezone = self._settings
            self.warm = Runtime(self._warm_db, Settings(database_url=self._warm_db.url, territory=territory,
                                                        timezone=timezone), clock=self.cold.fresh().clock,
                                services=self.services)
        else:
            self._warm_db.dispose()
            sqlite_copy(self._cold_db.url, ".warm.db")
        self.ids = {}
        self._stale = False

    # -- the runtime's surface ---------------------------------------------------------------
    def __getattr__(self, name):
        if name == "external_tasks":
            return _Side(self, lambda rt: rt.external_tasks)
        return _Side(self, lambda rt: rt).__getattr__(name)

    def close(self):
        if self._warm_db is not None:
            self._warm_db.dispose()

    # -- comparison ----------------------------------------------------------------------------
    def call(self, target, name, args, kwargs):
        if self._stale:
            self._sync()
        cold_error = warm_error = None
        try:
            cold_result = getattr(target(self.cold.fresh()), name)(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - the warm side must fail alike
            cold_error, cold_result = err, None
        self._pair()
        try:
            warm_result = getattr(target(self.warm), name)(*_swap(args, self.ids), **_swap(kwargs, self.ids))
        except Exception as err:  # noqa: BLE001
            warm_error, warm_result = err, None
        self._pair()
        self.steps += 1
        where = f"étape {self.steps} ({name})"
        if (cold_error is None) != (warm_error is None) or (
                cold_error is not None and type(cold_error) is not type(warm_error)):
            raise AssertionError(f"{where} : à froid {cold_error!r}, à chaud {warm_error!r}")
        if cold_error is not None:
            raise cold_error
        cold_text, warm_text = self._norm(cold_result, cold=True), self._norm(warm_result)
        if cold_text != warm_text:
            raise AssertionError(f"{where} : résultats différents\n{_first_difference(cold_text, warm_text)}")
        cold_state, warm_state = self.snapshot(self._cold_db), self.snapshot(self._warm_db)
        if self._norm(warm_state) != self._norm(cold_state, cold=True):
            raise AssertionError(f"{where} : à froid et à chaud divergent\n{_first_difference(self._norm(cold_state, cold=True), self._norm(warm_state))}")
        return cold_result

    def _pair(self):
        """Pair tasks created since the last call, in creation order."""
        for query in (_TASK_KEYS, _EXTERNAL_KEYS, _HISTORY_KEYS, _TIMER_KEYS):
            cold_rows = _rows(self._cold_db, query)
            warm_rows = _rows(self._warm_db, query)
            mapped_warm = set(self.ids.values())
            pending = [r for r in warm_rows if r[0] not in mapped_warm]
            for row in cold_rows:
                if row[0] in self.ids:
                    continue
                for i, candidate in enumerate(pending):
                    if candidate[1:] == row[1:]:
                        self.ids[row[0]] = candidate[0]
                        del pending[i]
                        break

    def snapshot(self, db) -> dict:
        rt = Runtime(db, Settings(database_url=db.url, territory="75", timezone="Europe/Paris"),
                     clock=self.cold.fresh().clock)
        with db.read() as s:
            ids = [r[0] for r in s.execute(text("SELECT id FROM instances ORDER BY id"))]
        state = {}
        for iid in ids:
            shown = rt.show(iid)
            state[iid] = {key: shown.get(key) for key in ("state", "incident", "variables", "ended_at", "business_key")}
            state[iid]["tasks"] = sorted(
                [(t["element_id"], t["name"], t["state"], t.get("assignee"), t.get("due_at"),
                  json.dumps(t.get("properties"), sort_keys=True)) for t in shown["tasks"]])
            state[iid]["timers"] = sorted((t["element_id"], t["due_at"], t["status"], t["fired_at"])
                                          for t in shown["timers"])
            state[iid]["external"] = sorted(json.dumps(e, sort_keys=True, default=str)
                                            for e in shown["external_tasks"])
            state[iid]["history"] = sorted((a.get("at") or "", a["action"], a.get("element_id") or "",
                                            a.get("actor") or "") for a in shown["audit"])
        return state

    def _norm(self, value, cold: bool = False):
        """JSON text with warm ids written as their cold twins."""
        textual = json.dumps(value, sort_keys=True, default=_default)
        if not cold:
            for cold_id, warm_id in self.ids.items():
                textual = textual.replace(warm_id, cold_id)
        return json.dumps(_canonical(json.loads(textual)), sort_keys=True)


class _Side:
    def __init__(self, twin: Twin, target):
        self._twin, self._target = twin, target

    def __getattr__(self, name):
        probe = getattr(self._target(self._twin.cold.fresh()), name)
        if name == "now":  # the clock, read inside a setup transaction (deploy fixture)
            return probe
        if not callable(probe) or name in ("definitions", "db"):
            if name in ("definitions", "db"):
                self._twin._stale = True  # the test may write there: the warm side follows
            return probe
        return lambda *args, **kwargs: self._twin.call(self._target, name, args, kwargs)


def _rows(db, query):
    with db.read() as s:
        return [tuple(str(v) if v is not None else None for v in row) for row in s.execute(text(query))]


def _swap(value, ids: dict):
    if isinstance(value, str):
        return ids.get(value, value)
    if isinstance(value, (list, tuple)):
        return type(value)(_swap(v, ids) for v in value)
    if isinstance(value, dict):
        return {k: _swap(v, ids) for k, v in value.items()}
    return value


def _canonical(value):
    """Lists of records with an id (tasks, timers) in a stable order: ties in a query's order
    (same due date) fall back on the ids, which differ from one database to the other."""
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_canonical(v) for v in value]
        if items and all(isinstance(v, dict) and "id" in v for v in items):
            items.sort(key=lambda v: json.dumps(v, sort_keys=True))
        elif items and all(isinstance(v, dict) and "action" in v and "at" in v for v in items):
            # history: in time order; within one instant (one operation), as a set (the
            # engine lists what one step cancelled by task id)
            items.sort(key=lambda v: (v["at"] or "", json.dumps(v, sort_keys=True)))
        return items
    return value


def _default(obj):
    if isinstance(obj, (date, datetime)):
        return obj.isoformat()
    return repr(obj)


def _first_difference(cold: str, warm: str) -> str:
    at = next((i for i, (a, b) in enumerate(zip(cold, warm)) if a != b), min(len(cold), len(warm)))
    return f"à froid : …{cold[max(at - 200, 0):at + 200]}…\nà chaud : …{warm[max(at - 200, 0):at + 200]}…"
