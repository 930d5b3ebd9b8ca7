"""`arsflow serve` and `arsflow worker` as two OS processes on one PostgreSQL database, on the
real clock: people complete tasks through the JSON API while both processes' schedulers sweep
the same timers. Every instance ends, and every timer fires exactly once (one `fired` row, one
`timer_fired` entry, one boundary/intermediate activity row), whichever process took it.

Timers are created before the two processes start (their schedulers learn of later timers at
their next sweep, up to a minute later) and fall due while both run."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from arsflow.engine.db import Database
from arsflow.engine.models import ActivityInstance, AuditEntry, HumanTask, Instance, Timer
from arsflow.engine.people import users

from tests.bpmn_builder import chain, definitions, flow, timer_boundary, user_task
from tests.conftest import POSTGRES_URL, _postgres_schema_url

ARSFLOW = shutil.which("arsflow", path=str(Path(sys.executable).parent)) or shutil.which("arsflow")
pytestmark = [pytest.mark.skipif(not POSTGRES_URL, reason="ARSFLOW_TEST_POSTGRES_URL not set"),
              pytest.mark.skipif(ARSFLOW is None, reason="the arsflow command is not installed")]

INSTANCES = 4
RELAY = definitions("\n".join([
    '<bpmn:startEvent id="start"/>', '<bpmn:parallelGateway id="split"/>',
    user_task("instruct", "Instruire", 'camunda:candidateGroups="staff"'),
    timer_boundary("remind", "instruct", "timeDuration", "PT12S", interrupting=False),
    '<bpmn:scriptTask id="note" name="Noter la relance" scriptFormat="python"><bpmn:script>reminded = True'
    '</bpmn:script></bpmn:scriptTask>', '<bpmn:endEvent id="reminded"/>',
    '<bpmn:intermediateCatchEvent id="wait" name="Délai"><bpmn:timerEventDefinition>'
    '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">PT16S</bpmn:timeDuration>'
    '</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>',
    user_task("validate", "Valider", 'camunda:candidateGroups="staff"'),
    '<bpmn:parallelGateway id="join"/>', '<bpmn:endEvent id="end"/>',
    flow("start", "split"), flow("split", "instruct"), flow("split", "wait"), chain("wait", "validate", "join"),
    flow("instruct", "join"), chain("remind", "note", "reminded"), chain("join", "end"),
]), "relay")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def arsflow(url, *argv, **kwargs):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARSFLOW_")}
    return subprocess.run([ARSFLOW, *argv, "--db", url], capture_output=True, text=True, env=env, timeout=120,
                          **kwargs)


def api(port, token, method, path, body=None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def wait_for(what, predicate, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"toujours pas : {what}")


@pytest.fixture
def pg_url():
    url, admin, schema = _postgres_schema_url()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def test_serve_and_worker_share_the_timers_and_the_instances_end(pg_url, tmp_path):
    diagram = tmp_path / "relay.bpmn"
    diagram.write_text(RELAY)
    for argv in (("init",), ("deploy", str(diagram)), ("users", "add", "alice", "--group", "staff")):
        done = arsflow(pg_url, *argv)
        assert done.returncode == 0, done.stderr
    db = Database(pg_url)
    with db.transaction() as s:
        token = users.issue_api_token(s, "alice")
    for n in range(INSTANCES):
        done = arsflow(pg_url, "start", "relay", "--as", "alice", "--business-key", f"R-{n}")
        assert done.returncode == 0, done.stderr

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARSFLOW_")}
    serve = subprocess.Popen([ARSFLOW, "serve", "--db", pg_url, "--host", "127.0.0.1", "--port", str(port)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    worker = subprocess.Popen([ARSFLOW, "worker", "--db", pg_url], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env=env)
    try:
        wait_for("le serveur répond", lambda: _answers(port, token))

        def open_tasks(element):
            with db.read() as s:
                return list(s.scalars(select(HumanTask.id).where(HumanTask.element_id == element,
                                                                 HumanTask.state == "open")))

        def complete_all(element):
            """Through the API; 409 when a timer fired in the same instance meanwhile: again."""
            for task_id in open_tasks(element):
                for _ in range(20):
                    status, body = api(port, token, "POST", f"/tasks/{task_id}/complete", {"variables": {}})
                    if status != 409:
                        break
                    time.sleep(0.2)
                assert status == 200, (status, body)

        # The reminders fall due while both processes run; people answer once reminded.
        wait_for("les relances", lambda: _count(db, Timer.element_id == "remind", Timer.status == "fired") == INSTANCES)
        complete_all("instruct")
        wait_for("les tâches de validation", lambda: len(open_tasks("validate")) == INSTANCES)
        complete_all("validate")
        wait_for("la fin des instances", lambda: _count(db, Instance.state == "completed") == INSTANCES, timeout=30)
    finally:
        for process in (serve, worker):
            process.send_signal(signal.SIGINT)
        for process in (serve, worker):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    with db.read() as s:
        timers = s.execute(select(Timer.element_id, Timer.status, Timer.fired_at)).all()
        assert len(timers) == 2 * INSTANCES
        assert all(t.status == "fired" and t.fired_at is not None for t in timers), timers
        fired = s.execute(select(AuditEntry.instance_id, AuditEntry.element_id)
                          .where(AuditEntry.action == "timer_fired")).all()
        assert sorted(fired) == sorted((i, e) for i in range(1, INSTANCES + 1) for e in ("remind", "wait"))
        rows = s.execute(select(ActivityInstance.instance_id, ActivityInstance.activity_id,
                                ActivityInstance.activity_type, ActivityInstance.ended_at)
                         .where(ActivityInstance.activity_id.in_(("remind", "wait", "note", "end")))).all()
        assert sorted((r.instance_id, r.activity_id, r.activity_type) for r in rows) == sorted(
            (i, a, kind) for i in range(1, INSTANCES + 1)
            for a, kind in (("remind", "boundaryTimer"), ("wait", "intermediateTimer"), ("note", "scriptTask"),
                            ("end", "noneEndEvent")))
        assert all(r.ended_at is not None for r in rows)
        assert _count(db, Instance.state == "incident") == 0
        states = s.execute(select(Instance.state, func.count()).group_by(Instance.state)).all()
        assert states == [("completed", INSTANCES)]
    db.dispose()


def _answers(port, token) -> bool:
    try:
        return api(port, token, "GET", "/me")[0] == 200
    except OSError:
        return False


def _count(db, *where) -> int:
    model = where[0].left.table
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))
