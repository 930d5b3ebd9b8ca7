"""Tests of the deployment linter (engine/lint.py) and the safe XML parser (engine/xmlsafe.py).

One failing fixture per rule under tests/fixtures/lint/, a clean Camunda Modeler diagram
with its forms, decision and called process under tests/fixtures/lint/clean/, and the OMG
MIWG reference models that process owners may import from other tools.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from arsflow.engine.bpmn.lint import Finding, LintReport, _bpmn_schema, lint_paths, lint_sources
from arsflow.engine.bpmn.parser import ArsParser
from arsflow.engine.bpmn.xmlsafe import MAX_XML_BYTES, XmlError, parse_xml

FIXTURES = Path(__file__).parent / "fixtures" / "lint"
CLEAN = FIXTURES / "clean"
# The shared folder sits beside the repository (CI clones main next to it).
MIWG = next((p for p in (Path(__file__).resolve().parents[2] / "shared" / "conformance" / "miwg-reference",
                         Path("/work/shared/conformance/miwg-reference")) if p.is_dir()),
            Path("/work/shared/conformance/miwg-reference"))
MIWG_FILES = sorted(MIWG.glob("*.bpmn")) if MIWG.is_dir() else []
needs_miwg = pytest.mark.skipif(not MIWG_FILES, reason="corpus MIWG absent")


def line_of(path: Path, element_id: str) -> int:
    """Line where the element with this id is declared in the fixture."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if re.search(rf'\sid="{re.escape(element_id)}"', line):
            return number
    raise AssertionError(f"{element_id} absent de {path}")


def line_in(data: bytes, element_id: str) -> int:
    for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if re.search(rf'\sid="{re.escape(element_id)}"', line):
            return number
    raise AssertionError(element_id)


def triples(findings: list[Finding]) -> list[tuple]:
    return [(f.element_id, f.element_type, f.line) for f in findings]


def diagram(body: str, extra: str = "", executable: str = "true") -> bytes:
    """A minimal Camunda Modeler diagram around `body` (elements inside the process)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="Definitions_inline" targetNamespace="http://bpmn.io/schema/bpmn">
{extra}
  <bpmn:process id="Process_inline" isExecutable="{executable}">
    <bpmn:startEvent id="StartEvent_1" />
    <bpmn:sequenceFlow id="Flow_in" sourceRef="StartEvent_1" targetRef="Task_1" />
    {body}
    <bpmn:sequenceFlow id="Flow_out" sourceRef="Task_1" targetRef="EndEvent_1" />
    <bpmn:endEvent id="EndEvent_1" />
  </bpmn:process>
</bpmn:definitions>
""".encode("utf-8")


# --------------------------------------------------------------------------- one fixture per rule

