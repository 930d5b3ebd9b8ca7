"""Process variables are one set per instance, as in Camunda 7: a branch reads what another
branch wrote after the fork (SpiffWorkflow alone gives each branch the data as it forked).
Diagrams shaped as Camunda Modeler 5 saves them, driven warm and cold."""
from __future__ import annotations

from tests.bpmn_builder import chain, flow, script_task, timer_boundary
from tests.modeler import modeler_diagram


def _user(tid: str) -> str:
    return f'<bpmn:userTask id="{tid}" name="{tid}" camunda:candidateGroups="staff"/>'


def _open(rt, iid):
    return {t["element_id"]: t for t in rt().tasks(instance_id=iid)}


def _parallel(left: list[str], right: list[str], body: list[str]) -> str:
    flows = [flow("StartEvent_1", "Fork"), flow("Join", "EndEvent_1")]
    for branch in (left, right):
        flows += [flow("Fork", branch[0]), chain(*branch), flow(branch[-1], "Join")]
    return modeler_diagram("\n".join(['<bpmn:startEvent id="StartEvent_1"/>', '<bpmn:parallelGateway id="Fork"/>',
                                      *body, '<bpmn:parallelGateway id="Join"/>', '<bpmn:endEvent id="EndEvent_1"/>',
                                      *flows]))


def test_a_branch_reads_what_the_other_branch_set_after_the_fork(drive):
    rt = drive.runtime
    drive.deploy({"p.bpmn": _parallel(["Avis"], ["Relire", "Lire"],
                                      [_user("Avis"), _user("Relire"), script_task("Lire", "lu = sens")])})
    iid = rt().start("p", actor="alice")["instance_id"]
    tasks = _open(rt, iid)
    rt().complete(tasks["Avis"]["id"], {"sens": "favorable"}, actor="alice")
    rt().complete(tasks["Relire"]["id"], {}, actor="bob")
    shown = rt().show(iid)
    assert shown["incident"] is None, shown["incident"]
    assert shown["state"] == "completed" and shown["variables"]["lu"] == "favorable"


def test_a_waiting_task_shows_and_keeps_the_latest_value(drive):
    """Its form shows what another branch set while it waited, and completing it does not
    bring back the value it had when it opened."""
    rt = drive.runtime
    drive.deploy({"p.bpmn": _parallel(["Corriger"], ["Valider"], [_user("Corriger"), _user("Valider")])})
    iid = rt().start("p", {"montant": 100}, actor="alice")["instance_id"]
    tasks = _open(rt, iid)
    assert rt().task_data(tasks["Valider"]["id"], actor="bob")["montant"] == 100
    rt().complete(tasks["Corriger"]["id"], {"montant": 120}, actor="alice")
    assert rt().task_data(tasks["Valider"]["id"], actor="bob")["montant"] == 120
    rt().complete(tasks["Valider"]["id"], {"visa": True}, actor="bob")
    variables = rt().show(iid)["variables"]
    assert variables["montant"] == 120 and variables["visa"] is True


def test_a_reminder_fired_by_a_timer_reads_the_current_variables(drive):
    rt = drive.runtime
    body = [_user("Saisir"), _user("Attendre"),
            timer_boundary("Relance", "Attendre", "timeDuration", "P7D", interrupting=False),
            script_task("Rappeler", "rappel = 'relance de ' + organisme"), '<bpmn:endEvent id="RelanceFin"/>',
            chain("Relance", "Rappeler", "RelanceFin")]
    drive.deploy({"p.bpmn": _parallel(["Saisir"], ["Attendre"], body)})
    iid = rt().start("p", {"organisme": "inconnu"}, actor="alice")["instance_id"]
    rt().complete(_open(rt, iid)["Saisir"]["id"], {"organisme": "URPS"}, actor="alice")
    drive.clock.advance(days=7)
    assert rt().tick() == 1
    shown = rt().show(iid)
    assert shown["incident"] is None and shown["variables"]["rappel"] == "relance de URPS"


