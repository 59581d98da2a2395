"""Backup and restore of the database, quarantine storage and instance keys as one tar.gz.

The database is written table by table as JSON lines from one consistent snapshot, so a backup of
SQLite restores into PostgreSQL and back. Restore goes into a migrated, empty database at the same
schema revision; it refuses a non-empty one rather than mixing two schools' histories. The archive
holds the biometric key (without it the face templates are useless): keep backups encrypted and
access-controlled like the live server (docs/deployment.md).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from pathlib import Path

from sqlalchemy import Engine, MetaData, create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

from gatekeeper.compliance.audit import AUDIT_ANCHOR_FILE, AUDIT_KEY_FILE
from gatekeeper.compliance.audit import key_path as audit_key_path
from gatekeeper.config import BIOMETRIC_KEY_FILE, SECRET_KEY_FILE

FORMAT = "gatekeeper-backup/1"
MANIFEST = "manifest.json"
# The instance's keys, and the signed anchor of the last verification: without the audit key and
# its anchor, a restored trail cannot be verified ("TAMPERED" on every keyed row).
KEY_FILES = (SECRET_KEY_FILE, BIOMETRIC_KEY_FILE, AUDIT_KEY_FILE, AUDIT_ANCHOR_FILE)
STORAGE_PREFIX = "storage/"
DB_PREFIX = "db/"
KEYS_PREFIX = "keys/"


class BackupError(RuntimeError):
    """The backup or restore cannot go ahead; nothing was changed."""


def key_file(instance: Path, key: str) -> Path:
    """Where the instance keeps this key: the audit key may live outside the instance folder
    (GATEKEEPER_AUDIT_KEY_FILE, as deployment advises), and is backed up and restored there."""
    return audit_key_path(instance) if key == AUDIT_KEY_FILE else Path(instance) / key


def encode(value):
    if isinstance(value, bytes):
        return {"$b64": base64.b64encode(value).decode()}
    if isinstance(value, dt.datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$d": value.isoformat()}
    return value


def decode(value):
    if isinstance(value, dict):
        if "$b64" in value:
            return base64.b64decode(value["$b64"])
        if "$dt" in value:
            return dt.datetime.fromisoformat(value["$dt"])
        if "$d" in value:
            return dt.date.fromisoformat(value["$d"])
    return value


def schema_revision(conn) -> str:
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar() or ""


def snapshot_engine(engine: Engine, workdir: Path) -> Engine:
    """An engine on a consistent copy (SQLite: the online backup API) or the live PostgreSQL."""
    if engine.dialect.name != "sqlite":
        return engine
    copy = workdir / "snapshot.db"
    source = sqlite3.connect(make_url(engine.url).database)
    try:
        with sqlite3.connect(copy) as target:
            source.backup(target)
    finally:
        source.close()
    return create_engine(f"sqlite:///{copy}")


def add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, int(dt.datetime.now().timestamp())
    archive.addfile(info, io.BytesIO(data))


def dump_tables(engine: Engine, metadata: MetaData, archive: tarfile.TarFile) -> tuple[str, dict]:
    counts = {}
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        revision = schema_revision(conn)
        for table in metadata.sorted_tables:
            lines = [json.dumps({k: encode(v) for k, v in r._mapping.items()})
                     for r in conn.execute(select(table))]
            counts[table.name] = len(lines)
            add_bytes(archive, f"{DB_PREFIX}{table.name}.jsonl", "\n".join(lines).encode())
    return revision, counts


def backup(engine: Engine, metadata: MetaData, storage_dir: Path, instance: Path,
           target: Path) -> dict:
    """Write the archive atomically (a crash leaves no half archive under the target name)."""
    target = Path(target).resolve()
    partial = target.with_name(f".{target.name}.partial")
    with tempfile.TemporaryDirectory() as work:
        source = snapshot_engine(engine, Path(work))
        try:
            with tarfile.open(partial, "w:gz") as archive:
                revision, counts = dump_tables(source, metadata, archive)
                files = add_storage(archive, Path(storage_dir))
                keys = [k for k in KEY_FILES if key_file(instance, k).is_file()]
                for key in keys:
                    add_bytes(archive, KEYS_PREFIX + key, key_file(instance, key).read_bytes())
                manifest = {"format": FORMAT, "revision": revision, "tables": counts,
                            "files": files, "keys": keys,
                            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
                add_bytes(archive, MANIFEST, json.dumps(manifest, indent=2).encode())
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        finally:
            if source is not engine:
                source.dispose()
    os.chmod(partial, 0o600)
    partial.replace(target)
    return manifest


def add_storage(archive: tarfile.TarFile, storage_dir: Path) -> int:
    count = 0
    if storage_dir.is_dir():
        for path in sorted(storage_dir.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                archive.add(path, STORAGE_PREFIX + path.relative_to(storage_dir).as_posix())
                count += 1
    return count


def read_manifest(archive: tarfile.TarFile) -> dict:
    try:
        manifest = json.loads(archive.extractfile(MANIFEST).read())
    except (KeyError, AttributeError, ValueError):
        raise BackupError("not a Gatekeeper backup (no manifest)") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"unknown backup format {manifest.get('format')!r}")
    return manifest


STAGING = ".restoring"  # in the storage folder: the archive's files until they are moved in
JOURNAL = "restore-journal.json"  # in the instance folder: what a restore under way has moved
BEFORE = ".before-restore"  # a key the restore replaced, kept until its rows are committed


def check_target(engine: Engine, manifest: dict, storage_dir: Path,
                 filled_table: str | None) -> None:
    with engine.connect() as conn:
        revision = schema_revision(conn)
        if revision != manifest["revision"]:
            raise BackupError(f"database is at schema {revision!r}, "
                              f"backup is {manifest['revision']!r}:"
                              " run `gatekeeper init` with the matching version first")
    if filled_table is not None:
        raise BackupError(f"database is not empty (table {filled_table}): restore needs a "
                          "freshly initialised database")
    if storage_dir.is_dir() and any(p.is_file() for p in storage_dir.rglob("*")):
        raise BackupError(f"storage folder {storage_dir} is not empty")
    # The keys a fresh `gatekeeper init` made encrypt and sign nothing yet (the database and the
    # storage folder are empty, as checked above): the backup's replace them.


def restore(engine: Engine, metadata: MetaData, storage_dir: Path, instance: Path,
            source: Path) -> dict:
    """Load an archive into an empty, migrated database and an empty storage folder: all of it
    or none. The files are written aside in the storage folder and the keys beside the
    instance's (a full disk fails there, with nothing touched); the rows go in one transaction,
    which commits only once the files and keys are in place. What was moved is journalled on
    disk first, so a failure, or a restore killed before its commit, is taken back: at once, or
    by the next restore. Before, a restore that failed after its rows were in left a database no
    restore would take again, with no originals and the wrong keys (and an audit trail that read
    as tampered)."""
    storage_dir, instance = Path(storage_dir), Path(instance)
    try:
        archive = tarfile.open(source, "r:gz")
    except (OSError, tarfile.TarError) as error:
        raise BackupError(f"cannot read {source}: {error}") from None
    with archive:
        manifest = read_manifest(archive)
        journal = Journal(storage_dir, instance, manifest["keys"])
        filled_table = first_filled_table(engine, metadata)
        journal.recover(filled_table is None)  # a restore killed before its commit: undone
        check_target(engine, manifest, storage_dir, filled_table)
        try:
            stage_files(archive, storage_dir / STAGING, instance, manifest)
            with engine.begin() as conn:  # all tables or none
                for table in metadata.sorted_tables:
                    member = archive.extractfile(f"{DB_PREFIX}{table.name}.jsonl")
                    rows = [{k: decode(v) for k, v in json.loads(line).items()}
                            for line in member.read().decode().splitlines() if line]
                    if rows:
                        conn.execute(insert(table), rows)
                reset_sequences(conn, metadata)
                journal.put(manifest)  # last: the commit follows
        except OSError as error:  # a full disk, a folder it may not write to
            journal.take_back()
            raise BackupError(f"nothing was restored: {error.strerror or error} while writing "
                              "the files; make room and run the restore again") from None
        except BaseException:
            journal.take_back()
            raise
        journal.done()
    return manifest


def first_filled_table(engine: Engine, metadata: MetaData) -> str | None:
    """The first table that holds a row (None: the database is as `init` made it)."""
    with engine.connect() as conn:
        return next((table.name for table in metadata.sorted_tables
                     if conn.execute(select(func.count()).select_from(table)).scalar()), None)


def staged_key(instance: Path, key: str) -> Path:
    path = key_file(instance, key)
    return path.with_name(path.name + ".restoring")


def stage_files(archive: tarfile.TarFile, staging: Path, instance: Path, manifest: dict) -> None:
    """The archive's stored files into `staging`, its keys beside the instance's (not yet in
    use): everything that needs disk space, before anything is changed."""
    for member in archive.getmembers():
        if member.isfile() and member.name.startswith(STORAGE_PREFIX):
            archive.extract(member, staging, filter="data")
    for key in manifest["keys"]:
        path = staged_key(instance, key)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(archive.extractfile(KEYS_PREFIX + key).read())


class Journal:
    """The staged files and keys moved into place (renames, within their folders), written down
    before each move, and how to take them back."""

    def __init__(self, storage_dir: Path, instance: Path, key_names: list[str]):
        self.storage_dir, self.instance, self.key_names = storage_dir, instance, key_names
        self.path = instance / JOURNAL
        self.moved: list[str] = []  # storage folders moved in
        self.keys: list[str] = []  # key files replaced (the old one kept as its BEFORE copy)

    def write(self) -> None:
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps({"moved": self.moved, "keys": self.keys}))
        partial.replace(self.path)

    def put(self, manifest: dict) -> None:
        files = self.storage_dir / STAGING / STORAGE_PREFIX.rstrip("/")
        for kind in sorted(files.iterdir()) if files.is_dir() else []:
            target = self.storage_dir / kind.name
            if target.is_dir():  # an empty folder (check_target found no file): replaced
                shutil.rmtree(target)
            self.moved.append(str(target))
            self.write()
            os.replace(kind, target)
        for key in manifest["keys"]:
            path = key_file(self.instance, key)
            self.keys.append(str(path))
            self.write()
            if path.exists():
                shutil.copy2(path, path.with_name(path.name + BEFORE))
            os.replace(staged_key(self.instance, key), path)

    def take_back(self) -> None:
        for target in self.moved:
            shutil.rmtree(target, ignore_errors=True)
        for name in self.keys:
            path = Path(name)
            before = path.with_name(path.name + BEFORE)
            if before.exists():
                os.replace(before, path)
            else:
                path.unlink(missing_ok=True)
        self.done()

    def done(self) -> None:
        """Committed (or taken back): the journal, the old keys and what was staged go."""
        for name in self.keys:
            Path(name).with_name(Path(name).name + BEFORE).unlink(missing_ok=True)
        for key in self.key_names:
            staged_key(self.instance, key).unlink(missing_ok=True)
        shutil.rmtree(self.storage_dir / STAGING, ignore_errors=True)
        self.path.unlink(missing_ok=True)
        self.moved, self.keys = [], []

    def recover(self, database_empty: bool) -> None:
        """A restore killed before its commit (the database still empty) is taken back; one
        killed after it only leaves its journal to clear."""
        if self.path.exists():
            written = json.loads(self.path.read_text() or "{}")
            self.moved, self.keys = written.get("moved", []), written.get("keys", [])
            if database_empty:
                self.take_back()
                return
        self.done()


def reset_sequences(conn, metadata: MetaData) -> None:
    """PostgreSQL ids continue after the restored rows (SQLite needs nothing)."""
    if conn.dialect.name != "postgresql":
        return
    for table in metadata.sorted_tables:
        if "id" in table.columns:
            conn.execute(text(
                f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM \"{table.name}\"), 0) + 1, false)"))
