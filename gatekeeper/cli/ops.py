"""Operator commands: init, worker, audit verify, purge, sar, erase, backup, restore, recover."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from consent.importer import LEAVER_GRACE_DAYS
from consent.services import RegisterError
from gatekeeper.cli.base import CommandError, command_app, current_school, school_option
from gatekeeper.compliance.audit import (
    AUDIT_ANCHOR_FILE,
    AnchorForged,
    anchor_externally,
    app_key,
    read_signed_anchor,
    sign_anchor,
    verify_chain,
)
from gatekeeper.compliance.backup import BackupError, backup, restore
from gatekeeper.compliance.crypto import app_cipher
from gatekeeper.compliance.retention import DEFAULT_REJECTED_RETENTION_DAYS, purge
from gatekeeper.compliance.sar import ERASURE_KEEPS, erase_pupil, export_pupil
from gatekeeper.extensions import db
from gatekeeper.ops.keys import key_problem
from gatekeeper.ops.setup import migrate_database, seed_demo
from gatekeeper.screening.embed import EmbedderMissing
from gatekeeper.screening.reembed import re_embed_references
from gatekeeper.storage import app_storage
from gatekeeper.worker.queue import IDLE_POLL_MAX_S, huey
from gatekeeper.worker.recovery import STALLED_AFTER
from gatekeeper.worker.tasks import requeue_stalled


def read_anchor(path: Path, key: bytes) -> tuple[int, str] | None:
    return read_signed_anchor(key, path.read_text()) if path.is_file() else None


def write_anchor(path: Path, key: bytes, ident: int, digest: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(sign_anchor(key, ident, digest) + "\n")
    partial.replace(path)


@click.command()
@click.option("--demo", is_flag=True, help="Seed a demo school with users, pupils and consents.")
@with_appcontext
def init(demo: bool) -> None:
    """Create or upgrade the database (and seed the demo school)."""
    migrate_database()
    if problem := key_problem(db.session, current_app.config["INSTANCE"]):
        raise CommandError(problem)
    click.echo("database is up to date")
    try:
        embedded = re_embed_references(db.session, app_cipher())
    except EmbedderMissing as error:
        raise CommandError(str(error)) from None
    db.session.commit()
    if embedded.done or embedded.left:
        click.echo(f"reference faces re-embedded: {embedded.done}; left with dlib's encoding "
                   f"alone: {embedded.left}")
    if demo:
        for line in seed_demo(db.session, current_app.config["INSTANCE"]):
            click.echo(line)


@click.command()
@click.option("--workers", default=2, show_default=True, help="Worker processes.")
def worker(workers: int) -> None:
    """Run the background worker (screening and publishing) in the foreground."""
    app = command_app()  # points the queue at the instance's storage; each builds its own app
    with app.app_context():
        if problem := key_problem(db.session, app.config["INSTANCE"]):
            raise CommandError(problem)
    # The worker's own lines (each photo screened, each post published, Huey's start and its
    # periodic tasks) reach the service's journal, not only warnings.
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    huey.create_consumer(workers=workers, worker_type="process", periodic=True,
                         max_delay=IDLE_POLL_MAX_S).run()


@click.group("audit")
def audit_group() -> None:
    """The tamper-evident audit trail."""


@audit_group.command("verify")
@with_appcontext
def audit_verify() -> None:
    """Recompute the hash chain; exit 1 naming every edited, inserted or deleted row."""

    instance, key = Path(current_app.config["INSTANCE"]), app_key()
    anchor_path = instance / AUDIT_ANCHOR_FILE
    try:
        anchor = read_anchor(anchor_path, key)
    except AnchorForged as forged:
        raise CommandError(f"audit trail not verified: {forged}") from None
    report = verify_chain(db.session, anchor, key)
    if not report.ok:
        for problem in report.problems:
            click.echo(f"TAMPERED {problem}", err=True)
        raise CommandError(f"audit trail broken: {len(report.problems)} problem(s) "
                            f"in {report.rows} rows, first at {report.problems[0].split(':')[0]}")
    if report.rows:
        write_anchor(anchor_path, key, report.last_id, report.last_hash)
        anchor_externally(instance, report.last_id, report.last_hash)
    click.echo(f"audit trail intact: {report.rows} rows, last {report.last_id} "
               f"(head {report.last_hash[:16]})")


@click.command("purge")
@click.option("--days", type=int, help="Unreleased originals older than this (default: config).")
@click.option("--rejected-days", type=int, help="Rejected originals older than this.")
@with_appcontext
def purge_command(days: int | None, rejected_days: int | None) -> None:
    """Apply the retention rules now (the worker also does this daily)."""

    config = current_app.config
    try:
        report = purge(db.session, app_storage(), days or int(config["RETENTION_DAYS"]),
                       rejected_days if rejected_days is not None else int(
                           config.get("REJECTED_RETENTION_DAYS", DEFAULT_REJECTED_RETENTION_DAYS)),
                       grace_days=int(config.get("LEAVER_GRACE_DAYS", LEAVER_GRACE_DAYS)))
    except ValueError as error:
        raise CommandError(str(error)) from None
    click.echo(report.line())


@click.command("sar")
@click.argument("upn")
@click.argument("target", type=click.Path(dir_okay=False))
@school_option
@with_appcontext
def sar_command(upn: str, target: str, school_id: str | None) -> None:
    """Write a subject access export (zip) of everything held about one pupil."""

    try:
        counts = export_pupil(db.session, app_storage(), current_school(school_id).id, upn,
                              Path(target))
    except (RegisterError, OSError) as error:
        db.session.rollback()
        raise CommandError(str(error)) from None
    click.echo(f"wrote {target}: " + " ".join(f"{k}={v}" for k, v in counts.items()))


@click.command("erase")
@click.argument("upn")
@click.option("--yes", is_flag=True, help="Confirm: this cannot be undone.")
@school_option
@with_appcontext
def erase_command(upn: str, yes: bool, school_id: str | None) -> None:
    """Erase a pupil on request (biometrics, unreleased photos, name); keeps what the law needs."""

    if not yes:
        raise CommandError("erasure cannot be undone: add --yes to confirm")
    try:
        done = erase_pupil(db.session, app_storage(), current_school(school_id).id, upn)
    except RegisterError as error:
        db.session.rollback()
        raise CommandError(str(error)) from None
    click.echo(f"erased {upn}: " + " ".join(f"{k}={v}" for k, v in done.items()))
    click.echo("kept: " + "; ".join(ERASURE_KEEPS))


@click.command("backup")
@click.argument("target", type=click.Path(dir_okay=False))
@with_appcontext
def backup_command(target: str) -> None:
    """Back up the database, storage and keys into TARGET (.tar.gz)."""

    config = current_app.config
    try:
        manifest = backup(db.engine, db.metadata, config["STORAGE_DIR"], config["INSTANCE"],
                          Path(target))
    except (BackupError, OSError) as error:
        raise CommandError(str(error)) from None
    rows = sum(manifest["tables"].values())
    click.echo(f"wrote {target}: {rows} rows, {manifest['files']} files, "
               f"schema {manifest['revision']}")


@click.command("restore")
@click.argument("source", type=click.Path(dir_okay=False, exists=True))
@with_appcontext
def restore_command(source: str) -> None:
    """Restore SOURCE into a freshly initialised, empty instance."""

    config = current_app.config
    try:
        manifest = restore(db.engine, db.metadata, config["STORAGE_DIR"], config["INSTANCE"],
                           Path(source))
    except (BackupError, OSError) as error:
        raise CommandError(str(error)) from None
    click.echo(f"restored {sum(manifest['tables'].values())} rows and {manifest['files']} files "
               f"from {manifest['created_at']}")


@click.command("recover")
@click.option("--stalled-after", type=int, default=None, help="Seconds (default: 300).")
@with_appcontext
def recover_command(stalled_after: int | None) -> None:
    """Queue again any screening left in flight by a stopped worker."""

    after = STALLED_AFTER if stalled_after is None else dt.timedelta(seconds=stalled_after)
    click.echo(f"queued again: photos={requeue_stalled(db.session, after)}")


def register(main: click.Group) -> None:
    for command in (init, worker, audit_group, purge_command, sar_command, erase_command,
                    backup_command, restore_command, recover_command):
        main.add_command(command)

