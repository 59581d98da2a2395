"""Register services: each takes the caller's session, writes new records, and never commits.

The caller (a web view, a task or the CLI, through gatekeeper.register.actions) owns the
transaction, the audit trail and any takedown that follows.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Collection, Iterable

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, object_session

from consent import rules
from consent.clock import school_today
from consent.models import (
    BiometricConsent,
    ConsentRecord,
    Guardian,
    NoPublishEntry,
    Pupil,
    ReferenceFace,
    utcnow,
)
from consent.wording import N_

GUARDIAN_RELATIONSHIPS = ("parent", "carer", "guardian", "other")


class RegisterError(ValueError):
    """A request the register cannot carry out; the message (consent.wording) is fit to show the
    user, in their language through gatekeeper.web.wording."""


def find_pupil(session: Session, school_id: int, upn: str) -> Pupil:
    pupil = session.scalar(
        select(Pupil).where(Pupil.school_id == school_id, Pupil.upn == upn.strip().upper())
    )
    if pupil is None:
        raise RegisterError(N_("no pupil with UPN %(upn)s at this school", upn=upn))
    return pupil


def get_pupil(session: Session, school_id: int, pupil_id: int) -> Pupil:
    pupil = session.get(Pupil, pupil_id)
    if pupil is None or pupil.school_id != school_id:
        raise RegisterError(N_("no such pupil at this school"))
    return pupil


def get_guardian(session: Session, school_id: int, guardian_id: int) -> Guardian:
    guardian = session.get(Guardian, guardian_id)
    if guardian is None or guardian.school_id != school_id:
        raise RegisterError(N_("no such parent or carer at this school"))
    return guardian


def guardians_of(session: Session, pupil: Pupil) -> list[Guardian]:
    return list(session.scalars(
        select(Guardian).where(Guardian.pupil_id == pupil.id).order_by(Guardian.id)
    ))


def add_guardian(
    session: Session, pupil: Pupil, name: str, relationship: str = "parent", email: str = ""
) -> Guardian:
    """A parent or carer of the pupil: the person behind consent records and a parent link."""
    name = " ".join(name.split())
    if not name:
        raise RegisterError(N_("give the parent or carer's name"))
    if relationship not in GUARDIAN_RELATIONSHIPS:
        raise RegisterError(N_("relationship is one of %(choices)s",
                                choices=", ".join(GUARDIAN_RELATIONSHIPS)))
    if guardian_named(session, pupil, name) is not None:
        raise RegisterError(N_("%(name)s is already recorded for this pupil", name=name))
    guardian = Guardian(school_id=pupil.school_id, pupil_id=pupil.id, name=name[:200],
                        relationship_to_pupil=relationship, email=email.strip()[:254] or None)
    session.add(guardian)
    session.flush()
    link_named_records(session, guardian)
    return guardian


def guardian_named(session: Session, pupil: Pupil, name: str) -> Guardian | None:
    """The pupil's guardian of that name (spacing and case aside), if any."""
    wanted = giver_key(name, "parent")
    return next((g for g in guardians_of(session, pupil)
                 if giver_key(g.name, "parent") == wanted), None)


def giver_key(given_by: str, relationship: str) -> str:
    """Who a record without a guardian is from, as the rules compare it: the pupil, or one person
    by name (a name typed at the command line for nobody on the register, the MIS import)."""
    if relationship == "pupil":
        return "pupil"
    return "name:" + " ".join(given_by.split()).lower()


def guardian_giver(guardian: Guardian) -> str:
    """Who a guardian's records are from: the guardian, whatever their name is now. A name the
    contacts import corrects must not turn a parent's earlier answers into another parent's."""
    return f"guardian:{guardian.id}"


def record_giver(record: ConsentRecord) -> str:
    """A record's giver: its guardian when it names one (the paper form, the parent's link, a
    command naming a parent on the register), else giver_key."""
    if record.guardian_id is not None and record.relationship_to_pupil != "pupil":
        return f"guardian:{record.guardian_id}"
    return giver_key(record.given_by, record.relationship_to_pupil)


def link_named_records(session: Session, guardian: Guardian) -> int:
    """A guardian newly on the register takes over the pupil's records given in their name with
    no guardian (typed before they were added), so that their later answers supersede them; how
    many it took over."""
    wanted = giver_key(guardian.name, "parent")
    records = session.scalars(select(ConsentRecord).where(
        ConsentRecord.pupil_id == guardian.pupil_id, ConsentRecord.guardian_id.is_(None),
        ConsentRecord.relationship_to_pupil != "pupil")).all()
    named = [r for r in records if giver_key(r.given_by, r.relationship_to_pupil) == wanted]
    for record in named:
        record.guardian_id = guardian.id
    return len(named)


