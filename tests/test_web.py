"""The Flask app through its test client: pages, refusals, forms, pagination, feed, API.

Fixtures `runtime`, `clock`, `make_user` come from tests/conftest.py (a fresh migrated
database per test). The diagrams below carry diagram interchange (DI) like Camunda
Modeler's files, so the browser tests (tests/test_browser.py) can draw them too.
"""
from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

import pytest
import yaml
from arsflow import web
from arsflow.engine.models import HumanTask, Instance, TaskCandidate, User
from arsflow.web import form_render, ical
from arsflow.web.queries import Cursor
from sqlalchemy import insert, select

PASSWORD = "motdepasse-demo"
NOW = "2027-02-01T09:00:00+00:00"  # a Monday, 10:00 in Paris

# -- test data ------------------------------------------------------------------------------------

HEADER = ('<?xml version="1.0" encoding="UTF-8"?>\n'
          '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
          'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
          'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:di="http://www.omg.org/spec/DD/20100524/DI" '
          'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
          'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="Definitions_{pid}" '
          'targetNamespace="http://bpmn.io/schema/bpmn" exporter="Camunda Modeler" exporterVersion="5.28.0">\n')


def linear_process(pid: str, name: str, elements: list[tuple[str, str, str]], boundary: str = "") -> str:
    """A left-to-right process with its diagram. `elements` are (tag, id, inner/attrs XML
    fragment) from the start event to the end event, in order."""
    nodes, flows, shapes, edges = [], [], [], []
    x = 150
    sizes = {"startEvent": (36, 36), "endEvent": (36, 36), "userTask": (100, 80), "intermediateCatchEvent": (36, 36)}
    centers = []
    for index, (tag, eid, body) in enumerate(elements):
        w, h = sizes[tag]
        attrs, _, inner = body.partition("|")
        incoming = f"<bpmn:incoming>F{index}</bpmn:incoming>" if index else ""
        outgoing = f"<bpmn:outgoing>F{index + 1}</bpmn:outgoing>" if index < len(elements) - 1 else ""
        # XSD order: extensionElements, incoming, outgoing, then event definitions.
        head, tail = (inner, "") if inner.startswith("<bpmn:extensionElements") else ("", inner)
        nodes.append(f'<bpmn:{tag} id="{eid}" {attrs}>{head}{incoming}{outgoing}{tail}</bpmn:{tag}>')
        y = 120 - h // 2
        shapes.append(f'<bpmndi:BPMNShape id="{eid}_di" bpmnElement="{eid}"><dc:Bounds x="{x}" y="{y}" '
                      f'width="{w}" height="{h}" /></bpmndi:BPMNShape>')
        centers.append((x, x + w))
        x += w + 60
    for index in range(1, len(elements)):
        source, target = elements[index - 1][1], elements[index][1]
        flows.append(f'<bpmn:sequenceFlow id="F{index}" sourceRef="{source}" targetRef="{target}" />')
        edges.append(f'<bpmndi:BPMNEdge id="F{index}_di" bpmnElement="F{index}"><di:waypoint x="{centers[index - 1][1]}" '
                     f'y="120" /><di:waypoint x="{centers[index][0]}" y="120" /></bpmndi:BPMNEdge>')
    return (HEADER.format(pid=pid) + f'<bpmn:process id="{pid}" name="{name}" isExecutable="true">\n'
            + "\n".join(nodes + flows) + boundary + '\n</bpmn:process>\n'
            + f'<bpmndi:BPMNDiagram id="BPMNDiagram_{pid}"><bpmndi:BPMNPlane id="BPMNPlane_{pid}" bpmnElement="{pid}">'
            + "".join(shapes + edges) + "</bpmndi:BPMNPlane></bpmndi:BPMNDiagram>\n</bpmn:definitions>\n")


ANALYSE_PROPS = ('<bpmn:extensionElements><camunda:properties>'
                 '<camunda:property name="subject" value="Analyse ARS du dossier" />'
                 '<camunda:property name="deadline_start" value="2027-01-29" />'
                 '<camunda:property name="deadline_delay" value="P1M" />'
                 '</camunda:properties></bpmn:extensionElements>')

ANALYSE_BPMN = linear_process("Process_Analyse", "Analyse de dossier", [
    ("startEvent", "StartEvent_1", 'name="Dossier reçu"'),
    ("userTask", "Task_Analyse", 'name="Rédiger l\'analyse" camunda:formRef="analyse" '
                                 'camunda:candidateGroups="instructeurs" camunda:dueDate="P10D"|' + ANALYSE_PROPS),
    ("userTask", "Task_Valider", 'name="Valider l\'analyse" camunda:candidateGroups="valideurs" '
                                 'camunda:dueDate="P20D"'),
    ("endEvent", "EndEvent_1", 'name="Analyse validée"'),
])

ANALYSE_FORM = {
    "id": "analyse", "type": "default", "components": [
        {"type": "text", "id": "Text_1",
         "text": "# Analyse du dossier\nRédigez **l'analyse** <script>alert('x')</script> pour {{ territory }}."},
        {"type": "textfield", "key": "titre", "label": "Titre de l'analyse", "id": "F_titre",
         "validate": {"required": True, "minLength": 3, "maxLength": 80}},
        {"type": "textfield", "key": "finess", "label": "N° FINESS", "id": "F_finess",
         "validate": {"pattern": "[0-9][0-9AB][0-9]{7}"}},
        {"type": "textarea", "key": "commentaire", "label": "Commentaire", "id": "F_comm"},
        {"type": "number", "key": "lits", "label": "Nombre de lits", "id": "F_lits",
         "validate": {"min": 0, "max": 500}},
        {"type": "checkbox", "key": "complet", "label": "Le dossier est complet", "id": "F_complet",
         "validate": {"required": True}},
        {"type": "checklist", "key": "pieces", "label": "Pièces reçues", "id": "F_pieces",
         "values": [{"label": "Statuts", "value": "statuts"}, {"label": "Budget", "value": "budget"},
                    {"label": "Rapport", "value": "rapport"}], "validate": {"required": True}},
        {"type": "radio", "key": "avis", "label": "Avis", "id": "F_avis",
         "values": [{"label": "Favorable", "value": "favorable"}, {"label": "Défavorable", "value": "defavorable"}],
         "validate": {"required": True}},
        {"type": "select", "key": "priorite", "label": "Priorité", "id": "F_prio",
         "values": [{"label": "Haute", "value": "haute"}, {"label": "Basse", "value": "basse"}]},
        {"type": "datetime", "key": "date_reunion", "subtype": "date", "dateLabel": "Date de réunion",
         "id": "F_date"},
        {"type": "group", "label": "Contact", "id": "G_contact", "components": [
            {"type": "textfield", "key": "email", "label": "Courriel", "id": "F_email",
             "validate": {"validationType": "email"}}]},
    ]}

START_BPMN = linear_process("Process_Saisine", "Saisine avec formulaire", [
    ("startEvent", "StartEvent_Saisine", 'name="Saisine" camunda:formRef="saisine"'),
    ("userTask", "Task_Instruire", 'name="Instruire la saisine" camunda:candidateGroups="instructeurs"'),
    ("endEvent", "EndEvent_Saisine", 'name="Fin"'),
])
START_FORM = {"id": "saisine", "type": "default", "components": [
    {"type": "textfield", "key": "organisme", "label": "Organisme saisi", "id": "S_org",
     "validate": {"required": True}},
    {"type": "textfield", "key": "territory", "label": "Territoire", "id": "S_terr"}]}

PRS_BPMN = linear_process("prs_consultation", "Consultation sur le PRS", [
    ("startEvent", "StartEvent_Prs", ""),
    ("userTask", "Task_Arreter", 'name="Arrêter le PRS" camunda:candidateGroups="instructeurs" camunda:dueDate="P40D"'),
    ("endEvent", "EndEvent_Prs", ""),
])

