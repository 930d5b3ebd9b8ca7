"""PRS consultation end to end on the engine, with a simulated clock: every body answering,
silence giving a tacit avis at exactly the expiry instant, a late avis, the DG's motivation,
territories with their own holidays (Alsace-Moselle, Réunion)."""
from __future__ import annotations

from pathlib import Path

import pytest
from arsflow.engine.bpmn.definitions import collect_sources
from arsflow.engine.errors import InvalidInput

ROOT = Path(__file__).resolve().parent.parent
BODIES = ["Préfet de région", "CRSA", "CDCA de Paris"]
CS = "Conseil de surveillance de l'ARS"


@pytest.fixture
def prs(runtime, make_user, clock):
    make_user("secretariat", "pole_democratie_sanitaire")
    make_user("dg", "dg_ars")
    make_user("strategie", "direction_strategie")
    with runtime.db.transaction() as s:
        runtime.definitions.deploy(s, collect_sources([ROOT / "processes" / "prs_consultation.bpmn",
                                                       ROOT / "forms"]), now=runtime.now())
    return runtime


def start(rt, clock, publication="2026-11-30", kind="revision", territory="75", bodies=BODIES):
    clock.set(f"{publication}T10:00:00+00:00")
    return rt.start("prs_consultation", {"publication_date": publication, "kind": kind, "territory": territory,
                                         "bodies": list(bodies)}, business_key=f"PRS-{territory}",
                    actor="secretariat")["instance_id"]


def avis_tasks(rt, iid):
    return {t["properties"].get("subject"): t for t in rt.tasks(instance_id=iid)
            if t["element_id"] == rt.tasks(instance_id=iid)[0]["element_id"] or t["properties"].get("subject")}


def open_by_name(rt, iid, name):
    return [t for t in rt.tasks(instance_id=iid) if t["name"] == name]


def answer(rt, iid, body, sens="favorable", received_on="2027-01-15"):
    [task] = [t for t in open_by_name(rt, iid, "Enregistrer l'avis reçu") if t["properties"].get("subject") == body]
    rt.complete(task["id"], {"received_on": received_on, "sens": sens, "reference": f"Courrier {body}"},
                actor="secretariat")


def seize_cs(rt, iid):
    [task] = open_by_name(rt, iid, "Saisir le conseil de surveillance")
    rt.complete(task["id"], {"date_saisine_cs": "2026-12-05", "reference_saisine_cs": "CS-2026-12"},
                actor="secretariat")


def publish_by_worker(rt, iid, fails: bool = False):
    """The RAA connector (an external-task worker, docs/workers.md) publishes the arrêté."""
    [task] = rt.external_tasks.fetch_and_lock("connecteur-raa", [{"name": "raa-publication",
                                                                  "lock_duration": 60_000}], 1)
    assert task["instance_id"] == iid and task["element_id"] == "Task_publier_raa"
    assert task["variables"]["reference_arrete"] == "ARS-2027-42"
    assert task["variables"]["recueil"] == "Recueil des actes administratifs de la préfecture de région"
    if fails:
        rt.external_tasks.bpmn_error(task["id"], "connecteur-raa", "RAA_REFUS", "format refusé")
    else:
        rt.external_tasks.complete(task["id"], "connecteur-raa", {"date_publication": "2027-03-12",
                                                                   "reference_publication": "RAA n° 12"})


def arreter(rt, iid, **extra):
    [task] = open_by_name(rt, iid, "Arrêter le PRS")
    data = {"date_arrete": "2027-03-10", "reference_arrete": "ARS-2027-42", **extra}
    rt.complete(task["id"], data, actor="dg")


def test_every_body_answering(prs, clock):
    iid = start(prs, clock)
    variables = prs.show(iid)["variables"]
    assert variables["deadline"] == "2027-03-01T23:00:00+00:00"
    assert set(variables["avis"]) == set(BODIES) | {CS}
    seize_cs(prs, iid)
    for body in BODIES + [CS]:
        answer(prs, iid, body)
    assert open_by_name(prs, iid, "Arrêter le PRS")
    arreter(prs, iid)
    publish_by_worker(prs, iid)
    shown = prs.show(iid)
    assert shown["state"] == "completed"
    avis = shown["variables"]["avis"]
    assert {a["status"] for a in avis.values()} == {"explicit"}
    assert avis["CRSA"]["sens"] == "favorable" and avis["CRSA"]["received_on"] == "2027-01-15"


