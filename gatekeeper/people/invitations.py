"""Invitations: one role at one school for one email address, accepted through a one-time link.

Nobody is added to a school by typing their email: a new person creates their account from the
link, and a person who already has an account signs in and accepts. Issuing an invitation never
looks up whether an account exists, so the reply to the inviter cannot say.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from consent.models import School, utcnow
from gatekeeper.compliance import audit
from gatekeeper.models import ROLES, TRUST_ROLES, User
from gatekeeper.people import grants, tokens, trusts
from gatekeeper.people.auth import hash_password
from gatekeeper.people.models import Invitation, Trust
from gatekeeper.people.passwords import check_new_password

INVITATION_LIFETIME = dt.timedelta(hours=24)
TOKEN_PURPOSE = "invitation"
MAX_EMAIL = 254
MAX_NAME = 200


class InvitationError(ValueError):
    """An invitation that cannot be sent or accepted; the message is fit to show."""


class InvitationRefused(InvitationError):
    """The link opens nothing: not genuine, withdrawn, used or expired. `status` is the HTTP
    reply."""

    def __init__(self, message: str, status: int = 404):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class IssuedInvitation:
    invitation: Invitation
    token: str


def normal_email(email: str) -> str:
    """The address as stored (trimmed, lower case), or InvitationError when it cannot be one."""
    email = email.strip().lower()
    local, at, domain = email.partition("@")
    if (not at or not local or "." not in domain or len(email) > MAX_EMAIL
            or any(c.isspace() for c in email)):
        raise InvitationError(_("%(email)s is not an email address.", email=email[:80]))
    return email


def invite(session: Session, school: School, email: str, role: str,
           inviter: User | None) -> IssuedInvitation:
    """Invite `email` to hold `role` at `school`; a new invitation replaces an open one for the
    same."""
    email = normal_email(email)
    if role not in ROLES:
        raise InvitationError(_("Unknown role %(role)s; expected one of %(roles)s.",
                                role=role[:40], roles=", ".join(ROLES)))
    return issue(session, email, role, inviter, school=school)


def invite_to_trust(session: Session, trust: Trust, email: str, role: str,
                    inviter: User | None) -> IssuedInvitation:
    """Invite `email` to hold a trust role (trust_admin or dpo) at `trust`."""
    email = normal_email(email)
    if role not in TRUST_ROLES:
        raise InvitationError(_("Unknown role %(role)s; expected one of %(roles)s.",
                                role=role[:40], roles=", ".join(TRUST_ROLES)))
    return issue(session, email, role, inviter, trust=trust)


def issue(session: Session, email: str, role: str, inviter: User | None, *,
          school: School | None = None, trust: Trust | None = None) -> IssuedInvitation:
    """The invitation and its one-time token; an open one for the same place and role is
    replaced."""
    if inviter is not None and inviter.email.lower() == email:
        raise InvitationError(_("You cannot invite yourself: nobody grants a role to themselves."))
    now = utcnow()
    school_id, trust_id = (school.id if school else None), (trust.id if trust else None)
    place = (Invitation.school_id == school_id) if school else (Invitation.trust_id == trust_id)
    session.execute(update(Invitation).where(
        place, Invitation.email == email, Invitation.role == role,
        Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None),
    ).values(revoked_at=now))
    secret, digest = tokens.new_secret()
    invitation = Invitation(school_id=school_id, trust_id=trust_id, email=email, role=role,
                            invited_by_id=inviter.id if inviter else None,
                            invited_by=inviter.email if inviter else "command line",
                            token_hash=digest, created_at=now, expires_at=now + INVITATION_LIFETIME)
    session.add(invitation)
    session.flush()
    audit.record(session, "invitation_sent", school_id=school_id, actor=inviter or "command line",
                 subject=invitation, detail={"email": email, "role": role, "trust": trust_id})
    return IssuedInvitation(invitation, tokens.make_token(TOKEN_PURPOSE, invitation.id, secret))


def open_invitation(session: Session, token: str, now: dt.datetime | None = None) -> Invitation:
    """The invitation a link opens, if it is genuine, still open and not expired."""
    now = now or utcnow()
    try:
        row_id, secret = tokens.read_token(TOKEN_PURPOSE, token)
    except tokens.TokenRefused:
        raise InvitationRefused(_("This link does not work. "
                                  "Check that you copied all of it.")) from None
    invitation = session.get(Invitation, row_id)
    if invitation is None or not tokens.matches(invitation.token_hash, secret):
        raise InvitationRefused(_("This link does not work. Check that you copied all of it."))
    if invitation.accepted_at is not None:
        raise InvitationRefused(_("This invitation has already been used. Sign in instead."), 410)
    if invitation.revoked_at is not None or not sender_may_still_invite(session, invitation):
        raise InvitationRefused(_("This invitation was withdrawn or replaced by a newer one."), 410)
    if invitation.expires_at <= now:
        raise InvitationRefused(_("This invitation has expired. Ask for a new one."), 410)
    return invitation


def sender_may_still_invite(session: Session, invitation: Invitation) -> bool:
    """Whether whoever sent the invitation may still send it: the command line always; a person
    while they may give roles at the school (grants.may_give_roles), or for a trust's role while
    they administer the trust. A head who left, was deactivated or is no longer head takes their
    open invitations with them: an invitation holds on its sender's word."""
    sender = invitation.inviter
    if sender is None:
        return True
    if invitation.school_id is not None:
        return grants.may_give_roles(session, sender, invitation.school_id)
    return sender.active and "trust_admin" in trusts.roles_by_trust(session, sender).get(
        invitation.trust_id, set())


