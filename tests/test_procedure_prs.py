"""PRS consultation end to end on the engine, with a simulated clock, warm and cold (a new runtime
for every operation). Seed: /work/shared/seeds/000_a7a9af99458c5c5a.txt (instruction n° 2016-154),
§ III.1, lines 200-212. Each test quotes the words it checks."""
from __future__ import annotations

from pathlib import Path

import pytest
from arsflow.engine.bpmn.definitions import collect_sources
from arsflow.engine.errors import InvalidInput

from tests.procedure_support import runtime_for

ROOT = Path(__file__).resolve().parent.parent
# The instruction's list (l. 202) and the communes' channels (l. 204), without the referential.
BODIES = ["Préfet de région", "CRSA", "Conseil régional", "CDCA de Paris",
          "Association des maires de Paris", "AdCF"]
CS = "Conseil de surveillance de l'ARS"

# The diagram with the letters its `document` tasks name (lint refuses it without them).
PRS_SOURCES = [ROOT / "processes" / n for n in ("prs_consultation.bpmn", "prs_courrier_saisine.docx",
                                                 "prs_accuse_reception.odt")] + [ROOT / "forms"]

@pytest.fixture(params=["warm", "cold"])
def prs(request, runtime, database, make_user, clock):
    make_user("secretariat", "pole_democratie_sanitaire")
    make_user("dg", "dg_ars")
    make_user("strategie", "direction_strategie")
    with runtime.db.transaction() as s:
        runtime.definitions.deploy(s, collect_sources(PRS_SOURCES), now=runtime.now())
    return runtime_for(request.param, runtime, database, clock)


def start(rt, clock, publication="2026-11-30", kind="revision", territory="75", bodies=BODIES, **extra):
    clock.set(f"{publication}T10:00:00+00:00")
    data = {"publication_date": publication, "kind": kind, "territory": territory, **extra}
    if bodies is not None:
        data.update(bodies=list(bodies), completer_organismes=False)
    return rt.start("prs_consultation", data, business_key=f"PRS-{territory}", actor="secretariat")["instance_id"]


def open_by_name(rt, iid, name):
    return [t for t in rt.tasks(instance_id=iid) if t["name"] == name]


def answer(rt, iid, body, sens="favorable", received_on=None):
    [task] = [t for t in open_by_name(rt, iid, "Enregistrer l'avis reçu") if t["properties"].get("subject") == body]
    received_on = received_on or rt.now().date().isoformat()
    rt.complete(task["id"], {"received_on": received_on, "sens": sens, "reference": f"Courrier {body}"},
                actor="secretariat")


def seize_cs(rt, iid):
    [task] = open_by_name(rt, iid, "Saisir le conseil de surveillance")
    rt.complete(task["id"], {"date_saisine_cs": rt.now().date().isoformat(), "reference_saisine_cs": "CS-1"},
                actor="secretariat")


def publish_by_worker(rt, iid, fails: bool = False):
    """The RAA connector (an external-task worker, docs/workers.md) publishes the arrêté."""
    [task] = rt.external_tasks.fetch_and_lock("connecteur-raa", [{"name": "raa-publication",
                                                                  "lock_duration": 60_000}], 1)
    assert task["instance_id"] == iid and task["element_id"] == "Task_publier_raa"
    assert task["variables"]["reference_arrete"] == "ARS-42"
    assert task["variables"]["recueil"] == "Recueil des actes administratifs de la préfecture de région"
    if fails:
        rt.external_tasks.bpmn_error(task["id"], "connecteur-raa", "RAA_REFUS", "format refusé")
    else:
        rt.external_tasks.complete(task["id"], "connecteur-raa", {"date_publication": "2027-03-12",
                                                                   "reference_publication": "RAA n° 12"})


def arreter(rt, iid, date_arrete, **extra):
    [task] = open_by_name(rt, iid, "Arrêter le PRS")
    rt.complete(task["id"], {"date_arrete": date_arrete, "reference_arrete": "ARS-42", **extra}, actor="dg")


def instance_count(rt):
    from sqlalchemy import func, select
    from arsflow.engine.models import Instance
    with rt.db.transaction() as s:
        return s.scalar(select(func.count()).select_from(Instance))


def avis(rt, iid):
    return rt.show(iid)["variables"]["avis"]


