"""SQLite really runs in WAL mode with a busy timeout (issue 15, finding 10): the README said WAL
while the journal mode was `delete`, so a reader blocked the writer."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from gatekeeper.config import SQLITE_BUSY_TIMEOUT_MS
from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(bool(PG_URL), reason="SQLite only (pass 1)")


def test_the_database_file_is_in_wal_mode_with_a_busy_timeout(app):
    from gatekeeper.extensions import db

    with app.app_context():
        assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert db.session.execute(text("PRAGMA busy_timeout")).scalar() == SQLITE_BUSY_TIMEOUT_MS
        path = Path(db.engine.url.database)
    # The mode is the file's, seen by any other program that opens it.
    other = sqlite3.connect(path)
    try:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        other.close()


def test_a_reader_in_a_transaction_does_not_block_a_writer(app, school):
    from gatekeeper.extensions import db

    with app.app_context():
        path = Path(db.engine.url.database)
    reader = sqlite3.connect(path, timeout=0.1)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM school").fetchone()  # holds a read snapshot
        with app.app_context():
            db.session.execute(text("UPDATE school SET name = 'Renamed'"))
            db.session.commit()  # in rollback-journal mode this fails: database is locked
    finally:
        reader.close()
