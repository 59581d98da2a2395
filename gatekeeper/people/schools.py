"""A school of its own: its name, URN, local authority code, postcode and default language."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.models import School
from gatekeeper.compliance import audit
from gatekeeper.models import User

# The DfE's Unique Reference Number: six digits (England and Wales alike on GIAS).
URN = re.compile(r"^[1-9]\d{5}$")
# The DfE local authority number: three digits, the first three of every UPN its schools issue.
LA_CODE = re.compile(r"^\d{3}$")
# A UK postcode, outward and inward parts, e.g. "SW1A 1AA", "CF10 3NQ".
POSTCODE = re.compile(r"^[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}$")
# Each language named in itself, as the language menus show it.
LANGUAGE_LABELS = {"en": "English", "cy": "Cymraeg"}
LANGUAGES = tuple(LANGUAGE_LABELS)
MAX_NAME = 200


class SchoolError(ValueError):
    """A school's details that cannot be saved; the message says why in one line."""


@dataclass(frozen=True)
class SchoolDetails:
    name: str
    urn: str
    la_code: str | None = None
    postcode: str | None = None
    language: str = "en"


def clean_details(details: SchoolDetails) -> SchoolDetails:
    """The details normalised (trimmed, postcode upper case and spaced), or SchoolError."""
    name = " ".join(details.name.split())
    urn = details.urn.strip()
    la_code = (details.la_code or "").strip() or None
    postcode = " ".join((details.postcode or "").upper().split()) or None
    if not name or len(name) > MAX_NAME:
        raise SchoolError(_("Give the school's name (at most %(n)d characters).", n=MAX_NAME))
    if not URN.match(urn):
        raise SchoolError(_("A URN is six digits, e.g. 123456: %(urn)s is not one.", urn=urn[:20]))
    if la_code is not None and not LA_CODE.match(la_code):
        raise SchoolError(_("A local authority code is three digits, e.g. 823: "
                            "%(code)s is not one.", code=la_code[:20]))
    if postcode is not None:
        postcode = postcode if " " in postcode else f"{postcode[:-3]} {postcode[-3:]}"
        if not POSTCODE.match(postcode):
            raise SchoolError(_("%(postcode)s is not a UK postcode.", postcode=postcode[:20]))
    if details.language not in LANGUAGES:
        raise SchoolError(_("The language must be en or cy."))
    return SchoolDetails(name, urn, la_code, postcode, details.language)


def school_by_urn(session: Session, urn: str) -> School | None:
    return session.scalar(select(School).where(School.urn == urn.strip()))


def name_key(name: str) -> str:
    """A school's name as people tell it apart: case and spacing do not count."""
    return " ".join(name.split()).casefold()


def school_named(session: Session, name: str, but: int | None = None) -> School | None:
    """A school (other than `but`) whose name reads as `name`, case and spacing aside."""
    key = name_key(name)
    return next((school for school in session.scalars(select(School).order_by(School.id))
                 if school.id != but and name_key(school.name) == key), None)


def check_name_free(session: Session, name: str, school_id: int | None = None) -> None:
    """Refuse a name another school has: two schools' sign-in buttons and the school choice
    would read alike. Schools that shared a name before this check are left as they are, so the
    check lives here rather than in a unique index."""
    audit.lock_chain(session)  # every school change is audited: two at once wait for each other
    other = school_named(session, name, but=school_id)
    if other is not None:
        raise SchoolError(_("A school called %(name)s already exists.", name=other.name))


def add_school(session: Session, details: SchoolDetails, actor: User | str) -> School:
    """Create a school; refuses a URN or a name that another school already has."""
    details = clean_details(details)
    if school_by_urn(session, details.urn) is not None:
        raise SchoolError(_("A school with URN %(urn)s already exists.", urn=details.urn))
    check_name_free(session, details.name)
    school = School(name=details.name, urn=details.urn, la_code=details.la_code,
                    postcode=details.postcode, language=details.language)
    session.add(school)
    session.flush()
    audit.record(session, "school_created", school_id=school.id, actor=actor, subject=school,
                 detail=details_of(school))
    return school


def update_school(session: Session, school: School, details: SchoolDetails, actor: User) -> None:
    """Change a school's details (the head's screen); every change is audited with before and
    after."""
    details = clean_details(details)
    other = school_by_urn(session, details.urn)
    if other is not None and other.id != school.id:
        raise SchoolError(_("A school with URN %(urn)s already exists.", urn=details.urn))
    if name_key(details.name) != name_key(school.name):  # an old shared name may stay
        check_name_free(session, details.name, school.id)
    before = details_of(school)
    school.name, school.urn, school.la_code = details.name, details.urn, details.la_code
    school.postcode, school.language = details.postcode, details.language
    after = details_of(school)
    if after != before:
        audit.record(session, "school_updated", school_id=school.id, actor=actor, subject=school,
                     detail={"before": before, "after": after})


def details_of(school: School) -> dict:
    return {"name": school.name, "urn": school.urn, "la_code": school.la_code,
            "postcode": school.postcode, "language": school.language}
