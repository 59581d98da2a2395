"""Small sanitised previews of originals, for role-checked views only.

Each rendering is kept in quarantine storage beside the original (kind "renderings"), keyed by
everything that changes its pixels, so a tablet scrolling a queue does not re-decode 12 MP photos.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging

from flask import Response, abort

from gatekeeper.images import ImageRefused
from gatekeeper.models import Photo
from gatekeeper.storage import RENDERINGS, Storage, app_storage

THUMB_SIDE = 320
PREVIEW_SIDE = 1600
THUMB_QUALITY = 80


def image_response(data: bytes, filename: str) -> Response:
    response = Response(data, mimetype="image/jpeg")
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


def rendering_name(photo: Photo, side: int, quality: int, boxes) -> str:
    key = json.dumps([photo.uuid, side, quality, sorted(map(list, boxes))])
    return f"{photo.uuid}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def render(storage: Storage, photo: Photo, side: int, quality: int, boxes) -> bytes:
    """The sanitised JPEG for these settings: the same bytes the publisher would receive."""
    from gatekeeper.sanitise import sanitise

    name = rendering_name(photo, side, quality, boxes)
    if storage.exists(RENDERINGS, name):
        return storage.read(RENDERINGS, name)
    data = sanitise(storage.read("originals", photo.uuid), max_side=side, quality=quality,
                    blur_boxes=list(boxes))
    try:
        storage.save(RENDERINGS, name, io.BytesIO(data), limit=len(data) + 1)
    except OSError as error:
        # The cache only saves time: a full or read-only disk must not cost the preview (it
        # answered 500). The same inputs render the same bytes again next time.
        logging.getLogger(__name__).warning("rendering not cached (%s): %s",
                                            type(error).__name__, photo.uuid)
    return data


def thumbnail_response(
    photo: Photo, side: int = THUMB_SIDE, blur: bool = False, quality: int = THUMB_QUALITY
) -> Response:
    """A metadata-free JPEG of the photo, at most `side` px (blurred faces applied when asked)."""
    from gatekeeper.review.service import blur_boxes

    storage = app_storage()
    if not storage.exists("originals", photo.uuid):
        abort(404)
    try:
        data = render(storage, photo, side, quality, blur_boxes(photo) if blur else ())
    except ImageRefused:
        abort(415)
    return image_response(data, f"photo-{photo.id}.jpg")