RULES = [
    ("complex_gateway.bpmn", [("Gateway_Complex", "complexGateway")], "passerelle complexe", {}),
    ("compensation.bpmn", [("Boundary_Compensate", "boundaryEvent"), ("Task_Refund", "serviceTask")],
     "compensation", {}),
    ("link_events.bpmn", [("Link_Throw", "intermediateThrowEvent"),
                          ("Link_Catch", "intermediateCatchEvent")], "lien", {}),
    ("multiple_outgoing.bpmn", [("Task_Review", "userTask")], "utilisez une passerelle", {}),
    ("condition_on_task_flow.bpmn", [("Flow_Cond", "sequenceFlow")], "ignore silencieusement", {}),
    ("standard_loop.bpmn", [("Task_Again", "userTask")], "loopMaximum", {}),
    ("adhoc_subprocess.bpmn", [("Sub_AdHoc", "adHocSubProcess")], "ad hoc", {}),
    ("cancel_outside_transaction.bpmn", [("Boundary_Cancel", "boundaryEvent")], "transactionnel", {}),
    ("signal_end_event.bpmn", [("End_Signal", "endEvent")], "« signal »", {}),
    ("missing_form.bpmn", [("Task_Form", "userTask")], "formulaire-inconnu", {}),
    ("form_ref_binding.bpmn", [("Task_Binding", "userTask"), ("Task_Version", "userTask")],
     "camunda:formRef", {"known_forms": {"demande-depot"}}),
    ("missing_decision.bpmn", [("Task_Rule", "businessRuleTask")], "decision-inconnue", {}),
    ("business_rule_without_decision_ref.bpmn", [("Task_Rule", "businessRuleTask")],
     "sans camunda:decisionRef", {}),
    ("missing_called_process.bpmn", [("Call_Sub", "callActivity")], "processus-inconnu", {}),
    ("bad_timer_duration.bpmn", [("Boundary_Timer", "boundaryEvent")], "'3 mois'", {}),
    ("empty_timer.bpmn", [("Timer_Wait", "intermediateCatchEvent")], "minuterie vide", {}),
    ("bad_due_date.bpmn", [("Task_Due", "userTask")], "camunda:dueDate", {}),
    ("bad_priority.bpmn", [("Task_Priority", "userTask")], "camunda:priority", {}),
    ("unclosed_expression.bpmn", [("Flow_High", "sequenceFlow")], "expression non fermée", {}),
    ("gateway_without_condition.bpmn", [("Flow_NoCondition", "sequenceFlow")], "sans condition", {}),
    ("script_format.bpmn", [("Task_Script", "scriptTask")], "Python", {}),
    ("xsd_invalid.bpmn", [("Task_Quantity", "userTask")], "schéma BPMN 2.0", {}),
    ("no_start_event.bpmn", [("Process_NoStart", "process")], "événement de début", {}),
    ("subprocess_without_start.bpmn", [("Sub_Empty", "subProcess")], "exactement un", {}),
    ("data_store.bpmn", [("DataStore_Finess", "dataStore"), ("Task_Store", "serviceTask")],
     "magasin de données", {}),
    ("unresolved_message_ref.bpmn", [("Catch_Reply", "intermediateCatchEvent")], "Message_Absent", {}),
]


@pytest.mark.parametrize("fixture, expected, fragment, known", RULES, ids=[r[0] for r in RULES])
def test_each_rule_reports_the_element_with_id_type_and_line(fixture, expected, fragment, known):
    path = FIXTURES / fixture
    report = lint_paths([str(path)], **known)
    want = [(element_id, element_type, line_of(path, element_id)) for element_id, element_type in expected]
    assert sorted(triples(report.errors), key=lambda t: t[2]) == want, report.format_text()
    assert not report.ok
    for finding in report.errors:
        assert finding.severity == "error"
        assert finding.file == str(path)
        assert fragment in finding.message, finding.message


# The engine's parser (SpiffWorkflow as arsflow extends it) refuses these: the linter says so
# before deployment, per element.
ENGINE_REFUSES = [
    "complex_gateway.bpmn", "compensation.bpmn", "multiple_outgoing.bpmn",
    "gateway_without_condition.bpmn", "standard_loop.bpmn", "subprocess_without_start.bpmn",
    "cancel_outside_transaction.bpmn", "no_start_event.bpmn", "empty_timer.bpmn",
    "unresolved_message_ref.bpmn", "missing_decision.bpmn",
    "business_rule_without_decision_ref.bpmn", "data_store.bpmn", "xsd_invalid.bpmn",
    "missing_called_process.bpmn",
]


@pytest.mark.parametrize("fixture", ENGINE_REFUSES)
def test_linter_errors_where_spiffworkflow_refuses_the_diagram(fixture):
    path = FIXTURES / fixture
    assert lint_paths([str(path)]).errors
    with pytest.raises(Exception):
        parser = ArsParser(validate=True)
        parser.add_bpmn_files([str(path)])
        for process_id in parser.get_process_ids():
            parser.get_spec(process_id)
            parser.get_subprocess_specs(process_id)


def test_reserved_id_is_renamed_for_spiffworkflow_and_kept_for_people():
    """A start event named "Start" (legal BPMN) used to empty the process in SpiffWorkflow: the
    parser renames it internally and the spec carries the original id back."""
    parser = ArsParser()
    parser.add_bpmn_files([str(FIXTURES / "reserved_id.bpmn")])
    spec = parser.get_spec("Process_reserved_id")
    assert "Task_Review" in spec.task_specs
    assert "Start" in {ts.bpmn_id for ts in spec.task_specs.values() if ts.name != "Start"}
    assert lint_paths([str(FIXTURES / "reserved_id.bpmn")]).errors == []


