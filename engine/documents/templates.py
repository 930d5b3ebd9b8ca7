"""Generated documents: `.docx` and `.odt` templates deployed with the diagrams, filled from the
process variables by the built-in `document` service topic, kept as the instance's documents.

Templating is docxtpl (Jinja2 tags typed in Word or LibreOffice, `{{ body }}`, `{% for %}`):
maintained, it rejoins the tags a word processor splits across runs, which hand-made XML
substitution does not. It runs in Jinja's sandbox with autoescaping (a variable holding `<`
or `&` cannot break the document). `.odt` templates are relatorio's (engine.documents.odt).
Where LibreOffice is installed (`soffice`), the result is converted to PDF; otherwise it stays
in the template's format. Filling runs under the scripts' time and memory limits, tags'
operators size-checked (engine.documents.template_limits): past a limit, the `document`
element is an incident, like a runaway script.
"""
from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import tempfile
from datetime import date, datetime

from arsflow.engine.bpmn.definitions import TEMPLATE_KINDS
from arsflow.engine.bpmn.script_limits import Limits, ScriptLimitExceeded
from arsflow.engine.documents import template_limits
from arsflow.engine.documents.store import DOCX, EXTENSIONS, ODT, PDF, clean_name, sniff
from arsflow.engine.models import ProcessDefinition, Resource
from arsflow.engine.services import ServiceCall
from sqlalchemy import select

log = logging.getLogger("arsflow")
SOFFICE_TIMEOUT = 120


class TemplateError(Exception):
    """A template that cannot be read or filled; the message names the file."""


class TemplateLimitExceeded(TemplateError):
    """Filling went past the scripts' time, memory or size limits: an incident, not a note."""


def _environment():
    env = template_limits.jinja_environment()
    env.filters["date_fr"] = _date_fr
    return env


MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
          "octobre", "novembre", "décembre")


def _date_fr(value) -> str:
    """`{{ publication_date|date_fr }}` → « 30 septembre 2017 »."""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return value
    if isinstance(value, datetime):
        value = value.date()
    if not isinstance(value, date):
        return "" if value is None else str(value)
    day = "1er" if value.day == 1 else str(value.day)
    return f"{day} {MONTHS[value.month - 1]} {value.year}"


def check_template(name: str, content: bytes) -> list[str]:
    """Problems with a template, in French (empty when it can be filled): lint and deploy."""
    from arsflow.engine.documents import odt
    if name.lower().endswith(".odt"):
        try:
            odt.check(content)
        except odt.OdtTemplateError as err:
            return [f"{name} : modèle invalide : {err}"]
        return []
    if sniff(content) != DOCX:
        return [f"{name} : modèle illisible (un document Word .docx est attendu ; ou enregistrez-le "
                f"en .odt, voir docs/documents.md)"]
    try:
        from docxtpl import DocxTemplate
        DocxTemplate(io.BytesIO(content)).get_undeclared_template_variables(_environment())
    except Exception as err:  # jinja2.TemplateSyntaxError and docx's own errors
        return [f"{name} : modèle invalide : {getattr(err, 'message', None) or err}"]
    return []


def render_docx(content: bytes, variables: dict, name: str = "modèle") -> bytes:
    try:
        from docxtpl import DocxTemplate
        template = DocxTemplate(io.BytesIO(content))
        template.render(variables, _environment(), autoescape=True)
        out = io.BytesIO()
        template.save(out)
        return _reproducible(out.getvalue())
    except ScriptLimitExceeded:
        raise
    except Exception as err:
        raise TemplateError(f"{name} : le modèle n'a pas pu être rempli : {getattr(err, 'message', None) or err}") from err


def render_odt(content: bytes, variables: dict, name: str = "modèle") -> bytes:
    from arsflow.engine.documents import odt
    try:
        return _reproducible(odt.render(content, variables, {"date_fr": _date_fr}), odt.without_instants)
    except odt.OdtTemplateError as err:
        raise TemplateError(f"{name} : le modèle n'a pas pu être rempli : {err}") from err


def render(content: bytes, variables: dict, name: str = "modèle", limits: Limits | None = None) -> tuple[bytes, str]:
    """The filled document and its media type, by the template's own format, under `limits`
    (the scripts' defaults when none are given)."""
    def fill():
        if sniff(content) == ODT:
            return render_odt(content, variables, name), ODT
        return render_docx(content, variables, name), DOCX
    try:
        return template_limits.bounded(limits, fill)
    except ScriptLimitExceeded as err:
        raise TemplateLimitExceeded(f"modèle « {name} » : remplissage interrompu : {err}") from err


def _reproducible(package: bytes, rewrite=None) -> bytes:
    """The same letter from the same variables is the same bytes (same SHA-256, stored once):
    the zip entries lose the instant they were written at. ODF's `mimetype` stays first and
    stored uncompressed, as the format requires. `rewrite(name, data)` may drop other instants."""
    import zipfile
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(package)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            entry = zipfile.ZipInfo(item.filename, date_time=(1980, 1, 1, 0, 0, 0))
            entry.external_attr = item.external_attr
            entry.compress_type = zipfile.ZIP_STORED if item.filename == "mimetype" else zipfile.ZIP_DEFLATED
            data = source.read(item.filename)
            target.writestr(entry, rewrite(item.filename, data) if rewrite else data)
    return out.getvalue()


