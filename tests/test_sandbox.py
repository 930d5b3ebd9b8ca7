"""The sandbox for process owners' Python: data semantics, routing, refusals, incidents, cache."""
from __future__ import annotations

import uuid
from datetime import date
from xml.sax.saxutils import escape

import arsflow.engine.bpmn.sandbox as sandbox
import pytest
from arsflow.engine.bpmn.sandbox import (
    RestrictedEnvironment,
    SandboxError,
    compile_script,
    make_script_engine,
)
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.camunda.parser import CamundaParser
from SpiffWorkflow.util.task import TaskState

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    id="defs" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="proc" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="calcul"/>
    <bpmn:scriptTask id="calcul" name="Calcul" scriptFormat="python">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="calcul" targetRef="choix"/>
    <bpmn:exclusiveGateway id="choix" default="f_bas">
      <bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f_haut</bpmn:outgoing><bpmn:outgoing>f_bas</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="f_haut" sourceRef="choix" targetRef="route_haut">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_bas" sourceRef="choix" targetRef="route_bas"/>
    <bpmn:scriptTask id="route_haut" scriptFormat="python">
      <bpmn:incoming>f_haut</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:script>route = "haut"</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:scriptTask id="route_bas" scriptFormat="python">
      <bpmn:incoming>f_bas</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
      <bpmn:script>route = "bas"</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f3" sourceRef="route_haut" targetRef="fin_haut"/>
    <bpmn:sequenceFlow id="f4" sourceRef="route_bas" targetRef="fin_bas"/>
    <bpmn:endEvent id="fin_haut"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="fin_bas"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""


def parse(script: str, condition: str = "montant > 1000"):
    parser = CamundaParser()
    xml = BPMN.format(script=escape(script), condition=escape(condition))
    parser.add_bpmn_str(xml.encode("utf-8"))
    return parser.get_spec("proc"), parser.get_subprocess_specs("proc")


def run(script: str, condition: str = "montant > 1000", data: dict | None = None,
        engine: PythonScriptEngine | None = None, specs=None) -> BpmnWorkflow:
    spec, subs = specs or parse(script, condition)
    wf = BpmnWorkflow(spec, subs, script_engine=engine or make_script_engine())
    wf.task_tree.data.update(data or {})
    wf.do_engine_steps()
    return wf


def final_data(wf: BpmnWorkflow) -> dict:
    """Data of whichever route task ran."""
    assert wf.is_completed()
    done = [t for t in wf.get_tasks(state=TaskState.COMPLETED)
            if t.task_spec.name in ("route_haut", "route_bas")]
    assert len(done) == 1
    return done[0].data


GUARD_NAMES = {"__builtins__", "_print", "_getattr_", "_getitem_", "_write_", "_getiter_",
               "_iter_unpack_sequence_", "_unpack_sequence_", "_inplacevar_", "_inplaceitem_",
               "_apply_", "_print_"}


# --------------------------------------------------------------------------- allowed code

SCRIPT = """
avis["ars"] = {"favorable": montant < 5000, "motif": motif.upper()}
seats.append(len(seats) + 1)
compteurs["a"] += 10
compteurs.setdefault("c", 0)
compteurs["c"] -= 1
total = 0
for cle, valeur in compteurs.items():
    total += valeur
premier, (second, troisieme) = 1, (2, 3)
pairs = [n * n for n in range(6) if n % 2 == 0]
index = {k: v for k, v in compteurs.items() if v > 0}
uniques = sorted(set(["b", "a", "b"]))
echeance = (date.fromisoformat(depot) + timedelta(days=60)).isoformat()
jour = datetime(2025, 1, 31, tzinfo=timezone.utc).strftime("%d/%m/%Y")
libelle = f"{dossier}-{annee:04d}"
del compteurs["b"]
while total > 100:
    total = total // 2
"""


def base_data(**extra):
    data = {"montant": 1500, "motif": "complet", "avis": {}, "seats": [1, 2],
            "compteurs": {"a": 1, "b": 2}, "depot": "2025-01-31", "dossier": "D12", "annee": 25}
    data.update(extra)
    return data


