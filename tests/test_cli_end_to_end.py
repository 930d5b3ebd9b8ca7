"""Each procedure run to its end through the `arsflow` command, one OS process per engine
operation (a new runtime, empty caches: exactly what a server restart between two steps
does), on a temporary SQLite file, the clock moved with `--now`.

The procedure tests' own helpers drive the steps: `Cli` has the Runtime's signatures, and
every call is one `arsflow` process. What is checked at the end is what a person would:
the instance is completed, the last task done, the history (`show --json`, key `audit`)
tells it from `started` to `ended`."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from arsflow.engine.time.clock import FixedClock
from sqlalchemy import text

from tests import test_procedure_cpom as cpom_steps
from tests import test_procedure_cts as cts_steps
from tests.conftest import BACKENDS, _postgres_schema_url

ROOT = Path(__file__).resolve().parent.parent
ARSFLOW = shutil.which("arsflow", path=str(Path(sys.executable).parent)) or shutil.which("arsflow")
USERS = {  # one account per candidate group the three procedures use (logins of their tests)
    "pole": ["pole_democratie_sanitaire"], "dg": ["dg_ars"], "sg": ["sg_national"],
    "strategie": ["direction_strategie"], **{login: [group] for group, login in cpom_steps.ACTORS.items()
                                             if login != "dg"}}

pytestmark = pytest.mark.skipif(ARSFLOW is None, reason="the arsflow command is not installed (pip install -e .)")


class Cli:
    """The Runtime's operations, each one `arsflow … --json` process."""

    def __init__(self, db_url: str, clock: FixedClock):
        self.db_url, self.clock, self.processes = db_url, clock, 0
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ARSFLOW_")}
        self.env["ARSFLOW_TERRITORY"], self.env["ARSFLOW_TIMEZONE"] = "75", "Europe/Paris"

    def __call__(self, *argv, stdin=None):
        command = [ARSFLOW, *argv, "--db", self.db_url, "--now", self.clock.now().isoformat(), "--json"]
        done = subprocess.run(command, capture_output=True, text=True, env=self.env, input=stdin, timeout=180)
        self.processes += 1
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(argv[:2])} → {done.returncode}\n{done.stdout}\n{done.stderr}")
        return json.loads(done.stdout) if done.stdout.strip() else None

    def now(self):
        return self.clock.now()

    def start(self, process_key, data=None, business_key=None, actor=None):
        return self("start", process_key, "--data", json.dumps(data or {}), "--business-key", business_key,
                    "--as", actor)

    def tasks(self, instance_id=None, limit=200, actor=None):
        argv = ["tasks"] + (["--instance", str(instance_id)] if instance_id else []) + (["--as", actor] if actor else [])
        found = self(*argv)
        assert len(found) < limit
        self.listed = found
        return found

    def claim(self, task_id, actor):
        return self("claim", task_id, "--as", actor)

    def complete(self, task_id, data=None, actor=None):
        return self("complete", task_id, "--data", json.dumps(data or {}), "--as", actor)

    def tick(self):
        return self("tick")["fired"]

    def show(self, instance_id):
        return self("show", str(instance_id))

    def worker(self, topic, variables):
        """An external-task worker (the RAA connector) in its own process: fetch and lock one
        task of `topic`, complete it (the command line has no external-task command)."""
        script = (
            "import json, sys\n"
            "from arsflow.engine.config import Settings\n"
            "from arsflow.engine.db import Database\n"
            "from arsflow.engine.runtime import Runtime\n"
            "from arsflow.engine.time.clock import FixedClock\n"
            "url, now, topic, variables = sys.argv[1:5]\n"
            "rt = Runtime(Database(url), Settings(database_url=url), clock=FixedClock(now))\n"
            "[task] = rt.external_tasks.fetch_and_lock('e2e', [{'name': topic, 'lock_duration': 60000}], 1)\n"
            "rt.external_tasks.complete(task['id'], 'e2e', json.loads(variables))\n")
        done = subprocess.run([sys.executable, "-c", script, self.db_url, self.clock.now().isoformat(), topic,
                               json.dumps(variables)], capture_output=True, text=True, env=self.env, timeout=180)
        self.processes += 1
        assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A database with the three procedures deployed and their people, made once through the
    command line and copied for each test."""
    path = tmp_path_factory.mktemp("seed") / "arsflow.db"
    seed(Cli(f"sqlite:///{path}", FixedClock("2026-09-01T08:00:00+00:00")))
    return path


def seed(cli: Cli) -> None:
    cli("init")
    cli("deploy", str(ROOT / "processes"), str(ROOT / "forms"))
    for login, groups in USERS.items():
        cli("users", "add", login, *[arg for g in groups for arg in ("--group", g)])


@pytest.fixture(params=BACKENDS)
def cli(request, seeded, tmp_path):
    """One `arsflow` process per step, on SQLite (a copy of the seeded file) and, when
    ARSFLOW_TEST_POSTGRES_URL is set, on PostgreSQL (a schema seeded the same way)."""
    if request.param == "sqlite":
        path = tmp_path / "arsflow.db"
        shutil.copy(seeded, path)
        yield Cli(f"sqlite:///{path}", FixedClock("2026-09-01T08:00:00+00:00"))
        return
    url, admin, schema = _postgres_schema_url()
    pg = Cli(url, FixedClock("2026-09-01T08:00:00+00:00"))
    seed(pg)
    yield pg
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def assert_ran_to_the_end(cli, iid, last_task):
    shown = cli.show(iid)
    assert shown["state"] == "completed" and shown["incident"] is None and shown["ended_at"]
    assert not [t for t in shown["tasks"] if t["state"] == "open"]
    assert not [t for t in shown["timers"] if t["status"] == "waiting"]
    actions = [a["action"] for a in shown["audit"]]
    assert actions[0] == "started" and actions[-1] == "ended"
    done = [a for a in shown["audit"] if a["action"] == "activity_completed" and a.get("element_name") == last_task]
    assert done, f"« {last_task} » absent de l'historique"
    assert "incident" not in actions
    return shown


# -- PRS consultation ------------------------------------------------------------------------------

PRS_BODIES = ["Préfet de région", "CRSA", "Conseil régional", "CDCA de Paris", "Association des maires de Paris",
              "AdCF"]  # the instruction's list (n° 2016-154, § III.1), without the referential
CS = "Conseil de surveillance de l'ARS"


def prs_start(cli):
    cli.clock.set("2026-11-30T10:00:00+00:00")
    return cli.start("prs_consultation", {"publication_date": "2026-11-30", "kind": "revision", "territory": "75",
                                          "bodies": PRS_BODIES, "completer_organismes": False},
                     business_key="PRS-75", actor="pole")["instance_id"]


def prs_open(cli, iid, name):
    return [t for t in cli.tasks(instance_id=iid) if t["name"] == name]


def prs_seize_cs(cli, iid):
    [task] = prs_open(cli, iid, "Saisir le conseil de surveillance")
    cli.claim(task["id"], "pole")
    cli.complete(task["id"], {"date_saisine_cs": "2026-12-05", "reference_saisine_cs": "CS-2026-12"}, actor="pole")


def prs_answer(cli, iid, bodies):
    for task in prs_open(cli, iid, "Enregistrer l'avis reçu"):
        if task["properties"].get("subject") in bodies:
            cli.complete(task["id"], {"received_on": "2027-01-15", "sens": "favorable",
                                      "reference": f"Courrier {task['properties']['subject']}"}, actor="pole")


def prs_finish(cli, iid):
    [arreter] = prs_open(cli, iid, "Arrêter le PRS")
    cli.clock.set("2027-03-10T09:00:00+00:00")
    cli.complete(arreter["id"], {"date_arrete": "2027-03-10", "reference_arrete": "ARS-2027-42"}, actor="dg")
    cli.worker("raa-publication", {"date_publication": "2027-03-12", "reference_publication": "RAA n° 12"})
    return assert_ran_to_the_end(cli, iid, "Arrêter le PRS")


def test_prs_every_body_answering(cli):
    iid = prs_start(cli)
    prs_seize_cs(cli, iid)
    cli.clock.set("2027-01-15T10:00:00+00:00")
    prs_answer(cli, iid, PRS_BODIES + [CS])
    assert prs_open(cli, iid, "Arrêter le PRS"), "« Arrêter le PRS » n'est jamais ouverte"
    shown = prs_finish(cli, iid)
    assert {a["status"] for a in shown["variables"]["avis"].values()} == {"explicit"}
    assert not [t for t in shown["timers"] if t["status"] == "fired"]


def test_prs_tacit_avis(cli):
    iid = prs_start(cli)
    prs_seize_cs(cli, iid)
    cli.clock.set("2027-01-15T10:00:00+00:00")
    prs_answer(cli, iid, [b for b in PRS_BODIES if b != "Préfet de région"])
    cli.clock.set("2027-03-01T23:00:00+00:00")  # Tue 2 March 2027 00:00 Paris: silence is an avis
    assert cli.tick() >= 2
    assert prs_open(cli, iid, "Arrêter le PRS"), "« Arrêter le PRS » n'est jamais ouverte"
    shown = prs_finish(cli, iid)
    avis = shown["variables"]["avis"]
    assert {avis[b]["status"] for b in PRS_BODIES if b != "Préfet de région"} == {"explicit"}
    # Silence of the préfet is an avis (art. L. 1434-3); the conseil de surveillance's is not.
    assert avis["Préfet de région"]["status"] == "tacit"
    assert avis["Préfet de région"]["dernier_jour"] == "2027-02-28"  # acquired at the end of that day, Paris
    assert avis["Préfet de région"]["acquired_at"] == "2027-02-28T23:00:00+00:00"
    assert avis[CS]["status"] == "sans_avis" and avis[CS]["acquired_at"] is None
    fired = [a for a in shown["audit"] if a["action"] == "timer_fired" and a["element_id"] == "Timer_echeance"]
    assert len(fired) == 2  # the préfet's and the conseil de surveillance's


# -- CTS nomination --------------------------------------------------------------------------------

class CliCts(Cli):
    """CTS helpers read a body's DMN row from the task's own data; the command line shows the
    instance's variables, where the same rows are."""

    def task_data(self, task_id, actor=None):
        task = next(t for t in self.listed if t["id"] == task_id)  # from the listing just made
        if not hasattr(self, "bodies"):  # the DMN's rows, fixed at the start: read once
            self.bodies = self.show(task["instance_id"])["variables"]["designating_bodies"]
        return {"body": next(r for r in self.bodies if r["name"] == task["properties"]["subject"])}


