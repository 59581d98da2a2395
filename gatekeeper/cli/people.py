"""`gatekeeper school add`, `gatekeeper user invite` and `gatekeeper trust ...`: a school of its
own and its first head, a trust of schools and its admin and DPO.

The invitation's link is printed once and is the only copy: the database keeps its hash.
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from consent.models import School
from gatekeeper.cli.base import CommandError, current_school, school_option
from gatekeeper.extensions import db
from gatekeeper.models import ROLES, TRUST_ROLES
from gatekeeper.people import grants, invitations, schools, second_factor, trusts
from gatekeeper.people.links import invitation_url


@click.group("school")
def school_group() -> None:
    """Schools: add one, list them."""


@school_group.command("add")
@click.option("--name", required=True, help="The school's name as parents know it.")
@click.option("--urn", required=True, help="The DfE Unique Reference Number (six digits).")
@click.option("--la-code", help="The local authority code (three digits, the start of its UPNs).")
@click.option("--postcode", help="The school's postcode (the caption check warns on it).")
@click.option("--language", default="en", show_default=True, help="Default language: en or cy.")
@with_appcontext
def school_add(name: str, urn: str, la_code: str | None, postcode: str | None,
               language: str) -> None:
    """Add a school; then invite its head with `gatekeeper user invite EMAIL --role head`."""
    details = schools.SchoolDetails(name, urn, la_code, postcode, language)
    try:
        school = schools.add_school(db.session, details, "command line")
        db.session.commit()
    except schools.SchoolError as error:
        db.session.rollback()
        raise CommandError(str(error)) from None
    click.echo(f"added school {school.name} (URN {school.urn})")


@school_group.command("list")
@with_appcontext
def school_list() -> None:
    """One line per school: URN and name."""
    for school in db.session.scalars(select(School).order_by(School.id)):
        click.echo(f"{school.urn or '-':<8} {school.name}")


@click.group("user")
def user_group() -> None:
    """People: invite someone to a school."""


@user_group.command("invite")
@click.argument("email")
@click.option("--role", required=True, help="One of: " + ", ".join(ROLES) + ".")
@click.option("--school", "urn", help="The school's URN (needed when there are several).")
@with_appcontext
def user_invite(email: str, role: str, urn: str | None) -> None:
    """Invite EMAIL to a role; prints the one-time link (valid 24 hours) to give them."""
    if role not in ROLES:
        raise CommandError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    school = current_school(urn)
    try:
        issued = invitations.invite(db.session, school, email, role, None)
        db.session.commit()
    except invitations.InvitationError as error:
        db.session.rollback()
        raise CommandError(str(error)) from None
    hours = int(invitations.INVITATION_LIFETIME.total_seconds() // 3600)
    click.echo(f"invited {issued.invitation.email} as {role} at {school.name}; "
               f"this link works once, for {hours} hours:")
    click.echo(invitation_url(issued.token, current_app.config))


@user_group.command("reset-second-factor")
@click.argument("email")
@with_appcontext
def user_reset_second_factor(email: str) -> None:
    """Forget EMAIL's authenticator and recovery codes (a lost phone); they enrol again at
    sign-in."""
    user = invitations.account_for(db.session, email.strip())
    if user is None:
        raise CommandError(f"no account with the address {email.strip()[:80]}")
    second_factor.reset(db.session, user, "command line")
    db.session.commit()
    click.echo(f"second factor of {user.email} reset: they set it up again when they next sign in")


@user_group.command("grants")
@school_option
@with_appcontext
def user_grants(school_id: str | None) -> None:
    """The DSL and head grants waiting for a second person: one line each, with the number
    `user confirm-role` takes."""
    school = current_school(school_id)
    for proposal in grants.pending(db.session, [school.id]):
        by = proposal.proposed_by.email if proposal.proposed_by else "command line"
        click.echo(f"{proposal.id:<6} {proposal.role:<5} {proposal.user.email} (proposed by {by})")


@user_group.command("confirm-role")
@click.argument("proposal_id", type=int)
@click.option("--refuse", is_flag=True, help="Refuse the grant instead of confirming it.")
@with_appcontext
def user_confirm_role(proposal_id: int, refuse: bool) -> None:
    """Decide a grant of dsl or head waiting for a second person (its number is on Role grants);
    for a school that has nobody else yet to confirm it."""
    proposal = db.session.get(grants.RoleProposal, proposal_id)
    try:
        grants.decide(db.session, proposal_id, [proposal.school_id] if proposal else [],
                      "command line", not refuse)
        db.session.commit()
    except grants.GrantError as error:
        db.session.rollback()
        raise CommandError(str(error)) from None
    verb = "refused" if refuse else "confirmed"
    click.echo(f"{verb}: {proposal.role} for {proposal.user.email}")


@click.group("trust")
def trust_group() -> None:
    """Trusts: add one, put schools in it, invite its admin and DPO."""


def trust_for(name: str):
    trust = trusts.trust_named(db.session, name)
    if trust is None:
        raise CommandError(f"no trust called {name.strip()[:80]}: see `gatekeeper trust list`")
    return trust


@trust_group.command("add")
@click.option("--name", required=True, help="The trust's name.")
@click.option("--language", default="en", show_default=True, help="Default language: en or cy.")
@with_appcontext
def trust_add(name: str, language: str) -> None:
    """Add a trust; then put schools in it and invite its admin."""
    try:
        trust = trusts.add_trust(db.session, name, "command line", language)
        db.session.commit()
    except trusts.TrustError as error:
        db.session.rollback()
        raise CommandError(str(error)) from None
    click.echo(f"added trust {trust.name}")


@trust_group.command("list")
@with_appcontext
def trust_list() -> None:
    """One line per trust: its name and its schools' URNs."""
    for trust in db.session.scalars(select(trusts.Trust).order_by(trusts.Trust.name)):
        urns = ",".join(s.urn or "-" for s in trusts.schools_of(db.session, trust.id))
        click.echo(f"{trust.name}: {urns or 'no schools'}")