def test_the_instructions_own_timetable_holds_without_extension(prs, clock):
    """Seed 000 l. 200: « Le PRS est arrêté par le directeur général de l'ARS au plus tard le 1er
    janvier 2018 […] vous devrez publier […] l'avis de consultation au plus tard le 30 septembre 2017. »
    30/09/2017 + 3 months = Saturday 30/12/2017: no extension to Tuesday 2/01/2018 (before #12 the
    avis was only acquired on 3/01 at 0 h, so the PRS could not be arrêté on 1/01)."""
    iid = start(prs, clock, publication="2017-09-30", arrete_au_plus_tard="2018-01-01")
    variables = prs.show(iid)["variables"]
    assert variables["deadline"] == "2017-12-30T23:00:00+00:00"      # Sunday 31/12 at 0 h, Paris
    assert variables["deadline_last_day"] == "2017-12-30"
    assert variables["arrete_possible_le"] == "2017-12-31"
    explanation = variables["deadline_explanation"]
    assert "Prorogation désactivée" in explanation and "instruction n° 2016-154" in explanation
    assert "30 septembre 2017" in explanation and "UTC" not in explanation
    assert variables["echeance_texte"] == "samedi 30 décembre 2017 à 24 h (heure de Paris)"
    seize_cs(prs, iid)
    clock.set("2017-12-30T22:59:59+00:00")
    prs.tick()
    assert avis(prs, iid)["CRSA"]["status"] == "pending"
    clock.set("2017-12-30T23:00:00+00:00")
    prs.tick()
    registry = avis(prs, iid)
    assert registry["CRSA"] == {**registry["CRSA"], "status": "tacit", "acquired_at": "2017-12-30T23:00:00+00:00"}
    # The arrêté is due on 1 January 2018 at 24 h and may be dated that day.
    [task] = open_by_name(prs, iid, "Arrêter le PRS")
    assert task["due_at"] == "2018-01-01T23:00:00+00:00"
    clock.set("2018-01-01T10:00:00+00:00")
    arreter(prs, iid, "2018-01-01")
    publish_by_worker(prs, iid)                      # the RAA connector publishes the arrêté
    assert prs.show(iid)["state"] == "completed"


def test_the_task_explains_the_rule_and_its_source(prs, clock):
    """Seed 000 l. 200 (timetable) and l. 202 (« disposent de trois mois […] Passé ce délai, l'avis
    est réputé acquis »): the avis task declares its délai, its extension policy and the rule."""
    from arsflow.web.formatting import legal_explanation
    iid = start(prs, clock)
    task = open_by_name(prs, iid, "Enregistrer l'avis reçu")[0]
    assert task["properties"]["deadline_extension"] == "false"
    lines, error = legal_explanation(task["properties"], prs.show(iid)["variables"], "75")
    assert error is None
    text = "\n".join(lines)
    assert "dimanche 28 février 2027 à 24 h (heure de Paris)" in text and "Prorogation désactivée" in text
    assert "instruction n° 2016-154" in text and "(UTC)" not in text


@pytest.mark.parametrize("kind, expected", [
    ("modification", "2027-01-30T23:00:00+00:00"), ("actualisation", "2027-01-30T23:00:00+00:00"),
    ("revision", "2027-02-28T23:00:00+00:00"), ("elaboration", "2027-02-28T23:00:00+00:00"),
])
def test_two_months_for_modifications_or_actualisations(prs, clock, kind, expected):
    """Seed 000 l. 212: « toutes modifications ou actualisations nécessaires feront l'objet d'une
    consultation d'une durée de deux mois » ; l. 200: « La période de consultation pour ces nouveaux
    PRS est de trois mois »."""
    iid = start(prs, clock, kind=kind)
    assert prs.show(iid)["variables"]["deadline"] == expected


def test_an_unknown_kind_is_refused_at_start_and_nothing_is_written(prs, clock):
    """Seed 000 l. 200 and 212: only new PRS (three months) and modifications or actualisations
    (two months) exist."""
    with pytest.raises(InvalidInput) as err:
        start(prs, clock, kind="mise-a-jour")
    assert "actualisation" in err.value.message and "elaboration" in err.value.message
    assert instance_count(prs) == 0


def test_the_receipt_date_decides_not_the_day_it_is_keyed_in(prs, clock):
    """Seed 000 l. 202: « disposent de trois mois […] pour transmettre leur avis. Passé ce délai,
    l'avis est réputé acquis » — what counts is when the avis was transmitted (received)."""
    iid = start(prs, clock)
    seize_cs(prs, iid)
    for body in BODIES[2:] + [CS]:
        answer(prs, iid, body)
    clock.set("2027-02-28T23:00:00+00:00")
    prs.tick()
    assert avis(prs, iid)["CRSA"]["status"] == "tacit"
    clock.set("2027-03-03T09:00:00+00:00")
    # Received on the last day, keyed in three days later: explicit, flagged.
    prs.message("avis_tardif", business_key="PRS-75",
                data={"body": "CRSA", "sens": "reserve", "received_on": "2027-02-28", "reference": "CRSA-1"})
    crsa = avis(prs, iid)["CRSA"]
    assert (crsa["status"], crsa["saisi_apres_echeance"], crsa["acquired_at"]) == ("explicit", True, None)
    # Received after the expiry: late, the tacit avis stays acquired.
    prs.message("avis_tardif", business_key="PRS-75",
                data={"body": "Préfet de région", "sens": "defavorable", "received_on": "2027-03-01"})
    prefet = avis(prs, iid)["Préfet de région"]
    assert prefet["status"] == "late" and prefet["acquired_at"] == "2027-02-28T23:00:00+00:00"
    assert crsa["libelle"] == "avis de la CRSA" and crsa["sens"] == "reserve"


