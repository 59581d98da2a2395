"""Subject access and erasure for one pupil (UK GDPR Articles 15 and 17).

`export_pupil` writes one zip with every record Gatekeeper holds about the pupil: the register
entry, guardians, consent and biometric-consent history, no-publish entries, reference-face
metadata, every photo in which the pupil was matched or named by a person (as metadata-free pixels),
every post showing them and its takedowns, the DSL's answers on their blocked faces, what each
MIS import changed about them, and the audit events about them. Every other face found in a
photo is pixelated. A no-publish entry's reasons are left out: only the designated safeguarding
lead sees them (the entry, its dates and who wrote it are in). The school reviews it before
disclosure: a face not found still shows.

`erase_pupil` deletes what may go and keeps what the school must keep (see ERASURE_KEEPS).
"""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from consent.importer import batches_changing, forget_pupil_in_imports
from consent.models import (
    BiometricConsent,
    ConsentRecord,
    Guardian,
    NoPublishEntry,
    Pupil,
    PupilGroup,
    PupilGroupMember,
    ReferenceFace,
    utcnow,
)
from consent.services import find_pupil
from gatekeeper.compliance import audit
from gatekeeper.compliance.retention import purge_photo
from gatekeeper.imaging.decode import ImageRefused
from gatekeeper.imaging.renderings import render_clip
from gatekeeper.imaging.sanitise import sanitise
from gatekeeper.models import AuditEvent, BlockLift, Face, Photo, Post, Takedown
from gatekeeper.publishing.takedown import pull_posts_showing
from gatekeeper.screening.clips import SAMPLE_EVERY
from gatekeeper.states import PHOTO_OUT
from gatekeeper.storage import Storage

SAR_README = """Subject access export from Gatekeeper
Pupil: {name} (UPN {upn}); produced {when} UTC.

pupil.json  the register entry, guardians, consent and biometric-consent history, no-publish
            entries, reference-face records (the face templates themselves are encrypted numbers
            and are not meaningful to a person; their existence and dates are listed), photos,
            posts and their takedowns, the safeguarding lead's answers on blocked faces, what
            each MIS import changed (with the details it replaced) and audit events about this
            pupil.
photos/     each photo in which the pupil was matched or identified, re-encoded without metadata;
            every other face Gatekeeper found in it is pixelated.

Before disclosure the school must review this export: a face Gatekeeper did not find is not
pixelated (redact any other child still to be seen).

A no-publish entry's reasons (its category, note and why it was removed) are not in this export:
only the designated safeguarding lead sees them. The DSL decides whether any may be disclosed
(the safeguarding exemption, DPA 2018 Sch. 3).
"""
# Only the DSL sees why a pupil is on the no-publish list (DESIGN.md's roles), so an export made
# by the DPO, the head or the command line leaves the reasons out.
NOPUBLISH_REASONS = ("category", "note", "removal_reason")
ERASURE_KEEPS = (
    "consent and no-publish records (evidence of what was allowed, and safeguarding)",
    "the audit trail (tamper-evident record of what was published, kept at least a year)",
    "released and published post rows, marked withdrawn (the record of a takedown)",
)
ERASED_NAME = "Erased"
# Who a parent's answer through their link is recorded as (register.actions.parent_answers): on a
# post showing other children too, the parent may be another pupil's, who is not to be named.
PARENT_LINK = "parent link: "
OTHER_FAMILY = "another pupil's parent or carer"
PHOTO_SIDE = 2048


def shows(pupil: Pupil):
    """Faces matched (by the rule) or named (by a person) as the pupil."""
    return or_(Face.pupil_id == pupil.id, Face.resolved_pupil_id == pupil.id)


def pupil_photos(session: Session, pupil: Pupil) -> list[Photo]:
    photo_ids = select(Face.photo_id).where(shows(pupil))
    return list(session.scalars(
        select(Photo).where(Photo.school_id == pupil.school_id, Photo.id.in_(photo_ids))
        .order_by(Photo.id)))


def pupil_posts(session: Session, pupil: Pupil) -> list[Post]:
    posts = session.scalars(select(Post).where(Post.school_id == pupil.school_id).order_by(Post.id))
    return [p for p in posts if pupil.id in p.pupil_ids]


def row(obj, *skip: str) -> dict:
    """A table row as plain JSON-able data (binary columns left out)."""
    out = {}
    for column in obj.__table__.columns:
        value = getattr(obj, column.key)
        if column.key in skip or isinstance(value, bytes):
            continue
        out[column.key] = value.isoformat() if isinstance(value, dt.date | dt.datetime) else value
    return out


def by_pupil(session: Session, model, pupil: Pupil, *skip: str) -> list[dict]:
    rows = session.scalars(select(model).where(model.pupil_id == pupil.id).order_by(model.id))
    return [row(r, *skip) for r in rows]


# The register's rows about a pupil whose changes the audit trail records against that row (a
# consent record, a guardian...), not against the pupil: each is the pupil's, by its pupil_id.
PUPIL_ROWS = (ConsentRecord, Guardian, BiometricConsent, NoPublishEntry, ReferenceFace)


