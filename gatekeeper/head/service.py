"""The headteacher's oversight: who holds which role, and what the week looked like.

People join a school only through an invitation (gatekeeper.people.invitations).
"""

from __future__ import annotations

import datetime as dt
import random

from flask_babel import gettext as _
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from consent.models import utcnow
from gatekeeper.compliance import audit
from gatekeeper.models import ROLES, AuditEvent, Membership, Photo, Post, User
from gatekeeper.people import grants
from gatekeeper.people.members import active_heads
from gatekeeper.publishing.service import not_taken_back
from gatekeeper.states import PHOTO_WAITING, PhotoState, PostState

WEEK = dt.timedelta(days=7)
SAMPLE_SIZE = 5
SAMPLE_WINDOW = dt.timedelta(days=30)


class UserError(ValueError):
    """A change to users or roles that is not allowed; the message is fit to show the head."""


def school_users(session: Session, school_id: int) -> list[tuple[User, set[str]]]:
    """Every user with a role at the school, with their roles there."""
    users = session.scalars(
        select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.school_id == school_id).distinct().order_by(User.name)
    ).all()
    return [(user, user.roles_at(school_id)) for user in users]


def set_roles(session: Session, school_id: int, head: User, user: User, roles: set[str]) -> None:
    """Grant and revoke so the user holds exactly `roles` here; every change is audited. A grant
    of dsl or head is proposed instead, for a second person to confirm (people/grants.py)."""
    if not roles <= set(ROLES):
        raise UserError(_("Unknown role."))
    if any(m.suspended_at is not None for m in user.memberships if m.school_id == school_id):
        raise UserError(_("%(name)s is deactivated here: reactivate them first.", name=user.name))
    current = user.roles_at(school_id)
    if user.id == head.id and roles - current:
        raise UserError(_("Nobody grants a role to themselves: another head must do it."))
    if "head" in current - roles and heads_at(session, school_id) <= 1:
        raise UserError(_("The school needs at least one head: "
                          "add another before removing this one."))
    for membership in [m for m in user.memberships if m.school_id == school_id]:
        if membership.role not in roles:
            session.delete(membership)
            user.memberships.remove(membership)
            audit.record(session, "role_revoked", school_id=school_id, actor=head, subject=user,
                         detail={"role": membership.role})
    for role in sorted(roles - current):
        if role in grants.SECOND_PERSON_ROLES:
            grants.propose(session, school_id, head, user, role)
            continue
        # Granting media_lead is the head's authorisation to release to official accounts.
        user.memberships.append(Membership(school_id=school_id, role=role,
                                           authorised_by_id=head.id))
        audit.record(session, "role_granted", school_id=school_id, actor=head, subject=user,
                     detail={"role": role})


def heads_at(session: Session, school_id: int) -> int:
    """Active (not deactivated) heads of the school."""

    return active_heads(session, school_id)


def count(session: Session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def dashboard_figures(session: Session, school_id: int, now: dt.datetime | None = None) -> dict:
    """The numbers on the head's dashboard, keyed by a stable name."""
    now = now or utcnow()
    photos = Photo.school_id == school_id
    # A post taken back to review was neither a release that stood nor a takedown: its photo
    # waits again, and a later release is counted once.
    posts = and_(Post.school_id == school_id, not_taken_back())
    return {
        "uploads_week": count(session, Photo, photos, Photo.created_at >= now - WEEK),
        "waiting": count(session, Photo, photos, Photo.status.in_(PHOTO_WAITING)),
        "released": count(session, Post, posts),
        "blocked": count(session, Photo, photos, Photo.status == PhotoState.BLOCKED),
        "takedowns": count(session, Post, posts, Post.state == PostState.WITHDRAWN),
    }


def sample_posts(session: Session, school_id: int, rng: random.Random | None = None) -> list[Post]:
    """A random few of the last month's posts, for the head to check (policies ask for sampling)."""
    ids = list(session.scalars(select(Post.id).where(
        Post.school_id == school_id, Post.released_at >= utcnow() - SAMPLE_WINDOW,
        not_taken_back())))  # one taken back was never sent: nothing to check
    chosen = (rng or random.SystemRandom()).sample(ids, min(SAMPLE_SIZE, len(ids)))
    return [session.get(Post, post_id) for post_id in sorted(chosen, reverse=True)]


def school_audit_place(school_id: int):
    """The school's own audit trail (what a head may read: actions, who and when, no detail)."""
    return AuditEvent.school_id == school_id
