"""Subject access (`gatekeeper sar UPN OUT.zip`) and erasure on request (`gatekeeper erase`)."""

import io
import json
import zipfile

import pytest
from PIL import Image
from sqlalchemy import select

from consent import services
from consent.models import ConsentRecord, NoPublishEntry, Pupil, ReferenceFace
from gatekeeper.cli.ops import erase_command, sar_command
from gatekeeper.compliance import audit
from gatekeeper.models import AuditEvent, Face, Photo, Post
from gatekeeper.storage import Storage
from tests.support.fixtures import add_pupil, make_school, upload_photo


def jpeg_with_comment(blue: int = 200) -> bytes:
    """A photo carrying a comment; each shade of blue is another file (an event holds one copy)."""
    out = io.BytesIO()
    Image.new("RGB", (80, 60), (30, 60, blue)).save(out, "JPEG", comment=b"taken at 12 Acacia Road")
    return out.getvalue()


@pytest.fixture
def pupil_with_history(app, school, login_as, faces_dir):
    from gatekeeper.extensions import db

    with app.app_context():
        pupil = add_pupil(db.session, school["id"], 3, "Tomos", "Pritchard",
                          consents={"social_media": "granted", "website": "refused"},
                          faces=sorted((faces_dir / "people" / "obama").iterdir())[:1])
        services.add_nopublish(db.session, pupil, category="court_order", note="DSL note",
                               added_by="dsl")
        from consent import groups

        choir = groups.add_group(db.session, school["id"], "Choir", "club", "admin")
        groups.set_members(db.session, choir, [pupil.id], [pupil.id])
        db.session.commit()
        pupil_id, upn = pupil.id, pupil.upn
    staff = login_as("staff")
    event = staff.post("/uploads/events", {"name": "Choir", "date": "2026-06-01",
                                           "purpose": "social_media"}).get_json()
    shown = upload_photo(staff, event["id"], "choir.jpg", jpeg_with_comment()).get_json()["id"]
    other = upload_photo(staff, event["id"], "other.jpg", jpeg_with_comment(150)).get_json()["id"]
    with app.app_context():
        db.session.add(Face(school_id=school["id"], photo_id=shown, index=0, top=0, right=9,
                            bottom=9, left=0, status="unknown", resolution="pupil",
                            resolved_pupil_id=pupil_id, encoding_encrypted=b"sealed"))
        from gatekeeper.models import OfficialAccount

        account = db.session.scalar(select(OfficialAccount).where(
            OfficialAccount.school_id == school["id"]))
        db.session.add(Post(school_id=school["id"], photo_id=other, account_id=account.id,
                            caption="Choir day", state="queued",
                            pupil_ids_json=json.dumps([pupil_id])))
        db.session.get(Photo, other).status = "queued"  # as a release leaves it
        # A posted photo in which the pupil's face was matched and blurred: a school record.
        posted = Photo(school_id=school["id"], purpose="social_media", status="published")
        db.session.add(posted)
        db.session.flush()
        db.session.add(Face(school_id=school["id"], photo_id=posted.id, index=0, top=0, right=9,
                            bottom=9, left=0, status="blocked", pupil_id=pupil_id, blur=True,
                            resolution="blur", encoding_encrypted=b"sealed2",
                            embedding_encrypted=b"sealed3"))
        db.session.commit()
        posted_id = posted.id
    return {"id": pupil_id, "upn": upn, "shown": shown, "other": other, "posted": posted_id}


def archive_text(path) -> str:
    with zipfile.ZipFile(path) as archive:
        return "".join(archive.read(n).decode("utf-8", "replace") for n in archive.namelist()
                       if not n.startswith("photos/"))


