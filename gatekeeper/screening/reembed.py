"""References enrolled before the second embedding, brought up to date (`gatekeeper init`).

Each reference face enrolled before MobileFaceNet keeps its photo, encrypted: the photo is
analysed again and its embedding stored beside the encoding, but only when the face found is the
one enrolled (its encoding computed again lies within REEMBED_SAME_FACE_DISTANCE of the stored
one). A reference that cannot be re-embedded keeps its encoding alone, and while any reference
of a school lacks the embedding, that school's photos are matched by dlib alone (rule.Gallery).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.models import ReferenceFace
from gatekeeper.compliance import audit
from gatekeeper.compliance.crypto import open_encoding, seal_encoding
from gatekeeper.imaging.decode import ImageRefused
from gatekeeper.screening import thresholds as t
from gatekeeper.screening.engine import ReferenceRefused, reference_vectors


@dataclass
class ReEmbedded:
    """Reference faces given their embedding, and those left with the encoding alone."""

    done: int = 0
    left: int = 0


def re_embed_references(session: Session, cipher: Fernet) -> ReEmbedded:
    """Embed every reference face that has a stored photo and no embedding yet; one audit event
    per school with the counts. The caller commits."""
    rows = session.scalars(select(ReferenceFace).where(
        ReferenceFace.embedding_encrypted.is_(None), ReferenceFace.photo_encrypted.is_not(None)))
    done, left = Counter(), Counter()
    for reference in rows:
        embedding = _embedding_of(reference, cipher)
        if embedding is None:
            left[reference.school_id] += 1
            continue
        reference.embedding_encrypted = seal_encoding(cipher, embedding)
        done[reference.school_id] += 1
    for school_id in sorted(done.keys() | left.keys()):
        audit.record(session, "references_re_embedded", school_id=school_id,
                     detail={"re_embedded": done[school_id], "left_with_encoding_only":
                             left[school_id]})
    return ReEmbedded(sum(done.values()), sum(left.values()))


def _embedding_of(reference: ReferenceFace, cipher: Fernet) -> np.ndarray | None:
    """The embedding of the enrolled face in the reference's photo, or None when the photo no
    longer gives that face (refused, or another face than the one enrolled)."""
    try:
        vectors = reference_vectors(cipher.decrypt(reference.photo_encrypted))
    except (ReferenceRefused, ImageRefused):
        return None
    stored = open_encoding(cipher, reference.encoding_encrypted)
    if np.linalg.norm(vectors.encoding - stored) > t.REEMBED_SAME_FACE_DISTANCE:
        return None
    return vectors.embedding