def test_descriptive_process_gets_warnings_not_errors():
    path = FIXTURES / "descriptive_complex_gateway.bpmn"
    report = lint_paths([str(path)])
    assert report.ok and report.errors == []
    assert report.processes == {}
    gateway = [f for f in report.warnings if f.element_id == "Gateway_Complex"]
    assert triples(gateway) == [("Gateway_Complex", "complexGateway", line_of(path, "Gateway_Complex"))]
    assert "non exécutable" in gateway[0].message
    process = [f for f in report.warnings if f.element_type == "process"]
    assert process and "ne sera pas déployé" in process[0].message
    assert any(f.element_type == "definitions" and "aucun processus exécutable" in f.message
               for f in report.warnings)


def test_duplicate_process_ids_across_files():
    first, second = FIXTURES / "duplicate_process_a.bpmn", FIXTURES / "duplicate_process_b.bpmn"
    assert lint_paths([str(first)]).ok and lint_paths([str(second)]).ok
    report = lint_paths([str(first), str(second)])
    assert triples(report.errors) == [("Process_Doublon", "process", line_of(second, "Process_Doublon"))]
    assert report.errors[0].file == str(second)
    assert str(first) in report.errors[0].message


# --------------------------------------------------------------------------- clean diagram and references

def test_clean_camunda_modeler_diagram_with_its_forms_decision_and_subprocess_lints_clean():
    report = lint_paths([str(CLEAN)])
    assert report.findings == [], report.format_text()
    assert report.ok
    assert report.processes == {
        "Process_DemandeAutorisation": str(CLEAN / "demande.bpmn"),
        "Process_Notification": str(CLEAN / "notification.bpmn"),
    }
    assert report.forms == {"demande-depot": str(CLEAN / "demande-depot.form"),
                            "demande-instruction": str(CLEAN / "demande-instruction.form")}
    assert report.decisions == {"eligibilite": str(CLEAN / "eligibilite.dmn")}


def test_clean_diagram_is_accepted_by_the_engine_parser():
    parser = ArsParser(validate=True)
    parser.add_bpmn_files([str(CLEAN / "demande.bpmn"), str(CLEAN / "notification.bpmn")])
    parser.add_dmn_files([str(CLEAN / "eligibilite.dmn")])
    spec = parser.get_spec("Process_DemandeAutorisation")
    assert "Task_Instruire" in spec.task_specs
    assert "Process_Notification" in parser.get_subprocess_specs("Process_DemandeAutorisation")


def test_references_missing_without_their_files_are_errors():
    path = CLEAN / "demande.bpmn"
    report = lint_paths([str(path)])
    assert sorted(triples(report.errors), key=lambda t: t[2]) == [
        ("StartEvent_Depot", "startEvent", line_of(path, "StartEvent_Depot")),
        ("Task_Instruire", "userTask", line_of(path, "Task_Instruire")),
        ("Task_Eligibilite", "businessRuleTask", line_of(path, "Task_Eligibilite")),
        ("Call_Notifier", "callActivity", line_of(path, "Call_Notifier")),
    ]
    messages = " ".join(f.message for f in report.errors)
    for missing in ("demande-depot", "demande-instruction", "eligibilite", "Process_Notification"):
        assert missing in messages


def test_known_ids_already_deployed_resolve_references():
    report = lint_paths([str(CLEAN / "demande.bpmn")],
                        known_forms={"demande-depot", "demande-instruction"},
                        known_decisions=["eligibilite"],
                        known_processes=("Process_Notification",))
    assert report.ok, report.format_text()
    assert lint_paths([str(FIXTURES / "missing_form.bpmn")], known_forms={"formulaire-inconnu"}).ok


def test_co_deployed_sources_resolve_references():
    sources = [
        ("missing_form.bpmn", (FIXTURES / "missing_form.bpmn").read_bytes()),
        ("inconnu.form", json.dumps({"id": "formulaire-inconnu", "components": []}).encode()),
    ]
    report = lint_sources(sources)
    assert report.ok, report.format_text()
    assert report.forms == {"formulaire-inconnu": "inconnu.form"}
    assert not lint_sources(sources[:1]).ok


