"""No database connection outlives the test that opened it, even through a second app the test
builds itself (a restore target, say): pass 2 once found psycopg connections of such an app
collected open, long after its test, in whichever test the garbage collector ran."""

import sqlite3

import psycopg
import pytest
from sqlalchemy import text

from tests.conftest import _app

opened_by_the_first_test = []


def test_a_test_builds_a_second_app_and_leaves_it(app, tmp_path):
    from gatekeeper.extensions import db

    instance = tmp_path / "second"
    instance.mkdir()
    second = _app(instance, app.config["SQLALCHEMY_DATABASE_URI"])
    with second.app_context():
        assert db.session.execute(text("SELECT 1")).scalar() == 1
        opened_by_the_first_test.append(db.session.connection().connection.dbapi_connection)
    # Back in its pool, open; nothing here closes it.


def test_its_connections_were_closed_when_that_test_ended():
    assert opened_by_the_first_test, "runs after the test above"
    raw = opened_by_the_first_test.pop()
    with pytest.raises((sqlite3.ProgrammingError, psycopg.Error), match="closed"):
        raw.cursor().execute("SELECT 1")
