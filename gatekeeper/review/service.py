"""Review decisions: what still stands between a photo and its release."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.models import Pupil, utcnow
from consent.names import folded, starts_every_word
from gatekeeper.compliance import audit
from gatekeeper.imaging.clips import boxes_at
from gatekeeper.imaging.renderings import POSTER_TIME, poster_time
from gatekeeper.models import AuditEvent, Event, Face, Photo, User, move_from_read
from gatekeeper.review import gate
from gatekeeper.screening.clips import SAMPLE_EVERY
from gatekeeper.screening.service import RegisterNow
from gatekeeper.states import PHOTO_RELEASABLE, PhotoState, move
from gatekeeper.storage import app_storage
from gatekeeper.uploads.labels import purpose_label, status_label
from gatekeeper.worker.recovery import screening_gave_up

RESOLUTIONS = ("pupil", "not_pupil", "blur")
SEARCH_WORDS = 3  # words of a name typed to find a pupil
# Every action a person takes on a photo or a person's rights: the DSL reads these.
MANUAL_DECISIONS = (
    "face_resolved", "face_decision_undone", "face_added_as_reference", "photo_rejected",
    "photo_released", "post_withdrawn", "no_faces_confirmed",
    "user_created", "role_granted", "role_revoked", "user_deactivated", "user_reactivated",
)


class ReviewError(ValueError):
    """A review action that is not allowed; the message is fit to show the media lead."""


@dataclass(frozen=True)
class GateNow:
    """The gate for one photo and one purpose at this moment: the rule run again, people's
    decisions, and what still holds the photo back."""

    faces: list[gate.FaceNow]
    holds: list[gate.Hold]
    publishable: frozenset[int]

    @property
    def pupils(self) -> list[int]:
        return gate.pupils_shown(self.faces)


def gate_now(register: RegisterNow, photo: Photo, purpose: str) -> GateNow:
    """Run the screening rule again from the stored encodings, for `purpose`, against the
    register as it is now, and combine it with what people decided on each face."""
    decisions = register.decide_stored(photo, purpose)
    faces = [
        gate.FaceNow(f.index, d, f.blur, f.resolution, f.resolved_pupil_id)
        for f, d in zip(photo.faces, decisions, strict=True)
    ]
    publishable = register.publishable(purpose)
    found = gate.holds(faces, publishable, no_faces=photo.no_faces,
                       no_faces_confirmed=photo.no_faces_checked_at is not None)
    return GateNow(faces, found, publishable)


def hold_message(hold: gate.Hold, purpose: str) -> str:
    """A hold in words the media lead can act on."""
    n = (hold.face_index or 0) + 1
    if hold.code == gate.HOLD_BLOCKED:
        return _("Face %(n)d may be a pupil who must not be published for %(purpose)s: blur it "
                 "or reject the photo.", n=n, purpose=purpose_label(purpose))
    if hold.code == gate.HOLD_NAMED_NOT_PUBLISHABLE:
        return _("Face %(n)d is a pupil who may not be published for %(purpose)s: blur it.",
                 n=n, purpose=purpose_label(purpose))
    if hold.code == gate.HOLD_NO_FACES:
        return _("No faces were found: open the photo and confirm nobody is in it.")
    if hold.code == gate.HOLD_SHOWN_TWICE:
        return _("Face %(n)d is named as a pupil another face already shows: one of them is "
                 "someone else (a twin, a brother or sister?). Undo one, or blur it.", n=n)
    return _("Face %(n)d is unknown: say who it is, or blur it.", n=n)


def release_check(register: RegisterNow, photo: Photo,
                  purpose: str) -> tuple[list[str], GateNow | None]:
    """Reasons the photo cannot be released for `purpose` now (empty when it can), and the gate
    they come from (None when the photo is not waiting for release at all)."""
    if photo.status not in PHOTO_RELEASABLE:
        return [_("This photo is %(status)s.", status=status_label(photo.status))], None
    found = gate_now(register, photo, purpose)
    return [hold_message(h, purpose) for h in found.holds], found


def release_blockers(register: RegisterNow, photo: Photo, purpose: str) -> list[str]:
    """Reasons the photo cannot be released for `purpose` now; empty when it can."""
    return release_check(register, photo, purpose)[0]


def confirm_no_faces(session: Session, photo: Photo, user: User) -> None:
    """A person opened a photo in which no face was found and says nobody is in it."""
    if photo.status != PhotoState.NO_FACES:
        raise ReviewError(_("Faces were found in this photo."))
    photo.no_faces_checked_by_id, photo.no_faces_checked_at = user.id, utcnow()
    audit.record(session, "no_faces_confirmed", school_id=photo.school_id, actor=user,
                 subject=photo)


def blur_boxes(photo: Photo) -> list[tuple[int, int, int, int]]:
    """A photo's faces to blur. For a clip, its blurred tracks where they are in its poster (the
    picture at 0 s that stands for the clip on every page), held as the posted MP4 holds them:
    the still of "what was posted" is blurred like the clip (its tracks move: blur_tracks)."""
    if photo.is_video:
        tracks = blur_tracks(photo)
        when = poster_time(app_storage(), photo) if tracks else POSTER_TIME
        return [box for track in tracks
                if (box := boxes_at(track, when, SAMPLE_EVERY)) is not None]
    return [(f.top, f.right, f.bottom, f.left) for f in photo.faces if f.blur]


def blur_tracks(photo: Photo) -> list[list[tuple]]:
    """A clip's tracks to blur: each track's sampled (time, top, right, bottom, left)."""
    return [[tuple(sample) for sample in f.track.get("boxes", [])]
            for f in photo.faces if f.blur]


def settle_photo(session: Session, register: RegisterNow, photo: Photo) -> bool:
    """Store what the gate says now on every face and on the photo, so that every page shows
    the decision of this moment; True when the photo's status moved. The caller commits."""
    found = gate_now(register, photo, photo.purpose)
    for face, now in zip(photo.faces, found.faces, strict=True):
        face.status = gate.shown_status(now, found.publishable)
        face.pupil_id, face.distance = now.decision.pupil_id, now.decision.distance
    verdict = gate.verdict(found.holds, no_faces=photo.no_faces)
    if photo.status not in PHOTO_RELEASABLE or verdict == photo.status:
        return False
    # From the status this session read only: a release that committed meanwhile ("queued") is
    # never overwritten by a rescreen that read the photo before it.
    return move_from_read(session, photo, verdict, updated_at=utcnow())


