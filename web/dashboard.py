"""Échéances (managers group): overdue tasks, deadlines of the coming days, tacit avis
acquired recently, by procedure and territory; and the per-user iCalendar feed."""
from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from types import SimpleNamespace

from arsflow.engine.models import HumanTask, Instance, Timer, User
from arsflow.engine.people import due_counts, task_lists
from arsflow.web import get_runtime, queries
from arsflow.web.formatting import as_datetime, days_late, fr_due
from arsflow.web.ical import Event, calendar
from arsflow.web.people import group_names, person
from arsflow.web.queries import reading
from arsflow.web.security import group_required, require_login
from flask import Blueprint, Response, abort, current_app, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import defer

bp = Blueprint("dashboard", __name__)

LIST_LIMIT = 50
TIMER_LIMIT = 50  # nearest délais shown, as many as the task lists (the count says how many run)
FEED_LIMIT = 500


@bp.route("/echeances")
@group_required("managers")
def deadlines():
    rt = get_runtime()
    now = rt.now()
    days = current_app.config["ARSFLOW_DASHBOARD_DAYS"]
    horizon = now + timedelta(days=days)
    with reading(rt) as s:
        names = queries.process_names(s)
        overdue_filter = (HumanTask.state == "open", HumanTask.due_at <= now)
        upcoming_filter = (HumanTask.state == "open", HumanTask.due_at > now, HumanTask.due_at <= horizon)
        grouped = defaultdict(lambda: {"overdue": 0, "upcoming": 0, "tacit": 0})
        # Totals summed over hours (engine.people.due_counts), not counted task by task.
        for which, (after, until) in (("overdue", (None, now)), ("upcoming", (now, horizon))):
            for (key, territory), count in due_counts.window(s, after, until).items():
                grouped[(key, territory or "—")][which] += count
        overdue_tasks = _task_rows(s, overdue_filter, ascending=True)
        upcoming_tasks = _task_rows(s, upcoming_filter, ascending=True)
        timers = _running_timers(s)
        timer_count = _capped_timer_count(s, current_app.config["ARSFLOW_COUNT_CAP"])
        tacit = _tacit_avis(s, now - timedelta(days=days), now)
    for item in tacit:
        grouped[(item["instance"].process_key, item["instance"].territory or "—")]["tacit"] += 1
    table = [{"process_key": k, "name": names.get(k, k), "territory": t, **v}
             for (k, t), v in sorted(grouped.items(), key=lambda kv: (kv[0][0], kv[0][1]))]
    by_procedure = _series(table, "process_key", names)
    by_territory = _series(table, "territory", {})
    return render_template("dashboard.html", now=now, days=days, table=table, by_procedure=by_procedure,
                           by_territory=by_territory, overdue_tasks=overdue_tasks,
                           upcoming_tasks=upcoming_tasks, timers=timers, timer_count=timer_count, tacit=tacit,
                           names=names, late={task.id: days_late(task.due_at, now) for task, _ in overdue_tasks},
                           totals={k: sum(r[k] for r in table) for k in ("overdue", "upcoming", "tacit")},
                           timer_limit=TIMER_LIMIT)


# Every running délai, from its first day: no horizon (a 3-month consultation shows from its
# publication, not only in its last 30 days).
_RUNNING = (Timer.status == "waiting", Timer.instance_id.is_not(None),
            Instance.state.not_in(("completed", "terminated")))
_TIMERS = (select(Timer.name, Timer.element_id, Timer.due_at, Instance.id, Instance.process_key,
                  Instance.business_key, Instance.territory, Instance.created_at)
           .join(Instance, Instance.id == Timer.instance_id).where(*_RUNNING)
           .order_by(Timer.due_at, Timer.instance_id, Timer.element_id))  # the index's order: no sort


def _running_timers(session) -> list[SimpleNamespace]:
    """The nearest TIMER_LIMIT délais, one row per instance, délai and end (the same délai for
    seven bodies is one row, ×7). Read in due order along the timers' (status, due_at) index
    and grouped as they come, so the page reads a few hundred rows whatever the number of
    waiting timers (a GROUP BY over all of them grew with the instances: 650,000 at 100k)."""
    limit = TIMER_LIMIT * 4
    while True:
        rows = session.execute(_TIMERS.limit(limit)).all()
        groups: list[SimpleNamespace] = []
        for row in rows:
            last = groups[-1] if groups else None
            if last is not None and (last.name, last.element_id, last.due_at, last.id) == (
                    row.name, row.element_id, row.due_at, row.id):
                last.count += 1
            else:
                groups.append(SimpleNamespace(**row._mapping, count=1))
        if len(rows) < limit:
            return groups[:TIMER_LIMIT]
        groups.pop()  # the last group may go on past the rows read
        if len(groups) >= TIMER_LIMIT:
            return groups[:TIMER_LIMIT]
        limit *= 4


