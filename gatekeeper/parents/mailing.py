"""Parent links by email and on paper: to one guardian, a year group, or everyone whose consent is
due for renewal (a renewal round), reminders, and the notice that a photo has been taken down.

The web and the command line choose the guardians and queue one task per guardian with an email
address; the worker issues the link (a new one replaces the old), commits, then sends it, so the
token exists only in the message. Guardians without an address get a printed letter with the link
as a QR code. Every message is audited without its link (people/emails.deliver).
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
from collections.abc import Iterable
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from consent import rules, services
from consent.models import ConsentRecord, Guardian, Pupil, School, utcnow
from gatekeeper.compliance import audit
from gatekeeper.extensions import db
from gatekeeper.models import Takedown, User
from gatekeeper.parents.links import link_days, make_token
from gatekeeper.people.emails import MailNotSent, deliver
from gatekeeper.people.links import base_url
from gatekeeper.people.mail import MailNotConfigured, mail_settings
from gatekeeper.publishing.service import may_still_arrive
from gatekeeper.states import TakedownState

log = logging.getLogger(__name__)
KINDS = ("guardian", "year", "renewal")
MAX_ROUND = 5000  # guardians in one round: a whole school of 2,000 pupils has fewer


class RoundError(ValueError):
    """A round that cannot be sent; the message is fit to show."""


class TakedownNotDone(Exception):
    """A post the notice is about is still being taken down: the task tries again later."""


@dataclass
class Round:
    """The guardians a round reaches: by email, or on a printed letter."""

    kind: str
    emailed: list[Guardian] = field(default_factory=list)
    letters: list[Guardian] = field(default_factory=list)


def choose_guardians(session: Session, school_id: int, kind: str, *, on: dt.date,
                     purposes: Iterable[str], year_group: str = "",
                     guardian_id: int | None = None, days: int = 30,
                     reminder: bool = False) -> list[Guardian]:
    """The guardians of pupils on roll that a round is for; a reminder only those whose answer
    the school still waits for (it tells them so)."""
    if kind not in KINDS:
        raise RoundError(_("Choose one guardian, a year group or the renewal round."))
    on_roll = select(Pupil.id).where(Pupil.school_id == school_id, Pupil.left_on.is_(None))
    if kind == "guardian":
        pupils = on_roll
        query = select(Guardian).where(Guardian.id == (guardian_id or 0))
    elif kind == "year":
        if not year_group:
            raise RoundError(_("Choose a year group."))
        pupils = on_roll.where(Pupil.year_group == year_group)
        query = select(Guardian)
    else:
        due = [pupil.id for pupil, _records in services.renewals_due(session, school_id, purposes,
                                                                      on, days)]
        pupils = on_roll.where(Pupil.id.in_(due))
        query = select(Guardian)
    # Consent is asked of those with parental responsibility: a contact the MIS says has none (a
    # childminder, say) gets no link. Unknown (no such column in the export) counts as having it.
    chosen = list(session.scalars(query.where(Guardian.school_id == school_id,
                                              Guardian.pupil_id.in_(pupils),
                                              Guardian.parental_responsibility.is_not(False))
                                  .order_by(Guardian.pupil_id, Guardian.id).limit(MAX_ROUND + 1)))
    if len(chosen) > MAX_ROUND:
        raise RoundError(_("A round reaches at most %(n)d guardians.", n=MAX_ROUND))
    if not chosen:
        raise RoundError(_("Nobody to send to: no guardian of a pupil on roll matches."))
    if reminder and not (chosen := awaiting_answer(session, chosen, purposes, on, days)):
        raise RoundError(_("Nobody to remind: every parent or carer in this round has answered."))
    return chosen


def awaiting_answer(session: Session, guardians: list[Guardian], purposes: Iterable[str],
                    on: dt.date, days: int) -> list[Guardian]:
    """The guardians the school still waits to hear from for some purpose."""
    purposes = tuple(purposes)
    facts = services.consent_facts(session.scalars(select(ConsentRecord).where(
        ConsentRecord.guardian_id.in_([guardian.id for guardian in guardians]))))
    return [guardian for guardian in guardians if rules.answer_awaited(
        facts, services.guardian_giver(guardian), purposes, on, days)]


def emailable(guardian: Guardian) -> bool:
    """An address to email, which the mail server has not refused for good (else a letter)."""
    return bool(guardian.email) and guardian.email_failed_at is None


def plan_round(session: Session, school_id: int, kind: str, guardians: list[Guardian],
               actor: User | str, reminder: bool = False, by_email: bool = True) -> Round:
    """Split the guardians into email and letter (every one a letter when the school sends no
    email), and audit the round (counts only)."""
    round_ = Round(kind=kind)
    for guardian in guardians:
        (round_.emailed if by_email and emailable(guardian) else round_.letters).append(guardian)
    audit.record(session, "parent_links_round", school_id=school_id, actor=actor, detail={
        "kind": kind, "reminder": reminder, "emailed": len(round_.emailed),
        "letters": len(round_.letters)})
    return round_


def issue_link(session: Session, guardian: Guardian, actor: User | str) -> str:
    """A new link for the guardian (the earlier one stops working): its full address."""
    services.issue_link_nonce(guardian)
    audit.record(session, "parent_link_issued", school_id=guardian.school_id, actor=actor,
                 subject=guardian, detail={"pupil_id": guardian.pupil_id})
    return parent_url(make_token(guardian))


def parent_url(token: str) -> str:
    return f"{base_url(current_app.config)}/parent/{token}"


def mail_parent_link(guardian_id: int, reminder: bool = False) -> str:
    """The worker: a fresh link, committed, then sent in the school's language."""
    try:
        mail_settings(current_app.config)
    except MailNotConfigured:
        return "mail not configured"
    guardian = db.session.get(Guardian, guardian_id)
    pupil = db.session.get(Pupil, guardian.pupil_id) if guardian else None
    if guardian is None or not guardian.email or pupil is None or pupil.left_on is not None:
        return "no message"
    if guardian.parental_responsibility is False:  # the MIS said so after the round was queued
        return "no message"
    earlier = (guardian.link_nonce, guardian.link_issued_at)
    link, ours = issue_link(db.session, guardian, "worker"), guardian.link_nonce
    db.session.commit()
    school = db.session.get(School, guardian.school_id)
    with force_locale(school.language):
        subject = (_("Reminder: photo consent for %(name)s at %(school)s", name=pupil.first_name,
                     school=school.name) if reminder else
                   _("Photo consent for %(name)s at %(school)s", name=pupil.first_name,
                     school=school.name))
        try:
            deliver("parent_reminder" if reminder else "parent_link", guardian.email,
                    school.language, school.id, subject, "parent_link", guardian=guardian,
                    pupil=pupil, school=school, link=link, days=link_days(), reminder=reminder)
        except MailNotSent as failed:
            if not refused_for_good(failed.error):
                keep_earlier_link(db.session, guardian_id, ours, earlier)
                raise  # the task's retries try again
            address_refused(db.session, guardian)
            db.session.commit()
            return "address refused"
    return "sent"