@trust_group.command("add-school")
@click.option("--trust", "name", required=True, help="The trust's name.")
@click.option("--school", "urn", required=True, help="The school's URN.")
@with_appcontext
def trust_add_school(name: str, urn: str) -> None:
    """Put a school in a trust (a school is in one trust at most)."""
    trust, school = trust_for(name), current_school(urn)
    try:
        trusts.put_school(db.session, trust, school, "command line")
        db.session.commit()
    except trusts.TrustError as error:
        db.session.rollback()
        raise CommandError(str(error)) from None
    click.echo(f"{school.name} (URN {school.urn}) is now in {trust.name}")


@trust_group.command("invite")
@click.argument("email")
@click.option("--trust", "name", required=True, help="The trust's name.")
@click.option("--role", required=True, type=click.Choice(TRUST_ROLES), help="trust_admin or dpo.")
@with_appcontext
def trust_invite(email: str, name: str, role: str) -> None:
    """Invite EMAIL to a trust role; prints the one-time link (valid 24 hours) to give them."""
    trust = trust_for(name)
    try:
        issued = invitations.invite_to_trust(db.session, trust, email, role, None)
        db.session.commit()
    except invitations.InvitationError as error:
        db.session.rollback()
        raise CommandError(str(error)) from None
    hours = int(invitations.INVITATION_LIFETIME.total_seconds() // 3600)
    click.echo(f"invited {issued.invitation.email} as {role} at {trust.name}; "
               f"this link works once, for {hours} hours:")
    click.echo(invitation_url(issued.token, current_app.config))


@trust_group.command("remove")
@click.argument("email")
@click.option("--trust", "name", required=True, help="The trust's name.")
@with_appcontext
def trust_remove(email: str, name: str) -> None:
    """Take every role EMAIL holds at the trust away and end their sessions (someone who left)."""
    trust = trust_for(name)
    user = invitations.account_for(db.session, email.strip())
    if user is None:
        raise CommandError(f"no account with the address {email.strip()[:254]}")
    try:
        trusts.remove_from_trust(db.session, trust, user.id, "command line")
        db.session.commit()
    except trusts.TrustError as error:
        db.session.rollback()
        raise CommandError(str(error)) from None
    click.echo(f"{user.email} no longer holds a role at {trust.name}")


def register(main: click.Group) -> None:
    main.add_command(school_group)
    main.add_command(user_group)
    main.add_command(trust_group)
