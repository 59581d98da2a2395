"""Reviewing a clip: what only clips have. A track's answers (is pupil X, not a pupil, blur) are
the photo's (review/service.resolve_face, for the whole track); here a track that mixed two people
is split in two, and the media lead chooses whether the clip keeps its sound."""

from __future__ import annotations

import json
from pathlib import Path

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from gatekeeper.compliance import audit
from gatekeeper.compliance.crypto import app_cipher, open_encoding
from gatekeeper.extensions import db
from gatekeeper.imaging.renderings import render_clip
from gatekeeper.models import Face, Photo, User
from gatekeeper.review.rescreen import redecide_photo
from gatekeeper.review.service import ReviewError, blur_tracks
from gatekeeper.screening.clips import SAMPLE_EVERY
from gatekeeper.screening.rule import ENCODING_SIZE
from gatekeeper.screening.service import RegisterNow, seal_looks
from gatekeeper.states import PHOTO_RELEASABLE, LiftState, move
from gatekeeper.storage import app_storage

PLAY_SIDE = 854  # the review copy: 480p is enough to judge a face, and quick to make


def review_copy(photo: Photo) -> Path:
    """The clip as it will be posted (blurs followed through every picture, sound as chosen), at
    the review size: made once per set of decisions, kept beside the original."""
    return render_clip(app_storage(), photo, PLAY_SIDE, blur_tracks(photo), muted=photo.muted,
                       hold=SAMPLE_EVERY)


def prepare_review_copy(photo_id: int) -> str | None:
    """The task behind review_copy: made in the worker after screening and after each decision
    that changes it, so the review page plays at once. Safe to run twice."""
    photo = db.session.get(Photo, photo_id)
    if photo is None or not photo.is_video or photo.status not in PHOTO_RELEASABLE:
        return None
    if not app_storage().exists("originals", photo.uuid):
        return None
    return review_copy(photo).name


def split_track(session: Session, face: Face, at: float, user: User) -> Face:
    """Split a track at `at` seconds: the sightings before stay, those from then on become a new
    track. Both are decided again by the rule and need a person's answer again (a blur stays)."""
    photo = face.photo
    if not photo.is_video or photo.status not in PHOTO_RELEASABLE:
        raise ReviewError(_("Only a clip waiting for review can have a face split."))
    boxes = face.track.get("boxes", [])
    before, after = [b for b in boxes if b[0] < at], [b for b in boxes if b[0] >= at]
    if not before or not after:
        raise ReviewError(_("Choose a time between the face's first and last sighting."))
    cipher = app_cipher()
    times = face.track.get("looks", [])
    looks = ([] if face.encoding_encrypted is None
             else list(open_encoding(cipher, face.encoding_encrypted).reshape(-1, ENCODING_SIZE)))
    new = Face(school_id=face.school_id, index=max(f.index for f in photo.faces) + 1,
               status=face.status, score=face.score, blur=face.blur)
    for part, samples in ((face, before), (new, after)):
        kept = [(t, e) for t, e in zip(times, looks, strict=True) if (t < at) == (part is face)]
        _set_track(part, samples, kept, cipher)
        part.resolution = "blur" if part.blur else None
        part.resolved_pupil_id = part.resolved_by_id = part.resolved_at = None
    photo.faces.append(new)
    drop_lifts(session, face, user)
    session.flush()
    redecide_photo(session, RegisterNow(session, photo.school_id, cipher=cipher), photo)
    audit.record(session, "track_split", school_id=photo.school_id, actor=user, subject=face,
                 detail={"photo_id": photo.id, "at": round(at, 3), "new_face_id": new.id})
    return new


def drop_lifts(session: Session, face: Face, user: User) -> None:
    """A split track's lifts are taken back, and questions to the DSL about it closed: the DSL
    judged the track as it was, and a lift must not follow the protected pupil's own look into a
    half the DSL never saw on its own. The pupil blocks again until the DSL looks again."""
    for lift in face.lifts:
        if lift.state in (LiftState.LIFTED, LiftState.REQUESTED):
            move(lift, LiftState.REVOKED)
            audit.record(session, "block_lift_dropped", school_id=face.school_id, actor=user,
                         subject=face, detail={"photo_id": face.photo_id, "face": face.index + 1,
                                               "pupil_id": lift.pupil_id, "why": "track split"})


def _set_track(face: Face, samples: list, looks: list, cipher) -> None:
    """The track's sightings and looks; its card shows its largest sighting."""
    _time, *box = max(samples, key=lambda s: s[3] - s[1])
    face.top, face.right, face.bottom, face.left = box
    face.encoding_encrypted = seal_looks(cipher, [e for _t, e in looks])
    face.track_json = json.dumps({"boxes": samples, "best": _time,
                                  "looks": [t for t, _e in looks]})


def choose_sound(session: Session, photo: Photo, muted: bool, user: User) -> None:
    """Post the clip with its sound, or without it."""
    if not photo.is_video or photo.status not in PHOTO_RELEASABLE:
        raise ReviewError(_("Only a clip waiting for review can have its sound changed."))
    photo.muted = muted
    audit.record(session, "clip_sound_chosen", school_id=photo.school_id, actor=user,
                 subject=photo, detail={"muted": muted})