def test_called_process_that_is_not_executable_is_reported_as_such():
    called = diagram('<bpmn:userTask id="Task_1" />', executable="false").replace(
        b'id="Process_inline"', b'id="Process_Appele"')
    caller = diagram('<bpmn:callActivity id="Task_1" calledElement="Process_Appele" />')
    report = lint_sources([("appelant.bpmn", caller), ("appele.bpmn", called)])
    assert triples(report.errors) == [("Task_1", "callActivity", line_in(caller, "Task_1"))]
    assert "n'est pas exécutable" in report.errors[0].message


# --------------------------------------------------------------------------- values that must pass

@pytest.mark.parametrize("attributes", [
    'camunda:dueDate="2027-03-01T09:00:00+01:00"',
    'camunda:dueDate="2027-03-01"',
    'camunda:dueDate="P15D" camunda:followUpDate="PT12H"',
    'camunda:dueDate="${echeance}" camunda:priority="${priorite}"',
    'camunda:priority="-10"',
    'camunda:assignee="${dossier[\'instructeur\'] + \'}\'}"',
    'camunda:formRef="${formulaire}"',
    'camunda:formRef="f" camunda:formRefBinding="version" camunda:formRefVersion="3"',
])
def test_valid_task_attributes_are_accepted(attributes):
    report = lint_sources([("ok.bpmn", diagram(f'<bpmn:userTask id="Task_1" camunda:candidateGroups="g" {attributes} />'))],
                          known_forms={"f"})
    assert report.findings == [], report.format_text()


@pytest.mark.parametrize("kind, value", [
    ("timeDuration", "P3M"), ("timeDuration", "${delai}"), ("timeDate", "2027-01-31T00:00:00Z"),
    ("timeCycle", "R3/P1W"),
])
def test_valid_timers_are_accepted(kind, value):
    body = f"""<bpmn:intermediateCatchEvent id="Task_1">
      <bpmn:timerEventDefinition id="Timer_1"><bpmn:{kind} xsi:type="bpmn:tFormalExpression">{value}</bpmn:{kind}></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>"""
    report = lint_sources([("timer.bpmn", diagram(body))])
    assert report.findings == [], report.format_text()


def test_unclosed_expression_in_a_camunda_attribute_is_reported_once():
    data = diagram('<bpmn:userTask id="Task_1" camunda:dueDate="${echeance" />')
    report = lint_sources([("x.bpmn", data)])
    assert triples(report.errors) == [("Task_1", "userTask", line_in(data, "Task_1"))]
    assert "non fermée" in report.errors[0].message


def test_transaction_with_cancel_events_is_accepted_with_a_warning():
    body = """<bpmn:transaction id="Task_1">
      <bpmn:startEvent id="Start_T" />
      <bpmn:sequenceFlow id="Flow_T1" sourceRef="Start_T" targetRef="Gateway_T" />
      <bpmn:exclusiveGateway id="Gateway_T" default="Flow_T3" />
      <bpmn:sequenceFlow id="Flow_T2" sourceRef="Gateway_T" targetRef="End_Cancel"><bpmn:conditionExpression>annuler</bpmn:conditionExpression></bpmn:sequenceFlow>
      <bpmn:sequenceFlow id="Flow_T3" sourceRef="Gateway_T" targetRef="End_T" />
      <bpmn:endEvent id="End_Cancel"><bpmn:cancelEventDefinition id="Cancel_1" /></bpmn:endEvent>
      <bpmn:endEvent id="End_T" />
    </bpmn:transaction>
    <bpmn:boundaryEvent id="Boundary_Cancel" attachedToRef="Task_1"><bpmn:cancelEventDefinition id="Cancel_2" /></bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="Flow_C" sourceRef="Boundary_Cancel" targetRef="End_Cancelled" />
    <bpmn:endEvent id="End_Cancelled" />"""
    data = diagram(body)
    report = lint_sources([("transaction.bpmn", data)])
    assert report.ok, report.format_text()
    assert triples(report.warnings) == [("Task_1", "transaction", line_in(data, "Task_1"))]
    assert "compensation" in report.warnings[0].message


def test_loop_cardinality_expression_is_accepted():
    """Camunda evaluates loopCardinality (`${pieces}`) per instance; arsflow does too, without
    writing on the shared spec (engine.multi_instance)."""
    assert lint_paths([str(FIXTURES / "loop_cardinality.bpmn")]).errors == []