DELAI_BPMN = linear_process("Process_Delai", "Avis avec délai", [
    ("startEvent", "StartEvent_Delai", ""),
    ("intermediateCatchEvent", "Timer_Avis", 'name="Avis réputé acquis"|<bpmn:timerEventDefinition id="TED_1">'
                                             '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">P20D'
                                             '</bpmn:timeDuration></bpmn:timerEventDefinition>'),
    ("userTask", "Task_Constater", 'name="Constater l\'avis" camunda:candidateGroups="instructeurs"'),
    ("endEvent", "EndEvent_Delai", ""),
])

# The linter refuses `Start`/`End` ids (reserved by SpiffWorkflow): a realistic mistake.
# Refused by the linter on two elements (ids "Start" and "End" are legal; Java listeners are not).
_JAVA_LISTENER = ('|<bpmn:extensionElements><camunda:executionListener class="org.exemple.Journal" '
                  'event="{}" /></bpmn:extensionElements>')
BAD_BPMN = linear_process("Process_Faux", "Procédure erronée", [
    ("startEvent", "Start", _JAVA_LISTENER.format("start")),
    ("userTask", "Task_A", 'name="A" camunda:candidateGroups="instructeurs"'),
    ("endEvent", "End", _JAVA_LISTENER.format("end")),
])
BAD_BPMN_MESSAGE = "une classe Java ne peut pas"


def _files(*pairs):
    return [(name, text.encode() if isinstance(text, str) else text) for name, text in pairs]


def deploy_all(runtime):
    sources = _files(("analyse.bpmn", ANALYSE_BPMN), ("analyse.form", json.dumps(ANALYSE_FORM)),
                     ("saisine.bpmn", START_BPMN), ("saisine.form", json.dumps(START_FORM)),
                     ("prs.bpmn", PRS_BPMN), ("delai.bpmn", DELAI_BPMN))
    with runtime.db.transaction() as s:
        return runtime.definitions.deploy(s, sources, name="tests", now=runtime.now())


# -- fixtures -------------------------------------------------------------------------------------

@pytest.fixture
def env(runtime, clock, make_user):
    """Users of every role, the test procedures deployed, one instance waiting on analysis."""
    clock.set(NOW)
    make_user("alice", "instructeurs")
    make_user("bob", "valideurs")
    make_user("carol", "managers")
    make_user("dave", "deployers")
    make_user("eve", "communication")
    deploy_all(runtime)
    started = runtime.start("Process_Analyse", {"territory": "75"}, business_key="DOS-2027-001", actor="alice")
    app = web.create_app(runtime, config={"TESTING": True, "SECRET_KEY": "test-secret"})
    task_id = runtime.tasks(actor="alice", instance_id=started["instance_id"])[0]["id"]
    return {"app": app, "rt": runtime, "clock": clock, "instance_id": started["instance_id"], "task_id": task_id}


def csrf_of(client) -> str:
    client.get("/connexion")
    with client.session_transaction() as sess:
        return sess["csrf_token"]


