"""The command line is the public contract: JSON shapes, exit codes, --now."""
from __future__ import annotations

import io
import json
import sys

import pytest
from arsflow.cli.main import main

from tests.bpmn_builder import chain, definitions, timer_boundary, user_task


def run(capsys, *argv, stdin: str | None = None):
    if stdin is not None:
        sys.stdin = io.StringIO(stdin)
    try:
        code = main(list(argv))
    finally:
        sys.stdin = sys.__stdin__
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def cli(db_url, capsys, tmp_path):
    def call(*argv, stdin=None, now=None):
        extra = ["--db", db_url] + (["--now", now] if now else [])
        return run(capsys, *argv, *extra, stdin=stdin)
    return call


def _diagram(tmp_path):
    path = tmp_path / "demande.bpmn"
    path.write_text(definitions("\n".join([
        '<bpmn:startEvent id="start"/>',
        user_task("instruire", "Instruire la demande", 'camunda:candidateGroups="staff" camunda:dueDate="P10D"'),
        timer_boundary("echeance", "instruire", "timeDuration", "P15D"),
        '<bpmn:endEvent id="end"/>', '<bpmn:endEvent id="end_timer"/>',
        chain("start", "instruire", "end"), chain("echeance", "end_timer")]), pid="demande"))
    return path


def test_full_cycle_through_the_command_line(cli, tmp_path):
    path = _diagram(tmp_path)
    assert cli("init")[0] == 0
    code, out, _ = cli("deploy", str(path), "--json")
    assert code == 0 and json.loads(out)["created"][0]["key"] == "demande"
    assert cli("users", "add", "alice", "--group", "staff", "--password-stdin", stdin="motdepasse1\n")[0] == 0
    code, out, _ = cli("start", "demande", "--as", "alice", "--business-key", "D-1", "--data", '{"territory": "974"}',
                       "--json", now="2026-12-01T08:00:00Z")
    started = json.loads(out)
    assert code == 0 and started["state"] == "waiting"
    code, out, _ = cli("tasks", "--as", "alice", "--json")
    [task] = json.loads(out)
    assert {"id", "name", "instance_id", "process_key", "assignee", "candidate_groups", "due_at", "form"} <= set(task)
    assert task["due_at"] == "2026-12-11T08:00:00+00:00"
    code, out, _ = cli("tasks", "--as", "alice", "--overdue", "--json", now="2026-12-12T00:00:00Z")
    assert len(json.loads(out)) == 1
    assert cli("claim", task["id"], "--as", "alice")[0] == 0
    code, out, _ = cli("show", str(started["instance_id"]), "--json")
    shown = json.loads(out)
    assert {"id", "process_key", "version", "state", "business_key", "variables", "tasks", "timers", "audit"} <= set(shown)
    assert shown["tasks"][0]["assignee"] == "alice"
    # Nothing fires before the instant; at it, the timer fires once.
    assert json.loads(cli("tick", "--json", now="2026-12-16T07:59:59Z")[1])["fired"] == 0
    assert json.loads(cli("tick", "--json", now="2026-12-16T08:00:00Z")[1])["fired"] == 1
    assert json.loads(cli("show", str(started["instance_id"]), "--json")[1])["state"] == "completed"


def test_errors_have_clear_messages_and_exit_codes(cli, tmp_path):
    cli("init")
    bad = tmp_path / "bad.bpmn"
    bad.write_text(definitions('<bpmn:startEvent id="s"/><bpmn:complexGateway id="cg"/>'
                               '<bpmn:sequenceFlow id="f" sourceRef="s" targetRef="cg"/>', pid="bad"))
    code, out, _ = cli("lint", str(bad))
    assert code == 1 and "cg" in out and "complexGateway" in out
    code, _, err = cli("deploy", str(bad))
    assert code == 1 and "cg" in err
    code, _, err = cli("start", "absent", "--as", "personne")
    assert code == 2 and "personne" in err
    code, _, err = cli("start", "absent", "--as", "x", "--data", "{pas du json")
    assert code == 1 and "--data" in err


def test_deadline_command(cli):
    code, out, _ = cli("deadline", "2026-11-30", "P3M", "--territory", "57", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["nominal_end"] == "2027-02-28" and data["end"] == "2027-03-01"
    assert data["expires_at"].startswith("2027-03-01T23:00:00")
    assert "lundi 1er mars 2027" in data["explanation"]
    code, _, err = cli("deadline", "2026-11-30", "P3M", "--territory", "999")
    assert code == 1 and "999" in err