def test_integer_loop_cardinality_is_accepted():
    body = """<bpmn:userTask id="Task_1" camunda:candidateGroups="g"><bpmn:multiInstanceLoopCharacteristics>
      <bpmn:loopCardinality>3</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics></bpmn:userTask>"""
    assert lint_sources([("mi.bpmn", diagram(body))]).findings == []
    collection = """<bpmn:userTask id="Task_1" camunda:candidateGroups="g"><bpmn:multiInstanceLoopCharacteristics camunda:collection="${pieces}" camunda:elementVariable="piece" /></bpmn:userTask>"""
    assert lint_sources([("mi.bpmn", diagram(collection))]).findings == []
    data_input = """<bpmn:scriptTask id="Task_1"><bpmn:multiInstanceLoopCharacteristics>
      <bpmn:loopDataInputRef>pieces</bpmn:loopDataInputRef><bpmn:inputDataItem id="piece" name="piece" />
      </bpmn:multiInstanceLoopCharacteristics><bpmn:script>x = piece</bpmn:script></bpmn:scriptTask>"""
    data = diagram(data_input)
    assert lint_sources([("mi.bpmn", data)]).findings == []
    parser = ArsParser(validate=True)
    parser.add_bpmn_str(data, "mi.bpmn")
    assert "Task_1" in parser.get_spec("Process_inline").task_specs


def test_camunda_collection_is_honoured_on_every_activity():
    """arsflow reads camunda:collection on every activity, script tasks included."""
    service = """<bpmn:serviceTask id="Task_1" camunda:topic="t"><bpmn:multiInstanceLoopCharacteristics camunda:collection="${items}" /></bpmn:serviceTask>"""
    assert lint_sources([("s.bpmn", diagram(service))]).findings == []
    script = service.replace("serviceTask", "scriptTask").replace(
        "</bpmn:scriptTask>", "<bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>")
    assert lint_sources([("s.bpmn", diagram(script))]).findings == []
    empty = script.replace(' camunda:collection="${items}"', "")
    report = lint_sources([("s.bpmn", diagram(empty))])
    assert [(f.element_id, f.element_type) for f in report.errors] == [("Task_1", "scriptTask")]


# --------------------------------------------------------------------------- DMN and forms

def test_dmn_with_two_decisions_records_both():
    """Several decisions in one file deploy, as in Camunda (issue #11)."""
    path = FIXTURES / "two_decisions.dmn"
    report = lint_paths([str(path)])
    assert report.errors == []
    assert report.decisions == {"taux": str(path), "plafond": str(path)}


def test_dmn_without_decision_is_an_error():
    report = lint_paths([str(FIXTURES / "no_decision.dmn")])
    assert [f.element_type for f in report.errors] == ["definitions"]
    assert report.decisions == {}


def test_form_with_bad_json_gives_line_and_column():
    path = FIXTURES / "bad_json.form"
    report = lint_paths([str(path)])
    [finding] = report.errors
    fourth_line = path.read_text().splitlines()[3]
    assert (finding.line, finding.column) == (4, fourth_line.index(",}") + 2)
    assert "JSON mal formé" in finding.message
    assert report.forms == {}


def test_form_without_id_and_duplicate_form_ids_are_errors():
    assert "sans « id »" in lint_paths([str(FIXTURES / "no_id.form")]).errors[0].message
    same = json.dumps({"id": "f", "components": []}).encode()
    report = lint_sources([("a.form", same), ("b.form", same)])
    assert [(f.file, f.element_id) for f in report.errors] == [("b.form", "f")]


# --------------------------------------------------------------------------- XML safety

def test_xxe_entity_is_refused_without_reading_the_file():
    path = FIXTURES / "xxe.bpmn"
    report = lint_paths([str(path)])
    [finding] = report.findings
    assert finding.severity == "error" and finding.line == 3
    assert "DOCTYPE" in finding.message
    output = report.format_text() + json.dumps(report.to_json(), ensure_ascii=False)
    assert "/etc/passwd" not in output and "root:" not in output
    with pytest.raises(XmlError) as raised:
        parse_xml(path.read_bytes(), "xxe.bpmn")
    assert "/etc/passwd" not in str(raised.value)


