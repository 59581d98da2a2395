"""References that stay current, and lookalikes known before they matter: each reference dated
(given, else the photo's own date, else today), at most five per pupil, pupils due for a new
reference listed, and pupils whose references lie within the blocking distance of each other listed
for the admin and the DSL and never cleared as each other."""

import datetime as dt
import io

import numpy as np
import piexif
import pytest
from PIL import Image
from sqlalchemy import select

from consent.clock import school_today
from consent.models import Pupil, ReferenceFace
from gatekeeper.models import AuditEvent
from tests.support.fixtures import add_pupil
from tests.support.publishing import enrol_made_up_face, pupil_encoding, screened_photo

pytestmark = pytest.mark.slow


def with_exif_date(source, target, when: str):
    """A copy of a photo whose EXIF says it was taken `when` ("YYYY:MM:DD HH:MM:SS")."""
    image = Image.open(source).convert("RGB")
    exif = piexif.dump({"Exif": {piexif.ExifIFD.DateTimeOriginal: when.encode()}})
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=92)
    target.write_bytes(out.getvalue())
    return target


@pytest.fixture
def pupil(app, school):
    from consent import services
    from gatekeeper.extensions import db

    with app.app_context():
        found = add_pupil(db.session, school["id"], 1, "Ava", "Thompson",
                          consents={"social_media": "granted"})
        services.record_biometric(db.session, found, "granted", given_by="Parent of Ava",
                                  recorded_by="test")
        db.session.commit()
        return {"id": found.id, "upn": found.upn, "school": school["id"]}


def enrol(app, pupil, photos, taken=None):
    from gatekeeper.extensions import db
    from gatekeeper.screening.enrolment import enrol_pupil

    with app.app_context():
        done = enrol_pupil(db.session, pupil["school"], pupil["upn"], photos, "test", taken)
        db.session.commit()
        return done


def dates(app, pupil_id):
    from gatekeeper.extensions import db

    with app.app_context():
        return sorted(db.session.scalars(select(ReferenceFace.taken_on).where(
            ReferenceFace.pupil_id == pupil_id)))


def test_a_reference_is_dated_as_given_else_by_its_photo_else_today(app, pupil, faces_dir,
                                                                    tmp_path):
    obama = faces_dir / "people" / "obama"
    enrol(app, pupil, [obama / "2.jpg"], taken=dt.date(2025, 9, 1))  # EXIF 2009: the given wins
    dated = with_exif_date(obama / "3.jpg", tmp_path / "dated.jpg", "2024:05:01 10:00:00")
    future = with_exif_date(obama / "3.jpg", tmp_path / "future.jpg", "2099:01:01 10:00:00")
    plain = tmp_path / "plain.png"
    Image.open(obama / "1.jpg").save(plain)  # no EXIF at all
    done = enrol(app, pupil, [dated, future, plain])
    today = school_today()
    assert done.taken_on == [dt.date(2024, 5, 1), today, today]
    assert dates(app, pupil["id"]) == [dt.date(2024, 5, 1), dt.date(2025, 9, 1), today, today]


def test_five_references_at_most_the_oldest_retire(app, pupil, faces_dir):
    from gatekeeper.extensions import db

    photos = sorted((faces_dir / "people" / "obama").iterdir())
    enrol(app, pupil, photos, taken=dt.date(2023, 9, 1))
    enrol(app, pupil, photos[:2], taken=dt.date(2024, 9, 1))
    done = enrol(app, pupil, photos[:2], taken=dt.date(2025, 9, 1))
    assert done.retired == 2
    assert dates(app, pupil["id"]) == [dt.date(2023, 9, 1)] + [dt.date(2024, 9, 1)] * 2 + [
        dt.date(2025, 9, 1)] * 2
    with app.app_context():
        retired = [e.detail["retired"] for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "faces_enrolled")
            .order_by(AuditEvent.id))]
    assert retired == [0, 0, 2]


def test_a_date_after_today_is_refused_and_nothing_is_enrolled(app, pupil, faces_dir):
    from gatekeeper.screening.enrolment import EnrolmentError

    with pytest.raises(EnrolmentError, match="after today"):
        enrol(app, pupil, [faces_dir / "people" / "obama" / "1.jpg"],
              taken=school_today() + dt.timedelta(days=1))
    assert dates(app, pupil["id"]) == []


