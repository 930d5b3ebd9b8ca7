"""CTS nomination (processes/cts_nomination.bpmn) end to end on arsflow's Runtime, with a
simulated clock: every body answering up to the installation, the reminder then the escalation
to the DG at their exact instants (relance with a new legal delay, or absence recorded), the
URPS designated by the DG without a joint proposal, a composition refused and corrected, the
AMF's conseillers municipaux.

Start on Friday 25 September 2026 in Seine-et-Marne: the 30-day answer delay ends on Sunday
25 October (also the night clocks go back), so it is extended to Monday 26 October and expires
at midnight Paris time, 2026-10-26T23:00Z; the reminder goes 7 local days earlier, at midnight
summer time, 2026-10-19T22:00Z.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from arsflow.engine.bpmn.definitions import collect_sources
from arsflow.engine.errors import Conflict, InvalidInput

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "processes" / "cts_nomination.bpmn", ROOT / "processes" / "cts_organismes.dmn",
           ROOT / "processes" / "cts_arrete_composition.docx", ROOT / "forms"]  # with the letter it names

START_AT = "2026-09-25T08:00:00+00:00"
DEADLINE = "2026-10-26T23:00:00+00:00"       # Mon 26 Oct 2026, 24:00 Paris (CET)
REMINDER = "2026-10-19T22:00:00+00:00"       # Tue 20 Oct 2026, 00:00 Paris (CEST)
CALL_CLOSING_DATE = "2026-10-11"             # a Sunday: a call closes that day, never extended
CALL_CLOSES_AT = "2026-10-11T22:00:00+00:00"
CTS = "Seine-et-Marne"

PROPOSALS = "Enregistrer les propositions"
URPS_TASK = "Enregistrer la proposition conjointe des URPS"
URPS_DG_TASK = "Désigner les représentants des URPS"
ESCALATION = "Absence de réponse : relancer ou constater"
PUBLISH = "Publier l'appel à candidatures"
SELECT = "Sélectionner les candidats"
PQ_TASK = "Choisir les personnalités qualifiées"
CORRECT = "Corriger la composition"
PARITY = "Examiner la parité femmes-hommes"
ARRETE = "Prendre l'arrêté de nomination"
INSTALL = "Installer le CTS"

AMF = "Association des maires de France (AMF)"
ADF = "Assemblée des départements de France (ADF)"
ADCF = "Assemblée des communautés de France (AdCF)"
CDCA = "Conseils départementaux de la citoyenneté et de l'autonomie (CDCA)"
ETAT = "Préfet de département — représentant de l'État"
HAD = "Hospitalisation à domicile (FNEHAD)"
ORDRE = "Conseil régional de l'ordre des médecins"
URPS_MED = "URPS — médecins"
URPS_AUTRES = "URPS — autres professionnels de santé"

# Caps of Fiche technique n°1 (instruction n° 2016-154) the DMN must carry, by code.
FICHE_CAPS = {"etablissements_gestionnaires": 3, "etablissements_cme": 3, "medico_social": 5,
              "urps_medecins": 3, "urps_autres": 3, "internes": 1, "had": 1, "ordre_medecins": 1,
              "cdca": 4, "conseil_regional": 1, "adf": 1, "pmi": 1, "adcf": 2, "amf": 2, "etat": 1,
              "securite_sociale": 2, "personnalites_qualifiees": 2}
ACTORS = {"pole_democratie_sanitaire": "pole", "dg_ars": "dg", "sg_national": "sg"}


# --------------------------------------------------------------------------- people


class Roster:
    """Distinct people (a name twice is a composition fault), alternating women and men."""

    FIRST = {"F": ["Jeanne", "Claire", "Sophie", "Anne", "Nadia", "Lucie", "Inès", "Hélène"],
             "M": ["Paul", "Marc", "Louis", "Yves", "Karim", "Henri", "Olivier", "Gérard"]}

    def __init__(self):
        self.count = 0

    def person(self, sex, quality="membre", **extra):
        self.count += 1
        return {"name": f"{self.FIRST[sex][self.count % 8]} Membre{self.count}", "sex": sex,
                "quality": f"{quality} {self.count}", **extra}

    def seats(self, count, municipal=None, suppleant=True):
        """A proposal form's `seat1..seatN` groups; `municipal` fills the AMF checkbox."""
        extra = {} if municipal is None else {"conseiller_municipal": municipal}
        groups = {}
        for i in range(1, count + 1):
            sex, other = ("F", "M") if self.count % 4 < 2 else ("M", "F")
            groups[f"seat{i}"] = {"titulaire": self.person(sex, **extra),
                                  "suppleant": self.person(other, **extra) if suppleant else {}}
        return groups


