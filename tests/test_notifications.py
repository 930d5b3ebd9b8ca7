"""Notifications that reach people: a real SMTP server on loopback receives what the engine
sends — reminders and escalations at exact instants, retries after refusals, the daily
digest, preferences, reassignment by escalation."""
from __future__ import annotations

import socket
import threading
from email import message_from_bytes, policy
from xml.sax.saxutils import escape

import pytest
from aiosmtpd.controller import Controller
from arsflow.engine.errors import InvalidInput
from arsflow.engine.models import DigestRun, OutboxMessage, TaskCandidate, TaskNotice
from arsflow.engine.people import notifications, users
from arsflow.engine.people.digest import queue_due_digests
from arsflow.engine.people.mailer import MailSettings
from sqlalchemy import select

from tests.bpmn_builder import chain, definitions, flow, script_task, timer_boundary, user_task

BASE = "https://arsflow.ars-idf.test"


# -- a real SMTP server on loopback -------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """aiosmtpd handler: keeps what it accepts; `refuse` makes it answer an SMTP error."""

    def __init__(self):
        self.received = []
        self.refuse: str | None = None
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return self.refuse
        with self.lock:
            self.received.append((list(envelope.rcpt_tos),
                                  message_from_bytes(envelope.original_content or envelope.content,
                                                     policy=policy.default)))
        return "250 OK"

    def to(self, address):
        return [m for rcpts, m in self.received if address in rcpts]