def test_a_receipt_date_in_the_future_or_before_publication_is_refused_by_the_form(prs, clock):
    """Seed 000 l. 202: the délai runs « à compter de la publication de l'avis de consultation »;
    an avis cannot be received before it, nor tomorrow."""
    iid = start(prs, clock)
    clock.set("2027-01-10T09:00:00+00:00")
    [task] = [t for t in open_by_name(prs, iid, "Enregistrer l'avis reçu") if t["properties"]["subject"] == "CRSA"]
    for day, words in (("2027-01-11", "futur"), ("2026-11-29", "publication de l'avis de consultation (30/11/2026)")):
        with pytest.raises(InvalidInput) as err:
            prs.complete(task["id"], {"received_on": day, "sens": "favorable", "reference": "x"}, actor="secretariat")
        assert words in err.value.details["errors"]["received_on"]
    assert prs.show(iid)["incident"] is None and avis(prs, iid)["CRSA"]["status"] == "pending"
    # The same check on the message path: rejected with the reason, nothing recorded.
    clock.set("2027-03-02T09:00:00+00:00")
    prs.tick()
    prs.message("avis_tardif", business_key="PRS-75", data={"body": "CRSA", "sens": "favorable",
                                                              "received_on": "2027-03-05"})
    assert avis(prs, iid)["CRSA"]["status"] == "tacit"
    notes = [a for a in prs.show(iid)["audit"] if a["action"] == "notification"
             and "non consigné" in a["details"].get("subject", "")]
    assert notes and "futur" in notes[-1]["details"]["body"]


def test_start_completes_the_bodies_from_the_regions_referential(prs, clock):
    """Seed 000 l. 202: « Le préfet de région, la conférence régionale de la santé et de l'autonomie,
    les collectivités territoriales de la région, les conseils départementaux de la citoyenneté et de
    l'autonomie » ; l. 204: « associations départementales des maires et […] l'AdCF »."""
    clock.set("2026-11-30T10:00:00+00:00")
    iid = prs.start("prs_consultation", {"publication_date": "2026-11-30", "kind": "revision", "territory": "974",
                                         "bodies": ["CRSA de La Réunion"]}, actor="secretariat")["instance_id"]
    variables = prs.show(iid)["variables"]
    bodies = variables["bodies"]
    assert bodies[0] == "CRSA de La Réunion"
    for expected in ("Préfet de La Réunion", "Conseil régional de La Réunion",
                     "Conseil départemental (La Réunion, 974)", "CDCA (La Réunion, 974)",
                     "Association départementale des maires (La Réunion, 974)",
                     "AdCF, coordination régionale de La Réunion", CS):
        assert expected in bodies and expected in variables["organismes_ajoutes"]
    assert variables["avis"]["Préfet de La Réunion"]["libelle"] == "avis du préfet de La Réunion"


def test_start_refuses_naming_the_missing_bodies(prs, clock):
    """Seed 000 l. 202 and 204: without the referential (completion off) the list must name every
    category of the instruction; the refusal names the missing ones."""
    with pytest.raises(InvalidInput) as err:
        start(prs, clock, bodies=["Préfet de région", "CRSA"])
    message = err.value.message
    for missing in ("collectivité territoriale", "CDCA", "associations départementales des maires", "AdCF"):
        assert missing in message
    assert "le préfet de région" not in message and "(CRSA)" not in message
    assert instance_count(prs) == 0


