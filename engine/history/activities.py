"""Activity instances (Camunda's ACT_HI_ACTINST), written in the operation's own transaction.

Each operation loads the workflow, drives it, then `diff` compares it with what the
history table already holds (`projection["activities"]`: the open rows and when they
started) and with the task states seen at load time (`snapshot`). The result is one batched
INSERT for the activity instances that began (or began and ended) during the operation and
one batched UPDATE for the open ones that ended or were cancelled: no read back.

Why a snapshot and not SpiffWorkflow's `last_state_change`: that is the wall clock of
whichever process last touched the task; with several workers on several machines a
clock behind would record old activities twice.
"""
from __future__ import annotations

import json

from dataclasses import dataclass, field
from datetime import datetime, timezone

from SpiffWorkflow.task import TaskState
from sqlalchemy import bindparam

from arsflow.engine.models import ActivityInstance

ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
_TABLE = ActivityInstance.__table__

# SpiffWorkflow's spec descriptions (from the BPMN tag) -> Camunda's ActivityTypes.
_PLAIN = {
    "User Task": "userTask", "Task": "task", "Subprocess": "subProcess", "Manual Task": "manualTask",
    "Exclusive Gateway": "exclusiveGateway", "Parallel Gateway": "parallelGateway",
    "Inclusive Gateway": "inclusiveGateway", "Event Based Gateway": "eventBasedGateway",
    "Call Activity": "callActivity", "Transaction": "transaction", "Script Task": "scriptTask",
    "Service Task": "serviceTask", "Receive Task": "receiveTask", "Send Task": "sendTask",
    "Business Rule Task": "businessRuleTask",
}
_START = {"Timer": "startTimerEvent", "Message": "messageStartEvent", "Signal": "signalStartEvent",
          "Error": "errorStartEvent", "Escalation": "escalationStartEvent", "Conditional": "conditionalStartEvent"}
_END = {"Terminate": "terminateEndEvent", "Message": "messageEndEvent", "Error": "errorEndEvent",
        "Signal": "signalEndEvent", "Escalation": "escalationEndEvent", "Cancel": "cancelEndEvent"}
_CATCH = {"Timer": "intermediateTimer", "Message": "intermediateMessageCatch", "Signal": "intermediateSignalCatch",
          "Conditional": "intermediateConditional"}
_THROW = {"Message": "intermediateMessageThrowEvent", "Signal": "intermediateSignalThrow",
          "Escalation": "intermediateEscalationThrowEvent", "Default": "intermediateNoneThrowEvent"}
_BOUNDARY = {"Timer": "boundaryTimer", "Message": "boundaryMessage", "Signal": "boundarySignal",
             "Error": "boundaryError", "Escalation": "boundaryEscalation", "Conditional": "boundaryConditional",
             "Cancel": "cancelBoundaryCatch"}
_CONTAINERS = {"subProcess", "callActivity", "transaction", "multiInstanceBody", "adHocSubProcess"}
_LOOPS = {"ParallelMultiInstanceTask", "SequentialMultiInstanceTask", "StandardLoopTask"}
_CLASS_TYPES = {"BusinessRuleTask": "businessRuleTask", "EventSubprocess": "subProcess",
                "CallActivity": "callActivity", "UserTask": "userTask", "ScriptTask": "scriptTask"}


def activity_type(spec) -> str:
    """Camunda's activity type of a SpiffWorkflow task spec (`userTask`, `boundaryTimer`…)."""
    if _is_loop(spec):
        return "multiInstanceBody"
    description = spec.description or ""
    if description in _PLAIN:
        return _PLAIN[description]
    words = description.replace("Non-Interrupting ", "").replace("Interrupting ", "")
    for suffix, table, default in ((" Start Event", _START, "startEvent"), (" End Event", _END, "noneEndEvent"),
                                   (" Intermediate Catch Event", _CATCH, "intermediateCatchEvent"),
                                   (" Intermediate Throw Event", _THROW, "intermediateThrowEvent"),
                                   (" Boundary Event", _BOUNDARY, "boundaryEvent")):
        if words.endswith(suffix):
            return table.get(words[: -len(suffix)], default)
    for cls in type(spec).__mro__:
        if cls.__name__ in _CLASS_TYPES:
            return _CLASS_TYPES[cls.__name__]
    return "task"


def _is_event_subprocess(spec) -> bool:
    return any(cls.__name__ == "EventSubprocess" for cls in type(spec).__mro__)


def _is_loop(spec) -> bool:
    return any(cls.__name__ in _LOOPS for cls in type(spec).__mro__)


