"""Shared fixtures: face photos, and a fresh app per test on a migrated database (SQLite by
default; PostgreSQL + Redis in pass 2 of `make test`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gatekeeper.translations import compile_catalogues
from tests.support.fixtures import Browser, make_school

ROOT = Path(__file__).resolve().parent.parent
GATEKEEPER = str(Path(sys.executable).with_name("gatekeeper"))
FACES_DIR = ROOT.parent / "shared" / "data" / "faces"
LFW_DIR = ROOT.parent / "shared" / "data" / "schools" / "lfw"


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    """The shared folder of real face photos; skipped visibly when absent, a failure under CI."""
    if not FACES_DIR.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"face fixtures missing at {FACES_DIR} (required under CI)")
        pytest.skip(f"face fixtures not found at {FACES_DIR}")
    return FACES_DIR


@pytest.fixture(scope="session")
def lfw_dir() -> Path:
    """The labelled adults of ../shared/data/schools/lfw, read in place (internal evaluation only:
    never copied, never in a screenshot); skipped visibly when absent, a failure under CI."""
    if not LFW_DIR.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"labelled faces missing at {LFW_DIR} (required under CI)")
        pytest.skip(f"labelled faces not found at {LFW_DIR}")
    return LFW_DIR


def pytest_sessionstart(session):
    """Compile the translation catalogues that are missing or older than their .po, as
    `make catalogues` does, so that `pytest` run directly tests the Welsh a msgid added today."""
    compile_catalogues()


PG_URL = os.environ.get("GATEKEEPER_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("GATEKEEPER_TEST_REDIS_URL", "")


def pytest_collection_modifyitems(config, items):
    """Pass 2 (PostgreSQL + Redis) runs only the tests that reach a database or queue, which they
    all do through the `migrated` fixture; the others ran in pass 1 and would answer the same, as
    would those marked `once` (clips and photos encoded, files and processes checked: what they
    store is a row or two any database keeps alike)."""
    if not PG_URL:
        return
    needless = [item for item in items if "migrated" not in getattr(item, "fixturenames", ())
                or item.get_closest_marker("once")]
    if needless:
        config.hook.pytest_deselected(items=needless)
        items[:] = [item for item in items if item not in needless]


# Every app built while a test runs (the `app` fixture's, and any second app a test makes, such as a
# restore target): `close_every_app` disposes their engines when the test ends. An app left to the
# garbage collector took its pool's open PostgreSQL connections with it, and psycopg then warned
# "connection deleted while still open" in whichever later test the collection happened to run.
_apps_built: list = []


def _app(instance: Path, database_url: str, **extra):
    from gatekeeper.app import create_app

    config = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "INSTANCE": instance,
        "STORAGE_DIR": instance / "storage",
        "OUTBOX_DIR": instance / "outbox",
        "SECRET_KEY": "test-" + uuid.uuid4().hex,
        "REDIS_URL": REDIS_URL,
        "HUEY_NAME": "gk-test-" + uuid.uuid4().hex[:8],
    }
    config.update(extra)
    app = create_app(config, config_name="test")
    _apps_built.append(app)
    return app


def close_database(app) -> None:
    """End the app's sessions and close every pooled connection of each of its engines."""
    from gatekeeper.extensions import db

    with app.app_context():
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()


@pytest.fixture(autouse=True)
def close_every_app():
    """Torn down after every other fixture of the test: no connection outlives the test."""
    yield
    while _apps_built:
        close_database(_apps_built.pop())


def new_pg_database(prefix: str):
    """A new, empty PostgreSQL database on PG_URL's server: (its name, the admin engine that made
    it, its URL). drop_pg_database removes it."""
    name = prefix + uuid.uuid4().hex[:12]
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return name, admin, make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(admin, name: str) -> None:
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def migrated(tmp_path_factory):
    """Run the Alembic migrations once: into a template SQLite file, or a fresh PostgreSQL
    database."""
    from gatekeeper.ops.setup import migrate_database

    root = tmp_path_factory.mktemp("gk")
    os.environ["GATEKEEPER_INSTANCE"] = str(root / "env-instance")
    if PG_URL:
        name, admin, url = new_pg_database("gk_test_")
    else:
        name, admin = None, None
        url = f"sqlite:///{root / 'template.db'}"
    app = _app(root / "migrate-instance", url)
    with app.app_context():
        migrate_database()
    close_database(app)
    yield {"url": url, "root": root, "template": root / "template.db"}
    if admin is not None:
        drop_pg_database(admin, name)


