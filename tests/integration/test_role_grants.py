"""Granting dsl or head takes two people: the head proposes, another head, the DSL or the trust
admin confirms; the proposer and the person named never decide; every step is audited."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import select

from gatekeeper.models import AuditEvent, Membership, User
from gatekeeper.people.models import RoleProposal
from tests.support.fixtures import Browser, invitation_path, make_school, make_trust


def user_id(app, email: str) -> int:
    from gatekeeper.extensions import db

    with app.app_context():
        return db.session.scalar(select(User.id).where(User.email == email))


def roles_of(app, email: str, school_id: int) -> set[str]:
    from gatekeeper.extensions import db

    with app.app_context():
        return set(db.session.scalars(
            select(Membership.role).join(User, User.id == Membership.user_id).where(
                User.email == email, Membership.school_id == school_id)))


def proposal_ids(app) -> list[int]:
    from gatekeeper.extensions import db

    with app.app_context():
        return list(db.session.scalars(select(RoleProposal.id).order_by(RoleProposal.id)))


def actions(app) -> list[str]:
    from gatekeeper.extensions import db

    with app.app_context():
        return [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_the_heads_grant_of_dsl_waits_for_the_dsl_to_confirm(app, school, login_as):
    staff_email = "staff@testschool.test"
    head = login_as("head")
    head.post(f"/head/users/{user_id(app, staff_email)}/roles", {"role": ["staff", "dsl"]})
    assert roles_of(app, staff_email, school["id"]) == {"staff"}
    assert "waits for a second person" in head.get("/head/users").get_data(as_text=True)
    [proposal] = proposal_ids(app)
    page = head.get("/grants/").get_data(as_text=True)
    assert "Someone else decides this one." in page
    head.post(f"/grants/{proposal}/confirm")  # the proposer cannot confirm their own proposal
    assert roles_of(app, staff_email, school["id"]) == {"staff"}
    assert "Another head, the DSL or the trust admin" in head.get("/grants/").get_data(as_text=True)
    assert login_as("staff").post(f"/grants/{proposal}/confirm").status_code == 403
    dsl = login_as("dsl")
    dsl.post(f"/grants/{proposal}/confirm")
    assert roles_of(app, staff_email, school["id"]) == {"staff", "dsl"}
    dsl.post(f"/grants/{proposal}/confirm")  # decided once only
    assert "already been decided" in dsl.get("/grants/").get_data(as_text=True)
    trail = actions(app)
    assert trail.count("role_proposed") == 1 and trail.count("role_granted") == 1


def test_a_refused_grant_grants_nothing_and_is_audited(app, school, login_as):
    head = login_as("head")
    head.post(f"/head/users/{user_id(app, 'admin@testschool.test')}/roles",
              {"role": ["admin", "head"]})
    [proposal] = proposal_ids(app)
    login_as("dsl").post(f"/grants/{proposal}/refuse")
    assert roles_of(app, "admin@testschool.test", school["id"]) == {"admin"}
    assert "role_proposal_refused" in actions(app)


def test_the_person_named_cannot_confirm_their_own_grant(app, school, login_as):
    """The DSL proposed as head by the head: the DSL may confirm others' grants, not their own."""
    head = login_as("head")
    head.post(f"/head/users/{user_id(app, 'dsl@testschool.test')}/roles", {"role": ["dsl", "head"]})
    [proposal] = proposal_ids(app)
    login_as("dsl").post(f"/grants/{proposal}/confirm")
    assert roles_of(app, "dsl@testschool.test", school["id"]) == {"dsl"}


def test_an_invitation_to_dsl_waits_after_acceptance_until_confirmed(app, school, login_as):
    head = login_as("head")
    path = invitation_path(head.post("/head/invitations", {"email": "newdsl@testschool.test",
                                                           "role": "dsl"}))
    newcomer = Browser(app.test_client())
    newcomer.refresh_token(path)
    page = newcomer.post(path, {"name": "New DSL", "password": "a long first password",
                                "confirm": "a long first password"}).get_data(as_text=True)
    assert 'id="waiting-for-second-person"' in page
    assert roles_of(app, "newdsl@testschool.test", school["id"]) == set()
    [proposal] = proposal_ids(app)
    login_as("dsl").post(f"/grants/{proposal}/confirm")
    assert roles_of(app, "newdsl@testschool.test", school["id"]) == {"dsl"}
    signed = Browser(app.test_client())
    assert signed.login("newdsl@testschool.test", "a long first password").status_code == 302
    assert signed.get("/nopublish/").status_code == 200


