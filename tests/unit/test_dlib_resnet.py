"""dlib's face recognition network on onnxruntime (screening/dlib_resnet.py) gives dlib's own
encodings: every stored reference was made by dlib, and screening compares with them."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from gatekeeper.screening.detect import find_faces
from gatekeeper.screening.dlib_resnet import (
    CONVOLUTIONS,
    ModelFileError,
    encode_chips,
    face_models,
    read_network,
)
from gatekeeper.screening.encode import CHIP_PADDING, _chip, _face_crop, _landmarks, encode_faces

# float32 on two runtimes: the 22 faces below differ by at most 1.1e-6 (faces of different
# people are 0.5 and more apart, the same person's photos 0.2-0.45).
SAME_ENCODING = 1e-4


def model_bytes() -> bytes:
    with open(face_models().face_recognition_model_location(), "rb") as f:
        return f.read()


def dlib_own(image: Image.Image, box) -> np.ndarray:
    """What face_recognition.face_encodings computes: dlib's network in dlib."""
    import dlib

    net = dlib.face_recognition_model_v1(face_models().face_recognition_model_location())
    crop, (top, right, bottom, left) = _face_crop(image, box)
    shape = _landmarks()(crop, dlib.rectangle(left, top, right, bottom))
    return np.asarray(net.compute_face_descriptor(crop, shape, 1, CHIP_PADDING))


def test_the_network_on_onnxruntime_gives_dlibs_own_encodings(faces_dir):
    photos = sorted((faces_dir / "events").iterdir())
    photos += [sorted(p.iterdir())[0] for p in sorted((faces_dir / "people").iterdir())]
    compared = 0
    for path in photos:
        image = Image.open(path).convert("RGB")
        boxes = [(d.top, d.right, d.bottom, d.left) for d in find_faces(image).faces]
        ours = encode_faces(image, boxes)
        for box, encoding in zip(boxes, ours, strict=True):
            if encoding is None:
                continue
            assert np.linalg.norm(encoding - dlib_own(image, box)) < SAME_ENCODING, (path, box)
            compared += 1
    assert compared >= 15


def test_a_batch_gives_each_face_what_it_gets_alone(faces_dir):
    image = Image.open(faces_dir / "events" / "obama_and_biden.jpg").convert("RGB")
    boxes = [(d.top, d.right, d.bottom, d.left) for d in find_faces(image).faces]
    chips = [_chip(image, box) for box in boxes]
    together = encode_chips(chips)
    alone = np.stack([encode_chips([chip])[0] for chip in chips])
    assert len(chips) >= 2 and np.abs(together - alone).max() < 1e-5


def test_a_damaged_or_different_model_file_is_refused_with_the_reason():
    data = model_bytes()
    assert len(read_network(data).convolutions) == CONVOLUTIONS
    with pytest.raises(ModelFileError, match="29 convolutions"):
        read_network(data[: len(data) // 2])  # cut short: half the layers
    with pytest.raises(ModelFileError):
        read_network(b"not a dlib model")
    # The first convolution's tensor claims more values than the file holds.
    first = data.find(b"\x01\x05con_4") + 7
    assert data[first: first + 2] == b"\x01\x02"  # the tensor's version; then its first size
    size_end = first + 3 + data[first + 2]
    damaged = data[: first + 2] + b"\x04\xff\xff\xff\x7f" + data[size_end:]
    with pytest.raises(ModelFileError, match="past the end"):
        read_network(damaged)
