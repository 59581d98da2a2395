"""The publishing rules as pure functions over plain data: no Flask, no database.

A pupil is publishable for purpose P on date D only if (DESIGN.md):
1. no active no-publish entry (any purpose, regardless of consent);
2. the latest record for P from each guardian is `granted`, effective on D and not expired, and at
   least one guardian has granted (a missing record means no; guardians who disagree means no);
3. the pupil has not objected (a pupil's own refusal overrides a parent's consent);
4. the pupil has not left the school.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from consent.wording import N_

DEFAULT_PURPOSES = ("website", "social_media", "newsletter", "press", "internal_display")
STATUSES = ("granted", "refused", "withdrawn")
NOPUBLISH_CATEGORIES = (
    "looked_after",
    "court_order",
    "safeguarding",
    "parental_request",
    "other",
)
ACADEMIC_YEAR_END = (8, 31)  # consent lapses at the end of the academic year unless set otherwise
# The register's keys in words, for the messages the domain writes (the web has its own labels).
PURPOSE_WORDS = {
    "website": N_("website"),
    "social_media": N_("social media"),
    "newsletter": N_("newsletter"),
    "press": N_("press"),
    "internal_display": N_("internal display"),
}
STATUS_WORDS = {
    "granted": N_("granted"),
    "refused": N_("refused"),
    "withdrawn": N_("withdrawn"),
    "objected": N_("objected"),
}


@dataclass(frozen=True)
class ConsentFact:
    giver: str  # a stable key for the person: guardian id or name, or "pupil"
    by_pupil: bool
    purpose: str
    status: str
    effective_from: dt.date
    expires_on: dt.date | None
    seq: int  # order of recording: later records supersede earlier ones from the same giver
    # The giver has parental responsibility as far as the register knows (the MIS marks a
    # childminder without it): a "yes" from someone without it is no consent; their "no" counts.
    responsible: bool = True


@dataclass(frozen=True)
class NoPublishFact:
    starts_on: dt.date
    ends_on: dt.date | None
    removed: bool


@dataclass(frozen=True)
class PupilFacts:
    pupil_id: int
    left_on: dt.date | None = None
    consents: tuple[ConsentFact, ...] = ()
    nopublish: tuple[NoPublishFact, ...] = field(default=())


@dataclass(frozen=True)
class Decision:
    ok: bool
    reason: str  # in plain words: a consent.wording.Message, said in the reader's language
    # The record the decision turned on (the refusal, or the grant that lapses first), if any.
    fact: ConsentFact | None = None


def purpose_words(purpose: str) -> str:
    """A purpose in words (one added in the settings: its key with spaces)."""
    return PURPOSE_WORDS.get(purpose) or purpose.replace("_", " ")


def status_words(status: str) -> str:
    return STATUS_WORDS.get(status) or status


def default_expiry(on: dt.date) -> dt.date:
    """The end of the academic year (31 August) that contains `on`."""
    month, day = ACADEMIC_YEAR_END
    end = dt.date(on.year, month, day)
    return end if on <= end else dt.date(on.year + 1, month, day)


def nopublish_active(entry: NoPublishFact, on: dt.date) -> bool:
    """An entry protects from the moment it is written until it ends or is removed."""
    # A future start date still protects: when in doubt, the gate errs against publishing.
    return not entry.removed and (entry.ends_on is None or on <= entry.ends_on)


def latest_by_giver(facts: Iterable[ConsentFact], purpose: str) -> dict[str, ConsentFact]:
    """Each giver's most recent record for one purpose."""
    latest: dict[str, ConsentFact] = {}
    for fact in sorted((f for f in facts if f.purpose == purpose), key=lambda f: f.seq):
        latest[fact.giver] = fact
    return latest


def grant_in_force(fact: ConsentFact, on: dt.date) -> bool:
    return (
        fact.status == "granted"
        and fact.effective_from <= on
        and (fact.expires_on is None or on <= fact.expires_on)
    )


def later_no(facts: Iterable[ConsentFact], giver: str, purpose: str,
             signed_on: dt.date) -> ConsentFact | None:
    """The giver's refusal or withdrawal dated after `signed_on`, when it is their latest word
    for the purpose: a grant signed on `signed_on` but recorded after it would otherwise undo it
    (records supersede in the order they are recorded, not by their dates)."""
    fact = latest_by_giver(facts, purpose).get(giver)
    if fact is not None and fact.status != "granted" and fact.effective_from > signed_on:
        return fact
    return None


def decide(pupil: PupilFacts, purpose: str, on: dt.date) -> Decision:
    """Whether the pupil may be published for `purpose` on `on`, with the reason in plain words."""
    if any(nopublish_active(entry, on) for entry in pupil.nopublish):
        return Decision(False, N_("protected — do not publish"))
    if pupil.left_on is not None and pupil.left_on <= on:
        return Decision(False, N_("has left the school"))
    latest = {giver: fact for giver, fact in latest_by_giver(pupil.consents, purpose).items()
              if fact.responsible or fact.status != "granted"}
    own = latest.pop("pupil", None)
    if own is not None and own.status != "granted":
        return Decision(False, N_("the pupil has objected"), own)
    if not latest:
        return Decision(False, N_("no consent recorded"))
    for fact in latest.values():
        if fact.status == "refused":
            return Decision(False, N_("consent refused"), fact)
        if fact.status == "withdrawn":
            return Decision(False, N_("consent withdrawn"), fact)
        if not grant_in_force(fact, on):
            return Decision(False, N_("consent expired or not yet in force"), fact)
    first_to_lapse = min(latest.values(), key=lambda f: f.expires_on or dt.date.max)
    return Decision(True, N_("consent granted"), first_to_lapse)


