"""Email: SMTP settings, French messages (plain text + HTML), and sending.

Messages are rendered when a notification is recorded (inside the operation's transaction)
and sent later by the delivery step, so this module only formats and talks SMTP: it never
touches the database.
"""
from __future__ import annotations

import html
import os
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from typing import Mapping, Sequence
from zoneinfo import ZoneInfo

from arsflow.engine.errors import InvalidInput
from arsflow.engine.time.legal_calendar import french_date

TLS_MODES = ("none", "starttls", "ssl")
DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
DEFAULT_BASE_URL = "http://127.0.0.1:5000"

# configuration key -> environment variable that overrides it
_ENV = {"smtp_host": "ARSFLOW_SMTP_HOST", "smtp_port": "ARSFLOW_SMTP_PORT", "smtp_tls": "ARSFLOW_SMTP_TLS",
        "smtp_user": "ARSFLOW_SMTP_USER", "smtp_password": "ARSFLOW_SMTP_PASSWORD",
        "mail_from": "ARSFLOW_MAIL_FROM", "base_url": "ARSFLOW_BASE_URL"}


@dataclass(frozen=True)
class MailSettings:
    host: str | None = None
    port: int = 25
    tls: str = "none"
    user: str | None = None
    password: str | None = None
    sender: str = "arsflow@localhost"
    base_url: str = DEFAULT_BASE_URL
    timeout: float = 30.0

    @property
    def enabled(self) -> bool:
        """Without an SMTP host nothing is sent: messages wait in the outbox, never lost."""
        return bool(self.host)

    @classmethod
    def load(cls, config: Mapping | None = None, environ: Mapping | None = None) -> "MailSettings":
        """Settings from `config` (keys smtp_host, smtp_port, smtp_tls, smtp_user,
        smtp_password, mail_from, base_url), each overridden by its ARSFLOW_* variable."""
        environ = os.environ if environ is None else environ
        values = {k: v for k, v in dict(config or {}).items() if v not in (None, "")}
        unknown = set(values) - set(_ENV)
        if unknown:
            raise InvalidInput(f"configuration de la messagerie : clé(s) inconnue(s) {', '.join(sorted(unknown))}")
        for key, var in _ENV.items():
            if environ.get(var, "") != "":
                values[key] = environ[var]
        tls = str(values.get("smtp_tls", "none")).strip().lower()
        if tls not in TLS_MODES:
            raise InvalidInput(f"ARSFLOW_SMTP_TLS : valeur {tls!r} invalide, attendu none, starttls ou ssl")
        port = values.get("smtp_port", DEFAULT_PORTS[tls])
        try:
            port = int(port)
            if not 0 < port < 65536:
                raise ValueError
        except (TypeError, ValueError):
            raise InvalidInput(f"ARSFLOW_SMTP_PORT : port invalide {port!r} (entier de 1 à 65535)") from None
        sender = str(values.get("mail_from") or "arsflow@localhost").strip()
        if "@" not in sender:
            raise InvalidInput(f"ARSFLOW_MAIL_FROM : adresse d'expéditeur invalide {sender!r}")
        base = str(values.get("base_url") or DEFAULT_BASE_URL).strip().rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise InvalidInput(f"ARSFLOW_BASE_URL : URL http(s) attendue, reçu {base!r}")
        return cls(host=(str(values["smtp_host"]).strip() or None) if values.get("smtp_host") else None,
                   port=port, tls=tls, user=values.get("smtp_user") or None,
                   password=values.get("smtp_password") or None, sender=sender, base_url=base)

    def task_link(self, task_id: str) -> str:
        return f"{self.base_url}/taches/{task_id}"

    def instance_link(self, instance_id: int) -> str:
        return f"{self.base_url}/instances/{instance_id}"


# -- French formatting -----------------------------------------------------------------------
def fr_instant(moment: datetime, zone: ZoneInfo) -> str:
    """`lundi 1er mars 2027 à 14 h 05` in the ARS's zone."""
    local = moment.astimezone(zone)
    return f"{french_date(local.date())} à {local.hour} h {local.minute:02d}"


def fr_due(moment: datetime, zone: ZoneInfo) -> str:
    """A due instant as people read it: midnight local means "by the end of the day before"
    (that is how the engine stores a due date and a legal délai's expiry)."""
    local = moment.astimezone(zone)
    if (local.hour, local.minute, local.second) == (0, 0, 0):
        return f"{french_date((local - timedelta(days=1)).date())} (fin de journée)"
    return fr_instant(moment, zone)