def login(client, who: str, password: str = PASSWORD):
    token = csrf_of(client)
    response = client.post("/connexion", data={"login": who, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.text
    return client


@pytest.fixture
def client_for(env):
    def make(who: str | None = None):
        client = env["app"].test_client()
        if who:
            login(client, who)
        return client
    return make


def post(client, url, data=None, **kwargs):
    data = dict(data or {})
    data.setdefault("csrf_token", csrf_of(client))
    return client.post(url, data=data, **kwargs)


def valid_answers(**overrides):
    data = {"titre": "Analyse complète", "finess": "750000000", "commentaire": "RAS", "lits": "120",
            "complet": "on", "pieces": ["statuts", "budget"], "avis": "favorable", "priorite": "haute",
            "date_reunion": "2027-02-15", "email": "contact@ars.sante.fr"}
    data.update(overrides)
    return data


def claim_as(env, client, who="alice"):
    response = post(client, f"/taches/{env['task_id']}/prendre")
    assert response.status_code == 302
    return response


def lock_version(env) -> int:
    with env["rt"].db.read() as s:
        return s.get(Instance, env["instance_id"]).lock_version


# -- login, logout, CSRF, headers ------------------------------------------------------------------

def test_login_page_is_french_dsfr(client_for):
    page = client_for().get("/connexion").text
    assert '<html lang="fr" data-fr-scheme="system">' in page
    assert "République<br>Française" in page and "arsflow" in page
    assert "/static/vendor/dsfr/dsfr.min.css" in page and "https://" not in page.split("<body")[0]


def test_wrong_password_is_refused_without_telling_which_part(client_for):
    client = client_for()
    token = csrf_of(client)
    response = client.post("/connexion", data={"login": "alice", "password": "mauvais-mot", "csrf_token": token})
    assert response.status_code == 401
    assert "Identifiant ou mot de passe incorrect." in response.text
    unknown = client.post("/connexion", data={"login": "personne", "password": "x" * 10, "csrf_token": token})
    assert unknown.status_code == 401 and "Identifiant ou mot de passe incorrect." in unknown.text
    assert client.get("/taches").status_code == 302


def test_login_then_logout(client_for):
    client = login(client_for(), "alice")
    page = client.get("/taches")
    assert page.status_code == 200 and "alice" in page.text
    response = post(client, "/deconnexion")
    assert response.status_code == 302 and response.location.endswith("/connexion")
    after = client.get("/taches")
    assert after.status_code == 302 and "/connexion" in after.location


def test_anonymous_visitor_is_sent_to_login_and_back(client_for, env):
    client = client_for()
    response = client.get(f"/instances/{env['instance_id']}")
    assert response.status_code == 302
    assert "/connexion?suivant=" in response.location and f"instances/{env['instance_id']}" in response.location
    token = csrf_of(client)
    back = client.post("/connexion", data={"login": "alice", "password": PASSWORD, "csrf_token": token,
                                           "suivant": f"/instances/{env['instance_id']}"})
    assert back.location == f"/instances/{env['instance_id']}"


def test_login_never_redirects_to_another_site(client_for):
    client = client_for()
    token = csrf_of(client)
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        response = client.post("/connexion", data={"login": "alice", "password": PASSWORD, "csrf_token": token,
                                                   "suivant": target})
        assert response.location == "/taches", target
        token = csrf_of(client)


def test_post_without_csrf_token_is_refused(client_for, env):
    client = client_for()
    response = client.post("/connexion", data={"login": "alice", "password": PASSWORD})
    assert response.status_code == 400
    assert "Jeton de sécurité (CSRF) manquant ou invalide" in response.text
    client = login(client, "alice")
    for url in (f"/taches/{env['task_id']}/prendre", "/deconnexion", "/compte/jeton"):
        refused = client.post(url, data={"csrf_token": "faux"})
        assert refused.status_code == 400, url
    with env["rt"].db.read() as s:
        assert s.get(HumanTask, env["task_id"]).assignee is None
    assert client.get("/taches").status_code == 200  # still logged in: logout was refused too


def test_login_rotates_the_session(client_for):
    client = client_for()
    before = csrf_of(client)
    login(client, "alice")
    with client.session_transaction() as sess:
        assert sess["csrf_token"] != before and sess["login"] == "alice"


def test_session_cookie_flags(runtime, env):
    client = env["app"].test_client()
    client.get("/connexion")
    cookie = client.get_cookie("arsflow_session")
    assert cookie.http_only and cookie.same_site == "Lax" and not cookie.secure
    secure_app = web.create_app(runtime, config={"TESTING": True, "SECRET_KEY": "k", "SESSION_COOKIE_SECURE": True})
    secure_client = secure_app.test_client()
    response = secure_client.get("/connexion")
    assert "Secure" in response.headers["Set-Cookie"] and "HttpOnly" in response.headers["Set-Cookie"]


def test_security_headers(client_for):
    response = client_for("alice").get("/taches")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script>" not in response.text  # no inline script: the CSP forbids it


# -- inbox ----------------------------------------------------------------------------------------

def test_group_inbox_lists_claimable_tasks_with_counts(client_for, env):
    page = client_for("alice").get("/taches/groupes").text
    assert f'data-task-id="{env["task_id"]}"' in page
    assert "Rédiger l&#39;analyse" in page and "DOS-2027-001" in page and "Analyse de dossier" in page
    assert 'data-count="groups">(1)' in page and 'data-count="mine">(0)' in page
    assert "Prendre en charge" in page


def test_tasks_of_other_groups_never_show(client_for, env):
    for who in ("eve", "bob"):
        client = client_for(who)
        for url in ("/taches", "/taches/groupes", "/taches/groupes?en_retard=1"):
            page = client.get(url).text
            assert env["task_id"] not in page
            assert "DOS-2027-001" not in page
        assert 'data-count="groups">(0)' in client.get("/taches/groupes").text
        assert client.get(f"/taches/{env['task_id']}").status_code == 403


def test_claim_moves_the_task_to_my_tasks_and_unclaim_gives_it_back(client_for, env):
    client = client_for("alice")
    response = claim_as(env, client)
    assert response.location == f"/taches/{env['task_id']}"
    mine = client.get("/taches").text
    assert f'data-task-id="{env["task_id"]}"' in mine and 'data-count="mine">(1)' in mine
    assert env["task_id"] not in client.get("/taches/groupes").text
    released = post(client, f"/taches/{env['task_id']}/relacher")
    assert released.status_code == 302
    with env["rt"].db.read() as s:
        assert s.get(HumanTask, env["task_id"]).assignee is None


def test_claim_refusals(client_for, env):
    assert post(client_for("eve"), f"/taches/{env['task_id']}/prendre").status_code == 403
    assert post(client_for("alice"), "/taches/inconnue/prendre").status_code == 404
    env["rt"].claim(env["task_id"], "alice")  # alice holds it: a colleague gets a clear conflict
    with env["rt"].db.transaction() as s:
        from arsflow.engine.people.users import add_user
        add_user(s, "alain", ["instructeurs"], password=PASSWORD, now=env["rt"].now())
    response = post(client_for("alain"), f"/taches/{env['task_id']}/prendre")
    assert response.status_code == 409
    assert "déjà prise en charge par alice" in response.text


def test_overdue_and_due_soon_badges_and_filters(client_for, env):
    rt, clock = env["rt"], env["clock"]
    clock.advance(days=8)  # analysis due in 2 days: "Échéance proche"
    rt.start("Process_Analyse", {"territory": "2A"}, business_key="DOS-2027-002", actor="alice")
    clock.advance(days=3)  # first one is now 1 day late
    client = client_for("alice")
    page = client.get("/taches/groupes").text
    assert "fr-badge--error" in page and "En retard de 1 jour<" in page
    assert "fr-badge--warning" not in page and ">J-7<" in page  # the second is due in 7 days
    assert "1 en retard" in page
    overdue = client.get("/taches/groupes?en_retard=1").text
    assert "DOS-2027-001" in overdue and "DOS-2027-002" not in overdue
    corsica = client.get("/taches/groupes?territoire=2A").text
    assert "DOS-2027-002" in corsica and "DOS-2027-001" not in corsica
    clock.advance(days=4)  # Tuesday 16 February: the second is due on Friday 19, in 3 days
    rt.start("Process_Analyse", {"territory": "75"}, business_key="DOS-2027-003", actor="alice")  # due on the 26th
    soon = client.get("/taches/groupes").text
    assert "fr-badge--warning" in soon and ">J-3<" in soon
    week = client.get("/taches/groupes?cette_semaine=1").text
    assert "DOS-2027-002" in week and "DOS-2027-003" not in week
    assert "DOS-2027-001" not in week  # already overdue, not "due this week"
    by_procedure = client.get("/taches/groupes?procedure=Process_Saisine").text
    assert "DOS-2027-00" not in by_procedure


def test_sort_by_due_date_descending(client_for, env):
    rt, clock = env["rt"], env["clock"]
    clock.advance(days=1)
    rt.start("Process_Analyse", {"territory": "75"}, business_key="DOS-2027-LATER", actor="alice")
    client = client_for("alice")
    ascending = client.get("/taches/groupes?tri=asc").text
    descending = client.get("/taches/groupes?tri=desc").text
    assert ascending.index("DOS-2027-001") < ascending.index("DOS-2027-LATER")
    assert descending.index("DOS-2027-LATER") < descending.index("DOS-2027-001")
    assert client.get("/taches/groupes?tri=n'importe").status_code == 400


# -- pagination ---------------------------------------------------------------------------------------

def bulk_tasks(rt, instance_id: int, count: int, group: str, *, start, step_minutes: int = 7,
               undated_every: int = 0, assignee_every: int = 0, assignee: str | None = None) -> list[str]:
    """Open tasks inserted straight into the projection tables (what the inbox reads)."""
    rows, candidates, ids = [], [], []
    for i in range(count):
        task_id = str(uuid.UUID(int=(instance_id << 64) + i + 1))
        undated = undated_every and i % undated_every == 0
        due = None if undated else start + timedelta(minutes=step_minutes * (i // 3))  # ties on purpose
        rows.append({"id": task_id, "instance_id": instance_id, "process_key": "Process_Analyse",
                     "element_id": "Task_Analyse", "name": f"Tâche {i}", "lane": None,
                     "assignee": assignee if assignee_every and i % assignee_every == 0 else None,
                     "candidate_groups": [group], "candidate_users": [], "due_at": due, "follow_up_at": None,
                     "priority": 50, "form_key": None, "form_id": None, "properties": {}, "state": "open",
                     "created_at": start, "claimed_at": None, "completed_at": None, "completed_by": None})
        candidates.append({"task_id": task_id, "kind": "group", "name": group, "state": "open", "due_at": due})
        ids.append(task_id)
    with rt.db.transaction() as s:
        for chunk in range(0, count, 5000):
            s.execute(insert(HumanTask), rows[chunk:chunk + 5000])
            s.execute(insert(TaskCandidate), candidates[chunk:chunk + 5000])
    return ids


def _page_ids(text: str) -> list[str]:
    return re.findall(r'data-task-id="([^"]+)"', text)


def _link(text: str, rel: str) -> str | None:
    match = re.search(r'href="([^"]+)" rel="%s"' % rel, text)
    return match.group(1).replace("&amp;", "&") if match else None


def test_pagination_walks_every_task_once_in_due_order(client_for, env):
    rt = env["rt"]
    ids = bulk_tasks(rt, env["instance_id"], 47, "instructeurs", start=rt.now(), undated_every=10)
    client = client_for("alice")
    seen, url, pages = [], "/taches/groupes", []
    while url:
        page = client.get(url).text
        pages.append(page)
        seen += _page_ids(page)
        url = _link(page, "next")
    assert len(pages) == 3 and len(seen) == 48 and len(set(seen)) == 48  # 47 + the real task
    assert set(ids) <= set(seen)
    with rt.db.read() as s:
        due = {t.id: t.due_at for t in s.scalars(select(HumanTask))}
    dated = [due[i] for i in seen if due[i] is not None]
    assert dated == sorted(dated)
    assert all(due[i] is None for i in seen[len(dated):])  # undated tasks come last
    previous = _link(pages[2], "prev")
    assert _page_ids(client.get(previous).text) == _page_ids(pages[1])
    assert 'data-count="groups">(48)' in pages[0]


def test_bad_cursor_is_a_clear_400(client_for):
    response = client_for("alice").get("/taches/groupes?apres=!!!")
    assert response.status_code == 400 and "Curseur de pagination invalide" in response.text


def test_inbox_pages_stay_right_with_100000_open_tasks(client_for, env):
    """Visibility, pagination and capped counts at volume (speed is measured in bench/, not here)."""
    rt = env["rt"]
    start = rt.now() - timedelta(days=30)
    bulk_tasks(rt, env["instance_id"], 60_000, "instructeurs", start=start, step_minutes=1, undated_every=97,
               assignee_every=50, assignee="alice")
    other = rt.start("Process_Analyse", {"territory": "13"}, business_key="AUTRE", actor="bob")
    # Another service's 40,000 tasks, due earlier than alice's: she must never see them.
    hidden = set(bulk_tasks(rt, other["instance_id"], 40_000, "autre-service", start=start - timedelta(days=1),
                            step_minutes=1))
    with rt.db.read() as s:
        assert s.query(HumanTask).filter(HumanTask.state == "open").count() >= 100_000
    client = client_for("alice")
    client.get("/taches/groupes")  # warm-up (template compilation)
    for url in ("/taches/groupes", "/taches", "/taches/groupes?en_retard=1", "/taches/groupes?tri=desc",
                "/taches/groupes?territoire=75"):
        page = client.get(url)
        assert page.status_code == 200 and len(_page_ids(page.text)) == 20
        assert not hidden & set(_page_ids(page.text))
    deep = "/taches/groupes"
    for _ in range(3):
        deep = _link(client.get(deep).text, "next")
    assert len(_page_ids(client.get(deep).text)) == 20
    assert 'data-count="groups">(1 000+)' in client.get("/taches/groupes").text


# -- one task: form, errors, completion ---------------------------------------------------------------

def test_task_page_renders_the_camunda_form_with_html_rules(client_for, env):
    client = client_for("alice")
    claim_as(env, client)
    page = client.get(f"/taches/{env['task_id']}").text
    assert 'name="titre"' in page and 'minlength="3"' in page and 'maxlength="80"' in page
    assert 'pattern="[0-9][0-9AB][0-9]{7}"' in page
    lits = re.search(r'<input[^>]*name="lits"[^>]*>', page).group(0)
    assert 'type="text"' in lits and 'inputmode="decimal"' in lits and 'data-min="0"' in lits and 'data-max="500"' in lits
    assert '<textarea class="fr-input" id="champ-commentaire" name="commentaire"' in page
    assert page.count('name="pieces"') == 3 and 'type="radio"' in page and 'name="priorite"' in page
    assert 'placeholder="jj/mm/aaaa"' in page and 'type="date"' not in page and 'type="email"' in page and "<legend class=\"fr-fieldset__legend\">Contact" in page
    assert '<h2 class="fr-h4">Analyse du dossier</h2>' in page  # under the page's h1, no level skipped
    assert "<strong>l&#39;analyse</strong>" in page and "pour 75." in page
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    assert f'name="_version" value="{lock_version(env)}"' in page


def test_task_page_shows_deadline_legal_explanation_and_history(client_for, env):
    page = client_for("alice").get(f"/taches/{env['task_id']}").text
    # dueDate P10D from Monday 1 February 2027 10:00 Paris
    assert "jeudi 11 février 2027 à 10 h" in page
    assert "Délai légal" in page and "Délai de 1 mois (P1M) à compter du vendredi 29 janvier 2027" in page
    assert "Analyse de dossier" in page and "DOS-2027-001" in page
    assert "Procédure démarrée par" in page  # the history's first entry
    assert "Prenez-la en charge pour la traiter" in page  # not claimed yet: form preview only
    assert "<fieldset class=\"fr-fieldset\" disabled" in page


def test_validation_errors_come_back_beside_each_field_with_values_kept(client_for, env):
    client = client_for("alice")
    claim_as(env, client)
    answers = valid_answers(titre="ab", lits="900", complet=None, pieces=["rapport"], commentaire="Texte <b>gardé</b>",
                            finess="12")
    answers = {k: v for k, v in answers.items() if v is not None}
    response = post(client, f"/taches/{env['task_id']}", dict(answers, _version=str(lock_version(env))))
    assert response.status_code == 400
    page = response.text
    assert "Le formulaire contient 4 erreurs" in page
    titre = re.search(r'<div class="fr-input-group fr-input-group--error" data-field="titre">(.*?)</div>', page, re.S)
    assert titre and 'value="ab"' in titre.group(1)
    assert "Le texte doit contenir au moins 3 caractères." in titre.group(1)
    assert 'class="fr-error-text"' in titre.group(1)
    lits = re.search(r'data-field="lits">(.*?)</div>', page, re.S).group(1)
    assert "La valeur doit être au plus 500." in lits and 'value="900"' in lits
    assert "Cette case doit être cochée." in page
    assert "Format attendu : [0-9][0-9AB][0-9]{7}" in page
    assert "Texte &lt;b&gt;gardé&lt;/b&gt;</textarea>" in page
    assert re.search(r'value="rapport" checked', page) and not re.search(r'value="statuts" checked', page)
    assert re.search(r'value="favorable" checked', page)
    assert re.search(r'<option value="haute" selected>', page)
    assert 'value="15/02/2027"' in page  # shown back the French way
    with env["rt"].db.read() as s:
        assert s.get(HumanTask, env["task_id"]).state == "open"


def test_complete_flow_moves_the_instance_on(client_for, env):
    client = client_for("alice")
    claim_as(env, client)
    response = post(client, f"/taches/{env['task_id']}", dict(valid_answers(), _version=str(lock_version(env))))
    assert response.status_code == 302 and response.location == "/taches"
    assert "Tâche « Rédiger l&#39;analyse » terminée." in client.get("/taches").text
    rt = env["rt"]
    show = rt.show(env["instance_id"])
    assert show["variables"]["titre"] == "Analyse complète" and show["variables"]["lits"] == 120
    assert show["variables"]["pieces"] == ["statuts", "budget"] and show["variables"]["complet"] is True
    assert [t["element_id"] for t in show["tasks"] if t["state"] == "open"] == ["Task_Valider"]
    bob = client_for("bob")
    assert "Valider l&#39;analyse" in bob.get("/taches/groupes").text


def test_completing_a_stale_page_is_a_clear_409(client_for, env):
    client = client_for("alice")
    claim_as(env, client)
    stale = lock_version(env) - 1
    response = post(client, f"/taches/{env['task_id']}", dict(valid_answers(), _version=str(stale)))
    assert response.status_code == 409
    assert "L&#39;instance a changé depuis l&#39;affichage de la tâche : rechargez-la" in response.text
    assert "Recharger la page" in response.text
    missing = post(client, f"/taches/{env['task_id']}", valid_answers())
    assert missing.status_code == 400 and "Version de l&#39;instance manquante" in missing.text


def test_task_of_someone_else_cannot_be_completed(client_for, env):
    env["rt"].claim(env["task_id"], "alice")
    with env["rt"].db.transaction() as s:
        from arsflow.engine.people.users import add_user
        add_user(s, "alain", ["instructeurs"], password=PASSWORD, now=env["rt"].now())
    client = client_for("alain")
    assert "prise en charge par alice" in client.get(f"/taches/{env['task_id']}").text
    response = post(client, f"/taches/{env['task_id']}", dict(valid_answers(), _version=str(lock_version(env))))
    assert response.status_code == 403


def test_unknown_ids_are_404_in_french(client_for):
    client = client_for("alice")
    for url in ("/taches/00000000-0000-0000-0000-000000000000", "/instances/999999", "/nulle-part",
                "/procedures/inconnue/versions/1"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "introuvable" in response.text or "n'existe pas" in response.text.replace("&#39;", "'")


# -- instances ---------------------------------------------------------------------------------------

def test_instance_page_for_initiator_and_diagram_endpoint(client_for, env):
    client = client_for("alice")
    page = client.get(f"/instances/{env['instance_id']}").text
    assert "Analyse de dossier" in page and "DOS-2027-001" in page
    assert f'data-diagram-url="/instances/{env["instance_id"]}/diagramme.json"' in page
    assert "bpmn-navigated-viewer.production.min.js" in page
    assert "<code>territory</code>" in page
    data = client.get(f"/instances/{env['instance_id']}/diagramme.json").get_json()
    assert 'id="Process_Analyse"' in data["xml"] and "BPMNDiagram" in data["xml"]
    assert data["active"] == ["Task_Analyse"] and "StartEvent_1" in data["completed"]


def test_who_may_view_an_instance(client_for, env):
    url = f"/instances/{env['instance_id']}"
    assert client_for("eve").get(url).status_code == 403
    assert client_for("eve").get(url + "/diagramme.json").status_code == 403
    assert client_for("bob").get(url).status_code == 403  # no task of his yet
    assert client_for("carol").get(url).status_code == 200  # managers
    assert client_for("dave").get(url).status_code == 200  # deployers
    rt = env["rt"]
    rt.claim(env["task_id"], "alice")
    rt.complete(env["task_id"], valid_answers(), actor="alice", from_strings=True)
    bob = client_for("bob")
    assert bob.get(url).status_code == 200  # now a candidate of the validation
    page = bob.get(url).text
    # One rule for tasks, audit and variables: alice's task is not listed to him, its audit
    # details are hidden, and so are the variables her completion wrote (named, not shown).
    assert "Analyse complète" not in page
    assert "Rédiger l&#39;analyse</a>" not in page
    # The timeline tells that a step was done, never what was typed in it (no details at all).
    assert "Non affichées" in page and "<code>titre</code>" in page
    assert "Analyse complète" in client_for("carol").get(url).text  # managers see everything


def test_instance_page_shows_waiting_timers(client_for, env):
    rt = env["rt"]
    started = rt.start("Process_Delai", {"territory": "75"}, business_key="DELAI-1", actor="alice")
    client = client_for("alice")
    page = client.get(f"/instances/{started['instance_id']}").text
    timers = re.search(r'id="minuteries">(.*?)</table>', page, re.S).group(1)
    assert "Avis réputé acquis" in timers and "<code>Timer_Avis</code>" in timers
    assert "dimanche 21 février 2027 à 10 h" in timers and "En attente" in timers
    assert client.get(f"/instances/{started['instance_id']}/diagramme.json").get_json()["active"] == ["Timer_Avis"]
    dashboard = client_for("carol").get("/echeances").text
    pending = re.search(r'id="minuteries-a-venir">(.*?)</table>', dashboard, re.S).group(1)
    assert "Avis réputé acquis" in pending and "DELAI-1" in pending


def test_instance_timers_and_terminate(client_for, env, runtime):
    """Stopping asks for a reason and a confirmation, and is offered to managers only — not to
    the staff member who started the instance."""
    rt = env["rt"]
    starter = client_for("alice")
    page = starter.get(f"/instances/{env['instance_id']}").text
    assert "Aucune minuterie." in page and "Arrêter l'instance" not in page
    assert post(starter, f"/instances/{env['instance_id']}/arreter",
                {"reason": "doublon", "confirm": "on"}).status_code == 403
    assert post(client_for("bob"), f"/instances/{env['instance_id']}/arreter").status_code == 403
    manager = client_for("carol")
    assert "Je confirme l'arrêt définitif" in manager.get(f"/instances/{env['instance_id']}").text
    unconfirmed = post(manager, f"/instances/{env['instance_id']}/arreter", {"reason": "doublon"})
    assert unconfirmed.status_code == 302 and rt.show(env["instance_id"])["state"] != "terminated"
    assert post(manager, f"/instances/{env['instance_id']}/arreter", {"confirm": "on"}).status_code == 302
    assert rt.show(env["instance_id"])["state"] != "terminated"  # no reason, nothing stopped
    response = post(manager, f"/instances/{env['instance_id']}/arreter", {"reason": "doublon", "confirm": "on"})
    assert response.status_code == 302
    assert rt.show(env["instance_id"])["state"] == "terminated"
    assert "Arrêtée" in manager.get(f"/instances/{env['instance_id']}").text


# -- dashboard and calendar -------------------------------------------------------------------------

def test_dashboard_is_for_managers_only(client_for, env):
    for who in ("alice", "dave", "eve"):
        response = client_for(who).get("/echeances")
        assert response.status_code == 403 and "réservée au groupe « managers »" in response.text
    assert "Échéances" not in client_for("alice").get("/taches").text.split("<main")[0]
    assert "Échéances" in client_for("carol").get("/taches").text.split("<main")[0]


def test_dashboard_counts_overdue_upcoming_and_tacit_avis(client_for, env):
    rt, clock = env["rt"], env["clock"]
    acquired = (clock.now() + timedelta(days=5)).isoformat()
    rt.start("prs_consultation", {"territory": "13", "avis": {
        "crsa": {"status": "tacit", "acquired_at": acquired, "label": "CRSA"},
        "prefet": {"status": "given", "acquired_at": acquired}}}, business_key="PRS-2028", actor="carol")
    clock.advance(days=12)  # analysis (P10D) overdue; PRS task (P40D) due in 28 days
    page = client_for("carol").get("/echeances").text
    assert re.search(r'id="total-retard">.*?<h2 class="fr-tile__title">1</h2>', page, re.S)
    assert re.search(r'id="total-a-venir">.*?<h2 class="fr-tile__title">1</h2>', page, re.S)
    assert re.search(r'id="total-tacites">.*?<h2 class="fr-tile__title">1</h2>', page, re.S)
    tacit = re.search(r'id="avis-tacites">(.*?)</table>', page, re.S).group(1)
    assert "CRSA" in tacit and "PRS-2028" in tacit and "prefet" not in tacit
    overdue = re.search(r'id="taches-en-retard">(.*?)</table>', page, re.S).group(1)
    assert "DOS-2027-001" in overdue and "En retard" in overdue
    assert '<svg class="arsflow-chart"' in page and 'class="bar-overdue"' in page
    assert "Consultation sur le PRS" in page and "Analyse de dossier" in page


def test_calendar_feed_is_rfc5545(client_for, env):
    rt = env["rt"]
    rt.start("Process_Analyse", {"territory": "75"}, business_key="DOSSIER-AVEC-UN-NOM-TRÈS-LONG-ÉÉÉÉ-" + "x" * 40,
             actor="alice")
    with rt.db.read() as s:
        token = s.get(User, "alice").calendar_token
    response = client_for().get(f"/calendrier/{token}.ics")
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    body = response.data
    assert body.startswith(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n") and body.endswith(b"END:VCALENDAR\r\n")
    lines = body.split(b"\r\n")
    assert b"\n" not in b"".join(lines)  # only CRLF line ends
    assert all(len(line) <= 75 for line in lines)
    assert any(line.startswith(b" ") for line in lines)  # the long summary was folded
    unfolded = body.decode().replace("\r\n ", "")
    assert f"UID:{env['task_id']}\r\n" in unfolded
    assert "DTEND:20270211T090000Z" in unfolded and "DTSTART:20270211T083000Z" in unfolded
    assert re.search(r"DTSTAMP:\d{8}T\d{6}Z", unfolded)
    assert "SUMMARY:Échéance : Rédiger l'analyse — DOS-2027-001" in unfolded
    assert f"URL:http://localhost/taches/{env['task_id']}" in unfolded
    assert unfolded.count("BEGIN:VEVENT") == 2
    with rt.db.read() as s:
        eve_token = s.get(User, "eve").calendar_token
    assert "BEGIN:VEVENT" not in client_for().get(f"/calendrier/{eve_token}.ics").text
    assert client_for().get("/calendrier/mauvais-jeton-0123456789.ics").status_code == 404


def test_ical_folding_never_splits_a_character():
    line = "SUMMARY:" + "é" * 80
    folded = ical.fold(line)
    parts = folded.encode().split(b"\r\n")
    assert all(len(p) <= 75 for p in parts) and len(parts) == 3
    assert all(p.decode() for p in parts)  # every chunk is valid UTF-8 on its own
    assert folded.replace("\r\n ", "") == line
    assert ical.escape_text("a;b,c\\d\ne") == "a\\;b\\,c\\\\d\\ne"


# -- procedures: upload, lint, deploy, start -----------------------------------------------------------

def upload(client, files, action, name=""):
    data = {"_action": action, "name": name, "csrf_token": csrf_of(client),
            "files": [(__import__("io").BytesIO(content.encode() if isinstance(content, str) else content), fname)
                      for fname, content in files]}
    return client.post("/procedures/depot", data=data, content_type="multipart/form-data")


def test_upload_is_for_deployers_only(client_for):
    assert client_for("alice").get("/procedures/depot").status_code == 403
    assert upload(client_for("alice"), [("a.bpmn", BAD_BPMN)], "verifier").status_code == 403
    assert client_for("dave").get("/procedures/depot").status_code == 200


def test_verify_shows_the_linter_report_element_by_element(client_for, env):
    response = upload(client_for("dave"), [("faux.bpmn", BAD_BPMN)], "verifier")
    assert response.status_code == 200
    page = response.text
    table = re.search(r'id="constats">(.*?)</table>', page, re.S).group(1)
    assert table.count('arsflow-finding--error') == 2
    assert "<code>Start</code>" in table and "<code>End</code>" in table and "startEvent" in table
    assert BAD_BPMN_MESSAGE in table
    assert re.search(r"<td>faux.bpmn</td>\s*<td>\d+</td>", table)
    assert 'data-xml="&lt;?xml' in page and 'data-errors="Start End"' in page
    with env["rt"].db.read() as s:
        assert s.scalar(select(HumanTask.id).where(HumanTask.process_key == "Process_Faux")) is None


def test_verify_a_clean_file_and_deploy_it(client_for, env):
    client = client_for("dave")
    changed = ANALYSE_BPMN.replace('camunda:dueDate="P20D"', 'camunda:dueDate="P25D"')
    ok = upload(client, [("analyse.bpmn", changed)], "verifier")
    assert ok.status_code == 200 and "Aucune erreur" in ok.text
    deployed = upload(client, [("analyse.bpmn", changed)], "deployer", name="Délai de validation")
    assert deployed.status_code == 302 and deployed.location == "/procedures"
    listing = client.get("/procedures").text
    assert "Déploiement effectué : Process_Analyse v2." in listing and "v2" in listing
    same = upload(client, [("analyse.bpmn", changed)], "deployer")
    assert "Aucun changement" in client.get(same.location).text


def test_deploy_refused_shows_the_report_and_writes_nothing(client_for, env):
    response = upload(client_for("dave"), [("faux.bpmn", BAD_BPMN)], "deployer")
    assert response.status_code == 400
    assert "Déploiement refusé" in response.text and "<code>Start</code>" in response.text
    assert "Process_Faux" not in client_for("dave").get("/procedures").text


def test_upload_refusals_are_clear(client_for, env, runtime):
    client = client_for("dave")
    wrong = upload(client, [("notes.txt", "hello")], "verifier")
    assert wrong.status_code == 400 and "notes.txt : type de fichier non déployable" in wrong.text
    none = upload(client, [], "verifier")
    assert none.status_code == 400 and "Aucun fichier reçu" in none.text
    malformed = upload(client, [("casse.bpmn", "<bpmn:definitions")], "verifier")
    assert malformed.status_code == 200 and "XML mal formé" in malformed.text
    small = web.create_app(runtime, config={"TESTING": True, "SECRET_KEY": "k", "MAX_CONTENT_LENGTH": 2048})
    small_client = login(small.test_client(), "dave")
    too_big = upload(small_client, [("gros.bpmn", "<x/>" + " " * 5000)], "verifier")
    assert too_big.status_code == 413
    assert "dépasse la taille maximale" in too_big.text


def test_procedures_list_and_definition_diagram(client_for, env):
    client = client_for("alice")
    page = client.get("/procedures").text
    assert "Analyse de dossier" in page and "Saisine avec formulaire" in page and "Démarrer une instance" in page
    assert "Vérifier ou déployer" not in page  # alice is no deployer
    diagram = client.get("/procedures/Process_Analyse/versions/1/diagramme.json").get_json()
    assert 'id="Process_Analyse"' in diagram["xml"] and diagram["active"] == []


def test_start_through_the_start_form(client_for, env):
    client = client_for("alice")
    page = client.get("/procedures/Process_Saisine/demarrer").text
    assert 'name="organisme"' in page and 'name="_business_key"' in page
    bad = post(client, "/procedures/Process_Saisine/demarrer", {"_business_key": "SAI-1", "territory": "75"})
    assert bad.status_code == 400
    assert "Ce champ est obligatoire." in bad.text and 'value="SAI-1"' in bad.text and 'value="75"' in bad.text
    good = post(client, "/procedures/Process_Saisine/demarrer",
                {"_business_key": "SAI-1", "organisme": "CRSA", "territory": "75"})
    assert good.status_code == 302
    instance_id = int(good.location.rsplit("/", 1)[1])
    show = env["rt"].show(instance_id)
    assert show["business_key"] == "SAI-1" and show["variables"]["organisme"] == "CRSA"
    assert show["initiator"] == "alice"
    assert client.get(good.location).status_code == 200  # the initiator sees it


def test_start_with_json_variables_when_no_start_form(client_for, env):
    client = client_for("alice")
    page = client.get("/procedures/Process_Analyse/demarrer").text
    assert 'name="_variables"' in page
    bad = post(client, "/procedures/Process_Analyse/demarrer", {"_variables": "{territory: 75}"})
    assert bad.status_code == 400 and "JSON invalide à la ligne 1" in bad.text and "{territory: 75}" in bad.text
    not_object = post(client, "/procedures/Process_Analyse/demarrer", {"_variables": "[1]"})
    assert not_object.status_code == 400 and "Un objet JSON est attendu" in not_object.text
    good = post(client, "/procedures/Process_Analyse/demarrer",
                {"_variables": '{"territory": "13"}', "_business_key": "DOS-13"})
    assert good.status_code == 302
    assert env["rt"].show(int(good.location.rsplit("/", 1)[1]))["variables"]["territory"] == "13"
    assert client.get("/procedures/Inconnue/demarrer").status_code == 404


# -- account and API -------------------------------------------------------------------------------------

def new_token(client) -> str:
    response = post(client, "/compte/jeton")
    assert response.status_code == 200
    return re.search(r'id="api-token">([^<]+)<', response.text).group(1)


def api(client, method, url, token, **kwargs):
    return getattr(client, method)(url, headers={"Authorization": f"Bearer {token}"}, **kwargs)


def test_account_page_shows_calendar_and_generates_a_token(client_for, env):
    client = client_for("alice")
    page = client.get("/compte").text
    with env["rt"].db.read() as s:
        calendar_token = s.get(User, "alice").calendar_token
    assert f"http://localhost/calendrier/{calendar_token}.ics" in page
    assert client.post("/compte/jeton").status_code == 400  # CSRF
    token = new_token(client)
    assert api(client, "get", "/api/v1/me", token).get_json()["login"] == "alice"
    second = new_token(client)
    assert api(client, "get", "/api/v1/me", token).status_code == 401  # the previous one is revoked
    assert api(client, "get", "/api/v1/me", second).status_code == 200


def test_api_requires_a_bearer_token_not_the_session(client_for):
    client = client_for("alice")  # logged in with a session cookie
    response = client.get("/api/v1/tasks")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Jeton d'API requis" in response.get_json()["message"]
    assert api(client, "get", "/api/v1/tasks", "faux").status_code == 401
    assert client.get("/api/v1/openapi.yaml").status_code == 200  # the description is public


def test_api_task_flow_claim_complete_with_errors_and_conflict(client_for, env):
    client = client_for("alice")
    token = new_token(client)
    listing = api(client, "get", "/api/v1/tasks?scope=groups", token).get_json()
    assert [t["id"] for t in listing["items"]] == [env["task_id"]]
    assert listing["items"][0]["business_key"] == "DOS-2027-001" and listing["total"] == 1
    assert api(client, "post", f"/api/v1/tasks/{env['task_id']}/claim", token).get_json()["assignee"] == "alice"
    detail = api(client, "get", f"/api/v1/tasks/{env['task_id']}", token).get_json()
    invalid = api(client, "post", f"/api/v1/tasks/{env['task_id']}/complete", token,
                  json={"variables": {"titre": "ab"}, "expected_version": detail["lock_version"]})
    assert invalid.status_code == 400
    assert invalid.get_json()["errors"]["titre"] == "Le texte doit contenir au moins 3 caractères."
    answers = {"titre": "Analyse API", "complet": True, "pieces": ["budget"], "avis": "favorable"}
    stale = api(client, "post", f"/api/v1/tasks/{env['task_id']}/complete", token,
                json={"variables": answers, "expected_version": detail["lock_version"] + 5})
    assert stale.status_code == 409 and stale.get_json()["error"] == "Conflict"
    done = api(client, "post", f"/api/v1/tasks/{env['task_id']}/complete", token,
               json={"variables": answers, "expected_version": detail["lock_version"]})
    assert done.status_code == 200 and done.get_json()["state"] == "waiting"
    assert env["rt"].show(env["instance_id"])["variables"]["titre"] == "Analyse API"


def test_api_applies_the_same_visibility_rules(client_for, env):
    client = client_for("eve")
    token = new_token(client)
    assert api(client, "get", "/api/v1/tasks", token).get_json()["items"] == []
    assert api(client, "get", f"/api/v1/tasks/{env['task_id']}", token).status_code == 403
    assert api(client, "post", f"/api/v1/tasks/{env['task_id']}/claim", token).status_code == 403
    assert api(client, "get", f"/api/v1/instances/{env['instance_id']}", token).status_code == 403
    assert api(client, "get", "/api/v1/instances/99999", token).status_code == 404
    assert api(client, "post", f"/api/v1/instances/{env['instance_id']}/terminate", token,
               json={}).status_code == 403
    assert api(client, "post", f"/api/v1/instances/{env['instance_id']}/retry", token,
               json={}).status_code == 403
    deploy = api(client, "post", "/api/v1/deployments", token,
                 data={"files": [(__import__("io").BytesIO(BAD_BPMN.encode()), "x.bpmn")]},
                 content_type="multipart/form-data")
    assert deploy.status_code == 403
    alice = client_for("alice")
    alice_token = new_token(alice)
    shown = api(alice, "get", f"/api/v1/instances/{env['instance_id']}", alice_token).get_json()
    assert shown["business_key"] == "DOS-2027-001" and shown["tasks"][0]["id"] == env["task_id"]


def test_api_deploy_lint_start_and_terminate(client_for, env):
    import io
    client = client_for("dave")
    token = new_token(client)
    lint = api(client, "post", "/api/v1/lint", token, data={"files": [(io.BytesIO(BAD_BPMN.encode()), "x.bpmn")]},
               content_type="multipart/form-data").get_json()
    assert lint["ok"] is False and {f["element_id"] for f in lint["findings"]} == {"Start", "End"}
    refused = api(client, "post", "/api/v1/deployments", token,
                  data={"files": [(io.BytesIO(BAD_BPMN.encode()), "x.bpmn")]}, content_type="multipart/form-data")
    assert refused.status_code == 400 and len(refused.get_json()["findings"]) == 2
    changed = ANALYSE_BPMN.replace("P20D", "P30D")
    created = api(client, "post", "/api/v1/deployments", token,
                  data={"files": [(io.BytesIO(changed.encode()), "analyse.bpmn")]}, content_type="multipart/form-data")
    assert created.status_code == 201 and created.get_json()["created"][0]["version"] == 2
    started = api(client, "post", "/api/v1/process-definitions/Process_Analyse/start", token,
                  json={"variables": {"territory": "69"}, "business_key": "API-1"})
    assert started.status_code == 201
    instance_id = started.get_json()["instance_id"]
    assert api(client, "get", f"/api/v1/instances/{instance_id}", token).get_json()["version"] == 2
    bad_body = api(client, "post", "/api/v1/process-definitions/Process_Analyse/start", token,
                   data="pas du json", content_type="application/json")
    assert bad_body.status_code == 400 and "objet JSON attendu" in bad_body.get_json()["message"]
    stopped = api(client, "post", f"/api/v1/instances/{instance_id}/terminate", token, json={"reason": "essai"})
    assert stopped.get_json()["state"] == "terminated"
    versions = api(client, "get", "/api/v1/process-definitions", token).get_json()["items"]
    assert {(d["key"], d["version"]) for d in versions} >= {("Process_Analyse", 1), ("Process_Analyse", 2)}


MESSAGE_BPMN = (HEADER.format(pid="Process_Avis")
                + '<bpmn:message id="Msg_Avis" name="avis_recu" />'
                + '<bpmn:process id="Process_Avis" name="Attente d\'avis" isExecutable="true">'
                + '<bpmn:startEvent id="StartEvent_Avis" />'
                + '<bpmn:intermediateCatchEvent id="Event_Avis" name="Avis reçu">'
                + '<bpmn:messageEventDefinition messageRef="Msg_Avis" /></bpmn:intermediateCatchEvent>'
                + '<bpmn:userTask id="Task_Lire" name="Lire l\'avis" camunda:candidateGroups="instructeurs" />'
                + '<bpmn:endEvent id="EndEvent_Avis" />'
                + '<bpmn:sequenceFlow id="A1" sourceRef="StartEvent_Avis" targetRef="Event_Avis" />'
                + '<bpmn:sequenceFlow id="A2" sourceRef="Event_Avis" targetRef="Task_Lire" />'
                + '<bpmn:sequenceFlow id="A3" sourceRef="Task_Lire" targetRef="EndEvent_Avis" />'
                + '</bpmn:process></bpmn:definitions>')


def test_api_message_reaches_only_visible_instances(client_for, env):
    rt = env["rt"]
    with rt.db.transaction() as s:
        rt.definitions.deploy(s, [("avis.bpmn", MESSAGE_BPMN.encode())], name="avis", now=rt.now())
    started = rt.start("Process_Avis", {}, business_key="AVIS-1", actor="alice")
    eve = client_for("eve")
    hidden = api(eve, "post", "/api/v1/messages", new_token(eve), json={"name": "avis_recu", "business_key": "AVIS-1"})
    assert hidden.status_code == 404  # not revealed to someone who may not see the instance
    alice = client_for("alice")
    token = new_token(alice)
    missing = api(alice, "post", "/api/v1/messages", token, json={"name": "avis_inconnu"})
    assert missing.status_code == 404 and "avis_inconnu" in missing.get_json()["message"]
    sent = api(alice, "post", "/api/v1/messages", token,
               json={"name": "avis_recu", "business_key": "AVIS-1", "variables": {"avis": "favorable"}})
    assert sent.status_code == 200, sent.get_json()
    show = rt.show(started["instance_id"])
    assert show["variables"]["avis"] == "favorable"
    assert [t["element_id"] for t in show["tasks"]] == ["Task_Lire"]


def test_openapi_documents_every_api_route(client_for, env):
    spec = yaml.safe_load(client_for().get("/api/v1/openapi.yaml").data)
    assert spec["openapi"].startswith("3.1")
    documented = set()
    for path, operations in spec["paths"].items():
        for method in operations:
            documented.add((method.upper(), "/api/v1" + re.sub(r"\{(\w+)\}", r"<\1>", path)))
    routes = set()
    for rule in env["app"].url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", rule.rule)
            routes |= {(m, path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == documented


# -- small units ---------------------------------------------------------------------------------------------

def test_markdown_text_escapes_and_formats():
    html = str(form_render.markdown_text("## Titre <i>\n- **un** & deux\n- [lien](https://ars.sante.fr)\n"
                                         "[piège](javascript:alert(1))", {}))
    assert '<h2 class="fr-h4">Titre &lt;i&gt;</h2>' in html
    assert "<ul><li><strong>un</strong> &amp; deux</li>" in html
    assert '<a href="https://ars.sante.fr" rel="noopener noreferrer">lien</a>' in html
    assert "javascript:" not in html.replace("[piège](javascript:alert(1))", "") or "<a href=\"javascript" not in html
    assert '<a href="javascript' not in html


def test_cursor_round_trip_and_refusal():
    from datetime import datetime, timezone
    cursor = Cursor(datetime(2027, 3, 1, 23, 0, tzinfo=timezone.utc), "abc")
    assert Cursor.decode(cursor.encode()) == cursor
    assert Cursor.decode(Cursor(None, "z").encode()).due is None
    from arsflow.engine.errors import InvalidInput
    with pytest.raises(InvalidInput):
        Cursor.decode("bm9uc2Vucw")  # "nonsens": no separator


def test_form_render_conditions_and_dynamic_lists():
    from arsflow.engine.forms import load_form
    from werkzeug.datastructures import MultiDict
    form = load_form({"id": "c", "components": [
        {"type": "checkbox", "key": "autre", "label": "Autre"},
        {"type": "textfield", "key": "precision", "label": "Précision", "conditional": {"hide": "=not(autre)"}},
        {"type": "dynamiclist", "path": "membres", "label": "Membres",
         "components": [{"type": "textfield", "key": "nom", "label": "Nom", "validate": {"required": True}}]},
    ]})
    assert [n.name for n in form_render.build(form, {})] == ["autre", "membres"]
    shown = form_render.build(form, {}, post=MultiDict({"autre": "on"}))
    assert [n.name for n in shown] == ["autre", "precision", "membres"]
    stored = form_render.build(form, {"membres": [{"nom": "Dupont"}, {"nom": "Durand"}]})[1]
    assert [[(c.name, c.value) for c in item] for item in stored.items] == [
        [("membres[0].nom", "Dupont")], [("membres[1].nom", "Durand")]]
    post = MultiDict({"membres[0].nom": "", "membres[1].nom": "X"})
    errors = {"membres[0].nom": "Ce champ est obligatoire."}
    again = form_render.build(form, {}, post=post, errors=errors)[1]
    assert [[(c.value, c.error) for c in item] for item in again.items] == [
        [("", "Ce champ est obligatoire.")], [("X", None)]]


def test_post_for_form_keeps_checklists_as_lists():
    from arsflow.engine.forms import load_form
    from werkzeug.datastructures import MultiDict
    form = load_form({"id": "c", "components": [
        {"type": "checklist", "key": "pieces", "label": "Pièces", "values": [{"label": "A", "value": "a"}]},
        {"type": "textfield", "key": "titre", "label": "Titre"}]})
    data = form_render.post_for_form(form, MultiDict([("pieces", "a"), ("titre", "T"), ("csrf_token", "x"),
                                                      ("_version", "3")]))
    assert data == {"pieces": ["a"], "titre": "T"}


def test_api_pagination_with_cursors(client_for, env):
    rt = env["rt"]
    bulk_tasks(rt, env["instance_id"], 11, "instructeurs", start=rt.now())
    client = client_for("alice")
    token = new_token(client)
    first = api(client, "get", "/api/v1/tasks?scope=groups&limit=5", token).get_json()
    second = api(client, "get", f"/api/v1/tasks?scope=groups&limit=5&after={first['next_cursor']}", token).get_json()
    third = api(client, "get", f"/api/v1/tasks?scope=groups&limit=5&after={second['next_cursor']}", token).get_json()
    ids = [t["id"] for page in (first, second, third) for t in page["items"]]
    assert len(ids) == 12 == len(set(ids)) and third["next_cursor"] is None and first["prev_cursor"] is None
    back = api(client, "get", f"/api/v1/tasks?scope=groups&limit=5&before={second['prev_cursor']}", token).get_json()
    assert [t["id"] for t in back["items"]] == [t["id"] for t in first["items"]]
    assert api(client, "get", "/api/v1/tasks?limit=0", token).status_code == 400
    assert api(client, "get", "/api/v1/tasks?scope=tout", token).status_code == 400


def test_form_headings_never_skip_a_level():
    """axe-core heading-order: a form's "####" under the page's h1 becomes h2, then one level at a time."""
    html = str(form_render.markdown_text("#### Pièces\ntexte\n###### Détail\n# Suite", {}))
    assert [int(level) for level in re.findall(r"<h(\d)", html)] == [2, 3, 2]


def test_dates_and_numbers_are_typed_the_french_way(client_for, env):
    """Whatever the browser's language: "15/02/2027" and "1 2,5"-style numbers reach the engine as
    ISO dates and decimals; the page shows stored dates back as jj/mm/aaaa."""
    client = client_for("alice")
    claim_as(env, client)
    bad = post(client, f"/taches/{env['task_id']}",
               valid_answers(date_reunion="31/02/2027", lits="12,5", _version=lock_version(env)))
    assert bad.status_code == 400
    assert 'value="12.5"' in bad.text or 'value="12,5"' in bad.text
    ok = post(client, f"/taches/{env['task_id']}",
              valid_answers(date_reunion="15/02/2027", lits="1\u202f20", _version=lock_version(env)))
    assert ok.status_code == 302, ok.text
    variables = env["rt"].show(env["instance_id"])["variables"]
    assert variables["date_reunion"] == "2027-02-15" and variables["lits"] == 120


def test_static_assets_are_compressed_and_cached_under_a_versioned_url(client_for, env):
    import brotli
    import gzip
    client = client_for("alice")
    page = client.get("/taches").text
    css = re.search(r'href="(/static/vendor/dsfr/dsfr\.min\.css\?v=[0-9a-f]{12})"', page).group(1)
    browser = {"Accept-Encoding": "gzip, deflate, br"}
    first = client.get(css, headers=browser)
    assert first.status_code == 200 and first.headers["Content-Encoding"] == "br"
    assert "immutable" in first.headers["Cache-Control"] and "max-age=31536000" in first.headers["Cache-Control"]
    plain = client.get(css).data
    assert brotli.decompress(first.data) == plain and len(first.data) < len(plain) / 4
    html = client.get("/taches", headers={"Accept-Encoding": "gzip"})
    assert html.headers["Content-Encoding"] == "gzip" and html.headers["Cache-Control"] == "no-store"
    assert "Mes tâches" in gzip.decompress(html.data).decode()


def test_people_and_groups_are_shown_by_name_not_by_id(client_for, env):
    with env["rt"].db.transaction() as s:
        from arsflow.engine.people.users import add_user
        add_user(s, "alice", ["instructeurs"], password=PASSWORD, display_name="Alice Lefèvre", now=env["rt"].now())
    client = client_for("alice")
    claim_as(env, client)
    page = client.get(f"/taches/{env['task_id']}").text
    facts = page[page.index('id="dossier-titre"'):]
    assert "Prise en charge par</dt><dd>Alice Lefèvre</dd>" in facts and ">alice<" not in facts
    assert "Proposée à</dt><dd>Instructeurs</dd>" in facts


def test_reminders_show_in_the_app_with_a_badge_until_the_list_is_opened(client_for, env):
    rt = env["rt"]
    client = client_for("alice")
    assert 'id="lien-notifications">Notifications</a>' in client.get("/taches").text  # no badge yet
    with rt.db.transaction() as s:
        from arsflow.engine.models import Instance
        instance = s.get(Instance, env["instance_id"])
        rt.notifier.record(s, instance=instance, kind="reminder", subject="Rappel : analyse à rendre dans 3 jours",
                           body="", logins=["alice", "bob"], now=rt.now())
    page = client.get("/taches").text
    assert re.search(r'id="lien-notifications">Notifications <span class="fr-badge[^"]*"[^>]*>1</span>', page)
    listing = client.get("/notifications").text
    assert "Rappel : analyse à rendre dans 3 jours" in listing and "Nouveau · Rappel" in listing
    assert 'id="lien-notifications">Notifications</a>' in client.get("/taches").text  # seen: badge gone
    assert "Nouveau" not in client.get("/notifications").text
    assert "Rappel : analyse" not in client_for("carol").get("/notifications").text  # addressed to others only
