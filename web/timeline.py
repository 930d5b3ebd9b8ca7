"""An instance's history (`rt.show()["audit"]`) as French sentences for staff: the names of
steps and of people, never element ids, ISO instants or JSON. Engine plumbing (gateways,
start events, the step a person's completion already says) is left out; `arsflow show
--json` keeps everything."""
from __future__ import annotations

from sqlalchemy import select

from arsflow.engine.models import User

# Activity types told as "« name » effectué(e)" when the engine ran them.
_STEPS = {"scriptTask", "serviceTask", "businessRuleTask", "sendTask", "task", "manualTask"}
_CONTAINERS = {"subProcess", "callActivity", "transaction", "adHocSubProcess"}
_EVENTS = {"noneEndEvent", "terminateEndEvent", "messageEndEvent", "errorEndEvent", "signalEndEvent",
           "escalationEndEvent", "intermediateMessageCatch", "intermediateSignalCatch", "intermediateCatchEvent",
           "intermediateNoneThrowEvent", "intermediateMessageThrowEvent", "intermediateThrowEvent",
           "receiveTask", "boundaryMessage", "boundaryError", "boundaryEscalation", "boundarySignal"}


def display_names(session, logins) -> dict:
    logins = sorted({login for login in logins if login})
    if not logins:
        return {}
    rows = session.execute(select(User.login, User.display_name).where(User.login.in_(logins)))
    return {login: name or login for login, name in rows}


def readable(entries: list[dict], people: dict, subjects: dict | None = None) -> list[dict]:
    """[{"at", "text", "detail"}] in order; `people`: login -> display name; `subjects`:
    task id -> what the task is about (its `subject` property), to tell tasks apart."""
    subjects = subjects or {}
    out = []
    for entry in entries:
        text = _sentence(entry, lambda login: people.get(login, login) if login else None,
                         subjects.get(entry.get("task_id")))
        if text:
            out.append({"at": entry["at"], "text": text, "detail": _detail(entry)})
    return out


def _quoted(entry, subject=None) -> str:
    name = entry.get("element_name") or "étape sans nom"
    return f"« {name} »" + (f" ({subject})" if subject else "")


def _sentence(entry: dict, person, subject) -> str | None:
    action, who = entry["action"], person(entry.get("actor"))
    by = f" par {who}" if who else ""
    kind = entry.get("activity_type")
    details = entry.get("details") or {}
    if action == "activity_started":
        if kind == "userTask":
            assignee = person(details.get("assignee"))
            return f"Tâche {_quoted(entry, subject)} créée" + (f", confiée à {assignee}" if assignee else "")
        if kind in _CONTAINERS and entry.get("element_name"):
            return f"Début de {_quoted(entry)}"
        return None
    if action == "activity_completed":
        if kind in _STEPS:
            return f"{_quoted(entry)} effectué par le moteur"
        if kind in _CONTAINERS and entry.get("element_name"):
            return f"Fin de {_quoted(entry)}"
        if kind in _EVENTS and entry.get("element_name"):
            return f"Étape atteinte : {_quoted(entry)}"
        return None
    if action == "activity_cancelled":
        if kind in _CONTAINERS and entry.get("element_name"):
            return f"{_quoted(entry)} interrompu"
        return None  # a cancelled task is told by "task_cancelled"
    return {
        "started": f"Procédure démarrée{by}",
        "claimed": f"Tâche {_quoted(entry, subject)} prise en charge{by}",
        "unclaimed": f"Tâche {_quoted(entry, subject)} remise à la disposition du groupe{by}",
        "completed": f"Tâche {_quoted(entry, subject)} terminée{by}",
        "task_cancelled": f"Tâche {_quoted(entry, subject)} annulée (le processus a continué sans elle)",
        "timer_fired": f"Échéance atteinte : {_quoted(entry)}",
        "message": f"Message « {details.get('message', '')} » reçu",
        "terminated": f"Procédure arrêtée{by}",
        "ended": "Procédure terminée",
        "retried": f"Procédure relancée après incident{by}",
        "incident": f"Incident sur {_quoted(entry)}" if entry.get("element_name") else "Incident",
        "deadline_suspended": f"Délais suspendus{by}",
        "deadline_resumed": f"Délais repris{by}",
        "notification": f"Notification envoyée : {details.get('subject') or _quoted(entry)}",
        "reminder": f"Relance envoyée pour la tâche {_quoted(entry, subject)}",
        "escalation": f"Échéance dépassée, signalée pour la tâche {_quoted(entry, subject)}",
        "reassigned": f"Tâche {_quoted(entry, subject)} réattribuée",
        "external_task_completed": f"{_quoted(entry)} effectué par un service externe",
        "external_task_failed": f"Échec du service externe sur {_quoted(entry)}",
    }.get(action)


def _detail(entry: dict) -> str | None:
    details = entry.get("details") or {}
    if entry.get("hidden"):
        return "Données d'une tâche d'un autre service"
    if entry["action"] == "terminated" and details.get("reason"):
        return f"Motif : {details['reason']}"
    if entry["action"] == "incident" and details.get("message"):
        return str(details["message"])
    if entry["action"] == "deadline_resumed" and details.get("explanation"):
        return str(details["explanation"])
    return None
