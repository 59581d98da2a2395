"""Guardians from the MIS: SIMS and Arbor contacts exports, every row checked and nothing applied on
any error (command line and web), one identity per contact across their children, and the
siblings and twins that identity gives."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import select

from consent import contacts
from consent.importer import ImportRefused
from consent.models import Guardian, Pupil
from gatekeeper.models import AuditEvent
from gatekeeper.ops.setup import demo_upn
from tests.support.fixtures import add_pupil

A, B, C, D = (demo_upn(i) for i in (1, 2, 3, 4))
# A SIMS student contacts report: one row per contact of each pupil.
SIMS = (
    "UPN,Legal Surname,Legal Forename,Contact Person ID,Contact Title,Contact Forename,"
    "Contact Surname,Relationship,Parental Responsibility,Priority,Primary Email\n"
    f"{A},Evans,Ava,5001,Mrs,Sian,Evans,Mother,Yes,1,sian@example.test\n"
    f"{A},Evans,Ava,5002,Mr,Huw,Evans,Father,Yes,2,\n"
    f"{B},Evans,Ben,5001,Mrs,Sian,Evans,Mother,Yes,1,sian@example.test\n"
    f"{C},Evans,Cai,5001,Mrs,Sian,Evans,Mother,Yes,1,sian@example.test\n"
    f"{D},Jones,Dai,5003,Ms,Lowri,Jones,Carer,No,1,lowri@example.test\n"
).encode()
# Arbor's guardians export names the same things differently.
ARBOR = (
    "Student UPN,Student Name,Guardian ID,Guardian First Name,Guardian Last Name,"
    "Relationship to Student,Has Parental Responsibility,Email Address\n"
    f"{A},Ava Evans,G-77,Sian,Evans,Mother,TRUE,sian@example.test\n"
    f"{B},Ben Evans,G-77,Sian,Evans,Mother,TRUE,sian@example.test\n"
    f"{D},Dai Jones,,Lowri,Jones,Carer,FALSE,lowri@example.test\n"
).encode()


def test_sims_and_arbor_headers_read_alike():
    sims, arbor = contacts.read_contacts(SIMS), contacts.read_contacts(ARBOR)
    assert not sims.errors and not arbor.errors
    first = sims.rows[0]
    assert (first.upn, first.name, first.relationship, first.email, first.contact_key,
            first.parental_responsibility) == (A, "Sian Evans", "parent", "sian@example.test",
                                               "mis:5001", True)
    assert sims.rows[1].email is None and sims.rows[1].contact_key == "mis:5002"
    assert arbor.rows[0].contact_key == "mis:G-77" and arbor.rows[0].parental_responsibility is True
    assert arbor.rows[2].contact_key == "email:lowri@example.test"  # no id: the email says who


@pytest.mark.parametrize(("row", "problem"), [
    (f"{A},X,Y,1,Mrs,,,Mother,Yes,1,a@b.test", "contact name missing"),
    ("A12345678901,X,Y,2,Mrs,Sian,Evans,Mother,Yes,1,a@b.test", "UPN"),
    (f"{A},X,Y,3,Mrs,Sian,Evans,Mother,maybe,1,a@b.test", "parental responsibility is yes or no"),
    (f"{A},X,Y,4,Mrs,Sian,Evans,Mother,Yes,1,not-an-email", "is not an email address"),
    (f"{A},X,Y,5,Mrs,{'S' * 300},Evans,Mother,Yes,1,a@b.test", "longer than 200"),
    (f"{A},X,Y,6,Mr,Ll?r,Evans,Father,Yes,1,", "'Ll?r Evans' holds a question mark"),
    (f"{D},X,Y,5001,Mrs,Sian,Evans,Mother,Yes,1,other@example.test", "two email addresses"),
    (f"{A},X,Y,5001,Mrs,Sian,Evans,Mother,Yes,1,sian@example.test", "listed twice"),
])
def test_every_bad_row_is_reported_with_its_number(row, problem):
    parsed = contacts.read_contacts(SIMS + (row + "\n").encode())
    assert [e.row for e in parsed.errors] == [7]
    assert problem in str(parsed.errors[0])


def test_a_file_without_the_needed_columns_or_rows_is_refused_whole():
    assert "no column for the contact's name" in str(
        contacts.read_contacts(b"UPN,Email\nx,y\n").errors[0])
    with pytest.raises(ImportRefused):
        contacts.read_contacts(b"")
    with pytest.raises(ImportRefused):
        contacts.read_contacts(SIMS.split(b"\n")[0] + b"\n")


@pytest.fixture
def pupils(app, school):
    from gatekeeper.extensions import db

    with app.app_context():
        twins = dt.date(2016, 3, 1)
        for index, (first, born) in enumerate((("Ava", twins), ("Ben", twins),
                                               ("Cai", dt.date(2018, 5, 5)),
                                               ("Dai", dt.date(2016, 7, 7))), start=1):
            pupil = add_pupil(db.session, school["id"], index, first, "Evans")
            pupil.date_of_birth = born
        db.session.commit()
    return school


def by_name(session, first: str) -> Pupil:
    return session.scalar(select(Pupil).where(Pupil.first_name == first))


def test_shared_guardians_give_siblings_and_twins(app, pupils):
    from gatekeeper.extensions import db
    from gatekeeper.register.actions import import_contacts

    with app.app_context():
        plan = import_contacts(db.session, pupils["id"], SIMS, apply=True, actor="test")
        db.session.commit()
        assert len(plan.new) == 5 and not plan.errors
        ava, ben, cai, dai = (by_name(db.session, n) for n in ("Ava", "Ben", "Cai", "Dai"))
        assert [p.first_name for p in contacts.siblings_of(db.session, ava)] == ["Ben", "Cai"]
        assert [p.first_name for p in contacts.twins_of(db.session, ava)] == ["Ben"]
        assert contacts.siblings_of(db.session, dai) == []
        assert contacts.sibling_groups(db.session, pupils["id"]) == [{ava.id, ben.id, cai.id}]
        again = import_contacts(db.session, pupils["id"], SIMS, apply=True, actor="test")
        # same file: nothing
        assert (len(again.new), len(again.updated), again.unchanged) == (0, 0, 5)
        actions = [e.action for e in db.session.scalars(select(AuditEvent))]
        assert actions.count("contacts_imported") == 1


def test_a_guardian_typed_by_hand_is_matched_not_doubled(app, pupils):
    from consent import services
    from gatekeeper.extensions import db
    from gatekeeper.register.actions import import_contacts

    with app.app_context():
        services.add_guardian(db.session, by_name(db.session, "Dai"), "Lowri Jones", "carer", "")
        assert contacts.register_relationship("Step-Father") == "parent"
        assert contacts.register_relationship("Grandmother") == "other"
        db.session.commit()
        plan = import_contacts(db.session, pupils["id"], SIMS, apply=True, actor="test")
        db.session.commit()
        lowri = db.session.scalars(select(Guardian).where(Guardian.name == "Lowri Jones")).all()
        assert len(lowri) == 1 and lowri[0].contact_key == "mis:5003" and len(plan.updated) == 1


def test_a_corrected_email_address_stops_the_link_sent_to_the_old_one(app, pupils):
    """The MIS had a wrong address for Sian, and her link went there; the office corrects it in
    the MIS and imports the contacts again. The link in the wrong mailbox kept working, and whoever
    holds it could answer for Ava. Huw, given an address for the first time, keeps his letter's."""
    from consent import services
    from gatekeeper.extensions import db
    from gatekeeper.register.actions import import_contacts

    with app.app_context():
        import_contacts(db.session, pupils["id"], SIMS, apply=True, actor="test")
        sian, huw = (db.session.scalar(select(Guardian).where(Guardian.name == name,
                                                              Guardian.pupil_id == pupil.id))
                     for name, pupil in (("Sian Evans", by_name(db.session, "Ava")),
                                         ("Huw Evans", by_name(db.session, "Ava"))))
        services.issue_link_nonce(sian)
        services.issue_link_nonce(huw)
        db.session.commit()
        corrected = (SIMS.replace(b"1,sian@example.test", b"1,sian.evans@example.test")
                     .replace(b"Father,Yes,2,", b"Father,Yes,2,huw@example.test"))
        plan = import_contacts(db.session, pupils["id"], corrected, apply=True, actor="test")
        db.session.commit()
        assert not plan.errors and len(plan.updated) == 4
        assert sian.email == "sian.evans@example.test" and sian.link_nonce is None
        assert huw.email == "huw@example.test" and huw.link_nonce is not None


