"""Wide and long diagrams: within the limits they run, past them lint refuses them with the
count and the limit (instead of a start that never ends or a RecursionError)."""
from __future__ import annotations

import pytest

from arsflow.engine.bpmn.size_limits import MAX_BRANCHES, MAX_FLOW_NODES
from arsflow.engine.config import Settings
from arsflow.engine.errors import DeploymentError
from arsflow.engine.runtime import Runtime
from tests.bpmn_builder import definitions, flow


def parallel(n: int, pid: str = "large") -> str:
    body = ['<bpmn:startEvent id="start"/>', '<bpmn:parallelGateway id="fork"/>',
            '<bpmn:parallelGateway id="join"/>', '<bpmn:endEvent id="end"/>', flow("start", "fork"), flow("join", "end")]
    for i in range(n):
        body += [f'<bpmn:task id="t{i}"/>', flow("fork", f"t{i}"), flow(f"t{i}", "join")]
    return definitions("\n".join(body), pid)


def chain(n: int, pid: str = "longue") -> str:
    body, previous = ['<bpmn:startEvent id="start"/>', '<bpmn:endEvent id="end"/>'], "start"
    for i in range(n):
        body += [f'<bpmn:task id="t{i}"/>', flow(previous, f"t{i}")]
        previous = f"t{i}"
    body.append(flow(previous, "end"))
    return definitions("\n".join(body), pid)


def test_3300_parallel_branches_refused_by_lint(deploy):
    with pytest.raises(DeploymentError) as info:
        deploy({"large.bpmn": parallel(3300)})
    messages = {f.element_id: f.message for f in info.value.report.errors}
    assert "3300 flux sortants" in messages["fork"] and f"limite est {MAX_BRANCHES}" in messages["fork"]
    assert "3300 flux entrants" in messages["join"]
    assert "RecursionError" not in str(info.value.to_json())


def test_5000_task_chain_refused_with_a_count_not_a_recursion_error(deploy):
    with pytest.raises(DeploymentError) as info:
        deploy({"longue.bpmn": chain(5000)})
    messages = [f.message for f in info.value.report.errors]
    assert any("5002 éléments de flux" in m and f"limite est {MAX_FLOW_NODES}" in m for m in messages), messages
    assert "RecursionError" not in str(info.value.to_json())


@pytest.mark.parametrize("mode", ["warm", "cold"])
def test_at_the_limits_diagrams_run(runtime, deploy, database, clock, mode):
    deploy({"large.bpmn": parallel(MAX_BRANCHES), "longue.bpmn": chain(MAX_FLOW_NODES - 2)})
    rt = runtime if mode == "warm" else Runtime(database, Settings(database_url=database.url), clock=clock)
    assert rt.start("large")["state"] == "completed"
    rt = runtime if mode == "warm" else Runtime(database, Settings(database_url=database.url), clock=clock)
    assert rt.start("longue")["state"] == "completed"
