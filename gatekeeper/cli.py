"""The `gatekeeper` command line: a stable contract (DESIGN.md). Bad input → one line, exit non-zero."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import select

from consent.models import School
from consent.services import RegisterError
from gatekeeper.extensions import db


class CommandError(click.ClickException):
    """One line on stderr and exit status 1."""

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def _create_app() -> Flask:
    from gatekeeper import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False,
             add_version_option=False)
def main() -> None:
    """Gatekeeper: the photo-consent gate for schools."""


def current_school(school_id: int | None) -> School:
    school = db.session.get(School, school_id) if school_id else db.session.scalar(
        select(School).order_by(School.id).limit(1)
    )
    if school is None:
        raise CommandError("no school found: run `gatekeeper init --demo` or create one first")
    return school


school_option = click.option("--school", "school_id", type=int, help="School id (default: the first).")


def parse_date(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"not a date (YYYY-MM-DD): {value}") from None


@main.command()
@click.option("--demo", is_flag=True, help="Seed a demo school with users, pupils and consents.")
@with_appcontext
def init(demo: bool) -> None:
    """Create or upgrade the database (and seed the demo school)."""
    from gatekeeper.setup import migrate_database, seed_demo

    migrate_database()
    click.echo("database is up to date")
    if demo:
        for line in seed_demo(db.session, current_app.config["INSTANCE"]):
            click.echo(line)


@main.command()
@click.option("--workers", default=2, show_default=True, help="Worker processes.")
def worker(workers: int) -> None:
    """Run the background worker (screening and publishing) in the foreground."""
    from gatekeeper.tasks import configure_queue, huey, worker_app

    configure_queue(worker_app())
    huey.create_consumer(workers=workers, worker_type="process", periodic=True).run()


@main.command()
@click.argument("photos", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--purpose", required=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line per photo.")
@school_option
@with_appcontext
def screen(photos, purpose: str, as_json: bool, school_id: int | None) -> None:
    """Screen photos against the register for a purpose."""
    from gatekeeper.crypto import app_cipher
    from gatekeeper.images import ImageRefused
    from gatekeeper.screening.engine import analyse_bytes
    from gatekeeper.screening.service import screen_analysis

    if purpose not in current_app.config["PURPOSES"]:
        raise CommandError(f"unknown purpose {purpose!r}; expected one of "
                           + ", ".join(current_app.config["PURPOSES"]))
    school, failures = current_school(school_id), 0
    for name in photos:
        try:
            analysis = analyse_bytes(Path(name).read_bytes())
        except (OSError, ImageRefused) as error:
            click.echo(f"error: {name}: {error}", err=True)
            failures += 1
            continue
        decisions, verdict = screen_analysis(db.session, school.id, analysis, purpose,
                                             dt.date.today(), app_cipher())
        faces = [
            {"box": f.box.as_list(), "status": d.status, "upn": d.upn,
             "distance": None if d.distance is None else round(float(d.distance), 4)}
            for f, d in zip(analysis.faces, decisions, strict=True)
        ]
        line = {"file": name, "purpose": purpose, "verdict": verdict, "faces": faces}
        click.echo(json.dumps(line) if as_json else f"{name}: {verdict} ({len(faces)} faces)")
    if failures:
        sys.exit(1)


@main.command()
@click.argument("source", type=click.Path(dir_okay=False))
@click.argument("target", type=click.Path(dir_okay=False))
def strip(source: str, target: str) -> None:
    """Write the sanitised JPEG of SOURCE to TARGET."""
    from gatekeeper.images import ImageRefused
    from gatekeeper.publishing.adapters import _write_atomically
    from gatekeeper.sanitise import sanitise

    try:
        clean = sanitise(Path(source).read_bytes())
        _write_atomically(Path(target).resolve(), clean)
    except (OSError, ImageRefused) as error:
        raise CommandError(f"{source}: {error}") from None
    click.echo(f"wrote {target} ({len(clean)} bytes, no metadata)")


@main.command()
@click.argument("upn")
@click.argument("photos", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--by", "by", default="command line", help="Who is enrolling.")
@school_option
@with_appcontext
def enrol(upn: str, photos, by: str, school_id: int | None) -> None:
    """Enrol reference faces for a pupil (all photos or none)."""
    from gatekeeper.enrolment import EnrolmentError, enrol_pupil

    school = current_school(school_id)
    try:
        added = enrol_pupil(db.session, school.id, upn, [Path(p) for p in photos], by)
        db.session.commit()
    except (EnrolmentError, RegisterError, OSError) as error:
        db.session.rollback()
        raise CommandError(str(error)) from None
    click.echo(f"enrolled {added} reference face(s) for {upn}")


@main.group()
def consent() -> None:
    """Consent records."""


@consent.command("set")
@click.argument("upn")
@click.argument("purpose")
@click.argument("status", type=click.Choice(["granted", "refused", "withdrawn"]))
@click.option("--expires", help="YYYY-MM-DD (default: 31 August of this academic year).")
@click.option("--by", "by", default="", help="Who gave or withdrew consent.")
@school_option
@with_appcontext
def consent_set(upn, purpose, status, expires, by, school_id) -> None:
    """Record consent for a pupil and purpose."""
    from gatekeeper.register.actions import set_consent

    school = current_school(school_id)
    try:
        set_consent(db.session, school.id, upn, purpose, status, given_by=by or "not recorded",
                    recorded_by="command line", expires_on=parse_date(expires), source="cli",
                    purposes=current_app.config["PURPOSES"])
        db.session.commit()
    except RegisterError as error:
        db.session.rollback()
        raise CommandError(str(error)) from None
    click.echo(f"{upn} {purpose}: {status}")


@main.group()
def nopublish() -> None:
    """The no-publish list."""


@nopublish.command("add")
@click.argument("upn")
@click.option("--reason", required=True, help="Note for the DSL.")
@click.option("--category", default="other", show_default=True)
@school_option
@with_appcontext
def nopublish_add(upn, reason, category, school_id) -> None:
    """Put a pupil on the no-publish list."""
    from gatekeeper.register.actions import add_nopublish

    school = current_school(school_id)
    try:
        add_nopublish(db.session, school.id, upn, category=category, note=reason,
                      added_by="command line")
        db.session.commit()
    except RegisterError as error:
        db.session.rollback()
        raise CommandError(str(error)) from None
    click.echo(f"{upn}: protected — do not publish")


@nopublish.command("remove")
@click.argument("upn")
@click.option("--reason", default="removed from the command line")
@school_option
@with_appcontext
def nopublish_remove(upn, reason, school_id) -> None:
    """Take a pupil off the no-publish list (the entry is kept as history)."""
    from gatekeeper.register.actions import remove_nopublish

    school = current_school(school_id)
    try:
        remove_nopublish(db.session, school.id, upn, removed_by="command line", reason=reason)
        db.session.commit()
    except RegisterError as error:
        db.session.rollback()
        raise CommandError(str(error)) from None
    click.echo(f"{upn}: removed from the no-publish list")


from gatekeeper.ops.commands import register as register_ops_commands  # noqa: E402

register_ops_commands(main)