def titulaires(groups):
    return [seat["titulaire"]["name"] for _key, seat in sorted(groups.items(), key=lambda kv: int(kv[0][4:]))]


# --------------------------------------------------------------------------- engine helpers


@pytest.fixture
def cts(runtime, make_user):
    make_user("pole", "pole_democratie_sanitaire")
    make_user("dg", "dg_ars")
    make_user("sg", "sg_national")
    with runtime.db.transaction() as s:
        runtime.definitions.deploy(s, collect_sources(SOURCES), now=runtime.now())
    return runtime


def start(rt, clock, **extra):
    clock.set(START_AT)
    data = {"territory": "77", "cts_name": CTS, **extra}
    return rt.start("cts_nomination", data, business_key="CTS-77", actor="pole")["instance_id"]


def open_tasks(rt, iid, name=None, subject=None):
    return [t for t in rt.tasks(instance_id=iid)
            if (name is None or t["name"] == name) and (subject is None or t["properties"].get("subject") == subject)]


def one(rt, iid, name, subject=None):
    found = open_tasks(rt, iid, name, subject)
    assert len(found) == 1, (name, subject, [(t["name"], t["properties"].get("subject")) for t in open_tasks(rt, iid)])
    return found[0]


def complete(rt, task, data):
    return rt.complete(task["id"], data, actor=ACTORS[task["candidate_groups"][0]])


def body_of(rt, task):
    """The DMN row a multi-instance task works for (its own `body`, not the instance's)."""
    return rt.task_data(task["id"])["body"]


def variables(rt, iid):
    return rt.show(iid)["variables"]


def notifications(rt, iid, element_id=None):
    return [a["details"] for a in rt.show(iid)["audit"]
            if a["action"] == "notification" and (element_id is None or a["element_id"] == element_id)]


def advance(rt, clock, instant):
    clock.set(instant)
    return rt.tick()


def answer_body(rt, task, roster, count=None, municipal=True, suppleant=True, submitted=None):
    body = body_of(rt, task)
    condition = body.get("member_condition") == "conseiller_municipal"
    groups = roster.seats(body["cap"] if count is None else count,
                          municipal=municipal if condition else None, suppleant=suppleant)
    complete(rt, task, {"response_date": rt.now().date().isoformat(), "proposal": groups})
    if submitted is not None:
        submitted[body["name"]] = titulaires(groups)
    return groups


def answer_bodies(rt, iid, roster, skip=(), counts=None, submitted=None, **kw):
    for task in open_tasks(rt, iid, PROPOSALS):
        if task["properties"]["subject"] not in skip:
            answer_body(rt, task, roster, count=(counts or {}).get(task["properties"]["subject"]),
                        submitted=submitted, **kw)


def answer_urps(rt, task, roster, submitted=None):
    med, autres = roster.seats(3), roster.seats(3)
    complete(rt, task, {"urps_response_date": rt.now().date().isoformat(),
                        "urps_proposal": {"medecins": med, "autres": autres}})
    if submitted is not None:
        submitted[URPS_MED], submitted[URPS_AUTRES] = titulaires(med), titulaires(autres)


def choose_pq(rt, iid, roster, submitted=None):
    groups = roster.seats(2)
    complete(rt, one(rt, iid, PQ_TASK), {"pq_designation": groups})
    if submitted is not None:
        submitted["Personnalités qualifiées désignées par le DG ARS"] = titulaires(groups)