def test_lookalikes_are_reported_at_enrolment_listed_and_never_cleared_as_each_other(
        app, school, login_as, faces_dir):
    """Two pupils enrolled with photos of one person: the second enrolment reports the first, the
    admin and the DSL see the pair, and a photo of that person clears as neither."""
    from gatekeeper.extensions import db

    obama = faces_dir / "people" / "obama"
    with app.app_context():
        ava = add_pupil(db.session, school["id"], 1, "Ava", "Thompson",
                        consents={"social_media": "granted"}, faces=[obama / "1.jpg"])
        ava_id = ava.id
    admin = login_as("admin")
    page = admin.get(f"/register/pupils/{ava_id}").get_data(as_text=True)
    assert "Reference faces enrolled: 1." in page and school_today().strftime("%d/%m/%Y") in page
    with app.app_context():
        twin = add_pupil(db.session, school["id"], 2, "Bea", "Thompson",
                         consents={"social_media": "granted"})
        from consent import services

        services.record_biometric(db.session, twin, "granted", given_by="Parent of Bea",
                                  recorded_by="test")
        db.session.commit()
        twin_id = twin.id
    with (obama / "2.jpg").open("rb") as photo:  # its EXIF says 2009
        enrolled = admin.post(f"/register/pupils/{twin_id}/faces",
                              {"photos": (photo, "bea.jpg"), "taken_on": ""},
                              content_type="multipart/form-data")
    assert enrolled.status_code == 302
    flashed = admin.get(enrolled.headers["Location"]).get_data(as_text=True)
    assert "Ava Thompson (5) looks alike" in flashed
    assert "Dated 09/09/2009 from the photos themselves" in flashed
    for role in ("admin", "dsl"):
        listing = login_as(role).get("/register/faces/").get_data(as_text=True)
        assert "Ava Thompson" in listing and "Bea Thompson" in listing
    for role in ("staff", "media_lead", "head"):
        assert login_as(role).get("/register/faces/").status_code == 403
    with app.app_context():
        found = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "lookalikes_found")).all()
        assert [e.detail["lookalikes"] for e in found] == [[db.session.get(Pupil, ava_id).upn]]
        from gatekeeper.screening.engine import analyse_bytes
        from gatekeeper.screening.service import RegisterNow

        analysis = analyse_bytes((faces_dir / "events" / "obama_podium.jpg").read_bytes())
        [face] = RegisterNow(db.session, school["id"]).decide(
            [f.encoding for f in analysis.faces], "social_media")
    assert face.status == "unknown" and set(face.maybe) == {ava_id, twin_id}


def test_pupils_whose_newest_reference_is_over_a_year_old_are_due(app, school, login_as):
    from gatekeeper.extensions import db
    from gatekeeper.screening.enrolment import due_for_reenrolment

    today = school_today()
    with app.app_context():
        kept = {}
        for index, (name, ages) in enumerate({"Old": [800, 400], "Mixed": [800, 30],
                                              "New": [10]}.items(), start=1):
            pupil = add_pupil(db.session, school["id"], index, name, "Pupil")
            for n, age in enumerate(ages):
                db.session.add(ReferenceFace(
                    school_id=school["id"], pupil_id=pupil.id, created_by="test",
                    encoding_encrypted=b"", taken_on=today - dt.timedelta(days=age + n)))
            kept[name] = pupil.id
        db.session.commit()
        due = due_for_reenrolment(db.session, school["id"])
        assert [(d.pupil.first_name, d.newest, d.count) for d in due] == [
            ("Old", today - dt.timedelta(days=401), 2)]


def test_an_old_reference_clears_less_but_blocks_as_before(app, school):
    """Three years old: the clear radius shrinks for it; a protected pupil's old reference still
    blocks at its plain distance."""
    from gatekeeper.extensions import db
    from gatekeeper.screening import thresholds as t

    today = school_today()
    with app.app_context():
        ava = add_pupil(db.session, school["id"], 1, "Ava", "T",
                        consents={"social_media": "granted"})
        efa = add_pupil(db.session, school["id"], 2, "Efa", "J",
                        consents={"social_media": "refused"})
        enrol_made_up_face(db.session, school["id"], ava.id)
        enrol_made_up_face(db.session, school["id"], efa.id)
        db.session.commit()
        near = t.STRICT_TOLERANCE - 0.03
        step = np.zeros(128)
        step[0] = near
        ava_face = pupil_encoding(ava.id) + step
        efa_face = pupil_encoding(efa.id) + step
        fresh = screened_photo(db.session, school["id"], [ava_face, efa_face])
        for reference in db.session.scalars(select(ReferenceFace)):
            reference.taken_on = today - dt.timedelta(days=3 * 366)
        db.session.commit()
        aged = screened_photo(db.session, school["id"], [ava_face, efa_face])
        from gatekeeper.models import Photo

        statuses = [[f.status for f in db.session.get(Photo, p).faces] for p in (fresh, aged)]
    assert statuses == [["cleared", "blocked"], ["unknown", "blocked"]]


