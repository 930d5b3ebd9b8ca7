"""JUEL as Camunda 7 evaluates it: the expressions of issue #11, EL coercions, the language
choice beside Python, and syntax errors."""
from __future__ import annotations

import math
from decimal import Decimal

import pytest

from arsflow.engine.bpmn import juel
from arsflow.engine.bpmn.expressions import ExpressionError, check_value, compile_expression
from arsflow.engine.bpmn.juel import JuelError, JuelSyntaxError, evaluate, parse, to_string


class FakeEngine:
    business_key = "DOSSIER-42"
    instance_id = 7


class FakeSpec:
    bpmn_id = "Task_valider"
    bpmn_name = "Valider la demande"
    name = "demande"
    documentation = None


class FakeTask:
    def __init__(self, data):
        self.data = data
        self.id = "1b0e"
        self.task_spec = FakeSpec()
        self.internal_data = {"assignee": "lea"}
        self.workflow = type("W", (), {"spec": FakeSpec(), "parent_task_id": None})()


def run(body, **variables):
    """Evaluate a `${…}`/`#{…}` as the script engine does (beans included)."""
    from arsflow.engine.bpmn.juel_beans import ExecutionBean, TaskBean
    from arsflow.engine.bpmn.expressions import unwrap
    text, deferred = unwrap(body)
    compiled = compile_expression(text, deferred)
    assert compiled.language == "juel", body
    task = FakeTask(variables)
    return evaluate(compiled.tree, variables, {"double": lambda x: 2 * x},
                    {"execution": ExecutionBean(task, FakeEngine()), "task": TaskBean(task, FakeEngine())})


# ---- the expressions of the issue, exactly as written there

@pytest.mark.parametrize("expression, variables, expected", [
    ("#{amount > 1000}", {"amount": 1500}, True),
    ("#{amount > 1000}", {"amount": 900}, False),
    ("${amount gt 1000 && approved}", {"amount": 1500, "approved": True}, True),
    ("${amount gt 1000 && approved}", {"amount": 1500, "approved": False}, False),
    ("${!approved}", {"approved": False}, True),
    ("${!approved}", {"approved": True}, False),
    ("${approved == true}", {"approved": True}, True),
    ("${approved == true}", {"approved": "true"}, True),  # a form's text coerces to boolean
    ("${comment != null}", {"comment": None}, False),
    ("${comment != null}", {"comment": "ok"}, True),
    ("${empty comment}", {"comment": ""}, True),
    ("${empty comment}", {"comment": None}, True),
    ("${empty comment}", {"comment": "vu"}, False),
    ('${execution.getVariable("amount") > 1000}', {"amount": 1001}, True),
    ('${execution.getVariable("amount") > 1000}', {"amount": 1000}, False),
    ("${execution.processBusinessKey}", {}, "DOSSIER-42"),
    ("${cond ? a : b}", {"cond": True, "a": "A", "b": "B"}, "A"),
    ("${cond ? a : b}", {"cond": False, "a": "A", "b": "B"}, "B"),
])
def test_issue_expressions(expression, variables, expected):
    assert run(expression, **variables) == expected


def test_amount_greater_than_1000_stays_python():
    """`${amount > 1000}` and existing procedures' conditions keep running in the sandbox."""
    assert compile_expression("amount > 1000").language == "python"
    assert compile_expression('len(composition_violations) > 0').language == "python"
    assert compile_expression('days_before(cnp_date, 7)').language == "python"
    assert compile_expression('proposal["exchange_if_needed"] and exchange_needed').language == "python"
    # …but `#{…}` is always JUEL, and so is anything naming a JUEL word
    assert compile_expression("amount > 1000", deferred=True).language == "juel"
    assert compile_expression("comment != null").language == "juel"
    assert compile_expression("execution.processBusinessKey").language == "juel"


# ---- operators, word forms, literals

@pytest.mark.parametrize("body, expected", [
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("7 / 2", 3.5), ("8 div 2", 4.0), ("7 % 3", 1),
    ("7 mod 3", 1), ("-7 % 3", -1), ("7 % -3", 1), ("7.5 % 2", 1.5), ("1 / 0", math.inf),
    ("2 eq 2", True), ("2 ne 3", True), ("2 lt 3", True), ("3 gt 2", True), ("2 le 2", True),
    ("2 ge 3", False), ("true and false", False), ("true or false", True), ("not true", False),
    ("!false", True), ("null == null", True), ("empty null", True), ("'a' < 'b'", True),
    ("\"it's\" == 'it\\'s'", True), ("1e3 == 1000", True), ("-(2)", -2), ("- '3'", -3),
    ("true ? 1 : 0", 1), ("false ? 1 : true ? 2 : 3", 2), ("1 < 2 == true", True),
    ("3 - 2 - 1", 0), ("12 / 2 / 3", 2.0),
])
def test_operators(body, expected):
    assert evaluate(body, {}) == expected


@pytest.mark.parametrize("body, variables, expected", [
    # null and empty coerce to 0 in arithmetic, to false in logic
    ("a + 1", {"a": None}, 1), ("a + b", {"a": None, "b": None}, 0), ("!a", {"a": None}, True),
    ("a && true", {"a": ""}, False),
    # numbers from text
    ("a + 1", {"a": "41"}, 42), ("a + 1", {"a": "1.5"}, 2.5), ("a > 9", {"a": "10"}, True),
    ("a == 1", {"a": "1"}, True), ("a == 1.0", {"a": 1}, True),
    # strings compare as strings when neither side is a number
    ("a > b", {"a": "b", "b": "a"}, True), ("a == 'x'", {"a": "x"}, True),
    # null is never <, > anything; equal only to null
    ("a < 1", {"a": None}, False), ("a >= 1", {"a": None}, False), ("a == 0", {"a": None}, False),
    # Decimal stays exact
    ("a + 0.1", {"a": Decimal("0.2")}, Decimal("0.3")),
    # booleans compare with text
    ("a == 'TRUE'", {"a": True}, True),
])
def test_coercions(body, variables, expected):
    assert evaluate(body, variables) == expected