def publish_calls(rt, iid):
    for task in open_tasks(rt, iid, PUBLISH):
        complete(rt, task, {"call_publication_date": "2026-09-25", "call_closing_date": CALL_CLOSING_DATE,
                            "call_reference": "https://www.iledefrance.ars.sante.fr/appel-cts-77"})


def select_candidates(rt, iid, roster, counts=None, submitted=None):
    for task in open_tasks(rt, iid, SELECT):
        body = body_of(rt, task)
        groups = roster.seats((counts or {}).get(body["name"], body["cap"]))
        complete(rt, task, {"selection_date": rt.now().date().isoformat(), "proposal": groups})
        if submitted is not None:
            submitted[body["name"]] = titulaires(groups)


def answer_everything(rt, clock, iid, roster, skip=(), counts=None, urps=True, **kw):
    """Every body answers (but `skip`), the DG chooses, the calls close and are filled."""
    answer_bodies(rt, iid, roster, skip=skip, counts=counts, **kw)
    if urps:
        answer_urps(rt, one(rt, iid, URPS_TASK), roster)
    choose_pq(rt, iid, roster)
    publish_calls(rt, iid)
    advance(rt, clock, CALL_CLOSES_AT)
    select_candidates(rt, iid, roster, counts=counts)


def validate_parity(rt, iid):
    complete(rt, one(rt, iid, PARITY), {"parity_acknowledged": True, "parity_decision": "valider"})


# --------------------------------------------------------------------------- 1. every body answers