def to_pdf(document: bytes, media_type: str = DOCX) -> bytes | None:
    """LibreOffice's conversion, or None when it is not installed or fails (logged)."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if not soffice:
        return None
    with tempfile.TemporaryDirectory(prefix="arsflow-pdf-") as folder:
        source = os.path.join(folder, "document" + EXTENSIONS[media_type])
        with open(source, "wb") as handle:
            handle.write(document)
        try:
            subprocess.run([soffice, f"-env:UserInstallation=file://{folder}/profile", "--headless",
                            "--convert-to", "pdf", "--outdir", folder, source],
                           check=True, capture_output=True, timeout=SOFFICE_TIMEOUT)
            with open(os.path.join(folder, "document.pdf"), "rb") as handle:
                return handle.read()
        except (OSError, subprocess.SubprocessError) as err:
            log.warning("conversion PDF par LibreOffice impossible : %s", err)
            return None


def find_template(session, definition_id: int, name: str) -> Resource | None:
    """The template deployed with the instance's diagram version, or the latest deployed
    before it: an instance keeps the letters of its version when a template is redeployed."""
    definition = session.get(ProcessDefinition, definition_id)
    return session.scalars(select(Resource).where(
        Resource.name == name, Resource.kind.in_(TEMPLATE_KINDS),
        Resource.deployment_id <= definition.deployment_id).order_by(Resource.deployment_id.desc())).first()


def document_service(call: ServiceCall, runtime=None) -> dict:
    """Built-in `document` topic: inputs `template` (a deployed .docx or .odt), `name` (the document's
    file name, without extension), optional `correspondent`, `portal_task`, `portal_email`,
    `portal_expires`, `portal_receipt_template` (engine.documents.portal). The template is filled
    while the element runs, so that a tag past the scripts' limits is an incident on it; the
    letter is stored in the operation's transaction (effect handler below)."""
    template = str(call.inputs.get("template") or "").strip()
    if not template:
        from arsflow.engine.errors import ArsflowError
        raise ArsflowError(f"{call.element_id} : paramètre d'entrée « template » manquant (nom du modèle .docx ou .odt)")
    variables = {**call.data, **call.inputs}
    variables.pop("template", None)
    effect = {"kind": "document", "element_id": call.element_id, "template": template,
              "name": str(call.inputs.get("name") or os.path.splitext(template)[0]),
              "variables": variables, "task_id": str(call.task.id) if call.task is not None else None}
    engine = getattr(getattr(call.task, "workflow", None), "script_engine", None)
    if runtime is not None and getattr(engine, "session", None) is not None:
        _fill_now(runtime, engine, call, effect)
    call.effects.append(effect)
    return {}


def _context(variables: dict, instance_id, business_key, now, zone) -> dict:
    from arsflow.engine.runtime import _json_safe
    context = dict(_json_safe(variables))
    context.update({"instance_id": instance_id, "business_key": business_key,
                    "today": now.astimezone(zone).date().isoformat()})
    return context


def _fill_now(runtime, engine, call: ServiceCall, effect: dict) -> None:
    """Fill under the scripts' limits; past one, the element's incident (a retry fills again).
    In a start operation the instance has no id yet: the letter is filled again when stored."""
    resource = find_template(engine.session, engine.definition_id, effect["template"])
    if resource is None:
        return  # said in the history by on_document
    context = _context(effect["variables"], call.instance_id, call.business_key, call.now, runtime.settings.tzinfo)
    try:
        filled, source_type = render(resource.content, context, effect["template"], runtime.environment.limits)
    except TemplateLimitExceeded as err:
        from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
        raise WorkflowTaskException(str(err), task=call.task, exception=err) from err
    except TemplateError as err:
        effect["error"] = str(err)
        return
    if call.instance_id is not None:
        effect["filled"] = (filled, source_type, resource.id)


def on_document(runtime, session, instance, effect: dict, now) -> None:
    """Store the letter filled while the element ran (or fill it now), convert it, add the row
    (and the portal invitation when asked). The audit entry written afterwards names the
    document; the variables and the bytes are not copied there."""
    from arsflow.engine.documents import portal
    variables = effect.pop("variables", {}) or {}
    prepared = effect.pop("filled", None)
    if effect.get("error"):
        return
    name = effect["template"]
    if prepared is not None:
        filled, source_type, resource_id = prepared
    else:
        resource = find_template(session, instance.definition_id, name)
        if resource is None:
            effect["error"] = f"modèle « {name} » introuvable : déployez-le avec le diagramme"
            return
        context = _context(variables, instance.id, instance.business_key, now, runtime.settings.tzinfo)
        try:
            filled, source_type = render(resource.content, context, name, runtime.environment.limits)
        except TemplateError as err:
            effect["error"] = str(err)
            return
        resource_id = resource.id
    pdf = to_pdf(filled, source_type)
    data, media_type = (pdf, PDF) if pdf else (filled, source_type)
    file_name = clean_name(effect["name"]) + EXTENSIONS[media_type]
    stored = runtime.documents.store.put(file_name, data, media_type)
    [document_id] = runtime.documents.record(session, instance_id=instance.id, files=[stored], source="generated",
                                             now=now, element_id=effect.get("element_id"))
    effect.update(document_id=document_id, file=stored.name, media_type=media_type, sha256=stored.sha256,
                  template_resource_id=resource_id)
    if variables.get("portal_task"):
        portal.invite(runtime, session, instance, variables, document_id, effect, now)
