"""Saved instances: compressed above a few kilobytes (the task tree repeats its keys and
copies of the data), read back whether compressed or stored as plain JSON by an older save."""
from __future__ import annotations

from arsflow.engine.bpmn.serialization import COMPRESSED, decode, encode
from arsflow.engine.config import Settings
from arsflow.engine.db import Database
from arsflow.engine.models import Instance
from arsflow.engine.runtime import Runtime
from sqlalchemy import select, update

from tests.bpmn_builder import chain, definitions, user_task

STAFF = 'camunda:candidateGroups="staff"'
TWO_STEPS = definitions("\n".join([
    '<bpmn:startEvent id="start"/>', user_task("a", "Instruire", STAFF), user_task("b", "Signer", STAFF),
    '<bpmn:endEvent id="end"/>', chain("start", "a", "b", "end")]))
BODIES = [{"organisme": f"Organisme consulté n° {i}", "adresse": f"{i} rue de la Santé, 75014 Paris"}
          for i in range(200)]


def stored(rt, iid) -> str:
    with rt.db.read() as s:
        return s.scalar(select(Instance.workflow).where(Instance.id == iid))


def cold(rt) -> Runtime:
    """Another process: nothing cached, everything read from the database."""
    return Runtime(Database(rt.db.url), Settings(database_url=rt.db.url), clock=rt.clock)


def test_a_large_instance_is_stored_compressed_and_reads_back(runtime, deploy, make_user):
    make_user("alice", "staff")
    deploy({"p.bpmn": TWO_STEPS})
    iid = runtime.start("p", {"bodies": BODIES}, actor="alice")["instance_id"]
    saved = stored(runtime, iid)
    assert saved.startswith(COMPRESSED) and len(saved) * 4 < len(decode(saved))
    other = cold(runtime)
    [task] = other.tasks(instance_id=iid)
    other.complete(task["id"], actor="alice")
    [task] = other.tasks(instance_id=iid)
    assert other.task_data(task["id"], actor="alice")["bodies"] == BODIES
    other.db.dispose()


def test_an_instance_saved_as_plain_json_still_runs(runtime, deploy, make_user):
    """Rows written before compression (and small instances) hold the JSON itself."""
    make_user("alice", "staff")
    deploy({"p.bpmn": TWO_STEPS})
    iid = runtime.start("p", {"bodies": BODIES}, actor="alice")["instance_id"]
    with runtime.db.transaction() as s:
        s.execute(update(Instance).where(Instance.id == iid).values(workflow=decode(stored(runtime, iid))))
    assert stored(runtime, iid).startswith("{")
    other = cold(runtime)
    [task] = other.tasks(instance_id=iid)
    other.complete(task["id"], actor="alice")
    assert stored(other, iid).startswith(COMPRESSED)
    other.db.dispose()


def test_small_instances_stay_plain_json():
    assert encode('{"tasks":{}}') == '{"tasks":{}}'
    big = '{"data":"' + "x" * 5000 + '"}'
    assert decode(encode(big)) == big and encode(big).startswith(COMPRESSED)