def test_sar_export_holds_every_record_about_the_pupil(app, pupil_with_history, tmp_path):
    from gatekeeper.extensions import db
    from gatekeeper.register import actions

    with app.app_context():  # audited against the consent record and the guardian, not the pupil
        actions.set_consent(db.session, 1, pupil_with_history["upn"], "press", "refused",
                            given_by="Mair Pritchard", recorded_by="admin@testschool.test")
        db.session.commit()
    target = tmp_path / "sar.zip"
    result = app.test_cli_runner().invoke(sar_command, [pupil_with_history["upn"], str(target)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(target) as archive:
        names = set(archive.namelist())
        record = json.loads(archive.read("pupil.json"))
        photo = archive.read(f"photos/photo-{pupil_with_history['shown']}.jpg")
        readme = archive.read("README.txt").decode()
    assert record["pupil"]["first_name"] == "Tomos"
    assert {(c["purpose"], c["status"]) for c in record["consent_records"]} == {
        ("social_media", "granted"), ("website", "refused"), ("press", "refused")}
    [entry] = record["nopublish_entries"]  # on the list, but only the DSL sees why
    assert entry["reasons"] == "withheld" and entry["starts_on"]
    assert not {"category", "note", "removal_reason"} & set(entry)
    assert "court_order" not in archive_text(target) and "DSL note" not in archive_text(target)
    assert [g["name"] for g in record["groups"]] == ["Choir"]
    assert (len(record["reference_faces"]) == 1
            and "encoding_encrypted" not in record["reference_faces"][0])
    assert [p["id"] for p in record["photos"]] == [pupil_with_history["shown"],
                                                   pupil_with_history["posted"]]
    assert [p["caption"] for p in record["posts"]] == ["Choir day"]
    assert record["biometric_consents"] and record["biometric_consents"][0]["status"] == "granted"
    actions = {e["action"] for e in record["audit_events"]}
    assert {"photo_uploaded", "consent_recorded"} <= actions
    assert f"photos/photo-{pupil_with_history['other']}.jpg" not in names
    assert b"Acacia" not in photo and Image.open(io.BytesIO(photo)).format == "JPEG"
    assert "review" in readme.lower()


def test_sar_for_another_schools_pupil_is_refused(app, pupil_with_history, tmp_path):
    from gatekeeper.extensions import db

    with app.app_context():
        other_id = make_school(db.session, "Other School").id
    result = app.test_cli_runner().invoke(
        sar_command,
        [pupil_with_history["upn"], str(tmp_path / "x.zip"), "--school", str(other_id)])
    assert result.exit_code == 1 and result.output.startswith("error:")
    assert not (tmp_path / "x.zip").exists()


def test_erasure_deletes_what_may_go_and_keeps_what_must_stay(app, pupil_with_history):
    from gatekeeper.extensions import db

    refused = app.test_cli_runner().invoke(erase_command, [pupil_with_history["upn"]])
    assert refused.exit_code == 1 and "--yes" in refused.output
    result = app.test_cli_runner().invoke(erase_command, [pupil_with_history["upn"], "--yes"])
    assert result.exit_code == 0, result.output
    storage = Storage(app.config["STORAGE_DIR"])
    with app.app_context():
        pupil = db.session.get(Pupil, pupil_with_history["id"])
        assert (pupil.first_name, pupil.last_name, pupil.date_of_birth) == (
            "Erased", "Erased", None)
        assert pupil.left_on is not None
        assert db.session.scalars(select(ReferenceFace).where(
            ReferenceFace.pupil_id == pupil.id)).all() == []
        from consent.models import PupilGroupMember

        assert db.session.scalars(select(PupilGroupMember)).all() == []  # no club of theirs kept
        kept = db.session.scalar(select(Face).where(Face.photo_id == pupil_with_history["posted"]))
        assert (kept.encoding_encrypted, kept.embedding_encrypted, kept.pupil_id) == (
            None, None, None)  # the posted photo stays; the pupil's face template in it goes
        assert kept.blur and db.session.get(Photo, pupil_with_history["posted"]).status == (
            "published")
        shown = db.session.get(Photo, pupil_with_history["shown"])
        assert shown.purged_at is not None and not storage.exists("originals", shown.uuid)
        post = db.session.scalar(select(Post))
        assert post.state == "withdrawn"
        assert db.session.scalars(select(ConsentRecord).where(
            ConsentRecord.pupil_id == pupil.id)).all()  # kept as evidence
        assert db.session.scalars(select(NoPublishEntry).where(
            NoPublishEntry.pupil_id == pupil.id)).all()  # kept for safeguarding
        assert "pupil_erased" in db.session.scalars(select(AuditEvent.action)).all()
        assert audit.verify_chain(db.session).ok


def noise_jpeg(width: int = 240, height: int = 120) -> bytes:
    import random

    rng = random.Random(7)
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), bytes(rng.randrange(256) for _ in range(
        width * height * 3))).save(out, "JPEG", quality=95)
    return out.getvalue()


def detail(picture: Image.Image, box: tuple[int, int, int, int]) -> float:
    """How much neighbouring pixels differ inside the box (a pixelated face has almost none)."""
    from PIL import ImageChops, ImageStat

    region = picture.convert("L").crop(box)
    shifted = region.transform(region.size, Image.Transform.AFFINE, (1, 0, 1, 0, 1, 0))
    return ImageStat.Stat(ImageChops.difference(region, shifted)).mean[0]


