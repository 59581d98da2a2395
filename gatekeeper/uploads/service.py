"""Accepting an upload: check the header, store the original in quarantine, queue screening."""

from __future__ import annotations

import io
import re
import unicodedata
import warnings
from typing import BinaryIO

from flask_babel import gettext as _
from PIL import Image
from sqlalchemy.orm import Session

from gatekeeper import audit
from gatekeeper.images import ALLOWED_FORMATS, MAX_PIXELS, ImageRefused
from gatekeeper.models import Event, Photo, User, new_uuid
from gatekeeper.storage import Storage, StorageError

SNIFF_BYTES = 256 * 1024  # enough of the file for Pillow to read any header we accept
MAX_FILENAME = 120


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
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(head))
            fmt, (width, height) = img.format, img.size
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ImageRefused(_("The picture is too large.")) from None
    except Exception:
        raise ImageRefused(_("This file is not a photo we can read (JPEG, PNG, WebP or HEIC).")) from None
    if fmt not in ALLOWED_FORMATS:
        raise ImageRefused(_("This file is not a photo we can read (JPEG, PNG, WebP or HEIC)."))
    if width * height > MAX_PIXELS:
        raise ImageRefused(_("The picture is too large."))
    return fmt, width, height


def accept_upload(
    session: Session, storage: Storage, stream: BinaryIO, filename: str, event: Event, user: User,
    limit: int,
) -> Photo:
    """Store one uploaded photo and its row; on any refusal nothing is left behind."""
    head = stream.read(SNIFF_BYTES)
    if not head:
        raise ImageRefused(_("The file is empty."))
    sniff(head)
    photo = Photo(
        uuid=new_uuid(),
        school_id=event.school_id,
        event_id=event.id,
        uploaded_by_id=user.id,
        original_filename=clean_filename(filename),
        purpose=event.purpose,
        status="uploaded",
    )
    rest = _Chain(head, stream)
    try:
        photo.size_bytes, photo.sha256 = storage.save("originals", photo.uuid, rest, limit)
    except StorageError:
        raise ImageRefused(_("The file is too large.")) from None
    try:
        session.add(photo)
        session.flush()
        audit.record(session, "photo_uploaded", school_id=photo.school_id, actor=user, subject=photo,
                     detail={"event_id": event.id, "filename": photo.original_filename,
                             "bytes": photo.size_bytes})
        session.commit()
    except BaseException:
        session.rollback()
        storage.delete("originals", photo.uuid)
        raise
    return photo


class _Chain(io.RawIOBase):
    """The bytes already read, then the rest of the stream."""

    def __init__(self, head: bytes, stream: BinaryIO):
        self._head, self._stream = head, stream

    def read(self, size: int = -1) -> bytes:
        if self._head:
            out, self._head = self._head, b""
            return out
        return self._stream.read(size)
