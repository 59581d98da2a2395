"""A trust of schools: its schools, its people's roles, and what those roles may see.

`trust_admin` adds schools and invites their heads, and sees counts per school, never a pupil.
`dpo` reads the audit trail of the trust's schools and makes subject access exports. Neither is
a school role: they open no school's register, photos or no-publish list.
"""

from __future__ import annotations

import datetime as dt

from flask_babel import gettext as _
from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session

from consent.models import Pupil, School, utcnow
from gatekeeper.compliance import audit
from gatekeeper.models import TRUST_ROLES, AuditEvent, Membership, Photo, Post, User
from gatekeeper.people.models import Invitation, Trust, TrustMembership, TrustSchool
from gatekeeper.people.passwords import end_sessions
from gatekeeper.people.schools import LANGUAGES
from gatekeeper.states import PHOTO_WAITING, PostState

MAX_NAME = 200
WEEK = dt.timedelta(days=7)
AUDIT_PAGE = audit.TRAIL_PAGE


class TrustError(ValueError):
    """A trust change that cannot be made; the message says why in one line."""


def add_trust(session: Session, name: str, actor: User | str, language: str = "en") -> Trust:
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME:
        raise TrustError(_("Give the trust's name (at most %(n)d characters).", n=MAX_NAME))
    if trust_named(session, name) is not None:
        raise TrustError(_("A trust called %(name)s already exists.", name=name))
    check_language(language)
    trust = Trust(name=name, language=language)
    session.add(trust)
    session.flush()
    audit.record(session, "trust_created", actor=actor, subject=trust,
                 detail={"name": name, "language": language})
    return trust


def check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise TrustError(_("The language must be en or cy."))


def set_language(session: Session, trust: Trust, language: str, actor: User | str) -> None:
    """The trust's default language: its pages and its people's emails speak it."""
    check_language(language)
    if trust.language != language:
        trust.language = language
        audit.record(session, "trust_language_set", actor=actor, subject=trust,
                     detail={"language": language})


def trust_named(session: Session, name: str) -> Trust | None:
    return session.scalar(select(Trust).where(
        func.lower(Trust.name) == " ".join(name.split()).lower()))


def trust_of_school(session: Session, school_id: int) -> Trust | None:
    return session.scalar(select(Trust).join(TrustSchool, TrustSchool.trust_id == Trust.id)
                          .where(TrustSchool.school_id == school_id))


def put_school(session: Session, trust: Trust, school: School, actor: User | str) -> None:
    """Put a school in the trust; a school already in a trust stays where it is."""
    current = trust_of_school(session, school.id)
    if current is not None:
        raise TrustError(_("%(school)s is already in %(trust)s.", school=school.name,
                           trust=current.name))
    session.add(TrustSchool(trust_id=trust.id, school_id=school.id))
    audit.record(session, "school_joined_trust", school_id=school.id, actor=actor, subject=trust,
                 detail={"trust": trust.name, "school": school.name})


def school_ids(session: Session, trust_id: int) -> list[int]:
    return list(session.scalars(select(TrustSchool.school_id)
                                .where(TrustSchool.trust_id == trust_id)
                                .order_by(TrustSchool.school_id)))


def schools_of(session: Session, trust_id: int) -> list[School]:
    return list(session.scalars(select(School).where(School.id.in_(school_ids(session, trust_id)))
                                .order_by(School.name)))


def trust_school(session: Session, trust_id: int, school_id: int | None) -> School | None:
    """One of the trust's schools by id; None for any other (another trust's is not found)."""
    return session.get(School, school_id) if school_id in school_ids(session, trust_id) else None


def roles_by_trust(session: Session, user: User) -> dict[int, set[str]]:
    """The trust roles the user holds and is not deactivated in, by trust id."""
    held: dict[int, set[str]] = {}
    for row in session.scalars(select(TrustMembership).where(
            TrustMembership.user_id == user.id, TrustMembership.suspended_at.is_(None))):
        held.setdefault(row.trust_id, set()).add(row.role)
    return held


def home_place(session: Session, user: User) -> tuple[int | None, int | None]:
    """The user's first active school and first trust, as (school id, trust id): what their
    sign-in opens, and so whose language a link sent to them speaks."""
    schools = [m.school_id for m in user.memberships if m.suspended_at is None]
    held = roles_by_trust(session, user)
    return (schools[0] if schools else None, min(held) if held else None)


