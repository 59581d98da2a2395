"""Retention: unreleased originals purged after the period, rejected ones sooner, released ones
kept; leavers' biometric templates deleted (those an import sealed after the grace period, not
before); the audit trail kept and still verifiable."""

import datetime as dt
import io

from PIL import Image
from sqlalchemy import func, select, update

from consent.importer import LEAVER_GRACE_DAYS
from consent.models import Pupil, ReferenceFace, utcnow
from gatekeeper.cli.ops import purge_command
from gatekeeper.compliance import audit
from gatekeeper.compliance.retention import DEFAULT_REJECTED_RETENTION_DAYS, DEFAULT_RETENTION_DAYS
from gatekeeper.models import AuditEvent, Face, Photo
from gatekeeper.storage import Storage
from gatekeeper.worker import queue
from tests.support.fixtures import add_pupil, upload_photo


def jpeg(colour) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, "JPEG")
    return out.getvalue()


def upload_aged(app, login_as, cases):
    """Upload one photo per case (name, status, age in days); returns {name: photo id}."""
    from gatekeeper.extensions import db

    staff = login_as("staff")
    event = staff.post("/uploads/events", {"name": "Fete", "date": "2026-06-01",
                                           "purpose": "social_media"}).get_json()
    ids = {}
    for n, (name, status, days) in enumerate(cases):
        response = upload_photo(staff, event["id"], f"{name}.jpg", jpeg((n * 40, 90, 200)))
        ids[name] = response.get_json()["id"]
        with app.app_context():
            db.session.execute(update(Photo).where(Photo.id == ids[name]).values(
                status=status, created_at=utcnow() - dt.timedelta(days=days)))
            db.session.add(Face(school_id=1, photo_id=ids[name], index=0, top=0, right=9, bottom=9,
                                left=0, status="unknown", encoding_encrypted=b"sealed",
                                embedding_encrypted=b"sealed too"))
            db.session.commit()
    return ids


def test_purge_follows_the_retention_rules(app, school, login_as):
    from gatekeeper.extensions import db

    cases = [
        ("old_unreleased", "needs_review", DEFAULT_RETENTION_DAYS + 1),
        ("old_blocked", "blocked", DEFAULT_RETENTION_DAYS + 5),
        ("recent_unreleased", "cleared", DEFAULT_RETENTION_DAYS - 2),
        ("rejected_past_short_period", "rejected", DEFAULT_REJECTED_RETENTION_DAYS + 1),
        ("rejected_recent", "rejected", DEFAULT_REJECTED_RETENTION_DAYS - 2),
        ("old_published", "published", DEFAULT_RETENTION_DAYS + 100),
    ]
    ids = upload_aged(app, login_as, cases)
    with app.app_context():
        audit_rows = db.session.scalar(select(func.count()).select_from(AuditEvent))
    result = app.test_cli_runner().invoke(purge_command, [])
    assert result.exit_code == 0, result.output
    assert "purged originals=3" in result.output
    storage = Storage(app.config["STORAGE_DIR"])
    gone = {"old_unreleased", "old_blocked", "rejected_past_short_period"}
    with app.app_context():
        for name, photo_id in ids.items():
            photo = db.session.get(Photo, photo_id)
            face = db.session.scalar(select(Face).where(Face.photo_id == photo_id))
            if name in gone:
                assert not storage.exists("originals", photo.uuid), name
                assert photo.purged_at is not None and photo.status == "rejected", name
                assert face.encoding_encrypted is None and face.embedding_encrypted is None, name
            else:
                assert storage.exists("originals", photo.uuid), name
                assert photo.purged_at is None and face.encoding_encrypted == b"sealed", name
                assert face.embedding_encrypted == b"sealed too", name
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == audit_rows + 3
        assert audit.verify_chain(db.session).ok
    again = app.test_cli_runner().invoke(purge_command, [])
    assert "purged originals=0" in again.output  # safe to run twice


def test_purged_photo_is_no_longer_served(app, school, login_as):
    ids = upload_aged(app, login_as, [("old", "needs_review", DEFAULT_RETENTION_DAYS + 1)])
    app.test_cli_runner().invoke(purge_command, [])
    assert login_as("media_lead").get(f"/review/{ids['old']}/image").status_code == 404


def test_leavers_biometric_templates_are_deleted(app, school, faces_dir):
    from gatekeeper.extensions import db

    people = faces_dir / "people"
    with app.app_context():
        leaver = add_pupil(db.session, school["id"], 1, "Kit", "Harington",
                           faces=sorted((people / "kit_harington").iterdir())[:1]).id
        stayer = add_pupil(db.session, school["id"], 2, "Rose", "Leslie",
                           faces=sorted((people / "rose_leslie").iterdir())[:1]).id
        db.session.get(Pupil, leaver).left_on = utcnow().date() - dt.timedelta(days=1)
        photo = Photo(school_id=school["id"], purpose="social_media", status="published")
        db.session.add(photo)
        db.session.flush()
        for index, pupil_id in enumerate((leaver, stayer)):  # a kept photo showing them both
            db.session.add(Face(school_id=school["id"], photo_id=photo.id, index=index, top=0,
                                right=9, bottom=9, left=0, status="cleared", pupil_id=pupil_id,
                                encoding_encrypted=b"sealed", embedding_encrypted=b"sealed too"))
        # A face screening did not know, which the media lead named as the leaver.
        db.session.add(Face(school_id=school["id"], photo_id=photo.id, index=2, top=0, right=9,
                            bottom=9, left=0, status="cleared", resolution="pupil",
                            resolved_pupil_id=leaver, encoding_encrypted=b"named",
                            embedding_encrypted=b"named too"))
        db.session.commit()
    result = app.test_cli_runner().invoke(purge_command, [])
    assert "leaver_templates=1" in result.output, result.output
    with app.app_context():
        kept = db.session.scalars(select(ReferenceFace.pupil_id)).all()
        actions = db.session.scalars(select(AuditEvent.action)).all()
        templates = {f.index: (f.encoding_encrypted, f.embedding_encrypted)
                     for f in db.session.scalars(select(Face))}
    assert kept == [stayer]
    assert "biometric_deleted" in actions
    # The leaver's faces in the kept photo, matched or named, were their templates too; the
    # stayer's is kept.
    assert templates == {0: (None, None), 1: (b"sealed", b"sealed too"), 2: (None, None)}