def consent_facts(records: Iterable[ConsentRecord],
                  without_responsibility: Collection[int] = ()) -> tuple[rules.ConsentFact, ...]:
    """The records as facts; `without_responsibility`: the ids of guardians the MIS marks as
    having no parental responsibility (their "yes" is no consent)."""
    return tuple(
        rules.ConsentFact(
            giver=record_giver(r),
            by_pupil=r.relationship_to_pupil == "pupil",
            purpose=r.purpose,
            status=r.status,
            effective_from=r.effective_from,
            expires_on=r.expires_on,
            seq=r.id,
            responsible=r.guardian_id not in without_responsibility,
        )
        for r in records
    )


def without_responsibility(session: Session, school_id: int) -> set[int]:
    """The school's guardians the MIS marks as having no parental responsibility."""
    return set(session.scalars(select(Guardian.id).where(
        Guardian.school_id == school_id, Guardian.parental_responsibility.is_(False))))


def nopublish_facts(entries: Iterable[NoPublishEntry]) -> tuple[rules.NoPublishFact, ...]:
    return tuple(
        rules.NoPublishFact(starts_on=e.starts_on, ends_on=e.ends_on,
                            removed=e.removed_at is not None)
        for e in entries
    )


def school_facts(session: Session, school_id: int) -> list[rules.PupilFacts]:
    """Plain facts for every pupil of a school, loaded in four queries."""
    pupils = session.scalars(select(Pupil).where(Pupil.school_id == school_id)).all()
    others = without_responsibility(session, school_id)
    records: dict[int, list[ConsentRecord]] = {p.id: [] for p in pupils}
    entries: dict[int, list[NoPublishEntry]] = {p.id: [] for p in pupils}
    for r in session.scalars(select(ConsentRecord).where(ConsentRecord.school_id == school_id)):
        records[r.pupil_id].append(r)
    for e in session.scalars(select(NoPublishEntry).where(NoPublishEntry.school_id == school_id)):
        entries[e.pupil_id].append(e)
    return [
        rules.PupilFacts(
            pupil_id=p.id,
            left_on=p.left_on,
            consents=consent_facts(records[p.id], others),
            nopublish=nopublish_facts(entries[p.id]),
        )
        for p in pupils
    ]


def pupil_facts(pupil: Pupil) -> rules.PupilFacts:
    session = object_session(pupil)
    others = (set() if session is None or pupil.id is None else set(session.scalars(
        select(Guardian.id).where(Guardian.pupil_id == pupil.id,
                                  Guardian.parental_responsibility.is_(False)))))
    return rules.PupilFacts(
        pupil_id=pupil.id,
        left_on=pupil.left_on,
        consents=consent_facts(pupil.consent_records, others),
        nopublish=nopublish_facts(pupil.nopublish_entries),
    )


def publishable_pupils(
    session: Session, school_id: int, purpose: str, on: dt.date
) -> frozenset[int]:
    return rules.publishable_ids(school_facts(session, school_id), purpose, on)


def new_consent_record(
    pupil: Pupil,
    purpose: str,
    status: str,
    *,
    given_by: str,
    recorded_by: str,
    relationship: str = "parent",
    guardian_id: int | None = None,
    form_date: dt.date | None = None,
    effective_from: dt.date | None = None,
    expires_on: dt.date | None = None,
    evidence_ref: str = "",
    source: str = "paper",
    purposes: Iterable[str] = rules.DEFAULT_PURPOSES,
    today: dt.date | None = None,
) -> ConsentRecord:
    """A checked consent record, not yet added; grants lapse at the end of the academic year."""
    if purpose not in purposes:
        raise RegisterError(N_("unknown purpose %(purpose)r; expected one of %(choices)s",
                                purpose=purpose, choices=", ".join(purposes)))
    if status not in rules.STATUSES:
        raise RegisterError(N_("unknown status %(status)r; expected granted, refused or withdrawn",
                                status=status))
    today = today or school_today()
    if form_date is not None and form_date > today:
        raise RegisterError(N_("the form's date is in the future"))
    start = effective_from or form_date or today
    if status == "granted" and expires_on is None:
        expires_on = rules.default_expiry(start)
    if expires_on is not None and expires_on < start:
        raise RegisterError(N_("the expiry date is before the date the consent takes effect"))
    return ConsentRecord(
        school_id=pupil.school_id,
        pupil_id=pupil.id,
        guardian_id=guardian_id,
        purpose=purpose,
        status=status,
        given_by=given_by.strip()[:200] or "unknown",
        relationship_to_pupil=relationship,
        form_date=form_date,
        effective_from=start,
        expires_on=expires_on,
        evidence_ref=evidence_ref.strip()[:200],
        source=source,
        recorded_by=recorded_by[:200],
    )


