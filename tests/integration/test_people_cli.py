"""A school of its own from the command line: `school add`, `user invite`, the one-time setup link.
The first test runs the real console script; the refusals, whose subject is the one line they
print, run in this process (click's runner, on the test app)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from consent.models import School
from gatekeeper.models import AuditEvent, User
from tests.support.commands import one_error_line
from tests.support.fixtures import Browser

pytestmark = pytest.mark.slow

GATEKEEPER = str(Path(sys.executable).with_name("gatekeeper"))
HEAD_PASSWORD = "the head's own long password"


@pytest.fixture
def run(app):
    env = {**os.environ, "GATEKEEPER_INSTANCE": str(app.config["INSTANCE"]),
           "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "REDIS_URL": app.config["REDIS_URL"], "SECRET_KEY": app.config["SECRET_KEY"],
           "GATEKEEPER_BASE_URL": "https://gk.example.test"}

    def gatekeeper(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([GATEKEEPER, *args], env=env, capture_output=True, text=True,
                              timeout=120)

    return gatekeeper


def add_school(run, *extra: str):
    return run("school", "add", "--name", "Ysgol y Bryn", "--urn", "401234", *extra)


def test_a_new_school_and_its_first_head_from_install_to_sign_in(run, app):
    added = add_school(run, "--la-code", "660", "--postcode", "ll57 2ab", "--language", "cy")
    assert added.returncode == 0, added.stderr
    invited = run("user", "invite", "Head@Bryn.test", "--role", "head", "--school", "401234")
    assert invited.returncode == 0, invited.stderr
    link = invited.stdout.strip().splitlines()[-1]
    assert link.startswith("https://gk.example.test/welcome/") and "24 hours" in invited.stdout
    with app.app_context():
        from gatekeeper.extensions import db
        from gatekeeper.people.models import Invitation

        school = db.session.scalar(select(School).where(School.urn == "401234"))
        assert (school.name, school.la_code, school.postcode, school.language) == (
            "Ysgol y Bryn", "660", "LL57 2AB", "cy")
        stored = db.session.scalar(select(Invitation))
        # only the hash is kept
        assert stored.token_hash not in link and len(stored.token_hash) == 64
        assert db.session.scalar(select(User).where(User.email == "head@bryn.test")) is None
    path = urlsplit(link).path
    head = Browser(app.test_client())
    head.refresh_token(path)
    done = head.post(path, {"name": "Mrs Pritchard", "password": HEAD_PASSWORD,
                            "confirm": HEAD_PASSWORD})
    assert done.status_code == 302
    assert done.headers["Location"].endswith("/account/second-factor")
    head.enrol_shown_secret()  # the setup link leads through the second factor
    page = head.get("/head/").get_data(as_text=True)
    assert "Ysgol y Bryn" in page and '<html lang="cy">' in page  # the school's default language
    again = Browser(app.test_client())
    again.refresh_token(path)
    assert again.get(path).status_code == 410  # single use
    assert again.login("head@bryn.test", HEAD_PASSWORD).status_code == 302


@pytest.mark.parametrize(("args", "message"), [
    (("--urn", "12345"), "A URN is six digits"),
    (("--urn", "12345a"), "A URN is six digits"),
    (("--urn", "401235", "--la-code", "66"), "local authority code is three digits"),
    (("--urn", "401235", "--postcode", "NOT A CODE"), "is not a UK postcode"),
    (("--urn", "401235", "--language", "fr"), "language must be en or cy"),
])
def test_school_add_refuses_bad_details_in_one_line(cli, app, args, message):
    assert message in one_error_line(cli("school", "add", "--name", "A School", *args))
    with app.app_context():
        from gatekeeper.extensions import db

        assert db.session.scalar(select(School)) is None


def test_duplicate_urn_unknown_school_and_unknown_role_are_one_line_each(cli, app):
    assert add_school(cli).exit_code == 0
    assert "URN 401234 already exists" in one_error_line(add_school(cli))
    assert "no school with URN 999999" in one_error_line(
        cli("user", "invite", "a@b.test", "--role", "head", "--school", "999999"))
    assert "unknown role 'owner'" in one_error_line(
        cli("user", "invite", "a@b.test", "--role", "owner"))
    assert "not an email address" in one_error_line(
        cli("user", "invite", "nobody", "--role", "staff"))
    assert cli("school", "add", "--name", "Second", "--urn", "401299").exit_code == 0
    assert "several schools" in one_error_line(
        cli("user", "invite", "a@b.test", "--role", "staff"))
    with app.app_context():
        from gatekeeper.extensions import db
        from gatekeeper.people.models import Invitation

        assert db.session.scalar(select(Invitation)) is None
        assert len(db.session.scalars(select(School)).all()) == 2


def test_school_add_refuses_the_name_of_another_school_in_one_line(cli, app):
    """Two schools of one name cannot be told apart on the sign-in buttons and the school choice:
    a name another school has, in any case and spacing, is refused and nothing is written."""
    assert add_school(cli).exit_code == 0
    for name in ("Ysgol y Bryn", "  ysgol   Y BRYN ", "YSGOL\u00a0Y BRYN"):
        refused = cli("school", "add", "--name", name, "--urn", "401235")
        assert "A school called Ysgol y Bryn already exists" in one_error_line(refused)
    with app.app_context():
        from gatekeeper.extensions import db

        assert db.session.scalars(select(School.urn)).all() == ["401234"]
        assert db.session.scalar(select(AuditEvent.id).where(
            AuditEvent.action == "school_created", AuditEvent.detail_json.contains("401235"))) \
            is None
    assert cli("school", "add", "--name", "Ysgol y Bryn Uchaf", "--urn", "401235").exit_code == 0


def test_the_demo_school_is_not_made_again_under_a_name_already_taken(cli, app):
    assert cli("school", "add", "--name", "demo  PRIMARY school", "--urn", "401111").exit_code == 0
    demo = cli("init", "--demo")
    assert demo.exit_code == 0 and "already exists" in demo.output
    with app.app_context():
        from gatekeeper.extensions import db

        assert db.session.scalars(select(School.name)).all() == ["demo PRIMARY school"]


def test_user_invite_without_any_school_says_how_to_add_one(cli):
    assert "gatekeeper school add" in one_error_line(
        cli("user", "invite", "a@b.test", "--role", "head"))
