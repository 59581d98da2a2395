"""People at a school: deactivation, removal and temporary passwords end sessions at once; a head
acts on their own school's people only; forced and voluntary password changes; the school's
details; the current school on every page and an explicit switch between schools."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import select

from consent.models import School
from gatekeeper.models import AuditEvent, Membership, User
from gatekeeper.people.passwords import set_password
from tests.support.fixtures import PASSWORD, Browser, make_school

TEMPORARY = "a temporary password"
OWN = "my very own long password"


def user_id(ctx, email: str) -> int:
    with ctx():
        return ctx.db.session.scalar(select(User.id).where(User.email == email))


def two_schools(ctx) -> None:
    with ctx():
        make_school(ctx.db.session, "Other School")


def test_deactivation_ends_an_open_session_at_once_and_reactivation_restores_the_roles(
        app, login_as, ctx):
    staff = login_as("staff")
    assert staff.get("/uploads/").status_code == 200
    head = login_as("head")
    staff_id = user_id(ctx, "staff@testschool.test")
    with ctx():
        token_before = ctx.db.session.get(User, staff_id).session_token
    assert head.post(f"/head/users/{staff_id}/deactivate").status_code == 302
    gone = staff.get("/uploads/")
    assert gone.status_code == 302 and "/auth/login" in gone.headers["Location"]
    with ctx():
        user = ctx.db.session.get(User, staff_id)
        assert user.session_token != token_before and user.school_ids() == []
    again = Browser(app.test_client())
    again.login("staff@testschool.test")
    assert again.get("/uploads/").status_code == 403  # signed in, but no role here any more
    assert "deactivated" in head.get("/head/users").get_data(as_text=True)
    head.post(f"/head/users/{staff_id}/reactivate")
    assert again.get("/uploads/").status_code == 200


def test_removal_takes_every_role_here_and_ends_sessions(app, login_as, ctx):
    admin = login_as("admin")
    admin_id = user_id(ctx, "admin@testschool.test")
    login_as("head").post(f"/head/users/{admin_id}/remove")
    assert admin.get("/register/").status_code == 302
    with ctx():
        assert ctx.db.session.scalar(
            select(Membership).where(Membership.user_id == admin_id)) is None
        assert ctx.db.session.get(User, admin_id) is not None  # the account itself stays


def test_a_head_cannot_deactivate_or_remove_themselves_or_the_last_head(app, login_as, ctx):
    head = login_as("head")
    head_id = user_id(ctx, "head@testschool.test")
    head.post(f"/head/users/{head_id}/deactivate")
    head.post(f"/head/users/{head_id}/remove")
    assert head.get("/head/").status_code == 200
    with ctx():
        assert ctx.db.session.get(User, head_id).roles_at(1) == {"head"}


@pytest.mark.parametrize("action", ["deactivate", "reactivate", "remove", "password", "roles"])
def test_a_head_of_school_b_cannot_act_on_school_a_users(app, login_as, ctx, action):
    two_schools(ctx)
    victim = login_as("staff")  # staff of Test School (school A)
    other_head = Browser(app.test_client())
    assert other_head.login("head@otherschool.test").status_code == 302
    victim_id = user_id(ctx, "staff@testschool.test")
    with ctx():
        before = ctx.db.session.get(User, victim_id)
        token, hashed = before.session_token, before.password_hash
    response = other_head.post(f"/head/users/{victim_id}/{action}",
                               {"password": TEMPORARY, "role": "head"})
    assert response.status_code == 404
    with ctx():
        after = ctx.db.session.get(User, victim_id)
        assert (after.session_token, after.password_hash) == (token, hashed)
        assert after.school_ids() == [1] and after.roles_at(1) == {"staff"}
    assert victim.get("/uploads/").status_code == 200


def test_a_head_of_school_b_cannot_withdraw_school_a_invitations(app, login_as, ctx):
    from gatekeeper.people.models import Invitation

    two_schools(ctx)
    login_as("head").post("/head/invitations", {"email": "x@testschool.test", "role": "staff"})
    other_head = Browser(app.test_client())
    other_head.login("head@otherschool.test")
    with ctx():
        invitation_id = ctx.db.session.scalar(select(Invitation.id))
    assert other_head.post(f"/head/invitations/{invitation_id}/revoke").status_code == 404
    with ctx():
        assert ctx.db.session.get(Invitation, invitation_id).revoked_at is None


def test_a_temporary_password_must_be_changed_at_first_sign_in(app, login_as, ctx):
    staff = login_as("staff")
    staff_id = user_id(ctx, "staff@testschool.test")
    head = login_as("head")
    assert head.post(f"/head/users/{staff_id}/password", {"password": "short"}).status_code == 302
    with ctx():
        assert not ctx.db.session.get(User, staff_id).must_change_password
    head.post(f"/head/users/{staff_id}/password", {"password": TEMPORARY})
    assert staff.get("/uploads/").status_code == 302  # the open session has ended
    fresh = Browser(app.test_client())
    assert fresh.login("staff@testschool.test", PASSWORD).status_code != 302
    assert fresh.login("staff@testschool.test", TEMPORARY).status_code == 302
    for path in ("/uploads/", "/", "/uploads/mine"):
        response = fresh.get(path)
        assert (response.status_code == 302
                and response.headers["Location"].endswith("/account/password"))
    page = fresh.get("/account/password").get_data(as_text=True)
    assert "Someone else chose your current password" in page
    fresh.refresh_token("/account/password")
    same = fresh.post("/account/password", {"current": TEMPORARY, "password": TEMPORARY,
                                            "confirm": TEMPORARY})
    assert (same.status_code == 200
            and "different from the one you have now" in same.get_data(as_text=True))
    done = fresh.post("/account/password", {"current": TEMPORARY, "password": OWN, "confirm": OWN})
    assert done.status_code == 302
    assert fresh.get("/uploads/").status_code == 200  # this session carries on with the new token
    with ctx():
        assert not ctx.db.session.get(User, staff_id).must_change_password


def test_no_temporary_password_for_someone_who_also_works_at_another_school(app, login_as, ctx):
    two_schools(ctx)
    staff_id = user_id(ctx, "staff@testschool.test")
    with ctx():
        ctx.db.session.add(Membership(user_id=staff_id, school_id=2, role="staff"))
        ctx.db.session.commit()
    head = login_as("head")
    head.post(f"/head/users/{staff_id}/password", {"password": TEMPORARY})
    assert "also belongs to another school" in head.get("/head/users").get_data(as_text=True)
    assert Browser(app.test_client()).login("staff@testschool.test", PASSWORD).status_code == 302


def test_changing_ones_password_needs_the_current_one_and_ends_other_sessions(app, login_as):
    laptop, tablet = login_as("dsl"), login_as("dsl")
    laptop.refresh_token("/account/password")
    wrong = laptop.post("/account/password", {"current": "wrong", "password": OWN, "confirm": OWN})
    assert "current password is not right" in wrong.get_data(as_text=True)
    mismatch = laptop.post("/account/password", {"current": PASSWORD, "password": OWN,
                                                 "confirm": OWN + "x"})
    assert "not the same" in mismatch.get_data(as_text=True)
    assert laptop.post("/account/password", {"current": PASSWORD, "password": OWN,
                                             "confirm": OWN}).status_code == 302
    assert laptop.get("/safeguarding/").status_code == 200
    assert tablet.get("/safeguarding/").status_code == 302
    # The new password is the one accepted: sign-in goes on to the code step. (Not a third full
    # sign-in within 30 seconds, which would wait for the authenticator's next code.)
    fresh = Browser(app.test_client())
    fresh.refresh_token()
    new = fresh.client.post("/auth/login", data={"email": "dsl@testschool.test", "password": OWN,
                                                 "csrf_token": fresh.token})
    assert new.status_code == 302 and new.headers["Location"].endswith("/auth/code")
    fresh.refresh_token()
    old = fresh.client.post("/auth/login", data={"email": "dsl@testschool.test",
                                                 "password": PASSWORD, "csrf_token": fresh.token})
    assert old.status_code == 200


def test_the_head_edits_the_schools_details_and_bad_ones_change_nothing(app, login_as, ctx):
    head = login_as("head")
    good = {"name": "Ysgol Gymraeg", "urn": "401777", "la_code": "681", "postcode": "sa1 1aa",
            "language": "cy"}
    assert head.post("/head/school", good).status_code == 302
    for bad in ({"urn": "12"}, {"la_code": "68a"}, {"postcode": "nowhere"}, {"language": "de"},
                {"name": "  "}, {"name": "<script>alert(1)</script>" * 20}):
        response = head.post("/head/school", {**good, **bad})
        assert response.status_code == 200 and "alert-danger" in response.get_data(as_text=True)
    with ctx():
        school = ctx.db.session.get(School, 1)
        assert (school.name, school.urn, school.la_code, school.postcode, school.language) == (
            "Ysgol Gymraeg", "401777", "681", "SA1 1AA", "cy")
    assert "Ysgol Gymraeg" in login_as("staff").get("/uploads/").get_data(as_text=True)
    assert login_as("admin").post("/head/school", good).status_code == 403


def test_a_urn_taken_by_another_school_is_refused(app, login_as, ctx):
    two_schools(ctx)
    with ctx():
        ctx.db.session.get(School, 2).urn = "402000"
        ctx.db.session.commit()
    response = login_as("head").post("/head/school", {"name": "Test School", "urn": "402000",
                                                      "language": "en"})
    assert "already exists" in response.get_data(as_text=True)


def test_a_name_another_school_has_is_refused_in_english_and_welsh(app, login_as, ctx):
    """Renamed to another school's name (in any case and spacing), two schools' sign-in buttons
    and the school choice would read alike: refused, and nothing changes."""
    two_schools(ctx)
    head = login_as("head")
    details = {"urn": "401777", "language": "en"}
    for name in ("Other School", "  other   SCHOOL "):
        response = head.post("/head/school", {**details, "name": name})
        page = html.unescape(response.get_data(as_text=True))
        assert response.status_code == 200 and "A school called Other School already exists" in page
    head.post("/auth/language/cy", {"next": "/head/school"})
    response = head.post("/head/school", {**details, "name": "OTHER school"})
    assert "Mae ysgol o'r enw Other School yn bodoli eisoes" in html.unescape(
        response.get_data(as_text=True))
    with ctx():
        school = ctx.db.session.get(School, 1)
        assert (school.name, school.urn) == ("Test School", None)
        assert ctx.db.session.scalar(select(AuditEvent.id).where(
            AuditEvent.action == "school_updated")) is None


def test_schools_that_already_share_a_name_keep_working(app, login_as, ctx):
    """Two schools named alike before the name was checked: each head still saves their school's
    other details, and may change the name to one of its own."""
    two_schools(ctx)
    with ctx():
        ctx.db.session.get(School, 2).name = "test  SCHOOL"
        ctx.db.session.commit()
    head = login_as("head")
    kept = {"name": "Test School", "urn": "401777", "postcode": "sa1 1aa", "language": "en"}
    assert head.post("/head/school", kept).status_code == 302
    assert head.post("/head/school", {**kept, "name": "Ysgol y Bryn"}).status_code == 302
    with ctx():
        assert [s.name for s in ctx.db.session.scalars(select(School).order_by(School.id))] == [
            "Ysgol y Bryn", "test  SCHOOL"]


def test_the_current_school_is_named_and_switched_explicitly(app, login_as, ctx):
    two_schools(ctx)
    staff_id = user_id(ctx, "staff@testschool.test")
    with ctx():
        ctx.db.session.add(Membership(user_id=staff_id, school_id=2, role="admin"))
        ctx.db.session.commit()
    staff = login_as("staff")
    page = staff.get("/uploads/").get_data(as_text=True)
    assert '<p class="school-name h5 mb-3" id="current-school">Test School</p>' in page
    assert 'id="school-switcher"' in page and "Other School" in page
    assert staff.get("/register/").status_code == 403  # admin only at the other school
    staff.post("/auth/school", {"school_id": "2"})
    page = staff.get("/register/").get_data(as_text=True)
    assert 'id="current-school">Other School</p>' in page
    assert staff.get("/uploads/").status_code == 403
    # A school the user does not belong to is not chosen, and a membership ended is checked
    # on the very next request.
    staff.post("/auth/school", {"school_id": "3"})
    assert 'id="current-school">Other School</p>' in staff.get("/register/").get_data(as_text=True)
    with ctx():
        for row in ctx.db.session.scalars(select(Membership).where(
                Membership.user_id == staff_id, Membership.school_id == 2)):
            ctx.db.session.delete(row)
        ctx.db.session.commit()
    assert 'id="current-school">Test School</p>' in staff.get("/uploads/").get_data(as_text=True)
    assert staff.get("/register/").status_code == 403


def test_a_user_of_one_school_sees_no_switcher(login_as):
    page = login_as("staff").get("/uploads/").get_data(as_text=True)
    assert 'id="current-school">Test School</p>' in page and 'id="school-switcher"' not in page


def test_a_heads_users_page_lists_only_their_own_school(app, login_as, ctx):
    two_schools(ctx)
    login_as("head").post("/head/invitations",
                          {"email": "secret-hire@testschool.test", "role": "dsl"})
    other_head = Browser(app.test_client())
    other_head.login("head@otherschool.test")
    page = other_head.get("/head/users").get_data(as_text=True)
    assert "@otherschool.test" in page
    assert "@testschool.test" not in page and "secret-hire" not in page


@pytest.mark.parametrize("role", ["dsl", "head"])
def test_one_head_cannot_take_over_a_dsl_or_another_head(app, school, login_as, ctx, role):
    # A temporary password and a fresh second factor together would let one head sign in as the
    # DSL (or a second head), which granting the role itself takes two people to allow.
    email = f"{role}2@testschool.test"
    with ctx():
        person = User(email=email, name="Second", active=True)
        set_password(ctx.db.session, person, PASSWORD, chosen_by_user=True)
        ctx.db.session.add(person)
        ctx.db.session.flush()
        ctx.db.session.add(Membership(user_id=person.id, school_id=school["id"], role=role))
        ctx.db.session.commit()
        target = person.id
        before = (person.password_hash, person.must_change_password)
    head = login_as("head")
    head.post(f"/head/users/{target}/password", {"password": TEMPORARY})
    assert "cannot be reset by one person" in head.get("/head/users").get_data(as_text=True)
    head.post(f"/head/users/{target}/second-factor/reset")
    assert "cannot be reset by one person" in head.get("/head/users").get_data(as_text=True)
    with ctx():
        person = ctx.db.session.get(User, target)
        assert (person.password_hash, person.must_change_password) == before
        actions = {e.action for e in ctx.db.session.scalars(select(AuditEvent))}
    assert not actions & {"temporary_password_set", "second_factor_reset"}


def test_no_temporary_password_for_someone_with_a_trust_role(app, login_as, ctx):
    from gatekeeper.people.models import Trust, TrustMembership

    staff_id = user_id(ctx, "staff@testschool.test")
    with ctx():
        trust = Trust(name="Test Trust")
        ctx.db.session.add(trust)
        ctx.db.session.flush()
        ctx.db.session.add(TrustMembership(user_id=staff_id, trust_id=trust.id, role="dpo"))
        ctx.db.session.commit()
    head = login_as("head")
    head.post(f"/head/users/{staff_id}/password", {"password": TEMPORARY})
    assert "or the trust" in head.get("/head/users").get_data(as_text=True)
    assert Browser(app.test_client()).login("staff@testschool.test", PASSWORD).status_code == 302