def record_consent(
    session: Session, pupil: Pupil, purpose: str, status: str, **fields
) -> ConsentRecord:
    """Add one consent record (the fields of `new_consent_record`); a grant is refused from a
    contact without parental responsibility, or signed before the same giver's latest "no"."""
    record = new_consent_record(pupil, purpose, status, **fields)
    if status == "granted":
        refuse_grant_without_responsibility(session, record)
        refuse_grant_older_than_a_no(session, pupil, record)
    session.add(record)
    session.flush()
    return record


def refuse_grant_without_responsibility(session: Session, record: ConsentRecord) -> None:
    """Consent is given by those with parental responsibility: a "yes" from a contact the MIS
    says has none (a childminder) would make the child publishable; their "no" still counts."""
    guardian = session.get(Guardian, record.guardian_id) if record.guardian_id else None
    if guardian is not None and guardian.parental_responsibility is False:
        raise RegisterError(N_(
            "%(name)s has no parental responsibility, by the MIS: their consent does not count "
            "(a refusal does); record the form of a parent or carer who has it",
            name=guardian.name))


def refuse_grant_older_than_a_no(session: Session, pupil: Pupil, record: ConsentRecord) -> None:
    """A form signed earlier and keyed in late cannot undo the refusal or withdrawal the same
    person gave since: RegisterError naming that later answer."""
    records = session.scalars(select(ConsentRecord).where(ConsentRecord.pupil_id == pupil.id))
    later = rules.later_no(consent_facts(records), record_giver(record), record.purpose,
                           record.effective_from)
    if later is not None:
        raise RegisterError(N_(
            "%(giver)s answered “%(status)s” for %(purpose)s on %(date)s, after this form's "
            "date (%(signed)s): a form signed earlier cannot undo that; record a form signed since",
            giver=record.given_by, status=rules.status_words(later.status),
            purpose=rules.purpose_words(record.purpose),
            date=later.effective_from.strftime("%d/%m/%Y"),
            signed=record.effective_from.strftime("%d/%m/%Y")))


def add_nopublish(
    session: Session,
    pupil: Pupil,
    *,
    category: str,
    note: str,
    added_by: str,
    starts_on: dt.date | None = None,
    ends_on: dt.date | None = None,
) -> NoPublishEntry:
    if category not in rules.NOPUBLISH_CATEGORIES:
        raise RegisterError(N_("unknown reason category %(category)r; expected one of %(choices)s",
                               category=category, choices=", ".join(rules.NOPUBLISH_CATEGORIES)))
    starts_on = starts_on or school_today()
    if ends_on is not None and ends_on < starts_on:
        raise RegisterError(N_("the end date is before the start date"))
    if ends_on is not None and ends_on < school_today():  # it would protect nobody, not even now
        raise RegisterError(N_("the end date has passed: the pupil would not be protected"))
    entry = NoPublishEntry(
        school_id=pupil.school_id,
        pupil_id=pupil.id,
        category=category,
        note=note,
        starts_on=starts_on,
        ends_on=ends_on,
        added_by=added_by,
    )
    session.add(entry)
    session.flush()
    return entry


def close_nopublish_entry(entry: NoPublishEntry, *, removed_by: str, reason: str) -> None:
    """Take one entry off the list: it stays as history with who removed it, when and why."""
    if entry.removed_at is not None:
        raise RegisterError(N_("this entry was already removed"))
    entry.removed_at, entry.removed_by, entry.removal_reason = utcnow(), removed_by, reason


def remove_nopublish(session: Session, pupil: Pupil, *, removed_by: str, reason: str) -> int:
    """Close every open entry of the pupil (kept as history); returns how many were closed."""
    open_entries = [e for e in pupil.nopublish_entries if e.removed_at is None]
    if not open_entries:
        raise RegisterError(N_("pupil %(upn)s is not on the no-publish list", upn=pupil.upn))
    for entry in open_entries:
        close_nopublish_entry(entry, removed_by=removed_by, reason=reason)
    return len(open_entries)


