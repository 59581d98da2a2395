"""Granting `dsl` or `head` takes two people: one proposes, another confirms.

The DSL reads every safeguarding reason and the head manages everyone's roles, so neither role is
given on one person's word. A head proposes (by ticking the role, or by an invitation); another
active head of the school, its active DSL, or the admin of the school's trust confirms or
refuses. Nobody confirms a grant they proposed or one that names them. The command line (the
server's operator) may confirm where a school has nobody else yet. Every step is audited.
"""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from consent.models import utcnow
from gatekeeper.compliance import audit
from gatekeeper.models import Membership, User
from gatekeeper.people.models import RoleProposal, TrustMembership
from gatekeeper.people.trusts import trust_of_school

SECOND_PERSON_ROLES = frozenset({"dsl", "head"})
# Who may confirm, besides a trust admin of the school's trust.
CONFIRMING_ROLES = frozenset({"head", "dsl"})


class GrantError(ValueError):
    """A proposal that cannot be made or decided; the message is fit to show."""


def propose(session: Session, school_id: int, proposer: User | None, user: User,
            role: str) -> RoleProposal:
    """Ask a second person to confirm `role` for `user` at this school."""
    if proposer is not None and proposer.id == user.id:
        raise GrantError(_("Nobody grants a role to themselves: another head must do it."))
    if role in {m.role for m in user.memberships if m.school_id == school_id}:
        raise GrantError(_("%(name)s already holds this role.", name=user.name))
    waiting = next((p for p in waiting_for(session, school_id, user) if p.role == role), None)
    if waiting is not None:
        return waiting
    proposal = RoleProposal(school_id=school_id, user_id=user.id, role=role,
                            proposed_by_id=proposer.id if proposer else None)
    session.add(proposal)
    session.flush()
    audit.record(session, "role_proposed", school_id=school_id, actor=proposer or "command line",
                 subject=user, detail={"role": role, "proposal": proposal.id})
    return proposal


def waiting_for(session: Session, school_id: int, user: User) -> list[RoleProposal]:
    """The grants for this person at this school still waiting for their second person."""
    return [proposal for proposal in session.scalars(select(RoleProposal).where(
        RoleProposal.school_id == school_id, RoleProposal.user_id == user.id,
        RoleProposal.decided_at.is_(None)).order_by(RoleProposal.id))
        if standing(session, proposal)]


def pending(session: Session, school_ids: list[int]) -> list[RoleProposal]:
    return [proposal for proposal in session.scalars(select(RoleProposal).where(
        RoleProposal.school_id.in_(school_ids), RoleProposal.decided_at.is_(None))
        .order_by(RoleProposal.id)) if standing(session, proposal)]


def standing(session: Session, proposal: RoleProposal) -> bool:
    """A grant waits on its proposer's word: the command line's always, a person's while they may
    still give roles at the school. Once the head who proposed it is deactivated, removed or no
    longer head, one person alone would be left to decide it."""
    proposer = proposal.proposed_by
    return proposer is None or may_give_roles(session, proposer, proposal.school_id)


def may_give_roles(session: Session, user: User, school_id: int) -> bool:
    """An active account that is a head of the school (not deactivated there) or the admin of its
    trust: who may propose a grant or send an invitation."""
    return user.active and ("head" in user.roles_at(school_id)
                            or administers_trust_of(session, user, school_id))


def administers_trust_of(session: Session, user: User, school_id: int) -> bool:
    trust = trust_of_school(session, school_id)
    return trust is not None and session.scalar(select(TrustMembership.id).where(
        TrustMembership.trust_id == trust.id, TrustMembership.user_id == user.id,
        TrustMembership.role == "trust_admin", TrustMembership.suspended_at.is_(None))) is not None


def may_decide(session: Session, proposal: RoleProposal, decider: User) -> bool:
    """Another head or the DSL of the school, or its trust's admin; never the proposer or the
    named."""
    if decider.id in (proposal.proposed_by_id, proposal.user_id):
        return False
    if decider.roles_at(proposal.school_id) & CONFIRMING_ROLES:
        return True
    return administers_trust_of(session, decider, proposal.school_id)


def decide(session: Session, proposal_id: int, school_ids: list[int], decider: User | str,
           confirm: bool) -> RoleProposal:
    """Confirm (the role is granted) or refuse a pending proposal of one of `school_ids`; exactly
    once, even when two people press at the same moment. A string decider is the command line."""
    proposal = session.get(RoleProposal, proposal_id)
    if proposal is None or proposal.school_id not in school_ids or not standing(session, proposal):
        raise GrantError(_("No such role grant waiting."))
    withdrawn = isinstance(decider, User) and decider.id == proposal.proposed_by_id
    if isinstance(decider, User) and not may_decide(session, proposal, decider) and not (
            withdrawn and not confirm):  # the proposer may take it back, never confirm it
        raise GrantError(_("Another head, the DSL or the trust admin must decide this: not the "
                           "person who proposed it, nor the person it names."))
    decided = session.execute(update(RoleProposal).where(
        RoleProposal.id == proposal.id, RoleProposal.decided_at.is_(None)).values(
        decided_at=utcnow(), confirmed=confirm,
        decided_by_id=decider.id if isinstance(decider, User) else None))
    if decided.rowcount != 1:
        raise GrantError(_("This role grant has already been decided."))
    session.refresh(proposal)
    if confirm:
        grant(session, proposal, decider)
    else:
        audit.record(session, "role_proposal_refused", school_id=proposal.school_id, actor=decider,
                     subject=proposal.user, detail={"role": proposal.role, "proposal": proposal.id,
                                                    "withdrawn": withdrawn})
    return proposal


def add_role(user: User, school_id: int, role: str, authorised_by_id: int | None) -> None:
    """Give the role here, unless held. A deactivated member's new role is deactivated with the
    others: it comes back when the head reactivates them, never before."""
    rows = [m for m in user.memberships if m.school_id == school_id]
    if role in {m.role for m in rows}:
        return
    suspended = [m.suspended_at for m in rows]
    user.memberships.append(Membership(
        school_id=school_id, role=role, authorised_by_id=authorised_by_id,
        suspended_at=min(suspended) if suspended and all(suspended) else None))


def grant(session: Session, proposal: RoleProposal, decider: User | str) -> None:
    user = proposal.user
    add_role(user, proposal.school_id, proposal.role, proposal.proposed_by_id)
    audit.record(session, "role_granted", school_id=proposal.school_id, actor=decider, subject=user,
                 detail={"role": proposal.role, "proposal": proposal.id,
                         "proposed_by": proposal.proposed_by.email if proposal.proposed_by else
                         "command line"})
