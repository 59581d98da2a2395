"""The shapes every screen shares: a row of this school or 404 and commit-or-flash (both in
gatekeeper/web/), and the CSRF field of every form (templates/macros.html)."""

import re
from pathlib import Path

import pytest
from flask import g, get_flashed_messages
from sqlalchemy import select
from werkzeug.exceptions import NotFound

from consent.models import School
from gatekeeper.extensions import db
from gatekeeper.models import OfficialAccount
from gatekeeper.web.commits import commit_or_flash
from gatekeeper.web.rows import school_row
from tests.support.fixtures import make_school

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
POST_FORM = re.compile(r"<form\b[^>]*\bmethod=[\"']?post\b[^>]*>(.*?)</form>", re.I | re.S)
# The macro, or a Flask-WTF form's own token field.
CSRF = re.compile(r"\{\{\s*(csrf_field\(\)|\w+\.csrf_token|\w+\.hidden_tag\(\))\s*\}\}")
IMPORTED = '{% from "macros.html" import csrf_field'


def account_of(school_id: int) -> int:
    return db.session.scalar(
        select(OfficialAccount.id).where(OfficialAccount.school_id == school_id))


@pytest.fixture
def accounts(app, school):
    """The id of this school's official account and of another school's."""
    with app.app_context():
        other = make_school(db.session, "Other School").id
        return account_of(school["id"]), account_of(other)


def test_school_row_is_this_schools_row(app, school, accounts):
    mine, _theirs = accounts
    with app.test_request_context():
        g.school_id = school["id"]
        row = school_row(OfficialAccount, mine)
        assert (row.id, row.school_id) == (mine, school["id"])


@pytest.mark.parametrize("which", ["another school's", "missing", "none"])
def test_school_row_is_404_for_another_schools_id_and_a_missing_one(app, school, accounts, which):
    _mine, theirs = accounts
    ident = {"another school's": theirs, "missing": theirs + 1000, "none": None}[which]
    with app.test_request_context():
        g.school_id = school["id"]
        with pytest.raises(NotFound):  # 404, never 403: the id is not confirmed to exist
            school_row(OfficialAccount, ident)


class Refused(Exception):
    """A domain error, as the services raise."""


def school_name(app, school_id: int) -> str:
    """The name as stored, read in a fresh context (not the request's session)."""
    with app.app_context():
        return db.session.get(School, school_id).name


def test_commit_or_flash_commits_and_flashes_the_success(app, school):
    with app.test_request_context():
        with commit_or_flash("Renamed.", errors=(Refused,)) as done:
            db.session.get(School, school["id"]).name = "Renamed School"
        assert done
        assert get_flashed_messages(with_categories=True) == [("success", "Renamed.")]
    assert school_name(app, school["id"]) == "Renamed School"


def test_commit_or_flash_writes_nothing_on_a_domain_error(app, school):
    with app.test_request_context():
        with commit_or_flash("Renamed.", errors=(Refused,)) as done:
            db.session.get(School, school["id"]).name = "Renamed School"
            db.session.flush()  # sent to the database inside the transaction, then rolled back
            raise Refused("Not that name.")
        assert not done
        assert get_flashed_messages(with_categories=True) == [("danger", "Not that name.")]
        assert db.session.get(School, school["id"]).name == school["name"]
    assert school_name(app, school["id"]) == school["name"]


def test_commit_or_flash_lets_other_errors_through(app, school):
    with app.test_request_context():
        with pytest.raises(KeyError), commit_or_flash("Renamed.", errors=(Refused,)):
            raise KeyError("not a domain error")
        assert get_flashed_messages() == []


def post_forms() -> list[tuple[str, str]]:
    return [(str(path.relative_to(TEMPLATES)), body)
            for path in sorted(TEMPLATES.rglob("*.html"))
            for body in POST_FORM.findall(path.read_text())]


def test_every_post_form_in_the_templates_carries_the_csrf_token():
    forms = post_forms()
    assert len(forms) >= 40  # the pattern still finds the forms
    assert [name for name, body in forms if not CSRF.search(body)] == []


def test_templates_use_the_csrf_macro_and_import_it():
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        if path.name == "macros.html":
            continue
        assert 'name="csrf_token"' not in text, f"{path.name}: use csrf_field() from macros.html"
        if "csrf_field()" in text:
            assert IMPORTED in text, f"{path.name} calls csrf_field() without importing it"
