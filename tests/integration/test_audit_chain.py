"""Audit trail tamper evidence: `gatekeeper audit verify` finds any edited, inserted or deleted row,
and concurrent writers never fork the chain."""

import threading

from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from gatekeeper.cli.ops import audit_group
from gatekeeper.compliance import audit
from gatekeeper.models import AuditEvent

WRITERS, EVENTS_EACH = 4, 10


def write_events(app, count: int, school_id: int) -> None:
    from gatekeeper.extensions import db

    with app.app_context():
        for n in range(count):
            audit.record(db.session, "test_event", school_id=school_id, detail={"n": n})
            db.session.commit()


def verify(app):
    return app.test_cli_runner().invoke(audit_group, ["verify"])


def ids(app):
    from gatekeeper.extensions import db

    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)))


def run_sql(app, statement) -> None:
    from gatekeeper.extensions import db

    with app.app_context():
        db.session.execute(statement)
        db.session.commit()


def test_intact_trail_verifies(app, school):
    write_events(app, 5, school["id"])
    result = verify(app)
    assert result.exit_code == 0, result.output
    assert "audit trail intact" in result.output


def test_edited_row_is_detected(app, school):
    write_events(app, 5, school["id"])
    middle = ids(app)[2]
    run_sql(app, update(AuditEvent).where(AuditEvent.id == middle)
            .values(detail_json='{"n": 99}'))
    result = verify(app)
    assert result.exit_code == 1
    assert f"row {middle}: content does not match" in result.output


def test_edited_row_with_recomputed_hash_breaks_the_next_link(app, school):
    from gatekeeper.extensions import db

    write_events(app, 5, school["id"])
    middle = ids(app)[2]
    with app.app_context():  # a careful forger recomputes the edited row's own hash
        event = db.session.get(AuditEvent, middle)
        event.actor = "someone else"
        event.hash = audit.event_hash(event.prev_hash, event)
        db.session.commit()
    result = verify(app)
    assert result.exit_code == 1
    assert f"does not follow row {middle}" in result.output


def test_deleted_row_is_detected(app, school):
    write_events(app, 5, school["id"])
    middle = ids(app)[2]
    run_sql(app, delete(AuditEvent).where(AuditEvent.id == middle))
    result = verify(app)
    assert result.exit_code == 1
    assert "does not follow" in result.output


def test_rows_cut_from_the_end_after_a_verification_are_detected(app, school):
    write_events(app, 5, school["id"])
    assert verify(app).exit_code == 0  # anchors the last row in the instance folder
    last = ids(app)[-1]
    run_sql(app, delete(AuditEvent).where(AuditEvent.id == last))
    result = verify(app)
    assert result.exit_code == 1
    assert f"row {last}: verified before, now missing" in result.output


def test_concurrent_writers_keep_one_chain(app, school):
    threads = [threading.Thread(target=write_events, args=(app, EVENTS_EACH, school["id"]))
               for _ in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    from gatekeeper.extensions import db

    with app.app_context():
        report = audit.verify_chain(db.session)
        hashes = db.session.execute(text("SELECT prev_hash FROM audit_event")).scalars().all()
    assert report.ok, report.problems
    assert report.rows >= WRITERS * EVENTS_EACH
    assert len(hashes) == len(set(hashes)), "two rows claim the same predecessor"


def test_verify_on_a_plain_session(app, school):
    from gatekeeper.extensions import db

    write_events(app, 3, school["id"])
    with app.app_context(), Session(db.engine) as session:
        assert audit.verify_chain(session).ok


# Issue 15, finding 3: the chain is keyed, so a database writer cannot rewrite it to match.

def test_a_forger_who_rewrites_every_later_row_without_the_key_is_caught(app, school):
    from gatekeeper.extensions import db

    write_events(app, 6, school["id"])
    middle = ids(app)[2]
    with app.app_context():  # the report's attack: edit a row, re-chain all after it (SHA-256)
        prev = ""
        for event in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)):
            if event.id == middle:
                event.detail_json = '{"n": 99}'
            if event.id >= middle:
                event.prev_hash = prev
                event.hash = audit.legacy_hash(prev, event)
            prev = event.hash
        db.session.commit()
    result = verify(app)
    assert result.exit_code == 1
    assert f"row {middle}: content does not match its HMAC" in result.output
    assert f"first at row {middle}" in result.output


def test_the_key_is_a_file_outside_the_database_and_owner_only(app, school):
    from pathlib import Path

    write_events(app, 1, school["id"])
    key_file = Path(app.config["INSTANCE"]) / audit.AUDIT_KEY_FILE
    assert key_file.stat().st_mode & 0o077 == 0
    key = key_file.read_bytes().strip()
    from gatekeeper.extensions import db

    with app.app_context():
        dumped = " ".join(str(v) for row in db.session.execute(text("SELECT * FROM audit_event"))
                          for v in row)
    assert key.decode() not in dumped


def test_a_truncated_trail_with_a_rewritten_anchor_file_is_caught(app, school):
    from pathlib import Path

    from gatekeeper.compliance.audit import AUDIT_ANCHOR_FILE

    write_events(app, 5, school["id"])
    assert verify(app).exit_code == 0
    kept = ids(app)[:3]
    run_sql(app, delete(AuditEvent).where(AuditEvent.id > kept[-1]))
    from gatekeeper.extensions import db

    with app.app_context():
        head = db.session.get(AuditEvent, kept[-1]).hash
    anchor = Path(app.config["INSTANCE"]) / AUDIT_ANCHOR_FILE
    anchor.write_text(f"{kept[-1]} {head}\n")  # made to match, without the key
    result = verify(app)
    assert result.exit_code == 1
    assert "anchor file is not one Gatekeeper signed" in result.output
