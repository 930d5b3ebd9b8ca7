"""CPOM État-ARS annual review end to end on the engine, with a simulated clock: the yearly
calendar on every task (in the ARS's own time zone), the exchanges and bilans built from the
cpom_objectifs table with its exceptions (5.1, masse salariale + ES en difficulté, 5.2 + 5.3,
4.1 per theme, PHARE, medico-social in the CNSA-DGCS dialogue, 6.x overseas), the regional
referent's adjustment loop, the non-interrupting reminders at their exact instants, and one
full run to the DG ARS's mission letter."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from arsflow.engine.bpmn.definitions import collect_sources
from arsflow.engine.errors import Forbidden, InvalidInput

from tests.procedure_support import runtime_for

ROOT = Path(__file__).resolve().parent.parent

# One user per candidate group; a task is completed by the member of its first group, so a
# wrong candidate group on a task fails the test (KeyError or Forbidden).
ACTORS = {"referent_cpom_national": "cpom-national", "referent_cpom_regional": "cpom-regional",
          "referents_techniques_nationaux": "tech-national", "referents_techniques_regionaux": "tech-regional",
          "referents_outre_mer_dac": "om-dac", "cnp": "cnp", "dg_ars": "dg"}
MAINLAND = {"year": 2027, "region": "Grand Est", "overseas": False, "cnp_date": "2028-04-20", "territory": "75"}
OVERSEAS = {"year": 2027, "region": "La Réunion", "overseas": True, "cnp_date": "2028-05-16", "territory": "974"}
THEMES = "Santé-environnement\nAddictions\n"
MEDICO_SOCIAL = ["1.2-ESMS", "2.2-MS", "3.1-PAPH"]
OVERSEAS_ONLY = {"6.1", "6.2", "6.3", "ODS"}
MAINLAND_EXCHANGES = ["1.1", "1.2", "2.1", "PT-PRODUITS-SANTE", "PT-TRANSPORTS", "PT-MS-ESD",
                      "PT-VIRAGE-AMBULATOIRE", "PT-PERTINENCE", "2.2", "2.3", "3.1", "3.2", "4.1-1", "4.1-2",
                      "RH-5.2-5.3"]
ANALYSES = {"UserTask_cnsa_analyse", "UserTask_analyse_ars", "UserTask_proposition_analyse"}
WRITE_BILAN = {"UserTask_cnsa_bilan", "UserTask_bilan_partage", "UserTask_reviser_bilan", "UserTask_proposer_bilan"}
VALIDATIONS = {"UserTask_cnsa_valider", "UserTask_valider_bilan", "UserTask_proposition_valider"}
NOTIFY_EXCHANGES_LATE = ["referent_cpom_national", "referent_cpom_regional"]


@pytest.fixture(params=["warm", "cold"])
def cpom(request, runtime, database, clock, make_user):
    for group, login in ACTORS.items():
        make_user(login, group)
    with runtime.db.transaction() as s:
        runtime.definitions.deploy(s, collect_sources([ROOT / "processes" / "cpom_etat_ars.bpmn",
                                                       ROOT / "processes" / "cpom_objectifs.dmn",
                                                       ROOT / "forms"]), now=runtime.now())
    return runtime_for(request.param, runtime, database, clock)


class Review:
    """One CPOM review instance, started on 1 December of the reviewed year, and the people
    answering its tasks with valid form data.

    `adjust`: item ids whose first validation asks the national referent for an adjustment;
    `exchange_needed`: proposal ids for which the national referent ticks « Organiser un échange »."""

    def __init__(self, rt, clock, start, themes=THEMES, adjust=(), exchange_needed=()):
        self.rt, self.region = rt, start["region"]
        self.themes, self.adjust, self.exchange_needed = themes, set(adjust), set(exchange_needed)
        clock.set("2027-12-01T08:00:00+00:00")
        summary = rt.start("cpom_etat_ars", dict(start), business_key=f"CPOM-{start['territory']}-{start['year']}",
                           actor="cpom-national")
        assert summary["incident"] is None, summary["incident"]
        self.iid = summary["instance_id"]
        self.log: list[tuple[str, str | None, dict]] = []   # (element id, item id, submitted data)
        self.written = Counter()
        self.validations = Counter()
        self._labels: dict | None = None

    # -- reading
    def show(self):
        return self.rt.show(self.iid)

    def variables(self):
        return self.show()["variables"]

    def open(self, element_id=None, item=None):
        tasks = self.rt.tasks(instance_id=self.iid, limit=500)
        return [t for t in tasks if (element_id is None or t["element_id"] == element_id)
                and (item is None or self.item_of(t) == item)]

    def labels(self) -> dict:
        """Subject label → item id (exchange, bilan, proposal or medico-social item)."""
        if self._labels is None:
            v = self.variables()
            labels = {}
            for e in v["exchanges"]:
                labels[e["label"]] = e["id"]
                labels.update({r["label"]: r["id"] for r in e["reviews"]})
            labels.update({p["label"]: p["id"] for p in v["proposals"] + v["medico_social"]})
            self._labels = labels
        return self._labels

    def item_of(self, task):
        prefix = self.region + " – "
        subject = task["properties"].get("subject", "")
        if not subject.startswith(prefix):
            return None   # process-level task: « Bilan 2027 du CPOM – ARS … »
        return self.labels()[subject[len(prefix):]]

    def steps(self, item):
        return [element for element, it, _ in self.log if it == item]

    def notifications(self):
        return [a for a in self.show()["audit"] if a["action"] == "notification"]

    # -- answering
    def answer(self, task) -> dict:
        element, item = task["element_id"], self.item_of(task)
        if element == "UserTask_referents":
            return {"referents_file": "referents-cpom-2027.xlsx", "themes_4_1": self.themes,
                    "referents_confirmed": True}
        if element == "UserTask_creneaux":
            return {"exchange_slots": "1.1 : 14/02 10 h ; 2.3 : 15/02 14 h"}
        if element == "UserTask_spice":
            return {"spice_updated": True, "spice_comment": ""}
        if element in ANALYSES:
            return {"ars_analysis": f"Analyse ARS {item}", "attachments": f"{item}.pdf", "ars_good_practices": ""}
        if element in WRITE_BILAN:
            self.written[item] += 1
            data = {"shared_review": f"Bilan {item} v{self.written[item]}", "good_practices": f"BP {item}",
                    "cnp_points": f"CNP {item}"}
            if element == "UserTask_proposer_bilan":
                data["exchange_needed"] = item in self.exchange_needed
            return data
        if element in VALIDATIONS:
            self.validations[item] += 1
            base = {"shared_review": f"Bilan {item} v{self.written[item]}", "good_practices": f"BP {item}",
                    "cnp_points": f"CNP {item}"}
            if item in self.adjust and self.validations[item] == 1:
                return dict(base, decision="adjust", adjustment_request=f"Préciser les résultats de {item}")
            return dict(base, shared_review=base["shared_review"] + " (ajusté ARS)", decision="validate")
        if element == "UserTask_consolider":
            return {"consolidated_document": "CPOM-GES-2027-consolide.pdf", "indicators_dashboard": "TDB.xlsx",
                    "synthesis": "Synthèse des bilans partagés"}
        if element == "UserTask_dialogue_cnp":
            return {"cnp_conclusions": "Dialogue tenu avec le DG et son COMEX", "cnp_followup": "Suivi 1.2"}
        if element == "UserTask_evaluation_dg":
            return {"dg_evaluation": "Objectifs atteints pour l'essentiel"}
        if element == "UserTask_lettre_mission":
            return {"mission_letter": "LM-DG-ARS-2028", "mission_letter_date": "2028-06-20"}
        raise AssertionError(f"tâche inattendue {element}")

    def complete(self, task, data=None):
        data = self.answer(task) if data is None else data
        item = self.item_of(task)
        summary = self.rt.complete(task["id"], data, actor=ACTORS[task["candidate_groups"][0]])
        assert summary["incident"] is None, summary["incident"]
        self.log.append((task["element_id"], item, data))
        return summary

    def run(self, elements=None, items=None, until=None, rounds=50):
        """Complete open tasks (of these elements / items) until none is left or `until()`."""
        for _ in range(rounds):
            if until is not None and until():
                return
            tasks = [t for t in self.open() if (elements is None or t["element_id"] in elements)
                     and (items is None or self.item_of(t) in items)]
            if not tasks:
                return
            for task in tasks:
                self.complete(task)
        raise AssertionError("le bilan ne progresse plus")

    def to_exchanges(self):
        """Referents list, then slots and SPICE: the exchanges and proposals open."""
        self.run({"UserTask_referents"})
        self.run({"UserTask_creneaux", "UserTask_spice"})


# -- scenario 1: mainland ------------------------------------------------------------------------
def test_mainland_calendar_and_exchanges(cpom, clock):
    review = Review(cpom, clock, MAINLAND)
    v = review.variables()
    # End of the stated day, Paris time (CET in winter, CEST from 26 March 2028).
    assert v["deadlines"] == {
        "referents": "2027-12-31T23:00:00+00:00", "analyses_cnsa_dgcs": "2028-01-05T23:00:00+00:00",
        "dialogue_cnsa_dgcs": "2028-02-15T23:00:00+00:00", "spice": "2028-02-09T23:00:00+00:00",
        "debut_echanges": "2028-02-11T23:00:00+00:00", "echanges": "2028-03-30T22:00:00+00:00",
        "dialogue_cnp": "2028-04-20T22:00:00+00:00", "evaluation_dg": "2028-05-31T22:00:00+00:00",
        "lettre_mission": "2028-06-30T22:00:00+00:00",
        "consolidation": "2028-04-13T22:00:00+00:00"}   # end of D-7 (note 2017, § 2.3), CNP on 20 April
    [referents] = review.open()
    assert referents["element_id"] == "UserTask_referents"
    assert referents["candidate_groups"] == ["referent_cpom_regional"]
    assert referents["due_at"] == "2027-12-31T23:00:00+00:00"
    assert referents["properties"]["subject"] == "Bilan 2027 du CPOM – ARS Grand Est"
    assert [(t["element_id"], t["due_at"], t["status"]) for t in review.show()["timers"]] == [
        ("Timer_relance_referents", "2027-12-31T23:00:00+00:00", "waiting")]

    clock.set("2027-12-20T09:00:00+00:00")
    review.run({"UserTask_referents"})
    v = review.variables()
    exchanges = {e["id"]: e for e in v["exchanges"]}
    assert sorted(exchanges) == sorted(MAINLAND_EXCHANGES)
    in_exchanges = {c for e in v["exchanges"] for c in e["codes"]}
    # 5.1 and PHARE: proposals, not exchanges; PHARE alone may turn into an exchange.
    assert not {"5.1", "PT-PHARE"} & in_exchanges
    assert [(p["id"], p["exchange_if_needed"]) for p in v["proposals"]] == [("PT-PHARE", True), ("5.1", False)]
    # Masse salariale + ES en difficulté: one exchange, one bilan.
    assert exchanges["PT-MS-ESD"]["codes"] == ["PT-MASSE-SALARIALE", "PT-ES-DIFFICULTE"]
    assert [r["codes"] for r in exchanges["PT-MS-ESD"]["reviews"]] == [["PT-MASSE-SALARIALE", "PT-ES-DIFFICULTE"]]
    # 5.2 + 5.3: one exchange, two bilans.
    assert [r["id"] for r in exchanges["RH-5.2-5.3"]["reviews"]] == ["5.2", "5.3"]
    # 4.1: one exchange per theme typed by the ARS.
    assert [exchanges[i]["label"] for i in ("4.1-1", "4.1-2")] == [
        "4.1 – Agir sur les déterminants de santé : Santé-environnement",
        "4.1 – Agir sur les déterminants de santé : Addictions"]
    # Medico-social items go to the CNSA-DGCS dialogue only; no 6.x in mainland.
    assert [m["id"] for m in v["medico_social"]] == MEDICO_SOCIAL
    assert not set(MEDICO_SOCIAL) & in_exchanges
    everything = in_exchanges | {c for p in v["proposals"] + v["medico_social"] for c in p["codes"]}
    assert not OVERSEAS_ONLY & everything

    # Both strands start: CNSA-DGCS analyses (5 January) beside the preparation of the exchanges.
    analyses_ms = review.open("UserTask_cnsa_analyse")
    assert sorted(review.item_of(t) for t in analyses_ms) == MEDICO_SOCIAL
    assert {t["due_at"] for t in analyses_ms} == {"2028-01-05T23:00:00+00:00"}
    assert {t["candidate_groups"][0] for t in analyses_ms} == {"referents_techniques_regionaux"}
    [slots] = review.open("UserTask_creneaux")
    [spice] = review.open("UserTask_spice")
    assert (slots["candidate_groups"], slots["due_at"]) == (["referent_cpom_national"], "2028-02-11T23:00:00+00:00")
    assert (spice["candidate_groups"], spice["due_at"]) == (["referent_cpom_regional"], "2028-02-09T23:00:00+00:00")
    assert not review.open("UserTask_analyse_ars") and not review.open("UserTask_proposer_bilan")
    review.complete(slots)
    assert not review.open("UserTask_analyse_ars"), "les échanges attendent aussi SPICE-ARS"
    review.complete(spice)

    analyses = review.open("UserTask_analyse_ars")
    assert sorted(review.item_of(t) for t in analyses) == sorted(MAINLAND_EXCHANGES)
    assert {t["due_at"] for t in analyses} == {"2028-02-11T23:00:00+00:00"}
    proposals = review.open("UserTask_proposer_bilan")
    assert sorted(review.item_of(t) for t in proposals) == ["5.1", "PT-PHARE"]
    assert {(t["candidate_groups"][0], t["due_at"]) for t in proposals} == {
        ("referents_techniques_nationaux", "2028-03-30T22:00:00+00:00")}
    assert [(t["element_id"], t["due_at"]) for t in review.show()["timers"] if t["status"] == "waiting"] == [
        ("Timer_fin_echanges", "2028-03-30T22:00:00+00:00")]

    # 5.1 never gets an exchange, even if the national referent ticks the box.
    review.exchange_needed = {"5.1"}
    review.run({"UserTask_proposer_bilan"}, items={"5.1"})
    assert review.open("UserTask_proposition_valider", item="5.1")
    assert not review.open("UserTask_proposition_analyse")

    # One bilan per exchange, two for 5.2 + 5.3, one for masse salariale + ES en difficulté.
    clock.set("2028-02-14T09:00:00+00:00")
    review.run({"UserTask_analyse_ars"})
    bilans = review.open("UserTask_bilan_partage")
    per_item = Counter(review.item_of(t) for t in bilans)
    expected = [i for i in MAINLAND_EXCHANGES if i != "RH-5.2-5.3"] + ["5.2", "5.3"]
    assert sorted(per_item) == sorted(expected) and set(per_item.values()) == {1}
    assert {(t["candidate_groups"][0], t["due_at"]) for t in bilans} == {
        ("referents_techniques_nationaux", "2028-03-30T22:00:00+00:00")}
    # The national referent sees the ARS analysis of the exchange the bilan belongs to.
    [bilan_53] = review.open("UserTask_bilan_partage", item="5.3")
    assert cpom.task_data(bilan_53["id"], actor="tech-national")["ars_analysis"] == "Analyse ARS RH-5.2-5.3"


# -- scenario 2: overseas ------------------------------------------------------------------------
def test_overseas_ars_has_6x_with_the_dac_referent_and_reunion_time(cpom, clock):
    review = Review(cpom, clock, OVERSEAS, themes="Nutrition")
    deadlines = review.variables()["deadlines"]
    # Indian/Reunion is UTC+4 all year round: end of the day = 20:00 UTC.
    assert deadlines["referents"] == "2027-12-31T20:00:00+00:00"
    assert deadlines["spice"] == "2028-02-09T20:00:00+00:00"
    assert deadlines["echanges"] == "2028-03-30T20:00:00+00:00"
    assert deadlines["dialogue_cnp"] == "2028-05-16T20:00:00+00:00"
    [referents] = review.open()
    assert referents["due_at"] == "2027-12-31T20:00:00+00:00"

    # The 31 December reminder at midnight Réunion time, not at midnight Paris time.
    clock.set("2027-12-31T19:59:59+00:00")
    assert cpom.tick() == 0
    clock.set("2027-12-31T20:00:00+00:00")
    assert cpom.tick() == 1
    [note] = review.notifications()
    assert note["details"]["to_groups"] == ["referent_cpom_regional"]
    assert review.open("UserTask_referents") == [referents]   # non-interrupting: still to do

    review.to_exchanges()
    v = review.variables()
    exchanges = {e["id"]: e for e in v["exchanges"]}
    assert OVERSEAS_ONLY <= set(exchanges)
    assert len(exchanges) == len(MAINLAND_EXCHANGES) - 1 + len(OVERSEAS_ONLY)   # one 4.1 theme
    assert {i: exchanges[i]["national_group"] for i in OVERSEAS_ONLY} == {
        "6.1": "referents_outre_mer_dac", "6.2": "referents_outre_mer_dac", "6.3": "referents_outre_mer_dac",
        "ODS": "referents_techniques_nationaux"}
    assert {t["due_at"] for t in review.open("UserTask_analyse_ars")} == {"2028-02-11T20:00:00+00:00"}

    review.run({"UserTask_analyse_ars"}, items=OVERSEAS_ONLY)
    bilans = {review.item_of(t): t for t in review.open("UserTask_bilan_partage")}
    assert {i: bilans[i]["candidate_groups"] for i in OVERSEAS_ONLY} == {
        "6.1": ["referents_outre_mer_dac"], "6.2": ["referents_outre_mer_dac"], "6.3": ["referents_outre_mer_dac"],
        "ODS": ["referents_techniques_nationaux"]}
    with pytest.raises(Forbidden):   # the usual national referents do not hold the 6.x bilans
        cpom.complete(bilans["6.2"]["id"], review.answer(bilans["6.2"]), actor="tech-national")
    assert {t["due_at"] for t in bilans.values()} == {"2028-03-30T20:00:00+00:00"}

    # PHARE without an exchange: proposal, then straight to validation.
    review.run(until=lambda: bool(review.open("UserTask_consolider")))
    assert review.steps("PT-PHARE") == ["UserTask_proposer_bilan", "UserTask_proposition_valider"]
    proposals = {p["id"]: p for p in review.variables()["proposals"]}
    assert proposals["PT-PHARE"]["exchange_held"] is False and "ars_analysis" not in proposals["PT-PHARE"]
    # Consolidated document: one week before the CNP (16 May), i.e. at the END of 9 May, Réunion
    # time (note 2017, § 2.3: « une semaine avant le dialogue stratégique »; before #12: 00:00 of D-7).
    [consolider] = review.open("UserTask_consolider")
    assert consolider["due_at"] == "2028-05-09T20:00:00+00:00"
    assert consolider["candidate_groups"] == ["referent_cpom_national"]
    reviewed = [c for r in review.variables()["validated_reviews"] for c in r["codes"]]
    assert OVERSEAS_ONLY <= set(reviewed)


# -- scenario 3: adjustments and PHARE with an exchange ----------------------------------------
def test_regional_referent_adjusts_bilans_before_validation(cpom, clock):
    review = Review(cpom, clock, MAINLAND, adjust={"2.3", "5.1", "2.2-MS"}, exchange_needed={"PT-PHARE"})
    review.to_exchanges()
    review.run({"UserTask_cnsa_analyse", "UserTask_cnsa_bilan"})
    [validate] = review.open("UserTask_cnsa_valider", item="2.2-MS")
    assert validate["due_at"] == "2028-02-15T23:00:00+00:00"   # end of the CNSA-DGCS dialogues
    with pytest.raises(InvalidInput):   # the validation form requires a decision
        cpom.complete(validate["id"], {"shared_review": "Bilan"}, actor="tech-regional")

    # An exchange bilan: adjustment requested, back to the national referent who sees the request.
    review.run({"UserTask_analyse_ars", "UserTask_bilan_partage"}, items={"2.3"})
    [validate] = review.open("UserTask_valider_bilan", item="2.3")
    review.complete(validate)                              # decision « adjust »
    assert not review.open("UserTask_valider_bilan", item="2.3")
    [again] = review.open("UserTask_bilan_partage", item="2.3")
    shown = cpom.task_data(again["id"], actor="tech-national")
    assert shown["adjustment_request"] == "Préciser les résultats de 2.3"
    assert shown["shared_review"] == "Bilan 2.3 v1" and shown["ars_analysis"] == "Analyse ARS 2.3"
    review.complete(again)                                 # v2
    clock.set("2028-03-10T15:30:00+00:00")
    review.run({"UserTask_valider_bilan"}, items={"2.3"})  # validated with the regional's own edits
    assert review.steps("2.3") == ["UserTask_analyse_ars", "UserTask_bilan_partage", "UserTask_valider_bilan",
                                   "UserTask_bilan_partage", "UserTask_valider_bilan"]

    # 5.1: proposal → adjustment → revision → validation, never an exchange.
    review.run({"UserTask_proposer_bilan", "UserTask_proposition_valider"}, items={"5.1"})
    [revise] = review.open("UserTask_reviser_bilan", item="5.1")
    assert cpom.task_data(revise["id"], actor="tech-national")["adjustment_request"] == \
        "Préciser les résultats de 5.1"
    review.run(items={"5.1"})
    assert review.steps("5.1") == ["UserTask_proposer_bilan", "UserTask_proposition_valider",
                                   "UserTask_reviser_bilan", "UserTask_proposition_valider"]

    # PHARE with an exchange: the ARS writes its analysis, the national referent revises.
    review.run(items={"PT-PHARE"})
    assert review.steps("PT-PHARE") == ["UserTask_proposer_bilan", "UserTask_proposition_analyse",
                                        "UserTask_reviser_bilan", "UserTask_proposition_valider"]

    review.run(until=lambda: bool(review.open("UserTask_consolider")))
    assert review.steps("2.2-MS") == ["UserTask_cnsa_analyse", "UserTask_cnsa_bilan", "UserTask_cnsa_valider",
                                      "UserTask_cnsa_bilan", "UserTask_cnsa_valider"]
    v = review.variables()
    t23 = [r for e in v["exchanges"] for r in e["reviews"] if r["id"] == "2.3"][0]
    assert t23["shared_review"] == "Bilan 2.3 v2 (ajusté ARS)"
    assert t23["validated_at"] == "2028-03-10T15:30:00+00:00"
    proposals = {p["id"]: p for p in v["proposals"]}
    assert proposals["5.1"]["shared_review"] == "Bilan 5.1 v2 (ajusté ARS)"
    assert proposals["5.1"]["exchange_held"] is False and "ars_analysis" not in proposals["5.1"]
    assert proposals["PT-PHARE"]["exchange_held"] is True
    assert proposals["PT-PHARE"]["ars_analysis"] == "Analyse ARS PT-PHARE"
    ms = {m["id"]: m for m in v["medico_social"]}
    assert ms["2.2-MS"]["shared_review"] == "Bilan 2.2-MS v2 (ajusté ARS)"
    channels = {r["codes"][0]: r["channel"] for r in v["validated_reviews"]}
    assert channels["PT-PHARE"] == "proposition nationale après échange"
    assert channels["5.1"] == "proposition nationale sans échange"
    # Note 2017, § 2.2: the 2.2 bilan is « complété […] pour un bilan global de l'objectif ».
    assert channels["2.2"] == "échange technique + dialogue de gestion CNSA-DGCS" and "2.2-MS" not in channels
    [global_22] = [r for r in v["validated_reviews"] if r["codes"][0] == "2.2"]
    assert global_22["codes"] == ["2.2", "2.2-MS"] and "Bilan 2.2-MS v2 (ajusté ARS)" in global_22["shared_review"]

    # Every exchange validated before 30 March: the reminder is withdrawn and never sent.
    assert {t["element_id"]: t["status"] for t in review.show()["timers"]}["Timer_fin_echanges"] == "cancelled"
    clock.set("2028-03-30T22:00:00+00:00")
    assert cpom.tick() == 0
    assert not review.notifications()


# -- scenario 4: a full run with its reminders ---------------------------------------------------
def test_full_run_to_the_mission_letter_with_reminders_at_their_instants(cpom, clock):
    review = Review(cpom, clock, MAINLAND)
    [referents] = review.open()
    clock.set("2027-12-31T22:59:59+00:00")      # 23:59:59 on 31 December, Paris
    assert cpom.tick() == 0 and not review.notifications()
    clock.set("2027-12-31T23:00:00+00:00")
    assert cpom.tick() == 1
    [note] = review.notifications()
    assert note["details"]["to_groups"] == ["referent_cpom_regional"]
    assert "Grand Est" in note["details"]["body"]
    assert review.open() == [referents]
    [timer] = review.show()["timers"]
    assert (timer["status"], timer["fired_at"]) == ("fired", "2027-12-31T23:00:00+00:00")

    clock.set("2028-01-03T09:00:00+00:00")
    review.to_exchanges()
    review.run(ANALYSES | {"UserTask_cnsa_bilan", "UserTask_cnsa_valider"})
    # Exchanges still open on 30 March: the non-interrupting reminder, at 24:00 Paris (CEST).
    clock.set("2028-03-30T21:59:59+00:00")
    assert cpom.tick() == 0
    open_before = {t["id"] for t in review.open()}
    clock.set("2028-03-30T22:00:00+00:00")
    assert cpom.tick() == 1
    late = review.notifications()[-1]
    assert late["details"]["to_groups"] == NOTIFY_EXCHANGES_LATE
    assert {t["id"] for t in review.open()} == open_before

    clock.set("2028-04-03T09:00:00+00:00")
    review.run(until=lambda: bool(review.open("UserTask_consolider")))
    [consolider] = review.open()
    assert consolider["element_id"] == "UserTask_consolider"
    assert consolider["due_at"] == "2028-04-13T22:00:00+00:00"   # end of 13 April (D-7), Paris, CNP on 20 April
    v = review.variables()
    # Exchange bilans (5.2 and 5.3 apart), proposals, and of the CNSA-DGCS bilans only 1.2-ESMS
    # apart: 2.2-MS and 3.1-PAPH are merged into the 2.2 and 3.1 bilans (note 2017, § 2.2).
    assert len(v["validated_reviews"]) == 16 + 2 + 1
    merged = {r["codes"][0]: r["codes"] for r in v["validated_reviews"]}
    assert merged["2.2"] == ["2.2", "2.2-MS"] and merged["3.1"] == ["3.1", "3.1-PAPH"]
    order = [v["cpom_order"].index(r["codes"][0]) for r in v["validated_reviews"]]
    assert order == sorted(order)                       # the structure of the CPOM, not the channel
    overview = cpom.task_data(consolider["id"], actor="cpom-national")["reviews_overview"]
    assert overview.index("1.2 – Thématique Efficience des ESMS") < overview.index("2.1 –")
    assert "Bilan 5.3 v1 (ajusté ARS)" in overview

    review.run({"UserTask_consolider"})
    sent = review.notifications()[-1]
    assert sent["details"]["to_groups"] == ["dg_ars", "cnp"]
    assert "CPOM-GES-2027-consolide.pdf" in sent["details"]["body"]
    [dialogue] = review.open()
    assert (dialogue["element_id"], dialogue["candidate_groups"], dialogue["due_at"]) == (
        "UserTask_dialogue_cnp", ["cnp"], "2028-04-20T22:00:00+00:00")
    review.run({"UserTask_dialogue_cnp"})
    [evaluation] = review.open()
    assert (evaluation["element_id"], evaluation["due_at"]) == ("UserTask_evaluation_dg", "2028-05-31T22:00:00+00:00")
    review.run({"UserTask_evaluation_dg"})
    [letter] = review.open()
    assert (letter["element_id"], letter["due_at"]) == ("UserTask_lettre_mission", "2028-06-30T22:00:00+00:00")
    review.run({"UserTask_lettre_mission"})

    shown = review.show()
    assert shown["state"] == "completed" and shown["incident"] is None
    assert not review.open()
    assert [t["status"] for t in shown["timers"]] == ["fired", "fired"]
    assert [n["details"]["to_groups"] for n in review.notifications()] == [
        ["referent_cpom_regional"], NOTIFY_EXCHANGES_LATE, ["dg_ars", "cnp"], ["dg_ars"]]
    assert "LM-DG-ARS-2028" in review.notifications()[-1]["details"]["body"]
    final = shown["variables"]
    assert final["mission_letter"] == "LM-DG-ARS-2028" and final["dg_evaluation"]
    assert all(r["validated_at"] for e in final["exchanges"] for r in e["reviews"])
    assert all(p["validated_at"] for p in final["proposals"] + final["medico_social"])



# -- the CNP window ------------------------------------------------------------------------------
@pytest.mark.parametrize("cnp_date", ["2028-04-15", "2028-06-01", "2028-06-20", "2028-03-31"])
def test_a_cnp_date_outside_16_april_31_may_is_refused_at_start(cpom, clock, cnp_date):
    """Seed 004 l. 572: « Entre le 16 avril et le 31 mai 2018 Dialogue stratégique en CNP +
    Evaluation des DGARS ». Before #12, 31/03–30/06 was accepted (a June CNP created an evaluation
    task already overdue)."""
    clock.set("2027-12-01T08:00:00+00:00")
    with pytest.raises(InvalidInput) as err:
        cpom.start("cpom_etat_ars", dict(MAINLAND, cnp_date=cnp_date), business_key="CPOM-x", actor="cpom-national")
    assert "entre le 16 avril et le 31 mai 2028" in err.value.message
    assert not cpom.tasks(actor="cpom-regional")


@pytest.mark.parametrize("cnp_date", ["2028-04-16", "2028-05-31"])
def test_the_window_bounds_are_accepted(cpom, clock, cnp_date):
    """Seed 004 l. 572: the window includes 16 April and 31 May."""
    clock.set("2027-12-01T08:00:00+00:00")
    summary = cpom.start("cpom_etat_ars", dict(MAINLAND, cnp_date=cnp_date), business_key="CPOM-y",
                         actor="cpom-national")
    assert summary["state"] != "incident"
