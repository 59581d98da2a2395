"""A stored photo as a response: always a sanitised rendering, never the original's bytes."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Response, abort

from gatekeeper.imaging.decode import ImageRefused
from gatekeeper.imaging.renderings import THUMB_QUALITY, THUMB_SIDE, render
from gatekeeper.imaging.sanitise import Box
from gatekeeper.models import Photo
from gatekeeper.storage import app_storage


def image_response(data: bytes, filename: str) -> Response:
    response = Response(data, mimetype="image/jpeg")
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


def thumbnail_response(
    photo: Photo, side: int = THUMB_SIDE, boxes: Sequence[Box] = (), quality: int = THUMB_QUALITY
) -> Response:
    """A metadata-free JPEG of the photo, at most `side` px, with these face boxes blurred."""
    storage = app_storage()
    if not storage.exists("originals", photo.uuid):
        abort(404)
    try:
        data = render(storage, photo, side, quality, boxes)
    except ImageRefused:
        abort(415)
    return image_response(data, f"photo-{photo.id}.jpg")
