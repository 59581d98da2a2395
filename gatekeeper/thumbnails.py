"""Small sanitised previews of originals, for role-checked views only."""

from __future__ import annotations

from flask import Response, abort

from gatekeeper.images import ImageRefused
from gatekeeper.models import Photo
from gatekeeper.storage import app_storage

THUMB_SIDE = 320
PREVIEW_SIDE = 1600


def image_response(data: bytes, filename: str) -> Response:
    response = Response(data, mimetype="image/jpeg")
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


def thumbnail_response(photo: Photo, side: int = THUMB_SIDE, blur: bool = False) -> Response:
    """A metadata-free JPEG of the photo, at most `side` px (blurred faces applied when asked)."""
    from gatekeeper.review.service import blur_boxes
    from gatekeeper.sanitise import sanitise

    storage = app_storage()
    if not storage.exists("originals", photo.uuid):
        abort(404)
    try:
        data = sanitise(
            storage.read("originals", photo.uuid), max_side=side, quality=80,
            blur_boxes=blur_boxes(photo) if blur else (),
        )
    except ImageRefused:
        abort(415)
    return image_response(data, f"photo-{photo.id}.jpg")
