"""The register's own messages reach Welsh pages in Welsh: the rule's reasons in the matrix and on
the pupil page, a refusal flashed by the register, the importer's problems row by row, its summary
(also as the import history keeps it), while English pages keep the English."""

from __future__ import annotations

import html
import io
import re

from PIL import Image

from tests.integration.test_import_mis import CLASS, csv_file, row
from tests.integration.test_register_screens import pupils
from tests.support.fixtures import upload_photo


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def in_welsh(browser):
    browser.post("/auth/language/cy", {"next": "/"})
    return browser


def upload(browser, data: bytes):
    fields = {"csrf_token": browser.token, "file": (io.BytesIO(data), "export.csv")}
    return text(browser.client.post("/register/import", data=fields,
                                    content_type="multipart/form-data"))


def test_the_rules_reasons_are_said_in_welsh_in_the_matrix_and_on_the_pupil_page(app, school,
                                                                                  login_as):
    made = pupils(app, school["id"], ("Ava", "Jones", "5", {"website": "refused",
                                                            "social_media": "granted"}))
    admin = login_as("admin")
    assert "consent refused" in text(admin.get("/register/"))
    in_welsh(admin)
    matrix = text(admin.get("/register/"))
    assert "caniatâd wedi'i wrthod" in matrix and "caniatâd wedi'i roi" in matrix
    assert "dim caniatâd wedi'i gofnodi" in matrix
    assert "consent refused" not in matrix and "no consent recorded" not in matrix
    page = text(admin.get(f"/register/pupils/{made['Ava']['id']}"))
    assert "caniatâd wedi'i wrthod" in page and "consent refused" not in page
    assert "dim caniatâd biometrig ysgrifenedig gan riant" in page


def test_a_refusal_of_the_register_is_flashed_in_welsh(app, school, login_as):
    admin = in_welsh(login_as("admin"))
    admin.post("/register/groups/", {"name": "Côr", "kind": "club"})
    again = admin.post("/register/groups/", {"name": "côr", "kind": "club"})
    page = text(again)
    assert "mae gan yr ysgol grŵp o'r enw côr eisoes" in page
    assert "already has a group" not in page


def test_the_importers_problems_and_summary_are_welsh_row_by_row(app, school, login_as):
    admin = in_welsh(login_as("admin"))
    bad = csv_file(row(1, "Ava"), "A801200005001,,Jones,31/02/2016,Year 20,,,")
    problems = upload(admin, bad)
    assert "mae gan UPN A801200005001 y llythyren wirio anghywir; enw cyntaf ar goll" in problems
    assert "nid yw'r dyddiad geni '31/02/2016' yn ddyddiad" in problems
    assert "first name missing" not in problems and "is not a date" not in problems
    preview = upload(admin, CLASS)
    assert "3 disgybl yn y ffeil: 3 newydd" in preview and "disgybl newydd" in preview
    assert "pupils in the file" not in preview


def test_the_import_history_says_each_summary_in_the_readers_language(app, school, login_as):
    admin = login_as("admin")
    token = re.search(r'name="token" value="([0-9a-f]{32})"', upload(admin, CLASS)).group(1)
    admin.post("/register/import/apply", {"token": token, "partial": ""})
    assert "3 pupils in the file: 3 new" in text(admin.get("/register/import"))
    history = text(in_welsh(admin).get("/register/import"))
    assert "3 disgybl yn y ffeil: 3 newydd" in history
    assert "pupils in the file" not in history


def test_the_caption_check_answers_in_the_readers_language(app, school, login_as):
    pupils(app, school["id"], ("Ava", "Prydderch", "5", {"social_media": "granted"}))
    lead = login_as("media_lead")
    check = lead.post("/review/caption-check", {"caption": "Well done Prydderch, LL57 2AB"})
    assert check.get_json()["errors"] == ["contains a pupil's surname (Prydderch)"]
    answer = in_welsh(lead).post("/review/caption-check",
                                 {"caption": "Well done Prydderch, LL57 2AB"}).get_json()
    assert answer["errors"] == ["yn cynnwys cyfenw disgybl (Prydderch)"]
    assert answer["warnings"] == ["yn cynnwys rhywbeth sy'n edrych fel cod post"]


def test_a_welsh_schools_parent_page_opens_in_welsh_until_the_parent_chooses(app, school,
                                                                            login_as):
    from consent import services
    from consent.models import School
    from gatekeeper.extensions import db

    made = pupils(app, school["id"], ("Ava", "Prydderch", "5", {}))
    with app.app_context():
        pupil = services.get_pupil(db.session, school["id"], made["Ava"]["id"])
        guardian = services.add_guardian(db.session, pupil, "Mair Prydderch", "parent")
        db.session.get(School, school["id"]).language = "cy"
        db.session.commit()
        guardian_id = guardian.id
    link = login_as("admin").post(f"/register/guardians/{guardian_id}/link")
    path = "/parent/" + re.search(r'/parent/([^"]+)"', link.get_data(as_text=True)).group(1)
    parent = app.test_client()
    page = text(parent.get(path, headers={"Accept-Language": "en-GB"}))
    assert "Lluniau o Ava" in page and "Cadw fy atebion" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    parent.post("/auth/language/en", data={"csrf_token": token, "next": path})
    assert "Save my answers" in text(parent.get(path, headers={"Accept-Language": "en-GB"}))


def test_a_photo_the_worker_refused_is_said_in_the_uploaders_language(app, school, login_as):
    """The worker refuses a cut-off JPEG after the upload was taken; the reason it keeps is said
    in English or Welsh by whoever reads the upload page later, not in the worker's language."""
    staff = login_as("staff")
    event = staff.post("/uploads/events", {"name": "Mabolgampau", "date": "2026-06-01",
                                           "purpose": "social_media"}).get_json()["id"]
    whole = io.BytesIO()
    Image.new("RGB", (400, 300), (200, 90, 30)).save(whole, "JPEG", quality=80)
    taken = upload_photo(staff, event, "IMG_0001.jpg", whole.getvalue()[:800])
    assert taken.status_code == 201  # the upload's own checks pass: the worker finds it cut off
    english = "The file is damaged or incomplete and could not be read."
    welsh = "Mae'r ffeil wedi'i difrodi neu'n anghyflawn ac nid oedd modd ei darllen."
    [photo] = staff.get("/uploads/status").get_json()["photos"]
    assert (photo["status"], photo["error"]) == ("rejected", english)
    in_welsh(staff)
    [photo] = staff.get("/uploads/status").get_json()["photos"]
    assert photo["error"] == welsh
    page = text(staff.get("/uploads/"))
    assert welsh in page and english not in page
