"""Every case of the one-time invitation link: genuine, expired, reused, tampered, forged,
withdrawn, replaced, and another user's."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from gatekeeper.models import Membership, User
from tests.support.fixtures import Browser, invitation_path

NEW_PASSWORD = "a brand new long password"


def invite(head: Browser, email: str, role: str = "staff") -> str:
    page = head.post("/head/invitations", {"email": email, "role": role})
    assert page.status_code == 200, page.get_data(as_text=True)[:300]
    return invitation_path(page)


def accept_new(app, path: str, name: str = "New Person"):
    browser = Browser(app.test_client())
    browser.refresh_token("/auth/login")
    return browser, browser.post(path, {"name": name, "password": NEW_PASSWORD,
                                        "confirm": NEW_PASSWORD})


def account(app, email: str) -> User | None:
    with app.app_context():
        from gatekeeper.extensions import db

        user = db.session.scalar(select(User).where(User.email == email))
        return None if user is None else {"id": user.id, "roles": user.roles_at(1)}


def test_a_genuine_link_creates_the_account_once(app, login_as):
    path = invite(login_as("head"), "new@testschool.test")
    browser, response = accept_new(app, path)
    assert response.status_code == 302
    assert account(app, "new@testschool.test")["roles"] == {"staff"}
    assert browser.get("/uploads/").status_code == 200
    _, again = accept_new(app, path, "Someone Else")
    assert again.status_code == 410 and "already been used" in again.get_data(as_text=True)
    assert Browser(app.test_client()).get(path).status_code == 410


def test_an_expired_link_opens_nothing(app, login_as, ctx):
    from gatekeeper.people.models import Invitation

    path = invite(login_as("head"), "late@testschool.test")
    with ctx():
        invitation = ctx.db.session.scalar(select(Invitation))
        invitation.expires_at = invitation.created_at - dt.timedelta(seconds=1)
        ctx.db.session.commit()
    _, response = accept_new(app, path)
    assert response.status_code == 410 and "expired" in response.get_data(as_text=True)
    assert account(app, "late@testschool.test") is None


def test_the_link_is_good_for_24_hours_and_no_longer(app, login_as, ctx):
    from gatekeeper.people.invitations import (
        INVITATION_LIFETIME,
        InvitationRefused,
        open_invitation,
    )
    from gatekeeper.people.models import Invitation

    token = invite(login_as("head"), "clock@testschool.test").rsplit("/", 1)[1]
    with app.test_request_context():
        invitation = ctx.db.session.scalar(select(Invitation))
        start = invitation.created_at
        assert INVITATION_LIFETIME == dt.timedelta(hours=24)
        assert open_invitation(ctx.db.session, token, start + INVITATION_LIFETIME
                               - dt.timedelta(seconds=1)).id == invitation.id
        with pytest.raises(InvitationRefused):
            open_invitation(ctx.db.session, token, start + INVITATION_LIFETIME)


@pytest.mark.parametrize("damage", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature altered
    lambda t: t[:10],                                              # cut short
    lambda t: "x" + t,                                             # prefixed
    lambda t: "%00%27%3Cscript%3E",                                # hostile bytes
])
def test_a_tampered_link_opens_nothing(app, login_as, damage):
    path = invite(login_as("head"), "tamper@testschool.test")
    token = path.rsplit("/", 1)[1]
    _, response = accept_new(app, "/welcome/" + damage(token))
    assert response.status_code == 404
    assert account(app, "tamper@testschool.test") is None


def test_a_forged_token_pairing_one_invitation_with_another_secret_is_refused(app, login_as):
    from gatekeeper.people import tokens

    head = login_as("head")
    invite(head, "first@testschool.test")
    second = invite(head, "second@testschool.test").rsplit("/", 1)[1]
    with app.test_request_context():
        _, secret = tokens.read_token("invitation", second)
        forged = tokens.make_token("invitation", 1, secret)  # needs the app's key: the worst case
    _, response = accept_new(app, "/welcome/" + forged)
    assert response.status_code == 404
    assert account(app, "first@testschool.test") is None


def test_a_withdrawn_or_replaced_link_opens_nothing(app, login_as, ctx):
    from gatekeeper.people.models import Invitation

    head = login_as("head")
    old = invite(head, "twice@testschool.test")
    new = invite(head, "twice@testschool.test")  # a new link replaces the old
    assert accept_new(app, old)[1].status_code == 410
    with ctx():
        open_id = ctx.db.session.scalar(
            select(Invitation.id).where(Invitation.revoked_at.is_(None)))
    assert head.post(f"/head/invitations/{open_id}/revoke").status_code == 302
    assert accept_new(app, new)[1].status_code == 410
    assert account(app, "twice@testschool.test") is None


def test_another_users_link_does_not_add_the_signed_in_user(app, login_as, ctx):
    """A link for one address, opened by someone signed in as another, grants nothing."""
    with ctx():
        from tests.support.fixtures import make_school

        make_school(ctx.db.session, "Other School")
    other_head = Browser(app.test_client())
    other_head.login("head@otherschool.test")
    path = invite(other_head, "staff@testschool.test", "admin")
    intruder = login_as("admin")  # admin@testschool.test, not the address invited
    page = intruder.get(path)
    assert "sent to another address" in page.get_data(as_text=True)
    response = intruder.post(path)
    assert response.status_code == 403
    with ctx():
        admin = ctx.db.session.scalar(select(User).where(User.email == "admin@testschool.test"))
        assert admin.school_ids() == [1]
    # The invited person can still accept it afterwards: the refusal did not use the link up.
    invited = login_as("staff")
    invited.refresh_token(path)
    assert invited.post(path).status_code == 302
    with ctx():
        staff = ctx.db.session.scalar(select(User).where(User.email == "staff@testschool.test"))
        assert staff.school_ids() == [1, 2] and staff.roles_at(2) == {"admin"}


def test_an_existing_account_is_added_only_when_its_owner_accepts_signed_in(app, login_as, ctx):
    with ctx():
        from tests.support.fixtures import make_school

        make_school(ctx.db.session, "Other School")
    other_head = Browser(app.test_client())
    other_head.login("head@otherschool.test")
    existing = invite(other_head, "media_lead@testschool.test", "media_lead")
    unknown = invite(other_head, "nobody-yet@testschool.test", "media_lead")
    # The reply to the inviting head is the same page either way.
    with ctx():
        assert ctx.db.session.scalar(select(Membership).where(
            Membership.school_id == 2, Membership.user_id == 4)) is None
    anonymous = Browser(app.test_client())
    first, second = anonymous.get(existing), anonymous.get(unknown)
    assert first.status_code == second.status_code == 200
    # Typing a new password on the link does not take over the existing account.
    _, response = accept_new(app, existing, "Impostor")
    assert "Sign in with your Gatekeeper account first" in response.get_data(as_text=True)
    assert Browser(app.test_client()).login("media_lead@testschool.test").status_code == 302
    assert Browser(app.test_client()).login(
        "media_lead@testschool.test", NEW_PASSWORD).status_code != 302
    owner = login_as("media_lead")
    owner.refresh_token(existing)
    assert owner.post(existing).status_code == 302
    with ctx():
        user = ctx.db.session.get(User, 4)
        assert user.roles_at(2) == {"media_lead"} and user.roles_at(1) == {"media_lead"}


def test_nobody_accepts_their_own_invitation(app, login_as, ctx):
    """A head cannot invite themselves to a role (and so cannot grant themselves dsl)."""
    head = login_as("head")
    page = head.post("/head/invitations", {"email": "HEAD@testschool.test", "role": "dsl"})
    assert page.status_code == 302
    assert "cannot invite yourself" in head.get("/head/users").get_data(as_text=True)
    with ctx():
        from gatekeeper.people.models import Invitation

        assert ctx.db.session.scalar(select(Invitation)) is None
    assert head.get("/nopublish/").status_code == 403