def family(session: Session, pupil: Pupil) -> tuple[set[int], set[str]]:
    """The pupil's guardians: their ids, and the names their answers are recorded under."""
    guardians = session.scalars(select(Guardian).where(Guardian.pupil_id == pupil.id)).all()
    return {g.id for g in guardians}, {f"{PARENT_LINK}{g.name}" for g in guardians}


def unnamed(value, own: set[str]):
    """Who asked, unless it is another pupil's parent (their answer is theirs, not this pupil's)."""
    if isinstance(value, str) and value.startswith(PARENT_LINK) and value not in own:
        return OTHER_FAMILY
    return value


def takedown_row(takedown: Takedown, ours: tuple[set[int], set[str]]) -> dict:
    out = row(takedown)
    out["requested_by"] = unnamed(out["requested_by"], ours[1])
    if out["notify_guardian_id"] not in ours[0]:
        out["notify_guardian_id"] = None
    return out


def audit_about(session: Session, pupil: Pupil, photos, posts, own: set[str]) -> list[dict]:
    """Every audit event about the pupil: recorded against them, their photos and posts, their
    register rows (consent, guardians, biometric consent, no-publish, reference faces) and the
    faces in photos that were matched or named as them (decisions, lifts); `own`: the names their
    own parents' answers are recorded under."""
    ids = {model.__name__.lower(): [str(i) for i in session.scalars(
        select(model.id).where(model.pupil_id == pupil.id))] for model in PUPIL_ROWS}
    ids["face"] = [str(i) for i in session.scalars(select(Face.id).where(shows(pupil)))]
    ids["pupil"] = [str(pupil.id)]
    ids["photo"] = [str(p.id) for p in photos]
    ids["post"] = [str(p.id) for p in posts]
    subjects = or_(*[(AuditEvent.subject_type == kind) & AuditEvent.subject_id.in_(values)
                     for kind, values in ids.items() if values])
    events = session.scalars(select(AuditEvent).where(
        AuditEvent.school_id == pupil.school_id, subjects).order_by(AuditEvent.id))
    return [event_row(e, pupil, own) for e in events]


def event_row(event: AuditEvent, pupil: Pupil, own: set[str]) -> dict:
    """An audit event in the export: no other pupil, and no other pupil's parent, named."""
    detail = only_theirs(event.detail, pupil)
    if "requested_by" in detail:
        detail["requested_by"] = unnamed(detail["requested_by"], own)
    return {**row(event, "prev_hash", "hash", "detail_json"), "actor": unnamed(event.actor, own),
            "detail": detail}


def only_theirs(detail: dict, pupil: Pupil) -> dict:
    """An audit detail that lists other pupils beside this one (a release names every pupil it
    shows, an enrolment the pupils who look alike) keeps this pupil's entry and counts the
    others: a subject access export names no other child."""
    theirs = {"pupils": pupil.id, "lookalikes": pupil.upn}
    detail = dict(detail)
    for key, own in theirs.items():
        if isinstance(detail.get(key), list):
            listed = detail.pop(key)
            detail[key] = [value for value in listed if value == own]
            detail[f"other_{key}"] = len(listed) - len(detail[key])
    # A decision about a face in their photo may be about another child (named by the media
    # lead, or the protected pupil the DSL was asked about): said, not named.
    for key, own in {"pupil_id": pupil.id, "upn": pupil.upn}.items():
        if detail.get(key) not in (None, own):
            detail[key], detail["other_pupil"] = None, True
    return detail


def face_row(face: Face, pupil: Pupil) -> dict:
    """A face matched or named as the pupil: the other child it was matched or named as, if
    any, is said, not named."""
    out = row(face)
    for key in ("pupil_id", "resolved_pupil_id"):
        if out[key] not in (None, pupil.id):
            out[key], out["other_pupil"] = None, True
    return out


def post_row(post: Post, pupil: Pupil) -> dict:
    """A post as the pupil's record: the other pupils it shows counted, not listed."""
    return {**row(post, "pupil_ids_json"),
            "other_pupils_shown": len([i for i in post.pupil_ids if i != pupil.id])}


def pupil_record(session: Session, pupil: Pupil) -> dict:
    photos, posts = pupil_photos(session, pupil), pupil_posts(session, pupil)
    faces = session.scalars(select(Face).where(shows(pupil)).order_by(Face.id))
    ours = family(session, pupil)  # read once: every takedown and audit event is judged by it
    return {
        "pupil": row(pupil),
        "guardians": by_pupil(session, Guardian, pupil),
        "consent_records": by_pupil(session, ConsentRecord, pupil),
        "biometric_consents": by_pupil(session, BiometricConsent, pupil),
        "nopublish_entries": [{**entry, "reasons": "withheld"} for entry in by_pupil(
            session, NoPublishEntry, pupil, *NOPUBLISH_REASONS)],
        "groups": [row(g) for g in session.scalars(
            select(PupilGroup).join(PupilGroupMember)
            .where(PupilGroupMember.pupil_id == pupil.id).order_by(PupilGroup.id))],
        "reference_faces": [row(r) for r in session.scalars(
            select(ReferenceFace).where(ReferenceFace.pupil_id == pupil.id))],
        "photos": [row(p) for p in photos],
        "faces": [face_row(f, pupil) for f in faces],
        "posts": [post_row(p, pupil) for p in posts],
        "takedowns": [takedown_row(t, ours) for t in session.scalars(
            select(Takedown).where(Takedown.post_id.in_([p.id for p in posts]))
            .order_by(Takedown.id))],
        "block_lifts": by_pupil(session, BlockLift, pupil),
        "imports": [{**row(batch, "changes_json", "summary"), "changes": done}
                    for batch, done in batches_changing(session, pupil)],
        "audit_events": audit_about(session, pupil, photos, posts, ours[1]),
    }


