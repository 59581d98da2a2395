"""The `gatekeeper` console script as scripts use it: real processes, real exit codes. A refusal
whose subject is the line it prints is run in this process (click's runner, on the test app);
each command here still runs as a real process at least once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.support.commands import one_error_line

pytestmark = pytest.mark.slow

GATEKEEPER = str(Path(sys.executable).with_name("gatekeeper"))


@pytest.fixture
def run(app):
    """Run `gatekeeper ...` against the test app's database and instance folder."""
    env = {
        **os.environ,
        "GATEKEEPER_INSTANCE": str(app.config["INSTANCE"]),
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
    }

    def gatekeeper(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([GATEKEEPER, *args], env=env, capture_output=True, text=True,
                              timeout=180)

    return gatekeeper


def test_init_demo_seeds_once_and_prints_users(run, app):
    demo = run("init", "--demo")
    assert demo.returncode == 0, demo.stderr
    for role in ("staff", "admin", "dsl", "media_lead", "head"):
        assert role in demo.stdout
    again = run("init", "--demo")
    assert again.returncode == 0 and "already exists" in again.stdout
    credentials = app.config["INSTANCE"] / "demo-credentials.txt"
    assert oct(credentials.stat().st_mode & 0o777) == "0o600"


def test_screen_json_follows_the_contract(run, demo, faces_dir):
    events = faces_dir / "events"
    result = run("screen", str(events / "obama_and_biden.jpg"), str(events / "kit_with_rose.jpg"),
                 "--purpose", "social_media", "--json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(line["file"]).name for line in lines] == [
        "obama_and_biden.jpg", "kit_with_rose.jpg"]
    for line in lines:
        assert set(line) == {"file", "purpose", "verdict", "faces"}
        assert line["verdict"] in ("cleared", "needs_review", "blocked")
        for face in line["faces"]:
            assert set(face) == {"box", "status", "upn", "distance"}
            top, right, bottom, left = face["box"]
            assert 0 <= top < bottom and 0 <= left < right
    # Demo register: Obama's face is Ava (consented), Biden's is Ben (consented); the child is
    # enrolled nowhere, so the photo needs a person. Rose's face is Dylan, whose parents refused.
    obama_biden, kit_rose = lines
    assert obama_biden["verdict"] == "needs_review"
    assert sorted(f["status"] for f in obama_biden["faces"]) == ["cleared", "cleared", "unknown"]
    assert kit_rose["verdict"] == "blocked"


@pytest.mark.once
def test_screen_refuses_bad_input_with_one_line(cli, demo, tmp_path):
    fake = tmp_path / "notes.jpg"
    fake.write_text("not a photo")
    assert "notes.jpg" in one_error_line(
        cli("screen", str(fake), "--purpose", "social_media", "--json"))
    assert "unknown purpose" in one_error_line(cli("screen", str(fake), "--purpose", "billboards"))


@pytest.mark.once
def test_strip_writes_a_clean_jpeg_or_nothing(run, cli, faces_dir, tmp_path):
    out = tmp_path / "clean.jpg"
    result = run("strip", str(faces_dir / "events" / "alex_lacamoire_stage.jpg"), str(out))
    assert result.returncode == 0, result.stderr
    with Image.open(out) as clean:
        assert clean.format == "JPEG" and not clean.getexif()
    broken = tmp_path / "half.jpg"
    broken.write_bytes((faces_dir / "events" / "obama_podium.jpg").read_bytes()[:5000])
    one_error_line(cli("strip", str(broken), str(tmp_path / "never.jpg")))
    assert not (tmp_path / "never.jpg").exists()


def test_enrol_refuses_two_faces_and_missing_consent(run, cli, demo, faces_dir):
    from gatekeeper.ops.setup import demo_upn

    finn = demo_upn(6)  # Finn Murphy: no biometric consent in the demo
    line = one_error_line(cli("enrol", finn, str(faces_dir / "people" / "obama" / "1.jpg")))
    assert "biometric consent" in line
    ava = demo_upn(1)
    line = one_error_line(cli("enrol", ava, str(faces_dir / "events" / "two_people.jpg")))
    assert "2 faces" in line or "two faces" in line.lower()
    ok = run("enrol", ava, str(faces_dir / "people" / "obama" / "2.jpg"))
    assert ok.returncode == 0, ok.stderr


def test_consent_and_nopublish_commands(run, cli, demo):
    from gatekeeper.ops.setup import demo_upn

    upn = demo_upn(7)
    assert run("consent", "set", upn, "press", "granted", "--by", "Mrs Patel").returncode == 0
    assert "no pupil" in one_error_line(cli("consent", "set", "X000000000000", "press", "granted"))
    assert "not a date" in one_error_line(cli("consent", "set", upn, "press", "granted",
                                              "--expires", "next year"))
    assert run("nopublish", "add", upn, "--reason", "court order").returncode == 0
    assert run("nopublish", "remove", upn).returncode == 0
    assert "not on the no-publish list" in one_error_line(cli("nopublish", "remove", upn))


@pytest.mark.once
def test_eval_reports_zero_leaks_on_the_shared_faces(run, cli, faces_dir, tmp_path):
    # As the README runs it: the shared faces with the labels kept in docs/.
    labels = Path(__file__).resolve().parents[2] / "docs" / "eval-faces-labels.json"
    result = run("eval", str(faces_dir), "--labels", str(labels))
    assert result.returncode == 0, result.stderr
    assert "leaks: 0" in result.stdout.splitlines()
    assert "auto-cleared: 9/9 clearable photos" in result.stdout.splitlines()
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    one_error_line(cli("eval", str(faces_dir), "--labels", str(bad)))
