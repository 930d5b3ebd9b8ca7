"""Scripts and expressions are bounded in time and memory: past either, an incident on the
element; the process stays responsive and no transaction stays open."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from arsflow.engine.config import Settings
from arsflow.engine.runtime import Runtime
from arsflow.engine.bpmn.sandbox import RestrictedEnvironment
from arsflow.engine.bpmn.script_limits import Limits, ScriptLimitExceeded
from tests.bpmn_builder import chain, definitions, script_task, timer_boundary, user_task


def _run(source, timeout=30, memory_mb=1024, mode="exec"):
    env = RestrictedEnvironment({}, Limits(timeout, memory_mb))
    ctx = {}
    if mode == "eval":
        return env.evaluate(source, ctx)
    env.execute(source, ctx)
    return ctx


@pytest.mark.parametrize("source", [
    "x = 7 ** (10**8)", "x = pow(7, 10**8)", "x = len('x' * 2*10**9)", "x = [0] * 10**9",
    "x = 1 << 10**9", "x = list(range(10**9))", "x = 'a'.ljust(10**10)", "x = 'ab'.replace('a', 'a' * 10**6) * 100",
    "s = 'ab'\nfor i in range(60):\n    s += s", "s = ['x']\nfor i in range(60):\n    s = s + s",
    "x = ''.join(['abc'] * 10**6) * 10",
])
def test_oversized_values_refused_before_the_work(source):
    with pytest.raises(ScriptLimitExceeded, match="valeur trop grande"):
        _run(source)


def test_expression_bounded_too():
    with pytest.raises(ScriptLimitExceeded):
        _run("7 ** (10**8)", mode="eval")
    assert _run("montant * 2 + 1 if True else 0".replace("montant", "21"), mode="eval") == 43


@pytest.mark.parametrize("source", [
    "while True:\n    pass",
    # `except Exception` cannot swallow the interruption; a bare `except:` only delays it.
    "while True:\n    try:\n        pass\n    except Exception:\n        pass",
    "while True:\n    try:\n        x = 1\n    except:\n        pass",
])
def test_endless_loop_interrupted(source):
    with pytest.raises(ScriptLimitExceeded, match="durée maximale dépassée"):
        _run(source, timeout=0.3)


def test_memory_growth_interrupted():
    with pytest.raises(ScriptLimitExceeded, match="mémoire maximale dépassée"):
        _run("l = []\nwhile True:\n    l.append('x' * 1000)", timeout=30, memory_mb=64)


def test_ordinary_scripts_unchanged():
    ctx = _run("l = [1]\nalias = l\nl += [2]\ns = 'a' * 3 + 'b'\nn = 2 ** 10 * 3 << 2\nd = {'k': 1}\n"
               "d['k'] += 4\nr = sum(range(100))\nt = 'x'.ljust(5, '.')")
    assert ctx["alias"] == [1, 2]  # `+=` still mutates the list in place
    assert (ctx["s"], ctx["n"], ctx["d"], ctx["r"], ctx["t"]) == ("aaab", 12288, {"k": 5}, 4950, "x....")


def test_other_threads_keep_running_while_a_script_runs_away():
    """The runaway loop yields the GIL: another thread gets work done before it is stopped."""
    outcome = {}

    def runaway():
        try:
            _run("while True:\n    pass", timeout=2)
        except ScriptLimitExceeded as err:
            outcome["error"] = err

    worker = threading.Thread(target=runaway)
    worker.start()
    done = sum(i for i in range(200_000))  # pure Python work on this thread
    still_running = worker.is_alive()
    worker.join()
    assert done == 19999900000 and still_running and "error" in outcome


# -- through the engine ---------------------------------------------------------------------------

LOOP = "while True:\n    x = 1"


def _settings(database, **kw):
    return Settings(database_url=database.url, territory="75", timezone="Europe/Paris",
                    script_timeout=0.5, **kw)


@pytest.fixture(params=["warm", "cold"])
def runtimes(request, database, clock):
    """warm: one runtime for every operation; cold: a new runtime (empty caches) each time."""
    warm = Runtime(database, _settings(database), clock=clock)
    return lambda: warm if request.param == "warm" else Runtime(database, _settings(database), clock=clock)


def _deploy(rt, body, pid="p"):
    with rt.db.transaction() as s:
        rt.definitions.deploy(s, [(f"{pid}.bpmn", definitions(body, pid).encode())], now=rt.now())


def test_runaway_script_task_is_an_incident_on_its_element(runtimes):
    _deploy(runtimes(), "\n".join(['<bpmn:startEvent id="start"/>', script_task("boucle", LOOP),
                                   '<bpmn:endEvent id="end"/>', chain("start", "boucle", "end")]))
    started = runtimes().start("p", {"n": 1})
    assert started["state"] == "incident"
    assert started["incident"]["element_id"] == "boucle"
    assert "durée maximale dépassée" in started["incident"]["message"]
    shown = runtimes().show(started["instance_id"])
    assert shown["state"] == "incident" and shown["variables"]["n"] == 1


def test_runaway_condition_on_timer_path_releases_the_row(runtimes, database, clock):
    """A timer leads to a script that never ends: the sweep records an incident and commits;
    no session stays "idle in transaction" holding the instance row."""
    body = "\n".join([
        '<bpmn:startEvent id="start"/>', user_task("attente", attrs='camunda:candidateGroups="staff"'),
        timer_boundary("delai", "attente", "timeDuration", "PT1H"),
        script_task("boucle", LOOP), '<bpmn:endEvent id="end"/>', '<bpmn:endEvent id="end2"/>',
        chain("start", "attente", "end2"), chain("delai", "boucle", "end")])
    _deploy(runtimes(), body)
    started = runtimes().start("p")
    clock.advance(hours=2)
    assert runtimes().tick() >= 1
    shown = runtimes().show(started["instance_id"])
    assert shown["state"] == "incident" and shown["incident"]["element_id"] == "boucle"
    if database.is_postgres:  # nobody holds a lock on this test's instances table any more
        with database.engine.connect() as conn:
            held = conn.execute(text(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE c.relname = 'instances' AND c.relnamespace = "
                "(SELECT oid FROM pg_namespace WHERE nspname = current_schema()) "
                "AND l.pid <> pg_backend_pid()")).scalar()
        assert held == 0
