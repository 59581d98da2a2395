"""The register's commands: `pupils import`, `consent set`, `nopublish add|remove`. Good input does
what the web does (audit, takedown); bad input is one line on stderr, a non-zero exit, no change."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from consent import rules
from consent.models import ConsentRecord, Guardian, NoPublishEntry, Pupil
from gatekeeper.register.forms import today
from tests.integration.test_import_mis import CLASS, csv_file, row
from tests.integration.test_register_screens import (
    actions_logged,
    decision,
    post_state,
    pupils,
    queued_post,
)


@pytest.fixture
def register(app, school):
    return pupils(app, school["id"], ("Ava", "Thompson", "6", {"social_media": "granted"}))


def one_line(result, exit_code: int = 1) -> str:
    assert result.exit_code == exit_code, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def consent_records(app) -> list[ConsentRecord]:
    from gatekeeper.extensions import db

    with app.app_context():
        return list(db.session.scalars(select(ConsentRecord).order_by(ConsentRecord.id)))


def test_consent_set_records_with_the_default_expiry(app, cli, register):
    upn = register["Ava"]["upn"]
    result = cli("consent", "set", upn.lower(), "press", "granted", "--by", "Mary Thompson")
    assert result.exit_code == 0 and result.stdout == f"{upn.lower()} press: granted\n"
    record = consent_records(app)[-1]
    assert (record.purpose, record.status, record.given_by, record.source, record.recorded_by) == (
        "press", "granted", "Mary Thompson", "cli", "command line")
    assert record.expires_on == rules.default_expiry(today())
    assert decision(app, register["Ava"]["id"], "press").ok
    assert actions_logged(app, "consent_recorded")[-1].detail["source"] == "cli"


def test_consent_set_links_a_known_parent_and_takes_an_expiry(app, cli, register):
    from consent import services
    from gatekeeper.extensions import db

    with app.app_context():
        pupil = db.session.get(Pupil, register["Ava"]["id"])
        guardian = services.add_guardian(db.session, pupil, "Mary Thompson", "carer")
        db.session.commit()
        guardian_id = guardian.id
    expires = today().replace(year=today().year + 1).isoformat()
    cli("consent", "set", register["Ava"]["upn"], "website", "granted", "--by",
        "mary  thompson", "--expires", expires)
    record = consent_records(app)[-1]
    assert (record.guardian_id, record.relationship_to_pupil, record.expires_on.isoformat()) == (
        guardian_id, "carer", expires)


def test_consent_withdrawn_from_the_command_line_pulls_posts(app, cli, register):
    post = queued_post(app, 1, [register["Ava"]["id"]])
    result = cli("consent", "set", register["Ava"]["upn"], "social_media", "withdrawn", "--by",
                 "Parent of Ava")
    assert result.exit_code == 0
    assert post_state(app, post) == "withdrawn"
    assert decision(app, register["Ava"]["id"], "social_media").reason == "consent withdrawn"


@pytest.mark.parametrize("args, words, code", [
    (("X000000000000", "press", "granted"), "no pupil with UPN", 1),
    (("{upn}", "billboards", "granted"), "unknown purpose 'billboards'", 1),
    (("{upn}", "press", "maybe"), "'maybe' is not one of 'granted', 'refused', 'withdrawn'", 2),
    (("{upn}", "press"), "Missing argument 'STATUS'", 2),
    (("{upn}", "press", "granted", "--expires", "31/08/2027"), "not a date (YYYY-MM-DD)", 1),
    (("{upn}", "press", "granted", "--expires", "2001-01-01"), "expiry date is before", 1),
    (("{upn}", "press", "granted", "--colour", "red"), "No such option '--colour'", 2),
])
def test_consent_set_refuses_bad_input_in_one_line(app, cli, register, args, words, code):
    before = [r.id for r in consent_records(app)]
    args = [a.format(upn=register["Ava"]["upn"]) for a in args]
    assert words in one_line(cli("consent", "set", *args), code)
    assert [r.id for r in consent_records(app)] == before


def test_nopublish_refuses_bad_input_in_one_line(app, cli, register):
    upn = register["Ava"]["upn"]
    assert "'gossip' is not one of" in one_line(
        cli("nopublish", "add", upn, "--reason", "x", "--category", "gossip"), 2)
    assert "Missing option '--reason'" in one_line(cli("nopublish", "add", upn), 2)
    assert "not on the no-publish list" in one_line(cli("nopublish", "remove", upn))
    assert "no pupil with UPN" in one_line(cli("nopublish", "add", "B80120000500", "--reason", "x"))
    from gatekeeper.extensions import db

    with app.app_context():
        assert not db.session.scalars(select(NoPublishEntry)).all()
        assert not db.session.scalars(select(Guardian)).all()


def test_a_group_without_a_command_still_shows_its_help(cli):
    result = cli("consent")
    assert "set" in result.output and "Usage:" in result.output


def write(tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "export.csv"
    path.write_bytes(data)
    return str(path)


def pupil_count(app) -> int:
    from gatekeeper.extensions import db

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Pupil))


def test_pupils_import_dry_run_then_for_real_then_again(app, cli, school, tmp_path):
    path = write(tmp_path, CLASS)
    dry = cli("pupils", "import", path, "--dry-run")
    assert dry.exit_code == 0, dry.output
    lines = dry.stdout.splitlines()
    assert lines[0].startswith("row 2: new pupil ") and lines[-1].startswith(
        "dry run, nothing changed: 3 pupils in the file: 3 new")
    assert pupil_count(app) == 0
    done = cli("pupils", "import", path)
    assert done.exit_code == 0 and done.stdout.splitlines()[-1].startswith("imported: 3 pupils")
    assert pupil_count(app) == 3
    again = cli("pupils", "import", path)
    assert again.stdout == ("imported: 3 pupils in the file: 0 new, 0 updated, 3 unchanged, "
                            "0 rejoining, 0 leaving; 0 consent and 0 biometric answers changed\n")


def test_pupils_import_reports_each_bad_row_then_one_error_line(app, cli, school, tmp_path):
    bad = csv_file(row(1, "Ava"), "A801200005001,X,Y,01/01/2016,Year 5,,,", row(3, "Cy", year="0"))
    result = cli("pupils", "import", write(tmp_path, bad))
    assert one_line(result) == "error: 2 problem(s) in " + str(tmp_path / "export.csv") + \
        "; nothing was imported"
    assert result.stdout.splitlines() == [
        "row 3: UPN A801200005001 has the wrong check letter",
        "row 4: year group 'Year 0' is not one of N1, N2, R, 1-14"]
    assert pupil_count(app) == 0


def test_pupils_import_refuses_a_missing_or_empty_file(cli, school, tmp_path):
    assert "No such file" in one_line(cli("pupils", "import", str(tmp_path / "none.csv")))
    assert "the file is empty" in one_line(cli("pupils", "import", write(tmp_path, b"")))


def test_pupils_import_partial_leaves_missing_pupils_alone(app, cli, school, tmp_path):
    cli("pupils", "import", write(tmp_path, CLASS))
    one = write(tmp_path, csv_file(row(1, "Ava")))
    result = cli("pupils", "import", one, "--partial")
    assert result.exit_code == 0 and "0 leaving" in result.stdout
    from gatekeeper.extensions import db

    with app.app_context():
        assert db.session.scalars(select(Pupil).where(Pupil.left_on.is_not(None))).all() == []


@pytest.mark.slow
def test_the_installed_command_follows_the_contract(app, school, tmp_path):
    """The console script itself, as scripts run it: exit codes and one line on stderr."""
    gatekeeper = str(Path(sys.executable).with_name("gatekeeper"))
    env = {**os.environ, "GATEKEEPER_INSTANCE": str(app.config["INSTANCE"]),
           "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "REDIS_URL": app.config["REDIS_URL"]}

    def run(*args):
        return subprocess.run([gatekeeper, *args], env=env, capture_output=True, text=True,
                              timeout=120)

    imported = run("pupils", "import", write(tmp_path, CLASS))
    assert imported.returncode == 0, imported.stderr
    assert pupil_count(app) == 3
    refused = run("consent", "set", csv_file(row(1, "A")).decode().split("\r\n")[1][:13],
                  "press", "perhaps")
    assert refused.returncode == 2
    assert [line for line in refused.stderr.splitlines() if line.strip()] == [
        "error: Invalid value for 'STATUS': 'perhaps' is not one of 'granted', 'refused', "
        "'withdrawn'."]


def fourteen_then_two(app, cli, tmp_path) -> str:
    """A school of 14 imported, and the path of a file of two of its rows."""
    whole = tmp_path / "whole.csv"
    whole.write_bytes(csv_file(*(row(i, f"P{i}") for i in range(1, 15))))
    assert cli("pupils", "import", str(whole)).exit_code == 0
    return write(tmp_path, csv_file(row(1, "P1"), row(2, "P2")))


def leavers(app) -> int:
    from gatekeeper.extensions import db

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Pupil).where(
            Pupil.left_on.is_not(None)))


def test_pupils_import_refuses_the_two_row_file_and_the_dry_run_says_so(app, cli, school,
                                                                         tmp_path):
    path = fourteen_then_two(app, cli, tmp_path)
    dry = cli("pupils", "import", path, "--dry-run")
    assert one_line(dry) == (
        f"error: {path} would be refused: this file would make 12 of 14 pupils leavers (more "
        "than 10%): if it is a whole-school export, add --confirm-leavers 12; if it is one class "
        "or year group, add --partial; nothing was imported")
    assert "not in the file: " in dry.stdout  # the leavers are listed
    refused = cli("pupils", "import", path)
    assert one_line(refused).startswith(f"error: {path} refused: this file would make 12 of 14")
    wrong = cli("pupils", "import", path, "--confirm-leavers", "11")
    assert "11 leavers were confirmed but this file would make 12" in one_line(wrong)
    assert "Invalid value" in one_line(cli("pupils", "import", path, "--confirm-leavers", "-1"),
                                       exit_code=2)
    assert leavers(app) == 0
    assert [e.actor for e in actions_logged(app, "pupils_import_refused")] == ["command line"] * 2
    dry_ok = cli("pupils", "import", path, "--dry-run", "--confirm-leavers", "12")
    assert dry_ok.exit_code == 0 and "dry run, nothing changed" in dry_ok.stdout
    assert leavers(app) == 0
    done = cli("pupils", "import", path, "--confirm-leavers", "12")
    assert done.exit_code == 0, done.output
    assert leavers(app) == 12
    undo_line = [line for line in done.stdout.splitlines() if "undo-import" in line]
    assert undo_line == ["import 2: undo within 7 days with `gatekeeper pupils undo-import 2`"]


def test_pupils_undo_import_restores_then_refuses_in_one_line(app, cli, school, tmp_path):
    path = fourteen_then_two(app, cli, tmp_path)
    cli("pupils", "import", path, "--confirm-leavers", "12")
    assert leavers(app) == 12
    undone = cli("pupils", "undo-import", "2")
    assert undone.exit_code == 0, undone.output
    assert undone.stdout.startswith("import 2 undone: 12 pupil(s) back on roll")
    assert leavers(app) == 0
    assert one_line(cli("pupils", "undo-import", "2")).startswith(
        "error: import 2 was already undone on ")
    assert one_line(cli("pupils", "undo-import", "77")) == "error: no import 77 at this school"
    assert "Invalid value" in one_line(cli("pupils", "undo-import", "two"), exit_code=2)
    assert len(actions_logged(app, "pupils_import_undone")) == 1
    partial = cli("pupils", "import", path, "--partial", "--confirm-leavers", "12")
    assert "12 leavers were confirmed but this file would make 0 of 14 pupils" in one_line(partial)


def test_pupils_import_renumbers_by_former_upn_and_names_a_lookalike_to_check(app, cli, school,
                                                                              tmp_path):
    from gatekeeper.ops.setup import demo_upn
    from tests.integration.test_import_mis import former_file, temporary_upn

    temporary = temporary_upn(1)
    assert cli("pupils", "import", write(tmp_path, former_file(
        (temporary, "", 1), (demo_upn(2), "", 2)))).exit_code == 0
    without = cli("pupils", "import", write(tmp_path, csv_file(row(1, "P1"), row(2, "P2"))),
                  "--dry-run", "--confirm-leavers", "1")
    assert without.exit_code == 0, without.output
    assert f"check: row 2: new pupil {demo_upn(1)} P1 Pupil1 has the name and date of birth of " \
           f"{temporary}, who is not in the file" in without.stdout
    renumbered = cli("pupils", "import", write(tmp_path, former_file(
        (demo_upn(1), temporary, 1), (demo_upn(2), "", 2))))
    assert renumbered.exit_code == 0, renumbered.output
    assert renumbered.stdout.splitlines()[0] == \
        f"row 2: {demo_upn(1)} P1 Pupil1: UPN {temporary} → {demo_upn(1)}"
    assert "check:" not in renumbered.stdout and "1 updated" in renumbered.stdout
    assert pupil_count(app) == 2


def test_with_two_schools_a_register_command_names_one_by_urn_or_changes_nothing(app, cli,
                                                                               tmp_path):
    """The demo school beside a real one: `pupils import` without --school used to import into
    whichever school was made first (the demo), and its refusal's advice (--confirm-leavers)
    made the real pupils the demo's and its pupils leavers."""
    assert cli("school", "add", "--name", "Demo", "--urn", "100001").exit_code == 0
    assert cli("school", "add", "--name", "Ysgol y Bryn", "--urn", "401234").exit_code == 0
    path = write(tmp_path, CLASS)
    for command in (("pupils", "import", path), ("pupils", "import-contacts", path),
                    ("consent", "set", "A823202400001", "website", "granted"),
                    ("nopublish", "add", "A823202400001", "--reason", "court order")):
        assert "there are several schools: say which with --school URN" in one_line(
            cli(*command)), command
    assert "no school with URN 999999" in one_line(cli("pupils", "import", path,
                                                       "--school", "999999"))
    assert pupil_count(app) == 0
    done = cli("pupils", "import", path, "--school", "401234")
    assert done.exit_code == 0, done.output
    from consent.models import School
    from gatekeeper.extensions import db

    with app.app_context():
        bryn = db.session.scalar(select(School).where(School.urn == "401234"))
        assert {p.school_id for p in db.session.scalars(select(Pupil))} == {bryn.id}


