"""Backup and restore: a round trip gives back every row, every stored file and the keys, and the
restored instance works (audit verifies, images are served, encodings decrypt)."""

import io
import shutil

import pytest
from PIL import Image
from sqlalchemy import select, text

from gatekeeper.cli.ops import backup_command, restore_command
from gatekeeper.compliance import audit
from tests.conftest import PG_URL, _app
from tests.support.fixtures import Browser, add_pupil, upload_photo


def table_rows(app) -> dict:
    from gatekeeper.extensions import db

    with app.app_context():
        return {t.name: sorted(map(tuple, db.session.execute(select(t)).all()), key=repr)
                for t in db.metadata.sorted_tables}


def files(root) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def fresh_target(app, migrated, tmp_path):
    """An empty, migrated database with its own instance folder."""
    from gatekeeper.extensions import db

    instance = tmp_path / "restored"
    instance.mkdir()
    if PG_URL:
        with app.app_context():
            names = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
            db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            db.session.commit()
            db.engine.dispose()
        url = migrated["url"]
    else:
        shutil.copy(migrated["template"], instance / "gatekeeper.db")
        url = f"sqlite:///{instance / 'gatekeeper.db'}"
    return _app(instance, url)


@pytest.fixture
def populated(app, school, login_as, faces_dir):
    from gatekeeper.extensions import db

    with app.app_context():
        add_pupil(db.session, school["id"], 1, "Kit", "Harington", consents={"website": "granted"},
                  faces=sorted((faces_dir / "people" / "kit_harington").iterdir())[:1])
    staff = login_as("staff")
    event = staff.post("/uploads/events", {"name": "Play", "date": "2026-06-01",
                                           "purpose": "website"}).get_json()
    data = io.BytesIO()
    Image.new("RGB", (90, 70), (120, 30, 60)).save(data, "JPEG")
    photo = upload_photo(staff, event["id"], "play.jpg", data.getvalue()).get_json()
    return photo["id"]


def test_round_trip(app, migrated, populated, tmp_path):
    archive = tmp_path / "gatekeeper-backup.tar.gz"
    result = app.test_cli_runner().invoke(backup_command, [str(archive)])
    assert result.exit_code == 0, result.output
    assert (archive.stat().st_mode & 0o077) == 0  # owner-only: it holds the biometric key
    before_rows, before_files = table_rows(app), files(app.config["STORAGE_DIR"])
    key = (app.config["INSTANCE"] / "biometric.key").read_bytes()
    assert before_rows["photo"] and before_rows["reference_face"] and before_rows["audit_event"]

    target = fresh_target(app, migrated, tmp_path)
    result = target.test_cli_runner().invoke(restore_command, [str(archive)])
    assert result.exit_code == 0, result.output
    assert table_rows(target) == before_rows
    assert files(target.config["STORAGE_DIR"]) == before_files
    assert (target.config["INSTANCE"] / "biometric.key").read_bytes() == key

    from consent.models import ReferenceFace
    from gatekeeper.compliance.crypto import app_cipher, open_encoding
    from gatekeeper.extensions import db

    with target.app_context():
        assert audit.verify_chain(db.session).ok
        sealed = db.session.scalar(select(ReferenceFace.encoding_encrypted))
        assert open_encoding(app_cipher(), sealed).shape == (128,)
    browser = Browser(target.test_client())
    assert browser.login("media_lead@testschool.test").status_code == 302
    assert browser.get(f"/review/{populated}/image").status_code == 200
    # New rows continue after the restored ids.
    assert browser.login("nobody@testschool.test", "x").status_code == 200
    with target.app_context():
        assert audit.verify_chain(db.session).ok

    again = target.test_cli_runner().invoke(restore_command, [str(archive)])
    assert again.exit_code == 1 and "not empty" in again.output


def test_restore_refuses_a_file_that_is_not_a_backup(app, tmp_path):
    bogus = tmp_path / "bogus.tar.gz"
    bogus.write_bytes(b"not a tar")
    result = app.test_cli_runner().invoke(restore_command, [str(bogus)])
    assert result.exit_code == 1 and result.output.startswith("error:")