@pytest.fixture
def app(migrated, tmp_path):
    instance = tmp_path / "instance"
    instance.mkdir()
    if PG_URL:
        url = migrated["url"]
    else:
        shutil.copy(migrated["template"], instance / "gatekeeper.db")
        url = f"sqlite:///{instance / 'gatekeeper.db'}"
    app = _app(instance, url)
    from gatekeeper.extensions import db

    if PG_URL:
        with app.app_context():
            tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
            db.session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            db.session.commit()
    # No app context is held across the test: each request gets its own, as in production
    # (a shared one would carry `g` from one request into the next). `close_every_app` closes it.
    return app


@pytest.fixture
def ctx(app):
    """An app context for direct database work in a test (not held while the client runs)."""
    from gatekeeper.extensions import db

    def context():
        return app.app_context()

    context.db = db
    return context


@pytest.fixture
def school(app):
    from gatekeeper.extensions import db

    with app.app_context():
        school = make_school(db.session)
        return {"id": school.id, "name": school.name}


@pytest.fixture
def browser(app):
    return Browser(app.test_client())


@pytest.fixture
def login_as(app, school):
    """A signed-in browser for a role of the test school."""

    def sign_in(role: str) -> Browser:
        browser = Browser(app.test_client())
        response = browser.login(f"{role}@testschool.test")
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return browser

    return sign_in


@pytest.fixture
def cli(app):
    """Run `gatekeeper ...` in this process, on the test app (its database and instance folder)."""
    from gatekeeper.cli import main

    runner = app.test_cli_runner()

    def gatekeeper(*args: str):
        return runner.invoke(main, list(args))

    return gatekeeper


@pytest.fixture(scope="session")
def demo_template(migrated, tmp_path_factory):
    """The demo school as one real `gatekeeper init --demo` leaves it, made once per test process
    (it takes about 11 s: the demo's reference photos detected and encoded): its instance folder
    and its database (a SQLite file in it, or a PostgreSQL database of its own), which
    `restore_demo` copies into a test's app. Tests only read it."""
    instance = tmp_path_factory.mktemp("demo") / "instance"
    name, admin = None, None
    if PG_URL:
        name, admin, url = new_pg_database("gk_demo_")
    else:
        url = f"sqlite:///{instance / 'gatekeeper.db'}"
    env = {**os.environ, "GATEKEEPER_INSTANCE": str(instance), "DATABASE_URL": url,
           "REDIS_URL": REDIS_URL}
    done = subprocess.run([GATEKEEPER, "init", "--demo"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    yield {"instance": instance, "url": url, "stdout": done.stdout}
    if admin is not None:
        drop_pg_database(admin, name)


def restore_demo(app, template) -> None:
    """Make the test app's instance and database what `gatekeeper init --demo` left in the
    template: every file of its instance folder (keys, credentials, the SQLite database and
    queue), or on PostgreSQL every row and sequence, copied as they are."""
    instance = Path(app.config["INSTANCE"])
    close_database(app)  # nothing holds the database file while it is replaced
    shutil.copytree(template["instance"], instance, dirs_exist_ok=True)
    if not PG_URL:
        return
    from gatekeeper.extensions import db

    source_engine = create_engine(template["url"])
    try:
        with app.app_context():
            source, target = source_engine.raw_connection(), db.engine.raw_connection()
            try:
                with source.cursor() as read, target.cursor() as write:
                    for table in db.metadata.sorted_tables:  # parents before children
                        with read.copy(f'COPY "{table.name}" TO STDOUT') as rows, \
                                write.copy(f'COPY "{table.name}" FROM STDIN') as into:
                            for chunk in rows:
                                into.write(chunk)
                    read.execute("SELECT schemaname, sequencename, last_value FROM pg_sequences")
                    for schema, sequence, last in read.fetchall():
                        if last is not None:
                            name = f'"{schema}"."{sequence}"'
                            write.execute("SELECT setval(%s, %s)", (name, last))
                source.rollback()
                target.commit()
            finally:
                source.close()
                target.close()
    finally:
        source_engine.dispose()
    close_database(app)


@pytest.fixture
def demo(app, demo_template) -> str:
    """The test app holding the demo school of `gatekeeper init --demo` (copied from
    demo_template); returns what that command printed."""
    restore_demo(app, demo_template)
    return demo_template["stdout"]
