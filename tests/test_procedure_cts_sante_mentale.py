"""Commission spécialisée en santé mentale of a CTS: composition rules as pure functions, then the
procedure end to end, warm and cold. Seed: /work/shared/seeds/003_8d9e7d5e64d960de.txt (CTS de
Seine-et-Marne, 3 July 2017) and 000_a7a9af99458c5c5a.txt l. 168 and 415."""
from __future__ import annotations

from pathlib import Path

import pytest

from arsflow.engine.bpmn.definitions import collect_sources
from arsflow.engine.errors import InvalidInput
from arsflow.processes.cts_sante_mentale_composition import (check_candidates, check_election,
                                                             composition)

from tests.procedure_support import runtime_for

ROOT = Path(__file__).resolve().parent.parent


def member(name, college, letter=None, mode="acclamation", votes=None):
    return {"name": name, "college": str(college), "letter": letter, "mode": mode, "votes": votes}


# The 14 elected of seed 003 (« RÉSULTAT DES VOTES »), with letters that fit the seat table.
SEED_003 = [member("BERTHAUT Elise", 1, "a"), member("CALLET Olivier", 1, "a"), member("DOUSSINEAU Nathalie", 1, "b"),
            member("FREMONT Patrick", 1, "d"), member("LAINE Sylvie", 1, "d"), member("PELJAK Dominique", 1, "g"),
            member("PLACET Gérard", 1, "f"), member("RIGAL Yves", 1, "h"), member("SALANDINI Nicolas", 1, "c"),
            member("LESCAT Henri", 2, "a"), member("PEIGNE Hubert", 2, "b"), member("RODRIGUEZ Jean-Pierre", 3, "a"),
            member("BERTHELOT Guy", 4, "a"), member("LATINIS-HERITIER Isabelle", 5)]


def test_the_seed_commission_is_valid_with_seven_vacant_seats():
    """Seed 003: « 14 Membres Elus sur 21 sièges »."""
    assert check_election(SEED_003, SEED_003) == []
    result = composition(SEED_003)
    assert (result["filled"], result["vacant"]) == (14, 7)
    assert result["text"].startswith("Commission spécialisée en santé mentale : 14 membres élus sur 21 sièges.")


@pytest.mark.parametrize("extra, message", [
    ([member(f"ES {i}", 1, "a") for i in range(2)], "ESMS : 6 élus pour 5 sièges"),               # a+g+b ≤ 5
    ([member(f"URPS {i}", 1, "e") for i in range(2)], "ordre des médecins : 6 élus pour 5 sièges"),  # d+e+f+h ≤ 5
    ([member("Prévention", 1, "c"), member("Précarité", 1, "c")], "précarité : 3 élus pour 2 sièges"),
    ([member("Usager", 2, "b"), member("Retraités", 2, "b")], "personnes âgées : 3 élus pour 2 sièges"),
    ([member(f"Élu {i}", 3, "e") for i in range(3)], "collège 3 : 4 élus pour 3 sièges"),
    ([member("Préfet", 4, "a")], "personnes qualifiées : 3 élus pour 2 sièges"),
])
def test_caps_and_sub_caps_of_the_2016_arrete(extra, message):
    """Seed 003: « Au plus 12 membres issus des professionnels et offreurs de santé (collège 1) » ;
    « a) et g) […] b) […] Maximum 5 » ; « c) […] Maximum 2 » ; « d) URPS […] Maximum 5 » ; « Au plus 4
    […] (collège 2) » ; « Au plus 3 […] (collège 3) » ; « Au plus 2 membres […] (collège 4) et
    Personnes Qualifiées (collège 5) »."""
    elected = SEED_003 + extra
    assert any(message in p for p in check_election(elected, elected)), check_election(elected, elected)


def test_no_more_than_21_members():
    """Seed 003: « Le bureau comprend 21 membres »."""
    full = ([member(f"C1-{i}", 1, "a") for i in range(5)] + [member(f"C1d-{i}", 1, "d") for i in range(5)]
            + [member(f"C1c-{i}", 1, "c") for i in range(2)] + [member(f"C2a-{i}", 2, "a") for i in range(2)]
            + [member(f"C2b-{i}", 2, "b") for i in range(2)] + [member(f"C3-{i}", 3, "b") for i in range(3)]
            + [member(f"C45-{i}", 4, "b") for i in range(2)])
    assert check_election(full, full) == [] and composition(full)["vacant"] == 0
    extra = full + [member("Un de trop", 3, "c")]
    assert any("22 élus pour 21 sièges" in p for p in check_election(extra, extra))


