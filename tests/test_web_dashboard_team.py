"""The managers' Échéances page and calendar feed (#13): every running délai from its first
day (no 30-day horizon), days late for each overdue task with who holds it, and a team feed
(`?equipe=1`) for managers only."""
from __future__ import annotations

import re
from arsflow.engine.models import User
from tests.test_web import client_for, env  # noqa: F401  (fixtures)


def test_every_running_delai_shows_from_day_one(client_for, env):
    rt = env["rt"]
    rt.start("Process_Delai", {"territory": "75"}, business_key="DELAI-LOIN", actor="alice")
    rt.clock.advance(days=-40)  # the délai ends in more than the dashboard's 30 days
    page = client_for("carol").get("/echeances").text
    pending = re.search(r'id="minuteries-a-venir">(.*?)</table>', page, re.S).group(1)
    assert "DELAI-LOIN" in pending and "Avis réputé acquis" in pending
    assert "1 minuterie en attente" in page


def test_overdue_tasks_say_how_many_days_late_and_who_holds_them(client_for, env):
    rt = env["rt"]
    rt.claim(env["task_id"], "alice")
    rt.clock.advance(days=14)
    page = client_for("carol").get("/echeances").text
    overdue = re.search(r'id="taches-en-retard">(.*?)</table>', page, re.S).group(1)
    assert "Jours de retard" in overdue
    days = int(re.search(r'<td class="arsflow-late">(\d+) jours?</td>', overdue).group(1))
    assert days >= 1
    assert "alice" in overdue  # the holder (display name, or the login when none is set)
    labels = re.findall(r'<span class="arsflow-bars__label">([^<]*)</span>', page)
    assert "Analyse de dossier" in labels and not any(label.endswith("…") for label in labels)


def test_team_calendar_feed_is_for_managers(client_for, env):
    rt = env["rt"]
    rt.start("Process_Delai", {"territory": "75"}, business_key="DELAI-EQUIPE", actor="alice")
    with rt.db.read() as s:
        carol = s.get(User, "carol").calendar_token
        alice = s.get(User, "alice").calendar_token
    own = client_for().get(f"/calendrier/{carol}.ics").text
    assert "DOS-2027-001" not in own  # carol's own tasks: none
    team = client_for().get(f"/calendrier/{carol}.ics?equipe=1")
    assert team.status_code == 200
    body = team.text.replace("\r\n ", "")
    assert "SUMMARY:Échéance : Rédiger l'analyse — DOS-2027-001" in body
    assert "À prendre en charge par : " in body and "Objet : Analyse ARS du dossier" in body
    assert "SUMMARY:Délai : Avis réputé acquis — DELAI-EQUIPE" in body
    assert "échéances de l'équipe" in body
    assert client_for().get(f"/calendrier/{alice}.ics?equipe=1").status_code == 403
    account = client_for("carol").get("/compte").text
    assert f"/calendrier/{carol}.ics?equipe=1" in account
    assert "?equipe=1" not in client_for("alice").get("/compte").text


def test_running_delais_are_read_in_due_order_and_grouped_past_a_read(client_for, env, monkeypatch):
    """The list walks the timers in due order a few rows at a time (not a GROUP BY over every
    waiting timer): a délai shared by seven bodies stays one row ×7 even when it straddles
    two reads, and the count of waiting timers stops at the cap."""
    import uuid

    from arsflow.engine.models import Timer
    from arsflow.web import dashboard
    from sqlalchemy import insert, select
    rt = env["rt"]
    first = rt.start("Process_Delai", {"territory": "75"}, business_key="DELAI-SEPT", actor="alice")["instance_id"]
    rt.clock.advance(days=1)
    rt.start("Process_Delai", {"territory": "75"}, business_key="DELAI-APRES", actor="alice")
    with rt.db.transaction() as s:
        timer = s.execute(select(Timer.__table__).where(Timer.instance_id == first)).first()._mapping
        s.execute(insert(Timer.__table__), [dict(timer, id=str(uuid.uuid4())) for _ in range(6)])
    monkeypatch.setattr(dashboard, "TIMER_LIMIT", 1)  # reads of 4 rows, then 16: the seven straddle the first
    app = client_for("carol")
    page = app.get("/echeances").text
    pending = re.search(r'id="minuteries-a-venir">(.*?)</table>', page, re.S).group(1)
    rows = pending.split("<tbody>")[1].split("<tr>")[1:]
    assert len(rows) == 1 and "DELAI-SEPT" in rows[0] and "× 7" in rows[0]
    monkeypatch.setattr(dashboard, "TIMER_LIMIT", 2)
    rows = re.search(r'id="minuteries-a-venir">(.*?)</table>', app.get("/echeances").text, re.S).group(1)
    rows = rows.split("<tbody>")[1].split("<tr>")[1:]
    assert len(rows) == 2 and "DELAI-SEPT" in rows[0] and "DELAI-APRES" in rows[1]
    assert "8 minuteries en attente" in page
    app.application.config["ARSFLOW_COUNT_CAP"] = 5
    assert "5+ minuteries en attente" in app.get("/echeances").text
