"""Accepting an upload, a photo or a clip: check the header, store the original in quarantine
(streamed, never held in memory), check a clip's boxes, streams and limits, queue screening."""

from __future__ import annotations

import datetime as dt
import io
import re
import unicodedata
import warnings
from dataclasses import dataclass
from typing import BinaryIO

from flask_babel import gettext as _
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consent.models import utcnow
from gatekeeper.compliance import audit
from gatekeeper.imaging.decode import ALLOWED_FORMATS, MAX_PIXELS, ImageRefused
from gatekeeper.imaging.mp4 import CLIP_SUFFIXES, ClipRefused, is_clip
from gatekeeper.imaging.video import MAX_CLIP_SECONDS, probe
from gatekeeper.models import Event, Photo, User, hold_row, new_uuid
from gatekeeper.screening.clips import SAMPLE_EVERY
from gatekeeper.states import PHOTO_ENDED, MediaKind, PhotoState
from gatekeeper.storage import Storage, StorageError
from gatekeeper.web.wording import say

SNIFF_BYTES = 256 * 1024  # enough of the file for Pillow to read any header we accept
MAX_FILENAME = 120
# Cheap denial of service is many photos, or many pixels (screening costs by the pixel). A sports
# day is about 300 photos from one tablet, 12 MP each (3,600 MP): these defaults leave room for
# twice that from one person in an hour, and for several such events in a school's day.
UPLOADS_PER_USER_PER_HOUR = 600
SCHOOL_MEGAPIXELS_PER_DAY = 30_000
# One photo is at most this large (a 12 MP HEIC or JPEG is 2-10 MB); a clip may fill the request
# (MAX_CONTENT_LENGTH, gatekeeper/config.py: three minutes of 4K HEVC from an iPad is about 600 MB).
PHOTO_MAX_BYTES = 60 * 1024 * 1024
UPLOAD_WINDOW = dt.timedelta(hours=1)
BUDGET_WINDOW = dt.timedelta(days=1)


@dataclass(frozen=True)
class UploadLimits:
    """How much one person may upload per hour, and how many pixels a school may screen a day."""

    per_user_per_hour: int = UPLOADS_PER_USER_PER_HOUR
    school_megapixels_per_day: int = SCHOOL_MEGAPIXELS_PER_DAY
    clip_seconds: int = MAX_CLIP_SECONDS

    @classmethod
    def from_config(cls, config) -> UploadLimits:
        return cls(int(config.get("UPLOADS_PER_USER_PER_HOUR", UPLOADS_PER_USER_PER_HOUR)),
                   int(config.get("SCHOOL_MEGAPIXELS_PER_DAY", SCHOOL_MEGAPIXELS_PER_DAY)),
                   int(config.get("CLIP_MAX_SECONDS", MAX_CLIP_SECONDS)))


class UploadLimited(ImageRefused):
    """Too many uploads or pixels lately: the photo itself is fine; try again later."""


class AlreadyUploaded(ImageRefused):
    """The very same file is already in the event: a second copy would be reviewed, and could be
    posted, twice. `photo` is the copy there, when it is the uploader's own."""

    def __init__(self, message: str, photo: Photo | None = None):
        super().__init__(message)
        self.photo = photo


def clean_filename(name: str) -> str:
    """A display name only (files are stored under a UUID): no paths, no control characters."""
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip(" .")
    return name[:MAX_FILENAME] or "photo"