def _capped_timer_count(session, cap: int) -> tuple[int, bool]:
    """How many timers wait, counted up to `cap` (the label then says "1 000+")."""
    inner = (select(Timer.id).join(Instance, Instance.id == Timer.instance_id).where(*_RUNNING)
             .limit(cap + 1).subquery())
    n = session.scalar(select(func.count()).select_from(inner))
    return min(n, cap), n > cap


_TASK_COLUMNS = (HumanTask.id, HumanTask.name, HumanTask.process_key, HumanTask.assignee,
                 HumanTask.candidate_groups, HumanTask.due_at)
_INSTANCE_COLUMNS = (Instance.id, Instance.business_key, Instance.territory)


def _task_rows(session, where, ascending: bool) -> list[tuple[SimpleNamespace, SimpleNamespace]]:
    """(task, instance) pairs with the columns the page shows: not the instances' variables
    and projection, whose JSON (hundreds of KB for a consultation of 33 bodies) the page
    would parse for nothing."""
    order = HumanTask.due_at.asc() if ascending else HumanTask.due_at.desc()
    rows = session.execute(select(*_TASK_COLUMNS, *_INSTANCE_COLUMNS)
                           .join(Instance, Instance.id == HumanTask.instance_id)
                           .where(*where).order_by(order, HumanTask.id).limit(LIST_LIMIT)).all()
    split = len(_TASK_COLUMNS)
    return [(SimpleNamespace(**{c.key: v for c, v in zip(_TASK_COLUMNS, row[:split])}),
             SimpleNamespace(**{c.key: v for c, v in zip(_INSTANCE_COLUMNS, row[split:])})) for row in rows]


def _series(table: list[dict], key: str, names: dict) -> list[dict]:
    """Rows for the bar chart, with bar widths in percent of the largest total."""
    sums = defaultdict(lambda: {"overdue": 0, "upcoming": 0, "tacit": 0})
    for row in table:
        for which in ("overdue", "upcoming", "tacit"):
            sums[row[key]][which] += row[which]
    peak = max([v["overdue"] + v["upcoming"] + v["tacit"] for v in sums.values()] or [0]) or 1
    series = []
    for label, values in sorted(sums.items(), key=lambda kv: -(kv[1]["overdue"] + kv[1]["upcoming"])):
        series.append({"label": names.get(label, label), **values,
                       "w_overdue": 100 * values["overdue"] / peak,
                       "w_upcoming": 100 * values["upcoming"] / peak,
                       "w_tacit": 100 * values["tacit"] / peak})
    return series


def _tacit_avis(session, since, now) -> list[dict]:
    """Avis deemed given (`variables["avis"][body]["status"] == "tacit"`) since `since`, among
    the latest instances of those procedures: their variables only, never their workflow
    JSON (which made this page read ~100 MB per request at 100,000 instances)."""
    keys = tuple(current_app.config["ARSFLOW_TACIT_PROCESSES"])
    if not keys:
        return []
    # The database reads the variables and hands back only their `avis`, and only where one
    # is tacit: parsing every instance's whole variables here was most of the page's time.
    avis_text = Instance.variables["avis"].as_string()
    latest = (select(Instance.id).where(Instance.process_key.in_(keys))
              .order_by(Instance.id.desc()).limit(2000).subquery())
    rows = session.execute(select(Instance.id, Instance.process_key, Instance.territory, Instance.business_key,
                                  Instance.variables["avis"].label("avis"))
                           .where(Instance.id.in_(select(latest.c.id)), avis_text.like('%"tacit"%'))).all()
    found = []
    for instance in rows:
        avis = instance.avis
        if not isinstance(avis, dict):
            continue
        for body, entry in avis.items():
            if not isinstance(entry, dict) or entry.get("status") != "tacit":
                continue
            acquired = as_datetime(entry.get("acquired_at"))
            if acquired is None or not (since <= acquired <= now):
                continue
            found.append({"instance": instance, "body": entry.get("label") or body, "acquired_at": acquired})
    found.sort(key=lambda item: item["acquired_at"], reverse=True)
    return found


