"""Every route of the app, walked with real ids: two schools each hold one row of every kind a
route or form names (tests/support/world.py), and the walks put them where an attacker would.

- A user of school A holding every role there (and the trust roles of A's trust) sends school B's
  ids in the path, in every form field and in the query, and A's path with B's fields and B's path
  with A's: nothing of B is shown, nothing of B changes, no row of A comes to point at a row of B.
- Each role of school A, and nobody signed in, sends A's own ids to every route: a blueprint that
  does not name the role answers 403 (nobody: the sign-in page) and changes nothing; every image
  served is a fresh rendering, never the original with its camera metadata; no role but the DSL
  reads why a child is protected.
- A forged or missing form token, and GET where only POST is taken, change nothing.
- Every answer carries the security headers.
"""

from __future__ import annotations

import io
import json
import re

import pytest
from PIL import Image
from sqlalchemy import select

from consent.models import Base, Pupil
from gatekeeper.models import (
    ROLES,
    TRUST_ROLES,
    AccountReleaser,
    AuditEvent,
    Event,
    Membership,
    Post,
    User,
)
from gatekeeper.people.models import TrustMembership
from tests.support.fixtures import Browser, make_trust
from tests.support.world import ORIGINAL_MARKER, build_world, school_rows

VARIABLE = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
SKIPPED = ("/static/", "/bootstrap/")
# Opened by a signed token, not an id: their own tests (test_parent_link.py, test_people_tokens.py,
# test_people_mail.py) make every kind of token; here a token that is no token opens nothing.
NOT_A_TOKEN = "not-a-token"
# Where nobody signed in may go (the rest sends them to the sign-in page).
PUBLIC_BLUEPRINTS = ("auth", "welcome", "parents")
MEDIA = ("image/", "video/")


def fill(rule, ids: dict) -> str:
    """The rule with each variable filled from the world's ids; a variable the world has no row
    for fails the walk (a new route must be walked too)."""
    def value(match):
        name = match.group(1)
        if name == "lang":
            return "cy"
        if name == "token":
            return NOT_A_TOKEN
        assert name in ids, f"the world holds no row for <{name}> of {rule.rule}: add one"
        return str(ids[name])

    return VARIABLE.sub(value, rule.rule)


def fields(ids: dict) -> dict:
    """Every form field a view reads an id from, filled from the world, with enough besides for
    the forms to be read at all."""
    return {
        "pupil_id": ids["pupil_id"], "face_id": [ids["face_id"], ids["blocked_face_id"]],
        "photo_id": [ids["photo_id"], ids["posted_photo_id"]], "account_id": ids["account_id"],
        "user_id": [ids["user_id"], *ids["users"].values()], "guardian_id": ids["guardian_id"],
        "giver": ids["guardian_id"], "groups": ids["group_id"], "event_id": ids["event_id"],
        "school_id": ids["school_id"], "resolution": "pupil", "caption": "A caption",
        "reason": "A reason", "role": list(ROLES) + list(TRUST_ROLES), "name": "Intruder",
        "email": "intruder@example.test", "password": "an intruder's password",
        "confirm": "an intruder's password", "kind": "guardian", "year_group": "5",
        "dressed": "yes", "no_distress": "yes", "no_location": "yes", "tagging_off": "yes",
        "category": "other", "note": "A note", "starts_on": "2026-01-01", "status": "granted",
        "date": "2026-06-01", "purpose": "social_media", "at": "1.0", "muted": "yes",
        "paused": "yes", "upn": ids["upn"], "pupil": ids["upn"], "confirm_leavers": "1",
        "token": "0" * 32, "evidence_ref": "form", "form_date": "2026-06-01",
        "left_on": "2026-06-01", "leaving-left_on": "2026-06-01", "guardian-name": "A parent",
        "guardian-relationship": "parent", "label": "Provider", "client_id": "client",
        "client_secret": "secret", "discovery_url": "https://idp.example/.well-known/x",
        "urn": "499999", "language": "cy", "platform": "Facebook", "handle": "@intruder",
    }


def query(ids: dict) -> dict:
    """Every query argument a view reads an id from, and a search for the school's names (the
    pages echo the query itself, so it is the names' common start, never a whole name)."""
    return {"account": ids["account_id"], "pupil": ids["pupil_id"], "school": ids["school_id"],
            "q": ids["tag"], "upn": ids["upn"], "event_id": ids["event_id"]}


def routes(app):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if rule.rule.startswith(SKIPPED) or rule.endpoint == "auth.logout":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def send(browser: Browser, method: str, path: str, ids: dict, **kwargs):
    if method == "GET":
        return browser.get(path, query_string=query(ids), **kwargs)
    return browser.post(path, fields(ids), **kwargs)


def assert_headers(what: str, response) -> None:
    headers = response.headers
    assert "frame-ancestors 'none'" in headers.get("Content-Security-Policy", ""), what
    assert headers.get("X-Content-Type-Options") == "nosniff", what
    assert headers.get("X-Frame-Options") == "DENY", what
    assert headers.get("Referrer-Policy") == "same-origin", what
    assert "no-store" in headers.get("Cache-Control", ""), what