def test_external_dtd_is_refused_without_network():
    data = (b'<?xml version="1.0"?>\n<!DOCTYPE definitions SYSTEM "http://127.0.0.1:9/evil.dtd">\n'
            b'<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">&x;</definitions>')
    started = time.perf_counter()
    with pytest.raises(XmlError) as raised:
        parse_xml(data, "dtd.bpmn")
    assert time.perf_counter() - started < 1
    assert "127.0.0.1" not in str(raised.value) and "DTD externe" in raised.value.message


def test_billion_laughs_is_refused_quickly_and_without_expansion():
    path = FIXTURES / "billion_laughs.bpmn"
    started = time.perf_counter()
    report = lint_paths([str(path)])
    assert time.perf_counter() - started < 1
    [finding] = report.findings
    assert finding.severity == "error" and "billion laughs" in finding.message
    assert "lol" not in report.format_text().replace(str(path), "")


def test_entity_declarations_hidden_by_utf16_are_still_refused():
    """The byte scan does not see UTF-16; the DTD inspection after parsing must."""
    text = ('<?xml version="1.0" encoding="UTF-16"?>\n<!DOCTYPE d [<!ENTITY a "aaaa">]>\n'
            '<d a="&a;">&a;</d>')
    with pytest.raises(XmlError) as raised:
        parse_xml(text.encode("utf-16"), "utf16.bpmn")
    assert "entités" in raised.value.message


def test_malformed_xml_gives_file_line_and_column():
    path = FIXTURES / "malformed.bpmn"
    report = lint_paths([str(path)])
    [finding] = report.findings
    assert (finding.file, finding.line, finding.severity) == (str(path), 6, "error")
    assert finding.column and "XML mal formé" in finding.message
    assert report.format_text().startswith(f"{path}:6: [error] ")


def test_oversized_and_empty_documents_are_refused():
    with pytest.raises(XmlError, match="trop volumineux"):
        parse_xml(b" " * (MAX_XML_BYTES + 1), "gros.bpmn")
    with pytest.raises(XmlError, match="vide"):
        parse_xml(b"  \n", "vide.bpmn")
    report = lint_sources([("gros.bpmn", b"<a/>" + b" " * MAX_XML_BYTES)])
    assert "trop volumineux" in report.errors[0].message


# --------------------------------------------------------------------------- report format

def test_report_text_and_json_formats():
    path = FIXTURES / "complex_gateway.bpmn"
    report = lint_paths([str(path)])
    line = line_of(path, "Gateway_Complex")
    assert report.format_text().startswith(
        f"{path}:{line}: [error] Gateway_Complex (complexGateway): passerelle complexe")
    [item] = report.to_json()
    assert item == {"file": str(path), "element_id": "Gateway_Complex", "element_type": "complexGateway",
                    "line": line, "column": None, "message": item["message"], "severity": "error"}
    json.dumps(report.to_json())
    assert isinstance(report, LintReport) and report.warnings == []


# --------------------------------------------------------------------------- MIWG reference corpus

@needs_miwg
@pytest.mark.parametrize("path", MIWG_FILES, ids=[p.name for p in MIWG_FILES])
def test_every_miwg_file_is_read_without_crash(path):
    report = lint_paths([str(path)])
    assert isinstance(report, LintReport)
    for finding in report.findings:
        assert finding.file == str(path)
        assert finding.severity in ("error", "warning") and finding.message
        assert finding.line is None or finding.line >= 1


MIWG_WITH_ERRORS = {"C.1.1.bpmn", "C.3.0.bpmn", "C.8.1.bpmn", "C.9.0.bpmn", "C.9.2.bpmn"}


@needs_miwg
def test_miwg_which_files_lint_clean():
    failing = {path.name for path in MIWG_FILES if not lint_paths([str(path)]).ok}
    assert failing == MIWG_WITH_ERRORS
    # The two executable models made only of supported elements.
    for name, process_id in (("C.1.0.bpmn", "bpmn-miwg-test-case-c.1.0"),
                             ("C.9.1.bpmn", "requestDocument_en")):
        report = lint_paths([str(MIWG / name)])
        assert report.ok and list(report.processes) == [process_id]