def invited_place(session: Session, token: str) -> tuple[int | None, int | None]:
    """The school (or, for a trust's role, the trust) a genuine invitation link names, used or
    not, as (school id, trust id): its pages speak that place's language."""
    invitation = tokens.genuine_row(session, Invitation, TOKEN_PURPOSE, token)
    return (invitation.school_id, invitation.trust_id) if invitation is not None else (None, None)


def account_for(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.email) == email.lower()))


def accept_as_new(session: Session, invitation: Invitation, name: str, password: str,
                  confirm: str) -> User:
    """Create the invited person's account with the password they chose, holding the role."""
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME:
        raise InvitationError(_("Give your name (at most %(n)d characters).", n=MAX_NAME))
    check_new_password(password, confirm)
    if account_for(session, invitation.email) is not None:
        raise InvitationError(_("Sign in with your Gatekeeper account first, "
                                "then open this link again."))
    user = User(email=invitation.email, name=name, password_hash=hash_password(password))
    session.add(user)
    session.flush()
    audit.record(session, "user_created", school_id=invitation.school_id, actor=user, subject=user,
                 detail={"email": user.email, "name": name, "invitation": invitation.id})
    grant(session, invitation, user)
    return user


def accept_as_member(session: Session, invitation: Invitation, user: User) -> None:
    """A signed-in user accepts an invitation addressed to them (joining another school, a new
    role)."""
    if user.email.lower() != invitation.email:
        raise InvitationRefused(_("This invitation was sent to another address. Sign out, then "
                                  "open the link again."), 403)
    grant(session, invitation, user)


def grant(session: Session, invitation: Invitation, user: User) -> None:
    """Mark the invitation used (exactly once, even under a race) and give the role it offers."""
    if user.id == invitation.invited_by_id:
        raise InvitationRefused(_("Nobody grants a role to themselves."), 403)
    used = session.execute(update(Invitation).where(
        Invitation.id == invitation.id, Invitation.accepted_at.is_(None),
        Invitation.revoked_at.is_(None),
    ).values(accepted_at=utcnow(), accepted_by_id=user.id))
    if used.rowcount != 1:
        raise InvitationRefused(_("This invitation has already been used. Sign in instead."), 410)
    audit.record(session, "invitation_accepted", school_id=invitation.school_id, actor=user,
                 subject=invitation, detail={"role": invitation.role})
    if invitation.trust_id is not None:
        trusts.grant_trust_role(session, invitation.trust_id, user, invitation.role,
                                invitation.invited_by_id)
    elif needs_second_person(session, invitation):
        grants.propose(session, invitation.school_id, invitation.inviter, user, invitation.role)
        return
    else:  # a deactivated member stays deactivated until reactivated
        grants.add_role(user, invitation.school_id, invitation.role, invitation.invited_by_id)
    audit.record(session, "role_granted", school_id=invitation.school_id,
                 actor=invitation.inviter or invitation.invited_by, subject=user,
                 detail={"role": invitation.role, "invitation": invitation.id})