@pytest.mark.once
def test_a_backup_restores_into_a_new_install_and_its_audit_trail_still_verifies(tmp_path):
    """As deployment advises, the audit key lives outside the instance folder: the backup takes
    it (and the signed anchor), and restores it there, into a server just set up with
    `gatekeeper init` (whose own new keys encrypt nothing yet)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    command = str(Path(sys.executable).with_name("gatekeeper"))

    def gatekeeper(server: str, *args: str) -> subprocess.CompletedProcess:
        env = {key: value for key, value in os.environ.items()
               if key not in ("DATABASE_URL", "REDIS_URL")}
        env.update(GATEKEEPER_INSTANCE=str(tmp_path / server / "instance"),
                   GATEKEEPER_AUDIT_KEY_FILE=str(tmp_path / server / "keys" / "audit.key"))
        return subprocess.run([command, *args], env=env, capture_output=True, text=True,
                              timeout=300)

    archive = tmp_path / "school.tar.gz"
    for args in (("init",), ("school", "add", "--name", "Ysgol y Bryn", "--urn", "401234"),
                 ("audit", "verify"), ("backup", str(archive))):
        done = gatekeeper("old", *args)
        assert done.returncode == 0, (args, done.stderr)
    assert gatekeeper("new", "init").returncode == 0  # a new server, its own fresh keys
    restored = gatekeeper("new", "restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert (tmp_path / "new" / "keys" / "audit.key").read_bytes() == (
        tmp_path / "old" / "keys" / "audit.key").read_bytes()
    verified = gatekeeper("new", "audit", "verify")
    assert verified.returncode == 0, verified.stderr


@pytest.mark.once
def test_a_restore_that_runs_out_of_disk_changes_nothing_and_can_be_run_again(tmp_path,
                                                                             faces_dir):
    """The disk filled up while a restore wrote the originals: its rows were in already, so no
    restore would take the database again, it had no originals, the wrong keys, and an audit
    trail that read as tampered. Now a restore is all of it or none."""
    import os
    import resource
    import subprocess
    import sys
    from pathlib import Path

    command = str(Path(sys.executable).with_name("gatekeeper"))

    def gatekeeper(server: str, *args: str, limit: int | None = None):
        env = {key: value for key, value in os.environ.items()
               if key not in ("DATABASE_URL", "REDIS_URL")}
        env.update(GATEKEEPER_INSTANCE=str(tmp_path / server / "instance"))

        def small_disk() -> None:  # no file larger than `limit` bytes can be written
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        return subprocess.run([command, *args], env=env, capture_output=True, text=True,
                              timeout=300, preexec_fn=small_disk if limit else None)

    archive = tmp_path / "school.tar.gz"
    assert gatekeeper("old", "init", "--demo").returncode == 0
    originals = tmp_path / "old" / "instance" / "storage" / "originals"
    originals.mkdir(parents=True)
    (originals / "a-large-clip").write_bytes(os.urandom(9_000_000))  # as a stored upload
    done = gatekeeper("old", "backup", str(archive))
    assert done.returncode == 0, done.stderr
    assert gatekeeper("new", "init").returncode == 0
    new = tmp_path / "new" / "instance"
    keys_before = {path.name: path.read_bytes() for path in new.glob("*.key")}
    # Room for the database's rows, not for the clip (the disk fills while it is written).
    failed = gatekeeper("new", "restore", str(archive), limit=6_000_000)
    assert failed.returncode == 1 and "nothing was restored: File too large" in failed.stderr, (
        failed.stderr)
    assert {path.name: path.read_bytes() for path in new.glob("*.key")} == keys_before
    assert not [p for p in (new / "storage").rglob("*") if p.is_file()]
    restored = gatekeeper("new", "restore", str(archive))  # the disk has room again
    assert restored.returncode == 0, restored.stderr
    verified = gatekeeper("new", "audit", "verify")
    assert verified.returncode == 0, verified.stderr


def test_a_restore_killed_before_its_commit_is_taken_back_by_the_next_one(app, migrated,
                                                                          populated, tmp_path):
    """Killed after moving its files and keys in, before its rows committed: the storage folder
    was no longer empty, so no restore would run again, and the server's own keys were gone. The
    journal on disk lets the next restore take it back. An empty originals folder left by init is
    filled, not given a second originals folder inside it."""
    import tarfile

    from gatekeeper.compliance.backup import Journal, read_manifest, stage_files

    archive = tmp_path / "gatekeeper-backup.tar.gz"
    assert app.test_cli_runner().invoke(backup_command, [str(archive)]).exit_code == 0
    before_rows, before_files = table_rows(app), files(app.config["STORAGE_DIR"])
    target = fresh_target(app, migrated, tmp_path)
    storage, instance = target.config["STORAGE_DIR"], target.config["INSTANCE"]
    (storage / "originals").mkdir(parents=True)
    own_key = (instance / "biometric.key").read_bytes() if (
        instance / "biometric.key").exists() else None
    with tarfile.open(archive, "r:gz") as opened:  # the first restore, up to its last step
        manifest = read_manifest(opened)
        stage_files(opened, storage / ".restoring", instance, manifest)
        Journal(storage, instance, manifest["keys"]).put(manifest)  # ... and killed here
    assert files(storage) and (instance / "restore-journal.json").exists()
    if own_key is not None:
        assert (instance / "biometric.key").read_bytes() != own_key
    result = target.test_cli_runner().invoke(restore_command, [str(archive)])
    assert result.exit_code == 0, result.output
    assert table_rows(target) == before_rows
    assert files(storage) == before_files  # originals/<uuid>, not originals/originals/<uuid>
    assert not (instance / "restore-journal.json").exists()
    assert not list(instance.rglob("*.before-restore")) and not list(instance.rglob("*.restoring"))
    from gatekeeper.extensions import db

    with target.app_context():
        assert audit.verify_chain(db.session).ok