def text_of(response) -> str:
    if response.mimetype.startswith(("text/", "application/json")):
        return response.get_data(as_text=True)
    return ""


def assert_a_fresh_rendering(what: str, response) -> None:
    """An image answer is made from pixels: no EXIF, GPS or comment of the camera's original."""
    data = response.get_data()
    assert ORIGINAL_MARKER.encode() not in data, what
    if response.mimetype.startswith("image/"):
        image = Image.open(io.BytesIO(data))
        assert not dict(image.getexif()) and "comment" not in image.info, what


@pytest.fixture
def worlds(app):
    """School A ("Test School": make_school's people, `<role>@testschool.test`) in Oak Trust, and
    school B in Elm Trust, each with one row of every kind."""
    from gatekeeper.extensions import db

    with app.app_context():
        a = build_world(db.session, "Asecret", "Test School")
        b = build_world(db.session, "Bsecret", "Other School")
        make_trust(db.session, "Oak Trust", [a["school_id"]])
        make_trust(db.session, "Elm Trust", [b["school_id"]])
    return a, b


def widest_reach(app, world: dict) -> Browser:
    """The head of the world's school, holding every school role there and both roles of its
    trust, signed in: the most any one person of that school can reach."""
    from gatekeeper.extensions import db

    with app.app_context():
        head = db.session.get(User, world["users"]["head"])
        for role in ROLES:
            if role not in head.roles_at(world["school_id"]):
                db.session.add(Membership(user_id=head.id, school_id=world["school_id"],
                                          role=role))
        trust_id = db.session.scalar(select(TrustMembership.trust_id))
        for role in TRUST_ROLES:
            db.session.add(TrustMembership(user_id=head.id, trust_id=trust_id, role=role))
        db.session.commit()
        email = head.email
    browser = Browser(app.test_client())
    assert browser.login(email).status_code == 302
    return browser


def rows_of(app, school_id: int) -> dict:
    from gatekeeper.extensions import db

    with app.app_context():
        return school_rows(db.session, school_id)


def cross_school_references(session) -> list[str]:
    """Rows of one school that point at a row of another school: by foreign key, in an event's
    groups, a post's pupils, a group's members or an account's releasers."""
    found = []
    schools_of = {}
    for table in Base.metadata.sorted_tables:
        if "school_id" in table.c:
            schools_of[table.name] = dict(session.execute(
                select(table.c.id, table.c.school_id)).all())
    for table in Base.metadata.sorted_tables:
        if "school_id" not in table.c:
            continue
        for column in table.c:
            for key in column.foreign_keys:
                target = key.column.table.name
                if target not in schools_of or column.name == "school_id":
                    continue
                for row_id, own, ref in session.execute(
                        select(table.c.id, table.c.school_id, column)).all():
                    if ref is not None and own is not None and schools_of[target].get(ref) != own:
                        found.append(f"{table.name} {row_id}.{column.name} -> {target} {ref}")
    pupils = schools_of["pupil"]
    for event in session.scalars(select(Event)):
        groups = [schools_of["pupil_group"].get(g) for g in event.group_id_list]
        found += [f"event {event.id} names another school's group" for s in groups
                  if s != event.school_id]
    for post in session.scalars(select(Post)):
        found += [f"post {post.id} shows another school's pupil" for p in post.pupil_ids
                  if pupils.get(p) != post.school_id]
    for member in session.execute(select(Base.metadata.tables["pupil_group_member"])).all():
        if schools_of["pupil_group"][member.group_id] != pupils[member.pupil_id]:
            found.append(f"pupil_group_member {member.id} joins two schools")
    accounts = schools_of["official_account"]
    for releaser in session.scalars(select(AccountReleaser)):
        member = session.scalar(select(Membership.id).where(
            Membership.user_id == releaser.user_id,
            Membership.school_id == accounts[releaser.account_id]))
        if member is None:
            found.append(f"account {releaser.account_id} released to by an outsider")
    return found


def test_the_world_is_really_there(app, worlds):
    """The walks would pass vacuously if B's rows were not where B's own people find them."""
    _a, b = worlds
    media = Browser(app.test_client())
    assert media.login("media_lead@otherschool.test").status_code == 302
    assert "BsecretFile" in media.get("/review/").get_data(as_text=True)
    picture = media.get(f"/review/{b['photo_id']}/image")
    assert picture.status_code == 200 and picture.mimetype == "image/jpeg"
    dsl = Browser(app.test_client())
    assert dsl.login("dsl@otherschool.test").status_code == 302
    assert "BsecretNote" in dsl.get("/nopublish/").get_data(as_text=True)
    from gatekeeper.extensions import db

    with app.app_context():
        assert cross_school_references(db.session) == []
        assert db.session.scalar(select(Pupil.upn).where(Pupil.id == b["pupil_id"])) == b["upn"]