def test_biometric_consent_is_recorded_from_the_command_line_and_a_withdrawal_deletes_faces(
        app, cli, school, faces_dir):
    """Onboarding from paper forms: `consent set ... biometric` said "unknown purpose", and the
    only way in bulk was the MIS column."""
    from consent.models import BiometricConsent, ReferenceFace
    from gatekeeper.extensions import db
    from gatekeeper.ops.setup import demo_upn
    from tests.support.fixtures import add_pupil

    with app.app_context():
        add_pupil(db.session, school["id"], 1, "Ava", "Jones")
    upn, photo = demo_upn(1), str(faces_dir / "people" / "obama" / "1.jpg")
    assert "no written biometric consent" in one_line(cli("enrol", upn, photo))
    done = cli("consent", "biometric", upn, "granted", "--by", "Sian Jones",
               "--form-date", "2026-09-03", "--evidence", "office file 12")
    assert done.exit_code == 0 and done.stdout == f"{upn} biometric consent: granted\n"
    assert cli("enrol", upn, photo).exit_code == 0
    assert "--by" in one_line(cli("consent", "biometric", upn, "granted"), exit_code=2)
    assert "not a date" in one_line(cli("consent", "biometric", upn, "granted", "--by", "X",
                                        "--form-date", "3/9/26"))
    assert "A823202400099" in one_line(cli("consent", "biometric", "A823202400099", "granted",
                                           "--by", "X"))
    assert cli("consent", "biometric", upn, "objected", "--by", "Ava Jones",
               "--pupil").exit_code == 0
    with app.app_context():
        rows = db.session.scalars(select(BiometricConsent).order_by(BiometricConsent.id)).all()
        assert [(r.status, r.given_by, r.relationship_to_pupil) for r in rows] == [
            ("granted", "Sian Jones", "parent"), ("objected", "Ava Jones", "pupil")]
        assert rows[0].evidence_ref == "office file 12" and str(rows[0].form_date) == "2026-09-03"
        assert db.session.scalar(select(func.count()).select_from(ReferenceFace)) == 0
    assert [e.detail["status"] for e in actions_logged(app, "biometric_consent_recorded")] == [
        "granted", "objected"]
