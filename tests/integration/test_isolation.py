"""Multi-school isolation: a user of school A, holding every role there, walks every route with
school B's ids in the URL and in the form, and can neither see nor change anything of school B."""

import io
import json
import re

import pytest
from PIL import Image
from sqlalchemy import select

from consent.models import ConsentRecord, NoPublishEntry, Pupil
from gatekeeper import models
from gatekeeper.models import (
    ROLES,
    AuditEvent,
    Event,
    Face,
    Membership,
    OfficialAccount,
    Photo,
    Post,
)
from tests.support.fixtures import Browser, add_pupil, make_school, upload_photo

B_SECRETS = ("Zebedee", "Quillfeather", "b-secret-fair.jpg", "Caption only B may see",
             "@otherschool", "B safeguarding note")
SNAPSHOT_MODELS = (Photo, Post, OfficialAccount, Membership, Pupil, Event, Face, ConsentRecord,
                   NoPublishEntry)


def snapshot(session, school_id: int) -> dict:
    out = {}
    for model in SNAPSHOT_MODELS + tuple(
            m for m in (getattr(models, "Takedown", None), getattr(models, "AccountReleaser", None))
            if m is not None):
        rows = session.scalars(select(model).order_by(model.id)).all()
        out[model.__name__] = [
            {c.key: getattr(r, c.key) for c in r.__table__.columns
             if c.key not in ("updated_at",)}
            for r in rows if getattr(r, "school_id", school_id) == school_id
            or model is Membership and r.school_id == school_id
        ]
    return out


@pytest.fixture
def two_schools(app, school):
    from gatekeeper.extensions import db

    with app.app_context():
        other_id = make_school(db.session, "Other School").id
        pupil = add_pupil(db.session, other_id, 7, "Zebedee", "Quillfeather",
                          consents={"social_media": "granted"})
        from consent import services

        services.add_nopublish(db.session, pupil, category="other", note="B safeguarding note",
                               added_by="B dsl")
        db.session.commit()
        b_ids = {"school_id": other_id, "pupil_id": pupil.id}
        pupil = db.session.get(Pupil, pupil.id)
        a_head = db.session.scalar(
            select(models.User).where(models.User.email == "head@testschool.test"))
        for role in ROLES:
            if role not in a_head.roles_at(school["id"]):
                db.session.add(Membership(user_id=a_head.id, school_id=school["id"], role=role))
        db.session.commit()
    b_staff = Browser(app.test_client())
    assert b_staff.login("staff@otherschool.test").status_code == 302
    event = b_staff.post("/uploads/events", {"name": "B fair", "date": "2026-06-01",
                                             "purpose": "social_media"}).get_json()
    data = io.BytesIO()
    Image.new("RGB", (80, 60), (10, 200, 90)).save(data, "JPEG")
    photo = upload_photo(b_staff, event["id"], "b-secret-fair.jpg", data.getvalue()).get_json()
    with app.app_context():
        account = db.session.scalar(
            select(OfficialAccount).where(OfficialAccount.school_id == other_id))
        account.handle = "@otherschool"
        face = Face(school_id=other_id, photo_id=photo["id"], index=0, top=1, right=20, bottom=20,
                    left=1, status="unknown")
        post = Post(school_id=other_id, photo_id=photo["id"], account_id=account.id,
                    caption="Caption only B may see", state="published",
                    pupil_ids_json=json.dumps([b_ids["pupil_id"]]))
        db.session.add_all([face, post])
        db.session.flush()
        extra = {}
        if hasattr(models, "Takedown"):
            takedown = models.Takedown(school_id=other_id, post_id=post.id, state="manual",
                                       reason="B takedown")
            db.session.add(takedown)
            db.session.flush()
            extra["takedown_id"] = takedown.id
        b_user = db.session.scalar(
            select(models.User).where(models.User.email == "head@otherschool.test"))
        db.session.commit()
        b_ids.update(photo_id=photo["id"], event_id=event["id"], account_id=account.id,
                     face_id=face.id, post_id=post.id, user_id=b_user.id, **extra)
    return b_ids


def concrete(rule, ids: dict) -> str:
    def fill(match):
        name = match.group(1)
        return "cy" if name == "lang" else str(ids.get(name, ids["photo_id"]))

    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", fill, rule.rule)


def hostile_form(ids: dict) -> dict:
    form = {key: str(value) for key, value in ids.items()}
    form.update(resolution="pupil", caption="x", reason="x", roles=list(ROLES), role="head",
                name="Intruder", email="intruder@example.test", password="x" * 20,
                handle="@intruder", platform="Facebook", purpose="social_media",
                dressed="yes", no_distress="yes", no_location="yes", tagging_off="yes")
    return form


def assert_nothing_of_b(path: str, response) -> None:
    body = (response.get_data(as_text=True)
            if response.mimetype.startswith(("text/", "application/json")) else "")
    for secret in B_SECRETS:
        assert secret not in body, (path, secret, response.status_code)
    assert not (response.status_code == 200 and response.mimetype.startswith("image/")), path


def test_school_a_can_neither_see_nor_change_school_b(app, school, two_schools):
    from gatekeeper.extensions import db

    with app.app_context():
        before = snapshot(db.session, two_schools["school_id"])
        b_audit = db.session.scalars(select(AuditEvent.id).where(
            AuditEvent.school_id == two_schools["school_id"])).all()
    intruder = Browser(app.test_client())
    assert intruder.login("head@testschool.test").status_code == 302
    rules = [r for r in app.url_map.iter_rules()
             if not r.rule.startswith(("/static", "/bootstrap")) and r.endpoint != "auth.logout"]
    posts = [r for r in rules if "POST" in r.methods]
    gets = [r for r in rules if "GET" in r.methods]
    assert len(posts) >= 8 and len(gets) >= 6
    for rule in posts:
        path = concrete(rule, two_schools)
        response = intruder.post(path, hostile_form(two_schools))
        assert response.status_code < 500, (path, response.status_code)
        assert_nothing_of_b(path, response)
    for rule in gets:
        for query in ("", f"?q=Zeb&school_id={two_schools['school_id']}"
                          f"&event_id={two_schools['event_id']}"):
            path = concrete(rule, two_schools) + query
            response = intruder.get(path, follow_redirects=True)
            assert response.status_code < 500, (path, response.status_code)
            assert_nothing_of_b(path, response)
    with app.app_context():
        after = snapshot(db.session, two_schools["school_id"])
        intruder_rows = db.session.scalars(select(AuditEvent).where(
            AuditEvent.school_id == two_schools["school_id"],
            AuditEvent.id.not_in(b_audit))).all()
    for name in before:
        assert after[name] == before[name], f"school A changed school B's {name}"
    assert [e.action for e in intruder_rows] == []


def test_school_b_data_is_really_there(app, two_schools):
    """The walk above would pass vacuously if B's rows were invisible to B itself."""
    b_media = Browser(app.test_client())
    b_media.login("media_lead@otherschool.test")
    b_head = Browser(app.test_client())
    b_head.login("head@otherschool.test")
    b_dsl = Browser(app.test_client())
    b_dsl.login("dsl@otherschool.test")
    assert "Zebedee" in b_dsl.get("/nopublish/", follow_redirects=True).get_data(as_text=True)
    image = b_media.get(f"/review/{two_schools['photo_id']}/image")
    assert image.status_code == 200 and image.mimetype == "image/jpeg"
    queue = b_head.get("/queue/", follow_redirects=True).get_data(as_text=True)
    assert "Caption only B may see" in queue or "@otherschool" in queue
