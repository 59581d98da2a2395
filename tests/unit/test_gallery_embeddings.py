"""The gallery's distances with the second embedding: fused when every reference and every face
of the photo has it, dlib's alone (with dlib's thresholds) when any lacks it."""

import numpy as np
import pytest

from gatekeeper.screening import thresholds as t
from gatekeeper.screening.rule import (
    DLIB,
    EMBEDDINGS,
    FUSED,
    MATCHINGS,
    MOBILEFACENET,
    FaceVectors,
    Gallery,
    Reference,
    decide_faces,
    fuse,
    pairwise_distances,
)
from gatekeeper.states import FaceStatus

RNG = np.random.default_rng(11)


def unit(n: int) -> np.ndarray:
    v = RNG.normal(size=n)
    return v / np.linalg.norm(v)


def school(pupils: int = 40, per_pupil: int = 2, embedded: bool = True) -> list[Reference]:
    return [Reference(p, f"U{p:04d}", RNG.normal(0, 0.09, 128), unit(192) if embedded else None)
            for p in range(1, pupils + 1) for _ in range(per_pupil)]


def brute_force(refs: list[Reference], face: FaceVectors, embedding: str) -> dict[int, float]:
    best: dict[int, float] = {}
    for r in refs:
        dlib = np.linalg.norm(r.encoding - face.encoding)
        mfn = None if embedding == DLIB else np.linalg.norm(r.embedding - face.embedding)
        d = {DLIB: dlib, MOBILEFACENET: mfn}.get(embedding) if embedding != FUSED else float(
            fuse(np.array(dlib), np.array(mfn)))
        best[r.pupil_id] = min(best.get(r.pupil_id, np.inf), d)
    return best


@pytest.mark.parametrize("embedding", EMBEDDINGS)
def test_each_distance_is_the_nearest_reference_of_each_pupil(embedding):
    refs = school()
    gallery = Gallery(refs, embedding)
    face = FaceVectors(RNG.normal(0, 0.09, 128), unit(192))
    expected = brute_force(refs, face, embedding)
    assert np.allclose(gallery.distances(face), [expected[p] for p in gallery.pupil_ids])


def test_a_gallery_is_fused_only_when_every_reference_has_the_embedding():
    refs = school()
    assert Gallery(refs).embedding == t.MATCH_BY
    older = refs[:-1] + [Reference(refs[-1].pupil_id, refs[-1].upn, refs[-1].encoding)]
    assert Gallery(older).embedding == DLIB
    assert Gallery(school(embedded=False)).embedding == DLIB
    assert Gallery([]).embedding == DLIB
    for embedding in (FUSED, MOBILEFACENET):
        with pytest.raises(ValueError, match="needs every reference's embedding"):
            Gallery(older, embedding)
        with pytest.raises(ValueError, match="needs every reference's embedding"):
            Gallery(older).by(embedding)


def test_a_photo_with_a_face_screened_before_the_embedding_is_matched_by_dlib():
    gallery = Gallery(school(), FUSED)
    new = FaceVectors(RNG.normal(0, 0.09, 128), unit(192))
    old = FaceVectors(RNG.normal(0, 0.09, 128))
    assert gallery.for_faces([new, None]).embedding == FUSED
    assert gallery.for_faces([new, old]).embedding == DLIB
    assert gallery.for_faces([old.encoding]).embedding == DLIB  # a bare array is dlib's alone
    with pytest.raises(ValueError, match="needs the face's embedding"):
        gallery.distances(old)


def near(reference: Reference, dlib: float, mfn: float) -> FaceVectors:
    """A face `dlib` from the reference's encoding and `mfn` from its embedding."""
    step = unit(128)
    turn = unit(192)
    turn -= (turn @ reference.embedding) * reference.embedding
    turn /= np.linalg.norm(turn)
    angle = 2 * np.arcsin(mfn / 2)  # chord length on the unit sphere
    embedding = np.cos(angle) * reference.embedding + np.sin(angle) * turn
    return FaceVectors(reference.encoding + dlib * step, embedding)


def test_decide_faces_uses_the_thresholds_of_the_distance_it_matches_by():
    """A consented pupil's face that the fused distance clears and dlib's alone does not: cleared
    when every vector is there, sent to a person when one face of the photo lacks the embedding."""
    refs = school(pupils=5, per_pupil=1)
    fused_radius = MATCHINGS[FUSED].strict_for(5)
    dlib_radius = MATCHINGS[DLIB].strict_for(5)
    # dlib's distance well outside dlib's radius, MobileFaceNet's close enough that the fused one
    # is inside the fused radius.
    dlib = dlib_radius + 0.1
    mfn = (fused_radius - 0.05 - t.FUSED_DLIB_WEIGHT * dlib) / (
        (1 - t.FUSED_DLIB_WEIGHT) * t.MOBILEFACENET_SCALE)
    assert 0 < mfn < 2
    face = near(refs[0], dlib, mfn)
    everyone = frozenset(r.pupil_id for r in refs)
    gallery = Gallery(refs, FUSED)
    [fused] = decide_faces([face], gallery, everyone)
    assert (fused.status, fused.pupil_id) == (FaceStatus.CLEARED, refs[0].pupil_id)
    stranger_before = FaceVectors(RNG.normal(0, 0.09, 128) + 5)
    decided = decide_faces([face, stranger_before], gallery, everyone)
    assert decided[0].status == FaceStatus.UNKNOWN  # dlib's distance alone: a person looks


def test_pairwise_distances_agree_with_the_gallery():
    refs = school(pupils=6, per_pupil=1)
    faces = [FaceVectors(r.encoding, r.embedding) for r in refs]
    for embedding in EMBEDDINGS:
        matrix = pairwise_distances(faces, embedding)
        gallery = Gallery(refs, embedding)
        assert np.allclose(matrix, [gallery.distances(f) for f in faces], atol=1e-6)
        assert np.allclose(np.diag(matrix), 0, atol=1e-6)