def test_script_updates_task_data_in_place_and_condition_routes():
    wf = run(SCRIPT, data=base_data())
    data = final_data(wf)
    assert data["route"] == "haut"
    assert data["avis"] == {"ars": {"favorable": True, "motif": "COMPLET"}}
    assert data["seats"] == [1, 2, 3]
    assert data["compteurs"] == {"a": 11, "c": -1}
    assert data["total"] == 12
    assert (data["premier"], data["second"], data["troisieme"]) == (1, 2, 3)
    assert data["pairs"] == [0, 4, 16]
    assert data["index"] == {"a": 11, "b": 2}
    assert data["uniques"] == ["a", "b"]
    assert data["echeance"] == "2025-04-01"
    assert data["jour"] == "31/01/2025"
    assert data["libelle"] == "D12-0025"


def test_condition_routes_to_default_when_false():
    wf = run("montant = montant - 1000", data=base_data())
    assert final_data(wf)["route"] == "bas"


def test_camunda_dollar_expression_and_xml_layout_are_accepted():
    wf = run("\n        x = montant * 2\n        y = x + 1\n", "\n  ${ y > 3000 }\n",
             data=base_data())
    assert final_data(wf)["route"] == "haut"


def test_helper_callable_from_script_and_condition_and_not_leaked():
    calls = []

    def seuil(categorie):
        calls.append(categorie)
        return {"ehpad": 1000, "ssiad": 5000}[categorie]

    engine = make_script_engine({"seuil": seuil})
    wf = run("limite = seuil(categorie)\ncarre = lambda v: v * v\nfn = seuil",
             "montant > seuil(categorie)", data=base_data(categorie="ehpad"), engine=engine)
    data = final_data(wf)
    assert data["route"] == "haut"
    assert data["limite"] == 1000
    assert calls == ["ehpad", "ehpad"]  # once from the script, once from the condition
    for task in wf.get_tasks():
        leaked = set(task.data) & (GUARD_NAMES | {"seuil", "carre", "fn", "len", "date"})
        assert not leaked, (task.task_spec.name, leaked)


def test_register_after_creation_and_rejects_reserved_names():
    env = RestrictedEnvironment()
    env.register("double", lambda v: 2 * v)
    assert env.evaluate("double(n) == 8", {"n": 4}) is True
    with pytest.raises(ValueError):
        env.register("_cache", lambda: 1)
    with pytest.raises(ValueError):
        env.register("pas un nom", lambda: 1)
    with pytest.raises(TypeError):
        env.register("valeur", 42)


def test_make_script_engine_is_a_spiffworkflow_engine_with_the_sandbox():
    engine = make_script_engine({"f": len})
    assert isinstance(engine, PythonScriptEngine)
    assert isinstance(engine.environment, RestrictedEnvironment)
    assert isinstance(engine.environment, TaskDataEnvironment)
    assert engine.environment.globals == {"f": len}


def test_print_is_collected_never_written_to_stdout(capsys):
    wf = run('print("secret", montant)\nsortie = printed', data=base_data())
    assert final_data(wf)["sortie"] == "secret 1500\n"
    assert capsys.readouterr().out == ""


def test_task_data_cannot_replace_a_guard():
    # A form field named like a guard must not replace it (the guard would become a str).
    env = RestrictedEnvironment()
    context = {"_getattr_": "pirate", "__builtins__": {"open": open}, "nom": "ars"}
    assert env.evaluate('nom.upper() == "ARS"', context) is True
    env.execute("grand = nom.upper()", context)
    assert context["grand"] == "ARS"
    assert not set(context) & GUARD_NAMES


def test_write_guard_allows_plain_data_objects_from_helpers():
    from dataclasses import dataclass
    from types import SimpleNamespace

    @dataclass
    class Dossier:
        statut: str = "depose"

    env = RestrictedEnvironment()
    context = {"dossier": Dossier(), "ns": SimpleNamespace(n=1), "octets": bytearray(b"ab")}
    env.execute("dossier.statut = 'instruit'\nns.n = 2\nocts = octets\nocts[0] = 65", context)
    assert context["dossier"].statut == "instruit"
    assert context["ns"].n == 2
    assert context["octets"] == bytearray(b"Ab")


