"""Upgrading a school enrolled before the second embedding: `gatekeeper init` re-embeds each
reference face from its stored photo, and until every reference has one, photos are matched by
dlib's encoding alone, as before. `init` runs as the real console script; `screen`, which only
reports the verdicts, runs in this process on the same database and instance folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, update

from consent.models import ReferenceFace
from gatekeeper.compliance.crypto import app_cipher, open_sealed
from gatekeeper.extensions import db
from gatekeeper.models import AuditEvent
from gatekeeper.screening import thresholds as t
from gatekeeper.screening.rule import DLIB
from gatekeeper.screening.service import load_gallery

pytestmark = pytest.mark.slow

GATEKEEPER = str(Path(sys.executable).with_name("gatekeeper"))


@pytest.fixture
def run(app):
    env = {**os.environ, "GATEKEEPER_INSTANCE": str(app.config["INSTANCE"]),
           "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "REDIS_URL": app.config["REDIS_URL"]}

    def gatekeeper(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([GATEKEEPER, *args], env=env, capture_output=True, text=True,
                              timeout=300)

    return gatekeeper


def references(app) -> list[ReferenceFace]:
    with app.app_context():
        rows = db.session.scalars(select(ReferenceFace).order_by(ReferenceFace.id)).all()
        db.session.expunge_all()
        return rows


def embeddings(app) -> list[np.ndarray | None]:
    with app.app_context():
        cipher = app_cipher()
        return [open_sealed(cipher, r.embedding_encrypted) for r in references(app)]


def screen(app, faces_dir) -> dict:
    from gatekeeper.cli import main

    done = app.test_cli_runner().invoke(main, [
        "screen", str(faces_dir / "events" / "obama_and_biden.jpg"), "--purpose", "social_media",
        "--json"])
    assert done.exit_code == 0, (done.stderr, done.exception)
    return json.loads(done.stdout)


def test_init_re_embeds_the_references_of_a_school_enrolled_before(app, run, demo, faces_dir):
    enrolled = embeddings(app)
    assert enrolled and all(e is not None for e in enrolled)  # enrolment stores both
    fused = screen(app, faces_dir)
    with app.app_context():
        school_id = references(app)[0].school_id
        assert load_gallery(db.session, school_id, app_cipher()).embedding == t.MATCH_BY
        # The school as it was before the upgrade: no reference has the embedding; and one
        # reference's stored photo now shows someone else (another pupil's photo).
        rows = references(app)
        db.session.execute(update(ReferenceFace).values(embedding_encrypted=None))
        db.session.execute(update(ReferenceFace).where(ReferenceFace.id == rows[0].id)
                           .values(photo_encrypted=rows[-1].photo_encrypted))
        db.session.commit()
        assert load_gallery(db.session, rows[0].school_id, app_cipher()).embedding == DLIB

    # Before the upgrade step: matched by dlib alone, with dlib's thresholds, as before.
    before = screen(app, faces_dir)
    assert sorted(f["status"] for f in before["faces"]) == ["cleared", "cleared", "unknown"]

    done = run("init")
    assert done.returncode == 0, done.stderr
    assert (f"reference faces re-embedded: {len(rows) - 1}; left with dlib's encoding alone: 1"
            in done.stdout)
    after = embeddings(app)
    assert after[0] is None  # the photo no longer gives the face enrolled: never paired
    assert all(np.allclose(a, e) for a, e in zip(after[1:], enrolled[1:], strict=True))
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "references_re_embedded"))
        assert event.detail == {"re_embedded": len(rows) - 1,
                                            "left_with_encoding_only": 1}
        # One reference without the embedding keeps the whole school on dlib's distance.
        assert load_gallery(db.session, rows[0].school_id, app_cipher()).embedding == DLIB
    assert screen(app, faces_dir)["verdict"] == before["verdict"] == fused["verdict"]
