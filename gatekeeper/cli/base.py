"""The command group and the options and helpers its families share. Bad input → one line, exit
non-zero."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import click
from flask import Flask
from flask.cli import FlaskGroup, NoAppException
from sqlalchemy import inspect, select
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from consent.models import ConsentRecord, ReferenceFace, School
from gatekeeper.app import create_app
from gatekeeper.config import instance_path
from gatekeeper.extensions import db
from gatekeeper.models import AuditEvent
from gatekeeper.people import schools

# The commands that create the database (`init`, and Flask-Migrate's `db`); every other command
# that opens it needs it set up first.
SETS_UP_DATABASE = ("init", "db")
MIGRATIONS_TABLE = "alembic_version"  # written by `gatekeeper init` (migrate_database)
NOT_SET_UP = "the database is not set up: run `gatekeeper init`"
# --by is kept as who gave consent (consent set) or who enrolled (enrol: the reference faces and
# the audit event's actor): no longer than the shortest of those columns.
BY_MAX_CHARS = min(column.type.length for column in (
    ConsentRecord.given_by, ReferenceFace.created_by, AuditEvent.actor))


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


def running_command() -> str | None:
    """The top-level command being run (`init`, `consent`...); None while click lists them."""
    ctx = click.get_current_context(silent=True)
    while ctx is not None and ctx.parent is not None and ctx.parent.parent is not None:
        ctx = ctx.parent
    return ctx.command.name if ctx is not None and ctx.parent is not None else None


def command_app() -> Flask:
    """The app a command runs in, or one line saying why there is none: an instance folder or a
    DATABASE_URL that cannot be used, a database not set up. (While --help lists the commands,
    Flask prints that line and lists them.)"""
    command = running_command()
    try:
        app = build_app()
        if command is not None:
            check_database(app, set_up=command not in SETS_UP_DATABASE)
    except CommandError as error:
        if command is None:
            raise NoAppException(error.format_message()) from None
        raise
    return app


def build_app() -> Flask:
    try:
        return create_app()
    except ArgumentError:  # NoSuchModuleError too; the URL itself is not repeated (a password)
        scheme = os.environ.get("DATABASE_URL", "").partition(":")[0]
        raise CommandError(f"DATABASE_URL is not a database URL gatekeeper can use ({scheme!r}):"
                           " e.g. sqlite:////path/to/gatekeeper.db or "
                           "postgresql+psycopg://user@host/name") from None
    except ModuleNotFoundError as error:
        raise CommandError(f"cannot load {error.name}: is the driver for DATABASE_URL "
                           "installed?") from None
    except OSError as error:
        folder = instance_path()
        if folder.exists() and not folder.is_dir():
            raise CommandError(f"the instance folder {folder} (GATEKEEPER_INSTANCE) is a file, "
                               "not a folder") from None
        raise CommandError(f"cannot use the instance folder {folder} (GATEKEEPER_INSTANCE): "
                           f"{error.strerror or error}") from None


def check_database(app: Flask, *, set_up: bool) -> None:
    """Refuse a database that cannot be opened or (unless `set_up` is False) is not set up, in
    one line. A SQLite file is looked at before connecting, which would create it empty."""
    with app.app_context():
        engine = db.engine
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") \
            and not url.query.get("uri"):
        path = Path(url.database)
        if not path.parent.is_dir():
            raise CommandError(f"the database's folder {path.parent} does not exist "
                               "(DATABASE_URL)")
        if path.exists() and not path.is_file():
            raise CommandError(f"the database {path} is not a file (DATABASE_URL)")
        if not path.exists():
            if set_up:
                raise CommandError(NOT_SET_UP)
            return
    try:
        with engine.connect() as connection:
            ready = inspect(connection).has_table(MIGRATIONS_TABLE)
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()
        raise CommandError(f"cannot open the database: {reason[0] if reason else 'unknown'}") \
            from None
    if set_up and not ready:
        raise CommandError(NOT_SET_UP)


@click.group(cls=Commands, create_app=command_app, add_default_commands=False,
             add_version_option=False)
def main() -> None:
    """Gatekeeper: the photo-consent gate for schools."""


def current_school(school: str | None) -> School:
    """The school a command acts on: the one named by its URN (or, as before, its number), or
    the only one. With several schools and none named, refuse: a register change must never go
    to whichever school happens to be first (a demo school beside a real one)."""
    if school:
        found = schools.school_by_urn(db.session, school)
        if found is None and school.strip().isdigit():
            found = db.session.get(School, int(school))
        if found is None:
            raise CommandError(f"no school with URN {school}: see `gatekeeper school list`")
        return found
    found = list(db.session.scalars(select(School).order_by(School.id).limit(2)))
    if not found:
        raise CommandError("no school yet: add one with `gatekeeper school add --name ... --urn "
                           "...` (or `gatekeeper init --demo` for the demo school)")
    if len(found) > 1:
        raise CommandError("there are several schools: say which with --school URN (see "
                           "`gatekeeper school list`)")
    return found[0]


school_option = click.option("--school", "school_id", metavar="URN",
                             help="The school's URN (needed when there are several).")


def parse_date(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"not a date (YYYY-MM-DD): {value}") from None


def check_by(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """--by's callback: refuse a name longer than its columns hold (PostgreSQL would fail with a
    traceback, SQLite keep it whole, `consent set` used to cut it short)."""
    if value is not None and len(value) > BY_MAX_CHARS:
        raise click.BadParameter(f"at most {BY_MAX_CHARS} characters (this one has "
                                 f"{len(value)})")
    return value


def regular_file(name: str) -> Path:
    """An input file, refused in one line unless it is a regular file (after symlinks) before
    anything reads it: a named pipe would block the read forever, a device might never end."""
    path = Path(name)
    try:
        mode = path.stat().st_mode
    except OSError as error:
        raise CommandError(f"{name}: {error.strerror or error}") from None
    if not stat.S_ISREG(mode):
        raise CommandError(f"{name}: not a regular file")
    return path


def output_file(name: str) -> Path:
    """Where a command writes a file (absolute), refused in one line unless it names a file in a
    folder that exists."""
    path = Path(name)
    if not name or name.endswith(("/", os.sep)) or path.name in ("", ".", ".."):
        raise CommandError(f"the output must be a file path, not {name!r}")
    if not path.parent.is_dir():
        missing = "is not a folder" if path.parent.exists() else "does not exist"
        raise CommandError(f"{name}: the folder {path.parent} {missing}")
    return path.resolve()