def guardian(session, pupil, name, email=""):
    from consent import services

    return services.add_guardian(session, pupil, name, "parent", email)


def test_siblings_from_shared_guardians_reach_the_rule_and_the_media_lead(app, school, login_as):
    """Ava and her brother Ben share a parent (by email); Ava's face is 0.10 from her reference
    and 0.40 from Ben's: never cleared as her, and the media lead is told it may be either. A
    twin is never cleared; a "guardian" shared by a whole class is a placeholder, not a family."""
    from gatekeeper.extensions import db
    from gatekeeper.models import Photo

    def place(pupil_id, distance):
        step = np.zeros(128)
        step[pupil_id % 100] = distance
        return pupil_encoding(pupil_id) + step

    with app.app_context():
        granted = {"social_media": "granted"}
        ava = add_pupil(db.session, school["id"], 1, "Ava", "Evans", consents=granted)
        ben = add_pupil(db.session, school["id"], 2, "Ben", "Evans", consents=granted)
        ben.date_of_birth = dt.date(2017, 6, 1)
        guardian(db.session, ava, "Mrs Evans", "mum@example.test")
        guardian(db.session, ben, "Sian Evans", "MUM@example.test ")  # same address, other name
        for pupil in (ava, ben):
            enrol_made_up_face(db.session, school["id"], pupil.id)
        db.session.commit()
        face = place(ava.id, 0.10)
        far_from_ben = np.linalg.norm(face - pupil_encoding(ben.id))
        assert far_from_ben > 1  # made-up references lie far apart: place Ben's near the face
        ref = db.session.scalar(select(ReferenceFace).where(ReferenceFace.pupil_id == ben.id))
        from gatekeeper.compliance.crypto import app_cipher, seal_encoding

        ref.encoding_encrypted = seal_encoding(app_cipher(), place(ava.id, -0.30))
        db.session.commit()
        photo_id = screened_photo(db.session, school["id"], [face])
        assert [f.status for f in db.session.get(Photo, photo_id).faces] == ["unknown"]
        ids = (ava.id, ben.id)
    page = login_as("media_lead").get(f"/review/{photo_id}").get_data(as_text=True)
    assert f'data-maybe="{ids[0]},{ids[1]}"' in page
    assert "<strong>Ava Evans</strong> (5), <strong>Ben Evans</strong> (5)" in page


def test_a_twin_is_never_cleared_and_a_placeholder_guardian_makes_no_family(app, school):
    from gatekeeper.extensions import db
    from gatekeeper.models import Photo

    with app.app_context():
        granted = {"social_media": "granted"}
        pupils = [add_pupil(db.session, school["id"], i, f"Child{i}", "Roe", consents=granted)
                  for i in range(1, 11)]  # add_pupil: all born on 1 January 2015
        for pupil in pupils:
            enrol_made_up_face(db.session, school["id"], pupil.id)
            guardian(db.session, pupil, "Parent/Carer")  # one "guardian" for ten pupils
        db.session.commit()
        cleared = screened_photo(db.session, school["id"], [pupil_encoding(pupils[0].id)])
        guardian(db.session, pupils[1], "Tom Roe", "tom@example.test")
        guardian(db.session, pupils[2], "Tom Roe", "tom@example.test")  # twins: same birthday
        db.session.commit()
        twin = screened_photo(db.session, school["id"], [pupil_encoding(pupils[1].id)])
        statuses = [db.session.get(Photo, p).faces[0].status for p in (cleared, twin)]
    assert statuses == ["cleared", "unknown"]


def test_a_pupil_of_sixteen_or_more_is_matched_as_older(app, school):
    """A face a little beyond a child's clear radius from the reference, inside an older pupil's
    (thresholds.OLDER_TOLERANCE_BONUS): a person looks while the register says the pupil is 11;
    cleared once it says 16 or more. No date of birth: matched as a child."""
    from gatekeeper.extensions import db
    from gatekeeper.models import Photo
    from gatekeeper.screening import thresholds as t

    with app.app_context():
        sam = add_pupil(db.session, school["id"], 1, "Sam", "Hughes",
                        consents={"social_media": "granted"})
        enrol_made_up_face(db.session, school["id"], sam.id)
        step = np.zeros(128)
        step[0] = t.STRICT_TOLERANCE + t.OLDER_TOLERANCE_BONUS / 2
        face = pupil_encoding(sam.id) + step
        year = school_today().year
        statuses = []
        for born in (dt.date(year - 12, 1, 1), dt.date(year - 17, 1, 1), None):
            sam.date_of_birth = born
            db.session.commit()
            photo_id = screened_photo(db.session, school["id"], [face])
            statuses.append(db.session.get(Photo, photo_id).faces[0].status)
    assert statuses == ["unknown", "cleared", "unknown"]