def test_helper_shadowed_by_task_data_fails_fast_like_spiffworkflow():
    env = RestrictedEnvironment({"seuil": lambda: 1})
    with pytest.raises(ValueError, match="seuil"):
        env.execute("x = 1", {"seuil": 3})


# --------------------------------------------------------------------------- refusals

FORBIDDEN = [
    ("import os", "import"),
    ("from os import path", "import"),
    ("m = __import__('os')", "__import__"),
    ("b = ().__class__.__bases__", "__class__"),
    ("p = montant._private", "_private"),
    ("f = open('/etc/passwd')", "open"),
    ("exec('1')", "exec"),
    ("r = eval('1')", "eval"),
    ("r = getattr(montant, 'real')", "getattr"),
    ("g = globals()", "globals"),
    ("l = locals()", "locals"),
    ("v = vars()", "vars"),
    ("setattr(avis, 'x', 1)", "setattr"),
    ("t = type(montant)", "type"),
    ("c = compile('1', 'x', 'eval')", "compile"),
    ("b = __builtins__", "__builtins__"),
    ("s = str.mro()", "mro"),
    ("s = '{0.__class__}'.format(montant)", "format"),
    ("g = (n for n in seats)\nf = g.gi_frame", "gi_frame"),
    ("class A:\n    pass", "class"),
    ("s = f'{montant.__class__}'", "__class__"),
]


@pytest.mark.parametrize("construct,named", FORBIDDEN, ids=[f for f, _ in FORBIDDEN])
def test_forbidden_construct_is_refused_before_anything_runs(construct, named):
    with pytest.raises(WorkflowTaskException) as excinfo:
        run(f"avant = 1\n{construct}\napres = 1", data=base_data())
    err = excinfo.value
    assert err.error_type == "SandboxError"
    assert isinstance(err.__context__, SandboxError)
    assert named in str(err.__context__)
    assert err.task_spec.name == "calcul"
    # Refused at compile time: not even the first line ran.
    assert "avant" not in err.task.data


FORBIDDEN_EXPRESSIONS = [(c.split(" = ", 1)[1], n) for c, n in FORBIDDEN
                         if " = " in c and "\n" not in c]


@pytest.mark.parametrize("expression,named", FORBIDDEN_EXPRESSIONS,
                         ids=[e for e, _ in FORBIDDEN_EXPRESSIONS])
def test_forbidden_construct_in_condition_is_refused(expression, named):
    with pytest.raises(WorkflowTaskException) as excinfo:
        run("x = 1", f"montant > 0 and ({expression})", data=base_data())
    assert isinstance(excinfo.value.__context__, SandboxError)
    assert named in str(excinfo.value.__context__)
    assert excinfo.value.task_spec.name == "choix"


def test_plain_spiffworkflow_environment_would_run_them():
    """The control: without the sandbox the same scripts execute (so the refusals above are
    the sandbox's doing, not some other failure)."""
    engine = PythonScriptEngine(environment=TaskDataEnvironment())
    wf = run("m = __import__('os').sep\nb = ().__class__.__bases__\nr = getattr(montant, 'real')",
             data=base_data(), engine=engine)
    data = final_data(wf)
    assert data["r"] == 1500 and data["m"] == "/"


@pytest.mark.parametrize("script,error", [
    ("f = open", NameError),                 # names absent from the builtins
    ("t = type", NameError),
    ("raise SystemExit(1)", NameError),      # would stop the worker, not make an incident
    ("seuil.x = 1", SandboxError),           # write guard: functions are not data
    ("montant.x = 1", SandboxError),
    ("d = date.today()\nd.x = 1", SandboxError),
    ("date.x = 1", SandboxError),            # classes are not data either
])
def test_runtime_refusals(script, error):
    engine = make_script_engine({"seuil": lambda: 1})
    with pytest.raises(WorkflowTaskException) as excinfo:
        run(script, data=base_data(), engine=engine)
    assert isinstance(excinfo.value.__context__, error)
    assert excinfo.value.task_spec.name == "calcul"