@pytest.mark.parametrize("body, variables, message", [
    ("a + b", {"a": "x", "b": "y"}, "« x »"),        # `+` is numeric only
    ("a + 1", {"a": True}, "booléen"),
    ("a && b", {"a": 1, "b": True}, "en booléen"),
    ("7 mod 0", {}, "modulo par zéro"),
    ("missing > 1", {}, "variable inconnue « missing »"),
    ("nope(1)", {}, "fonction inconnue"),
    ("a.b", {"a": 3}, "propriété « b »"),
    ("a.upper()", {"a": "x"}, r"méthode « upper\(\) »"),
])
def test_evaluation_errors(body, variables, message):
    with pytest.raises(JuelError, match=message):
        evaluate(body, variables)


# ---- property, index and method access

def test_property_index_and_methods():
    data = {"dossier": {"demandeur": {"nom": "Durand"}, "pieces": ["cerfa", "rib"]}, "i": 1, "k": "pieces"}
    assert evaluate("dossier.demandeur.nom", data) == "Durand"
    assert evaluate('dossier["demandeur"]["nom"]', data) == "Durand"
    assert evaluate("dossier.pieces[0]", data) == "cerfa"
    assert evaluate("dossier[k][i]", data) == "rib"
    assert evaluate("dossier.pieces[5]", data) is None  # out of range is null, as in EL
    assert evaluate("dossier.absent.nom", data) is None  # null-safe navigation
    assert evaluate("dossier.pieces.size()", data) == 2
    assert evaluate("dossier.pieces.contains('rib')", data) is True
    assert evaluate("dossier.containsKey('pieces')", data) is True
    assert evaluate("dossier.demandeur.nom.toUpperCase()", data) == "DURAND"
    assert evaluate("dossier.demandeur.nom.length() > 3", data) is True
    assert evaluate("empty dossier.pieces", data) is False


def test_execution_and_task_beans():
    assert run('${execution.hasVariable("x")}', x=None) is True
    assert run('${execution.hasVariable("y")}', x=1) is False
    assert run("${execution.getProcessInstanceId()}") == "7"
    assert run("${execution.activityId}") == "Task_valider"
    assert run("${execution.currentActivityName}") == "Valider la demande"
    assert run("${execution.getVariables().x}", x=5) == 5
    assert run("${task.name}") == "Valider la demande"
    assert run("${task.getTaskDefinitionKey()}") == "Task_valider"
    assert run("${task.assignee}") == "lea"
    assert run("${task.execution.processBusinessKey}") == "DOSSIER-42"
    with pytest.raises(JuelError, match="getClass"):
        run("${execution.getClass()}")
    task = FakeTask({})
    from arsflow.engine.bpmn.juel_beans import ExecutionBean
    evaluate('execution.setVariable("decision", "ok")', {}, objects={"execution": ExecutionBean(task, FakeEngine())})
    assert task.data == {"decision": "ok"}


def test_helpers_callable_from_juel():
    assert run("${double(amount) gt 10}", amount=6) is True


def test_composite_text_is_a_string():
    assert to_string(None) == "" and to_string(True) == "true" and to_string(2.0) == "2.0"
    assert to_string(1e20) == "1.0E20" and to_string([1, None]) == "[1, null]"


def test_no_python_evaluation_path():
    """Python-looking escapes are plain (unknown) identifiers or syntax errors for JUEL."""
    with pytest.raises(JuelError):
        evaluate("__import__('os')", {})
    with pytest.raises(JuelError, match="propriété"):
        evaluate("a.__class__", {"a": 1})
    with pytest.raises(JuelError, match="méthode"):
        evaluate("a.__class__()", {"a": "x"})


# ---- syntax errors

@pytest.mark.parametrize("body, message", [
    ("amount gt", "opérande attendu"),
    ("a ? b", "« : » attendu"),
    ("(a", "« ) » attendu"),
    ("a b", "suite inattendue"),
    ("a instanceof b", "instanceof"),
    ("a @ b", "caractère inattendu « @ »"),
    ("", "expression vide"),
])
def test_syntax_errors(body, message):
    with pytest.raises(JuelSyntaxError) as caught:
        parse(body)
    assert message in str(caught.value)


def test_check_value_reports_both_languages():
    assert check_value("${amount > 1000}") == []
    assert check_value("Bonjour ${name}, dossier #{execution.processBusinessKey}") == []
    [problem] = check_value("${amount gt}")
    assert "expression JUEL invalide" in problem and "Python" in problem
    [problem] = check_value("${x == null &&}")
    assert "opérande attendu" in problem
    [problem] = check_value("${__import__('os')}")
    assert "interdit" in problem  # Python syntax: the sandbox refuses it at lint time
    [problem] = check_value("${amount > 1000")
    assert "non fermée" in problem
    with pytest.raises(ExpressionError):
        compile_expression("a ? : b")


def test_property_paths_are_juel_and_dates_keep_their_fields():
    from datetime import date
    assert compile_expression("demandeur.nom").language == "juel"
    assert compile_expression("demandeur.nom == 'x'").language == "juel"
    assert compile_expression('"-".join(items)').language == "python"  # a method call stays Python
    assert evaluate("d.year + 1", {"d": date(2026, 11, 30)}) == 2027
