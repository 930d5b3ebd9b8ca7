"""Diagrams shaped exactly as Camunda Modeler 5 saves a Camunda 7 diagram: the Camunda 7
namespaces, `modeler:executionPlatform`, and a BPMNDiagram (DI) with a shape for every flow
node and an edge for every sequence flow (laid out left to right), so that the files the
tests deploy carry everything the Modeler writes."""
from __future__ import annotations

from lxml import etree

from tests.bpmn_builder import HEADER

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
DI_NS = ('xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
         'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
         'xmlns:di="http://www.omg.org/spec/DD/20100524/DI" ')
SIZES = {"startEvent": (36, 36), "endEvent": (36, 36), "intermediateCatchEvent": (36, 36),
         "intermediateThrowEvent": (36, 36), "boundaryEvent": (36, 36), "exclusiveGateway": (50, 50),
         "parallelGateway": (50, 50), "inclusiveGateway": (50, 50), "eventBasedGateway": (50, 50)}


def _di(root_xml: str, pid: str) -> str:
    root = etree.fromstring(root_xml.encode())
    shapes, edges, bounds = [], [], {}
    x = 160
    for element in root.iter(f"{{{BPMN}}}*"):
        local = etree.QName(element).localname
        eid = element.get("id")
        if not eid or local in ("process", "definitions", "sequenceFlow", "message", "error", "escalation",
                                "signal", "multiInstanceLoopCharacteristics") or local.endswith("Definition"):
            continue
        if local in ("script", "conditionExpression", "completionCondition", "loopCardinality", "timeDate",
                     "timeDuration", "timeCycle", "incoming", "outgoing", "extensionElements"):
            continue
        w, h = SIZES.get(local, (100, 80))
        y = 100 if local != "boundaryEvent" else 160
        bounds[eid] = (x, y, w, h)
        extra = ' isExpanded="true"' if local == "subProcess" else ""
        extra += ' isMarkerVisible="true"' if local == "exclusiveGateway" else ""
        shapes.append(f'<bpmndi:BPMNShape id="{eid}_di" bpmnElement="{eid}"{extra}>'
                      f'<dc:Bounds x="{x}" y="{y}" width="{w}" height="{h}" /></bpmndi:BPMNShape>')
        x += w + 60
    for flow in root.iter(f"{{{BPMN}}}sequenceFlow"):
        src, dst = bounds.get(flow.get("sourceRef")), bounds.get(flow.get("targetRef"))
        if not src or not dst or not flow.get("id"):
            continue
        edges.append(f'<bpmndi:BPMNEdge id="{flow.get("id")}_di" bpmnElement="{flow.get("id")}">'
                     f'<di:waypoint x="{src[0] + src[2]}" y="{src[1] + src[3] // 2}" />'
                     f'<di:waypoint x="{dst[0]}" y="{dst[1] + dst[3] // 2}" /></bpmndi:BPMNEdge>')
    return (f'<bpmndi:BPMNDiagram id="BPMNDiagram_1"><bpmndi:BPMNPlane id="BPMNPlane_1" bpmnElement="{pid}">'
            + "".join(shapes + edges) + "</bpmndi:BPMNPlane></bpmndi:BPMNDiagram>")


def modeler_diagram(body: str, pid: str = "p", extra: str = "", name: str = "Procédure test") -> str:
    """`body`: the process's children; `extra`: root elements before the process (messages,
    errors, escalations)."""
    header = HEADER.format(pid=pid).replace("xmlns:xsi=", DI_NS + "xmlns:xsi=")
    process = f'<bpmn:process id="{pid}" name="{name}" isExecutable="true">\n{body}\n</bpmn:process>\n'
    bare = header + extra + process + "</bpmn:definitions>\n"
    return header + extra + process + _di(bare, pid) + "\n</bpmn:definitions>\n"
