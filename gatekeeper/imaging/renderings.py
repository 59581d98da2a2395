"""Sanitised renderings of a stored original (previews and the bytes a publisher receives).

Each rendering is kept in quarantine storage beside the original (kind "renderings"), keyed by
everything that changes its pixels, so a tablet scrolling a queue does not re-decode 12 MP photos.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import logging
import os
import uuid
from pathlib import Path

from PIL import Image

from gatekeeper.imaging.clips import write_clean_clip
from gatekeeper.imaging.sanitise import sanitise
from gatekeeper.imaging.video import frames, picture_at
from gatekeeper.models import Photo
from gatekeeper.storage import RENDERINGS, Storage

THUMB_SIDE = 320
PREVIEW_SIDE = 1600
THUMB_QUALITY = 80


def rendering_name(photo: Photo, side: int, quality: int, boxes) -> str:
    key = json.dumps([photo.uuid, side, quality, sorted(map(list, boxes))])
    return f"{photo.uuid}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


POSTER_TIME = 0.0  # a clip's still on every page, and in "what was posted", is its first picture


@functools.lru_cache(maxsize=4096)
def _first_picture_time(path: str, _size: int) -> float:
    for picture in frames(Path(path)):
        if picture.time >= POSTER_TIME - 1e-3:  # the picture picture_at(path, POSTER_TIME) shows
            return float(picture.time)
    return POSTER_TIME


def poster_time(storage: Storage, photo: Photo) -> float:
    """When the clip's still is: the time of its first picture, which is what picture_at shows
    for POSTER_TIME. Not always 0: a clip whose pictures start late (an empty edit at its start,
    a late first timestamp) shows its first picture at that time, and its blurs must be found
    there. POSTER_TIME when the original is gone."""
    if not storage.exists("originals", photo.uuid):
        return POSTER_TIME
    path = storage.path("originals", photo.uuid)
    return _first_picture_time(str(path), path.stat().st_size)


def render(storage: Storage, photo: Photo, side: int, quality: int, boxes) -> bytes:
    """The sanitised JPEG for these settings: the same bytes the publisher would receive."""
    name = rendering_name(photo, side, quality, boxes)
    if storage.exists(RENDERINGS, name):
        return storage.read(RENDERINGS, name)
    if photo.is_video:
        data = clip_picture(storage, photo, side, quality, boxes)
    else:
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


def clip_picture(storage: Storage, photo: Photo, side: int, quality: int, boxes,
                 time: float = POSTER_TIME, crop: tuple[int, int, int, int] | None = None) -> bytes:
    """A sanitised JPEG of the clip's picture at `time` (its poster at 0), these boxes blurred,
    cut to `crop` (left, top, right, bottom) if given: it goes through the photo sanitiser."""
    picture = Image.fromarray(picture_at(storage.path("originals", photo.uuid), time))
    png = io.BytesIO()
    (picture.crop(crop) if crop else picture).save(png, "PNG", compress_level=1)
    return sanitise(png.getvalue(), max_side=side, quality=quality, blur_boxes=list(boxes))


def render_clip(storage: Storage, photo: Photo, long_side: int, tracks, *, muted: bool,
                hold: float = 0.0) -> Path:
    """The sanitised MP4 of a clip for these settings (blurred tracks' per-sample boxes, each
    held `hold` seconds around its samples; sound kept or not), made once and kept beside the
    original; the file's path."""
    boxes = [list(map(list, track)) for track in tracks]
    key = json.dumps([photo.uuid, "clip", long_side, muted, hold, boxes])
    name = f"{photo.uuid}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    target = storage.path(RENDERINGS, name)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{name}-{uuid.uuid4().hex}.mp4")  # two requests may race
    try:
        write_clean_clip(storage.path("originals", photo.uuid), partial, tracks, hold=hold,
                         mute=muted, long_side=long_side, size=(photo.width, photo.height))
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target