def test_every_body_answers_up_to_the_installation(cts, clock):
    iid = start(cts, clock)
    v = variables(cts, iid)
    assert v["answer_deadline"] == DEADLINE and v["reminder_at"] == REMINDER
    rows = {row["code"]: row for row in v["designating_bodies"]}
    assert {code: rows[code]["cap"] for code in FICHE_CAPS} == FICHE_CAPS
    assert rows["amf"]["member_condition"] == "conseiller_municipal"

    # One request per body of the ARS and SG circuits, all open at once, each with its own cap.
    requests = open_tasks(cts, iid, PROPOSALS)
    expected = {row["name"] for row in v["designating_bodies"] if row["circuit"] in ("ars", "sg")}
    assert {t["properties"]["subject"] for t in requests} == expected and len(requests) == len(expected) == 15
    for task in requests:
        body = body_of(cts, task)
        assert body["name"] == task["properties"]["subject"]
        assert body["cap"] == rows[body["code"]]["cap"]
        assert task["due_at"] == DEADLINE and task["follow_up_at"] == REMINDER
        group = "sg_national" if body["circuit"] == "sg" else "pole_democratie_sanitaire"
        assert task["candidate_groups"] == [group], body["code"]
    sg_tasks = {t["properties"]["subject"] for t in requests if t["candidate_groups"] == ["sg_national"]}
    assert sg_tasks == {ADF, AMF, ADCF}
    assert {t["lane"] for t in requests if t["candidate_groups"] == ["sg_national"]} == {
        "SG national (secrétariat général des ministères sociaux)"}
    assert {t["properties"]["subject"] for t in cts.tasks(actor="sg", instance_id=iid)} == {ADF, AMF, ADCF}
    assert {t["properties"]["subject"] for t in open_tasks(cts, iid, PUBLISH)} == {
        row["name"] for row in v["designating_bodies"] if row["circuit"] == "appel"}
    assert one(cts, iid, PQ_TASK)["candidate_groups"] == ["dg_ars"]
    assert one(cts, iid, URPS_TASK)["due_at"] == DEADLINE

    # The requests went out: one per ARS body to the pôle, ADF/AMF/AdCF through the SG.
    sent = notifications(cts, iid, "Task_ars_envoyer_demande")
    assert len(sent) == 12 and all(n["to_groups"] == ["pole_democratie_sanitaire"] for n in sent)
    cdca_request = next(n for n in sent if CDCA in n["subject"])
    assert cdca_request["subject"].startswith("Demande de désignation")
    assert "Au plus 4 membre(s)" in cdca_request["body"] and "collège 2" in cdca_request["body"]
    sg_sent = notifications(cts, iid, "Task_sg_envoyer_demande")
    assert sorted(n["subject"].split(" — ")[1] for n in sg_sent) == sorted([ADF, AMF, ADCF])
    assert all(n["to_groups"] == ["sg_national"] for n in sg_sent)
    [caisses] = notifications(cts, iid, "Task_informer_caisses")
    assert caisses["to_groups"] == ["sg_national"] and "UNCAM" in caisses["subject"]
    assert len(notifications(cts, iid, "Task_demande_urps")) == 1

    roster, submitted = Roster(), {}
    answer_bodies(cts, iid, roster, submitted=submitted)
    answer_urps(cts, one(cts, iid, URPS_TASK), roster, submitted=submitted)
    with pytest.raises(InvalidInput) as refused:  # the DG names two personnalités qualifiées
        complete(cts, one(cts, iid, PQ_TASK), {"pq_designation": roster.seats(1)})
    assert "pq_designation.seat2.titulaire.name" in refused.value.details["errors"]
    choose_pq(cts, iid, roster, submitted=submitted)
    publish_calls(cts, iid)
    assert not open_tasks(cts, iid, PROPOSALS)
    # Every answer cancelled its reminder and deadline: only the calls' closings remain.
    waiting = [(t["element_id"], t["due_at"]) for t in cts.show(iid)["timers"] if t["status"] == "waiting"]
    assert waiting == [("Timer_cloture_appel", CALL_CLOSES_AT)] * 3

    # The calls close at the end of their closing day (a Sunday: no extension), not earlier.
    advance(cts, clock, "2026-10-11T21:59:59+00:00")
    assert not open_tasks(cts, iid, SELECT)
    assert advance(cts, clock, CALL_CLOSES_AT) == 3
    selections = open_tasks(cts, iid, SELECT)
    assert {t["properties"]["subject"] for t in selections} == {
        row["name"] for row in v["designating_bodies"] if row["circuit"] == "appel"}
    select_candidates(cts, iid, roster, submitted=submitted)

    # All branches joined: the seats are complete, valid, in arrêté order; no correction asked.
    shown = cts.show(iid)
    v = shown["variables"]
    assert v["composition_violations"] == []
    assert not [t for t in shown["tasks"] if t["name"] == CORRECT]
    seats = v["seats"]
    assert len(seats) == sum(row["cap"] for row in v["designating_bodies"]) == 49
    for name, names in submitted.items():
        assert [s["titulaire"]["name"] for s in seats if s["body"] == name] == names, name
    assert all(s["suppleant"] and s["suppleant"]["name"] for s in seats)
    assert [s["college"] for s in seats] == sorted(s["college"] for s in seats)
    dmn_order = [row["name"] for row in sorted(v["designating_bodies"], key=lambda r: r["college"])]
    body_order = list(dict.fromkeys(s["body"] for s in seats))
    assert body_order == dmn_order
    assert all(s["titulaire"]["conseiller_municipal"] is True for s in seats if s["body"] == AMF)
    by_code = {row["code"]: row for row in v["ars_bodies"] + v["sg_bodies"] + v["call_bodies"]}
    assert by_code["cdca"]["status"] == "réponse reçue" and by_code["cdca"]["relances"] == 0
    assert by_code["usagers_agrees"]["status"] == "candidats sélectionnés"
    assert by_code["usagers_agrees"]["call_closing_date"] == CALL_CLOSING_DATE

    # Parity: the DG must acknowledge the report, whose counts are those of the seats.
    parity = one(cts, iid, PARITY)
    assert parity["candidate_groups"] == ["dg_ars"]
    report = v["gender_report"]
    women = sum(1 for s in seats if s["titulaire"]["sex"] == "F")
    assert report["total"]["titulaires"] == {"F": women, "M": 49 - women, "inconnu": 0}
    assert report["women_share"] == round(100 * women / 49)
    college3 = next(c for c in report["colleges"] if c["college"] == 3)
    assert college3["titulaires"]["F"] + college3["titulaires"]["M"] == 7
    assert "Collège 1" in parity["properties"]["parite"]
    with pytest.raises(InvalidInput) as refused:
        complete(cts, parity, {"parity_acknowledged": False, "parity_decision": "valider"})
    assert "parity_acknowledged" in refused.value.details["errors"]
    validate_parity(cts, iid)

    # The arrêté lists the members by collège, bodies in the table's order.
    v = variables(cts, iid)
    members = v["arrete_members"]
    assert [block["college"] for block in members] == [1, 2, 3, 4, 5]
    assert members[0]["title"].startswith("1° Collège des professionnels")
    for block in members:
        in_college = [s for s in seats if s["college"] == block["college"]]
        assert [m["body"] for m in block["members"]] == [s["body"] for s in in_college]
        first, seat = block["members"][0], in_college[0]
        civility = "Mme" if seat["titulaire"]["sex"] == "F" else "M."
        assert first["titulaire"] == f"{civility} {seat['titulaire']['name']}, {seat['titulaire']['quality']}"
    assert f"Au titre de : {AMF}" in v["arrete_preview"]
    complete(cts, one(cts, iid, ARRETE), {"arrete_date": "2026-11-16", "arrete_reference": "ARS-IDF-2026-CTS77"})
    assert variables(cts, iid)["mandate_end"] == "2031-11-16"

    # Installation: président and vice-président elected among the titulaires.
    install = one(cts, iid, INSTALL)
    choices = [c["value"] for c in variables(cts, iid)["cts_member_choices"]]
    assert choices == [s["titulaire"]["name"] for s in seats]
    with pytest.raises(InvalidInput):
        complete(cts, install, {"installation_date": "2026-12-03", "president": "Quelqu'un d'autre",
                                "vice_president": choices[1]})
    complete(cts, install, {"installation_date": "2026-12-03", "president": choices[20],
                            "vice_president": choices[40]})
    shown = cts.show(iid)
    assert shown["state"] == "completed"
    assert not [t for t in shown["timers"] if t["status"] == "waiting"]
    assert shown["variables"]["president"] == choices[20] and shown["variables"]["vice_president"] == choices[40]
    assert not open_tasks(cts, iid)


