"""The head invites people and manages roles; every change is audited and a school always keeps
a head."""

from sqlalchemy import select

from gatekeeper.models import AuditEvent, Membership, User
from tests.support.fixtures import Browser, invitation_path


def memberships(app, email):
    with app.app_context():
        from gatekeeper.extensions import db

        user = db.session.scalar(select(User).where(User.email == email))
        return {m.role: m.authorised_by_id for m in user.memberships}


def test_head_invites_a_media_lead_who_accepts_and_can_then_review(app, login_as, browser):
    head = login_as("head")
    page = head.post("/head/invitations", {"email": "Jones@TestSchool.test", "role": "media_lead"})
    assert page.status_code == 200
    path = invitation_path(page)
    with app.app_context():
        from gatekeeper.extensions import db

        assert db.session.scalar(select(User).where(User.email == "jones@testschool.test")) is None
    browser.refresh_token(path)
    accepted = browser.post(path, {"name": "Mrs Jones", "password": "a long first password",
                                   "confirm": "a long first password"})
    assert accepted.status_code == 302
    assert accepted.headers["Location"].endswith("/account/second-factor")  # their role needs one
    with app.app_context():
        from gatekeeper.extensions import db

        head_id = db.session.scalar(select(User.id).where(User.email == "head@testschool.test"))
        actions = list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert memberships(app, "jones@testschool.test") == {"media_lead": head_id}
    assert actions[-4:] == [
        "invitation_sent", "user_created", "invitation_accepted", "role_granted"]
    browser.enrol_shown_secret()
    assert browser.get("/review/").status_code == 200
    fresh = Browser(app.test_client())
    assert fresh.login("jones@testschool.test", "a long first password").status_code == 302


def test_a_bad_email_or_unknown_role_invites_nobody(app, login_as):
    from gatekeeper.people.models import Invitation

    head = login_as("head")
    head.post("/head/invitations", {"email": "not-an-address", "role": "staff"})
    head.post("/head/invitations", {"email": "b@x.test", "role": "owner"})
    head.post("/head/invitations", {"email": "c@x.test"})
    with app.app_context():
        from gatekeeper.extensions import db

        assert db.session.scalar(select(Invitation)) is None
    html = head.get("/head/users").get_data(as_text=True)
    assert "not an email address" in html and "Unknown role" in html


def test_revoking_a_role_takes_effect_at_once(app, login_as):
    media = login_as("media_lead")
    assert media.get("/review/").status_code == 200
    with app.app_context():
        from gatekeeper.extensions import db

        user_id = db.session.scalar(
            select(User.id).where(User.email == "media_lead@testschool.test"))
    login_as("head").post(f"/head/users/{user_id}/roles", {"role": "staff"})
    assert memberships(app, "media_lead@testschool.test").keys() == {"staff"}
    assert media.get("/review/").status_code == 403


def test_the_last_head_cannot_remove_themselves(app, login_as):
    head = login_as("head")
    with app.app_context():
        from gatekeeper.extensions import db

        user_id = db.session.scalar(select(User.id).where(User.email == "head@testschool.test"))
    head.post(f"/head/users/{user_id}/roles", {})
    assert "head" in memberships(app, "head@testschool.test")
    assert "at least one head" in head.get("/head/users").get_data(as_text=True)


def test_a_head_cannot_give_themselves_a_role(app, login_as):
    head = login_as("head")
    with app.app_context():
        from gatekeeper.extensions import db

        user_id = db.session.scalar(select(User.id).where(User.email == "head@testschool.test"))
    head.post(f"/head/users/{user_id}/roles", {"role": ["head", "dsl"]})
    assert memberships(app, "head@testschool.test").keys() == {"head"}
    assert "Nobody grants a role to themselves" in head.get("/head/users").get_data(as_text=True)
    assert head.get("/nopublish/").status_code == 403


def test_head_cannot_change_roles_at_another_school(app, login_as):
    head = login_as("head")
    with app.app_context():
        from gatekeeper.extensions import db
        from tests.support.fixtures import make_school

        other = make_school(db.session, "Other School")
        other_id = db.session.scalar(select(Membership.user_id).where(
            Membership.school_id == other.id, Membership.role == "staff"))
    assert head.post(f"/head/users/{other_id}/roles", {"role": "head"}).status_code == 404


def test_dashboard_counts_this_weeks_uploads(app, login_as, faces_dir):
    from tests.support.fixtures import upload_photo

    staff = login_as("staff")
    event_id = staff.post("/uploads/events", {"name": "Trip", "date": "2026-07-10",
                                              "purpose": "website"}).get_json()["id"]
    path = faces_dir / "events" / "obama_podium.jpg"
    upload_photo(staff, event_id, path.name, path.read_bytes())
    html = login_as("head").get("/head/").get_data(as_text=True)
    assert '<div class="figure" id="figure-uploads_week">1</div>' in html
    assert '<div class="figure" id="figure-waiting">1</div>' in html