@needs_miwg
def test_miwg_each_pool_of_a_collaboration_is_checked_by_its_own_executability():
    """C.1.0: an executable pool (clean) and a descriptive one whose empty timer is a warning."""
    report = lint_paths([str(MIWG / "C.1.0.bpmn")])
    assert report.ok
    assert ("sid-0E349B8B-14A7-4565-988A-38F3A9B624D2", "intermediateCatchEvent", 252) in triples(report.warnings)
    assert any(f.element_id == "sid-5FBB6CB3-8A7C-42B5-9024-15BB2684EC57" and f.element_type == "process"
               for f in report.warnings)


@needs_miwg
def test_miwg_link_events_in_descriptive_b20_are_warnings():
    report = lint_paths([str(MIWG / "B.2.0.bpmn")])
    links = [f for f in report.findings if "lien" in f.message]
    assert triples(links) == [
        ("_f27040d5-765c-493c-bbe7-9fb6ad04cbdc", "intermediateThrowEvent", 359),
        ("_4f5e6e50-d9d0-4f97-959a-d1b8e1e32788", "intermediateCatchEvent", 441),
    ]
    assert {f.severity for f in links} == {"warning"}
    assert report.ok


@needs_miwg
def test_miwg_compensation_and_event_subprocess_in_c60():
    report = lint_paths([str(MIWG / "C.6.0.bpmn")])
    found = {(f.element_id, f.element_type) for f in report.findings}
    assert ("_3a2f133c-3ae1-4e21-94b5-6e8cf51acd74", "serviceTask") in found      # isForCompensation
    assert ("_b25ecc7c-4eff-4a70-96f2-6b2f94cf19b1", "boundaryEvent") in found    # compensation boundary
    assert ("_e880bf53-84ca-4776-aa75-d1bf53172240", "subProcess") in found       # interrupting event subprocess
    assert any("isExecutable absent" in f.message for f in report.warnings)


@needs_miwg
def test_miwg_executable_c30_errors_match_spiffworkflow():
    report = lint_paths([str(MIWG / "C.3.0.bpmn")])
    assert ("_cd6f230f-13c3-4027-aa3e-57de601a1ab2", "subProcess", 244) in triples(report.errors)


@needs_miwg
def test_miwg_co_deployment_resolves_call_activities_across_files():
    alone = lint_paths([str(MIWG / "C.9.2.bpmn")])
    assert any("requestDocument_en" in f.message for f in alone.errors)
    together = lint_paths([str(MIWG / "C.9.0.bpmn"), str(MIWG / "C.9.1.bpmn"), str(MIWG / "C.9.2.bpmn")])
    assert not any("introuvable" in f.message for f in together.errors)
    assert set(together.processes) == {"customer_onboarding_en", "requestDocument_en", "ManualCheck"}


# --------------------------------------------------------------------------- performance

def fifty_node_diagram() -> bytes:
    tasks, shapes = [], []
    previous = "StartEvent_1"
    for index in range(48):
        task_id = f"Task_{index}"
        tasks.append(f'<bpmn:userTask id="{task_id}" name="Étape {index}" camunda:candidateGroups="g" camunda:formRef="f" '
                     f'camunda:dueDate="P{index + 1}D" camunda:priority="{index}" />')
        tasks.append(f'<bpmn:sequenceFlow id="Flow_{index}" sourceRef="{previous}" targetRef="{task_id}" />')
        shapes.append(f'<bpmndi:BPMNShape id="{task_id}_di" bpmnElement="{task_id}">'
                      f'<dc:Bounds x="{index * 150}" y="80" width="100" height="80" /></bpmndi:BPMNShape>')
        previous = task_id
    tasks.append(f'<bpmn:sequenceFlow id="Flow_end" sourceRef="{previous}" targetRef="EndEvent_1" />')
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="Definitions_perf" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="Process_perf" isExecutable="true">
    <bpmn:startEvent id="StartEvent_1" />
    {''.join(tasks)}
    <bpmn:endEvent id="EndEvent_1" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="BPMNDiagram_1"><bpmndi:BPMNPlane id="BPMNPlane_1" bpmnElement="Process_perf">
    {''.join(shapes)}
  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</bpmn:definitions>""".encode("utf-8")


def test_fifty_node_diagram_lints_clean_with_the_schema_loaded_once():
    """How fast is measured in bench/, not asserted here."""
    data = fifty_node_diagram()
    assert lint_sources([("perf.bpmn", data)], known_forms={"f"}).findings == []
    assert _bpmn_schema() is _bpmn_schema()  # loaded once per process
