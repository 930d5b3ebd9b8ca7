"""`arsflow init --demo`: the procedures deployed, French-named accounts in every group
they use, and one instance of each at realistic dates, so a newcomer sees a full inbox."""
from __future__ import annotations

from pathlib import Path

from arsflow.engine.bpmn.definitions import collect_sources
from arsflow.engine.errors import DeploymentError
from arsflow.engine.people import users

DEMO_PASSWORD = "arsflow-demo"

DEMO_USERS = {
    "claire.martin": ("Claire Martin", ["dg_ars", "managers"]),
    "julien.bernard": ("Julien Bernard", ["pole_democratie_sanitaire"]),
    "sophie.durand": ("Sophie Durand", ["pole_democratie_sanitaire", "direction_strategie"]),
    "nicolas.petit": ("Nicolas Petit", ["direction_strategie", "managers"]),
    "amelie.robert": ("Amélie Robert", ["delegations_departementales"]),
    "thomas.richard": ("Thomas Richard", ["sg_national"]),
    "camille.moreau": ("Camille Moreau", ["referent_cpom_national"]),
    "hugo.simon": ("Hugo Simon", ["referents_techniques_nationaux"]),
    "ines.fontaine": ("Inès Fontaine", ["referents_outre_mer_dac"]),
    "lea.laurent": ("Léa Laurent", ["referent_cpom_regional"]),
    "louis.michel": ("Louis Michel", ["referents_techniques_regionaux"]),
    "manon.garcia": ("Manon Garcia", ["cnp"]),
    "paul.david": ("Paul David", ["deployers", "managers"]),
}

DEMO_INSTANCES = [
    ("prs_consultation", "PRS-IDF-2027", "sophie.durand", {
        "publication_date": "2026-11-30", "kind": "revision", "territory": "75", "reminder_days": 15,
        "bodies": ["Préfet de région", "CRSA", "Conseil régional d'Île-de-France",
                   "Conseil départemental de Paris", "CDCA de Paris", "Conseil de surveillance de l'ARS"],
        # Bodies with an address get their courrier de saisine and a personal portal link by email.
        "correspondants": {"CRSA": "secretariat.crsa@example.org",
                           "CDCA de Paris": "cdca75@example.org"}}),
    ("cts_nomination", "CTS-75-2027", "julien.bernard", {"territory": "75", "cts_name": "CTS de Paris"}),
    ("cts_sante_mentale", "CSSM-77-2027", "julien.bernard", {
        "cts_name": "CTS de Seine-et-Marne", "territory": "77", "date_seance": "2027-01-15"}),
    ("cpom_etat_ars", "CPOM-IDF-2026", "lea.laurent", {
        "year": 2026, "region": "Île-de-France", "overseas": False, "cnp_date": "2027-04-20", "territory": "75"}),
]


def shipped_folder(package: str) -> Path:
    """The folder a package's data files are installed in (editable or regular install alike)."""
    from importlib.resources import files
    return Path(str(files(package)))


def load_demo(runtime, processes_dir: Path | None = None, forms_dir: Path | None = None) -> dict:
    """Idempotent: accounts are updated, files redeploy only when changed, an instance with
    the same business key is not started twice."""
    processes_dir = processes_dir or shipped_folder("arsflow.processes")
    forms_dir = forms_dir or shipped_folder("arsflow.forms")
    paths = [p for p in (processes_dir, forms_dir) if p.is_dir() and any(p.iterdir())]
    if not paths:
        raise DeploymentError(f"données de démonstration introuvables : ni {processes_dir} ni {forms_dir} "
                              "ne contiennent de fichiers .bpmn, .dmn ou .form (installation incomplète ?)")
    with runtime.db.transaction() as session:
        for login, (name, groups) in DEMO_USERS.items():
            users.add_user(session, login, groups, password=DEMO_PASSWORD, display_name=name, now=runtime.now())
        deployed = runtime.definitions.deploy(session, collect_sources(paths), name="démonstration",
                                              source="demo", now=runtime.now()) if paths else None
    from arsflow.engine.models import Instance
    from sqlalchemy import select
    started = []
    for key, business_key, initiator, data in DEMO_INSTANCES:
        with runtime.db.read() as session:
            exists = session.scalar(select(Instance.id).where(Instance.business_key == business_key))
        if exists:
            started.append({"process_key": key, "instance_id": exists, "business_key": business_key})
            continue
        result = runtime.start(key, data, business_key=business_key, actor=initiator)
        started.append({"process_key": key, "instance_id": result["instance_id"], "business_key": business_key,
                        "state": result["state"]})
    return {"password": DEMO_PASSWORD, "users": {login: groups for login, (_, groups) in DEMO_USERS.items()},
            "instances": started, "deployed": deployed.created if deployed else []}
