"""The register's commands: `pupils import`, `consent set`, `nopublish add|remove` (DESIGN.md).

Every change goes through gatekeeper.register.actions (audit, takedown); bad input is one line on
stderr and a non-zero exit, with nothing written.
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from consent import rules, services
from consent.clock import school_today
from consent.importer import ImportRefused
from consent.services import RegisterError
from gatekeeper.cli.base import (
    CommandError,
    check_by,
    current_school,
    parse_date,
    regular_file,
    school_option,
)
from gatekeeper.extensions import db
from gatekeeper.register import actions


def commit_or_fail(change) -> None:
    """Run `change`, commit it, or roll back and exit with its one-line error."""
    try:
        change()
        db.session.commit()
    except RegisterError as error:
        db.session.rollback()
        raise CommandError(str(error)) from None


@click.group()
def pupils() -> None:
    """Pupils from the MIS."""


def report_plan(plan, file: str) -> None:
    """Print each error of an import's plan and refuse it whole if there is any (rolled back,
    nothing imported); else print what it changes, a line each."""
    for error in plan.errors:
        click.echo(str(error))
    if plan.errors:
        db.session.rollback()
        raise CommandError(f"{len(plan.errors)} problem(s) in {file}; nothing was imported")
    for line in plan.lines():
        click.echo(line)


def leavers_refusal(plan) -> str:
    """The import safeguard's refusal in the command line's own terms (the web's page asks for
    the number to be typed): the option for a whole-school export, and the one for a part."""
    n, on_roll = len(plan.leaving), plan.on_roll
    over = f" (more than {plan.leaver_limit:.0%})" if plan.leavers_need_confirmation else ""
    why = (f"this file would make {n} of {on_roll} pupils leavers{over}: if it is a whole-school "
           f"export, add --confirm-leavers {n}; if it is one class or year group, add --partial")
    if plan.confirmed_leavers is None:
        return why
    return f"{plan.confirmed_leavers} leavers were confirmed but {why}"


@pupils.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check and report; change nothing.")
@click.option("--partial", is_flag=True,
              help="Not the whole school: pupils missing from the file are left as they are.")
@click.option("--confirm-leavers", "confirm_leavers", type=click.IntRange(min=0), metavar="N",
              help="A whole-school export that makes N pupils leavers: confirm N (needed when "
                   "more than the leaver share limit of the roll would leave).")
@school_option
@with_appcontext
def pupils_import(file: str, dry_run: bool, partial: bool, confirm_leavers: int | None,
                  school_id: str | None) -> None:
    """Import an MIS export (CSV): one line per change or error, then a summary."""
    path = regular_file(file)
    school = current_school(school_id)
    limit, grace_days = actions.import_settings(current_app.config)
    try:
        data = path.read_bytes()
        plan = actions.import_pupils(
            db.session, school.id, data, purposes=current_app.config["PURPOSES"],
            today=school_today(), full=not partial, apply=not dry_run, actor="command line",
            confirmed_leavers=confirm_leavers, leaver_limit=limit,
        )
    except (OSError, ImportRefused) as error:
        db.session.rollback()
        raise CommandError(f"{file}: {error}") from None
    report_plan(plan, file)
    for line in plan.warnings():
        click.echo(f"check: {line}")
    if plan.refused:
        db.session.commit()  # only the refusal's audit event (none in a dry run)
        would = "would be refused" if dry_run else "refused"
        raise CommandError(f"{file} {would}: {leavers_refusal(plan)}; nothing was imported")
    if dry_run:
        db.session.rollback()
        click.echo(f"dry run, nothing changed: {plan.summary()}")
    else:
        db.session.commit()
        if plan.batch_id is not None:
            click.echo(f"import {plan.batch_id}: undo within {grace_days} days with "
                       f"`gatekeeper pupils undo-import {plan.batch_id}`")
        click.echo(f"imported: {plan.summary()}")


@pupils.command("import-contacts")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check and report; change nothing.")
@school_option
@with_appcontext
def pupils_import_contacts(file: str, dry_run: bool, school_id: str | None) -> None:
    """Import guardians from a SIMS or Arbor contacts export (CSV): one line per change or error."""
    path = regular_file(file)
    school = current_school(school_id)
    try:
        plan = actions.import_contacts(db.session, school.id, path.read_bytes(),
                                       apply=not dry_run, actor="command line")
    except (OSError, ImportRefused) as error:
        db.session.rollback()
        raise CommandError(f"{file}: {error}") from None
    report_plan(plan, file)
    if dry_run:
        db.session.rollback()
        click.echo(f"dry run, nothing changed: {plan.summary()}")
    else:
        db.session.commit()
        click.echo(f"imported: {plan.summary()}")


@pupils.command("undo-import")
@click.argument("batch_id", type=int, metavar="BATCH_ID")
@school_option
@with_appcontext
def pupils_undo_import(batch_id: int, school_id: str | None) -> None:
    """Undo an applied import within the grace period: leavers back with their faces."""
    school = current_school(school_id)
    _limit, grace_days = actions.import_settings(current_app.config)
    undone = []
    commit_or_fail(lambda: undone.append(actions.undo_import(
        db.session, school.id, batch_id, today=school_today(), grace_days=grace_days,
        actor="command line",
    )))
    result = undone[0]
    click.echo(f"import {batch_id} undone: {len(result.restored)} pupil(s) back on roll with "
               f"{sum(n for _, n in result.restored)} reference face(s), "
               f"{len(result.removed) + len(result.left_again)} off roll again, "
               f"{result.reverted} pupil(s)' details put back, {result.records} consent "
               "record(s) removed")


@click.group()
def consent() -> None:
    """Consent records."""


@consent.command("set")
@click.argument("upn")
@click.argument("purpose")
@click.argument("status", type=click.Choice(rules.STATUSES), metavar="STATUS")
@click.option("--expires", help="YYYY-MM-DD (default: 31 August of this academic year).")
@click.option("--by", "by", default="", callback=check_by, help="Who gave or withdrew consent.")
@school_option
@with_appcontext
def consent_set(upn, purpose, status, expires, by, school_id) -> None:
    """Record consent for a pupil and purpose."""
    school, expires_on = current_school(school_id), parse_date(expires)
    commit_or_fail(lambda: actions.set_consent(
        db.session, school.id, upn, purpose, status, given_by=by or "not recorded",
        recorded_by="command line", expires_on=expires_on, source="cli",
        purposes=current_app.config["PURPOSES"],
    ))
    click.echo(f"{upn} {purpose}: {status}")


@consent.command("biometric")
@click.argument("upn")
@click.argument("status", type=click.Choice(("granted", "objected", "withdrawn")),
                metavar="granted|objected|withdrawn")
@click.option("--by", "by", required=True, callback=check_by,
              help="Who gave it in writing (a parent), or the pupil who objects.")
@click.option("--pupil", "by_pupil", is_flag=True, help="The pupil themself objects.")
@click.option("--form-date", help="The date on the written form (YYYY-MM-DD).")
@click.option("--evidence", default="", help="Where the written form is kept.")
@school_option
@with_appcontext
def consent_biometric(upn, status, by, by_pupil, form_date, evidence, school_id) -> None:
    """Record written biometric consent (Protection of Freedoms Act 2012), or an objection or
    withdrawal: anything but consent deletes the pupil's reference faces at once."""
    school, form_day = current_school(school_id), parse_date(form_date)

    def record() -> None:
        pupil = services.find_pupil(db.session, school.id, upn)
        actions.record_biometric(
            db.session, pupil, status, actor="command line", given_by=by,
            relationship="pupil" if by_pupil else "parent", form_date=form_day,
            evidence_ref=evidence[:200], recorded_by="command line")

    commit_or_fail(record)
    click.echo(f"{upn} biometric consent: {status}")


@click.group()
def nopublish() -> None:
    """The no-publish list."""


@nopublish.command("add")
@click.argument("upn")
@click.option("--reason", required=True, help="Note for the DSL.")
@click.option("--category", default="other", show_default=True,
              type=click.Choice(rules.NOPUBLISH_CATEGORIES))
@school_option
@with_appcontext
def nopublish_add(upn, reason, category, school_id) -> None:
    """Put a pupil on the no-publish list."""
    school = current_school(school_id)
    commit_or_fail(lambda: actions.add_nopublish(
        db.session, school.id, upn, category=category, note=reason, added_by="command line",
    ))
    click.echo(f"{upn}: protected — do not publish")


@nopublish.command("remove")
@click.argument("upn")
@click.option("--reason", default="removed from the command line")
@school_option
@with_appcontext
def nopublish_remove(upn, reason, school_id) -> None:
    """Take a pupil off the no-publish list (the entry is kept as history)."""
    school = current_school(school_id)
    commit_or_fail(lambda: actions.remove_nopublish(
        db.session, school.id, upn, removed_by="command line", reason=reason,
    ))
    click.echo(f"{upn}: removed from the no-publish list")


def register(main: click.Group) -> None:
    for group in (pupils, consent, nopublish):
        main.add_command(group)