def grant_trust_role(session: Session, trust_id: int, user: User, role: str,
                     authorised_by_id: int | None) -> None:
    if role not in TRUST_ROLES:
        raise TrustError(_("Unknown role."))
    held = session.scalar(select(TrustMembership).where(
        TrustMembership.user_id == user.id, TrustMembership.trust_id == trust_id,
        TrustMembership.role == role))
    if held is None:
        session.add(TrustMembership(user_id=user.id, trust_id=trust_id, role=role,
                                    authorised_by_id=authorised_by_id))


def trust_people(session: Session, trust_id: int) -> list[TrustMembership]:
    """Who holds a role at the trust, by name."""
    return list(session.scalars(
        select(TrustMembership).join(User, User.id == TrustMembership.user_id)
        .where(TrustMembership.trust_id == trust_id).order_by(User.name, TrustMembership.role)))


def remove_from_trust(session: Session, trust: Trust, user_id: int, actor: User | str) -> User:
    """Take every role the person holds at the trust away, and any invitation to it still open,
    and end their sessions at once: a DPO or trust admin who leaves opens nothing more. Nobody
    removes themselves (the trust keeps the admin who does it)."""
    rows = list(session.scalars(select(TrustMembership).where(
        TrustMembership.trust_id == trust.id, TrustMembership.user_id == user_id)))
    if not rows:
        raise TrustError(_("No such person at this trust."))
    user = rows[0].user
    if isinstance(actor, User) and actor.id == user.id:
        raise TrustError(_("You cannot do this to your own account."))
    now = utcnow()
    for invitation in session.scalars(select(Invitation).where(
            Invitation.trust_id == trust.id, Invitation.email == user.email.lower(),
            Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))):
        invitation.revoked_at = now
    for row in rows:
        session.delete(row)
        audit.record(session, "trust_role_revoked", actor=actor, subject=trust,
                     detail={"user": user.email, "role": row.role})
    end_sessions(user)
    return user


def count(session: Session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def school_counts(session: Session, trust_id: int, now: dt.datetime | None = None) -> list[dict]:
    """Per school of the trust: numbers only (no name, photo or decision about any pupil)."""
    now = now or utcnow()
    rows = []
    for school in schools_of(session, trust_id):
        rows.append({
            "school": school,
            "pupils": count(session, Pupil, Pupil.school_id == school.id, Pupil.left_on.is_(None)),
            "staff": count(session, Membership, Membership.school_id == school.id,
                           Membership.suspended_at.is_(None)),
            "uploads_week": count(session, Photo, Photo.school_id == school.id,
                                  Photo.created_at >= now - WEEK),
            "waiting": count(session, Photo, Photo.school_id == school.id,
                             Photo.status.in_(PHOTO_WAITING)),
            "published": count(session, Post, Post.school_id == school.id,
                               Post.state == PostState.PUBLISHED),
            "heads": count(session, Membership, Membership.school_id == school.id,
                           Membership.role == "head", Membership.suspended_at.is_(None)),
        })
    return rows


def trust_subjects(trust_id: int):
    """Audit events about the trust itself or an invitation to one of its roles."""
    invitations = select(cast(Invitation.id, String)).where(Invitation.trust_id == trust_id)
    return (((AuditEvent.subject_type == "trust") & (AuditEvent.subject_id == str(trust_id)))
            | ((AuditEvent.subject_type == "invitation")
               & AuditEvent.subject_id.in_(invitations)))


def trust_audit_place(session: Session, trust_id: int, school_id: int | None = None):
    """Which audit events the trust's trail shows: its schools' (one of them, or all) and, for
    all, the trust's own (its roles, its language)."""
    ids = school_ids(session, trust_id)
    if school_id is not None:
        ids = [school_id] if school_id in ids else []
    place = AuditEvent.school_id.in_(ids)
    if school_id is None:
        place = place | (AuditEvent.school_id.is_(None) & trust_subjects(trust_id))
    return place


def trust_audit(session: Session, trust_id: int, school_id: int | None = None,
                action: str = "", before_id: int | None = None,
                limit: int | None = AUDIT_PAGE) -> list[AuditEvent]:
    """The audit trail of the trust's schools (one of them, or all), newest first, a page at a
    time (limit None: all of it)."""
    return audit.trail(session, trust_audit_place(session, trust_id, school_id), action,
                       before_id, limit)
