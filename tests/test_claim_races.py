"""Concurrent claims and completions of one task, on real threads: exactly one wins."""
from __future__ import annotations

import threading

import pytest

from arsflow.engine.config import Settings
from arsflow.engine.errors import Conflict, Forbidden
from arsflow.engine.runtime import Runtime
from tests.bpmn_builder import simple_user_process

ROUNDS = 6


@pytest.fixture(params=["warm", "cold"])
def runtime_for(request, runtime, database, clock):
    """warm: the threads share one runtime (as `serve` does); cold: each thread its own (as
    separate processes do)."""
    if request.param == "warm":
        return lambda: runtime
    return lambda: Runtime(database, Settings(database_url=database.url, territory="75",
                                              timezone="Europe/Paris"), clock=clock)


def _race(*calls):
    """Run the calls at once; return (results, errors) in call order."""
    barrier = threading.Barrier(len(calls))
    results, errors = [None] * len(calls), [None] * len(calls)

    def run(i, call):
        barrier.wait()
        try:
            results[i] = call()
        except (Conflict, Forbidden) as err:
            errors[i] = err

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def test_concurrent_claims_exactly_one_wins(runtime, runtime_for, deploy, make_user):
    logins = [make_user(f"agent{i}", "staff") for i in range(6)]
    deploy({"p.bpmn": simple_user_process()})
    for _ in range(ROUNDS):
        instance = runtime.start("p", actor="agent0")["instance_id"]
        task_id = runtime.tasks(instance_id=instance)[0]["id"]
        rts = [runtime_for() for _ in logins]
        results, errors = _race(*[lambda rt=rt, who=who: rt.claim(task_id, who) for rt, who in zip(rts, logins)])
        winners = [logins[i] for i, r in enumerate(results) if r is not None]
        assert len(winners) == 1, (winners, errors)
        assert all(isinstance(e, Conflict) for e in errors if e is not None)
        assert runtime.task(task_id)["assignee"] == winners[0]


def test_claim_versus_complete_exactly_one_wins(runtime, runtime_for, deploy, make_user):
    make_user("alice", "staff")
    make_user("bruno", "staff")
    deploy({"p.bpmn": simple_user_process()})
    outcomes = set()
    for _ in range(ROUNDS):
        instance = runtime.start("p", actor="alice")["instance_id"]
        task_id = runtime.tasks(instance_id=instance)[0]["id"]
        completer, claimer = runtime_for(), runtime_for()
        results, errors = _race(lambda: completer.complete(task_id, {}, actor="alice"),
                                lambda: claimer.claim(task_id, "bruno"))
        completed, claimed = results[0] is not None, results[1] is not None
        assert completed != claimed, (results, errors)
        task = runtime.task(task_id)
        if completed:
            outcomes.add("complete")
            assert task["state"] == "completed" and task["completed_by"] == "alice"
            assert task["assignee"] in (None, "alice")
            assert runtime.show(instance)["state"] == "completed"
        else:
            outcomes.add("claim")
            assert task["state"] == "open" and task["assignee"] == "bruno"
            assert runtime.show(instance)["state"] == "waiting"
    assert outcomes  # at least one round ran; which side wins is up to the scheduler


def test_stale_completion_after_claim_is_refused(runtime, deploy, make_user):
    """The conditional update itself: a completion that read the task unassigned fails if a
    claim landed before its write (forced here by claiming between read and write)."""
    make_user("alice", "staff")
    make_user("bruno", "staff")
    deploy({"p.bpmn": simple_user_process()})
    instance = runtime.start("p", actor="alice")["instance_id"]
    task_id = runtime.tasks(instance_id=instance)[0]["id"]
    original = runtime._advance

    def claim_in_between(workflow, *args, **kwargs):
        thread = threading.Thread(target=lambda: other.claim(task_id, "bruno"))
        thread.start()
        thread.join()
        return original(workflow, *args, **kwargs)

    other = Runtime(runtime.db, runtime.settings, clock=runtime.clock)
    runtime._advance = claim_in_between
    if runtime.db.is_postgres:
        pytest.skip("PostgreSQL: the completion holds the row lock, the claim waits for it")
    with pytest.raises(Conflict):
        runtime.complete(task_id, {}, actor="alice")
    runtime._advance = original
    assert runtime.task(task_id)["assignee"] == "bruno"
    assert runtime.show(instance)["state"] == "waiting"