# -- rendering -------------------------------------------------------------------------------
_STYLE = ("font-family:Marianne,Arial,sans-serif;font-size:15px;line-height:1.5;color:#161616")
_FOOTER = ("Message automatique d'arsflow, la corbeille de tâches de l'ARS. Pour recevoir ces messages "
           "tout de suite, dans le récapitulatif quotidien seulement, ou plus du tout, demandez à "
           "l'administrateur de changer votre préférence de notification.")


def greeting(name: str | None) -> str:
    return f"Bonjour {name}," if name else "Bonjour,"


def render_notification(*, name: str | None, subject: str, body: str, link: str | None,
                        link_label: str, facts: Sequence[tuple[str, str]] = ()) -> tuple[str, str]:
    """One notification as (plain text, HTML): greeting, what happened, context, link."""
    lines = [greeting(name), ""]
    if body:
        lines += [body, ""]
    lines += [f"{label} : {value}" for label, value in facts if value]
    if link:
        lines += ["", f"{link_label} : {link}"]
    lines += ["", "-- ", _FOOTER]
    text = "\n".join(lines) + "\n"

    parts = [f"<p>{html.escape(greeting(name))}</p>"]
    if body:
        parts.append("<p>" + "<br>".join(html.escape(line) for line in body.splitlines()) + "</p>")
    if any(value for _, value in facts):
        parts.append("<ul>" + "".join(f"<li><strong>{html.escape(label)}</strong> : {html.escape(value)}</li>"
                                      for label, value in facts if value) + "</ul>")
    if link:
        parts.append(f'<p><a href="{html.escape(link, quote=True)}">{html.escape(link_label)}</a></p>')
    return text, page(subject, "\n".join(parts))


def page(title: str, content: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title></head>\n<body style=\"{_STYLE}\">\n{content}\n"
            f"<hr><p style=\"font-size:12px;color:#666\">{html.escape(_FOOTER)}</p>\n</body></html>\n")


def compose(settings: MailSettings, *, to: str, name: str | None, subject: str, text: str,
            html_body: str | None, now: datetime) -> EmailMessage:
    """multipart/alternative: plain text first, HTML second (mail readers show the last
    they can render)."""
    msg = EmailMessage()
    if subject.isascii():
        msg["Subject"] = subject
    else:
        # The stdlib's refolding drops the space between two encoded words ("à échéance" →
        # "àéchéance"); Header's encoder keeps it inside the words.
        msg.set_raw("Subject", Header(subject, "utf-8", header_name="Subject").encode(linesep="\n"))
    msg["From"] = formataddr(("arsflow", settings.sender))
    msg["To"] = formataddr((name, to)) if name else to
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or "arsflow")
    msg["Content-Language"] = "fr"
    msg.set_content(text)
    if html_body:
        msg.add_alternative(html_body, subtype="html")
    return msg


# -- sending ---------------------------------------------------------------------------------
class MailError(Exception):
    """Sending failed; the message says why, in French, for the instance's history."""


class SmtpSender:
    """One SMTP connection for a batch of messages, reopened after a failure."""

    def __init__(self, settings: MailSettings):
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.tls == "ssl":
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            if s.tls == "starttls":
                smtp.starttls(context=ssl.create_default_context())
        if s.user:
            smtp.login(s.user, s.password or "")
        return smtp

    def send(self, message: EmailMessage) -> None:
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            refused = self._smtp.send_message(message)
        except smtplib.SMTPResponseException as err:
            self.close()
            reply = err.smtp_error.decode(errors="replace") if isinstance(err.smtp_error, bytes) else err.smtp_error
            raise MailError(f"refusé par le serveur SMTP : {err.smtp_code} {reply}") from err
        except smtplib.SMTPRecipientsRefused as err:
            self.close()
            raise MailError(f"destinataire refusé par le serveur SMTP : {err.recipients}") from err
        except (OSError, smtplib.SMTPException) as err:
            self.close()
            raise MailError(f"serveur SMTP {self.settings.host}:{self.settings.port} injoignable "
                            f"ou en erreur : {type(err).__name__}: {err}") from err
        if refused:
            raise MailError(f"destinataire refusé par le serveur SMTP : {refused}")

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self._smtp = None
