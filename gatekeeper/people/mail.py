"""Email over SMTP, configured by MAIL_URL: smtp://[user:password@]host[:port][?starttls=1]
(STARTTLS on a plain port) or smtps://... (TLS from the first byte, port 465 by default).
MAIL_FROM names the sender. Without MAIL_URL no mail is sent and the screens say so.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

MAIL_URL_VARIABLE = "MAIL_URL"
MAIL_FROM_VARIABLE = "MAIL_FROM"
SMTP_TIMEOUT_S = 20
DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
TRUE_WORDS = ("1", "true", "yes", "on")


class MailNotConfigured(Exception):
    """MAIL_URL is not set (or names no host): Gatekeeper sends no email."""


@dataclass(frozen=True)
class MailSettings:
    host: str
    port: int
    security: str  # "plain" | "starttls" | "tls"
    username: str | None
    password: str | None
    sender: str


def setting(config: Mapping, name: str) -> str:
    return str(config.get(name) or os.environ.get(name) or "")


def mail_settings(config: Mapping) -> MailSettings:
    """The SMTP settings from MAIL_URL and MAIL_FROM; MailNotConfigured when there are none."""
    url = setting(config, MAIL_URL_VARIABLE)
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise MailNotConfigured(f"{MAIL_URL_VARIABLE} is not set to smtp://host[:port] or smtps://host")
    query = parse_qs(parts.query)
    starttls = query.get("starttls", [""])[0].lower() in TRUE_WORDS
    security = "tls" if parts.scheme == "smtps" else ("starttls" if starttls else "plain")
    sender = setting(config, MAIL_FROM_VARIABLE) or f"gatekeeper@{parts.hostname}"
    return MailSettings(
        host=parts.hostname, port=parts.port or DEFAULT_PORTS[parts.scheme], security=security,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None, sender=sender,
    )


def mail_configured(config: Mapping) -> bool:
    try:
        mail_settings(config)
    except MailNotConfigured:
        return False
    return True


def build_message(settings: MailSettings, to: str, subject: str, text: str, html: str,
                  language: str) -> EmailMessage:
    """A plain-text message with an HTML alternative, in the reader's language."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = settings.sender, to, subject
    message["Message-ID"] = make_msgid(domain=settings.sender.partition("@")[2] or None)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    message["Content-Language"] = language  # after the content: set_content clears Content-*
    return message


def send(settings: MailSettings, message: EmailMessage) -> None:
    """Hand one message to the SMTP server; raises smtplib.SMTPException or OSError on failure."""
    context = ssl.create_default_context()
    if settings.security == "tls":
        client: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port,
                                                timeout=SMTP_TIMEOUT_S, context=context)
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=SMTP_TIMEOUT_S)
    with client:
        if settings.security == "starttls":
            client.starttls(context=context)
        if settings.username:
            client.login(settings.username, settings.password or "")
        client.send_message(message)
