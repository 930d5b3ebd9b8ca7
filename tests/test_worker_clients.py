"""Camunda's own external-task clients against a real `arsflow serve` subprocess.

The Python worker is PyPI camunda-external-task-client-python3 (the `test` extra); the
JavaScript worker is npm camunda-external-task-client-js, installed by this test into
`.cache/node/` (ignored by git). Instances are started by this test process, the server is
another process, each worker a third: work created elsewhere reaches long-polling workers.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from arsflow.engine.models import AuditEntry, ExternalTask, Instance
from tests.test_external_tasks import PUBLISH

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / ".cache" / "node"
JS_CLIENT = "camunda-external-task-client-js@3"
PASSWORD = "mot-de-passe-robot"
TOPIC = "raa-publication"

# The worker's handler: the instance's `comportement` variable says what the RAA answers.
PY_WORKER = textwrap.dedent('''
    import logging, sys, time
    from camunda.external_task.external_task_worker import ExternalTaskWorker

    base, worker_id, log_path, lock_ms = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    logging.basicConfig(level=logging.WARNING)

    def handle(task):
        with open(log_path, "a") as log:
            log.write(task.get_task_id() + "\\n")
        behaviour = task.get_variable("comportement")
        if behaviour == "erreur":
            return task.bpmn_error("RAA_INDISPONIBLE", "recueil fermé", {"motif": "fermeture"})
        if behaviour == "panne":
            return task.failure("RAA injoignable", "HTTP 503", max_retries=2, retry_timeout=200)
        time.sleep(0.05)
        return task.complete({"numero": f"RAA-{worker_id}-{task.get_process_instance_id()}"})

    config = {"auth_basic": {"username": "robot-raa", "password": "%s"}, "maxTasks": 2,
              "lockDuration": lock_ms, "asyncResponseTimeout": 5000, "sleepSeconds": 0.2}
    ExternalTaskWorker(worker_id=worker_id, base_url=base, config=config).subscribe("%s", handle)
''' % (PASSWORD, TOPIC))

JS_WORKER = textwrap.dedent('''
    import fs from "node:fs";
    import { Client, Variables, BasicAuthInterceptor } from "camunda-external-task-client-js";

    const [base, workerId, logPath, lockMs] = process.argv.slice(2);
    const client = new Client({
      baseUrl: base, workerId, maxTasks: 2, lockDuration: Number(lockMs), asyncResponseTimeout: 5000,
      interval: 200, interceptors: new BasicAuthInterceptor({ username: "robot-raa", password: "%s" }),
    });
    client.on("complete:error", (task, e) => console.error("complete:error", e.message));
    client.subscribe("%s", async ({ task, taskService }) => {
      fs.appendFileSync(logPath, task.id + "\\n");
      const behaviour = task.variables.get("comportement");
      if (behaviour === "erreur") {
        await taskService.handleBpmnError(task, "RAA_INDISPONIBLE", "recueil fermé",
                                          new Variables().set("motif", "fermeture"));
      } else if (behaviour === "panne") {
        const retries = task.retries == null ? 2 : task.retries - 1;
        await taskService.handleFailure(task, { errorMessage: "RAA injoignable", errorDetails: "HTTP 503",
                                                retries, retryTimeout: 200 });
      } else {
        await new Promise((r) => setTimeout(r, 50));
        await taskService.complete(task, new Variables().set("numero", `RAA-${workerId}-${task.processInstanceId}`));
      }
    });
''' % (PASSWORD, TOPIC))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _arsflow() -> str:
    found = shutil.which("arsflow", path=str(Path(sys.executable).parent)) or shutil.which("arsflow")
    assert found, "la commande arsflow n'est pas installée (pip install -e .)"
    return found


class Server(dict):
    """`arsflow serve` on a free loopback port, over the test's database; restartable."""

    def __init__(self, db_url, tmp_path):
        super().__init__(tmp=tmp_path)
        self.db_url, self.proc, self.log = db_url, None, None

    def start(self):
        port = _free_port()
        env = {**os.environ, "ARSFLOW_SECRET_KEY": "test", "PYTHONUNBUFFERED": "1"}
        self.log = open(self["tmp"] / "serve.log", "a")
        self.proc = subprocess.Popen([_arsflow(), "serve", "--db", self.db_url, "--host", "127.0.0.1",
                                      "--port", str(port)], stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env, cwd=self["tmp"])
        self["base"] = f"http://127.0.0.1:{port}/engine-rest"
        for _ in range(300):
            try:
                if requests.get(f"{self['base']}/version", auth=("robot-raa", PASSWORD), timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            assert self.proc.poll() is None, (self["tmp"] / "serve.log").read_text()
            time.sleep(0.1)
        raise AssertionError("arsflow serve ne répond pas")

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.log.close()
            self.proc = None


@pytest.fixture
def server(runtime, deploy, make_user, tmp_path, db_url):
    make_user("robot-raa", "workers", password=PASSWORD)
    deploy({"publication.bpmn": PUBLISH})
    running = Server(db_url, tmp_path)
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def node_client():
    """npm camunda-external-task-client-js in .cache/node/ (outside git), installed once."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("npm/node absents : le worker JavaScript (camunda-external-task-client-js) n'est pas testé")
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    if not (NODE_DIR / "node_modules" / "camunda-external-task-client-js" / "package.json").exists():
        (NODE_DIR / "package.json").write_text(json.dumps({"name": "arsflow-test-workers", "private": True,
                                                           "type": "module"}))
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", JS_CLIENT],
                       cwd=NODE_DIR, check=True, timeout=600)
    script = NODE_DIR / "worker.mjs"
    script.write_text(JS_WORKER)
    return script


class Workers:
    """Worker subprocesses, each logging the task ids its handler ran."""

    def __init__(self, server):
        self.server, self.procs = server, []

    def python(self, worker_id: str, lock_ms: int = 20000):
        script = self.server["tmp"] / "worker.py"
        script.write_text(PY_WORKER)
        return self._spawn([sys.executable, str(script)], worker_id, lock_ms)

    def javascript(self, script: Path, worker_id: str, lock_ms: int = 20000):
        return self._spawn(["node", str(script)], worker_id, lock_ms)

    def _spawn(self, command, worker_id, lock_ms):
        log = self.server["tmp"] / f"{worker_id}.tasks"
        log.touch()
        out = open(self.server["tmp"] / f"{worker_id}.out", "w")
        self.procs.append((subprocess.Popen(command + [self.server["base"], worker_id, str(log), str(lock_ms)],
                                            stdout=out, stderr=subprocess.STDOUT), out))
        return log

    def stop(self):
        for proc, out in self.procs:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
            out.close()


@pytest.fixture
def workers(server):
    made = Workers(server)
    yield made
    made.stop()


def wait_for(condition, what: str, seconds: float = 60):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"toujours pas au bout de {seconds} s : {what}")


def counts(runtime, state: str) -> int:
    with runtime.db.read() as session:
        return session.scalar(select(func.count()).select_from(ExternalTask).where(ExternalTask.state == state))


def variables(runtime, instance_id) -> dict:
    with runtime.db.read() as session:
        return dict(session.get(Instance, instance_id).variables)


def ran(*logs: Path) -> list[str]:
    return [line for log in logs for line in log.read_text().split()]


@pytest.mark.parametrize("language", ["python", "javascript"])
def test_worker_completes_raises_bpmn_error_and_fails_into_an_incident(server, workers, runtime, language, request):
    ok = runtime.start("publication", {"territory": "75", "urgence": 1, "comportement": "ok"})["id"]
    ko = runtime.start("publication", {"territory": "75", "urgence": 1, "comportement": "erreur"})["id"]
    down = runtime.start("publication", {"territory": "75", "urgence": 1, "comportement": "panne"})["id"]
    if language == "python":
        log = workers.python("py-1")
    else:
        log = workers.javascript(request.getfixturevalue("node_client"), "js-1")
    wait_for(lambda: counts(runtime, "completed") == 1 and counts(runtime, "error") == 1, "complete + bpmnError")
    assert variables(runtime, ok)["numero"] == f"RAA-{'py' if language == 'python' else 'js'}-1-{ok}"
    assert variables(runtime, ko)["motif"] == "fermeture"
    assert {t["instance_id"]: t["element_id"] for t in runtime.tasks()} == {ok: "verifier", ko: "corriger"}
    # The failing one: tried 3 times (retries 2, 1, 0), then an incident carrying the message.
    incidents = lambda: requests.get(f"{server['base']}/incident", auth=("robot-raa", PASSWORD), timeout=5).json()
    wait_for(lambda: len(incidents()) == 1, "incident après 3 échecs")
    [incident] = incidents()
    assert (incident["incidentType"], incident["incidentMessage"], incident["processInstanceId"]) == (
        "failedExternalTask", "RAA injoignable", str(down))
    time.sleep(1)  # an incident is never fetched again
    assert ran(log).count(incident["configuration"]) == 3
    with runtime.db.read() as session:
        row = session.get(ExternalTask, incident["configuration"])
        assert (row.retries, row.error_details, row.state) == (0, "HTTP 503", "open")


def test_lock_expires_and_the_first_worker_can_no_longer_complete(server, workers, runtime):
    from camunda.client.external_task_client import ExternalTaskClient
    started = runtime.start("publication", {"territory": "75", "urgence": 1, "comportement": "ok"})["id"]
    slow = ExternalTaskClient("lent", server["base"], {"auth_basic": {"username": "robot-raa", "password": PASSWORD},
                                                       "lockDuration": 1000, "asyncResponseTimeout": 0})
    [task] = slow.fetch_and_lock(TOPIC)
    assert task["workerId"] == "lent"
    log = workers.python("py-2")  # gets it once the lock expired by itself
    wait_for(lambda: counts(runtime, "completed") == 1, "reprise après expiration du verrou")
    assert ran(log) == [task["id"]]
    assert variables(runtime, started)["numero"] == f"RAA-py-2-{started}"
    with pytest.raises(Exception, match="received 404 : RestException"):
        slow.complete(task["id"], {"numero": "trop tard"})


def test_second_holder_refuses_the_first(server, runtime):
    """A worker cannot complete a task another worker holds (400, Camunda's message)."""
    from camunda.client.external_task_client import ExternalTaskClient
    runtime.start("publication", {"territory": "75", "urgence": 1, "comportement": "ok"})
    auth = {"auth_basic": {"username": "robot-raa", "password": PASSWORD}, "asyncResponseTimeout": 0}
    first = ExternalTaskClient("premier", server["base"], {**auth, "lockDuration": 500})
    second = ExternalTaskClient("second", server["base"], {**auth, "lockDuration": 60000})
    [task] = first.fetch_and_lock(TOPIC)
    time.sleep(0.7)
    [again] = second.fetch_and_lock(TOPIC)
    assert again["id"] == task["id"]
    with pytest.raises(Exception, match="received 400 : RestException.*It is locked by worker 'second'"):
        first.complete(task["id"], {})
    assert second.complete(task["id"], {"numero": "1"}) is True


def test_competing_workers_do_each_task_once(server, workers, runtime, request):
    ids = [runtime.start("publication", {"territory": "75", "urgence": i % 3, "comportement": "ok"})["id"]
           for i in range(24)]
    logs = [workers.python("py-a"), workers.python("py-b")]
    if shutil.which("npm"):
        logs.append(workers.javascript(request.getfixturevalue("node_client"), "js-a"))
    wait_for(lambda: counts(runtime, "completed") == len(ids), "les 24 publications", seconds=120)
    done = ran(*logs)
    assert len(done) == len(set(done)) == len(ids)  # no task handed to two workers
    with runtime.db.read() as session:
        completions = session.scalars(select(AuditEntry.task_id).where(
            AuditEntry.action == "external_task_completed")).all()
    assert sorted(completions) == sorted(done)
    assert all(variables(runtime, i)["numero"].endswith(f"-{i}") for i in ids)


def test_a_lock_survives_a_server_restart(server, runtime):
    """The lock lives in the database: after a restart the holder completes, others wait."""
    from camunda.client.external_task_client import ExternalTaskClient
    started = runtime.start("publication", {"territory": "75", "urgence": 1, "comportement": "ok"})["id"]
    auth = {"auth_basic": {"username": "robot-raa", "password": PASSWORD}, "asyncResponseTimeout": 0,
            "lockDuration": 60000}
    [task] = ExternalTaskClient("avant", server["base"], auth).fetch_and_lock(TOPIC)
    server.stop()
    shown = subprocess.run([_arsflow(), "show", str(started), "--db", server.db_url], capture_output=True,
                           text=True, check=True).stdout
    assert "tâche externe open" in shown and "verrouillée par avant" in shown and "raa-publication" in shown
    server.start()
    assert ExternalTaskClient("autre", server["base"], auth).fetch_and_lock(TOPIC) == []
    assert ExternalTaskClient("avant", server["base"], auth).complete(task["id"], {"numero": "7"}) is True
    assert variables(runtime, started)["numero"] == "7"
