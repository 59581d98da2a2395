"""A stored photo as a response: always a sanitised rendering, never the original's bytes."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Response, abort

from gatekeeper.imaging.decode import ImageRefused
from gatekeeper.imaging.renderings import THUMB_QUALITY, THUMB_SIDE, render, render_posted_small
from gatekeeper.imaging.sanitise import Box
from gatekeeper.models import Photo, Post
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


def posted_image_response(post: Post, boxes: Sequence[Box], side: int = THUMB_SIDE) -> Response:
    """A small copy of exactly what was sent for the post: the account's size and quality, the
    photo's blurs, shrunk from that rendering (never from the original)."""
    storage = app_storage()
    if not storage.exists("originals", post.photo.uuid):
        abort(404)
    try:
        data = render_posted_small(storage, post.photo, post.account.max_side,
                                   post.account.quality, boxes, side)
    except ImageRefused:
        abort(415)
    return image_response(data, f"post-{post.id}.jpg")
