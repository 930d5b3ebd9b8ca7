"""Tiny builder for test diagrams shaped like Camunda Modeler's output (no DI)."""

HEADER = ('<?xml version="1.0" encoding="UTF-8"?>\n'
          '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
          'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
          'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" '
          'xmlns:modeler="http://camunda.org/schema/modeler/1.0" id="Definitions_{pid}" '
          'targetNamespace="http://bpmn.io/schema/bpmn" exporter="Camunda Modeler" exporterVersion="5.28.0" '
          'modeler:executionPlatform="Camunda Platform" modeler:executionPlatformVersion="7.20.0">\n')


def definitions(body: str, pid: str = "p", extra: str = "", name: str = "Procédure test") -> str:
    return (HEADER.format(pid=pid) + extra +
            f'<bpmn:process id="{pid}" name="{name}" isExecutable="true">\n{body}\n</bpmn:process>\n'
            '</bpmn:definitions>\n')


def flow(source: str, target: str, condition: str | None = None, fid: str | None = None) -> str:
    fid = fid or f"f_{source}_{target}"
    if condition is None:
        return f'<bpmn:sequenceFlow id="{fid}" sourceRef="{source}" targetRef="{target}"/>'
    return (f'<bpmn:sequenceFlow id="{fid}" sourceRef="{source}" targetRef="{target}">'
            f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}</bpmn:conditionExpression>'
            '</bpmn:sequenceFlow>')


def chain(*ids: str) -> str:
    return "\n".join(flow(a, b) for a, b in zip(ids, ids[1:]))


def user_task(tid: str, name: str | None = None, attrs: str = "", ext: str = "") -> str:
    ext_xml = f"<bpmn:extensionElements>{ext}</bpmn:extensionElements>" if ext else ""
    return f'<bpmn:userTask id="{tid}" name="{name or tid}" {attrs}>{ext_xml}</bpmn:userTask>'


def script_task(tid: str, script: str) -> str:
    return f'<bpmn:scriptTask id="{tid}" scriptFormat="python"><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>'


def timer_boundary(bid: str, host: str, kind: str, value: str, interrupting: bool = True, ext: str = "") -> str:
    ext_xml = f"<bpmn:extensionElements>{ext}</bpmn:extensionElements>" if ext else ""
    return (f'<bpmn:boundaryEvent id="{bid}" attachedToRef="{host}" cancelActivity="{str(interrupting).lower()}">'
            f'{ext_xml}<bpmn:timerEventDefinition><bpmn:{kind} xsi:type="bpmn:tFormalExpression">{value}'
            f'</bpmn:{kind}></bpmn:timerEventDefinition></bpmn:boundaryEvent>')


def simple_user_process(pid: str = "p", attrs: str = 'camunda:candidateGroups="staff"', ext: str = "") -> str:
    return definitions("\n".join([
        '<bpmn:startEvent id="start"/>', user_task("t1", "Première tâche", attrs, ext), '<bpmn:endEvent id="end"/>',
        chain("start", "t1", "end")]), pid)


def tacit_timer_process(pid: str = "p") -> str:
    """A task with an interrupting 3-day boundary timer whose path sets `tacite`: the
    diagram the timer-sweep tests fire by the thousand."""
    return definitions("\n".join([
        '<bpmn:startEvent id="start"/>', user_task("t1", "Instruire", 'camunda:candidateGroups="staff"'),
        timer_boundary("tb", "t1", "timeDuration", "P3D"), script_task("tacite", "tacite = True"),
        '<bpmn:endEvent id="end"/>', '<bpmn:endEvent id="end_timer"/>',
        chain("start", "t1", "end"), chain("tb", "tacite", "end_timer")]), pid)