def test_cts_nomination_to_the_installation(cli):
    cli.__class__ = CliCts
    iid = cts_steps.start(cli, cli.clock)
    roster = cts_steps.Roster()
    cts_steps.answer_everything(cli, cli.clock, iid, roster)
    cts_steps.validate_parity(cli, iid)
    cts_steps.complete(cli, cts_steps.one(cli, iid, cts_steps.ARRETE),
                       {"arrete_date": "2026-11-16", "arrete_reference": "ARS-IDF-2026-CTS77"})
    install = cts_steps.one(cli, iid, cts_steps.INSTALL)
    choices = [c["value"] for c in cli.show(iid)["variables"]["cts_member_choices"]]
    cts_steps.complete(cli, install, {"installation_date": "2026-12-03", "president": choices[20],
                                      "vice_president": choices[40]})
    assert_ran_to_the_end(cli, iid, cts_steps.INSTALL)


# -- CPOM État-ARS ---------------------------------------------------------------------------------

def test_cpom_review_to_the_mission_letter(cli):
    review = cpom_steps.Review(cli, cli.clock, cpom_steps.MAINLAND, themes="Santé-environnement\n")
    cli.clock.set("2027-12-31T23:00:00+00:00")
    assert cli.tick() == 1  # reminder of the referents list
    cli.clock.set("2028-01-03T09:00:00+00:00")
    review.to_exchanges()
    review.run(cpom_steps.ANALYSES | {"UserTask_cnsa_bilan", "UserTask_cnsa_valider"})
    cli.clock.set("2028-03-30T22:00:00+00:00")
    assert cli.tick() == 1  # exchanges still open: the non-interrupting reminder
    cli.clock.set("2028-04-03T09:00:00+00:00")
    review.run()
    shown = assert_ran_to_the_end(cli, review.iid, "Établir la lettre de mission du DG ARS")
    assert shown["variables"]["mission_letter"] == "LM-DG-ARS-2028"
