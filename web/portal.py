"""The correspondents' portal: a consulted body opens its personal signed link (no account),
reads the saisine and files its avis. The engine (engine.documents.portal) checks the link,
records the receipt instant and completes the ARS task; these views show what it decided —
a reused, expired or tampered link and a second filing each get their own page."""
from __future__ import annotations

from arsflow.engine.documents import portal as engine_portal
from arsflow.engine.documents.portal import PortalRefusal
from arsflow.engine.errors import InvalidInput
from arsflow.engine.models import Instance, ProcessDefinition
from arsflow.web import documents, get_runtime
from arsflow.web.queries import reading
from flask import Blueprint, Flask, abort, render_template, request

bp = Blueprint("portal", __name__, url_prefix="/portail")

STATUS = {"invalid": 403, "expired": 410, "filed": 409, "closed": 409}
TITLES = {"invalid": "Lien non valide", "expired": "Délai de consultation expiré",
          "filed": "Avis déjà déposé", "closed": "Consultation close"}


def _context(session, invitation):
    instance = session.get(Instance, invitation.instance_id)
    definition = session.get(ProcessDefinition, instance.definition_id)
    return {"invitation": invitation, "instance": instance,
            "procedure": definition.name or definition.key}


def _refused(reason: str, message: str, context: dict | None = None):
    return render_template("portal/refused.html", reason=reason, title=TITLES[reason], message=message,
                           **(context or {})), STATUS[reason]


@bp.route("/<token>", methods=["GET", "POST"])
def page(token: str):
    rt = get_runtime()
    with reading(rt) as s:
        try:
            invitation = engine_portal.invitation_for(s, rt.settings, token)
        except PortalRefusal as err:
            return _refused(err.reason, err.message)
        context = _context(s, invitation)
        state = engine_portal.status(s, invitation, rt.now())
    if state == "filed":  # the link again after filing: what was received, and the receipt
        return render_template("portal/filed.html", token=token, again=request.method == "POST", **context), (
            409 if request.method == "POST" else 200)
    if state != "open":
        return _refused(state, {"expired": "Le délai de consultation a expiré : votre avis ne peut plus être déposé "
                                           "ici. Contactez l'agence régionale de santé.",
                                "closed": "Cette consultation n'attend plus d'avis de votre part."}[state], context)
    errors, values = {}, {}
    if request.method == "POST":
        values = {"sens": request.form.get("sens") or "", "comment": request.form.get("comment") or ""}
        try:
            files = documents.files_from(request.files.getlist("document"))
            engine_portal.file_avis(rt, token, sens=values["sens"], comment=values["comment"], files=files)
        except PortalRefusal as err:
            if err.reason == "filed":
                with reading(rt) as s:
                    context = _context(s, engine_portal.invitation_for(s, rt.settings, token))
                return render_template("portal/filed.html", token=token, again=True, **context), 409
            return _refused(err.reason, err.message, context)
        except InvalidInput as err:
            errors[err.details.get("field") or "document"] = err.message
        else:
            with reading(rt) as s:
                context = _context(s, engine_portal.invitation_for(s, rt.settings, token))
            return render_template("portal/filed.html", token=token, again=False, just_filed=True, **context)
    return render_template("portal/form.html", token=token, errors=errors, values=values,
                           max_mb=f"{rt.settings.documents_max_mb:g}", **context), (400 if errors else 200)


@bp.route("/<token>/documents/<int:document_id>")
def document(token: str, document_id: int):
    """The saisine and the receipt of this invitation, nothing else."""
    rt = get_runtime()
    with reading(rt) as s:
        try:
            invitation = engine_portal.invitation_for(s, rt.settings, token)
        except PortalRefusal as err:
            return _refused(err.reason, err.message)
        if document_id not in (invitation.letter_document_id, invitation.receipt_document_id):
            abort(404)
        return documents.download(rt, rt.documents.get(s, document_id))


def register(app: Flask) -> None:
    app.register_blueprint(bp)
