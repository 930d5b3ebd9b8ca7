"""How large a diagram the engine runs in reasonable time, stated at lint time.

SpiffWorkflow's cost grows with the square of the number of branches a parallel gateway
forks or joins (each arriving branch re-checks all its siblings: 400 branches take tens of
seconds to start, 3,300 never finish), and its parser and serializer walk a chain of
elements recursively (a 5,000-task chain ends in RecursionError). Rather than fail at run
time, a deployment past these limits is refused with the count and the limit.
"""
from __future__ import annotations

from collections import Counter

MAX_BRANCHES = 100  # sequence flows into or out of one element
MAX_FLOW_NODES = 400  # flow nodes in one process, subprocesses included

FLOW_NODE_LOCALS = frozenset({
    "task", "userTask", "manualTask", "scriptTask", "serviceTask", "sendTask", "receiveTask",
    "businessRuleTask", "callActivity", "subProcess", "transaction", "adHocSubProcess",
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
    "exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway", "complexGateway",
})


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def size_problems(process, elements) -> list[tuple[object, str]]:
    """(element, French message) for each limit `process` exceeds."""
    problems = []
    nodes = [e for e in elements if _local(e.tag) in FLOW_NODE_LOCALS]
    if len(nodes) > MAX_FLOW_NODES:
        problems.append((process, f"processus trop grand : {len(nodes)} éléments de flux (tâches, événements, "
                                  f"passerelles), la limite est {MAX_FLOW_NODES} ; découpez-le en "
                                  "sous-processus appelés (callActivity)"))
    outgoing, incoming = Counter(), Counter()
    for element in elements:
        if _local(element.tag) == "sequenceFlow":
            outgoing[element.get("sourceRef")] += 1
            incoming[element.get("targetRef")] += 1
    by_id = {e.get("id"): e for e in nodes}
    for counter, direction in ((outgoing, "sortants"), (incoming, "entrants")):
        for element_id, count in counter.items():
            if count > MAX_BRANCHES and element_id in by_id:
                problems.append((by_id[element_id],
                                 f"{count} flux {direction} sur un seul élément, la limite est {MAX_BRANCHES} "
                                 "branches : au-delà le moteur devient trop lent (coût quadratique) ; "
                                 "utilisez une tâche multi-instance"))
    return problems