def _all_tasks(workflow):
    """Every task of the instance, sub-processes included (no depth-limited iterator)."""
    yield from workflow.tasks.values()
    for sub in workflow.subprocesses.values():
        yield from sub.tasks.values()


def snapshot(workflow) -> dict:
    """Task id -> state when the operation loaded the instance."""
    return {task.id: task.state for task in _all_tasks(workflow)}


@dataclass
class HistoryDiff:
    inserts: list = field(default_factory=list)
    ends: list = field(default_factory=list)
    active: dict = field(default_factory=dict)  # open activity instances: id -> started_at ISO
    late: set = field(default_factory=set)  # ends listed after the operation's inserts


def diff(workflow, before_active: dict, now: datetime, human: dict, loaded: dict | None) -> HistoryDiff:
    """What the history table must learn from this operation (see the module docstring)."""
    loaded = loaded or {}
    out = HistoryDiff()
    now_iso = now.isoformat()
    seen = set()
    for task in _all_tasks(workflow):
        spec = task.task_spec
        bpmn_id = getattr(spec, "bpmn_id", None)
        if bpmn_id is None:
            continue  # SpiffWorkflow's own plumbing (Start, End, boundary split/join)
        tid = str(task.id)
        state = task.state
        was_open = tid in before_active
        if was_open:
            seen.add(tid)
        if state & ACTIVE:
            if was_open:
                out.active[tid] = before_active[tid]
                continue
            kind = activity_type(spec)
            if kind.startswith("boundary") or (_is_event_subprocess(spec) and state != TaskState.STARTED):
                continue  # Camunda records a boundary event or event sub-process only when it fires
            out.active[tid] = now_iso
            out.inserts.append(_row(task, spec, kind, tid, now, None, human))
        elif state == TaskState.COMPLETED or state == TaskState.CANCELLED:
            cancelled = state == TaskState.CANCELLED
            if was_open:
                kind = activity_type(spec)
                # A parallel join's extra arrivals are merged, not cancelled (Camunda ends them).
                out.ends.append(_end(tid, before_active[tid], now, cancelled and not kind.endswith("Gateway")))
                if kind in _CONTAINERS or kind.endswith("Gateway"):
                    out.late.add(tid)  # ends once what it holds (or awaits) has run
            elif not cancelled and loaded.get(task.id) != TaskState.COMPLETED:
                kind = activity_type(spec)  # entered and left within this operation
                out.inserts.append(_row(task, spec, kind, tid, now, now, human))
            elif cancelled and task.id in workflow.subprocesses and loaded.get(task.id) is None:
                # a sub-process entered and cancelled within this operation (an error its own
                # script threw reached its boundary event): its rows name it as their parent
                row = _row(task, spec, activity_type(spec), tid, now, now, human)
                row["canceled"] = True
                out.inserts.append(row)
    for tid, started in before_active.items():
        if tid not in seen:  # removed from the tree by the operation (pruned or reset)
            out.ends.append(_end(tid, started, now, False))
    # The order the engine entered them (this process's clock, so comparable within the operation).
    out.inserts.sort(key=lambda row: row.pop("_changed"))
    for position, row in enumerate(out.inserts, 1):
        row["seq"] = position
    return out


def _row(task, spec, kind, tid, started, ended, human) -> dict:
    parent = task.parent
    if parent is not None and _is_loop(parent.task_spec):
        parent_id = str(parent.id)
    else:
        parent_id = getattr(task.workflow, "parent_task_id", None)
        parent_id = str(parent_id) if parent_id is not None else None
    human_row = human.get(tid) or {}
    loop = kind == "multiInstanceBody"
    name = spec.bpmn_name
    if loop and name is None:  # the body is named after the activity it repeats
        inner = task.workflow.spec.task_specs.get(getattr(spec, "task_spec", None))
        name = getattr(inner, "bpmn_name", None)
    return {
        "id": tid, "instance_id": None, "seq": 0, "_changed": task.last_state_change, "parent_id": parent_id,
        "activity_id": f"{spec.bpmn_id}#multiInstanceBody" if loop else spec.bpmn_id,
        "activity_name": name, "activity_type": kind,
        "started_at": started, "ended_at": ended, "duration_ms": 0 if ended is not None else None,
        "end_seq": None,
        "canceled": False, "task_id": tid if kind == "userTask" else None,
        "assignee": human_row.get("assignee"),
        "called_process_instance_id": tid if kind == "callActivity" else None,
    }


def close(tid: str, started_iso: str, now: datetime) -> dict:
    """An open activity instance of an instance that ended (terminated): cancelled."""
    return _end(tid, started_iso, now, True)


