"""Sanitised renderings of a stored original (previews and the bytes a publisher receives).

Each rendering is kept in quarantine storage beside the original (kind "renderings"), keyed by
everything that changes its pixels, so a tablet scrolling a queue does not re-decode 12 MP photos.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging

from gatekeeper.imaging.sanitise import sanitise
from gatekeeper.models import Photo
from gatekeeper.storage import RENDERINGS, Storage

THUMB_SIDE = 320
PREVIEW_SIDE = 1600
THUMB_QUALITY = 80


def rendering_name(photo: Photo, side: int, quality: int, boxes) -> str:
    key = json.dumps([photo.uuid, side, quality, sorted(map(list, boxes))])
    return f"{photo.uuid}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def render(storage: Storage, photo: Photo, side: int, quality: int, boxes) -> bytes:
    """The sanitised JPEG for these settings: the same bytes the publisher would receive."""
    name = rendering_name(photo, side, quality, boxes)
    if storage.exists(RENDERINGS, name):
        return storage.read(RENDERINGS, name)
    data = sanitise(storage.read("originals", photo.uuid), max_side=side, quality=quality,
                    blur_boxes=list(boxes))
    keep(storage, name, data, photo)
    return data


def render_posted_small(storage: Storage, photo: Photo, side: int, quality: int, boxes,
                        small_side: int = THUMB_SIDE) -> bytes:
    """A small copy made from the very rendering a publisher received (its blurs, its noise),
    not from the original: what a person sampling posts sees is what was posted."""
    name = f"{rendering_name(photo, side, quality, boxes)}-small{small_side}"
    if storage.exists(RENDERINGS, name):
        return storage.read(RENDERINGS, name)
    posted = render(storage, photo, side, quality, boxes)
    data = sanitise(posted, max_side=small_side, quality=THUMB_QUALITY)
    keep(storage, name, data, photo)
    return data


def keep(storage: Storage, name: str, data: bytes, photo: Photo) -> None:
    """Cache a rendering beside the original."""
    try:
        storage.save(RENDERINGS, name, io.BytesIO(data), limit=len(data) + 1)
    except OSError as error:
        # The cache only saves time: a full or read-only disk must not cost the preview (it
        # answered 500). The same inputs render the same bytes again next time.
        logging.getLogger(__name__).warning("rendering not cached (%s): %s",
                                            type(error).__name__, photo.uuid)