def test_the_trust_admin_confirms_and_another_schools_dsl_cannot(app, school, login_as):
    from gatekeeper.extensions import db

    with app.app_context():
        make_trust(db.session, "Oak Trust", [school["id"]])
        make_school(db.session, "Other School")
    login_as("head").post(f"/head/users/{user_id(app, 'media_lead@testschool.test')}/roles",
                          {"role": ["media_lead", "dsl"]})
    [proposal] = proposal_ids(app)
    stranger = Browser(app.test_client())
    stranger.login("dsl@otherschool.test")
    stranger.post(f"/grants/{proposal}/confirm")
    assert "No such role grant waiting." in stranger.get("/grants/").get_data(as_text=True)
    admin = Browser(app.test_client())
    admin.login("trust_admin@oaktrust.test")
    assert "Test School media_lead" in admin.get("/trust/").get_data(as_text=True)
    admin.post(f"/trust/grants/{proposal}/confirm")
    assert roles_of(app, "media_lead@testschool.test", school["id"]) == {"media_lead", "dsl"}


def test_the_command_line_confirms_where_nobody_else_can(app, school, login_as):
    login_as("head").post(f"/head/users/{user_id(app, 'staff@testschool.test')}/roles",
                          {"role": ["staff", "dsl"]})
    [proposal] = proposal_ids(app)
    from gatekeeper.cli import main

    info = ScriptInfo(create_app=lambda: app)
    page = login_as("head").get("/grants/").get_data(as_text=True)
    assert f"No. {proposal}" in page and f"gatekeeper user confirm-role {proposal}" in page
    listed = CliRunner().invoke(main, ["user", "grants"], obj=info)
    assert listed.exit_code == 0 and listed.output.split() == [
        str(proposal), "dsl", "staff@testschool.test", "(proposed", "by", "head@testschool.test)"]
    done = CliRunner().invoke(main, ["user", "confirm-role", str(proposal)], obj=info)
    assert done.exit_code == 0 and "confirmed: dsl for staff@testschool.test" in done.output
    again = CliRunner().invoke(main, ["user", "confirm-role", str(proposal)], obj=info)
    assert again.exit_code == 1 and "already been decided" in again.output
    assert CliRunner().invoke(main, ["user", "confirm-role", "999"], obj=info).exit_code == 1
    assert roles_of(app, "staff@testschool.test", school["id"]) == {"staff", "dsl"}


def test_the_proposer_may_withdraw_a_grant_but_never_confirm_it(app, school, login_as):
    """A head who proposed the wrong person (the only head of a new school, nobody to refuse it)
    takes the proposal back; it is refused, audited as withdrawn, and grants nothing."""
    head = login_as("head")
    head.post(f"/head/users/{user_id(app, 'staff@testschool.test')}/roles",
              {"role": ["staff", "dsl"]})
    [proposal] = proposal_ids(app)
    assert f'action="/grants/{proposal}/refuse"' in head.get("/grants/").get_data(as_text=True)
    head.post(f"/grants/{proposal}/confirm")
    assert roles_of(app, "staff@testschool.test", school["id"]) == {"staff"}
    head.post(f"/grants/{proposal}/refuse")
    page = head.get("/grants/").get_data(as_text=True)
    assert "No role grant is waiting." in page and "You have withdrawn the role grant." in page
    assert roles_of(app, "staff@testschool.test", school["id"]) == {"staff"}
    from gatekeeper.extensions import db

    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "role_proposal_refused"))
        assert event.detail["withdrawn"] is True and event.actor == "head@testschool.test"


@pytest.mark.parametrize("change", ["deactivate", "remove", "roles"])
def test_a_grant_lapses_with_the_head_who_proposed_it(app, school, login_as, change):
    # Two people decide a grant of DSL or head: once the head who proposed it is deactivated,
    # removed or no longer head, only one person would be left to decide it.
    from gatekeeper.extensions import db

    leaving, staff_email = user_id(app, "head@testschool.test"), "staff@testschool.test"
    with app.app_context():
        db.session.add(Membership(user_id=user_id(app, "admin@testschool.test"),
                                  school_id=school["id"], role="head"))
        db.session.commit()
    login_as("head").post(f"/head/users/{user_id(app, staff_email)}/roles",
                          {"role": ["staff", "dsl"]})
    [proposal] = proposal_ids(app)
    second = login_as("admin")  # the other head
    form = {"role": ["staff"]} if change == "roles" else {}
    assert second.post(f"/head/users/{leaving}/{change}", form).status_code == 302
    dsl = login_as("dsl")
    assert f"No. {proposal}" not in dsl.get("/grants/").get_data(as_text=True)
    dsl.post(f"/grants/{proposal}/confirm")
    assert roles_of(app, staff_email, school["id"]) == {"staff"}
    with app.app_context():
        assert db.session.scalar(select(RoleProposal.decided_at)) is None  # nobody decided it
    # A head who may propose it asks again, and the grant takes its usual two people.
    second.post(f"/head/users/{user_id(app, staff_email)}/roles", {"role": ["staff", "dsl"]})
    fresh = [p for p in proposal_ids(app) if p != proposal]
    assert len(fresh) == 1
    dsl.post(f"/grants/{fresh[0]}/confirm")
    assert roles_of(app, staff_email, school["id"]) == {"staff", "dsl"}
