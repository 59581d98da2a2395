"""The tiled second pass on a 48 MP photo: small faces anywhere on it are found in place."""

import numpy as np
import pytest
from PIL import Image, ImageOps

from gatekeeper.screening import thresholds as t
from gatekeeper.screening.detect import detect_faces, pass_scales
from tests.support.photos import head_crop

pytestmark = pytest.mark.slow  # about 5 s of CPU: five reference photos and one 48 MP photo

SIZE = (8064, 6048)  # width, height: a 48 MP phone photo
FACE_HEIGHTS = [60, 62, 64, 66, 68, 70, 72, 60, 66, 72]
# Where each head goes, as fractions of the photo: over every tile of the second pass, several
# across the seams where the tiles' cores meet (0.56 of the width, 0.75 of the height).
SPOTS = [(0.05, 0.06), (0.30, 0.10), (0.52, 0.20), (0.57, 0.40), (0.85, 0.08),
         (0.10, 0.72), (0.40, 0.76), (0.55, 0.73), (0.75, 0.55), (0.90, 0.88)]


def iou(a, b):
    h = min(a[2], b[2]) - max(a[0], b[0])
    w = min(a[1], b[1]) - max(a[3], b[3])
    if h <= 0 or w <= 0:
        return 0.0
    area = lambda r: (r[2] - r[0]) * (r[1] - r[3])  # noqa: E731
    return h * w / (area(a) + area(b) - h * w)


def small_head(head, face_height):
    """A head crop scaled so its face is `face_height` px tall, and the face box inside it."""
    crop, (top, right, bottom, left) = head
    scale = face_height / (bottom - top)
    size = (round(crop.shape[1] * scale), round(crop.shape[0] * scale))
    image = Image.fromarray(crop).resize(size, Image.Resampling.LANCZOS)
    return image, tuple(v * scale for v in (top, right, bottom, left))


@pytest.fixture(scope="module")
def photo_48mp(faces_dir):
    """An 8064x6048 photo with ten real faces of 60-72 px, and their true boxes."""
    # One reference photo per person, each used twice (head_crop runs the detector on each).
    photos = sorted((faces_dir / "people").glob("*/1.jpg"))
    heads = [head_crop(np.asarray(ImageOps.exif_transpose(Image.open(p)).convert("RGB")))
             for p in photos]
    heads = [heads[i % len(heads)] for i in range(len(FACE_HEIGHTS))]
    width, height = SIZE
    shade = np.linspace(90, 150, width, dtype=np.float32).astype(np.uint8)
    canvas = Image.fromarray(np.broadcast_to(shade[None, :, None], (height, width, 3)).copy())
    truth = []
    for head, face_height, (fx, fy) in zip(heads, FACE_HEIGHTS, SPOTS, strict=True):
        image, (top, right, bottom, left) = small_head(head, face_height)
        x, y = round(fx * width), round(fy * height)
        canvas.paste(image, (x, y))
        truth.append((y + top, x + right, y + bottom, x + left))
    return canvas, truth


def test_the_48mp_photo_needs_the_tiled_second_pass():
    scales = pass_scales(SIZE[1], SIZE[0])
    assert len(scales) == 2
    fine_width = SIZE[0] * scales[1]
    assert fine_width > t.DETECTION_TILE  # so the second pass really is tiled


def test_ten_faces_of_60_to_72_px_on_48mp_are_all_found_in_place(photo_48mp):
    canvas, truth = photo_48mp
    boxes = [(d.top, d.right, d.bottom, d.left) for d in detect_faces(canvas)]
    found = [max(iou(expected, b) for b in boxes) for expected in truth]
    assert all(overlap > 0.5 for overlap in found), found
    assert len(boxes) == len(truth)


@pytest.mark.parametrize("length", [1600, 1700, 2688, 3200, 4800])
def test_the_tiles_cores_cover_every_centre_exactly_once(length):
    from gatekeeper.screening.detect import _core, _tiles

    centres = np.arange(length) + 0.5
    owners = np.zeros(length, int)
    for start in _tiles(length):
        low, high = _core(start, length)
        inside = (centres >= start + low) & (centres < start + high)
        inside &= centres < start + t.DETECTION_TILE  # a tile sees no further than its end
        owners += inside
    assert (owners == 1).all()