def test_school_a_reaches_nothing_of_school_b_by_any_id_anywhere(app, worlds):
    a, b = worlds
    intruder = widest_reach(app, a)
    b_before = rows_of(app, b["school_id"])
    from gatekeeper.extensions import db

    with app.app_context():
        b_trail = db.session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()))
    walked = 0
    for path_ids, form_ids in ((b, b), (b, a), (a, b)):
        for rule, method in routes(app):
            path = fill(rule, path_ids)
            what = f"{method} {path} (fields of {'A' if form_ids is a else 'B'})"
            response = send(intruder, method, path, form_ids)
            assert response.status_code < 500, (what, response.status_code)
            assert_headers(what, response)
            shown = [m for m in b["markers"] if m in text_of(response)]
            assert not shown, (what, shown)
            if path_ids is b and "<int:" in rule.rule and not rule.rule.startswith("/auth/"):
                # Another school's row by its id in the address: a page or picture is not found,
                # a form is refused (not found, or sent back with "no such ...").
                expected = (404,) if method == "GET" else (302, 303, 400, 404)
                assert response.status_code in expected, (what, response.status_code)
            walked += 1
    assert rows_of(app, b["school_id"]) == b_before
    with app.app_context():
        b_school = b["school_id"]
        new_b_events = db.session.scalars(select(AuditEvent.action).where(
            AuditEvent.id > b_trail, AuditEvent.school_id == b_school)).all()
        assert new_b_events == []
        assert cross_school_references(db.session) == []
    assert walked >= 3 * 120
    # Still signed in: every route was tried by the intruder, none by a signed-out browser.
    assert intruder.get("/account/password").status_code == 200


def test_a_forged_token_or_a_get_changes_nothing_on_any_route(app, worlds):
    a, _b = worlds
    insider = widest_reach(app, a)
    before = rows_of(app, a["school_id"])
    read = {rule.rule for rule in app.url_map.iter_rules() if "GET" in rule.methods}
    for rule, method in routes(app):
        path = fill(rule, a)
        if method == "GET":
            continue
        for token in ("", "forged-token"):
            data = {**fields(a), "csrf_token": token}
            response = insider.client.post(path, data=data, headers={"X-CSRFToken": token})
            what = f"POST {path} with token {token!r}"
            assert response.status_code in (400, 303), (what, response.status_code)
            assert_headers(what, response)
        if rule.rule not in read:  # only POST is taken here
            response = insider.get(path, query_string=query(a))
            assert response.status_code == 405, (f"GET {path}", response.status_code)
    assert rows_of(app, a["school_id"]) == before


@pytest.mark.parametrize("role", [None, *ROLES])
def test_each_role_opens_only_its_own_screens_and_images(app, worlds, role):
    a, _b = worlds
    browser = Browser(app.test_client())
    if role is None:
        browser.refresh_token()
    else:
        assert browser.login(f"{role}@testschool.test").status_code == 302
    for rule, method in routes(app):
        blueprint = rule.endpoint.split(".")[0]
        allowed = getattr(app.blueprints[blueprint], "allowed_roles", None)
        for photo in ("photo_id", "others_photo_id", "posted_photo_id"):
            for face in ("face_id", "blocked_face_id"):
                ids = {**a, "photo_id": a[photo], "face_id": a[face]}
                path = fill(rule, ids)
                before = rows_of(app, a["school_id"]) if method == "POST" else None
                response = send(browser, method, path, ids)
                what = f"{role} {method} {path}"
                assert response.status_code < 500, (what, response.status_code)
                assert_headers(what, response)
                if response.status_code == 200 and response.mimetype.startswith(MEDIA):
                    assert_a_fresh_rendering(what, response)
                if role != "dsl":  # the reason a child is protected is the DSL's alone
                    assert f"{a['tag']}Note" not in text_of(response), what
                refused = (blueprint not in PUBLIC_BLUEPRINTS if role is None
                           else allowed is not None and role not in allowed)
                if refused:
                    if role is None:
                        assert response.status_code == 302, (what, response.status_code)
                        assert "/auth/login" in response.headers["Location"], what
                    else:
                        assert response.status_code == 403, (what, response.status_code)
                    if before is not None:
                        assert rows_of(app, a["school_id"]) == before, what
                if "<int:face_id>" not in rule.rule:
                    break
            if "<int:photo_id>" not in rule.rule:
                break


def test_staff_see_their_own_uploads_and_no_one_elses(app, worlds):
    a, _b = worlds
    staff = Browser(app.test_client())
    assert staff.login("staff@testschool.test").status_code == 302
    own = staff.get(f"/uploads/{a['photo_id']}/thumb")
    assert own.status_code == 200
    assert_a_fresh_rendering("own thumbnail", own)
    assert staff.get(f"/uploads/{a['others_photo_id']}/thumb").status_code == 404
    listed = json.loads(staff.get("/uploads/status").get_data(as_text=True))["photos"]
    assert {p["id"] for p in listed} == {a["photo_id"], a["posted_photo_id"]}
    page = staff.get("/uploads/").get_data(as_text=True)
    assert "AsecretOtherFile" not in page and "AsecretNote" not in page
    assert staff.post(f"/my-uploads/{a['others_photo_id']}/delete").status_code == 404