class SmtpServer:
    def __init__(self):
        self.port = _free_port()
        self.box = Mailbox()
        self.controller = None
        self.start()

    def start(self):
        self.controller = Controller(self.box, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp():
    server = SmtpServer()
    yield server
    server.stop()


@pytest.fixture
def notifier(runtime, smtp):
    mail = MailSettings.load({"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "mail_from": "arsflow@ars.sante.fr",
                              "base_url": BASE}, environ={})
    mail = MailSettings(**{**mail.__dict__, "timeout": 5.0})
    return notifications.install(runtime, mail)


@pytest.fixture
def person(runtime):
    def make(login, *groups, email=True, preference="immediate", name=None):
        with runtime.db.transaction() as session:
            users.add_user(session, login, list(groups), email=f"{login}@ars.sante.fr" if email else None,
                           display_name=name, now=runtime.now())
            notifications.set_preference(session, login, preference)
        return f"{login}@ars.sante.fr"
    return make


def service(tid, topic, **inputs):
    params = "".join(f'<camunda:inputParameter name="{k}">{escape(v)}</camunda:inputParameter>'
                     for k, v in inputs.items())
    return (f'<bpmn:serviceTask id="{tid}" name="{tid}" camunda:type="external" camunda:topic="{topic}">'
            f'<bpmn:extensionElements><camunda:inputOutput>{params}</camunda:inputOutput>'
            '</bpmn:extensionElements></bpmn:serviceTask>')


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html_of(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def actions(runtime, iid, prefix=""):
    return [a for a in runtime.show(iid)["audit"] if a["action"].startswith(prefix)]


def outbox(runtime):
    with runtime.db.read() as s:
        rows = list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        s.expunge_all()
        return rows


# -- settings ------------------------------------------------------------------------------------
def test_mail_settings_environment_takes_precedence_and_bad_values_are_named():
    config = {"smtp_host": "smtp.interne", "smtp_port": 2525, "mail_from": "ne-pas-repondre@ars.sante.fr"}
    settings = MailSettings.load(config, environ={"ARSFLOW_SMTP_HOST": "relais.ars.fr", "ARSFLOW_SMTP_TLS": "ssl",
                                                  "ARSFLOW_BASE_URL": "https://ars.example/"})
    assert (settings.host, settings.port, settings.tls) == ("relais.ars.fr", 2525, "ssl")
    assert settings.sender == "ne-pas-repondre@ars.sante.fr"
    assert settings.task_link("abc") == "https://ars.example/taches/abc"
    assert settings.instance_link(7) == "https://ars.example/instances/7"
    assert MailSettings.load({"smtp_tls": "starttls", "smtp_host": "h"}, environ={}).port == 587
    assert not MailSettings.load({}, environ={}).enabled
    with pytest.raises(InvalidInput, match="ARSFLOW_SMTP_TLS"):
        MailSettings.load({}, environ={"ARSFLOW_SMTP_TLS": "tls13"})
    with pytest.raises(InvalidInput, match="ARSFLOW_SMTP_PORT"):
        MailSettings.load({}, environ={"ARSFLOW_SMTP_PORT": "vingt-cinq"})


def test_reminder_days_property_syntax():
    assert notifications.parse_reminder_days("3") == (3, False)
    assert notifications.parse_reminder_days("3 working") == (3, True)
    assert notifications.parse_reminder_days(" 5 jours ouvrés ") == (5, True)
    assert notifications.parse_reminder_days(2) == (2, False)
    for bad in ("trois", "3 semaines", "", "-1", "400"):
        with pytest.raises(ValueError):
            notifications.parse_reminder_days(bad)


# -- reminders and escalations drawn in BPMN -------------------------------------------------------
def _bpmn_reminder_process():
    attrs = 'camunda:candidateGroups="staff" camunda:dueDate="${due}"'
    return definitions("\n".join([
        '<bpmn:startEvent id="start"/>', user_task("t1", "Instruire le dossier", attrs),
        '<bpmn:endEvent id="end"/>', chain("start", "t1", "end"),
        timer_boundary("rappel", "t1", "timeDate", "${days_before(due, 3)}", interrupting=False),
        service("notif_rappel", "notification", to_assignee_of="t1", subject="Rappel : dossier ${dossier}",
                body="Le dossier ${dossier} arrive à échéance dans 3 jours."),
        '<bpmn:endEvent id="end_rappel"/>', chain("rappel", "notif_rappel", "end_rappel"),
        timer_boundary("echeance", "t1", "timeDate", "${due}", interrupting=False),
        service("notif_chef", "notification", to_groups="managers", subject="Échéance dépassée : ${dossier}",
                body="Le dossier ${dossier} n'est pas instruit à l'échéance."),
        service("reattribuer", "reassign", task="t1", candidate_groups="managers"),
        '<bpmn:endEvent id="end_echeance"/>', chain("echeance", "notif_chef", "reattribuer", "end_echeance")]))


def test_bpmn_reminder_then_escalation_with_reassignment_at_exact_instants(runtime, deploy, clock, smtp, notifier,
                                                                          person):
    alice = person("alice", "staff", name="Alice Martin")
    bob = person("bob", "staff")
    chef = person("chef", "managers")
    deploy({"p.bpmn": _bpmn_reminder_process()})
    iid = runtime.start("p", {"due": "2026-12-10T17:00:00+01:00", "dossier": "CPOM-12"}, actor="alice")["instance_id"]
    [task] = runtime.tasks(instance_id=iid)
    runtime.claim(task["id"], "alice")

    clock.set("2026-12-07T15:59:59+00:00")  # reminder: 3 days before 10 Dec 17:00 Paris = 7 Dec 16:00 UTC
    assert runtime.tick() == 0
    assert notifier.deliver() == {"sent": 0, "retry": 0, "failed": 0}
    assert smtp.box.received == []

    clock.set("2026-12-07T16:00:00+00:00")
    assert runtime.tick() == 1
    assert notifier.deliver()["sent"] == 1
    [(rcpts, message)] = smtp.box.received
    assert rcpts == [alice]  # the assignee only, not the other candidate
    assert message["Subject"] == "Rappel : dossier CPOM-12"
    assert message.get_content_type() == "multipart/alternative"
    text = text_of(message)
    assert text.startswith("Bonjour Alice Martin,")
    assert "Le dossier CPOM-12 arrive à échéance dans 3 jours." in text
    assert f"{BASE}/taches/{task['id']}" in text
    assert "jeudi 10 décembre 2026 à 17 h 00" in text
    assert f'href="{BASE}/taches/{task["id"]}"' in html_of(message)
    [note] = [a for a in runtime.show(iid)["audit"] if a["action"] == "notification"]
    assert note["details"]["recipients"] == [{"login": "alice", "delivery": "pending"}]
    assert [a["details"]["to"] for a in actions(runtime, iid, "notification_sent")] == ["alice"]

    clock.set("2026-12-10T15:59:59+00:00")
    assert runtime.tick() == 0
    notifier.deliver()
    assert len(smtp.box.received) == 1

    clock.set("2026-12-10T16:00:00+00:00")
    assert runtime.tick() == 1
    assert notifier.deliver()["sent"] == 1
    [escalation] = smtp.box.to(chef)
    assert escalation["Subject"] == "Échéance dépassée : CPOM-12"
    assert f"{BASE}/instances/{iid}" in text_of(escalation)
    assert smtp.box.to(bob) == []
    # Reassigned to the managers: unassigned, visible to them, no longer to staff.
    [moved] = runtime.tasks(actor="chef")
    assert moved["id"] == task["id"] and moved["assignee"] is None and moved["candidate_groups"] == ["managers"]
    assert runtime.tasks(actor="bob") == [] and runtime.tasks(actor="alice") == []
    [reassigned] = actions(runtime, iid, "reassigned")
    assert reassigned["details"]["before"] == {"assignee": "alice", "candidate_groups": ["staff"]}
    assert reassigned["task_id"] == task["id"]
    runtime.complete(task["id"], actor="chef")
    assert runtime.show(iid)["state"] == "completed"


def test_bpmn_reminder_in_working_days(runtime, deploy, clock, smtp, notifier, person):
    alice = person("alice", "staff")
    body = "\n".join([
        '<bpmn:startEvent id="start"/>',
        user_task("t1", "Instruire", 'camunda:candidateGroups="staff" camunda:dueDate="${due}"'),
        '<bpmn:endEvent id="end"/>', chain("start", "t1", "end"),
        timer_boundary("rappel", "t1", "timeDate", "${days_before(due, 3, working=True)}", interrupting=False),
        service("notif", "notification", to_assignee_of="t1", subject="Rappel"), '<bpmn:endEvent id="e2"/>',
        chain("rappel", "notif", "e2")])
    deploy({"p.bpmn": definitions(body)})
    # Due Tuesday 29 Dec 2026 10:00 Paris; 3 working days before, skipping the weekend and
    # Christmas (Fri 25 Dec): Wed 23 Dec 10:00 Paris.
    iid = runtime.start("p", {"due": "2026-12-29T10:00:00+01:00"}, actor="alice")["instance_id"]
    clock.set("2026-12-23T08:59:59+00:00")
    runtime.tick()
    notifier.deliver()
    assert smtp.box.received == []
    clock.set("2026-12-23T09:00:00+00:00")
    assert runtime.tick() == 1
    notifier.deliver()
    assert [m["Subject"] for m in smtp.box.to(alice)] == ["Rappel"]  # unassigned: the candidates
    assert runtime.show(iid)["state"] == "waiting"


# -- the no-diagram shortcut: task properties --------------------------------------------------------
def _property_process(extra_props=""):
    props = ('<camunda:properties><camunda:property name="reminder_days" value="2 working"/>'
             '<camunda:property name="escalate_to" value="managers"/>' + extra_props + '</camunda:properties>')
    return definitions("\n".join([
        '<bpmn:startEvent id="start"/>',
        user_task("t1", "Rédiger l'arrêté", 'camunda:candidateGroups="staff" camunda:dueDate="${due}"', props),
        '<bpmn:endEvent id="end"/>', chain("start", "t1", "end")]))


def test_property_reminder_and_escalation_fire_once_at_their_instants(runtime, deploy, clock, smtp, notifier, person):
    alice = person("alice", "staff")
    bob = person("bob", "staff")
    chef = person("chef", "managers")
    deploy({"p.bpmn": _property_process('<camunda:property name="escalate_reassign" value="true"/>')})
    # Due date 2026-12-14 (a Monday): due by the end of that day = Tue 15 Dec 00:00 Paris.
    iid = runtime.start("p", {"due": "2026-12-14"}, actor="alice")["instance_id"]
    [task] = runtime.tasks(instance_id=iid)
    assert task["due_at"] == "2026-12-14T23:00:00+00:00"

    # 2 working days before Tuesday 00:00: Monday 14 and Friday 11 → Fri 11 Dec 00:00 Paris.
    clock.set("2026-12-10T22:59:59+00:00")
    assert notifier.run_jobs()["issued"] == 0
    assert smtp.box.received == []
    clock.set("2026-12-10T23:00:00+00:00")
    report = notifier.run_jobs()
    assert report["issued"] == 1 and report["sent"] == 2
    for address in (alice, bob):  # unassigned: every candidate
        [reminder] = smtp.box.to(address)
        assert reminder["Subject"] == "Rappel : « Rédiger l'arrêté » arrive à échéance le lundi 14 décembre 2026 " \
                                      "(fin de journée)"
        assert f"{BASE}/taches/{task['id']}" in text_of(reminder)
    clock.set("2026-12-11T05:00:00+00:00")
    assert notifier.run_jobs() == {"issued": 0, "digests": 0, "sent": 0, "retry": 0, "failed": 0}
    assert len(smtp.box.received) == 2  # once

    clock.set("2026-12-14T22:59:59+00:00")
    notifier.scan_deadlines()
    notifier.deliver()
    assert smtp.box.to(chef) == []
    clock.set("2026-12-14T23:00:00+00:00")
    assert notifier.scan_deadlines() == 1
    notifier.deliver()
    [escalation] = smtp.box.to(chef)
    assert escalation["Subject"] == "Échéance dépassée : « Rédiger l'arrêté »"
    assert "Elle est désormais confiée à : managers." in text_of(escalation)
    assert notifier.scan_deadlines() == 0
    [moved] = runtime.tasks(actor="chef")
    assert moved["id"] == task["id"] and runtime.tasks(actor="alice") == []
    with runtime.db.read() as s:
        assert set(s.scalars(select(TaskCandidate.name).where(TaskCandidate.task_id == task["id"],
                                                              TaskCandidate.kind == "group"))) == {"managers"}
    history = [a["action"] for a in runtime.show(iid)["audit"]]
    assert history.count("reminder") == 1 and history.count("escalation") == 1 and "reassigned" in history


def test_property_escalation_to_assignee_without_reassignment(runtime, deploy, clock, smtp, notifier, person):
    alice = person("alice", "staff")
    chef = person("chef", "managers")
    props = ('<camunda:properties><camunda:property name="escalate_to" value="assignee, managers"/>'
             '</camunda:properties>')
    deploy({"p.bpmn": definitions("\n".join([
        '<bpmn:startEvent id="start"/>',
        user_task("t1", "Signer", 'camunda:candidateGroups="staff" camunda:dueDate="P2D"', props),
        '<bpmn:endEvent id="end"/>', chain("start", "t1", "end")]))})
    iid = runtime.start("p", actor="alice")["instance_id"]
    [task] = runtime.tasks(instance_id=iid)
    runtime.claim(task["id"], "alice")
    clock.advance(days=2)
    assert notifier.scan_deadlines() == 1
    notifier.deliver()
    assert len(smtp.box.to(alice)) == 1 and len(smtp.box.to(chef)) == 1
    [still] = runtime.tasks(actor="alice")
    assert still["assignee"] == "alice" and still["candidate_groups"] == ["staff"]


def test_invalid_reminder_property_is_reported_once_in_history(runtime, deploy, clock, notifier, person):
    person("alice", "staff")
    props = '<camunda:properties><camunda:property name="reminder_days" value="trois jours"/></camunda:properties>'
    deploy({"p.bpmn": definitions("\n".join([
        '<bpmn:startEvent id="start"/>',
        user_task("t1", "Signer", 'camunda:candidateGroups="staff" camunda:dueDate="P10D"', props),
        '<bpmn:endEvent id="end"/>', chain("start", "t1", "end")]))})
    iid = runtime.start("p", actor="alice")["instance_id"]
    notifier.scan_deadlines()
    notifier.scan_deadlines()
    [error] = actions(runtime, iid, "notification_error")
    assert "t1" in error["details"]["message"] and "reminder_days" in error["details"]["message"]
    clock.advance(days=11)  # overdue, nothing to escalate: the task leaves the scan for good
    notifier.scan_deadlines()
    with runtime.db.read() as s:
        assert dict(s.execute(select(TaskNotice.kind, TaskNotice.status)).all()) == {
            "reminder": "invalid", "escalation": "none"}


# -- delivery: refusals, outages, retries, exactly once ------------------------------------------------
def _notify_process():
    return definitions("\n".join([
        '<bpmn:startEvent id="start"/>',
        service("notif", "notification", to_groups="staff", subject="Ouverture de la consultation",
                body="La consultation est ouverte."),
        user_task("t1", "Suivre", 'camunda:candidateGroups="staff" camunda:dueDate="P3D"'),
        '<bpmn:endEvent id="end"/>', chain("start", "notif", "t1", "end")]))


def test_refusing_then_stopped_server_then_recovery_loses_nothing_and_sends_once(runtime, deploy, clock, smtp,
                                                                                 notifier, person):
    alice, bob = person("alice", "staff"), person("bob", "staff")
    deploy({"p.bpmn": _notify_process()})
    smtp.box.refuse = "550 refus"
    iid = runtime.start("p", actor="alice")["instance_id"]
    assert runtime.show(iid)["state"] == "waiting"  # the state change never waits for mail

    assert notifier.deliver() == {"sent": 0, "retry": 2, "failed": 0}
    retries = actions(runtime, iid, "notification_retry")
    assert len(retries) == 2 and "550 refus" in retries[0]["details"]["error"]
    assert retries[0]["details"]["next_attempt_at"] == "2026-11-30T09:01:00+00:00"

    clock.advance(seconds=59)  # back-off: nothing is attempted before one minute
    assert notifier.deliver() == {"sent": 0, "retry": 0, "failed": 0}
    assert {r.attempts for r in outbox(runtime)} == {1}

    clock.advance(seconds=1)
    assert notifier.deliver()["retry"] == 2  # second refusal → five minutes
    smtp.stop()
    smtp.box.refuse = None
    clock.advance(minutes=5)
    assert notifier.deliver()["retry"] == 2  # server down → thirty minutes
    assert "injoignable" in outbox(runtime)[0].last_error
    smtp.start()
    clock.advance(minutes=29)
    assert notifier.deliver()["sent"] == 0
    clock.advance(minutes=1)
    assert notifier.deliver() == {"sent": 2, "retry": 0, "failed": 0}
    clock.advance(hours=3)
    assert notifier.deliver() == {"sent": 0, "retry": 0, "failed": 0}
    assert len(smtp.box.to(alice)) == 1 and len(smtp.box.to(bob)) == 1
    assert [(r.status, r.attempts) for r in outbox(runtime)] == [("sent", 4), ("sent", 4)]
    assert len(actions(runtime, iid, "notification_sent")) == 2


def test_gives_up_after_the_last_back_off(runtime, deploy, clock, smtp, notifier, person):
    person("alice", "staff")
    deploy({"p.bpmn": _notify_process()})
    smtp.box.refuse = "550 refus"
    iid = runtime.start("p", actor="alice")["instance_id"]
    attempts_at = []
    for delay in (0, 60, 300, 1800, 7200):
        clock.advance(seconds=delay)
        if notifier.deliver() != {"sent": 0, "retry": 0, "failed": 0}:
            attempts_at.append(delay)
    assert attempts_at == [0, 60, 300, 1800, 7200]
    [row] = outbox(runtime)
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 5, None)
    [failed] = actions(runtime, iid, "notification_failed")
    assert "550" in failed["details"]["error"]
    smtp.box.refuse = None
    clock.advance(days=1)
    assert notifier.deliver()["sent"] == 0 and smtp.box.received == []


def test_concurrent_deliveries_send_each_message_once(runtime, deploy, smtp, notifier, person):
    addresses = [person(f"agent{i}", "staff") for i in range(12)]
    deploy({"p.bpmn": _notify_process()})
    runtime.start("p", actor="agent0")
    reports, errors = [], []

    def work():
        try:
            reports.append(notifier.deliver(limit=5))
        except Exception as err:  # pragma: no cover - shown by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    while notifier.deliver(limit=5)["sent"]:
        pass
    assert sum(r["sent"] for r in reports) <= 12
    for address in addresses:
        assert len(smtp.box.to(address)) == 1
    assert {r.status for r in outbox(runtime)} == {"sent"}


def test_nothing_is_sent_without_smtp_host_and_messages_wait(runtime, deploy, smtp, person):
    person("alice", "staff")
    notifier = notifications.install(runtime, MailSettings.load({}, environ={}))
    deploy({"p.bpmn": _notify_process()})
    runtime.start("p", actor="alice")
    assert notifier.deliver() == {"sent": 0, "retry": 0, "failed": 0}
    assert [r.status for r in outbox(runtime)] == ["pending"]


def test_the_scheduler_delivers_the_outbox_and_the_digest(runtime, deploy, smtp, notifier, person):
    import time

    from arsflow.engine.time.scheduler import TimerScheduler
    alice = person("alice", "staff")
    deploy({"p.bpmn": _notify_process()})
    runtime.start("p", actor="alice")  # Monday 30 Nov, 10:00 Paris: past the digest hour
    scheduler = TimerScheduler(runtime)
    scheduler.start()
    try:
        deadline = time.monotonic() + 15
        while len(smtp.box.to(alice)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        scheduler.shutdown()
    assert sorted(m["Subject"] for m in smtp.box.to(alice)) == [
        "Ouverture de la consultation", "Récapitulatif du lundi 30 novembre 2026 : 1 à échéance cette semaine"]


# -- preferences ---------------------------------------------------------------------------------------
def test_preferences_immediate_digest_none_and_missing_address(runtime, deploy, clock, smtp, notifier, person):
    immediate = person("alice", "staff")
    digest_only = person("carol", "staff", preference="digest")
    nothing = person("dave", "staff", preference="none")
    person("erin", "staff", email=False)
    deploy({"p.bpmn": _notify_process()})
    iid = runtime.start("p", actor="alice")["instance_id"]
    notifier.deliver()
    assert [rcpts for rcpts, _ in smtp.box.received] == [[immediate]]
    [note] = [a for a in runtime.show(iid)["audit"] if a["action"] == "notification"]
    assert {r["login"]: r["delivery"] for r in note["details"]["recipients"]} == {
        "alice": "pending", "carol": "digest", "dave": "skipped", "erin": "skipped"}

    clock.set("2026-12-01T06:00:00+00:00")  # 7:00 Paris the next day
    assert queue_due_digests(runtime, notifier) == 2  # alice and carol; dave wants nothing, erin has no address
    notifier.deliver()
    [carol_digest] = smtp.box.to(digest_only)
    text = text_of(carol_digest)
    assert "Notifications du jour (1)" in text and "Ouverture de la consultation — La consultation est ouverte." in text
    [alice_digest] = smtp.box.to(immediate)[1:]
    assert "Notifications du jour" not in text_of(alice_digest)  # she had the email already
    assert smtp.box.to(nothing) == []
    clock.set("2026-12-02T06:00:00+00:00")
    queue_due_digests(runtime, notifier)
    notifier.deliver()
    assert "Notifications du jour" not in text_of(smtp.box.to(digest_only)[-1])  # told once


# -- the daily digest ----------------------------------------------------------------------------------
def _due_process():
    return definitions("\n".join([
        '<bpmn:startEvent id="start"/>',
        user_task("t1", "Instruire", 'camunda:candidateGroups="${groupe}" camunda:dueDate="${due}"',
                  '<camunda:properties><camunda:property name="subject" value="${dossier}"/></camunda:properties>'),
        '<bpmn:endEvent id="end"/>', chain("start", "t1", "end")]))


def test_daily_digest_lists_visible_tasks_at_the_hour_once(runtime, deploy, clock, smtp, notifier, person,
                                                           monkeypatch):
    monkeypatch.delenv("ARSFLOW_DIGEST_HOUR", raising=False)
    alice = person("alice", "staff", name="Alice Martin")
    bob = person("bob", "autres")
    erin = person("erin", "vide")
    deploy({"p.bpmn": _due_process()})
    clock.set("2026-11-25T09:00:00+00:00")
    cases = {"retard": ("staff", "2026-11-29T12:00:00+00:00"), "semaine": ("staff", "2026-12-02T12:00:00+00:00"),
             "dimanche": ("staff", "2026-12-06T22:30:00+00:00"),  # Sunday 23:30 Paris: this week
             "lundi": ("staff", "2026-12-06T23:30:00+00:00"),  # next Monday 00:30 Paris: not this week
             "plus-tard": ("staff", "2026-12-20T12:00:00+00:00"), "autre": ("autres", "2026-11-28T12:00:00+00:00")}
    ids = {}
    for dossier, (groupe, due) in cases.items():
        iid = runtime.start("p", {"groupe": groupe, "due": due, "dossier": dossier}, business_key=f"BK-{dossier}",
                            actor="alice")["instance_id"]
        ids[dossier] = runtime.tasks(instance_id=iid)[0]["id"]

    clock.set("2026-11-30T05:59:59+00:00")  # Monday 6:59:59 Paris
    assert queue_due_digests(runtime, notifier) == 0
    clock.set("2026-11-30T06:00:00+00:00")
    assert queue_due_digests(runtime, notifier) == 2
    notifier.deliver()
    [digest] = smtp.box.to(alice)
    assert digest["Subject"] == ("Récapitulatif du lundi 30 novembre 2026 : 1 tâche(s) en retard, "
                                 "2 à échéance cette semaine")
    text = text_of(digest)
    assert text.startswith("Bonjour Alice Martin,")
    overdue, week = text.split("Tâches en retard (1)")[1].split("Tâches à échéance cette semaine (2)")
    assert f"{BASE}/taches/{ids['retard']}" in overdue and "dossier BK-retard" in overdue
    assert "dimanche 29 novembre 2026 à 13 h 00" in overdue
    assert f"/taches/{ids['semaine']}" in week and f"/taches/{ids['dimanche']}" in week
    for absent in ("lundi", "plus-tard", "autre"):
        assert ids[absent] not in text
    assert "Instruire — retard" in html_of(digest)
    [bob_digest] = smtp.box.to(bob)
    assert ids["autre"] in text_of(bob_digest) and ids["retard"] not in text_of(bob_digest)
    assert smtp.box.to(erin) == []  # nothing to say: no email
    with runtime.db.read() as s:
        assert s.get(DigestRun, ("erin", "2026-11-30")).status == "empty"

    clock.set("2026-11-30T15:00:00+00:00")
    assert queue_due_digests(runtime, notifier) == 0  # once a day
    notifier.deliver()
    assert len(smtp.box.to(alice)) == 1


def test_digest_hour_is_configurable(runtime, clock, notifier, person, monkeypatch, deploy, smtp):
    person("alice", "staff")
    deploy({"p.bpmn": _due_process()})
    runtime.start("p", {"groupe": "staff", "due": "2026-12-01T12:00:00+00:00", "dossier": "x"}, actor="alice")
    monkeypatch.setenv("ARSFLOW_DIGEST_HOUR", "9")
    clock.set("2026-12-01T07:59:00+00:00")  # 8:59 Paris
    assert queue_due_digests(runtime, notifier) == 0
    clock.set("2026-12-01T08:00:00+00:00")
    assert queue_due_digests(runtime, notifier) == 1
    monkeypatch.setenv("ARSFLOW_DIGEST_HOUR", "25")
    with pytest.raises(InvalidInput, match="ARSFLOW_DIGEST_HOUR"):
        queue_due_digests(runtime, notifier)


def _consultation_process():
    script = ('avis = {b: {"status": "pending", "acquired_at": None} for b in bodies}')
    tacit = ('avis = {b: ({"status": "tacit", "acquired_at": deadline} if e["status"] == "pending" else e) '
             'for b, e in avis.items()}')
    return definitions("\n".join([
        '<bpmn:startEvent id="start"/>', script_task("ouvrir", script),
        user_task("t1", "Enregistrer les avis", 'camunda:candidateGroups="pole_democratie_sanitaire"'),
        timer_boundary("echeance", "t1", "timeDate", "${deadline}"), script_task("tacites", tacit),
        '<bpmn:endEvent id="end"/>', '<bpmn:endEvent id="end2"/>',
        chain("start", "ouvrir", "t1", "end"), chain("echeance", "tacites", "end2")]), pid="prs_consultation")


def test_digest_lists_tacit_avis_acquired_yesterday(runtime, deploy, clock, smtp, notifier, person):
    alice = person("alice", "pole_democratie_sanitaire")
    bob = person("bob", "autres")
    deploy({"prs.bpmn": _consultation_process()})
    clock.set("2026-11-20T09:00:00+00:00")
    bodies = ["CRSA", "Préfet de région"]
    hier = runtime.start("prs_consultation", {"bodies": bodies, "deadline": "2026-11-29T23:00:00+00:00"},
                         business_key="PRS-2027", actor="bob")["instance_id"]  # 30 Nov 00:00 Paris
    avant = runtime.start("prs_consultation", {"bodies": ["CDCA 75"], "deadline": "2026-11-28T23:00:00+00:00"},
                          business_key="PRS-ANCIEN", actor="bob")["instance_id"]  # 29 Nov 00:00 Paris
    clock.set("2026-11-28T23:00:00+00:00")
    assert runtime.tick() == 1
    clock.set("2026-11-29T23:00:00+00:00")
    assert runtime.tick() == 1
    assert runtime.show(hier)["variables"]["avis"]["CRSA"]["status"] == "tacit"

    clock.set("2026-12-01T06:00:00+00:00")  # Tuesday 7:00 Paris: yesterday is Monday 30 Nov
    assert queue_due_digests(runtime, notifier) == 2  # alice (her tasks' consultations), bob (initiator)
    notifier.deliver()
    [digest] = smtp.box.to(alice)
    text = text_of(digest)
    assert "Avis réputés acquis hier (2)" in text
    assert "CRSA — consultation n° %d, dossier PRS-2027 : avis tacite acquis le lundi 30 novembre 2026 à 0 h 00" \
        % hier in text
    assert "Préfet de région" in text and f"{BASE}/instances/{hier}" in text
    assert "CDCA 75" not in text and f"/instances/{avant}" not in text
    assert "2 avis réputé(s) acquis hier" in digest["Subject"]
    [initiator_digest] = smtp.box.to(bob)  # bob sees none of the tasks but started the consultation
    assert "Avis réputés acquis hier (2)" in text_of(initiator_digest)


# -- reassignment -----------------------------------------------------------------------------------------
def test_reassign_to_a_person_and_bad_inputs(runtime, deploy, smtp, notifier, person):
    person("alice", "staff")
    person("chef", "managers")
    body = "\n".join([
        '<bpmn:startEvent id="start"/>', '<bpmn:parallelGateway id="fork"/>',
        user_task("t1", "Instruire", 'camunda:candidateGroups="staff"'),
        service("donner", "reassign", task="t1", assignee="chef"),
        '<bpmn:endEvent id="end"/>', '<bpmn:endEvent id="end2"/>',
        chain("start", "fork", "t1", "end"), flow("fork", "donner"), flow("donner", "end2")])
    deploy({"p.bpmn": definitions(body)})
    iid = runtime.start("p", actor="alice")["instance_id"]
    [task] = runtime.tasks(actor="chef")
    assert task["assignee"] == "chef" and task["candidate_groups"] == ["staff"]

    broken = definitions('<bpmn:startEvent id="s"/>' + service("donner", "reassign", assignee="chef")
                         + '<bpmn:endEvent id="e"/>' + chain("s", "donner", "e"), pid="q")
    deploy({"q.bpmn": broken})
    result = runtime.start("q", actor="alice")
    assert result["state"] == "incident"
    incident = runtime.show(result["instance_id"])["incident"]
    assert incident["element_id"] == "donner" and "task" in incident["message"]

    unknown = definitions("\n".join([
        '<bpmn:startEvent id="start"/>', '<bpmn:parallelGateway id="fork"/>',
        user_task("t1", "Instruire", 'camunda:candidateGroups="staff"'),
        service("donner", "reassign", task="t1", assignee="personne"),
        '<bpmn:endEvent id="end"/>', '<bpmn:endEvent id="end2"/>',
        chain("start", "fork", "t1", "end"), flow("fork", "donner"), flow("donner", "end2")]), pid="u")
    deploy({"u.bpmn": unknown})
    uid = runtime.start("u", actor="alice")["instance_id"]
    [effect] = actions(runtime, uid, "reassign")
    assert "personne" in effect["details"]["error"]
    assert runtime.tasks(instance_id=uid)[0]["assignee"] is None
    assert iid


# -- command line ------------------------------------------------------------------------------------------
def test_cli_preference_and_notify_send(runtime, deploy, smtp, monkeypatch, capsys):
    from arsflow.cli.main import main
    url = runtime.db.url
    monkeypatch.setenv("ARSFLOW_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ARSFLOW_SMTP_PORT", str(smtp.port))
    monkeypatch.setenv("ARSFLOW_BASE_URL", BASE)
    assert main(["users", "add", "alice", "--group", "staff", "--email", "alice@ars.sante.fr", "--db", url]) == 0
    assert main(["users", "add", "carol", "--group", "staff", "--email", "carol@ars.sante.fr",
                 "--notifications", "digest", "--db", url]) == 0
    assert "notifications : digest" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["users", "add", "carol", "--notifications", "parfois", "--db", url])
    deploy({"p.bpmn": _notify_process()})
    assert main(["start", "p", "--as", "alice", "--db", url, "--now", "2026-11-30T09:00:00+00:00"]) == 0
    assert main(["notify", "send", "--db", url, "--now", "2026-11-30T09:00:05+00:00"]) == 0
    assert "1 courriel(s) envoyé(s)" in capsys.readouterr().out
    assert [rcpts for rcpts, _ in smtp.box.received] == [["alice@ars.sante.fr"]]
    assert main(["digest", "--db", url, "--now", "2026-12-01T06:30:00+00:00"]) == 0
    assert len(smtp.box.to("carol@ars.sante.fr")) == 1


def test_migration_matches_the_notification_models(database):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from arsflow.engine.models import Base
    mine = {"notifications", "notification_outbox", "task_notices", "digest_runs"}
    with database.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    related = [d for d in diffs if any(name in repr(d) for name in mine | {"notification_preference"})]
    assert related == []
    with database.engine.connect() as conn:
        from sqlalchemy import inspect
        assert mine <= set(inspect(conn).get_table_names())
