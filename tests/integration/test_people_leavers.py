"""A deactivated or removed member stays out: one head cannot take over a DSL by deactivating
them first, and a role grant or invitation that was waiting does not bring them back."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gatekeeper.models import AuditEvent, Membership, User
from gatekeeper.people.models import Invitation, RoleProposal
from tests.support.fixtures import Browser, invitation_path

TEMP = "a temporary password"


def user_id(ctx, email: str) -> int:
    with ctx():
        return ctx.db.session.scalar(select(User.id).where(User.email == email))


def actions(ctx) -> list[str]:
    with ctx():
        return list(ctx.db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_a_deactivated_dsl_still_cannot_be_taken_over_by_one_head(app, login_as, ctx):
    dsl = user_id(ctx, "dsl@testschool.test")
    head = login_as("head")
    head.post(f"/head/users/{dsl}/deactivate")
    reset = head.post(f"/head/users/{dsl}/second-factor/reset", follow_redirects=True)
    password = head.post(f"/head/users/{dsl}/password", {"password": TEMP}, follow_redirects=True)
    for page in (reset, password):
        assert "cannot be reset by one person" in page.get_data(as_text=True)
    head.post(f"/head/users/{dsl}/reactivate")
    assert "second_factor_reset" not in actions(ctx)
    assert "temporary_password_set" not in actions(ctx)
    browser = Browser(app.test_client())
    browser.refresh_token()
    signed = browser.client.post("/auth/login", data={
        "email": "dsl@testschool.test", "password": TEMP, "csrf_token": browser.token})
    assert signed.status_code == 200 and "not recognised" in signed.get_data(as_text=True)


def test_nor_a_member_with_a_dsl_grant_waiting(app, login_as, ctx):
    staff = user_id(ctx, "staff@testschool.test")
    head = login_as("head")
    head.post(f"/head/users/{staff}/roles", {"role": ["staff", "dsl"]})
    with ctx():
        assert ctx.db.session.scalar(select(RoleProposal.role)) == "dsl"
    page = head.post(f"/head/users/{staff}/password", {"password": TEMP}, follow_redirects=True)
    assert "cannot be reset by one person" in page.get_data(as_text=True)


@pytest.mark.parametrize("action", ["deactivate", "remove"])
def test_a_grant_waiting_for_a_second_person_is_closed_when_the_member_leaves(
        app, login_as, ctx, action):
    staff = user_id(ctx, "staff@testschool.test")
    head = login_as("head")
    head.post(f"/head/users/{staff}/roles", {"role": ["staff", "dsl"]})
    head.post(f"/head/users/{staff}/{action}")
    with ctx():
        proposal = ctx.db.session.scalar(select(RoleProposal))
        assert proposal.decided_at is not None and not proposal.confirmed
        proposal_id = proposal.id
    login_as("dsl").post(f"/grants/{proposal_id}/confirm")  # too late: already closed
    with ctx():
        roles = {(m.role, m.suspended_at is None) for m in ctx.db.session.scalars(
            select(Membership).where(Membership.user_id == staff))}
    assert ("dsl", True) not in roles
    assert "role_proposal_withdrawn" in actions(ctx) and "role_granted" not in actions(ctx)
    again = Browser(app.test_client())
    again.login("staff@testschool.test")
    assert again.get("/safeguarding/").status_code != 200


def test_an_open_invitation_is_revoked_when_the_member_is_deactivated(app, login_as, ctx):
    staff = user_id(ctx, "staff@testschool.test")
    head = login_as("head")
    link = invitation_path(head.post("/head/invitations", {"email": "staff@testschool.test",
                                                           "role": "admin"}))
    head.post(f"/head/users/{staff}/deactivate")
    with ctx():
        assert ctx.db.session.scalar(select(Invitation.revoked_at)) is not None
    me = Browser(app.test_client())
    me.login("staff@testschool.test")
    me.refresh_token(link)
    me.post(link)
    with ctx():
        assert {(m.role, m.suspended_at is None) for m in ctx.db.session.scalars(
            select(Membership).where(Membership.user_id == staff))} == {("staff", False)}
    assert me.get("/register/").status_code != 200


def test_a_role_given_to_a_deactivated_member_waits_for_their_reactivation(app, ctx, school):
    from consent.models import utcnow
    from gatekeeper.people.grants import add_role

    with ctx():
        session = ctx.db.session
        staff = session.scalar(select(User).where(User.email == "staff@testschool.test"))
        admin = session.scalar(select(User).where(User.email == "admin@testschool.test"))
        for row in staff.memberships:
            row.suspended_at = utcnow()
        add_role(staff, school["id"], "admin", None)
        add_role(admin, school["id"], "media_lead", None)
        session.commit()
        assert staff.roles_at(school["id"]) == set()
        assert "media_lead" in admin.roles_at(school["id"])


@pytest.mark.parametrize("change", ["deactivate", "remove", "roles"])
def test_an_invitation_leaves_with_the_head_who_sent_it(app, login_as, ctx, school, change):
    # A head on their way out invites an address of their own (or a friend's) as admin: once
    # they are deactivated, removed or no longer head, the link must not bring anyone in.
    leaving, other_head = user_id(ctx, "head@testschool.test"), "dsl@testschool.test"
    with ctx():
        ctx.db.session.add(Membership(user_id=user_id(ctx, other_head), school_id=school["id"],
                                      role="head"))
        ctx.db.session.commit()
    link = invitation_path(login_as("head").post("/head/invitations", {
        "email": "friend@elsewhere.test", "role": "admin"}))
    second = Browser(app.test_client())
    second.login(other_head)
    form = {"role": ["staff"]} if change == "roles" else {}
    assert second.post(f"/head/users/{leaving}/{change}", form).status_code == 302
    assert "friend@elsewhere.test" not in second.get("/head/users").get_data(as_text=True)
    friend = Browser(app.test_client())
    friend.refresh_token(link)
    assert friend.get(link).status_code == 410
    new = "a brand new long password"
    accepted = friend.post(link, {"name": "Friend", "password": new, "confirm": new})
    assert accepted.status_code == 410
    with ctx():
        assert ctx.db.session.scalar(
            select(User).where(User.email == "friend@elsewhere.test")) is None
