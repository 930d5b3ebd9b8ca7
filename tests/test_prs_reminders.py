"""PRS: no reminder for an avis already deemed given. When the clock has passed the end of
the consultation (server stopped, timers late), the reminder timer and the legal deadline
fire in the same sweep: the avis becomes tacit and no « Relance » goes out for it."""
from __future__ import annotations

from tests.test_procedure_prs import BODIES, avis, prs, start  # noqa: F401  (fixture)


def relances(rt, iid) -> list[str]:
    return [a["details"].get("subject", "") for a in rt.show(iid)["audit"]
            if a["action"] == "notification" and a["details"].get("subject", "").startswith("Relance")]


def test_reminders_go_out_before_the_deadline(prs, clock):
    iid = start(prs, clock, reminder_days=15)
    clock.set("2027-02-16T09:00:00+00:00")  # 15 days before the 28 February 2027 deadline, or so
    prs.tick()
    sent = relances(prs, iid)
    assert len(sent) == len(BODIES) + 1, sent  # every body, the conseil de surveillance included
    assert all(entry["status"] == "pending" for entry in avis(prs, iid).values())


def test_no_reminder_once_the_avis_is_tacit(prs, clock):
    iid = start(prs, clock, reminder_days=15)
    clock.set("2027-03-05T09:00:00+00:00")  # the whole consultation went by unwatched
    prs.tick()
    registry = avis(prs, iid)
    assert registry["CRSA"]["status"] == "tacit"
    assert relances(prs, iid) == []
    shown = prs.show(iid)
    assert shown["incident"] is None
    assert any(a.get("element_id") == "EndEvent_relance_sans_objet" for a in shown["audit"])