def record_biometric(
    session: Session,
    pupil: Pupil,
    status: str,
    *,
    given_by: str,
    recorded_by: str,
    relationship: str = "parent",
    form_date: dt.date | None = None,
    evidence_ref: str = "",
) -> BiometricConsent:
    if status not in ("granted", "objected", "withdrawn"):
        raise RegisterError(N_("biometric consent is granted, objected or withdrawn"))
    row = BiometricConsent(
        school_id=pupil.school_id,
        pupil_id=pupil.id,
        status=status,
        given_by=given_by,
        relationship_to_pupil=relationship,
        form_date=form_date,
        evidence_ref=evidence_ref,
        recorded_by=recorded_by,
    )
    session.add(row)
    session.flush()
    if status != "granted":
        delete_reference_faces(session, pupil)
    return row


def biometric_decision(session: Session, pupil: Pupil) -> rules.Decision:
    rows = session.scalars(select(BiometricConsent).where(BiometricConsent.pupil_id == pupil.id))
    return rules.may_enrol(biometric_facts(rows))


def biometric_facts(rows: Iterable[BiometricConsent]) -> list[rules.BiometricFact]:
    """One pupil's biometric consent records, as the rules read them."""
    return [
        rules.BiometricFact(
            giver=giver_key(r.given_by, r.relationship_to_pupil),
            by_pupil=r.relationship_to_pupil == "pupil",
            status=r.status,
            written=True,
            seq=r.id,
        )
        for r in rows
    ]


def may_enrol_by_pupil(session: Session, school_id: int) -> dict[int, bool]:
    """For every pupil of the school with a biometric consent record, whether faces may be
    enrolled (one query for the whole school)."""
    rows: dict[int, list[BiometricConsent]] = {}
    for row in session.scalars(select(BiometricConsent).where(
            BiometricConsent.school_id == school_id)):
        rows.setdefault(row.pupil_id, []).append(row)
    return {pupil_id: rules.may_enrol(biometric_facts(found)).ok
            for pupil_id, found in rows.items()}


def delete_reference_faces(session: Session, pupil: Pupil) -> int:
    """Delete every face template of the pupil at once (withdrawal, objection or leaving)."""
    result = session.execute(delete(ReferenceFace).where(ReferenceFace.pupil_id == pupil.id))
    return result.rowcount or 0


def seal_reference_faces(session: Session, pupil: Pupil, *, batch_id: int | None,
                         now: dt.datetime) -> int:
    """Take the pupil's faces out of screening (kept for an undo until the grace period ends)."""
    result = session.execute(
        update(ReferenceFace)
        .where(ReferenceFace.pupil_id == pupil.id, ReferenceFace.sealed_at.is_(None))
        .values(sealed_at=now, sealed_by_batch_id=batch_id)
    )
    return result.rowcount or 0


def sealed_face_ids(session: Session, pupil_id: int, *, batch_id: int | None = None) -> list[int]:
    """The pupil's sealed faces (only those one import sealed, when `batch_id` is given)."""
    query = select(ReferenceFace.id).where(ReferenceFace.pupil_id == pupil_id,
                                           ReferenceFace.sealed_at.is_not(None))
    if batch_id is not None:
        query = query.where(ReferenceFace.sealed_by_batch_id == batch_id)
    return list(session.scalars(query.order_by(ReferenceFace.id)))


def unseal_reference_faces(session: Session, face_ids: Iterable[int]) -> int:
    """Put sealed faces back into screening (an import undone, or the pupil rejoins)."""
    face_ids = list(face_ids)
    if not face_ids:
        return 0
    result = session.execute(
        update(ReferenceFace).where(ReferenceFace.id.in_(face_ids))
        .values(sealed_at=None, sealed_by_batch_id=None)
    )
    return result.rowcount or 0


def add_reference_face(
    session: Session,
    pupil: Pupil,
    *,
    sealed_encoding: bytes,
    sealed_photo: bytes | None,
    sealed_embedding: bytes | None = None,
    face_height_px: int,
    created_by: str,
    require_consent: bool = True,
    taken_on: dt.date | None = None,
) -> ReferenceFace:
    if pupil.left_on is not None:
        raise RegisterError(N_("pupil %(upn)s has left the school", upn=pupil.upn))
    if require_consent:
        decision = biometric_decision(session, pupil)
        if not decision.ok:
            raise RegisterError(N_("cannot enrol %(upn)s: %(reason)s", upn=pupil.upn,
                                   reason=decision.reason))
    face = ReferenceFace(
        school_id=pupil.school_id,
        pupil_id=pupil.id,
        encoding_encrypted=sealed_encoding,
        embedding_encrypted=sealed_embedding,
        photo_encrypted=sealed_photo,
        face_height_px=face_height_px,
        taken_on=taken_on,
        created_by=created_by,
    )
    session.add(face)
    session.flush()
    return face