def test_data_fields_named_like_forbidden_builtins_stay_usable():
    # Only *calling* open/type/... is refused; "type" or "open" are ordinary form fields.
    env = RestrictedEnvironment()
    assert env.evaluate('type == "ehpad" and open', {"type": "ehpad", "open": True}) is True


def test_sandbox_error_lists_every_violation_in_french():
    with pytest.raises(SandboxError) as excinfo:
        compile_script(f"# {uuid.uuid4()}\nimport os\nx = y._z\nopen('f')")
    err = excinfo.value
    assert err.lineno == 2
    assert len(err.errors) == 3
    assert "ligne 2 : l'instruction « import » est interdite" in err.errors
    assert str(err).startswith("Script refusé par le bac à sable")


# --------------------------------------------------------------------------- incidents

@pytest.mark.parametrize("script,error_type,line", [
    ("x = 1\ny = 1 / zero", "ZeroDivisionError", 2),
    ("x = inconnu + 1", "NameError", 1),
    ("x = compteurs['z']", "KeyError", 1),
    # KeyError(5): SpiffWorkflow 3.2 alone dies with a TypeError building the message
    ("d = {}\nx = d[5]", "KeyError", 2),
])
def test_runtime_error_becomes_workflow_task_exception_with_element_id(script, error_type, line):
    with pytest.raises(WorkflowTaskException) as excinfo:
        run(script, data=base_data(zero=0))
    err = excinfo.value
    assert err.task_spec.name == "calcul"
    assert err.error_type == error_type
    assert err.line_number == line


def test_syntax_error_carries_line_number():
    with pytest.raises(WorkflowTaskException) as excinfo:
        run("x = 1\ny = (", data=base_data())
    assert excinfo.value.task_spec.name == "calcul"
    assert excinfo.value.error_type == "SyntaxError"
    assert excinfo.value.line_number == 2


def test_condition_runtime_error_names_the_gateway():
    with pytest.raises(WorkflowTaskException) as excinfo:
        run("x = 1", "inconnu > 3", data=base_data())
    assert excinfo.value.task_spec.name == "choix"
    assert excinfo.value.error_type == "NameError"


# --------------------------------------------------------------------------- cache

def test_compiled_code_is_cached_by_source(monkeypatch):
    counts = {"exec": 0, "eval": 0}
    real_exec, real_eval = sandbox.compile_restricted_exec, sandbox.compile_restricted_eval

    def spy_exec(*args, **kwargs):
        counts["exec"] += 1
        return real_exec(*args, **kwargs)

    def spy_eval(*args, **kwargs):
        counts["eval"] += 1
        return real_eval(*args, **kwargs)

    monkeypatch.setattr(sandbox, "compile_restricted_exec", spy_exec)
    monkeypatch.setattr(sandbox, "compile_restricted_eval", spy_eval)
    compile_script.cache_clear()
    marker = uuid.uuid4().hex
    specs = parse(f"x = '{marker}'", f"montant > 1000 and '{marker}' != ''")
    for _ in range(3):  # three instances, each with a fresh engine
        assert final_data(run("", data=base_data(), specs=specs))["route"] == "haut"
    # calcul + route_haut scripts, one condition: compiled once each, then reused.
    assert counts == {"exec": 2, "eval": 1}
    assert compile_script.cache_info().hits >= 6
    assert compile_script.cache_info().maxsize == 1024


def test_cache_distinguishes_exec_and_eval():
    source = f"montant_{uuid.uuid4().hex[:8]} == 1"
    assert compile_script(source, "exec") is not compile_script(source, "eval")
    assert compile_script(source, "eval") is compile_script(source, "eval")


def test_datetime_types_are_exposed_unchanged():
    env = RestrictedEnvironment()
    assert env.evaluate("date.fromisoformat(d) + timedelta(days=1)", {"d": "2025-02-28"}) \
        == date(2025, 3, 1)