def test_bad_period_is_refused_with_one_line(app):
    result = app.test_cli_runner().invoke(purge_command, ["--days", "-3"])
    assert result.exit_code == 1
    assert result.output.strip().startswith("error:")


def test_purge_and_recovery_run_periodically():
    periodic = {t.name for t in queue.huey._registry.periodic_tasks}
    assert any(name.endswith("purge_expired") for name in periodic)
    assert any(name.endswith("requeue_stalled_work") for name in periodic)


def sealed_faces(app, school_id: int, ages_in_days: list[float]) -> list[int]:
    """One leaver per age, each with one reference face sealed that many days ago."""
    from gatekeeper.extensions import db

    ids = []
    with app.app_context():
        for n, days in enumerate(ages_in_days, start=1):
            pupil = add_pupil(db.session, school_id, n, f"Leaver{n}", "Test")
            pupil.left_on = utcnow().date() - dt.timedelta(days=int(days))
            face = ReferenceFace(school_id=school_id, pupil_id=pupil.id, created_by="test",
                                 encoding_encrypted=b"sealed",
                                 sealed_at=utcnow() - dt.timedelta(days=days))
            db.session.add(face)
            db.session.commit()
            ids.append(face.id)
    return ids


def face_ids(app) -> list[int]:
    from gatekeeper.extensions import db

    with app.app_context():
        return sorted(db.session.scalars(select(ReferenceFace.id)))


def test_sealed_faces_are_deleted_after_the_grace_period_not_before(app, school):
    young, old = sealed_faces(app, school["id"], [LEAVER_GRACE_DAYS - 0.1,
                                                  LEAVER_GRACE_DAYS + 0.1])
    result = app.test_cli_runner().invoke(purge_command, [])
    assert "leaver_templates=1" in result.output, result.output
    assert face_ids(app) == [young]  # kept for an undo until its grace period is over
    again = app.test_cli_runner().invoke(purge_command, [])
    assert "leaver_templates=0" in again.output and face_ids(app) == [young]


def test_the_grace_period_comes_from_the_app_config(app, school):
    from gatekeeper.compliance.retention import app_purge

    (face,) = sealed_faces(app, school["id"], [3])
    app.config["LEAVER_GRACE_DAYS"] = 5
    assert "leaver_templates=0" in app.test_cli_runner().invoke(purge_command, []).output
    with app.app_context():
        assert app_purge().templates == 0
    assert face_ids(app) == [face]
    app.config["LEAVER_GRACE_DAYS"] = 2
    with app.app_context():
        assert app_purge().templates == 1
    assert face_ids(app) == []


def test_a_photo_being_taken_down_keeps_its_original_until_the_takedown_is_done(
        app, school, login_as):
    """Uploaded long ago, posted, and taken down today with a person asked to remove it by hand:
    the media lead's task needs its picture. Its period then counts from the takedown's end."""
    import json

    from gatekeeper.extensions import db
    from gatekeeper.models import OfficialAccount, Post, Takedown

    ids = upload_aged(app, login_as, [("taken_down", "withdrawn", DEFAULT_RETENTION_DAYS + 10)])
    with app.app_context():
        account = db.session.scalar(select(OfficialAccount))
        post = Post(school_id=1, photo_id=ids["taken_down"], account_id=account.id,
                    caption="Fete", pupil_ids_json=json.dumps([]), state="withdrawn")
        db.session.add(post)
        db.session.flush()
        db.session.add(Takedown(school_id=1, post_id=post.id, reason="consent withdrawn",
                                state="manual"))
        db.session.commit()
        uuid = db.session.get(Photo, ids["taken_down"]).uuid
    storage = Storage(app.config["STORAGE_DIR"])
    assert "purged originals=0" in app.test_cli_runner().invoke(purge_command, []).output
    assert storage.exists("originals", uuid)
    with app.app_context():  # the person confirms it is down: the period counts from now
        db.session.execute(update(Takedown).values(state="done", done_at=utcnow()))
        db.session.commit()
    assert "purged originals=0" in app.test_cli_runner().invoke(purge_command, []).output
    with app.app_context():
        db.session.execute(update(Takedown).values(
            done_at=utcnow() - dt.timedelta(days=DEFAULT_RETENTION_DAYS + 1)))
        db.session.commit()
    assert "purged originals=1" in app.test_cli_runner().invoke(purge_command, []).output
    assert not storage.exists("originals", uuid)