def publishable_ids(pupils: Iterable[PupilFacts], purpose: str, on: dt.date) -> frozenset[int]:
    """The ids of every pupil who may be published for `purpose` on `on`."""
    return frozenset(p.pupil_id for p in pupils if decide(p, purpose, on).ok)


@dataclass(frozen=True)
class BiometricFact:
    giver: str
    by_pupil: bool
    status: str  # granted | objected | withdrawn
    written: bool
    seq: int


def may_enrol(facts: Iterable[BiometricFact]) -> Decision:
    """Protection of Freedoms Act 2012 s26-28: a parent's written consent and no objection."""
    latest: dict[str, BiometricFact] = {}
    for fact in sorted(facts, key=lambda f: f.seq):
        latest[fact.giver] = fact
    if any(f.status != "granted" for f in latest.values()):
        return Decision(False, N_("an objection or withdrawal is recorded"))
    if not any(f.written and not f.by_pupil for f in latest.values()):
        return Decision(False, N_("no written biometric consent from a parent"))
    return Decision(True, N_("written biometric consent from a parent"))


RENEWAL_WINDOW_DAYS = 30  # the renewal list shows grants lapsing within this many days


def renewal_expiry(expires_on: dt.date) -> dt.date:
    """A renewed consent runs to the end of the academic year after the one that is ending."""
    return default_expiry(expires_on + dt.timedelta(days=1))


def answer_expiry(on: dt.date) -> dt.date:
    """When a parent's "yes" given on `on` lapses: the end of the academic year, or of the next
    one when this one ends within the renewal window (a renewal round's "yes" must outlast the
    grant it renews, and a fresh "yes" must not be due for renewal the day it is given)."""
    return renewal_expiry(on + dt.timedelta(days=RENEWAL_WINDOW_DAYS))


def answer_awaited(facts: Iterable[ConsentFact], giver: str, purposes: Iterable[str],
                   on: dt.date, days: int = RENEWAL_WINDOW_DAYS) -> bool:
    """Whether the school still waits for this giver's answer for some purpose (what a reminder
    tells them): none given, a grant lapsed, or one that lapses within the renewal window."""
    facts, until = tuple(facts), on + dt.timedelta(days=days)
    for purpose in purposes:
        fact = latest_by_giver(facts, purpose).get(giver)
        if fact is None or (fact.status == "granted" and not (
                grant_in_force(fact, on) and (fact.expires_on is None or fact.expires_on > until))):
            return True
    return False


def grants_expiring(
    pupil: PupilFacts, purposes: Iterable[str], on: dt.date, days: int = RENEWAL_WINDOW_DAYS
) -> list[ConsentFact]:
    """Each parent's latest grant that lapses within `days` days of `on`, or lapsed within the
    last `days` days: the forms to send. Grants lapse on 31 August, in the summer holidays, so
    the forms of those who did not answer in time are still to collect in September. A grant
    from a contact without parental responsibility is no consent, so no form to renew."""
    if pupil.left_on is not None and pupil.left_on <= on:
        return []
    since, until = on - dt.timedelta(days=days), on + dt.timedelta(days=days)
    return [
        fact
        for purpose in purposes
        for fact in latest_by_giver(pupil.consents, purpose).values()
        if not fact.by_pupil
        and fact.responsible
        and fact.status == "granted"
        and fact.effective_from <= on
        and fact.expires_on is not None
        and since <= fact.expires_on <= until
    ]


ANSWERS = ("yes", "no")


def giver_answer(facts: Iterable[ConsentFact], giver: str, purpose: str, on: dt.date) -> str:
    """One giver's own current answer for a purpose: yes, no, not_in_force (lapsed) or none."""
    fact = latest_by_giver(facts, purpose).get(giver)
    if fact is None:
        return "none"
    if fact.status != "granted":
        return "no"
    return "yes" if grant_in_force(fact, on) else "not_in_force"


def status_for_answer(current: str, answer: str) -> str | None:
    """The consent status a yes/no answer records, or None when it would change nothing."""
    if answer == "yes":
        return None if current == "yes" else "granted"
    if answer == "no":
        return {"no": None, "yes": "withdrawn"}.get(current, "refused")
    raise ValueError(f"answer is yes or no, not {answer!r}")


def biometric_status_for_answer(current: str | None, answer: str) -> str | None:
    """The biometric status a yes/no answer records, or None when it would change nothing."""
    if answer == "yes":
        return None if current == "granted" else "granted"
    if answer == "no":
        if current in ("objected", "withdrawn"):
            return None
        return "withdrawn" if current == "granted" else "objected"
    raise ValueError(f"answer is yes or no, not {answer!r}")
