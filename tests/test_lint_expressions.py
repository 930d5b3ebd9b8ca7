"""Lint parses every expression and compiles every Python script at deploy time, naming the
file, line, element (the flow, for a condition) and why; JavaScript/Groovy are refused."""
from __future__ import annotations

import pytest

from arsflow.engine.errors import DeploymentError
from arsflow.engine.bpmn.lint import lint_sources
from tests.bpmn_builder import chain, definitions, flow, script_task, user_task


def lint(xml: str, name: str = "d.bpmn"):
    return lint_sources([(name, xml.encode())])


def gateway_process(condition: str) -> str:
    return definitions("\n".join([
        '<bpmn:startEvent id="start"/>', '<bpmn:exclusiveGateway id="gw" default="f_other"/>',
        user_task("big", attrs='camunda:candidateGroups="g"'), user_task("small", attrs='camunda:candidateGroups="g"'),
        '<bpmn:endEvent id="end"/>',
        flow("start", "gw"), flow("gw", "big", condition, fid="Flow_Big"), flow("gw", "small", fid="f_other"),
        flow("big", "end"), flow("small", "end", fid="f2")]))


@pytest.mark.parametrize("condition", [
    "${amount &gt; 1000}", "#{amount &gt; 1000}", "${amount gt 1000 &amp;&amp; approved}", "${!approved}",
    "${approved == true}", "${comment != null}", "${empty comment}",
    '${execution.getVariable("amount") &gt; 1000}', "${execution.processBusinessKey == 'X'}",
    "${cond ? a : b}", 'decision == "adjust"', "len(items) &gt; 0",
])
def test_valid_conditions_lint_clean(condition):
    report = lint(gateway_process(condition))
    assert report.ok, report.format_text()


@pytest.mark.parametrize("condition, expected", [
    ("${amount gt}", "opérande attendu"),
    ("${amount &gt; 1000 &amp;&amp;}", "opérande attendu"),
    ("${a ? b}", "« : » attendu"),
    ("${__import__('os').system('id')}", "interdit"),
    ("amount gt", "expression JUEL invalide"),
])
def test_bad_condition_names_the_flow(condition, expected):
    report = lint(gateway_process(condition))
    [error] = report.errors
    assert error.element_id == "Flow_Big" and error.element_type == "sequenceFlow"
    assert error.file == "d.bpmn" and error.line and expected in error.message


def test_script_conditions_refused_with_hint():
    xml = gateway_process("x").replace('<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">',
                                       '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression" language="groovy">')
    [error] = lint(xml).errors
    assert error.element_id == "Flow_Big" and "groovy" in error.message and "JUEL" in error.message


def script_process(script: str, fmt: str = "python") -> str:
    return definitions("\n".join([
        '<bpmn:startEvent id="start"/>',
        script_task("Calcul", script).replace('scriptFormat="python"', f'scriptFormat="{fmt}"'),
        '<bpmn:endEvent id="end"/>', chain("start", "Calcul", "end")]))


def test_script_importing_os_is_a_lint_error_and_does_not_deploy(deploy):
    xml = script_process("total = 1\nimport os\nos.system('id')")
    [error] = lint(xml).errors
    assert error.element_id == "Calcul" and "import" in error.message
    script_line = next(n for n, line in enumerate(xml.splitlines(), 1) if "<bpmn:script>" in line)
    assert error.line == script_line + 1  # the line of `import os` in the file
    with pytest.raises(DeploymentError, match="import"):
        deploy({"d.bpmn": xml})


def test_script_syntax_error_names_line():
    [error] = lint(script_process("a = 1\nif a\n    b = 2")).errors
    assert error.element_id == "Calcul" and "syntaxe" in error.message


@pytest.mark.parametrize("fmt", ["javascript", "groovy"])
def test_javascript_and_groovy_refused_with_hint(fmt):
    [error] = lint(script_process("x = 1", fmt)).errors
    assert error.element_id == "Calcul" and fmt in error.message and "Python" in error.message


def test_attributes_and_input_output_are_parsed():
    ext = ('<camunda:inputOutput>'
           '<camunda:inputParameter name="a">${x gt}</camunda:inputParameter>'
           '<camunda:inputParameter name="s"><camunda:script scriptFormat="python">import sys</camunda:script>'
           '</camunda:inputParameter>'
           '<camunda:outputParameter name="o"><camunda:script scriptFormat="javascript">1</camunda:script>'
           '</camunda:outputParameter>'
           '</camunda:inputOutput>')
    xml = definitions("\n".join([
        '<bpmn:startEvent id="start"/>',
        user_task("T", attrs='camunda:assignee="${a ? }" camunda:dueDate="${due ==}"', ext=ext),
        '<bpmn:endEvent id="end"/>', chain("start", "T", "end")]))
    messages = [e.message for e in lint(xml).errors]
    assert all(e.element_id == "T" for e in lint(xml).errors)
    assert any(m.startswith("camunda:assignee") for m in messages)
    assert any(m.startswith("camunda:dueDate") for m in messages)
    assert any(m.startswith("inputParameter") for m in messages)
    assert any("camunda:script refusé" in m and "import" in m for m in messages)
    assert any("javascript" in m for m in messages)


def test_timer_expression_is_parsed():
    body = "\n".join([
        '<bpmn:startEvent id="start"/>', user_task("T", attrs='camunda:candidateGroups="g"'),
        '<bpmn:boundaryEvent id="Timer" attachedToRef="T"><bpmn:timerEventDefinition>'
        '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">${delay ?}</bpmn:timeDuration>'
        '</bpmn:timerEventDefinition></bpmn:boundaryEvent>',
        '<bpmn:endEvent id="end"/>', '<bpmn:endEvent id="end2"/>', chain("start", "T", "end"),
        flow("Timer", "end2")])
    [error] = lint(definitions(body)).errors
    assert error.element_id == "Timer" and "timeDuration" in error.message


def test_listener_and_mapping_expressions_are_parsed():
    ext = ('<camunda:executionListener expression="${a gt}" event="start" />'
           '<camunda:in sourceExpression="${x ?}" target="y" />')
    body = "\n".join(['<bpmn:startEvent id="start"/>',
                      f'<bpmn:callActivity id="Call" calledElement="p"><bpmn:extensionElements>{ext}'
                      '</bpmn:extensionElements></bpmn:callActivity>',
                      '<bpmn:endEvent id="end"/>', chain("start", "Call", "end")])
    messages = [e.message for e in lint(definitions(body)).errors if e.element_id == "Call"]
    assert any(m.startswith("camunda:executionListener expression") for m in messages), messages
    assert any(m.startswith("camunda:in sourceExpression") for m in messages), messages


def test_call_activity_without_mappings_warns():
    body = "\n".join(['<bpmn:startEvent id="start"/>', '<bpmn:callActivity id="Call" calledElement="p"/>',
                      '<bpmn:endEvent id="end"/>', chain("start", "Call", "end")])
    report = lint_sources([("d.bpmn", definitions(body).encode())], known_processes={"p"})
    assert report.ok
    [warning] = report.warnings
    assert warning.element_id == "Call" and "aucune variable" in warning.message
