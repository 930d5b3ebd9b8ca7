"""The procedures of #12 end to end through the `arsflow` command, each step a new process (as staff
and workers run it): santé mentale commission (seed 003) and the PRS timetable of the instruction
(seed 000 l. 200)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARSFLOW = str(Path(sys.executable).with_name("arsflow"))


@pytest.fixture
def arsflow(db_url, tmp_path):
    env = dict(os.environ, ARSFLOW_SMTP_HOST="")

    def call(*argv, stdin=None, now=None, check=True):
        cmd = [ARSFLOW, *argv, "--db", db_url] + (["--now", now] if now else [])
        done = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
        if check:
            assert done.returncode == 0, (argv, done.stdout, done.stderr)
        return done
    call("init")
    call("deploy", str(ROOT / "processes"), str(ROOT / "forms"))
    for login, group in (("secretariat", "pole_democratie_sanitaire"), ("dg", "dg_ars")):
        call("users", "add", login, "--group", group, "--password-stdin", stdin="motdepasse-demo\n")
    return call


def tasks(arsflow, login, now):
    return json.loads(arsflow("tasks", "--as", login, "--json", now=now).stdout)


def complete(arsflow, task, login, data, now):
    arsflow("complete", task["id"], "--as", login, "--data", json.dumps(data), now=now)


def test_sante_mentale_commission_through_the_command(arsflow):
    """Seed 003: « Election de la commission spécialisée en santé mentale », « 14 Membres Elus sur
    21 sièges » (here 3 élus: the other seats stay vacant)."""
    now = "2017-06-01T08:00:00Z"
    started = json.loads(arsflow("start", "cts_sante_mentale", "--as", "secretariat", "--json", "--data",
                                 json.dumps({"cts_name": "CTS 77", "territory": "77", "date_seance": "2017-07-03"}),
                                 now=now).stdout)
    members = [{"name": "PEIGNE Hubert", "college": "2", "letter": "b"},
               {"name": "RODRIGUEZ Jean-Pierre", "college": "3", "letter": "a"},
               {"name": "BERTHELOT Guy", "college": "4", "letter": "a"}]
    [task] = tasks(arsflow, "secretariat", now)
    complete(arsflow, task, "secretariat", {"candidats": members}, now)
    [task] = tasks(arsflow, "secretariat", now)
    complete(arsflow, task, "secretariat", {"elus": [dict(m, mode="acclamation") for m in members]}, now)
    [task] = tasks(arsflow, "secretariat", "2017-07-03T15:00:00Z")
    complete(arsflow, task, "secretariat", {"date_validation": "2017-07-03", "reference_pv": "PV",
                                            "composition_validee": True}, "2017-07-03T15:00:00Z")
    for code, login in (("diagnostic", "secretariat"), ("diagnostic", "dg"), ("ptsm", "secretariat"), ("ptsm", "dg")):
        [task] = tasks(arsflow, login, "2017-11-20T10:00:00Z")
        data = ({f"date_avis_{code}": "2017-11-20", f"sens_avis_{code}": "favorable", f"avis_{code}": "Favorable."}
                if login == "secretariat" else {f"date_arrete_{code}": "2017-11-20", f"reference_arrete_{code}": "A"})
        complete(arsflow, task, login, data, "2017-11-20T10:00:00Z")
    shown = json.loads(arsflow("show", str(started["instance_id"]), "--json").stdout)
    assert shown["state"] == "completed"
    assert shown["variables"]["commission"]["filled"] == 3 and shown["variables"]["commission"]["vacant"] == 18


def test_prs_of_the_instruction_timetable_through_the_command(arsflow):
    """Seed 000 l. 200: publication « au plus tard le 30 septembre 2017 », PRS « arrêté […] au plus
    tard le 1er janvier 2018 »; a refused start writes nothing and says why."""
    refused = arsflow("start", "prs_consultation", "--as", "secretariat", "--data",
                      json.dumps({"publication_date": "2017-09-30", "kind": "nouveau", "territory": "75"}),
                      now="2017-09-30T08:00:00Z", check=False)
    assert refused.returncode != 0 and "actualisation" in refused.stdout + refused.stderr
    started = json.loads(arsflow("start", "prs_consultation", "--as", "secretariat", "--json", "--data",
                                 json.dumps({"publication_date": "2017-09-30", "kind": "revision", "territory": "75",
                                             "arrete_au_plus_tard": "2018-01-01"}),
                                 now="2017-09-30T08:00:00Z").stdout)
    iid = started["instance_id"]
    [saisine] = [t for t in tasks(arsflow, "secretariat", "2017-10-02T08:00:00Z")
                 if t["name"] == "Saisir le conseil de surveillance"]
    complete(arsflow, saisine, "secretariat", {"date_saisine_cs": "2017-10-02", "reference_saisine_cs": "CS"},
             "2017-10-02T08:00:00Z")
    arsflow("tick", now="2017-12-30T22:59:59Z")
    assert not [t for t in tasks(arsflow, "dg", "2017-12-30T22:59:59Z")]
    arsflow("tick", now="2017-12-30T23:00:00Z")                       # 31/12/2017 at 0 h, Paris
    [arrete] = tasks(arsflow, "dg", "2017-12-31T08:00:00Z")
    assert arrete["name"] == "Arrêter le PRS" and arrete["due_at"] == "2018-01-01T23:00:00+00:00"
    complete(arsflow, arrete, "dg", {"date_arrete": "2018-01-01", "reference_arrete": "ARS-2018-1"},
             "2018-01-01T10:00:00Z")
    shown = json.loads(arsflow("show", str(iid), "--json").stdout)
    assert {a["status"] for name, a in shown["variables"]["avis"].items() if "surveillance" not in name} == {"tacit"}
