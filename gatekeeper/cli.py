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

from consent.clock import school_today
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


class Commands(FlaskGroup):
    """The command group: a usage error (bad choice, missing argument) is one line as well."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as error:
            one_line = CommandError(" ".join(error.format_message().split()))
            one_line.exit_code = error.exit_code
            raise one_line from None


@click.group(cls=Commands, create_app=_create_app, add_default_commands=False,
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
                                             school_today(), app_cipher())
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


@main.command("eval")
@click.argument("folder", type=click.Path(file_okay=False, exists=True))
@click.option("--labels", type=click.Path(dir_okay=False, exists=True),
              help="Labels JSON (default: FOLDER/labels.json).")
def evaluate_command(folder: str, labels: str | None) -> None:
    """Measure detection recall, leaks and auto-clear rate on a labelled folder."""
    from gatekeeper.screening.evaluate import LABELS_FILE, evaluate, format_report, load_labels

    labels_path = Path(labels) if labels else Path(folder) / LABELS_FILE
    try:
        report = evaluate(Path(folder), load_labels(labels_path))
    except (OSError, ValueError) as error:
        raise CommandError(str(error)) from None
    click.echo(format_report(report))
    if report.leaks:
        raise CommandError(f"{len(report.leaks)} leak(s): a protected or unknown person was cleared")


@main.command("eval-schools")
@click.argument("folder", type=click.Path(file_okay=False, exists=True))
@click.option("--pupils", default=1000, show_default=True, help="Enrolled pupils per school.")
@click.option("--protected", default=0.2, show_default=True, help="Share of pupils protected.")
@click.option("--event", "event_size", default=60, show_default=True, help="Pupils in an event.")
@click.option("--seed", default=0, show_default=True, help="Which pupils, events, protected.")
@click.option("--kinds", default="adults,families,children", show_default=True,
              help="Comma-separated sets to build schools from.")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False),
              help="Where analyses are cached (default: INSTANCE/eval-cache).")
@click.option("--no-sweep", is_flag=True, help="Skip the threshold sweep.")
@click.option("--cached-only", is_flag=True, help="Use only images already analysed.")
def evaluate_schools_command(folder, pupils, protected, event_size, seed, kinds, cache_dir,
                             no_sweep, cached_only) -> None:
    """Screen open-set schools built from labelled sets (FOLDER: the schools sets)."""
    from gatekeeper.config import instance_path
    from gatekeeper.screening.school_eval import run

    cache = Path(cache_dir) if cache_dir else instance_path() / "eval-cache"
    try:
        report = run(Path(folder), cache, pupils, protected, event_size, seed, not no_sweep,
                     tuple(k.strip() for k in kinds.split(",") if k.strip()),
                     progress=lambda line: click.echo(line, err=True), cached_only=cached_only)
    except (OSError, ValueError, KeyError) as error:
        raise CommandError(str(error)) from None
    click.echo(report)


from gatekeeper.ops.commands import register as register_ops_commands  # noqa: E402

register_ops_commands(main)

from gatekeeper.register.commands import register as register_register_commands  # noqa: E402

register_register_commands(main)

from gatekeeper.people.commands import register as register_people_commands  # noqa: E402

register_people_commands(main)
