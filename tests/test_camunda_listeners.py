"""Execution and task listeners written as Camunda Modeler 5 saves them (Python scripts and
expressions) run at Camunda's moments; a Java listener is a lint error naming the element."""
from __future__ import annotations

from arsflow.engine.bpmn.lint import lint_sources

from tests.bpmn_builder import chain, flow, script_task
from tests.modeler import modeler_diagram


def _script_listener(kind: str, event: str, script: str) -> str:
    return (f'<camunda:{kind} event="{event}"><camunda:script scriptFormat="python">{script}'
            f'</camunda:script></camunda:{kind}>')


def _listener_process() -> str:
    task_ext = "".join([
        _script_listener("executionListener", "start", "journal = journal + ['start']"),
        _script_listener("taskListener", "create", "journal = journal + ['create']"),
        _script_listener("taskListener", "assignment", "journal = journal + ['assignment']"),
        _script_listener("taskListener", "complete", "journal = journal + ['complete']"),
        _script_listener("executionListener", "end", "journal = journal + ['end']"),
        '<camunda:executionListener event="end" expression="${journal.append(\'expression\')}" />'])
    return modeler_diagram("\n".join([
        '<bpmn:startEvent id="StartEvent_1"><bpmn:extensionElements>'
        + _script_listener("executionListener", "end", "journal = ['debut']") + '</bpmn:extensionElements></bpmn:startEvent>',
        f'<bpmn:userTask id="Task_avis" name="Avis" camunda:candidateGroups="staff"><bpmn:extensionElements>{task_ext}'
        '</bpmn:extensionElements></bpmn:userTask>',
        '<bpmn:sequenceFlow id="Flow_take" sourceRef="Task_avis" targetRef="Task_fin"><bpmn:extensionElements>'
        + _script_listener("executionListener", "take", "journal = journal + ['take']") + '</bpmn:extensionElements>'
        '</bpmn:sequenceFlow>',
        '<bpmn:userTask id="Task_fin" name="Fin" camunda:candidateGroups="staff"/>',
        '<bpmn:endEvent id="EndEvent_1"/>', flow("StartEvent_1", "Task_avis"), chain("Task_fin", "EndEvent_1")]))


def test_listeners_run_in_camunda_order(drive):
    rt = drive.runtime
    drive.deploy({"l.bpmn": _listener_process()})
    iid = rt().start("p", actor="alice")["instance_id"]
    [task] = rt().tasks(instance_id=iid)
    assert rt().task_data(task["id"], actor="alice")["journal"] == ["debut", "start", "create"]
    rt().claim(task["id"], actor="alice")
    assert rt().task_data(task["id"], actor="alice")["journal"] == ["debut", "start", "create", "assignment"]
    rt().complete(task["id"], actor="alice")
    [fin] = rt().tasks(instance_id=iid)
    assert rt().task_data(fin["id"], actor="alice")["journal"] == [
        "debut", "start", "create", "assignment", "complete", "end", "expression", "take"]


def test_assignment_listener_runs_when_the_task_is_created_assigned(drive):
    rt = drive.runtime
    ext = _script_listener("taskListener", "assignment", "attribuee = True")
    drive.deploy({"a.bpmn": modeler_diagram("\n".join([
        '<bpmn:startEvent id="StartEvent_1"/>',
        f'<bpmn:userTask id="Task_1" name="T" camunda:assignee="alice"><bpmn:extensionElements>{ext}'
        '</bpmn:extensionElements></bpmn:userTask>',
        '<bpmn:endEvent id="EndEvent_1"/>', chain("StartEvent_1", "Task_1", "EndEvent_1")]))})
    iid = rt().start("p", actor="alice")["instance_id"]
    [task] = rt().tasks(instance_id=iid)
    assert rt().task_data(task["id"], actor="alice")["attribuee"] is True


def test_failing_listener_is_a_french_incident_on_its_element(drive):
    rt = drive.runtime
    ext = _script_listener("executionListener", "start", "x = 1 / 0")
    drive.deploy({"e.bpmn": modeler_diagram("\n".join([
        '<bpmn:startEvent id="StartEvent_1"/>', script_task("Script_1", "y = 1").replace(
            '<bpmn:script>', f'<bpmn:extensionElements>{ext}</bpmn:extensionElements><bpmn:script>'),
        '<bpmn:endEvent id="EndEvent_1"/>', chain("StartEvent_1", "Script_1", "EndEvent_1")]))})
    result = rt().start("p", actor="alice")
    assert result["state"] == "incident"
    incident = rt().show(result["instance_id"])["incident"]
    assert incident["element_id"] == "Script_1" and "ZeroDivisionError" in incident["message"]


def test_java_listeners_are_lint_errors_naming_the_element():
    body = "\n".join([
        '<bpmn:startEvent id="StartEvent_1"/>',
        '<bpmn:userTask id="Task_java" camunda:candidateGroups="staff"><bpmn:extensionElements>'
        '<camunda:taskListener class="org.example.Notifier" event="create" /></bpmn:extensionElements></bpmn:userTask>',
        '<bpmn:serviceTask id="Task_delegue" camunda:topic="t"><bpmn:extensionElements>'
        '<camunda:executionListener delegateExpression="${logger}" event="start" /></bpmn:extensionElements>'
        '</bpmn:serviceTask>',
        '<bpmn:endEvent id="EndEvent_1"/>', chain("StartEvent_1", "Task_java", "Task_delegue", "EndEvent_1")])
    report = lint_sources([("java.bpmn", modeler_diagram(body).encode())])
    errors = {(f.element_id, f.element_type): f for f in report.errors}
    assert set(errors) == {("Task_java", "userTask"), ("Task_delegue", "serviceTask")}
    assert "org.example.Notifier" in errors[("Task_java", "userTask")].message
    assert all(f.line for f in report.errors)
