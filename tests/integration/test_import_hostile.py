"""Hostile CSV files through `gatekeeper pupils import`, `pupils import-contacts` and the web import
screens: one line (or one flashed message) saying why, never a traceback or a 500, nothing changed;
and the web MIS import reads no more of the upload than the import may take."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from consent import importer
from consent.models import Guardian, Pupil
from gatekeeper.ops.setup import demo_upn
from gatekeeper.register import actions
from tests.integration.test_import_mis import csv_file, row

HUGE_FIELD = "row 3 has a field longer than 131072 characters (a quote that is never closed?)"
CONTACTS = "UPN,Contact Forename,Contact Surname,Relationship,Primary Email\r\n"


def huge_pupils() -> bytes:
    return csv_file(row(1, "Ava"), row(2, "B" * 140_000))


def huge_contacts() -> bytes:
    return (CONTACTS + f"{demo_upn(1)},Sian,Evans,Mother,s@example.test\r\n"
            f"{demo_upn(2)},{'S' * 140_000},Evans,Mother,\r\n").encode()


def count(app, model) -> int:
    from gatekeeper.extensions import db

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def one_error_line(result) -> str:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("command, data", [
    (("pupils", "import"), huge_pupils),
    (("pupils", "import", "--dry-run"), huge_pupils),
    (("pupils", "import-contacts"), huge_contacts),
    (("pupils", "import-contacts", "--dry-run"), huge_contacts),
])
def test_a_field_over_the_csv_limit_is_one_line_on_the_command_line(app, cli, school, tmp_path,
                                                                   command, data):
    path = tmp_path / "export.csv"
    path.write_bytes(data())
    assert one_error_line(cli(*command, str(path))) == f"error: {path}: {HUGE_FIELD}"
    assert count(app, Pupil) == count(app, Guardian) == 0


def test_mixed_utf8_and_windows_1252_is_refused_and_nothing_imported(app, cli, school, tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(csv_file(row(1, "Zoë"), row(2, "Ben")).replace(b"Ben", b"B\xe9n"))
    assert one_error_line(cli("pupils", "import", str(path))) == (
        f"error: {path}: not valid UTF-8 at row 3: export the file as UTF-8")
    assert count(app, Pupil) == 0


def test_a_nul_in_a_name_is_a_row_problem_and_nothing_imported(app, cli, school, tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(csv_file(row(1, "Ava"), row(2, "B\x00en")))
    result = cli("pupils", "import", str(path))
    assert result.exit_code == 1 and result.stdout == (
        "row 3: Legal Forename contains a control character (U+0000)\n")
    assert count(app, Pupil) == 0


def test_a_utf16_file_is_one_line(app, cli, school, tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(csv_file(row(1, "Ava")).decode().encode("utf-16-le"))
    assert one_error_line(cli("pupils", "import", str(path))) == (
        f"error: {path}: the file is UTF-16: save it as UTF-8 (CSV)")


def upload(browser, path: str, data: bytes):
    fields = {"csrf_token": browser.token, "file": (io.BytesIO(data), "export.csv")}
    return browser.client.post(path, data=fields, content_type="multipart/form-data")


def test_the_web_mis_import_flashes_a_field_over_the_csv_limit(app, school, login_as):
    response = upload(login_as("admin"), "/register/import", huge_pupils())
    assert response.status_code == 200 and HUGE_FIELD in response.get_data(as_text=True)
    assert count(app, Pupil) == 0


def test_the_web_contacts_import_flashes_a_field_over_the_csv_limit(app, school, login_as):
    admin = login_as("admin")
    response = upload(admin, "/register/import/contacts", huge_contacts())
    assert response.status_code == 302
    assert HUGE_FIELD in admin.get(response.headers["Location"]).get_data(as_text=True)


def test_the_web_mis_import_reads_no_more_than_the_limit(app, school, login_as, monkeypatch):
    monkeypatch.setattr(importer, "MAX_IMPORT_BYTES", 100 * 1024)
    real, read = actions.import_pupils, []

    def import_pupils(session, school_id, data, **kwargs):
        read.append(len(data))
        return real(session, school_id, data, **kwargs)

    monkeypatch.setattr(actions, "import_pupils", import_pupils)
    response = upload(login_as("admin"), "/register/import", b"x" * (300 * 1024))
    assert read == [100 * 1024 + 1]
    assert "the file is larger than" in response.get_data(as_text=True)