def test_motivation_is_recommended_for_defavorable_and_reserves_avis(prs, clock):
    """Seed 000 l. 208: « Lorsque vous décidez de ne pas suivre ces avis, il vous est recommandé de
    motiver ces décisions par écrit. » Before #12 it was obligatory and only for défavorable avis."""
    iid = start(prs, clock)
    seize_cs(prs, iid)
    answer(prs, iid, "CRSA", sens="reserve")
    for body in [b for b in BODIES if b != "CRSA"] + [CS]:
        answer(prs, iid, body)
    clock.set("2027-03-02T09:00:00+00:00")
    arreter(prs, iid, "2027-03-02", ne_suit_pas_avis_defavorable=True, motivation="")
    [motivate] = open_by_name(prs, iid, "Motiver la décision")
    assert "recommandée" in prs.show(iid)["variables"]["alerte_motivation"]
    prs.complete(motivate["id"], {"motivation": ""}, actor="dg")   # recommended, not required
    publish_by_worker(prs, iid, fails=True)          # refused by the RAA: published by hand
    [publish] = open_by_name(prs, iid, "Publier l'arrêté du PRS")
    prs.complete(publish["id"], {"date_publication": "2027-03-12", "reference_publication": "RAA n° 12"},
                 actor="strategie")
    assert prs.show(iid)["state"] == "completed"


def test_no_motivation_asked_when_every_avis_is_favorable(prs, clock):
    """Seed 000 l. 208: the recommendation concerns the avis the DG does not follow."""
    iid = start(prs, clock)
    seize_cs(prs, iid)
    for body in BODIES + [CS]:
        answer(prs, iid, body)
    clock.set("2027-03-02T09:00:00+00:00")
    arreter(prs, iid, "2027-03-02", ne_suit_pas_avis_defavorable=True)
    assert not open_by_name(prs, iid, "Motiver la décision")


def test_the_arrete_has_a_due_date_and_cannot_precede_the_consultation(prs, clock):
    """Seed 000 l. 200: « Le PRS est arrêté […] au plus tard le 1er janvier 2018 »."""
    with pytest.raises(InvalidInput) as err:
        start(prs, clock, publication="2017-09-30", arrete_au_plus_tard="2017-12-15")
    assert "dimanche 31 décembre 2017" in err.value.message
    iid = start(prs, clock, publication="2027-01-26", kind="modification")
    assert prs.show(iid)["variables"]["arrete_due"] == "2027-04-26T22:00:00+00:00"   # default: 1 month after


def test_the_conseil_de_surveillance_avis_is_not_made_tacit(prs, clock):
    """Seed 000 l. 206: « Dans ce délai de trois mois, vous devez également saisir les membres du
    conseil de surveillance de l'ARS afin qu'il donne son avis » — no text deems it given (l. 202
    lists the bodies whose avis is « réputé acquis »)."""
    iid = start(prs, clock)
    seize_cs(prs, iid)
    clock.set("2027-02-28T23:00:00+00:00")
    prs.tick()
    registry = avis(prs, iid)
    assert registry[CS]["status"] == "sans_avis" and registry[CS]["acquired_at"] is None
    assert {registry[b]["status"] for b in BODIES} == {"tacit"}
    # Its avis, given later, is recorded as given.
    clock.set("2027-03-20T09:00:00+00:00")
    prs.message("avis_tardif", business_key="PRS-75", data={"body": CS, "sens": "favorable",
                                                              "received_on": "2027-03-19"})
    assert avis(prs, iid)[CS]["status"] == "explicit"


def test_staff_read_dates_in_words_not_utc(prs, clock):
    """Seed 000 l. 202 (the délai staff chase bodies against): the reminder says when, in Paris
    time, in words."""
    iid = start(prs, clock)
    seize_cs(prs, iid)
    for body in [b for b in BODIES if b != "CRSA"] + [CS]:
        answer(prs, iid, body)
    clock.set("2027-02-13T23:00:00+00:00")
    prs.tick()
    [note] = [a for a in prs.show(iid)["audit"] if a["action"] == "notification"]
    text = note["details"]["subject"] + note["details"]["body"]
    assert "avis de la CRSA" in text
    assert "dimanche 28 février 2027 à 24 h (heure de Paris)" in text and "UTC" not in text


@pytest.mark.parametrize("publication, kind, territory, expected", [
    ("2027-01-26", "modification", "57", "2027-03-26T23:00:00+00:00"),   # Vendredi saint: not extended
    ("2027-10-20", "modification", "974", "2027-12-20T20:00:00+00:00"),  # 20 Dec abolition day: not extended
])
def test_territories_keep_their_time_zone_and_the_pr_s_does_not_extend(prs, clock, publication, kind,
                                                                       territory, expected):
    """Seed 000 l. 200 (timetable without extension); the instant is local midnight of the
    territory. Before #12 these moved to Tue 30/03 (Moselle) and Tue 21/12 (Réunion)."""
    iid = start(prs, clock, publication=publication, kind=kind, territory=territory)
    assert prs.show(iid)["variables"]["deadline"] == expected
    clock.set(expected)
    seize_cs(prs, iid)
    prs.tick()
    registry = avis(prs, iid)
    assert {registry[b]["status"] for b in BODIES} == {"tacit"}
    assert {registry[b]["acquired_at"] for b in BODIES} == {expected}