def face_outcome_now(register: RegisterNow, face: Face) -> str:
    """What one face shows now (review/gate.py's SHOWN_ words)."""
    found = gate_now(register, face.photo, face.photo.purpose)
    return gate.face_outcome(found.faces[face.index], found.publishable)


def check_decidable(photo: Photo) -> None:
    """Faces are decided only while the photo waits for release: after it, the blurs and names
    are those of the post that went out."""
    if photo.status not in PHOTO_RELEASABLE:
        raise ReviewError(_("This photo is %(status)s.", status=status_label(photo.status)))


def resolve_face(
    session: Session, face: Face, resolution: str, user: User, pupil: Pupil | None = None,
    register: RegisterNow | None = None, group: int | None = None,
) -> None:
    """A person's decision on one face; the rule, run now, still decides: a face it blocks can
    only be blurred, and a named pupil's consent applies."""
    check_decidable(face.photo)
    register = register or RegisterNow(session, face.school_id)
    shown = face_outcome_now(register, face)
    if resolution not in RESOLUTIONS:
        raise ReviewError(_("Unknown decision."))
    if shown == gate.SHOWN_BLOCKED and resolution != "blur":
        raise ReviewError(_("A blocked face can only be blurred."))
    if shown == gate.SHOWN_CLEARED and resolution != "blur":
        raise ReviewError(_("This face is already cleared."))
    if resolution == "pupil" and (pupil is None or pupil.school_id != face.school_id):
        raise ReviewError(_("Choose a pupil of this school."))
    if face.resolution is not None and resolution != "blur":
        # Decided meanwhile (another tab, another media lead): changing it goes through Undo,
        # so a stale page can never take away a blur or a name that blocks.
        raise ReviewError(_("Someone has decided about this face meanwhile: undo that decision "
                            "first."))
    face.resolution, face.resolved_by_id, face.resolved_at = resolution, user.id, utcnow()
    if resolution != "blur":  # a blur keeps who the face was said to be, for the DSL
        face.resolved_pupil_id = pupil.id if resolution == "pupil" else None
    face.blur = resolution == "blur"
    settle_photo(session, register, face.photo)
    detail = {"photo_id": face.photo_id, "resolution": resolution,
              "pupil_id": face.resolved_pupil_id, "status": face.status}
    if group is not None:
        detail["group_of"] = group
    audit.record(session, "face_resolved", school_id=face.school_id, actor=user, subject=face,
                 detail=detail)