def _end(tid: str, started_iso: str, now: datetime, cancelled: bool) -> dict:
    """The end of an open row, as an upsert row: on conflict only the end columns change,
    the other values are placeholders that never land."""
    started = datetime.fromisoformat(started_iso)
    return {"id": tid, "instance_id": None, "seq": 0, "parent_id": None, "activity_id": "", "activity_name": None,
            "activity_type": "", "started_at": started, "ended_at": now, "end_seq": None,
            "duration_ms": max(0, int((now - started).total_seconds() * 1000)), "canceled": cancelled,
            "task_id": None, "assignee": None, "called_process_instance_id": None}


_ENDING = ("ended_at", "end_seq", "duration_ms", "canceled")


def _upsert(dialect: str):
    """INSERT … ON CONFLICT (id) DO UPDATE of the end columns: new rows and ended ones in
    one statement (SQLite ≥ 3.24 and PostgreSQL both have it)."""
    if dialect not in _UPSERTS:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        statement = insert(_TABLE)
        _UPSERTS[dialect] = statement.on_conflict_do_update(
            index_elements=[_TABLE.c.id], set_={c: statement.excluded[c] for c in _ENDING})
    return _UPSERTS[dialect]


_UPSERTS: dict = {}
_COLUMNS = tuple(c.name for c in _TABLE.c)


# The same upsert for psycopg as one statement whatever the number of rows: the rows go as one
# JSON array of objects, which PostgreSQL parses once and types as the table's rows. The text
# and its one parameter never change, so psycopg parses the statement once and dumps one
# string. (A multi-row VALUES has 15 parameters per row: past 50, psycopg re-parses the text
# on every call, ~1 ms; arrays per column cost psycopg ~0.5 ms to inspect and dump.)
_JSON_UPSERT = (f"INSERT INTO {_TABLE.name} ({', '.join(_COLUMNS)}) "
                f"SELECT {', '.join(_COLUMNS)} FROM json_populate_recordset(NULL::{_TABLE.name}, %s) "
                f"ON CONFLICT (id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in _ENDING)}")


def _iso(value):
    if isinstance(value, datetime):
        return _utc(value).isoformat()
    raise TypeError(f"{type(value).__name__} in a history row")


def _utc(value):
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


S_ASSIGN = _TABLE.update().where(_TABLE.c.id == bindparam("b_id")).values(assignee=bindparam("assignee"))


OP_SPAN = 1_000_000  # positions available to one operation


def number(changes: HistoryDiff, audit: list, causes: set, operation: int) -> None:
    """One order for the instance's whole history, shared with the audit log: operation
    number (the instance's lock version) x OP_SPAN + position. Within an operation: what
    caused it, the activities it ended (a task completed, a timer fired), what the engine
    then ran in order, the containers and joins that closed, the consequences."""
    seq = operation * OP_SPAN
    first = [entry for entry in audit if entry["action"] in causes]
    rest = [entry for entry in audit if entry["action"] not in causes]
    for entry in first:
        seq += 1
        entry["seq"] = seq
    early = [end for end in changes.ends if end["id"] not in changes.late]
    late = [end for end in changes.ends if end["id"] in changes.late]
    for item in early + sorted(changes.inserts, key=lambda row: row["seq"]) + late:
        seq += 1
        if item["activity_type"] == "":  # an end
            item["end_seq"] = seq
        else:
            item["seq"] = seq
            if item["ended_at"] is not None:
                seq += 1
                item["end_seq"] = seq
    for entry in rest:
        seq += 1
        entry["seq"] = seq


def write(conn, changes: HistoryDiff, instance_id: int) -> None:
    """One statement: the rows that began and the rows that ended."""
    merged: dict = {}  # a row cannot be touched twice by one ON CONFLICT statement
    for row in changes.inserts + changes.ends:
        row["instance_id"] = instance_id
        if row["id"] in merged:
            merged[row["id"]].update({c: row[c] for c in _ENDING})
        else:
            merged[row["id"]] = row
    rows = list(merged.values())
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(_upsert(conn.dialect.name), rows)
        return
    conn.exec_driver_sql(_JSON_UPSERT, (json.dumps([{c: row[c] for c in _COLUMNS} for row in rows], default=_iso),))


def assign(conn, task_id: str, assignee: str | None) -> None:
    """A user task changed hands (claim, unclaim, reassignment): ACT_HI_ACTINST.ASSIGNEE_."""
    conn.execute(S_ASSIGN, {"b_id": task_id, "assignee": assignee})
