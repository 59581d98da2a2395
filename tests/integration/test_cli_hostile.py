"""Hostile input to the `gatekeeper` command line: a database not set up or unusable, an instance
folder that is a file, an over-long --by, an output path with no folder, a named pipe as input.
Each is one line on stderr, a non-zero exit, and nothing written. What a user meets first (the
database, the instance folder, a pipe that would hang) runs as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from consent.models import ConsentRecord, ReferenceFace
from gatekeeper.cli.base import BY_MAX_CHARS
from tests.support.commands import one_error_line

GATEKEEPER = str(Path(sys.executable).with_name("gatekeeper"))
PROCESS_TIMEOUT_S = 120  # a command that blocks on a pipe fails the test instead of hanging it
NOT_SET_UP = "error: the database is not set up: run `gatekeeper init`"
CSV_HEADER = "upn,first_name,last_name,date_of_birth,year_group\n"


def gatekeeper(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([GATEKEEPER, *args], env={**os.environ, "REDIS_URL": "", **env},
                          capture_output=True, text=True, timeout=PROCESS_TIMEOUT_S)


@pytest.fixture
def run(app):
    """Run `gatekeeper ...` as a process on the test app's database and instance folder."""
    env = {"GATEKEEPER_INSTANCE": str(app.config["INSTANCE"]),
           "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "REDIS_URL": app.config["REDIS_URL"]}
    return lambda *args: gatekeeper(env, *args)


def a_jpeg(path: Path) -> Path:
    Image.new("RGB", (64, 48), "teal").save(path, "JPEG")
    return path


def everything_under(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


@pytest.mark.once
def test_commands_refuse_a_database_not_set_up_until_init(tmp_path):
    database = tmp_path / "fresh.db"
    env = {"GATEKEEPER_INSTANCE": str(tmp_path / "instance"),
           "DATABASE_URL": f"sqlite:///{database}"}
    pupils_csv = tmp_path / "pupils.csv"
    pupils_csv.write_text(CSV_HEADER)
    photo = a_jpeg(tmp_path / "photo.jpg")
    for command in (["pupils", "import", str(pupils_csv)],
                    ["consent", "set", "A823202400001", "press", "granted"],
                    ["screen", str(photo), "--purpose", "website", "--json"],
                    ["worker", "--workers", "1"]):
        refused = gatekeeper(env, *command)
        assert refused.returncode == 1
        assert one_error_line(refused) == NOT_SET_UP, command
        assert not database.exists()  # no empty database left behind
    created = gatekeeper(env, "init")
    assert created.returncode == 0, created.stderr
    assert database.is_file()
    after = gatekeeper(env, "consent", "set", "A823202400001", "press", "granted")
    assert "no school" in one_error_line(after)


@pytest.mark.once
@pytest.mark.parametrize(("command", "setting", "expected"), [
    ("consent", {"DATABASE_URL": "nosuchdb://someone:secret@host/db"},
     "DATABASE_URL is not a database URL gatekeeper can use ('nosuchdb')"),
    ("consent", {"DATABASE_URL": "not a url"}, "DATABASE_URL is not a database URL"),
    ("consent", {"DATABASE_URL": "sqlite:///{tmp}/nodir/gatekeeper.db"},
     "the database's folder {tmp}/nodir does not exist"),
    ("init", {"DATABASE_URL": "sqlite:///{tmp}/nodir/gatekeeper.db"},
     "the database's folder {tmp}/nodir does not exist"),
    ("consent", {"GATEKEEPER_INSTANCE": "{tmp}/a-file"},
     "the instance folder {tmp}/a-file (GATEKEEPER_INSTANCE) is a file, not a folder"),
])
def test_an_unusable_database_or_instance_folder_is_one_line(tmp_path, command, setting,
                                                              expected):
    (tmp_path / "a-file").write_text("not a folder")
    env = {"GATEKEEPER_INSTANCE": str(tmp_path / "instance"),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'gatekeeper.db'}"}
    env.update({name: value.format(tmp=tmp_path) for name, value in setting.items()})
    args = ["init"] if command == "init" else ["consent", "set", "A823202400001", "press",
                                               "granted"]
    line = one_error_line(gatekeeper(env, *args))
    assert expected.format(tmp=tmp_path) in line
    assert "secret" not in line
    assert not (tmp_path / "nodir").exists()


@pytest.mark.once
def test_help_with_a_bad_database_url_still_lists_the_commands(tmp_path):
    env = {"GATEKEEPER_INSTANCE": str(tmp_path / "instance"), "DATABASE_URL": "nosuchdb://x"}
    shown = gatekeeper(env, "--help")
    assert shown.returncode == 0 and "screen" in shown.stdout
    assert "Traceback" not in shown.stderr and len(shown.stderr.strip().splitlines()) == 1


def test_an_over_long_by_is_refused_and_nothing_stored(cli, ctx, demo, faces_dir):
    from gatekeeper.ops.setup import demo_upn

    def count(model) -> int:
        with ctx():
            return ctx.db.session.scalar(select(func.count()).select_from(model))

    faces, records, too_long = count(ReferenceFace), count(ConsentRecord), "x" * 1000
    ava = demo_upn(1)  # biometric consent in the demo: her enrolment would succeed
    line = one_error_line(cli("enrol", ava, str(faces_dir / "people" / "obama" / "2.jpg"),
                              "--by", too_long))
    assert "--by" in line and f"at most {BY_MAX_CHARS} characters" in line
    line = one_error_line(cli("consent", "set", ava, "press", "granted", "--by", too_long))
    assert "--by" in line and f"at most {BY_MAX_CHARS} characters" in line
    assert (count(ReferenceFace), count(ConsentRecord)) == (faces, records)
    longest = "y" * BY_MAX_CHARS
    assert cli("consent", "set", ava, "press", "granted", "--by", longest).exit_code == 0
    with ctx():
        latest = ctx.db.session.scalars(
            select(ConsentRecord).order_by(ConsentRecord.id.desc())).first()
        assert latest.given_by == longest


@pytest.mark.once
def test_strip_names_the_output_it_cannot_write(cli, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    a_jpeg(work / "good.jpg")
    before = everything_under(tmp_path)
    line = one_error_line(cli("strip", "good.jpg", "nodir/x.jpg"))
    assert line == "error: nodir/x.jpg: the folder nodir does not exist"
    line = one_error_line(cli("strip", "good.jpg", ""))
    assert "the output must be a file path" in line
    assert one_error_line(cli("strip", "good.jpg", "x/")).startswith(
        "error: the output must be a file path")
    assert everything_under(tmp_path) == before


@pytest.mark.once
@pytest.mark.parametrize("command", ["strip", "screen", "enrol", "pupils import"])
def test_a_named_pipe_is_refused_before_it_is_read(run, demo, tmp_path, command):
    from gatekeeper.ops.setup import demo_upn

    given_folder = tmp_path / "given"  # the instance folder (the database's) is elsewhere
    given_folder.mkdir()
    pipe = given_folder / "photo.jpg"
    os.mkfifo(pipe)
    linked = given_folder / "linked.jpg"
    linked.symlink_to(pipe)
    before = everything_under(given_folder)
    for given in (pipe, linked):
        args = {"strip": ["strip", str(given), str(given_folder / "clean.jpg")],
                "screen": ["screen", str(given), "--purpose", "website", "--json"],
                "enrol": ["enrol", demo_upn(1), str(given)],
                "pupils import": ["pupils", "import", str(given)]}[command]
        line = one_error_line(run(*args))  # a read of the pipe would block: the timeout fails it
        assert line == f"error: {given}: not a regular file"
    assert everything_under(given_folder) == before


@pytest.mark.once
def test_strip_follows_a_symlink_to_a_photo(run, tmp_path):
    linked = tmp_path / "linked.jpg"
    linked.symlink_to(a_jpeg(tmp_path / "good.jpg"))
    pipe = tmp_path / "pipe.jpg"
    os.mkfifo(pipe)
    done = run("strip", str(linked), str(tmp_path / "clean.jpg"))
    assert done.returncode == 0, done.stderr
    assert one_error_line(run("strip", str(pipe), str(tmp_path / "never.jpg"))).endswith(
        "not a regular file")
    assert not (tmp_path / "never.jpg").exists()