def test_titulaires_only_and_letters_of_the_arrete():
    """Seed 003: « Chaque membre titulaire du Conseil territorial de santé peut être membre d'une ou
    plusieurs commissions »."""
    cts = [{"name": "RODRIGUEZ Jean-Pierre", "college": 3, "role": "titulaire"},
           {"name": "DUPONT Marie", "college": 3, "role": "suppleant"}]
    problems = check_candidates([member("RODRIGUEZ Jean-Pierre", 3, "a"), member("DUPONT Marie", 3, "a"),
                                 member("INCONNU Paul", 2, "a"), member("RODRIGUEZ Jean-Pierre", 2, "z")], cts)
    text = "\n".join(problems)
    assert "DUPONT Marie) : seuls les membres titulaires du CTS peuvent être élus (suppléant)" in text
    assert "INCONNU Paul) : seuls les membres titulaires" in text
    assert "lettre 'z' inconnue pour le collège 2" in text and "candidat en double" in text
    assert not any(p.startswith("candidat n° 1 ") for p in problems)


def test_acclamation_only_when_candidates_do_not_outnumber_seats():
    """Seed 003: « Candidatures reçues / élections par acclamation / élections par vote » ;
    « Vote si besoin et/ou validation des candidatures »."""
    candidates = [member("A", 3, "a"), member("B", 3, "b"), member("C", 3, "c"), member("D", 3, "e")]
    elected = [member("A", 3, "a"), member("B", 3, "b"), member("C", 3, "c")]
    assert any("acclamation n'est pas possible" in p for p in check_election(elected, candidates))
    voted = [dict(m, mode="vote", votes=30 - i) for i, m in enumerate(elected)]
    assert check_election(voted, candidates) == []
    assert any("nombre de voix manquant" in p for p in check_election([dict(elected[0], mode="vote")], candidates))
    assert any("n'était pas candidat" in p for p in check_election([member("Z", 3, "a")], candidates))


# -- the procedure ------------------------------------------------------------------------------
@pytest.fixture(params=["warm", "cold"])
def cmsm(request, runtime, database, clock, make_user):
    make_user("secretariat", "pole_democratie_sanitaire")
    make_user("dg", "dg_ars")
    with runtime.db.transaction() as s:
        runtime.definitions.deploy(s, collect_sources([ROOT / "processes" / "cts_sante_mentale.bpmn",
                                                       ROOT / "forms"]), now=runtime.now())
    return runtime_for(request.param, runtime, database, clock)


def only(rt, iid, name):
    [task] = [t for t in rt.tasks(instance_id=iid) if t["name"] == name]
    return task


def form_member(m):
    return {k: v for k, v in m.items() if v is not None}


