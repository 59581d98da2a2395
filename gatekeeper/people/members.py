"""The head's changes to the people of their school: deactivate, reactivate, remove, a temporary
password, a reset of a lost second factor. Each acts on this school's membership only, ends the
person's sessions at once, and is audited. Nobody acts on themselves here, and a school always keeps
an active head.
"""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consent.models import utcnow
from gatekeeper.compliance import audit
from gatekeeper.models import Membership, User
from gatekeeper.people import grants, second_factor
from gatekeeper.people.grants import SECOND_PERSON_ROLES
from gatekeeper.people.models import Invitation
from gatekeeper.people.passwords import check_new_password, end_sessions, set_password


class MemberError(ValueError):
    """A change to a member that is not allowed; the message is fit to show the head."""


class NotAMember(MemberError):
    """The user holds no role at this school (another school's users are not found)."""


def member(session: Session, school_id: int, user_id: int) -> User:
    """A user with a membership (active or deactivated) at this school, else NotAMember."""
    user = session.get(User, user_id)
    if user is None or not rows_at(user, school_id):
        raise NotAMember(_("No such person at this school."))
    return user


def rows_at(user: User, school_id: int) -> list[Membership]:
    return [m for m in user.memberships if m.school_id == school_id]


def active_heads(session: Session, school_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Membership).where(
        Membership.school_id == school_id, Membership.role == "head",
        Membership.suspended_at.is_(None))) or 0


def refuse_self_and_last_head(session: Session, school_id: int, head: User, user: User) -> None:
    if user.id == head.id:
        raise MemberError(_("You cannot do this to your own account."))
    if "head" in user.roles_at(school_id) and active_heads(session, school_id) <= 1:
        raise MemberError(_("The school needs at least one head: "
                            "add another before removing this one."))


def deactivate(session: Session, school_id: int, head: User, user: User) -> None:
    """Suspend every role the user holds here and end their sessions; the roles come back on
    reactivation."""
    refuse_self_and_last_head(session, school_id, head, user)
    now = utcnow()
    for row in rows_at(user, school_id):
        row.suspended_at = row.suspended_at or now
    close_what_waits(session, school_id, head, user)
    end_sessions(user)
    audit.record(session, "member_deactivated", school_id=school_id, actor=head, subject=user)


def reactivate(session: Session, school_id: int, head: User, user: User) -> None:
    for row in rows_at(user, school_id):
        row.suspended_at = None
    audit.record(session, "member_reactivated", school_id=school_id, actor=head, subject=user)


def remove(session: Session, school_id: int, head: User, user: User) -> None:
    """Take every role here away (the account itself, and other schools' roles, stay)."""
    refuse_self_and_last_head(session, school_id, head, user)
    close_what_waits(session, school_id, head, user)
    for row in rows_at(user, school_id):
        user.memberships.remove(row)
        session.delete(row)
        audit.record(session, "role_revoked", school_id=school_id, actor=head, subject=user,
                     detail={"role": row.role})
    end_sessions(user)
    audit.record(session, "member_removed", school_id=school_id, actor=head, subject=user)


def close_what_waits(session: Session, school_id: int, head: User, user: User) -> None:
    """A role grant waiting for a second person, or an invitation not yet accepted, would bring a
    deactivated or removed member back with a new role: both are closed, audited."""
    now = utcnow()
    for proposal in grants.waiting_for(session, school_id, user):
        proposal.decided_at, proposal.decided_by_id, proposal.confirmed = now, head.id, False
        audit.record(session, "role_proposal_withdrawn", school_id=school_id, actor=head,
                     subject=user, detail={"role": proposal.role, "proposal": proposal.id})
    for invitation in session.scalars(select(Invitation).where(
            Invitation.school_id == school_id, Invitation.email == user.email.lower(),
            Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))):
        invitation.revoked_at = now
        audit.record(session, "invitation_revoked", school_id=school_id, actor=head,
                     subject=invitation, detail={"role": invitation.role})


def refuse_takeover(session: Session, user: User, school_id: int) -> None:
    """One head alone never resets the password or second factor of a DSL or head: with both, they
    could sign in as that person, and granting either role takes two people (grants.py). The
    role is taken away first (its grant again then takes a second person), or the DSL or head
    uses their recovery codes. A deactivated role counts (reactivation gives it back as it was),
    and so does a grant of either role waiting for its second person."""
    held = {m.role for m in rows_at(user, school_id)}
    waiting = {proposal.role for proposal in grants.waiting_for(session, school_id, user)}
    if (held | waiting) & SECOND_PERSON_ROLES:
        raise MemberError(_("A DSL's or head's password and second factor cannot be reset by one "
                            "person. Take the role away first (granting it again takes two "
                            "people), or they can use a recovery code."))


def set_temporary_password(session: Session, school_id: int, head: User, user: User,
                           password: str) -> None:
    """For someone who cannot reset their own: they must choose a new one when they sign in.

    Refused for anyone who also works at another school or the trust (a head of one school must
    not be able to take over an account that opens more than this school) and for a DSL or head
    (refuse_takeover).
    """
    if user.id == head.id:
        raise MemberError(_("Change your own password from your account page."))
    if any(m.school_id != school_id for m in user.memberships) or second_factor.trust_roles(user):
        raise MemberError(_("This person also belongs to another school or the trust: they can "
                            "reset their password themselves."))
    refuse_takeover(session, user, school_id)
    check_new_password(password, password)
    set_password(session, user, password, chosen_by_user=False)
    audit.record(session, "temporary_password_set", school_id=school_id, actor=head, subject=user)


def reset_second_factor(session: Session, school_id: int, head: User, user: User) -> None:
    """For someone who lost their phone and their recovery codes: they enrol again at sign-in.

    Refused, as a temporary password is, for anyone who also works at another school or a trust,
    and for a DSL or head (refuse_takeover).
    """
    if user.id == head.id:
        raise MemberError(_("You cannot do this to your own account."))
    if any(m.school_id != school_id for m in user.memberships) or second_factor.trust_roles(user):
        raise MemberError(_("This person also belongs to another school or the trust: ask the "
                            "trust admin to reset their second factor."))
    refuse_takeover(session, user, school_id)
    second_factor.reset(session, user, head, school_id)
