"""The messages Gatekeeper sends, composed and sent by the worker: invitations and resets.

Each task issues the link itself, stores only its hash and commits before sending, so the secret
exists only in the message. Every message sent (or failed) is audited, without the link.
"""

from __future__ import annotations

import logging

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from consent.models import School, utcnow
from gatekeeper.compliance import audit
from gatekeeper.extensions import db
from gatekeeper.people import invitations, resets, tokens, trusts
from gatekeeper.people.links import invitation_url, reset_url
from gatekeeper.people.mail import MailNotConfigured, build_message, mail_settings, send
from gatekeeper.people.models import Invitation, Trust
from gatekeeper.people.roles import ROLE_LABELS

log = logging.getLogger(__name__)


class MailNotSent(Exception):
    """A message the mail server did not take; `error` is its answer (never in the log line)."""

    def __init__(self, kind: str, error: Exception):
        super().__init__(f"{kind} message not sent: {type(error).__name__}")
        self.error = error


def deliver(kind: str, to: str, language: str, school_id: int | None, subject: str,
            template: str, **context) -> None:
    """Render the text and HTML of one message, send it, and audit the outcome."""
    settings = mail_settings(current_app.config)
    text = render_template(f"mail/{template}.txt", **context)
    html = render_template(f"mail/{template}.html", **context)
    message = build_message(settings, to, subject, text, html, language)
    try:
        send(settings, message)
    except Exception as error:
        audit.record(db.session, "mail_failed", school_id=school_id,
                     detail={"kind": kind, "to": to, "error": type(error).__name__})
        db.session.commit()
        # The task's retries try again. Raised without the server's answer, which names the
        # address: the worker's log would repeat a parent's email at every retry.
        raise MailNotSent(kind, error) from None
    try:
        audit.record(db.session, "mail_sent", school_id=school_id, detail={"kind": kind, "to": to})
        db.session.commit()
    except Exception:  # noqa: BLE001 - the message is out: never let the task send it again
        # A retry would send a second message, whose new link stops the first one working.
        db.session.rollback()
        log.exception("a %s message was sent but its audit entry could not be written", kind)


def mail_invitation(invitation_id: int) -> str:
    """Email a fresh one-time link for an open invitation (a new link replaces any earlier one)."""
    try:
        mail_settings(current_app.config)
    except MailNotConfigured:
        return "mail not configured"
    invitation = db.session.get(Invitation, invitation_id)
    if (invitation is None or not invitation.open or invitation.expires_at <= utcnow()
            or not invitations.sender_may_still_invite(db.session, invitation)):
        return "invitation no longer open"
    secret, invitation.token_hash = tokens.new_secret()
    db.session.commit()
    link = invitation_url(tokens.make_token(invitations.TOKEN_PURPOSE, invitation.id, secret),
                          current_app.config)
    school = invitation.school
    language = school.language if school is not None else invitation.trust.language
    with force_locale(language):
        subject = _("Your invitation to Gatekeeper at %(school)s", school=invitation.place_name)
        deliver("invitation", invitation.email, language, invitation.school_id, subject,
                "invitation", invitation=invitation, school=school, link=link,
                role_label=role_label(invitation.role),
                hours=int(invitations.INVITATION_LIFETIME.total_seconds() // 3600))
    return "sent"


def mail_reset(email: str) -> str:
    """Email a one-time reset link if the address has an active account; otherwise nothing."""
    try:
        mail_settings(current_app.config)
    except MailNotConfigured:
        return "mail not configured"
    issued = resets.issue_reset(db.session, email)
    db.session.commit()
    if issued is None:
        return "no message"
    reset, token = issued
    user = reset.user
    language = reader_language(user)
    with force_locale(language):
        deliver("password_reset", user.email, language, None,
                _("Choose a new Gatekeeper password"), "reset", user=user,
                link=reset_url(token, current_app.config),
                minutes=int(resets.RESET_LIFETIME.total_seconds() // 60))
    return "sent"


def role_label(role: str) -> str:
    return str(ROLE_LABELS[role])


def reader_language(user) -> str:
    """Welsh when the user's (first) school works in Welsh, or, with no school, their trust."""
    school_id, trust_id = trusts.home_place(db.session, user)
    place = db.session.get(School, school_id) if school_id else (
        db.session.get(Trust, trust_id) if trust_id else None)
    return place.language if place is not None else "en"