def test_one_bad_row_or_unknown_pupil_applies_nothing_on_the_command_line(app, pupils, tmp_path):
    from gatekeeper.cli import main
    from gatekeeper.extensions import db

    bad = tmp_path / "contacts.csv"
    bad.write_bytes(SIMS + b"A999999999999,X,Y,9,Mr,Nobody,Here,Father,Yes,1,\n")
    info = ScriptInfo(create_app=lambda: app)
    refused = CliRunner().invoke(main, ["pupils", "import-contacts", str(bad)], obj=info)
    assert (refused.exit_code == 1 and "row 7:" in refused.output
            and "nothing was imported" in refused.output)
    unknown = tmp_path / "unknown.csv"
    unknown.write_bytes(SIMS.replace(D.encode(), demo_upn(40).encode()))
    refused = CliRunner().invoke(main, ["pupils", "import-contacts", str(unknown)], obj=info)
    assert refused.exit_code == 1 and "import the pupils first" in refused.output
    with app.app_context():
        assert db.session.scalars(select(Guardian)).all() == []
    good = tmp_path / "arbor.csv"
    good.write_bytes(ARBOR)
    dry = CliRunner().invoke(main, ["pupils", "import-contacts", str(good), "--dry-run"], obj=info)
    assert dry.exit_code == 0 and "dry run, nothing changed: 3 new guardian(s)" in dry.output
    done = CliRunner().invoke(main, ["pupils", "import-contacts", str(good)], obj=info)
    assert done.exit_code == 0 and "imported: 3 new guardian(s)" in done.output
    with app.app_context():
        assert len(db.session.scalars(select(Guardian)).all()) == 3


