"""The command group and the options and helpers its families share. Bad input → one line, exit
non-zero."""

from __future__ import annotations

import datetime as dt

import click
from flask.cli import FlaskGroup
from sqlalchemy import select

from consent.models import School
from gatekeeper.app import create_app
from gatekeeper.extensions import db


class CommandError(click.ClickException):
    """One line on stderr and exit status 1."""

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


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


@click.group(cls=Commands, create_app=create_app, add_default_commands=False,
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


school_option = click.option("--school", "school_id", type=int,
                             help="School id (default: the first).")


def parse_date(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"not a date (YYYY-MM-DD): {value}") from None