# --------------------------------------------------------------------------- 2. reminder, escalation


def test_a_silent_body_is_reminded_then_escalated_to_the_dg(cts, clock):
    iid = start(cts, clock)
    roster = Roster()
    answer_everything(cts, clock, iid, roster, skip=(HAD, ORDRE, ADF))
    assert {t["properties"]["subject"] for t in open_tasks(cts, iid, PROPOSALS)} == {HAD, ORDRE, ADF}

    # Reminder: nothing one second before, one notification per silent body at the instant.
    advance(cts, clock, "2026-10-19T21:59:59+00:00")
    assert not notifications(cts, iid, "Task_ars_rappel") and not notifications(cts, iid, "Task_sg_rappel")
    assert advance(cts, clock, REMINDER) == 3
    reminders = notifications(cts, iid, "Task_ars_rappel")
    assert {a["at"] for a in cts.show(iid)["audit"] if a["element_id"] == "Task_ars_rappel"} == {REMINDER}
    assert sorted(n["subject"] for n in reminders) == sorted(
        f"Rappel : {name} n'a pas encore répondu — CTS {CTS}" for name in (HAD, ORDRE))
    # Staff read the date in words, Paris time, not an ISO/UTC instant (#12 « Words shown to staff »).
    assert all("lundi 26 octobre 2026 à 24 h (heure de Paris)" in n["body"] and DEADLINE not in n["body"]
               for n in reminders)
    [sg_reminder] = notifications(cts, iid, "Task_sg_rappel")
    assert ADF in sg_reminder["subject"] and sg_reminder["to_groups"] == ["sg_national"]
    assert len(open_tasks(cts, iid, PROPOSALS)) == 3, "le rappel n'interrompt pas l'attente"

    # Escalation: nothing one second before the deadline, the DG's task at the instant.
    advance(cts, clock, "2026-10-26T22:59:59+00:00")
    assert not open_tasks(cts, iid, ESCALATION)
    late = one(cts, iid, PROPOSALS, HAD)
    assert advance(cts, clock, DEADLINE) == 3
    escalations = {t["properties"]["subject"]: t for t in open_tasks(cts, iid, ESCALATION)}
    assert set(escalations) == {f"{name} — CTS {CTS}" for name in (HAD, ORDRE, ADF)}
    groups = {subject: t["candidate_groups"] for subject, t in escalations.items()}
    assert groups == {f"{HAD} — CTS {CTS}": ["dg_ars"], f"{ORDRE} — CTS {CTS}": ["dg_ars"],
                      f"{ADF} — CTS {CTS}": ["sg_national"]}  # the SG decides for the bodies it asked
    assert not [t for t in cts.tasks(actor="pole", instance_id=iid) if t["name"] == ESCALATION]
    assert len([t for t in cts.tasks(actor="dg", instance_id=iid) if t["name"] == ESCALATION]) == 2
    assert not open_tasks(cts, iid, PROPOSALS)
    with pytest.raises(Conflict):
        complete(cts, late, {"response_date": "2026-10-27", "proposal": roster.seats(1)})

    # The DG records HAD's silence and chases the ordre with 15 more days: the new delay is
    # legal (Wednesday 11 November is a holiday: it ends Thursday 12 November, 24:00 Paris).
    clock.set("2026-10-27T08:00:00+00:00")
    complete(cts, escalations[f"{HAD} — CTS {CTS}"], {"relance_decision": "constater"})
    complete(cts, escalations[f"{ADF} — CTS {CTS}"], {"relance_decision": "constater"})
    complete(cts, escalations[f"{ORDRE} — CTS {CTS}"], {"relance_decision": "relancer", "relance_days": 15})
    chased = one(cts, iid, PROPOSALS, ORDRE)
    assert chased["due_at"] == "2026-11-12T23:00:00+00:00"
    assert chased["follow_up_at"] == "2026-11-05T23:00:00+00:00"
    relance = [n for n in notifications(cts, iid, "Task_ars_envoyer_demande") if n["subject"].startswith("Relance")]
    assert [n["subject"] for n in relance] == [f"Relance de désignation — {ORDRE} — CTS {CTS}"]
    waiting = {t["element_id"]: t["due_at"] for t in cts.show(iid)["timers"] if t["status"] == "waiting"}
    assert waiting == {"Timer_ars_rappel": "2026-11-05T23:00:00+00:00",
                       "Timer_ars_echeance": "2026-11-12T23:00:00+00:00"}
    answer_body(cts, chased, roster)

    v = variables(cts, iid)
    rows = {row["code"]: row for row in v["ars_bodies"]}
    assert rows["had"]["status"] == "sans désignation" and rows["had"]["seats"] == []
    assert rows["ordre_medecins"]["status"] == "réponse reçue" and rows["ordre_medecins"]["relances"] == 1
    assert len(rows["ordre_medecins"]["seats"]) == 1
    assert {row["code"]: row["status"] for row in v["sg_bodies"]}["adf"] == "sans désignation"
    # Seed 000 l. 138 (« l'essentiel des représentants »): a body that never answered keeps a vacant
    # seat, listed as such in the arrêté (#12; before, it simply had no seat).
    vacant = [s for s in v["seats"] if s["body"] in (HAD, ADF)]
    assert [(s["titulaire"], s["suppleant"], s["vacant"]) for s in vacant] == [(None, None, True)] * 2
    assert len(v["seats"]) == 49 and v["composition_violations"] == []  # vacant seats, bounds kept
    assert "Sièges vacants :" in v["arrete_preview"] and "(aucune désignation reçue)" in v["arrete_preview"]
    assert one(cts, iid, PARITY)