def test_the_web_import_reports_rows_and_applies_whole(app, pupils, login_as):
    from gatekeeper.extensions import db

    admin = login_as("admin")
    broken = SIMS + b"<script>x</script>,X,Y,9,Mr,Nobody,Here,Father,Yes,1,\n"
    page = admin.post("/register/import/contacts",
                      {"file": (io.BytesIO(broken), "contacts.csv")},
                      content_type="multipart/form-data").get_data(as_text=True)
    assert "Nothing was imported: 1 problem(s)." in page and "row 7:" in page
    assert "<script>x</script>" not in page  # escaped
    with app.app_context():
        assert db.session.scalars(select(Guardian)).all() == []
    checked = admin.post("/register/import/contacts",
                         {"file": (io.BytesIO(SIMS), "contacts.csv"), "check_only": "1"},
                         content_type="multipart/form-data").get_data(as_text=True)
    assert "Checked, nothing saved yet: 5 new guardian(s)" in checked
    done = admin.post("/register/import/contacts", {"file": (io.BytesIO(SIMS), "contacts.csv")},
                      content_type="multipart/form-data")
    assert done.status_code == 302
    with app.app_context():
        assert len(db.session.scalars(select(Guardian)).all()) == 5
    assert login_as("staff").get("/register/import/contacts").status_code == 403
