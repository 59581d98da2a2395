"""No route or form lets a user of one school act on another school's people, and nobody raises
their own role: every POST route is walked with the other school's ids (and then with the user's
own), with forms asking for every role, and the people tables are compared before and after."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from consent.models import School
from gatekeeper.models import ROLES, TRUST_ROLES, Membership, User
from gatekeeper.people import grants
from gatekeeper.people.models import (
    Invitation,
    RoleProposal,
    SchoolSignIn,
    SecondFactor,
    TrustMembership,
    TrustSchool,
)
from tests.support.fixtures import Browser, make_school, make_trust

PEOPLE_TABLES = (Membership, TrustMembership, TrustSchool, Invitation, RoleProposal, SecondFactor,
                 SchoolSignIn)
VARIABLE = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def snapshot(session, school_id: int) -> dict:
    """Every people row of one school: its memberships, invitations, grants, sign-in settings,
    its trust's rows, and its people's accounts and second factors."""
    users = set(session.scalars(
        select(Membership.user_id).where(Membership.school_id == school_id)))
    trusts = set(session.scalars(
        select(TrustSchool.trust_id).where(TrustSchool.school_id == school_id)))
    users |= set(session.scalars(select(TrustMembership.user_id).where(
        TrustMembership.trust_id.in_(trusts))))

    def mine(row) -> bool:
        if hasattr(row, "school_id"):
            return row.school_id == school_id
        if hasattr(row, "trust_id"):
            return row.trust_id in trusts
        return row.user_id in users

    rows = {model.__name__: sorted(tuple(sorted((c.key, str(getattr(r, c.key)))
                                               for c in r.__table__.columns))
                                   for r in session.scalars(select(model)) if mine(r))
            for model in PEOPLE_TABLES}
    rows["User"] = sorted((u.id, u.email, u.password_hash, u.session_token, u.active,
                           u.must_change_password) for u in session.scalars(select(User))
                          if u.id in users)
    school = session.get(School, school_id)
    rows["School"] = [(school.name, school.urn, school.la_code, school.postcode, school.language)]
    return rows


@pytest.fixture
def schools(app, school):
    """Test School (in Oak Trust) and Other School (in Elm Trust), whose head has proposed a DSL
    and has an invitation open."""
    from gatekeeper.extensions import db
    from gatekeeper.people import invitations

    with app.app_context():
        session = db.session
        other = make_school(session, "Other School")
        make_trust(session, "Oak Trust", [school["id"]])
        make_trust(session, "Elm Trust", [other.id])
        b_head = session.scalar(select(User).where(User.email == "head@otherschool.test"))
        b_staff = session.scalar(select(User).where(User.email == "staff@otherschool.test"))
        proposal = grants.propose(session, other.id, b_head, b_staff, "dsl")
        invitation = invitations.invite(session, other, "newcomer@otherschool.test", "admin",
                                        b_head).invitation
        a_head = session.scalar(select(User).where(User.email == "head@testschool.test"))
        for role in ROLES:  # A's head holds every role at A: the widest reach a school user has
            if role not in a_head.roles_at(school["id"]):
                session.add(Membership(user_id=a_head.id, school_id=school["id"], role=role))
        session.commit()
        return {"a": school["id"], "b": other.id, "b_user": b_staff.id, "proposal": proposal.id,
                "invitation": invitation.id}


def post_routes(app):
    for rule in app.url_map.iter_rules():
        if "POST" in rule.methods and not rule.rule.startswith(("/static", "/bootstrap")):
            if rule.endpoint not in ("auth.logout",):
                yield rule


def fill(rule, ids: dict) -> str:
    return VARIABLE.sub(lambda m: "cy" if m.group(1) == "lang" else str(ids.get(m.group(1), 1)),
                        rule.rule)


def walk_every_form(app, browser: Browser, ids: dict, email: str) -> None:
    form = {"role": list(ROLES) + list(TRUST_ROLES), "user_id": ids["user_id"],
            "school_id": ids["school_id"], "email": email, "password": "a temporary password 1",
            "name": "Renamed", "urn": "499999", "language": "cy", "label": "X",
            "discovery_url": "https://idp.example/.well-known/openid-configuration",
            "client_id": "x", "client_secret": "y", "kind": "guardian", "guardian_id": 1}
    for rule in post_routes(app):
        browser.post(fill(rule, ids), form)
    # Still signed in at the end: every route was tried by a signed-in user, none skipped.
    assert browser.get("/account/password").status_code == 200


ACTORS = ("head@testschool.test", "trust_admin@oaktrust.test", "dpo@oaktrust.test")


@pytest.mark.parametrize("email", ACTORS)
def test_no_route_acts_on_another_schools_people(app, schools, email):
    from gatekeeper.extensions import db

    browser = Browser(app.test_client())
    assert browser.login(email).status_code == 302
    with app.app_context():
        before = snapshot(db.session, schools["b"])
    ids = {"user_id": schools["b_user"], "proposal_id": schools["proposal"],
           "invitation_id": schools["invitation"], "school_id": schools["b"]}
    walk_every_form(app, browser, ids, "staff@otherschool.test")
    with app.app_context():
        after = snapshot(db.session, schools["b"])
    assert after == before
    assert len(before["Membership"]) == 5 and before["RoleProposal"] and before["Invitation"]


def roles_held(session, user_id: int) -> set[tuple]:
    school_roles = {(m.school_id, m.role) for m in session.scalars(
        select(Membership).where(Membership.user_id == user_id, Membership.suspended_at.is_(None)))}
    trust_roles = {("trust", m.trust_id, m.role) for m in session.scalars(
        select(TrustMembership).where(TrustMembership.user_id == user_id))}
    return school_roles | trust_roles


@pytest.mark.parametrize("email", [f"{role}@testschool.test" for role in ROLES]
                         + ["trust_admin@oaktrust.test", "dpo@oaktrust.test"])
def test_nobody_raises_their_own_role(app, school, email):
    """Every form, sent with the user's own id and asking for every role, and a grant that names
    them waiting to be confirmed: they end with the roles they had."""
    from gatekeeper.extensions import db

    with app.app_context():
        make_trust(db.session, "Oak Trust", [school["id"]])
        me = db.session.scalar(select(User).where(User.email == email))
        wanted = "head" if "head" not in me.roles_at(school["id"]) else "dsl"
        proposal = grants.propose(db.session, school["id"], None, me, wanted)
        db.session.commit()
        before, my_id, proposal_id = roles_held(db.session, me.id), me.id, proposal.id
    browser = Browser(app.test_client())
    assert browser.login(email).status_code == 302
    ids = {"user_id": my_id, "proposal_id": proposal_id, "school_id": school["id"]}
    walk_every_form(app, browser, ids, email)
    with app.app_context():
        assert roles_held(db.session, my_id) <= before
        assert db.session.get(RoleProposal, proposal_id).confirmed is False