# --------------------------------------------------------------------------- 3. URPS fallback


def test_without_a_joint_urps_proposal_the_dg_designates(cts, clock):
    iid = start(cts, clock)
    roster = Roster()
    answer_everything(cts, clock, iid, roster, urps=False)
    urps_task = one(cts, iid, URPS_TASK)

    assert advance(cts, clock, REMINDER) == 1
    [reminder] = notifications(cts, iid, "Task_rappel_urps")
    assert reminder["subject"] == f"Rappel : proposition conjointe des URPS attendue — CTS {CTS}"
    assert one(cts, iid, URPS_TASK)

    advance(cts, clock, "2026-10-26T22:59:59+00:00")
    assert not open_tasks(cts, iid, URPS_DG_TASK)
    assert advance(cts, clock, DEADLINE) == 1
    designate = one(cts, iid, URPS_DG_TASK)
    assert designate["candidate_groups"] == ["dg_ars"]
    assert designate["properties"]["subject"] == f"URPS sans proposition conjointe — CTS {CTS}"
    assert designate["due_at"] > DEADLINE
    assert not open_tasks(cts, iid, URPS_TASK)
    with pytest.raises(Conflict):  # a joint proposal arriving now is too late
        answer_urps(cts, urps_task, roster)

    submitted = {}
    answer_urps(cts, designate, roster, submitted=submitted)
    v = variables(cts, iid)
    assert [s["titulaire"]["name"] for s in v["urps_seats"]] == submitted[URPS_MED] + submitted[URPS_AUTRES]
    for body in (URPS_MED, URPS_AUTRES):
        seats = [s for s in v["seats"] if s["body"] == body]
        assert [s["titulaire"]["name"] for s in seats] == submitted[body]
        assert all(s["college"] == 1 and s["suppleant"]["name"] for s in seats)
    assert v["composition_violations"] == [] and len(v["seats"]) == 49
    completed = [a for a in cts.show(iid)["audit"] if a["action"] == "completed" and a["actor"] == "dg"]
    assert completed and completed[-1]["element_id"] == "Task_designer_urps"
    assert one(cts, iid, PARITY)