def test_a_folder_of_photos_named_by_upn_enrols_each_pupil_and_lists_who_is_left(
        app, school, faces_dir, cli, login_as, tmp_path):
    """A school enrols hundreds of pupils at once (one command, the models loaded once, a line a
    pupil), and the Reference faces page lists who has biometric consent but no reference yet."""
    import shutil

    from consent import services
    from gatekeeper.extensions import db
    from gatekeeper.ops.setup import demo_upn

    with app.app_context():
        for index, first in enumerate(("Ava", "Ben", "Cara", "Dai"), start=1):
            pupil = add_pupil(db.session, school["id"], index, first, "Jones")
            if first != "Dai":  # Dai's parents have not given biometric consent
                services.record_biometric(db.session, pupil, "granted",
                                          given_by=f"Parent of {first}", recorded_by="test")
        db.session.commit()
    page = login_as("admin").get("/register/faces/").get_data(as_text=True)
    awaiting = page[page.index('id="awaiting-pupils"'):page.index('id="lookalikes"')]
    assert all(name in awaiting for name in ("Ava Jones", "Ben Jones", "Cara Jones"))
    assert "Dai Jones" not in awaiting
    people, folder = faces_dir / "people", tmp_path / "photos"
    (folder / demo_upn(2).lower()).mkdir(parents=True)
    shutil.copy(people / "obama" / "1.jpg", folder / f"{demo_upn(1)}.jpg")
    shutil.copy(people / "obama" / "2.jpg", folder / f"{demo_upn(1)}-2.jpg")
    shutil.copy(people / "biden" / "1.jpg", folder / demo_upn(2).lower() / "school photo.jpg")
    shutil.copy(faces_dir / "events" / "two_people.jpg", folder / f"{demo_upn(3)}.jpg")
    shutil.copy(people / "biden" / "2.jpg", folder / f"{demo_upn(4)}.jpg")  # no consent
    shutil.copy(people / "biden" / "2.jpg", folder / "class photo.jpg")
    (folder / "notes.txt").write_text("taken on photo day")
    (folder / ".DS_Store").write_bytes(b"\0")
    result = cli("enrol-folder", str(folder))
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert [line[:6] for line in lines[:4]] == ["[1/4] ", "[2/4] ", "[3/4] ", "[4/4] "]
    said = dict(line[6:].split(": ", 1) for line in lines[:4])  # by UPN, in UPN order
    assert said[demo_upn(1)] == "enrolled 2 reference face(s)"
    assert said[demo_upn(2)] == "enrolled 1 reference face(s)"
    assert said[demo_upn(3)] == (f"not enrolled: {demo_upn(3)}.jpg: 2 faces found: a reference "
                                 "photo must show only the pupil")
    assert said[demo_upn(4)].startswith("not enrolled: ")
    assert lines[4] == ("enrolled 2 of 4 pupil(s), 3 reference face(s); files not named by a "
                        "UPN: 2")
    assert set(lines[5:]) == {"not named by a UPN: class photo.jpg",
                              "not named by a UPN: notes.txt"}
    assert result.stderr.strip() == "error: 2 pupil(s) not enrolled: see the lines above"
    with app.app_context():
        counts = {upn: len(faces) for upn, faces in (
            (p.upn, db.session.scalars(select(ReferenceFace).where(
                ReferenceFace.pupil_id == p.id)).all()) for p in db.session.scalars(select(Pupil)))}
    assert counts == {demo_upn(1): 2, demo_upn(2): 1, demo_upn(3): 0, demo_upn(4): 0}
    page = login_as("admin").get("/register/faces/").get_data(as_text=True)
    awaiting = page[page.index('id="awaiting-pupils"'):page.index('id="lookalikes"')]
    assert "Cara Jones" in awaiting and "Ava Jones" not in awaiting
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(people / "biden" / "2.jpg", other / "Ben Jones.jpg")
    assert "no photo named by a UPN" in cli("enrol-folder", str(other)).stderr
