"""Messages made without Flask in the reader's language: the register's errors and reasons, the
importer's problems, the image and reference-face checks keep each message as an English template
with its values (consent/wording.py); flashes, JSON answers and pages translate them here."""

from __future__ import annotations

from flask import Flask, g
from flask_babel import gettext
from flask_login import current_user

from consent.models import School
from consent.wording import Message, message_of
from gatekeeper.extensions import db
from gatekeeper.people.models import Trust

WELSH = "cy"


def say(text: object) -> str:
    """A message, or an error raised with one, in the reader's language; other text as it is."""
    if isinstance(text, BaseException):
        text = message_of(text)
    if not isinstance(text, Message):
        return str(text)
    values = {key: say(value) if isinstance(value, Message) else value
              for key, value in text.values.items()}
    return gettext(text.template, **values)


def said_in_templates(value: object) -> object:
    """Jinja's finalize: a message a page shows is said in the reader's language, like `_()`."""
    return say(value) if isinstance(value, Message) else value


def init_wording(app: Flask) -> None:
    """Pages show the register's messages translated (before any template is compiled)."""
    app.jinja_env.finalize = said_in_templates
    app.jinja_env.globals["say"] = say  # for a message put into a translated sentence


def speak_as_school(school_id: int | None, trust_id: int | None = None) -> None:
    """Pages a Welsh school's link opens (a parent's, an invitation, a password reset) speak
    Welsh, refusals included, as the link's email was written, whatever the browser says, until
    the reader chooses; a signed-in reader's pages speak as their own school's. A link for a
    trust's role (no school) speaks as the trust. Any other page follows the browser."""
    if current_user.is_authenticated:
        return
    school = db.session.get(School, school_id) if school_id else None
    trust = db.session.get(Trust, trust_id) if trust_id and school is None else None
    if school is not None and school.language == WELSH:
        g.school_id = school.id
    elif trust is not None and trust.language == WELSH:
        g.trust_id = trust.id