def test_silence_gives_a_tacit_avis_at_the_expiry_instant_not_a_second_earlier(prs, clock):
    iid = start(prs, clock)
    seize_cs(prs, iid)
    for body in ["Préfet de région", "CDCA de Paris", CS]:
        answer(prs, iid, body)
    # Reminder 15 days before the deadline, for the body that has not answered only.
    clock.set("2027-02-14T22:59:59+00:00")
    prs.tick()
    assert not [a for a in prs.show(iid)["audit"] if a["action"] == "notification"]
    clock.set("2027-02-14T23:00:00+00:00")
    prs.tick()
    notes = [a for a in prs.show(iid)["audit"] if a["action"] == "notification"]
    assert len(notes) == 1 and "CRSA" in (notes[0]["details"].get("subject", "") + notes[0]["details"].get("body", ""))
    clock.set("2027-03-01T22:59:59+00:00")
    prs.tick()
    assert prs.show(iid)["variables"]["avis"]["CRSA"]["status"] == "pending"
    clock.set("2027-03-01T23:00:00+00:00")  # Tue 2 March 2027 00:00, Paris
    assert prs.tick() >= 1
    shown = prs.show(iid)
    crsa = shown["variables"]["avis"]["CRSA"]
    assert crsa["status"] == "tacit" and crsa["acquired_at"] == "2027-03-01T23:00:00+00:00"
    assert open_by_name(prs, iid, "Arrêter le PRS")
    assert not open_by_name(prs, iid, "Enregistrer l'avis reçu")


def test_a_late_avis_is_kept_and_flagged(prs, clock):
    iid = start(prs, clock)
    seize_cs(prs, iid)
    for body in ["Préfet de région", "CDCA de Paris", CS]:
        answer(prs, iid, body)
    clock.set("2027-03-01T23:00:00+00:00")
    prs.tick()
    clock.set("2027-03-04T09:00:00+00:00")
    prs.message("avis_tardif", business_key="PRS-75",
                data={"body": "CRSA", "sens": "defavorable", "received_on": "2027-03-03", "reference": "CRSA-late"})
    crsa = prs.show(iid)["variables"]["avis"]["CRSA"]
    assert crsa["status"] == "late" and crsa["sens"] == "defavorable"
    assert crsa["acquired_at"] == "2027-03-01T23:00:00+00:00"
    assert open_by_name(prs, iid, "Arrêter le PRS")  # the DG was never blocked


def test_not_following_a_defavorable_avis_requires_a_motivation(prs, clock):
    iid = start(prs, clock)
    seize_cs(prs, iid)
    answer(prs, iid, "CRSA", sens="defavorable")
    for body in ["Préfet de région", "CDCA de Paris", CS]:
        answer(prs, iid, body)
    arreter(prs, iid, ne_suit_pas_avis_defavorable=True, motivation="")
    [motivate] = open_by_name(prs, iid, "Motiver la décision")
    with pytest.raises(InvalidInput):
        prs.complete(motivate["id"], {"motivation": ""}, actor="dg")
    prs.complete(motivate["id"], {"motivation": "La CRSA conteste le zonage, que l'ARS maintient pour ses motifs."},
                 actor="dg")
    assert not open_by_name(prs, iid, "Publier l'arrêté du PRS")  # the RAA connector publishes first
    publish_by_worker(prs, iid, fails=True)
    [publish] = open_by_name(prs, iid, "Publier l'arrêté du PRS")  # refused: published by hand
    prs.complete(publish["id"], {"date_publication": "2027-03-12", "reference_publication": "RAA n° 12"},
                 actor="strategie")
    assert prs.show(iid)["state"] == "completed"


@pytest.mark.parametrize("publication, kind, territory, expected", [
    ("2027-01-26", "modification", "57", "2027-03-30T22:00:00+00:00"),   # Vendredi saint, Easter Monday
    ("2027-01-26", "modification", "75", "2027-03-26T23:00:00+00:00"),   # Fri 26 Mar, mainland
    ("2027-10-20", "modification", "974", "2027-12-21T20:00:00+00:00"),  # 20 Dec abolition day, Réunion
])
def test_territories_with_their_own_holidays(prs, clock, publication, kind, territory, expected):
    iid = start(prs, clock, publication=publication, kind=kind, territory=territory)
    assert prs.show(iid)["variables"]["deadline"] == expected
    clock.set(expected)
    seize_cs(prs, iid)
    prs.tick()
    avis = prs.show(iid)["variables"]["avis"]
    assert {a["status"] for a in avis.values()} == {"tacit"}
    assert {a["acquired_at"] for a in avis.values()} == {expected}