# --------------------------------------------------------------------------- 4. composition refused


def test_a_composition_violation_is_named_then_corrected(cts, clock):
    iid = start(cts, clock)
    roster = Roster()
    answer_body(cts, one(cts, iid, PROPOSALS, CDCA), roster, count=5)            # cap 4
    answer_body(cts, one(cts, iid, PROPOSALS, ETAT), roster, suppleant=False)    # no suppléant
    answer_everything(cts, clock, iid, roster, skip=(CDCA, ETAT))

    correct = one(cts, iid, CORRECT)
    assert correct["candidate_groups"] == ["pole_democratie_sanitaire"]
    data = cts.task_data(correct["id"])
    violations = data["composition_violations"]
    seats = data["seats"]
    etat = next(n for n, s in enumerate(seats, 1) if s["body"] == ETAT)
    fifth_cdca = [n for n, s in enumerate(seats, 1) if s["body"] == CDCA][4]
    # The missing suppléant of the State seat is a vacancy, not a violation (#12, seed 000 l. 138).
    assert etat and sorted(violations) == sorted([
        f"Organisme « {CDCA} » (collège 2) : 5 sièges pour au plus 4.",
        "Collège 2 (usagers et associations d'usagers) : 11 membre(s), le maximum est de 10 "
        "(article R. 1434-33 du code de la santé publique).",
    ])
    assert correct["properties"]["anomalies"] == "\n".join(violations)
    assert not open_tasks(cts, iid, PARITY)

    # A wrong seat number is reported back, the valid corrections are applied.
    complete(cts, correct, {"corrections": {
        "fix1": {"action": "supprimer", "seat": fifth_cdca},
        "fix2": {"action": "modifier", "seat": etat,
                 "suppleant": {"name": "Hélène Préfecture", "sex": "F", "quality": "sous-préfète de Meaux"}},
        "fix3": {"action": "supprimer", "seat": 55},
    }})
    again = one(cts, iid, CORRECT)
    data = cts.task_data(again["id"])
    assert len(data["composition_violations"]) == 1
    assert data["composition_violations"][0].startswith("Correction n° 3 : numéro de siège")
    assert data["composition_round"] == 1 and len(data["seats"]) == 49
    complete(cts, again, {})

    parity = one(cts, iid, PARITY)
    v = variables(cts, iid)
    assert v["composition_violations"] == [] and v["composition_round"] == 2
    assert len([s for s in v["seats"] if s["body"] == CDCA]) == 4
    [prefet] = [s for s in v["seats"] if s["body"] == ETAT]
    assert prefet["suppleant"]["name"] == "Hélène Préfecture"

    # The DG may send the composition back with an observation; the check box starts unticked.
    complete(cts, parity, {"parity_acknowledged": True, "parity_decision": "corriger",
                           "parity_comment": "Rééquilibrer le collège 4."})
    back = one(cts, iid, CORRECT)
    assert cts.task_data(back["id"])["parity_comment"] == "Rééquilibrer le collège 4."
    complete(cts, back, {})
    parity = one(cts, iid, PARITY)
    assert cts.task_data(parity["id"])["parity_acknowledged"] is False
    validate_parity(cts, iid)
    assert one(cts, iid, ARRETE)