def test_sar_photos_show_the_pupil_and_pixelate_every_other_face(app, school, login_as,
                                                                  tmp_path):
    """A group photo in a subject access export showed every other child in it as uploaded;
    now only the pupil's face is left as it is (a person named the left face as another pupil,
    the right one is the pupil)."""
    from gatekeeper.extensions import db

    with app.app_context():
        pupil = add_pupil(db.session, school["id"], 3, "Tomos", "Pritchard")
        friend = add_pupil(db.session, school["id"], 4, "Ffion", "Hughes")
        db.session.commit()
        pupil_id, friend_id, upn = pupil.id, friend.id, pupil.upn
    staff = login_as("staff")
    event = staff.post("/uploads/events", {"name": "Choir", "date": "2026-06-01",
                                           "purpose": "social_media"}).get_json()
    shown = upload_photo(staff, event["id"], "group.jpg", noise_jpeg()).get_json()["id"]
    with app.app_context():  # (top, right, bottom, left) in the original's pixels
        db.session.add(Face(school_id=school["id"], photo_id=shown, index=0, top=20, right=100,
                            bottom=100, left=20, status="cleared", pupil_id=pupil_id,
                            resolution="pupil", resolved_pupil_id=friend_id))
        db.session.add(Face(school_id=school["id"], photo_id=shown, index=1, top=20, right=220,
                            bottom=100, left=140, status="unknown", resolution="pupil",
                            resolved_pupil_id=pupil_id))
        db.session.commit()
    target = tmp_path / "sar.zip"
    result = app.test_cli_runner().invoke(sar_command, [upn, str(target)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(target) as archive:
        picture = Image.open(io.BytesIO(archive.read(f"photos/photo-{shown}.jpg")))
        readme = archive.read("README.txt").decode()
    assert picture.size == (240, 120)
    friends_face, pupils_face = (24, 24, 96, 96), (144, 24, 216, 96)
    assert detail(picture, pupils_face) > 40  # the noise is still there
    assert detail(picture, friends_face) < 10  # pixelated
    assert "pixelated" in readme


def test_sar_names_no_other_pupil(app, pupil_with_history, tmp_path):
    """The release of a photo lists every pupil it shows, an enrolment the pupils who look
    alike: the export listed their ids and UPNs. Now it keeps the pupil's own and counts the
    others."""
    from gatekeeper.extensions import db

    with app.app_context():
        pupil = db.session.get(Pupil, pupil_with_history["id"])
        friend = add_pupil(db.session, pupil.school_id, 9, "Ffion", "Hughes")
        post = db.session.scalar(select(Post))
        post.pupil_ids_json = json.dumps([friend.id, pupil.id])
        audit.record(db.session, "photo_released", school_id=pupil.school_id, actor="media",
                     subject=post, detail={"photo_id": post.photo_id, "pupils": [friend.id,
                                                                                  pupil.id]})
        audit.record(db.session, "lookalikes_found", school_id=pupil.school_id, actor="admin",
                     subject=pupil, detail={"upn": pupil.upn, "lookalikes": [friend.upn]})
        db.session.commit()
        friend_upn, friend_id = friend.upn, friend.id
    target = tmp_path / "sar.zip"
    result = app.test_cli_runner().invoke(sar_command, [pupil_with_history["upn"], str(target)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(target) as archive:
        record = json.loads(archive.read("pupil.json"))
    assert friend_upn not in json.dumps(record)
    released = next(e for e in record["audit_events"] if e["action"] == "photo_released")
    assert released["detail"]["pupils"] == [pupil_with_history["id"]]
    assert released["detail"]["other_pupils"] == 1
    found = next(e for e in record["audit_events"] if e["action"] == "lookalikes_found")
    assert found["detail"]["lookalikes"] == [] and found["detail"]["other_lookalikes"] == 1
    (shown,) = record["posts"]
    assert "pupil_ids_json" not in shown and shown["other_pupils_shown"] == 1
    assert friend_id not in [e["subject_id"] for e in record["audit_events"]]


def test_sar_holds_takedowns_lifts_and_what_imports_changed(app, pupil_with_history, tmp_path):
    """Three tables held the pupil's data and the export left them out: the takedowns of posts
    showing them, the DSL's answers about their blocked faces, and an MIS import's record of the
    details it replaced (a former surname)."""
    from consent.models import ImportBatch
    from gatekeeper.extensions import db
    from gatekeeper.models import BlockLift, Takedown

    with app.app_context():
        pupil = db.session.get(Pupil, pupil_with_history["id"])
        post = db.session.scalar(select(Post))
        face = db.session.scalar(select(Face).where(Face.photo_id == pupil_with_history["posted"]))
        db.session.add(Takedown(school_id=pupil.school_id, post_id=post.id,
                                reason="consent withdrawn", requested_by="Mair Pritchard"))
        db.session.add(BlockLift(school_id=pupil.school_id, face_id=face.id, pupil_id=pupil.id,
                                 state="declined"))
        db.session.add(ImportBatch(school_id=pupil.school_id, created_by="admin",
                                   changes_json=json.dumps({
                                       "updated": {str(pupil.id): {"last_name": "Roberts"},
                                                   "999": {"last_name": "Someone"}},
                                       "new": [999], "left": []})))
        db.session.commit()
    target = tmp_path / "sar.zip"
    result = app.test_cli_runner().invoke(sar_command, [pupil_with_history["upn"], str(target)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(target) as archive:
        record = json.loads(archive.read("pupil.json"))
    assert [t["reason"] for t in record["takedowns"]] == ["consent withdrawn"]
    assert [lift["state"] for lift in record["block_lifts"]] == ["declined"]
    (imported,) = record["imports"]
    assert imported["changes"] == {"updated": {"last_name": "Roberts"}}
    assert "Someone" not in json.dumps(record)


def test_sar_names_no_other_pupil_in_a_face_or_a_decision_about_it(app, pupil_with_history,
                                                                    tmp_path):
    """A face screening matched as the pupil that the media lead named as a friend, and a face
    of the pupil's that the DSL answered about a protected child: the export listed those
    faces, and the decisions about them, with the other child's id."""
    from gatekeeper.extensions import db

    with app.app_context():
        pupil = db.session.get(Pupil, pupil_with_history["id"])
        friend = add_pupil(db.session, pupil.school_id, 9, "Ffion", "Hughes")
        protected = add_pupil(db.session, pupil.school_id, 10, "Gwen", "Jones")
        named = Face(school_id=pupil.school_id, photo_id=pupil_with_history["shown"], index=1,
                     top=20, right=29, bottom=29, left=20, status="cleared", pupil_id=pupil.id,
                     resolution="pupil", resolved_pupil_id=friend.id)
        db.session.add(named)
        db.session.flush()
        audit.record(db.session, "face_resolved", school_id=pupil.school_id, actor="media",
                     subject=named, detail={"photo_id": named.photo_id, "resolution": "pupil",
                                            "pupil_id": friend.id, "status": "cleared"})
        own = db.session.scalar(select(Face).where(Face.resolved_pupil_id == pupil.id))
        audit.record(db.session, "block_lift_declined", school_id=pupil.school_id, actor="dsl",
                     subject=own, detail={"photo_id": own.photo_id, "face": 1,
                                          "pupil_id": protected.id})
        db.session.commit()
        others = {friend.id, protected.id}
    target = tmp_path / "sar.zip"
    result = app.test_cli_runner().invoke(sar_command, [pupil_with_history["upn"], str(target)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(target) as archive:
        record = json.loads(archive.read("pupil.json"))
    for face in record["faces"]:
        assert {face["pupil_id"], face["resolved_pupil_id"]} & others == set(), face
    for event in record["audit_events"]:
        assert event["detail"].get("pupil_id") not in others, event
    declined = next(e for e in record["audit_events"] if e["action"] == "block_lift_declined")
    assert declined["detail"]["other_pupil"] is True


def test_sar_does_not_name_the_parent_of_another_pupil_whose_no_took_a_post_down(
        app, pupil_with_history, tmp_path):
    """A post shows the pupil and a friend; the friend's mother says "no" through her link and
    the post comes down. The pupil's export listed its takedown as asked by "parent link: Jane
    Okafor", with the guardian owed the notice, and the audit trail of the post likewise: the
    other family's name and their answer reached the requesting parent."""
    from consent.models import Guardian, utcnow
    from gatekeeper.extensions import db
    from gatekeeper.parents.mailing import owe_takedown_notice
    from gatekeeper.publishing.takedown import posts_withdrawn
    from gatekeeper.register import actions
    from gatekeeper.register.forms import today

    with app.app_context():
        pupil = db.session.get(Pupil, pupil_with_history["id"])
        friend = add_pupil(db.session, pupil.school_id, 9, "Ffion", "Hughes",
                           consents={"social_media": "granted"})
        mum = Guardian(school_id=pupil.school_id, pupil_id=friend.id, name="Jane Okafor",
                       relationship_to_pupil="parent", email="jane@example.test")
        db.session.add(mum)
        post = db.session.scalar(select(Post))
        post.pupil_ids_json = json.dumps([pupil.id, friend.id])
        post.claimed_at = utcnow()  # handed to a publisher once: it may be out
        db.session.commit()
        actions.parent_answers(db.session, mum, {"social_media": "no"},
                               purposes=("social_media",), on=today())
        assert owe_takedown_notice(db.session, mum, posts_withdrawn(db.session)) == 1
        db.session.commit()
        mum_id = mum.id
    target = tmp_path / "sar.zip"
    result = app.test_cli_runner().invoke(sar_command, [pupil_with_history["upn"], str(target)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(target) as archive:
        record = json.loads(archive.read("pupil.json"))
    (takedown,) = record["takedowns"]
    assert takedown["notify_guardian_id"] != mum_id
    assert "Okafor" not in archive_text(target)
    assert any(e["action"] == "post_withdrawn" for e in record["audit_events"])