def undo_decision(session: Session, face: Face, user: User,
                  register: RegisterNow | None = None) -> None:
    """Take back a person's decision on a face: a blur is lifted (a face named before it was
    blurred keeps its name), any other decision is forgotten and the rule decides alone."""
    check_decidable(face.photo)
    if face.resolution is None:
        raise ReviewError(_("Nobody has decided about this face."))
    register = register or RegisterNow(session, face.school_id)
    if face.resolution == "pupil" and face_outcome_now(register, face) == gate.SHOWN_BLOCKED:
        # Named as a pupil who may not be published: a block stays a block (blur it instead).
        raise ReviewError(_("A blocked face can only be blurred."))
    was = face.resolution
    if was == "blur" and face.resolved_pupil_id is not None:
        face.resolution = "pupil"
    else:
        face.resolution, face.resolved_pupil_id = None, None
    face.blur, face.resolved_by_id, face.resolved_at = False, user.id, utcnow()
    settle_photo(session, register, face.photo)
    audit.record(session, "face_decision_undone", school_id=face.school_id, actor=user,
                 subject=face, detail={"photo_id": face.photo_id, "was": was,
                                       "now": face.resolution, "status": face.status})


def reject_photo(session: Session, photo: Photo, user: User, reason: str) -> None:
    if not screening_gave_up(photo):  # one screening gave up on is a person's to reject too
        check_decidable(photo)
    move(photo, PhotoState.REJECTED)
    audit.record(session, "photo_rejected", school_id=photo.school_id, actor=user, subject=photo,
                 detail={"reason": reason})


def screen_again(session: Session, photo: Photo, user: User) -> None:
    """Give a photo screening gave up on its attempts again (after a fix, or a worker that ran
    out of memory on a busy day); the caller commits, then queues it."""
    if not screening_gave_up(photo):
        raise ReviewError(_("This photo is %(status)s.", status=status_label(photo.status)))
    photo.screen_attempts, photo.updated_at = 0, utcnow()
    audit.record(session, "screening_retried", school_id=photo.school_id, actor=user,
                 subject=photo, detail={"error_was": photo.error})


@dataclass(frozen=True)
class Waiting:
    """A photo on the review queue as the gate sees it now."""

    photo: Photo
    status: PhotoState  # the gate's verdict now, not the one stored at upload
    ready_for: frozenset[str]  # purposes it may be released for, ticked together with others


def review_queue(session: Session, school_id: int) -> list[tuple[Event | None, list[Photo]]]:
    """Photos waiting for a person, grouped by event (newest event first)."""
    groups: dict[int | None, list[Photo]] = {}
    for photo in waiting_photos(session, school_id):
        groups.setdefault(photo.event_id, []).append(photo)
    return [(session.get(Event, event_id) if event_id else None, group)
            for event_id, group in groups.items()]


def waiting_photos(session: Session, school_id: int, event_id: int | None = None) -> list[Photo]:
    """The school's photos waiting for a person (of one event, if given), in queue order."""
    query = select(Photo).where(Photo.school_id == school_id,
                                Photo.status.in_(PHOTO_RELEASABLE))
    if event_id is not None:
        query = query.where(Photo.event_id == event_id)
    return list(session.scalars(query.order_by(Photo.event_id.desc(), Photo.id)))


def waiting_now(register: RegisterNow, photo: Photo, purposes) -> Waiting:
    """The photo's status now, and the purposes it is ready to be released for in a batch."""
    found = {p: gate_now(register, photo, p) for p in {photo.purpose, *purposes}}
    ready = frozenset(p for p in purposes if not photo.no_faces and not found[p].holds)
    return Waiting(photo, gate.verdict(found[photo.purpose].holds, no_faces=photo.no_faces),
                   ready)


def neighbours(session: Session, photo: Photo) -> tuple[int | None, int | None]:
    """The photos before and after this one on the review queue (None at either end)."""
    ids = list(session.scalars(
        select(Photo.id).where(Photo.school_id == photo.school_id,
                               Photo.status.in_(PHOTO_RELEASABLE))
        .order_by(Photo.event_id.desc(), Photo.id)))
    if photo.id not in ids:
        return None, (ids[0] if ids else None)
    at = ids.index(photo.id)
    return (ids[at - 1] if at else None), (ids[at + 1] if at + 1 < len(ids) else None)


def search_pupils(session: Session, school_id: int, text: str, limit: int = 20) -> list[Pupil]:
    """Current pupils each of whose words typed begins a word of their name (accents, case and
    apostrophes aside: "sion dafydd" finds Siôn ap Dafydd)."""
    typed = " ".join(text.split()[:SEARCH_WORDS])
    current = session.scalars(select(Pupil).where(Pupil.school_id == school_id,
                                                  Pupil.left_on.is_(None)))
    found = [p for p in current if starts_every_word(typed, p.first_name, p.last_name)]
    found.sort(key=lambda p: (folded(p.last_name), folded(p.first_name), p.id))
    return found[:limit]


def manual_decisions(session: Session, school_id: int, limit: int = 200) -> list[AuditEvent]:
    """The latest decisions people made (not the system), newest first."""
    return list(session.scalars(
        select(AuditEvent)
        .where(AuditEvent.school_id == school_id, AuditEvent.action.in_(MANUAL_DECISIONS))
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    ))
