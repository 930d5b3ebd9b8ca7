"""The correspondents' portal, engine side: invitations and filings.

A `document` service task with `portal_task` sends the body it writes to a personal link:
`itsdangerous`-signed (ARSFLOW_SECRET_KEY, the web app's secret; else a key kept beside the
documents), naming one invitation, i.e. one body and one user task of one instance, valid until
the legal deadline. Filing records the server's instant as `received_on`, keeps the files,
completes the ARS-side task and queues the acknowledgement — all in one transaction.
"""
from __future__ import annotations

import os
import secrets
from datetime import datetime

from arsflow.engine.errors import ArsflowError, Conflict, InvalidInput
from arsflow.engine.models import HumanTask, Instance, OutboxMessage, PortalInvitation, ProcessDefinition
from arsflow.engine.time.durations import parse_instant
from sqlalchemy import insert, select, update

SALT = "arsflow-portal"
SENS = {"favorable": "Favorable", "reserve": "Favorable avec réserves", "defavorable": "Défavorable"}


class PortalRefusal(ArsflowError):
    """Why a link cannot be used: `reason` is invalid|expired|filed|closed (the page to show)."""

    def __init__(self, reason: str, message: str, **details):
        super().__init__(message, **details)
        self.reason = reason


def secret(settings) -> str:
    if settings.secret_key:
        return settings.secret_key
    path = settings.documents_path() / ".portal-key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip()


def _serializer(settings):
    from itsdangerous import URLSafeSerializer
    return URLSafeSerializer(secret(settings), salt=SALT)


def make_token(settings, invitation: dict) -> str:
    return _serializer(settings).dumps({"v": invitation["id"], "i": invitation["instance_id"],
                                        "b": invitation["body"], "e": invitation["element_id"]})


def read_token(settings, token: str) -> dict:
    from itsdangerous import BadSignature
    try:
        payload = _serializer(settings).loads(token)
    except BadSignature:
        raise PortalRefusal("invalid", "Ce lien n'est pas valide : il a été modifié ou recopié incomplètement.") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("v"), int):
        raise PortalRefusal("invalid", "Ce lien n'est pas valide.")
    return payload


def invitation_for(session, settings, token: str) -> PortalInvitation:
    payload = read_token(settings, token)
    row = session.get(PortalInvitation, payload["v"])
    if row is None or (row.instance_id, row.body, row.element_id) != (payload["i"], payload["b"], payload["e"]):
        raise PortalRefusal("invalid", "Ce lien n'est pas valide.")
    return row


def open_task(session, invitation: PortalInvitation) -> HumanTask | None:
    rows = session.scalars(select(HumanTask).where(
        HumanTask.instance_id == invitation.instance_id, HumanTask.element_id == invitation.element_id,
        HumanTask.state == "open").order_by(HumanTask.created_at, HumanTask.id)).all()
    mine = [t for t in rows if (t.properties or {}).get("subject") == invitation.body]
    return mine[0] if mine else (rows[0] if len(rows) == 1 and not (rows[0].properties or {}).get("subject") else None)


def status(session, invitation: PortalInvitation, now: datetime) -> str:
    """open | filed | expired | closed (the ARS recorded the avis otherwise, or the procedure ended)."""
    if invitation.filed_at is not None:
        return "filed"
    if now >= invitation.expires_at:
        return "expired"
    return "open" if open_task(session, invitation) is not None else "closed"


def invite(runtime, session, instance: Instance, variables: dict, document_id: int, effect: dict, now) -> None:
    """An invitation row and the email carrying its link (the `document` topic's effect)."""
    from arsflow.engine.people.mailer import render_notification
    body = str(variables.get("correspondent") or variables.get("body") or "").strip()
    expires = variables.get("portal_expires")
    try:
        expires_at = parse_instant(expires) if isinstance(expires, str) else expires
    except Exception:
        expires_at = None
    if not body or not isinstance(expires_at, datetime):
        effect["portal_error"] = ("paramètres « correspondent » (organisme) et « portal_expires » (instant "
                                  "d'échéance) requis pour inviter au portail")
        return
    email = str(variables.get("portal_email") or "").strip() or None
    values = {"instance_id": instance.id, "element_id": str(variables["portal_task"]), "body": body[:255],
              "email": email, "expires_at": expires_at, "created_at": now, "filed_at": None,
              "letter_document_id": document_id,
              "receipt_template": str(variables.get("portal_receipt_template") or "").strip() or None}
    values["id"] = session.execute(insert(PortalInvitation).values(**values).returning(PortalInvitation.id)).scalar_one()
    mail = runtime.notifier.mail
    link = f"{mail.base_url}/portail/{make_token(runtime.settings, values)}"
    effect.update(invitation_id=values["id"], portal_email=email)
    if not email:
        effect["portal_error"] = "aucune adresse électronique pour cet organisme : lien non envoyé"
        return
    from arsflow.engine.people.mailer import fr_due
    definition = session.get(ProcessDefinition, instance.definition_id)
    procedure = definition.name or instance.process_key
    subject = f"Demande d'avis — {procedure}"
    text, html_body = render_notification(
        name=None, subject=subject, link=link, link_label="Déposer votre avis",
        body=(f"L'agence régionale de santé sollicite l'avis de : {body}. Le courrier de saisine et le "
              f"formulaire de dépôt de votre avis sont sur la page personnelle ci-dessous, sans compte à créer. "
              f"Ce lien vous est propre : ne le transmettez pas."),
        facts=[("Procédure", procedure), ("Dossier", instance.business_key or ""),
               ("Date limite", fr_due(expires_at, runtime.settings.tzinfo))])
    _queue_email(session, instance, body, email, subject, text, html_body, now)