def export_pupil(session: Session, storage: Storage, school_id: int, upn: str, target: Path,
                 actor: str = "command line") -> dict:
    """Write the subject access zip (atomically) and record that it was made; returns the counts."""

    pupil = find_pupil(session, school_id, upn)
    record = pupil_record(session, pupil)
    target = Path(target)
    partial = target.with_name(f".{target.name}.partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", SAR_README.format(
            name=f"{pupil.first_name} {pupil.last_name}", upn=pupil.upn,
            when=utcnow().isoformat(timespec="seconds")))
        archive.writestr("pupil.json", json.dumps(record, indent=2, sort_keys=True, default=str))
        for photo in pupil_photos(session, pupil):
            if storage.exists("originals", photo.uuid):
                try:
                    add_media(archive, storage, photo, pupil)
                except ImageRefused:
                    continue
    partial.replace(target)
    audit.record(session, "subject_access_export", school_id=school_id, actor=actor, subject=pupil,
                 detail={"photos": len(record["photos"]), "posts": len(record["posts"])})
    session.commit()
    return {key: len(value) for key, value in record.items() if isinstance(value, list)}


def is_theirs(face: Face, pupil: Pupil) -> bool:
    """The face is the pupil's: as a person named it, else as the rule matched it."""
    if face.resolved_pupil_id is not None or face.resolution == "not_pupil":
        return face.resolved_pupil_id == pupil.id
    return face.pupil_id == pupil.id


def add_media(archive: zipfile.ZipFile, storage: Storage, photo: Photo, pupil: Pupil) -> None:
    """A photo as a sanitised JPEG, a clip as a sanitised MP4 (metadata removed, sound kept),
    every face but the pupil's pixelated: the export is about one child, never the others."""
    others = [face for face in photo.faces if not is_theirs(face, pupil)]
    if photo.is_video:
        tracks = [[tuple(sample) for sample in face.track.get("boxes", [])] for face in others]
        clip = render_clip(storage, photo, PHOTO_SIDE, tracks, muted=False, hold=SAMPLE_EVERY)
        archive.write(clip, f"photos/clip-{photo.id}.mp4")
    else:
        pixels = sanitise(storage.read("originals", photo.uuid), max_side=PHOTO_SIDE,
                          blur_boxes=[face.box for face in others])
        archive.writestr(f"photos/photo-{photo.id}.jpg", pixels)


def erase_pupil(session: Session, storage: Storage, school_id: int, upn: str,
                actor: str = "command line") -> dict:
    """Erase a pupil on request: biometric data, unreleased photos and name go; posts come down."""

    pupil, now = find_pupil(session, school_id, upn), utcnow()
    templates = len(session.scalars(select(ReferenceFace).where(
        ReferenceFace.pupil_id == pupil.id)).all())
    for face in session.scalars(select(ReferenceFace).where(ReferenceFace.pupil_id == pupil.id)):
        session.delete(face)
    pulled = pull_posts_showing(session, pupil.id, "erasure on request")
    purged = 0
    for photo in pupil_photos(session, pupil):
        if photo.purged_at is None and photo.status not in PHOTO_OUT:
            purge_photo(session, storage, photo, now)
            purged += 1
    # Faces matched or named as the pupil in photos that stay (posted, withdrawn, a school
    # record): their face templates go, and so does the link to the pupil; box and blur stay.
    for face in session.scalars(select(Face).where(shows(pupil))):
        face.encoding_encrypted = face.embedding_encrypted = None
        face.pupil_id = face.resolved_pupil_id = None
    session.execute(delete(PupilGroupMember).where(PupilGroupMember.pupil_id == pupil.id))
    forget_pupil_in_imports(session, pupil)  # an undo would put their name back on roll
    pupil.first_name, pupil.last_name, pupil.date_of_birth = ERASED_NAME, ERASED_NAME, None
    pupil.left_on = pupil.left_on or now.date()  # never publishable again
    audit.record(session, "pupil_erased", school_id=school_id, actor=actor, subject=pupil,
                 detail={"templates": templates, "photos_purged": purged,
                         "posts_withdrawn": len(pulled), "kept": list(ERASURE_KEEPS)})
    session.commit()
    return {"templates": templates, "photos_purged": purged, "posts_withdrawn": len(pulled)}