def needs_second_person(session: Session, invitation: Invitation) -> bool:
    """A head's invitation to dsl or head waits for a second person once accepted; the command
    line's (a new school's first head) and the trust admin's (who would confirm it) do not."""
    if invitation.role not in grants.SECOND_PERSON_ROLES or invitation.inviter is None:
        return False
    trust = trusts.trust_of_school(session, invitation.school_id)
    return trust is None or "trust_admin" not in trusts.roles_by_trust(
        session, invitation.inviter).get(trust.id, set())


def waiting_for_second_person(invitation: Invitation, user: User) -> bool:
    """Whether the accepted invitation left the user without its role until someone confirms."""
    if invitation.trust_id is not None:
        return False
    return invitation.role not in {m.role for m in user.memberships
                                   if m.school_id == invitation.school_id}


def open_invitations(session: Session, school_id: int) -> list[Invitation]:
    """Invitations of a school not yet accepted, withdrawn or expired, whose sender may still
    send them, newest first: the ones whose link works."""
    return [invitation for invitation in session.scalars(select(Invitation).where(
        Invitation.school_id == school_id, Invitation.accepted_at.is_(None),
        Invitation.revoked_at.is_(None), Invitation.expires_at > utcnow(),
    ).order_by(Invitation.id.desc())) if sender_may_still_invite(session, invitation)]


def revoke(session: Session, school_id: int, invitation_id: int, head: User) -> None:
    """Withdraw an open invitation of this school (another school's is not found)."""
    invitation = session.get(Invitation, invitation_id)
    if invitation is None or invitation.school_id != school_id:
        raise InvitationRefused(_("No such open invitation."))
    withdraw(session, invitation, head)


def trust_invitations(session: Session, trust_id: int):
    """The invitations a trust admin answers for: to the trust's own roles, and to head one of
    its schools (a school's other roles are its head's)."""
    return or_(Invitation.trust_id == trust_id,
               and_(Invitation.school_id.in_(trusts.school_ids(session, trust_id)),
                    Invitation.role == "head"))


def open_trust_invitations(session: Session, trust_id: int) -> list[Invitation]:
    """The trust's invitations whose link works, newest first."""
    return [invitation for invitation in session.scalars(select(Invitation).where(
        trust_invitations(session, trust_id), Invitation.accepted_at.is_(None),
        Invitation.revoked_at.is_(None), Invitation.expires_at > utcnow(),
    ).order_by(Invitation.id.desc())) if sender_may_still_invite(session, invitation)]


def revoke_for_trust(session: Session, trust_id: int, invitation_id: int, admin: User) -> None:
    """Withdraw an open invitation of this trust (another trust's is not found)."""
    invitation = session.scalar(select(Invitation).where(
        Invitation.id == invitation_id, trust_invitations(session, trust_id)))
    if invitation is None:
        raise InvitationRefused(_("No such open invitation."))
    withdraw(session, invitation, admin)


def withdraw(session: Session, invitation: Invitation, actor: User) -> None:
    """Its link stops working at once; one accepted meanwhile stays accepted."""
    done = session.execute(update(Invitation).where(
        Invitation.id == invitation.id, Invitation.accepted_at.is_(None),
        Invitation.revoked_at.is_(None),
    ).values(revoked_at=utcnow()).execution_options(synchronize_session=False))
    if done.rowcount != 1:
        raise InvitationRefused(_("No such open invitation."))
    audit.record(session, "invitation_revoked", school_id=invitation.school_id, actor=actor,
                 subject=invitation, detail={"email": invitation.email, "role": invitation.role,
                                             "trust": invitation.trust_id})