@bp.route("/calendrier/<token>.ics")
def calendar_feed(token: str):
    """A user's deadlines (assigned to them, or claimable by their groups); with `?equipe=1`,
    a manager's feed covers the team's: every open dated task and every running délai, as
    on the Échéances page. The secret URL is the only credential (calendar clients cannot
    log in)."""
    rt = get_runtime()
    if len(token) < 16 or len(token) > 64:
        abort(404)
    team = request.args.get("equipe") == "1"
    with reading(rt) as s:
        user = s.scalars(select(User).where(User.calendar_token == token, User.active)).first()
        if user is None:
            abort(404)
        login = user.login
        who = rt.actor(s, login)
        if team:
            if rt.settings.managers_group not in who.groups:
                abort(403, description="Le calendrier de l'équipe est réservé au groupe « managers ».")
            tasks = s.scalars(select(HumanTask).where(HumanTask.state == "open", HumanTask.due_at.is_not(None))
                              .order_by(HumanTask.due_at, HumanTask.id).limit(FEED_LIMIT)).all()
            timers = s.execute(select(Timer, Instance).join(Instance, Instance.id == Timer.instance_id)
                               .where(Timer.status == "waiting", Instance.state.not_in(("completed", "terminated")))
                               .options(defer(Instance.workflow))
                               .order_by(Timer.due_at, Timer.id).limit(FEED_LIMIT)).all()
        else:
            listing = task_lists.task_list(login, who.groups, scope="all")
            tasks = task_lists.section(s, listing, dated=True, ascending=True, cursor=None, limit=FEED_LIMIT)
            timers = []
        instances = queries.instances_by_id(s, [t.instance_id for t in tasks])
        names = queries.process_names(s)
    events = []
    for task in tasks:
        instance = instances.get(task.instance_id)
        business_key = instance.business_key if instance else None
        procedure = names.get(task.process_key, task.process_key)
        subject = (task.properties or {}).get("subject") if isinstance(task.properties, dict) else None
        summary = f"Échéance : {task.name}" + (f" — {business_key}" if business_key else "")
        if not team:
            holder = "À traiter par vous" if task.assignee == login else "À prendre en charge par votre groupe"
        elif task.assignee:
            holder = f"Prise en charge par : {person(task.assignee)}"
        else:
            holder = f"À prendre en charge par : {group_names(task.candidate_groups)}"
        description = "\n".join(filter(None, [
            f"Objet : {subject}" if subject else None,
            f"Procédure : {procedure}",
            f"Dossier : {business_key}" if business_key else None,
            f"Échéance : {fr_due(task.due_at)}",
            holder,
        ]))
        events.append(Event(uid=task.id, start=task.due_at - timedelta(minutes=30), end=task.due_at,
                            summary=summary, description=description,
                            url=url_for("inbox.task", task_id=task.id, _external=True), categories=procedure))
    for timer, instance in timers:
        procedure = names.get(instance.process_key, instance.process_key)
        events.append(Event(
            uid=f"delai-{timer.id}", start=timer.due_at - timedelta(minutes=30), end=timer.due_at,
            summary=f"Délai : {timer.name or timer.element_id}"
                    + (f" — {instance.business_key}" if instance.business_key else ""),
            description="\n".join(filter(None, [f"Procédure : {procedure}",
                                                 f"Dossier : {instance.business_key}" if instance.business_key else None,
                                                 f"Fin du délai : {fr_due(timer.due_at)}"])),
            url=url_for("instances.show", instance_id=instance.id, _external=True), categories=procedure))
    owner = user.display_name or login
    body = calendar(events, name=f"arsflow — échéances de l'équipe de {owner}" if team
                    else f"arsflow — échéances de {owner}", stamp=rt.now())
    return Response(body, mimetype="text/calendar", headers={
        "Content-Disposition": 'inline; filename="echeances.ics"',
        "Cache-Control": "private, max-age=300",
        "Referrer-Policy": "no-referrer",
    })


@bp.before_request
def _login_except_feed():
    if request.endpoint == "dashboard.calendar_feed":
        return None
    return require_login()
