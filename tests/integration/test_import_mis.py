"""The MIS import against the database, and its web preview: all or nothing, idempotent, leavers
marked (never deleted) with their faces sealed, consent answers from the MIS, takedowns; the
leaver safeguard (a file that empties the register is refused unless the number is typed) and
undoing an import."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from consent.models import BiometricConsent, ConsentRecord, Pupil, ReferenceFace
from gatekeeper.models import AuditEvent
from gatekeeper.ops.setup import demo_upn
from gatekeeper.register import actions
from gatekeeper.register.forms import today
from tests.integration.test_register_screens import (
    actions_logged,
    decision,
    enrolled_faces,
    page,
    post_state,
    queued_post,
)

HEADER = ("UPN,Legal Forename,Legal Surname,Date of Birth,NC Year Actual,consent_website,"
          "consent_social_media,biometric_consent")


def row(index: int, first: str, year: str = "5", website: str = "yes", social: str = "",
        biometric: str = "") -> str:
    return f"{demo_upn(index)},{first},Pupil{index},0{index % 9 + 1}/09/2016,Year {year}," \
           f"{website},{social},{biometric}"


def csv_file(*rows: str) -> bytes:
    return "\r\n".join((HEADER, *rows)).encode()


CLASS = csv_file(row(1, "Ava"), row(2, "Ben", social="no"), row(3, "Cara", website="",
                                                                biometric="yes"))


class Outcome:
    """What a test reads of an import plan, taken before its session closes."""

    def __init__(self, plan):
        self.ok, self.errors, self.changes = plan.ok, plan.errors, plan.changes
        self.new, self.unchanged = len(plan.new), plan.unchanged
        self.summary, self.lines = plan.summary(), plan.lines()
        self.leaving = [p.upn for p in plan.leaving]
        self.rejoining = [p.upn for p, _ in plan.rejoining]
        self.biometrics = [status for _, status in plan.biometrics]
        self.refused, self.refusal, self.batch = plan.refused, plan.refusal(), plan.batch_id
        self.renumbered = [(r.former_upn, r.upn) for _p, r in plan.renumbered]
        self.warnings = plan.warnings()


def run_import(app, school_id: int, data: bytes, *, full: bool = True,
               apply: bool = True, confirm: int | None = None) -> Outcome:
    from gatekeeper.extensions import db

    with app.app_context():
        plan = actions.import_pupils(db.session, school_id, data, purposes=app.config["PURPOSES"],
                                     today=today(), full=full, apply=apply, actor="test",
                                     confirmed_leavers=confirm)
        outcome = Outcome(plan)
        db.session.commit()
        return outcome


def counts(app) -> dict[str, int]:
    from gatekeeper.extensions import db

    with app.app_context():
        return {model.__name__: db.session.scalar(select(func.count()).select_from(model))
                for model in (Pupil, ConsentRecord, BiometricConsent, AuditEvent)}


def pupil(app, index: int) -> Pupil:
    from gatekeeper.extensions import db

    with app.app_context():
        found = db.session.scalar(select(Pupil).where(Pupil.upn == demo_upn(index)))
        db.session.expunge(found)
        return found


def test_first_import_creates_pupils_with_the_mis_answers(app, school):
    plan = run_import(app, school["id"], CLASS)
    assert plan.ok and plan.new == 3
    ava = pupil(app, 1)
    assert (ava.first_name, ava.last_name, ava.year_group, ava.date_of_birth.day) == (
        "Ava", "Pupil1", "5", 2)
    assert decision(app, ava.id, "website").ok
    ben = pupil(app, 2)
    assert decision(app, ben.id, "social_media").reason == "consent refused"
    from gatekeeper.extensions import db

    with app.app_context():
        records = db.session.scalars(select(ConsentRecord)).all()
        assert {(r.source, r.given_by, r.recorded_by) for r in records} == {
            ("import", "MIS export", "test")}
        bio = db.session.scalar(select(BiometricConsent))
        assert (bio.pupil_id, bio.status) == (pupil(app, 3).id, "granted")
    (event,) = actions_logged(app, "pupils_imported")
    assert event.detail["new"] == 3 and event.detail["records"] == 4


def test_importing_the_same_file_again_changes_nothing(app, school):
    run_import(app, school["id"], CLASS)
    before = counts(app)
    plan = run_import(app, school["id"], CLASS)
    assert plan.ok and plan.changes == 0 and plan.unchanged == 3
    assert counts(app) == before


def test_one_bad_row_applies_nothing_and_says_which_row(app, school):
    run_import(app, school["id"], CLASS)
    before = counts(app)
    bad = csv_file(row(1, "Ava", year="7"), row(2, "Ben"),
                   "A801200005001,X,Y,01/01/2016,Year 5,,,", row(4, "Dan", year="Q"))
    plan = run_import(app, school["id"], bad)
    assert [str(e) for e in plan.errors] == [
        "row 4: UPN A801200005001 has the wrong check letter",
        "row 5: year group 'Year Q' is not one of N1, N2, R, 1-14"]
    assert counts(app) == before
    assert pupil(app, 1).year_group == "5"


def test_changes_are_applied_and_reported_by_row(app, school):
    run_import(app, school["id"], CLASS)
    changed = csv_file(row(1, "Ava", year="6"), row(2, "Benjamin", social="no"),
                       row(3, "Cara", website="", biometric="yes"), row(4, "Dan"))
    plan = run_import(app, school["id"], changed)
    assert plan.summary.startswith("4 pupils in the file: 1 new, 2 updated, 1 unchanged")
    assert "row 2: " + demo_upn(1) + " Ava Pupil1: year group 5 → 6" in plan.lines
    assert pupil(app, 1).year_group == "6" and pupil(app, 2).first_name == "Benjamin"


def face_states(app) -> list[tuple[int, bool]]:
    """(pupil id, sealed) for every reference face."""
    from gatekeeper.extensions import db

    with app.app_context():
        return sorted((pid, sealed is not None) for pid, sealed in db.session.execute(
            select(ReferenceFace.pupil_id, ReferenceFace.sealed_at)))


def test_pupils_missing_from_a_full_export_leave_and_their_faces_are_sealed(app, school):
    run_import(app, school["id"], CLASS)
    cara = pupil(app, 3)
    enrolled_faces(app, cara.id, 2)
    plan = run_import(app, school["id"], csv_file(row(1, "Ava"), row(2, "Ben", social="no")),
                      confirm=1)
    assert plan.leaving == [cara.upn], (plan.errors, plan.refusal)
    left = pupil(app, 3)  # still there: leavers are never deleted
    assert left.left_on == today()
    assert decision(app, cara.id, "website").reason == "has left the school"
    assert face_states(app) == [(cara.id, True), (cara.id, True)]  # sealed, not yet deleted
    assert actions_logged(app, "reference_faces_deleted") == []
    (left_event,) = actions_logged(app, "pupil_left")
    assert (left_event.detail["upn"], left_event.detail["faces_sealed"]) == (cara.upn, 2)
    # Back in a later export: on roll again, with the faces that were only sealed.
    plan = run_import(app, school["id"], CLASS)
    assert plan.rejoining == [cara.upn]
    assert pupil(app, 3).left_on is None
    assert face_states(app) == [(cara.id, False), (cara.id, False)]
    assert actions_logged(app, "pupil_rejoined")[0].detail["faces_unsealed"] == 2


def whole_school(app, school_id: int, size: int = 14) -> bytes:
    data = csv_file(*(row(i, f"P{i}") for i in range(1, size + 1)))
    assert run_import(app, school_id, data).new == size
    return data


def test_a_file_of_two_rows_is_refused_unless_the_number_of_leavers_is_typed(app, school):
    whole_school(app, school["id"])
    before = counts(app)
    two_rows = csv_file(row(1, "P1"), row(2, "P2"))
    refused = run_import(app, school["id"], two_rows)
    assert refused.refused and not refused.ok and refused.batch is None
    assert refused.refusal.startswith("this file would make 12 of 14 pupils leavers (more than "
                                      "10%): if it is a whole-school export, confirm by typing 12")
    wrong = run_import(app, school["id"], two_rows, confirm=11)
    assert wrong.refused and wrong.refusal.startswith("11 leavers were confirmed but this file")
    after = counts(app)
    assert after["AuditEvent"] == before["AuditEvent"] + 2  # each refusal is on the record
    assert {k: v for k, v in after.items() if k != "AuditEvent"} == {
        k: v for k, v in before.items() if k != "AuditEvent"}
    assert pupil(app, 14).left_on is None
    assert [e.detail["leaving"] for e in actions_logged(app, "pupils_import_refused")] == [12, 12]
    done = run_import(app, school["id"], two_rows, confirm=12)
    assert done.ok and len(done.leaving) == 12 and done.batch is not None
    assert pupil(app, 14).left_on == today()
    assert actions_logged(app, "pupils_imported")[-1].detail["confirmed_leavers"] == 12


def test_a_dry_run_of_the_two_row_file_says_it_would_be_refused(app, school):
    whole_school(app, school["id"])
    before = counts(app)
    plan = run_import(app, school["id"], csv_file(row(1, "P1"), row(2, "P2")), apply=False)
    assert plan.refused and "12 of 14" in plan.refusal
    assert counts(app) == before  # not even an audit event: a dry run changes nothing


def test_a_few_leavers_need_no_confirmation_and_a_typed_number_must_match(app, school):
    data = whole_school(app, school["id"], size=10)
    rows = data.decode().split("\r\n")
    one_leaver = "\r\n".join(rows[:-1]).encode()  # 1 of 10 is 10%, not more than 10%
    wrong = run_import(app, school["id"], one_leaver, confirm=2)
    assert wrong.refused  # the number typed is for another file
    plan = run_import(app, school["id"], one_leaver)
    assert plan.ok and plan.leaving == [demo_upn(10)]


def test_the_leaver_share_limit_comes_from_the_app_config(app, school, login_as):
    whole_school(app, school["id"], size=10)
    two_leave = csv_file(*(row(i, f"P{i}") for i in range(1, 9)))
    admin = login_as("admin")
    assert "Not imported: this file would make 2 of 10" in upload(admin, two_leave).get_data(
        as_text=True)
    app.config["LEAVER_SHARE_LIMIT"] = 0.25
    html = upload(admin, two_leave).get_data(as_text=True)
    assert "import-refused" not in html and "Apply these changes" in html


def test_a_partial_export_is_refused_as_full_and_accepted_as_partial(app, school):
    whole_school(app, school["id"], size=24)
    before = counts(app)
    one_class = csv_file(row(1, "P1", year="6"), row(2, "P2"))
    refused = run_import(app, school["id"], one_class)
    assert not refused.ok and "would make 22 of 24 pupils leavers" in refused.refusal
    assert "import it as a partial export" in refused.refusal
    assert counts(app)["Pupil"] == before["Pupil"] and pupil(app, 10).left_on is None
    partial = run_import(app, school["id"], one_class, full=False)
    assert partial.ok and partial.leaving == [] and pupil(app, 1).year_group == "6"
    assert pupil(app, 10).left_on is None


def test_a_no_from_the_mis_pulls_posts_and_a_parents_withdrawal_outlives_a_yes(app, school):
    run_import(app, school["id"], CLASS)
    ava = pupil(app, 1)
    post = queued_post(app, school["id"], [ava.id])
    run_import(app, school["id"], csv_file(row(1, "Ava", social="yes"), row(2, "Ben", social="no"),
                                           row(3, "Cara", website="", biometric="yes")))
    assert decision(app, ava.id, "social_media").ok and post_state(app, post) == "queued"
    run_import(app, school["id"], csv_file(row(1, "Ava", social="no"), row(2, "Ben", social="no"),
                                           row(3, "Cara", website="", biometric="yes")))
    assert post_state(app, post) == "withdrawn"
    assert decision(app, ava.id, "social_media").reason == "consent withdrawn"
    # A parent withdraws website consent in the office; the MIS still says yes: no change.
    from gatekeeper.extensions import db

    with app.app_context():
        actions.set_consent(db.session, school["id"], ava.upn, "website", "withdrawn",
                            given_by="Mary Pupil", recorded_by="office")
        db.session.commit()
    plan = run_import(app, school["id"], csv_file(row(1, "Ava", social="no"),
                                                  row(2, "Ben", social="no"),
                                                  row(3, "Cara", website="", biometric="yes")))
    assert plan.changes == 0 and not decision(app, ava.id, "website").ok


def test_a_biometric_no_from_the_mis_deletes_the_faces(app, school):
    run_import(app, school["id"], CLASS)
    cara = pupil(app, 3)
    enrolled_faces(app, cara.id, 1)
    plan = run_import(app, school["id"], csv_file(row(1, "Ava"), row(2, "Ben", social="no"),
                                                  row(3, "Cara", website="", biometric="no")))
    assert plan.biometrics == ["withdrawn"]
    assert [e.detail["reason"] for e in actions_logged(app, "reference_faces_deleted")] == [
        "biometric consent withdrawn (MIS import)"]


def test_a_dry_run_changes_nothing(app, school):
    before = counts(app)
    plan = run_import(app, school["id"], CLASS, apply=False)
    assert plan.new == 3 and counts(app) == before


def upload(browser, data: bytes, partial: bool = False):
    fields = {"csrf_token": browser.token, "file": (io.BytesIO(data), "export.csv")}
    if partial:
        fields["partial"] = "y"
    return browser.client.post("/register/import", data=fields,
                               content_type="multipart/form-data")


def test_web_preview_then_apply(app, school, login_as):
    admin = login_as("admin")
    preview = upload(admin, CLASS).get_data(as_text=True)
    assert "3 pupils in the file: 3 new" in preview and "new pupil " + demo_upn(2) in preview
    assert counts(app)["Pupil"] == 0  # nothing until confirmed
    token = re.search(r'name="token" value="([0-9a-f]{32})"', preview).group(1)
    kept = app.config["INSTANCE"] / "imports" / f"{school['id']}-{token}.csv"
    assert kept.is_file()
    done = admin.post("/register/import/apply", {"token": token, "partial": ""})
    assert done.status_code == 302
    assert "Imported: 3 pupils in the file" in page(admin, done.headers["Location"])
    assert counts(app)["Pupil"] == 3 and not kept.exists()
    again = admin.post("/register/import/apply", {"token": token, "partial": ""})
    assert "That upload has expired" in page(admin, again.headers["Location"])
    assert "The register already matches this file" in upload(admin, CLASS).get_data(as_text=True)


def test_web_preview_lists_errors_by_row_and_offers_no_apply(app, school, login_as):
    bad = csv_file(row(1, "Ava"), "A801200005001,X,Y,01/01/2016,Year 5,,,")
    html = upload(login_as("admin"), bad).get_data(as_text=True)
    assert "Nothing was imported." in html and "<td>3</td><td>UPN A801200005001" in html
    assert "import/apply" not in html
    assert not list((app.config["INSTANCE"] / "imports").glob("*.csv"))


def test_web_refuses_an_unreadable_file_and_a_bad_token(app, school, login_as):
    admin = login_as("admin")
    assert "the file is empty" in upload(admin, b"").get_data(as_text=True)
    assert admin.post("/register/import/apply", {"token": "../../secret"}).status_code == 404


@pytest.mark.parametrize("role", ["staff", "media_lead"])
def test_only_register_roles_import(login_as, school, role):
    assert login_as(role).get("/register/import").status_code == 403


def token_of(html: str) -> str:
    return re.search(r'name="token" value="([0-9a-f]{32})"', html).group(1)


def test_web_refuses_the_two_row_file_until_the_number_of_leavers_is_typed(app, school,
                                                                          login_as):
    whole_school(app, school["id"])
    admin = login_as("admin")
    preview = upload(admin, csv_file(row(1, "P1"), row(2, "P2"))).get_data(as_text=True)
    assert "Not imported: this file would make 12 of 14 pupils leavers." in preview
    assert 'name="confirm_leavers"' in preview and "Apply these changes" not in preview
    token = token_of(preview)
    for typed in (None, "", "11", "twelve", "-12", "12; DROP TABLE pupil", "9" * 40):
        fields = {"token": token, "partial": ""}
        if typed is not None:
            fields["confirm_leavers"] = typed
        again = admin.post("/register/import/apply", fields)
        assert again.status_code == 200 and "Not imported" in again.get_data(as_text=True), typed
        assert pupil(app, 14).left_on is None, typed
    assert "You typed 11, which is not the number" in admin.post(
        "/register/import/apply", {"token": token, "partial": "", "confirm_leavers": "11"}
    ).get_data(as_text=True)
    refusals = actions_logged(app, "pupils_import_refused")
    assert len(refusals) == 1 + 7 + 1 and refusals[0].actor == "admin@testschool.test"
    done = admin.post("/register/import/apply", {"token": token, "partial": "",
                                                 "confirm_leavers": " 12 "})
    assert done.status_code == 302
    assert pupil(app, 14).left_on == today() and pupil(app, 1).left_on is None
    assert actions_logged(app, "pupils_imported")[-1].detail["left"] == 12


def batches(app) -> list[int]:
    from consent.models import ImportBatch
    from gatekeeper.extensions import db

    with app.app_context():
        return list(db.session.scalars(select(ImportBatch.id).order_by(ImportBatch.id)))


def consent_count(app, index: int) -> int:
    from gatekeeper.extensions import db

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(ConsentRecord).where(
            ConsentRecord.pupil_id == pupil(app, index).id))


def test_undo_restores_leavers_faces_details_and_consents_then_refuses_twice(app, school):
    from gatekeeper.extensions import db

    whole_school(app, school["id"], size=5)
    first_batch = batches(app)[-1]
    enrolled_faces(app, pupil(app, 4).id, 2)
    assert consent_count(app, 1) == 1
    # One row changed, a new pupil with a 'no', a new social media answer, three leave.
    bad = csv_file(row(1, "Renamed", year="6", social="no"), row(2, "P2"), row(6, "New"))
    plan = run_import(app, school["id"], bad, confirm=3)
    assert plan.ok and plan.new == 1
    assert sorted(plan.leaving) == sorted(demo_upn(i) for i in (3, 4, 5))
    assert face_states(app) == [(pupil(app, 4).id, True)] * 2 and consent_count(app, 1) == 2
    with app.app_context():
        result = actions.undo_import(db.session, school["id"], plan.batch, today=today(),
                                     actor="test")
        restored = sorted(p.upn for p, _ in result.restored)
        db.session.commit()
    assert restored == sorted(demo_upn(i) for i in (3, 4, 5))
    assert all(pupil(app, i).left_on is None for i in range(1, 6))
    assert face_states(app) == [(pupil(app, 4).id, False)] * 2
    ava = pupil(app, 1)
    assert (ava.first_name, ava.year_group) == ("P1", "5") and consent_count(app, 1) == 1
    assert decision(app, ava.id, "social_media").reason == "no consent recorded"
    assert pupil(app, 6).left_on == today() and consent_count(app, 6) == 0  # added: off roll
    (event,) = actions_logged(app, "pupils_import_undone")
    assert event.detail["faces_unsealed"] == 2 and event.detail["off_roll"] == [demo_upn(6)]
    with app.app_context(), pytest.raises(actions.services.RegisterError,
                                          match=f"import {plan.batch} was already undone"):
        actions.undo_import(db.session, school["id"], plan.batch, today=today(), actor="test")
    with app.app_context():  # the first import is now the newest not undone: it may go too
        assert actions.undo_import(db.session, school["id"], first_batch, today=today(),
                                   actor="test").removed
        db.session.rollback()


def age_batches(app, days: float) -> None:
    import datetime as dt

    from sqlalchemy import update

    from consent.models import ImportBatch, utcnow
    from gatekeeper.extensions import db

    with app.app_context():
        db.session.execute(update(ImportBatch).values(
            created_at=utcnow() - dt.timedelta(days=days)))
        db.session.commit()


def test_undo_is_refused_after_the_grace_period_for_a_later_import_and_another_school(
        app, school):
    from consent.importer import LEAVER_GRACE_DAYS
    from gatekeeper.extensions import db

    whole_school(app, school["id"], size=5)
    plan = run_import(app, school["id"], csv_file(row(1, "P1"), row(2, "P2")), confirm=3)
    later = run_import(app, school["id"], csv_file(row(1, "P1", year="6"), row(2, "P2")))

    def undo(batch_id, school_id=school["id"]):
        with app.app_context():
            try:
                actions.undo_import(db.session, school_id, batch_id, today=today(), actor="t")
            finally:
                db.session.rollback()

    with pytest.raises(actions.services.RegisterError,
                       match=f"import {later.batch} was applied after import {plan.batch}: "
                             f"undo import {later.batch} first"):
        undo(plan.batch)
    with pytest.raises(actions.services.RegisterError, match="no import 999 at this school"):
        undo(999)
    with pytest.raises(actions.services.RegisterError, match="no import"):
        undo(later.batch, school_id=school["id"] + 1)
    age_batches(app, LEAVER_GRACE_DAYS - 0.5)
    undo(later.batch)  # still within the period (rolled back by the helper)
    age_batches(app, LEAVER_GRACE_DAYS + 0.01)
    with pytest.raises(actions.services.RegisterError,
                       match=f"more than {LEAVER_GRACE_DAYS} days ago"):
        undo(later.batch)
    assert pupil(app, 1).year_group == "6"


def test_web_import_history_offers_undo_to_the_admin_only(app, school, login_as):
    whole_school(app, school["id"], size=5)
    plan = run_import(app, school["id"], csv_file(row(1, "P1"), row(2, "P2")), confirm=3)
    admin = login_as("admin")
    html = page(admin, "/register/import")
    assert 'id="import-history"' in html and f"Undo import {plan.batch}" in html
    assert f"Undo import {plan.batch - 1}" not in html  # the newest first
    dsl = login_as("dsl")
    assert f"Undo import {plan.batch}" not in page(dsl, "/register/import")
    refused = dsl.post(f"/register/import/{plan.batch}/undo")
    assert "Only an admin of the register can undo" in page(dsl, refused.headers["Location"])
    assert pupil(app, 5).left_on == today()
    no_csrf = admin.client.post(f"/register/import/{plan.batch}/undo")
    assert no_csrf.status_code == 400 and pupil(app, 5).left_on == today()
    done = admin.post(f"/register/import/{plan.batch}/undo")
    assert done.status_code == 302
    assert f"Import {plan.batch} undone: 3 pupil(s) back on roll" in page(
        admin, done.headers["Location"])
    assert pupil(app, 5).left_on is None
    again = admin.post(f"/register/import/{plan.batch}/undo")
    assert "was already undone" in page(admin, again.headers["Location"])
    assert admin.post("/register/import/999/undo").status_code == 302  # flashed, nothing done


def encoded_faces(app, pupil_id: int, count: int = 2) -> None:
    """Reference faces with real encrypted encodings (distinct vectors), enough for the gallery."""
    import numpy as np

    from gatekeeper.compliance.crypto import app_cipher, seal_encoding
    from gatekeeper.extensions import db

    with app.app_context():
        for n in range(count):
            db.session.add(ReferenceFace(
                school_id=db.session.get(Pupil, pupil_id).school_id, pupil_id=pupil_id,
                created_by="test", encoding_encrypted=seal_encoding(
                    app_cipher(), np.full(128, 0.01 * (pupil_id + n)))))
        db.session.commit()


def gallery_pupils(app, school_id: int) -> list[int]:
    from gatekeeper.compliance.crypto import app_cipher
    from gatekeeper.extensions import db
    from gatekeeper.screening.service import load_gallery

    with app.app_context():
        return sorted(int(p) for p in load_gallery(db.session, school_id, app_cipher()).pupil_ids)


def test_sealed_faces_are_out_of_the_screening_gallery_until_undone(app, school):
    whole_school(app, school["id"], size=4)
    for index in (1, 4):
        encoded_faces(app, pupil(app, index).id)
    ids = [pupil(app, i).id for i in (1, 4)]
    assert gallery_pupils(app, school["id"]) == ids
    plan = run_import(app, school["id"], csv_file(*(row(i, f"P{i}") for i in (1, 2, 3))),
                      confirm=1)
    assert plan.leaving == [demo_upn(4)]
    assert gallery_pupils(app, school["id"]) == ids[:1]
    from gatekeeper.extensions import db

    with app.app_context():
        actions.undo_import(db.session, school["id"], plan.batch, today=today(), actor="test")
        db.session.commit()
    assert gallery_pupils(app, school["id"]) == ids


def screen(app, path) -> list[dict]:
    """`gatekeeper screen --json` for social media: the faces of one photo."""
    import json

    from gatekeeper.cli import main

    result = app.test_cli_runner().invoke(main, ["screen", str(path), "--purpose",
                                                 "social_media", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.splitlines()[-1])


def blocked_as(app, path) -> set[str]:
    return {f["upn"] for f in screen(app, path)["faces"] if f["status"] == "blocked"}


@pytest.mark.slow
def test_a_no_publish_child_is_blocked_again_after_a_rejoin_or_an_undo(app, school, faces_dir):
    """The issue's case: a partial file took a protected child's faces; the full file brought
    the child back without them and a new photo was 'needs review' instead of 'blocked'."""
    from gatekeeper.extensions import db
    from tests.support.fixtures import add_pupil

    people, photo = faces_dir / "people", faces_dir / "events" / "obama_and_biden.jpg"
    with app.app_context():
        for index, (first, last, folder) in enumerate(
                [("Kit", "Harington", "kit_harington"), ("Rose", "Leslie", "rose_leslie"),
                 ("Barack", "Obama", "obama"), ("Joe", "Biden", "biden")], start=1):
            add_pupil(db.session, school["id"], index, first, last,
                      consents={"social_media": "granted"},
                      faces=sorted((people / folder).iterdir()))
        actions.add_nopublish(db.session, school["id"], demo_upn(4), category="safeguarding",
                              note="test", added_by="dsl")
        db.session.commit()
    biden = demo_upn(4)
    assert blocked_as(app, photo) == {biden}
    everyone = csv_file(*(row(i, f"P{i}", website="") for i in range(1, 5)))
    without_biden = csv_file(*(row(i, f"P{i}", website="") for i in range(1, 4)))
    assert run_import(app, school["id"], without_biden).refused  # 1 of 4: more than 10%
    assert run_import(app, school["id"], without_biden, confirm=1).leaving == [biden]
    while_left = screen(app, photo)
    assert while_left["verdict"] != "cleared" and biden not in {f["upn"] for f in
                                                                 while_left["faces"]}
    assert run_import(app, school["id"], everyone).rejoining == [biden]
    assert blocked_as(app, photo) == {biden}  # the full file brought the faces back
    plan = run_import(app, school["id"], without_biden, confirm=1)
    assert biden not in blocked_as(app, photo)
    with app.app_context():
        actions.undo_import(db.session, school["id"], plan.batch, today=today(), actor="test")
        db.session.commit()
    assert blocked_as(app, photo) == {biden} and screen(app, photo)["verdict"] == "blocked"


def test_a_biometric_withdrawal_deletes_sealed_faces_at_once_and_undo_cannot_bring_them(app,
                                                                                       school):
    from gatekeeper.extensions import db

    whole_school(app, school["id"], size=4)
    leaver = pupil(app, 4)
    enrolled_faces(app, leaver.id, 2)
    plan = run_import(app, school["id"], csv_file(*(row(i, f"P{i}") for i in (1, 2, 3))),
                      confirm=1)
    assert face_states(app) == [(leaver.id, True)] * 2
    with app.app_context():
        actions.record_biometric(db.session, db.session.get(Pupil, leaver.id), "withdrawn",
                                 actor="office", given_by="Parent of P4")
        db.session.commit()
    assert face_states(app) == []  # the Act allows no grace period for a withdrawal
    with app.app_context():
        result = actions.undo_import(db.session, school["id"], plan.batch, today=today(),
                                     actor="test")
        assert [(p.upn, n) for p, n in result.restored] == [(leaver.upn, 0)]
        db.session.commit()
    assert pupil(app, 4).left_on is None and face_states(app) == []


def temporary_upn(index: int) -> str:
    """A valid temporary UPN: its last character a letter, as a school gives a pupil whose
    permanent UPN is not yet known."""
    from stdnum.gb import upn

    body = f"823202400{index:02d}A"
    return upn.calc_check_digit(body) + body


FORMER_HEADER = "UPN,Former UPN,Legal Forename,Legal Surname,Date of Birth,NC Year Actual"


def former_file(*rows: tuple[str, str, int], born: str = "") -> bytes:
    """(UPN, former UPN, pupil index) rows, each with the pupil's name and date of birth (as
    `row` gives it, or `born`)."""
    lines = [f"{upn},{former},P{i},Pupil{i},{born or f'0{i % 9 + 1}/09/2016'},Year 5"
             for upn, former, i in rows]
    return "\r\n".join((FORMER_HEADER, *lines)).encode()


def renumber_in_register(app, index: int, upn: str) -> None:
    """Give pupil `index` the UPN the MIS had for them before (a temporary one)."""
    from gatekeeper.extensions import db

    with app.app_context():
        db.session.scalar(select(Pupil).where(Pupil.upn == demo_upn(index))).upn = upn
        db.session.commit()


@pytest.mark.slow
def test_a_former_upn_renumbers_a_protected_pupil_who_stays_blocked_and_undo_puts_it_back(
        app, school, faces_dir):
    """A pupil registered under a temporary UPN gets a permanent one: the next export names the
    old one as the Former UPN. The pupil keeps their record, consent, reference faces and place
    on the no-publish list; before, they left (faces sealed, then deleted) and came back new,
    unprotected and with no faces to be recognised by."""
    from gatekeeper.extensions import db
    from tests.support.fixtures import add_pupil

    people, photo = faces_dir / "people", faces_dir / "events" / "obama_and_biden.jpg"
    with app.app_context():
        for index, folder in ((1, "obama"), (2, "biden")):
            add_pupil(db.session, school["id"], index, f"P{index}", f"Pupil{index}",
                      consents={"social_media": "granted"},
                      faces=sorted((people / folder).iterdir()))
        actions.add_nopublish(db.session, school["id"], demo_upn(2), category="safeguarding",
                              note="test", added_by="dsl")
        db.session.commit()
    temporary = temporary_upn(2)
    renumber_in_register(app, 2, temporary)
    biden = pupil(app, 1).id + 1
    assert blocked_as(app, photo) == {temporary}
    data = former_file((demo_upn(1), "", 1), (demo_upn(2), temporary, 2), born="01/01/2015")
    preview = run_import(app, school["id"], data, apply=False)
    assert preview.lines == [f"row 3: {demo_upn(2)} P2 Pupil2: UPN {temporary} → {demo_upn(2)}"]
    plan = run_import(app, school["id"], data)
    assert plan.ok and plan.renumbered == [(temporary, demo_upn(2))], plan.errors
    assert (plan.new, plan.leaving, plan.warnings) == (0, [], [])
    assert pupil(app, 2).id == biden and pupil(app, 2).left_on is None
    assert blocked_as(app, photo) == {demo_upn(2)}  # the same faces, still protected
    assert decision(app, biden, "social_media").reason == "protected — do not publish"
    (event,) = actions_logged(app, "pupil_renumbered")
    assert (event.detail["former_upn"], event.detail["upn"]) == (temporary, demo_upn(2))
    assert actions_logged(app, "pupils_imported")[-1].detail["renumbered"] == 1
    assert run_import(app, school["id"], data).changes == 0  # the same file again: nothing
    with app.app_context():
        actions.undo_import(db.session, school["id"], plan.batch, today=today(), actor="test")
        db.session.commit()
    with app.app_context():
        assert db.session.get(Pupil, biden).upn == temporary
    assert blocked_as(app, photo) == {temporary}


def test_a_former_upn_that_is_in_the_file_or_named_twice_or_malformed_refuses_the_file(app,
                                                                                        school):
    whole_school(app, school["id"], size=3)
    before = counts(app)
    plan = run_import(app, school["id"], former_file(
        (demo_upn(1), "", 1), (demo_upn(2), "", 2), (demo_upn(3), "", 3),
        (demo_upn(4), demo_upn(1), 1),  # pupil 1 is row 2 already
        (demo_upn(5), demo_upn(3), 3), (demo_upn(6), demo_upn(3), 3)))
    assert [str(e) for e in plan.errors] == [
        f"row 5: former UPN {demo_upn(1)} is row 2's pupil: one pupil cannot be in the file twice",
        f"row 6: former UPN {demo_upn(3)} is row 4's pupil: one pupil cannot be in the file twice",
        f"row 7: former UPN {demo_upn(3)} is row 4's pupil: one pupil cannot be in the file twice",
    ]
    plan = run_import(app, school["id"], former_file(
        (demo_upn(5), demo_upn(3), 3), (demo_upn(6), demo_upn(3), 3)), full=False)
    assert [str(e) for e in plan.errors] == [
        f"row 3: former UPN {demo_upn(3)} is row 2's pupil: one pupil cannot be in the file twice"]
    plan = run_import(app, school["id"], former_file((demo_upn(1), "A12", 1)), full=False)
    assert [str(e) for e in plan.errors] == [
        "row 2: former UPN: UPN A12 is not 13 characters long"]
    assert counts(app) == before
    # A Former UPN that names nobody here (the pupil's last school) or is the UPN itself: new.
    plan = run_import(app, school["id"], former_file(
        (demo_upn(4), temporary_upn(9), 4), (demo_upn(5), demo_upn(5), 5)), full=False)
    assert plan.ok and plan.new == 2 and plan.renumbered == []


def test_a_new_upn_without_the_former_upn_column_is_flagged_before_applying(app, school,
                                                                              login_as):
    """An export without the column cannot say two UPNs are one pupil: the preview and the
    command line name the new pupil who looks like the one leaving, and say what to do."""
    whole_school(app, school["id"], size=12)
    temporary = temporary_upn(3)
    renumber_in_register(app, 3, temporary)
    data = csv_file(*(row(i, f"P{i}") for i in range(1, 13)))
    plan = run_import(app, school["id"], data, apply=False)
    assert plan.new == 1 and plan.leaving == [temporary]
    (warning,) = plan.warnings
    assert warning.startswith(f"row 4: new pupil {demo_upn(3)} P3 Pupil3 has the name and date "
                              f"of birth of {temporary}, who is not in the file")
    assert "Former UPN column" in warning
    html = upload(login_as("admin"), data).get_data(as_text=True)
    lookalikes = re.search(r'id="import-lookalikes">(.*?)</div>', html, re.S).group(1)
    assert f"new pupil {demo_upn(3)} P3 Pupil3" in lookalikes and "Former UPN" in lookalikes
    # Pupils of the file are never flagged, nor new pupils who look like nobody.
    again = run_import(app, school["id"], csv_file(*(row(i, f"P{i}") for i in range(1, 14))),
                       apply=False)
    assert again.new == 2 and again.warnings == [warning]


def test_a_former_upn_of_someone_else_is_refused_and_a_doubtful_one_is_named(app, school):
    """A slip in the MIS's Former UPN: a new child's row named a leaver, and took over their
    record, consent and reference faces (unsealed again, screened as the new child), with no
    word on the preview. Neither name nor date of birth the same: refused. One of them, or a
    leaver: applied, and named for a second look."""
    whole_school(app, school["id"], size=4)
    run_import(app, school["id"], csv_file(*(row(i, f"P{i}") for i in range(2, 5))), confirm=1)
    before = counts(app)
    lines = [f"{demo_upn(i)},,P{i},Pupil{i},0{i % 9 + 1}/09/2016,Year 5" for i in (2, 3, 4)]
    other = f"{temporary_upn(7)},{demo_upn(1)},Someone,Else,08/09/2016,Year 5"
    plan = run_import(app, school["id"], "\r\n".join((FORMER_HEADER, *lines, other)).encode())
    assert [str(e) for e in plan.errors] == [
        f"row 5: former UPN {demo_upn(1)} is P1 Pupil1, born 02/09/2016: not this pupil "
        "(neither the name nor the date of birth is the same); correct the Former UPN in the MIS"]
    assert counts(app) == before
    renamed = f"{temporary_upn(7)},{demo_upn(1)},P1,Jones,02/09/2016,Year 5"  # a new surname
    plan = run_import(app, school["id"], "\r\n".join((FORMER_HEADER, *lines, renamed)).encode())
    assert plan.ok and plan.renumbered == [(demo_upn(1), temporary_upn(7))]
    assert plan.warnings == [
        f"row 5: {temporary_upn(7)} P1 Jones takes over the record of {demo_upn(1)} P1 Pupil1 "
        "(their Former UPN), whose name or date of birth differs, or who had left: make sure it "
        "is the same child"]


def test_an_erased_pupil_stays_erased_when_an_import_is_undone(app, school):
    """An import renamed one pupil and made another a leaver; both were erased on request, then
    the import was undone: the first got their former name back and the leaver came back on
    roll, as "Erased Erased" with their consent records. The import keeps nothing of them now."""
    from consent.models import ImportBatch
    from gatekeeper.compliance.sar import erase_pupil
    from gatekeeper.extensions import db
    from gatekeeper.storage import Storage

    whole_school(app, school["id"], size=5)
    plan = run_import(app, school["id"], csv_file(row(1, "Renamed"), row(2, "P2"), row(3, "P3"),
                                                  row(4, "P4")), confirm=1)
    assert plan.ok and pupil(app, 5).left_on == today()
    storage = Storage(app.config["STORAGE_DIR"])
    with app.app_context():
        for index in (1, 5):
            erase_pupil(db.session, storage, school["id"], demo_upn(index))
        kept = db.session.get(ImportBatch, plan.batch).changes_json
        actions.undo_import(db.session, school["id"], plan.batch, today=today(), actor="test")
        db.session.commit()
    assert "P1" not in kept
    renamed, leaver = pupil(app, 1), pupil(app, 5)
    assert (renamed.first_name, renamed.last_name) == ("Erased", "Erased")
    assert leaver.first_name == "Erased" and leaver.left_on is not None
    assert pupil(app, 2).left_on is None  # the undo did the rest