def sniff(head: bytes) -> tuple[str, int, int]:
    """Format and size from the first bytes, refusing what screening would refuse anyway."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # refused below
            img = Image.open(io.BytesIO(head))
            fmt, (width, height) = img.format, img.size
    except Image.DecompressionBombError:
        raise ImageRefused(_("The picture is too large: the most accepted is %(max)d MP. "
                             "Export it smaller.", max=MAX_PIXELS // 1_000_000)) from None
    except Exception:
        raise ImageRefused(
            _("This file is not a photo we can read (JPEG, PNG, WebP or HEIC).")) from None
    if fmt not in ALLOWED_FORMATS:
        raise ImageRefused(_("This file is not a photo we can read (JPEG, PNG, WebP or HEIC)."))
    if width * height > MAX_PIXELS:
        raise ImageRefused(_("The picture is too large (%(w)d×%(h)d, %(mp)d MP): the most "
                             "accepted is %(max)d MP. Export it smaller.", w=width, h=height,
                             mp=round(width * height / 1e6), max=MAX_PIXELS // 1_000_000))
    return fmt, width, height


def accept_upload(
    session: Session, storage: Storage, stream: BinaryIO, filename: str, event: Event, user: User,
    limit: int, limits: UploadLimits | None = None,
) -> Photo:
    """Store one uploaded photo and its row; on any refusal nothing is left behind."""
    head = stream.read(SNIFF_BYTES)
    if not head:
        raise ImageRefused(_("The file is empty."))
    limits = limits or UploadLimits()
    video = is_clip(head)
    if video:
        width = height = None
    elif filename.lower().endswith(CLIP_SUFFIXES):
        raise ImageRefused(_("This file is named as a video but is not one (MP4 or MOV)."))
    else:
        _format, width, height = sniff(head)
    photo = Photo(
        kind=MediaKind.VIDEO if video else MediaKind.PHOTO,
        width=width,
        height=height,
        uuid=new_uuid(),
        school_id=event.school_id,
        event_id=event.id,
        uploaded_by_id=user.id,
        original_filename=clean_filename(filename),
        purpose=event.purpose,
        status=PhotoState.UPLOADED,
    )
    rest = _Chain(head, stream)
    try:
        photo.size_bytes, photo.sha256 = storage.save(
            "originals", photo.uuid, rest, limit if video else min(limit, PHOTO_MAX_BYTES))
    except StorageError:
        raise ImageRefused(_("The file is too large.")) from None
    try:
        if video:
            describe_clip(photo, storage.path("originals", photo.uuid), limits.clip_seconds)
        check_not_uploaded(session, photo)  # holds the event until this upload is committed
        session.add(photo)
        session.flush()
        check_limits(session, photo, limits)  # counts this photo too
        audit.record(session, "photo_uploaded", school_id=photo.school_id, actor=user,
                     subject=photo,
                     detail={"event_id": event.id, "filename": photo.original_filename,
                             "bytes": photo.size_bytes, "kind": photo.kind})
        session.commit()
    except BaseException:
        session.rollback()
        storage.delete("originals", photo.uuid)
        raise
    return photo


def describe_clip(photo: Photo, path, max_seconds: int) -> None:
    """A stored clip's size and length, or ImageRefused with the one reason in the teacher's
    language (imaging/video.probe checks it)."""
    try:
        info = probe(path, max_seconds)
    except ClipRefused as refused:
        raise ImageRefused(say(refused.worded())) from None
    photo.width, photo.height, photo.duration_s = info.width, info.height, info.duration


def check_not_uploaded(session: Session, photo: Photo) -> None:
    """Refuse a file the event already holds, byte for byte (the same photos picked twice, or
    Retry after an upload whose answer was lost on the way). One rejected or withdrawn may be
    uploaded again: that copy goes no further. The event is held first, so the same file sent
    twice at once (Retry while the first request is still being saved, two tabs) waits for the
    other's commit and then finds its copy."""
    hold_row(session, Event.name, photo.event_id)
    earlier = session.scalar(select(Photo).where(
        Photo.event_id == photo.event_id, Photo.sha256 == photo.sha256,
        Photo.status.not_in(PHOTO_ENDED)).order_by(Photo.id).limit(1))
    if earlier is None:
        return
    if earlier.uploaded_by_id != photo.uploaded_by_id:  # another's upload: not even its name
        raise AlreadyUploaded(_("Someone has already uploaded this photo to this event: it was "
                                "not uploaded a second time."))
    raise AlreadyUploaded(_("This photo is already uploaded to this event, as %(name)s: it was "
                            "not uploaded a second time.", name=earlier.original_filename), earlier)


def check_limits(session: Session, photo: Photo, limits: UploadLimits) -> None:
    """Refuse when the uploader's hour or the school's day is full (this photo included)."""
    now = utcnow()
    mine = session.scalar(select(func.count()).select_from(Photo).where(
        Photo.uploaded_by_id == photo.uploaded_by_id, Photo.created_at > now - UPLOAD_WINDOW))
    if (mine or 0) > limits.per_user_per_hour:
        raise UploadLimited(_("You have uploaded %(n)d photos in the last hour, the most allowed. "
                              "Wait a little and try again.", n=limits.per_user_per_hour))
    # A clip costs each sampled picture it is screened in (a minute of 1080p: 300 x 2 MP).
    samples = func.coalesce(Photo.duration_s / SAMPLE_EVERY, 1)
    pixels = session.scalar(select(func.sum(Photo.width * Photo.height * samples)).where(
        Photo.school_id == photo.school_id, Photo.created_at > now - BUDGET_WINDOW))
    if (pixels or 0) > limits.school_megapixels_per_day * 1_000_000:
        raise UploadLimited(_("The school has used today's screening allowance "
                              "(%(mp)d megapixels). Try again tomorrow.",
                              mp=limits.school_megapixels_per_day))


class _Chain(io.RawIOBase):
    """The bytes already read, then the rest of the stream."""

    def __init__(self, head: bytes, stream: BinaryIO):
        self._head, self._stream = head, stream

    def read(self, size: int = -1) -> bytes:
        if self._head:
            out, self._head = self._head, b""
            return out
        return self._stream.read(size)