def _queue_email(session, instance, body, email, subject, text, html_body, now) -> None:
    session.execute(insert(OutboxMessage).values(
        notification_id=None, instance_id=instance.id, login=f"portail:{body}"[:128], email=email,
        status="pending", reason=None, subject=subject, text_body=text, html_body=html_body, attempts=0,
        next_attempt_at=now, created_at=now))


def file_avis(runtime, token: str, *, sens: str, comment: str | None, files: list[tuple[str, bytes]]) -> dict:
    """The body files its avis: checks, then one transaction that marks the invitation filed,
    keeps the files, completes the ARS task with `received_on` = the server's day, writes the
    acknowledgement (document from `portal_receipt_template` when deployed, and email)."""
    if sens not in SENS:
        raise InvalidInput("Choisissez le sens de l'avis (favorable, favorable avec réserves ou défavorable).",
                           field="sens")
    comment = (comment or "").strip()[:4000] or None
    if not files:
        raise InvalidInput("Joignez le document signé (délibération ou courrier).", field="document")
    with runtime.db.read() as session:
        invitation = invitation_for(session, runtime.settings, token)
        _refuse_unless_open(session, invitation, runtime.now())
        task_id = open_task(session, invitation).id
        invitation_id, body = invitation.id, invitation.body
    incoming = runtime.documents.receive(files)
    result = {}

    def within(session, human_task, now):
        done = session.execute(update(PortalInvitation).where(
            PortalInvitation.id == invitation_id, PortalInvitation.filed_at.is_(None),
            PortalInvitation.expires_at > now).values(filed_at=now))
        if done.rowcount != 1:
            row = session.get(PortalInvitation, invitation_id)
            _refuse_unless_open(session, row, now)
            raise Conflict("dépôt concurrent : rechargez la page")
        ids = runtime.documents.record(session, instance_id=human_task.instance_id, files=incoming, source="portal",
                                       now=now, task_id=human_task.id, element_id=human_task.element_id,
                                       by=f"portail:{body}"[:128])
        receipt = _receipt(runtime, session, invitation_id, now, sens, incoming)
        result.update(received_at=now, document_ids=ids, receipt_document_id=receipt)
        return [{"instance_id": human_task.instance_id, "task_id": human_task.id, "at": now,
                 "actor": f"portail:{body}"[:128], "action": "portal_filed", "element_id": human_task.element_id,
                 "details": {"body": body, "sens": sens, "invitation_id": invitation_id, "document_ids": ids,
                             "files": [f.name for f in incoming], "received_at": now.isoformat(),
                             "receipt_document_id": receipt}}]

    now = runtime.now()
    day = now.astimezone(runtime.settings.tzinfo).date().isoformat()
    data = {"received_on": day, "sens": sens, "comment": comment,
            "reference": f"Reçu via le portail le {day} (dépôt n° {invitation_id})"}
    runtime.complete(task_id, data, actor=None, within=within)
    result["task_id"] = task_id
    return result


def _refuse_unless_open(session, invitation: PortalInvitation, now) -> None:
    state = status(session, invitation, now)
    if state == "filed":
        raise PortalRefusal("filed", "L'avis de cet organisme a déjà été déposé.", filed_at=invitation.filed_at)
    if state == "expired":
        raise PortalRefusal("expired", "Le délai de consultation est expiré : le dépôt n'est plus possible.")
    if state == "closed":
        raise PortalRefusal("closed", "Cette consultation n'attend plus d'avis de votre part.")


def _receipt(runtime, session, invitation_id: int, now, sens: str, incoming) -> int | None:
    """The acknowledgement: a document filled from the invitation's receipt template (when the
    diagram deployed one) and an email to the body."""
    from arsflow.engine.documents import templates
    from arsflow.engine.people.mailer import fr_due, render_notification
    invitation = session.get(PortalInvitation, invitation_id)
    instance = session.get(Instance, invitation.instance_id)
    zone = runtime.settings.tzinfo
    received_text = fr_due(now, zone)
    context = {"body": invitation.body, "received_at": received_text, "received_on": now.astimezone(zone).date().isoformat(),
               "sens": SENS[sens], "files": [f.name for f in incoming], "business_key": instance.business_key,
               "invitation_id": invitation.id}
    document_id = None
    template_name = invitation.receipt_template
    resource = templates.find_template(session, instance.definition_id, template_name) if template_name else None
    if resource is not None:
        filled, source_type = templates.render(resource.content, {**(instance.variables or {}), **context},
                                               template_name, runtime.environment.limits)
        pdf = templates.to_pdf(filled, source_type)
        media_type = templates.PDF if pdf else source_type
        stored = runtime.documents.store.put(f"Accusé de réception — {invitation.body}" + templates.EXTENSIONS[media_type],
                                             pdf or filled, media_type)
        [document_id] = runtime.documents.record(session, instance_id=instance.id, files=[stored],
                                                 source="generated", now=now, element_id=invitation.element_id)
        session.execute(update(PortalInvitation).where(PortalInvitation.id == invitation.id)
                        .values(receipt_document_id=document_id))
    if invitation.email:
        subject = f"Accusé de réception de votre avis — {invitation.body}"
        text, html_body = render_notification(
            name=None, subject=subject, link=None, link_label="",
            body=(f"Votre avis ({SENS[sens].lower()}) a été reçu par l'agence régionale de santé le {received_text}. "
                  f"Documents reçus : {', '.join(f.name for f in incoming)}. Cette date de réception fait foi."),
            facts=[("Dossier", instance.business_key or ""), ("Dépôt", f"n° {invitation.id}")])
        _queue_email(session, instance, invitation.body, invitation.email, subject, text, html_body, now)
    return document_id