# --------------------------------------------------------------------------- 5. AMF


def test_amf_members_must_be_confirmed_conseillers_municipaux(cts, clock):
    iid = start(cts, clock)
    roster = Roster()
    amf = one(cts, iid, PROPOSALS, AMF)
    for unconfirmed in (None, False):
        groups = roster.seats(2, municipal=unconfirmed)
        with pytest.raises(InvalidInput) as refused:
            complete(cts, amf, {"response_date": "2026-09-28", "proposal": groups})
        errors = refused.value.details["errors"]
        assert {f"proposal.seat{i}.{role}.conseiller_municipal" for i in (1, 2)
                for role in ("titulaire", "suppleant")} <= set(errors), errors
    assert one(cts, iid, PROPOSALS, AMF)["id"] == amf["id"]

    # The other SG bodies have no such condition: their own `body` hides the check box.
    for name in (ADF, ADCF):
        answer_body(cts, one(cts, iid, PROPOSALS, name), roster, municipal=None)
    # A single AMF member, confirmed, is accepted (the empty seats ask nothing).
    answer_body(cts, amf, roster, count=1, municipal=True)
    answer_everything(cts, clock, iid, roster)
    v = variables(cts, iid)
    [amf_seat] = [s for s in v["seats"] if s["body"] == AMF]
    assert amf_seat["titulaire"]["conseiller_municipal"] is True
    assert amf_seat["suppleant"]["conseiller_municipal"] is True
    assert all("conseiller_municipal" not in s["titulaire"] for s in v["seats"] if s["body"] == ADF)

    # A second AMF member added at the correction without the confirmation is refused by the check.
    complete(cts, one(cts, iid, PARITY), {"parity_acknowledged": True, "parity_decision": "corriger",
                                          "parity_comment": "Second siège de l'AMF à pourvoir."})
    correct = one(cts, iid, CORRECT)
    complete(cts, correct, {"corrections": {"fix1": {
        "action": "ajouter", "body": AMF,
        "titulaire": {"name": "Martine Conseillère", "sex": "F", "quality": "maire de Provins"},
        "suppleant": {"name": "Didier Adjoint", "sex": "M", "quality": "adjoint au maire de Provins",
                      "conseiller_municipal": True}}}})
    again = one(cts, iid, CORRECT)
    data = cts.task_data(again["id"])
    added = len(data["seats"])
    assert data["seats"][-1]["body"] == AMF and data["seats"][-1]["college"] == 3
    assert data["composition_violations"] == [
        f"Siège n° {added} (« {AMF} », collège 3) : la qualité de conseiller municipal du titulaire "
        f"n'est pas confirmée."]
    complete(cts, again, {"corrections": {"fix1": {
        "action": "modifier", "seat": added, "titulaire": {"conseiller_municipal": True}}}})
    v = variables(cts, iid)
    assert v["composition_violations"] == []
    assert [s["titulaire"]["name"] for s in v["seats"] if s["body"] == AMF][-1] == "Martine Conseillère"
    assert one(cts, iid, PARITY)