def keep_earlier_link(session: Session, guardian_id: int, unsent: str,
                      earlier: tuple[str | None, dt.datetime | None]) -> None:
    """A link that could not be sent for now must not stop the one the guardian holds: theirs
    works again, unless another link was issued meanwhile (commits)."""
    session.execute(update(Guardian).where(Guardian.id == guardian_id,
                                           Guardian.link_nonce == unsent)
                    .values(link_nonce=earlier[0], link_issued_at=earlier[1])
                    .execution_options(synchronize_session=False))
    session.commit()


def refused_for_good(error: Exception) -> bool:
    """The mail server refused the address itself (a 5xx answer), not for now."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _message in error.recipients.values())
    return isinstance(error, smtplib.SMTPResponseException) and error.smtp_code >= 500


def address_refused(session: Session, guardian: Guardian) -> None:
    """The link never reached them: it stops (nobody holds it), and the office sees that a letter
    is needed (the pupil's page, and every round's letters) until the address changes."""
    guardian.email_failed_at = utcnow()
    guardian.link_nonce, guardian.link_issued_at = None, None
    audit.record(session, "parent_email_refused", school_id=guardian.school_id, actor="worker",
                 subject=guardian, detail={"pupil_id": guardian.pupil_id})


def owe_takedown_notice(session: Session, guardian: Guardian, post_ids: Iterable[int]) -> int:
    """Mark the takedowns of the posts a guardian's "no" pulled as owing them a notice, in the
    answer's own transaction: a queue that is down loses no notice (the sweep sends it). Posts
    that were never handed to a publisher need no takedown, and no notice."""
    owed = list(session.scalars(select(Takedown).where(
        Takedown.post_id.in_(list(post_ids)), Takedown.notify_guardian_id.is_(None))))
    for takedown in owed:
        takedown.notify_guardian_id = guardian.id
    return len(owed)


def owed_notices(session: Session, guardian_id: int) -> list[Takedown]:
    return list(session.scalars(select(Takedown).where(
        Takedown.notify_guardian_id == guardian_id, Takedown.notified_at.is_(None))
        .order_by(Takedown.id)))


def claim_notices(session: Session, ids: list[int], now: dt.datetime | None) -> bool:
    """Mark the takedowns' notices as told (None: as owed again), only if nobody else did it
    first; commits (or rolls back)."""
    was = Takedown.notified_at.is_(None) if now is not None else Takedown.notified_at.is_not(None)
    done = session.execute(update(Takedown).where(Takedown.id.in_(ids), was)
                           .values(notified_at=now).execution_options(synchronize_session=False))
    if done.rowcount != len(ids):
        session.rollback()
        return False
    session.commit()
    return True


def mail_takedown_notice(guardian_id: int) -> str:
    """Tell a guardian that every post their "no" pulled is down, once all of them are: raises
    TakedownNotDone while one is still under way (the task retries; the sweep comes back). Only
    those posts: a post withdrawn meanwhile for another reason (another parent's answer, the
    no-publish list) is none of their business. Told once, whoever sends it first."""
    try:
        mail_settings(current_app.config)
    except MailNotConfigured:
        return "mail not configured"
    owed = owed_notices(db.session, guardian_id)
    if not owed:
        return "nothing owed"
    now = utcnow()  # a post still on its way to the publisher may arrive after its takedown
    if undone := next((t.id for t in owed if t.state != TakedownState.DONE
                       or may_still_arrive(t.post, now)), None):
        raise TakedownNotDone(f"takedown {undone} still under way")
    guardian = db.session.get(Guardian, guardian_id)
    pupil = db.session.get(Pupil, guardian.pupil_id)
    accounts, ids = sorted({t.post.account.label for t in owed}), [t.id for t in owed]
    if not claim_notices(db.session, ids, now):
        return "told already"
    if not emailable(guardian):  # removed since, or refused for good: nobody to email
        return "no address"
    school = db.session.get(School, guardian.school_id)
    try:
        with force_locale(school.language):
            deliver("takedown_notice", guardian.email, school.language, school.id,
                    _("Photos of %(name)s have been taken down", name=pupil.first_name),
                    "takedown_notice", guardian=guardian, pupil=pupil, school=school,
                    count=len(ids), accounts=accounts)
    except Exception as failed:
        db.session.rollback()
        if isinstance(failed, MailNotSent) and refused_for_good(failed.error):
            address_refused(db.session, guardian)  # as for a parent link: the office sees a
            db.session.commit()  # letter is needed; the notice is settled, not retried
            return "address refused"
        claim_notices(db.session, ids, None)  # not told: owed again, for the retry or the sweep
        raise
    return "sent"


def mail_owed_takedown_notices() -> int:
    """The sweep: every guardian owed a notice whose takedowns are all done is told. Catches the
    notices whose task was never queued (the queue was down) or ran out of retries."""
    owed = db.session.scalars(select(Takedown.notify_guardian_id).where(
        Takedown.notify_guardian_id.is_not(None), Takedown.notified_at.is_(None)).distinct())
    sent = 0
    for guardian_id in sorted(owed):
        try:
            sent += mail_takedown_notice(guardian_id) == "sent"
        except TakedownNotDone:
            continue
        except Exception as error:  # noqa: BLE001 - one refused message must not stop the others
            db.session.rollback()
            log.error("takedown notice for guardian %s not sent (%s): the next sweep tries again",
                      guardian_id, type(error).__name__)
    return sent