def test_the_latest_write_wins_whatever_the_order_of_the_join(drive):
    rt = drive.runtime
    drive.deploy({"p.bpmn": _parallel(["A"], ["B"], [_user("A"), _user("B")])})
    iid = rt().start("p", {"etape": "début"}, actor="alice")["instance_id"]
    tasks = _open(rt, iid)
    rt().complete(tasks["B"]["id"], {"etape": "B"}, actor="bob")
    rt().complete(tasks["A"]["id"], {"etape": "A"}, actor="alice")
    assert rt().show(iid)["variables"]["etape"] == "A"


def test_each_multi_instance_item_keeps_its_own_answers(drive):
    """Differs from Camunda on purpose (README): the bodies answer in parallel, each instance's
    later steps read its own answer, not the last one given by any body."""
    rt = drive.runtime
    body = "\n".join([
        '<bpmn:startEvent id="StartEvent_1"/>',
        '<bpmn:subProcess id="Consulter"><bpmn:multiInstanceLoopCharacteristics '
        'camunda:collection="${organismes}" camunda:elementVariable="organisme"/>',
        '<bpmn:startEvent id="SubStart"/>', _user("Avis"),
        script_task("Noter", "organisme = dict(organisme, sens=sens)"),
        '<bpmn:endEvent id="SubEnd"/>', chain("SubStart", "Avis", "Noter", "SubEnd"), '</bpmn:subProcess>',
        '<bpmn:endEvent id="EndEvent_1"/>', chain("StartEvent_1", "Consulter", "EndEvent_1")])
    drive.deploy({"p.bpmn": modeler_diagram(body)})
    iid = rt().start("p", {"organismes": [{"nom": "ADF"}, {"nom": "AMF"}]}, actor="alice")["instance_id"]
    first, second = sorted((t for t in rt().tasks(instance_id=iid)), key=lambda t: t["id"])
    by_name = {rt().task_data(t["id"], actor="alice")["organisme"]["nom"]: t for t in (first, second)}
    rt().complete(by_name["AMF"]["id"], {"sens": "défavorable"}, actor="alice")
    rt().complete(by_name["ADF"]["id"], {"sens": "favorable"}, actor="alice")
    variables = rt().show(iid)["variables"]
    assert variables["organismes"] == [{"nom": "ADF", "sens": "favorable"}, {"nom": "AMF", "sens": "défavorable"}]


def test_an_instance_saved_before_shared_variables_still_shares_what_its_tasks_write(runtime, make_user):
    """An instance started by an earlier arsflow (no scope bookkeeping in its tasks): the task
    open at the upgrade writes to the process variables when it completes."""
    from arsflow.engine.bpmn import variable_scope
    from arsflow.engine.models import Instance
    make_user("alice", "staff")
    with runtime.db.transaction() as session:
        runtime.definitions.deploy(session, [("p.bpmn", _parallel(
            ["Avis"], ["Relire", "Lire"], [_user("Avis"), _user("Relire"), script_task("Lire", "lu = sens")]).encode())],
            now=runtime.now())
    iid = runtime.start("p", actor="alice")["instance_id"]
    with runtime.db.transaction() as session:  # as an earlier version saved it
        instance = session.get(Instance, iid)
        workflow = runtime._load(session, instance)
        for task in workflow.get_tasks():
            for key in (variable_scope.SEEN, variable_scope.BASE):
                task.internal_data.pop(key, None)
        workflow.data.pop(variable_scope.SCOPE, None)
        workflow.data.pop(variable_scope.SEQ, None)
        runtime._persist(session, instance, workflow, [], now=runtime.now())
    tasks = {t["element_id"]: t for t in runtime.tasks(instance_id=iid)}
    runtime.complete(tasks["Avis"]["id"], {"sens": "réservé"}, actor="alice")
    runtime.complete(tasks["Relire"]["id"], {}, actor="alice")
    shown = runtime.show(iid)
    assert shown["incident"] is None, shown["incident"]
    assert shown["variables"]["lu"] == "réservé"