def test_constitution_then_the_cts_avis_end_to_end(cmsm, clock):
    """Seed 003 (election, « 14 Membres Elus sur 21 sièges ») and seed 000 l. 415: « La commission
    spécialisée en santé mentale prépare notamment l'avis du CTS sur le diagnostic territorial
    partagé et le projet territorial de santé mentale arrêtés par le directeur général de l'ARS »."""
    clock.set("2017-06-01T08:00:00+00:00")
    iid = cmsm.start("cts_sante_mentale", {"cts_name": "CTS de Seine-et-Marne", "territory": "77",
                                           "date_seance": "2017-07-03"}, actor="secretariat")["instance_id"]
    task = only(cmsm, iid, "Enregistrer les candidatures des membres titulaires")
    assert task["due_at"] == "2017-07-02T22:00:00+00:00" and task["properties"]["subject"] == "CTS de Seine-et-Marne"
    # A candidate with a letter that does not exist: back to the same task, with the reason shown.
    bad = [form_member(m) for m in SEED_003[:13]] + [{"name": "LATINIS-HERITIER Isabelle", "college": "2", "letter": "h"}]
    cmsm.complete(task["id"], {"candidats": [{k: m[k] for k in ("name", "college", "letter") if k in m} for m in bad]},
                  actor="secretariat")
    task = only(cmsm, iid, "Enregistrer les candidatures des membres titulaires")
    assert "lettre 'h' inconnue pour le collège 2" in cmsm.show(iid)["variables"]["problemes_candidatures_texte"]
    cmsm.complete(task["id"], {"candidats": [{k: m[k] for k in ("name", "college", "letter") if m.get(k)}
                                             for m in SEED_003]}, actor="secretariat")
    clock.set("2017-07-03T15:00:00+00:00")
    election = only(cmsm, iid, "Enregistrer le résultat de l'élection (acclamation ou vote)")
    assert election["due_at"] == "2017-07-03T22:00:00+00:00"
    too_many = [form_member(m) for m in SEED_003] + [{"name": "BERTHELOT Guy", "college": "4", "letter": "a",
                                                      "mode": "acclamation"}]
    cmsm.complete(election["id"], {"elus": too_many}, actor="secretariat")
    assert "élu deux fois" in cmsm.show(iid)["variables"]["problemes_election_texte"]
    election = only(cmsm, iid, "Enregistrer le résultat de l'élection (acclamation ou vote)")
    cmsm.complete(election["id"], {"elus": [form_member(m) for m in SEED_003]}, actor="secretariat")
    validation = only(cmsm, iid, "Faire valider la composition par le CTS")
    assert "14 membres élus sur 21 sièges" in cmsm.task_data(validation["id"], actor="secretariat")["composition_texte"]
    cmsm.complete(validation["id"], {"date_validation": "2017-07-03", "reference_pv": "PV CTS 77 du 3/07/2017",
                                     "composition_validee": True}, actor="secretariat")
    clock.set("2017-11-20T10:00:00+00:00")
    avis = only(cmsm, iid, "Enregistrer l'avis du CTS sur le diagnostic territorial partagé")
    with pytest.raises(InvalidInput) as err:   # an avis dated tomorrow
        cmsm.complete(avis["id"], {"date_avis_diagnostic": "2017-11-21", "sens_avis_diagnostic": "reserve",
                                   "avis_diagnostic": "x"}, actor="secretariat")
    assert "futur" in err.value.details["errors"]["date_avis_diagnostic"]
    cmsm.complete(avis["id"], {"date_avis_diagnostic": "2017-11-20", "sens_avis_diagnostic": "reserve",
                               "avis_diagnostic": "Favorable avec réserves sur l'offre pédopsychiatrique."},
                  actor="secretariat")
    arrete = only(cmsm, iid, "Arrêter le diagnostic territorial partagé en santé mentale")
    assert arrete["candidate_groups"] == ["dg_ars"]
    with pytest.raises(InvalidInput):          # before the CTS's avis
        cmsm.complete(arrete["id"], {"date_arrete_diagnostic": "2017-11-19", "reference_arrete_diagnostic": "A-1"},
                      actor="dg")
    cmsm.complete(arrete["id"], {"date_arrete_diagnostic": "2017-11-20", "reference_arrete_diagnostic": "A-1"},
                  actor="dg")
    avis = only(cmsm, iid, "Enregistrer l'avis du CTS sur le projet territorial de santé mentale")
    cmsm.complete(avis["id"], {"date_avis_ptsm": "2017-11-20", "sens_avis_ptsm": "favorable",
                               "avis_ptsm": "Favorable."}, actor="secretariat")
    arrete = only(cmsm, iid, "Arrêter le projet territorial de santé mentale")
    cmsm.complete(arrete["id"], {"date_arrete_ptsm": "2017-11-20", "reference_arrete_ptsm": "A-2"}, actor="dg")
    shown = cmsm.show(iid)
    assert shown["state"] == "completed"
    assert shown["variables"]["commission"]["filled"] == 14 and shown["variables"]["sens_avis_diagnostic"] == "reserve"


def test_start_is_refused_without_a_session_date(cmsm, clock):
    """Seed 003: the commission is elected in a plenary session (« Election de la commission
    spécialisée en santé mentale » on the agenda of 3 July 2017)."""
    with pytest.raises(InvalidInput) as err:
        cmsm.start("cts_sante_mentale", {"cts_name": "CTS 77"}, actor="secretariat")
    assert "date_seance" in err.value.message
