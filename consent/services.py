"""Register services: each takes the caller's session, writes new records, and never commits.

The caller (a web view, a task or the CLI, through gatekeeper.register.actions) owns the
transaction, the audit trail and any takedown that follows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from consent import rules
from consent.models import (
    BiometricConsent,
    ConsentRecord,
    NoPublishEntry,
    Pupil,
    ReferenceFace,
    utcnow,
)


class RegisterError(ValueError):
    """A request the register cannot carry out; the message is fit to show the user."""


def find_pupil(session: Session, school_id: int, upn: str) -> Pupil:
    pupil = session.scalar(
        select(Pupil).where(Pupil.school_id == school_id, Pupil.upn == upn.strip().upper())
    )
    if pupil is None:
        raise RegisterError(f"no pupil with UPN {upn} at this school")
    return pupil


def consent_facts(records: Iterable[ConsentRecord]) -> tuple[rules.ConsentFact, ...]:
    return tuple(
        rules.ConsentFact(
            giver="pupil"
            if r.relationship_to_pupil == "pupil"
            else (f"g{r.guardian_id}" if r.guardian_id else r.given_by.strip().lower()),
            by_pupil=r.relationship_to_pupil == "pupil",
            purpose=r.purpose,
            status=r.status,
            effective_from=r.effective_from,
            expires_on=r.expires_on,
            seq=r.id,
        )
        for r in records
    )


def nopublish_facts(entries: Iterable[NoPublishEntry]) -> tuple[rules.NoPublishFact, ...]:
    return tuple(
        rules.NoPublishFact(starts_on=e.starts_on, ends_on=e.ends_on, removed=e.removed_at is not None)
        for e in entries
    )


def school_facts(session: Session, school_id: int) -> list[rules.PupilFacts]:
    """Plain facts for every pupil of a school, loaded in three queries."""
    pupils = session.scalars(select(Pupil).where(Pupil.school_id == school_id)).all()
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
            consents=consent_facts(records[p.id]),
            nopublish=nopublish_facts(entries[p.id]),
        )
        for p in pupils
    ]


def pupil_facts(pupil: Pupil) -> rules.PupilFacts:
    return rules.PupilFacts(
        pupil_id=pupil.id,
        left_on=pupil.left_on,
        consents=consent_facts(pupil.consent_records),
        nopublish=nopublish_facts(pupil.nopublish_entries),
    )


def publishable_pupils(session: Session, school_id: int, purpose: str, on: dt.date) -> frozenset[int]:
    return rules.publishable_ids(school_facts(session, school_id), purpose, on)


def record_consent(
    session: Session,
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
) -> ConsentRecord:
    """Add one consent record; grants expire at the end of the academic year unless told otherwise."""
    if purpose not in purposes:
        raise RegisterError(f"unknown purpose {purpose!r}; expected one of {', '.join(purposes)}")
    if status not in rules.STATUSES:
        raise RegisterError(f"unknown status {status!r}; expected granted, refused or withdrawn")
    today = utcnow().date()
    start = effective_from or form_date or today
    if status == "granted" and expires_on is None:
        expires_on = rules.default_expiry(start)
    if expires_on is not None and expires_on < start:
        raise RegisterError("the expiry date is before the date the consent takes effect")
    record = ConsentRecord(
        school_id=pupil.school_id,
        pupil_id=pupil.id,
        guardian_id=guardian_id,
        purpose=purpose,
        status=status,
        given_by=given_by.strip() or "unknown",
        relationship_to_pupil=relationship,
        form_date=form_date,
        effective_from=start,
        expires_on=expires_on,
        evidence_ref=evidence_ref,
        source=source,
        recorded_by=recorded_by,
    )
    session.add(record)
    session.flush()
    return record


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
        raise RegisterError(
            f"unknown reason category {category!r}; expected one of {', '.join(rules.NOPUBLISH_CATEGORIES)}"
        )
    entry = NoPublishEntry(
        school_id=pupil.school_id,
        pupil_id=pupil.id,
        category=category,
        note=note,
        starts_on=starts_on or utcnow().date(),
        ends_on=ends_on,
        added_by=added_by,
    )
    session.add(entry)
    session.flush()
    return entry


def remove_nopublish(session: Session, pupil: Pupil, *, removed_by: str, reason: str) -> int:
    """Close every open entry of the pupil (kept as history); returns how many were closed."""
    open_entries = [e for e in pupil.nopublish_entries if e.removed_at is None]
    if not open_entries:
        raise RegisterError(f"pupil {pupil.upn} is not on the no-publish list")
    for entry in open_entries:
        entry.removed_at, entry.removed_by, entry.removal_reason = utcnow(), removed_by, reason
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
        raise RegisterError("biometric consent is granted, objected or withdrawn")
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
    facts = [
        rules.BiometricFact(
            giver="pupil" if r.relationship_to_pupil == "pupil" else r.given_by.strip().lower(),
            by_pupil=r.relationship_to_pupil == "pupil",
            status=r.status,
            written=True,
            seq=r.id,
        )
        for r in rows
    ]
    return rules.may_enrol(facts)


def delete_reference_faces(session: Session, pupil: Pupil) -> int:
    """Delete every face template of the pupil at once (withdrawal, objection or leaving)."""
    result = session.execute(delete(ReferenceFace).where(ReferenceFace.pupil_id == pupil.id))
    return result.rowcount or 0


def add_reference_face(
    session: Session,
    pupil: Pupil,
    *,
    sealed_encoding: bytes,
    sealed_photo: bytes | None,
    face_height_px: int,
    created_by: str,
    require_consent: bool = True,
) -> ReferenceFace:
    if pupil.left_on is not None:
        raise RegisterError(f"pupil {pupil.upn} has left the school")
    if require_consent:
        decision = biometric_decision(session, pupil)
        if not decision.ok:
            raise RegisterError(f"cannot enrol {pupil.upn}: {decision.reason}")
    face = ReferenceFace(
        school_id=pupil.school_id,
        pupil_id=pupil.id,
        encoding_encrypted=sealed_encoding,
        photo_encrypted=sealed_photo,
        face_height_px=face_height_px,
        created_by=created_by,
    )
    session.add(face)
    session.flush()
    return face