def reference_dates(session: Session, pupil_id: int) -> list[dt.date | None]:
    """When each of the pupil's references in use was taken, newest first (None: undated)."""
    dates = session.scalars(select(ReferenceFace.taken_on).where(
        ReferenceFace.pupil_id == pupil_id, ReferenceFace.sealed_at.is_(None))).all()
    return sorted(dates, key=lambda d: d or dt.date.min, reverse=True)


def reference_face_count(session: Session, pupil_id: int) -> int:
    return session.scalar(
        select(func.count()).select_from(ReferenceFace).where(ReferenceFace.pupil_id == pupil_id)
    ) or 0


def record_leaving(session: Session, pupil: Pupil, on: dt.date) -> int:
    """The pupil left on `on`: never publishable again, reference faces deleted at once.

    Returns how many reference faces were deleted.
    """
    if pupil.left_on is not None and pupil.left_on <= on:
        raise RegisterError(N_("pupil %(upn)s already left on %(date)s", upn=pupil.upn,
                               date=pupil.left_on.strftime("%d/%m/%Y")))
    pupil.left_on = on
    return delete_reference_faces(session, pupil)


def put_back_on_roll(pupil: Pupil) -> dt.date:
    """A leaving recorded by mistake: the pupil is on roll again (their reference faces, deleted
    when they left, are not: they are enrolled again). Returns the leaving date taken back."""
    if pupil.left_on is None:
        raise RegisterError(N_("pupil %(upn)s is on roll", upn=pupil.upn))
    was, pupil.left_on = pupil.left_on, None
    return was


def latest_biometric_status(session: Session, pupil: Pupil, given_by: str) -> str | None:
    """The latest biometric status recorded from one giver (by name), if any."""
    return session.scalar(
        select(BiometricConsent.status)
        .where(BiometricConsent.pupil_id == pupil.id, BiometricConsent.given_by == given_by)
        .order_by(BiometricConsent.id.desc())
        .limit(1)
    )


def renewals_due(
    session: Session, school_id: int, purposes: Iterable[str], on: dt.date,
    days: int = rules.RENEWAL_WINDOW_DAYS,
) -> list[tuple[Pupil, list[ConsentRecord]]]:
    """Pupils with a parent's grant lapsing within `days` days, with those grants' records."""
    purposes = tuple(purposes)
    due = {
        facts.pupil_id: [f.seq for f in rules.grants_expiring(facts, purposes, on, days)]
        for facts in school_facts(session, school_id)
    }
    record_ids = [seq for seqs in due.values() for seq in seqs]
    if not record_ids:
        return []
    records = session.scalars(select(ConsentRecord).where(ConsentRecord.id.in_(record_ids))).all()
    by_pupil: dict[int, list[ConsentRecord]] = {}
    for record in sorted(records, key=lambda r: (r.expires_on, r.purpose)):
        by_pupil.setdefault(record.pupil_id, []).append(record)
    pupils = session.scalars(
        select(Pupil).where(Pupil.id.in_(by_pupil)).order_by(Pupil.last_name, Pupil.first_name)
    )
    return [(pupil, by_pupil[pupil.id]) for pupil in pupils]


def renewal_records(
    pupil: Pupil, expiring: Iterable[ConsentRecord], *, recorded_by: str, evidence_ref: str,
    on: dt.date,
) -> list[ConsentRecord]:
    """New grants, from today to the end of the next academic year, for the same parents."""
    renewed = []
    for old in expiring:
        if old.pupil_id != pupil.id or old.status != "granted" or old.expires_on is None:
            raise RegisterError(N_("only a parent's grant with an expiry date can be renewed"))
        renewed.append(new_consent_record(
            pupil, old.purpose, "granted", given_by=old.given_by, recorded_by=recorded_by,
            relationship=old.relationship_to_pupil, guardian_id=old.guardian_id,
            effective_from=on, expires_on=rules.renewal_expiry(old.expires_on),
            evidence_ref=evidence_ref, source="renewal", purposes=(old.purpose,), today=on,
        ))
    return renewed


def issue_link_nonce(guardian: Guardian) -> str:
    """A fresh nonce for the guardian's parent link; every earlier link stops working."""
    guardian.link_nonce = secrets.token_urlsafe(24)
    guardian.link_issued_at = utcnow()
    return guardian.link_nonce


def revoke_link(guardian: Guardian) -> None:
    guardian.link_nonce, guardian.link_issued_at = None, None
