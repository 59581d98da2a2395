"""Face analyses of the school-size evaluation sets, cached by file hash (`eval-schools`).

Every image of ../shared/data/schools is analysed once with the product's own detector and both
its embeddings; the result (each face's box, score, sharpness, landmarks, dlib encoding and
MobileFaceNet embedding, or none where the product would not encode it) is kept in an SQLite file
keyed by the SHA-256 of the file's bytes, the transform applied (LAG crops are scaled 3x with
Lanczos, as the sets' README asks), the screening settings that shape an analysis and the version
of the embedding model. A rerun reads the cache and takes minutes; a changed setting re-analyses.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from gatekeeper.screening import thresholds as t
from gatekeeper.screening.detect import detect_faces
from gatekeeper.screening.embed import embed_faces, model_version
from gatekeeper.screening.encode import encode_face, face_sharpness

CACHE_FILE = "school-encodings.sqlite"
# Faces of the LAG set are 70-80 px crops: scaled up before analysis so they pass the product's
# reference-size gate the way a school's own reference photo would.
LAG_UPSCALE = 3
COMMIT_EVERY = 50  # analyses written per transaction: an interrupted run keeps its work


@dataclass(frozen=True)
class CachedFace:
    """One detected face of a cached image (box in pixels of the analysed image)."""

    box: tuple[int, int, int, int]  # top, right, bottom, left
    score: float
    sharpness: float
    encoding: np.ndarray | None  # None: the product would not encode it (too small or blurred)
    embedding: np.ndarray | None = None  # MobileFaceNet's, for the same faces as `encoding`
    landmarks: tuple = ()  # five (x, y): eyes, nose tip, mouth corners

    @property
    def height(self) -> int:
        return self.box[2] - self.box[0]


@dataclass(frozen=True)
class CachedImage:
    width: int
    height: int
    faces: tuple[CachedFace, ...]

    def central_face(self) -> CachedFace | None:
        """The face the set's label is about: the crops are centred on it."""
        cy, cx = self.height / 2, self.width / 2

        def offset(face: CachedFace) -> float:
            top, right, bottom, left = face.box
            return ((top + bottom) / 2 - cy) ** 2 + ((left + right) / 2 - cx) ** 2

        # A face away from the centre is someone else at the edge: then the person was not found.
        inside = [f for f in self.faces
                  if f.box[0] <= cy <= f.box[2] and f.box[3] <= cx <= f.box[1]]
        return min(inside, key=offset) if inside else None


def settings_key() -> str:
    """What shapes an analysis: a change here re-analyses instead of reusing stale encodings.
    "small", 1: the encoding's alignment (dlib's five landmarks) and passes, as face_recognition
    named them; kept in the key so caches made before the network moved to onnxruntime (the same
    encodings) stay valid."""
    return json.dumps([model_version(),
        "small", 1, t.DETECTION_SCORE, t.DETECTION_PEAK_WINDOW,
        t.SAME_FACE_CENTRE, t.SAME_FACE_SIZE, t.MAYBE_SAME_FACE_CENTRE, t.MAYBE_SAME_FACE_SIZE,
        t.DETECTION_FIRST_PASS_MIN_FACE_PX, t.DETECTION_TILE_OVERLAP, t.DETECTION_LONG_SIDE,
        t.MIN_ENCODE_FACE_PX, t.MIN_ENCODE_SHARPNESS, t.ENCODE_MAX_FACE_PX,
    ])


def upscale_for(path: Path) -> int:
    return LAG_UPSCALE if "lag" in path.parts else 1


def _load_rgb(path: Path, upscale: int):
    with Image.open(path) as image:
        rgb = image.convert("RGB")
    if upscale != 1:
        rgb = rgb.resize((rgb.width * upscale, rgb.height * upscale), Image.Resampling.LANCZOS)
    return rgb


def analyse_file(path: Path, upscale: int) -> CachedImage:
    """Detect every face with the product's detector; encode those the product would encode."""

    image = _load_rgb(path, upscale)
    detections = detect_faces(image)
    boxes = [(d.top, d.right, d.bottom, d.left) for d in detections]
    sharp = [face_sharpness(image, box) for box in boxes]
    ok = [d.height >= t.MIN_ENCODE_FACE_PX and s >= t.MIN_ENCODE_SHARPNESS
          for d, s in zip(detections, sharp, strict=True)]
    landmarks = [d.landmarks for d, o in zip(detections, ok, strict=True) if o]
    embedded = iter(embed_faces(image, landmarks))
    faces = [
        CachedFace(box, float(d.score), s, encode_face(image, box) if o else None,
                   next(embedded) if o else None, d.landmarks)
        for d, box, s, o in zip(detections, boxes, sharp, ok, strict=True)
    ]
    return CachedImage(image.width, image.height, tuple(faces))


def _vector(values) -> list[float] | None:
    return None if values is None else [round(float(v), 7) for v in values]


def _array(values) -> np.ndarray | None:
    return None if values is None else np.asarray(values, np.float64)


def _to_json(image: CachedImage) -> str:
    return json.dumps({"w": image.width, "h": image.height, "faces": [
        {"box": list(f.box), "score": f.score, "sharp": f.sharpness,
         "enc": _vector(f.encoding), "emb": _vector(f.embedding),
         "marks": [list(p) for p in f.landmarks]}
        for f in image.faces]})


def _from_json(text: str) -> CachedImage:
    data = json.loads(text)
    return CachedImage(data["w"], data["h"], tuple(
        CachedFace(tuple(f["box"]), f["score"], f["sharp"], _array(f["enc"]),
                   _array(f.get("emb")), tuple(tuple(p) for p in f.get("marks", ())))
        for f in data["faces"]))


class EncodingCache:
    """SQLite file of analyses keyed by (sha256 of the bytes, upscale, settings)."""

    def __init__(self, folder: Path):
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(folder / CACHE_FILE)
        self.db.execute("CREATE TABLE IF NOT EXISTS analysis (key TEXT PRIMARY KEY, body TEXT)")
        self.settings = settings_key()

    def key(self, data: bytes, upscale: int) -> str:
        digest = hashlib.sha256(data).hexdigest()
        return hashlib.sha256(f"{digest}|{upscale}|{self.settings}".encode()).hexdigest()

    def get_many(self, keys: list[str]) -> dict[str, CachedImage]:
        found = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(f"SELECT key, body FROM analysis WHERE key IN ({marks})", chunk)
            found.update({k: _from_json(body) for k, body in rows})
        return found

    def put(self, key: str, image: CachedImage) -> None:
        self.db.execute("INSERT OR REPLACE INTO analysis VALUES (?, ?)", (key, _to_json(image)))


def analyse_all(
    paths: Iterable[Path], cache: EncodingCache, progress: Callable[[str], None] | None = None,
    cached_only: bool = False,
) -> dict[Path, CachedImage]:
    """Every image analysed, from the cache where it is there; new analyses are cached.
    With `cached_only`, images not in the cache are left out instead of analysed."""
    paths = list(paths)
    keys = {p: cache.key(p.read_bytes(), upscale_for(p)) for p in paths}
    found = cache.get_many(list(set(keys.values())))
    missing = [] if cached_only else [p for p in paths if keys[p] not in found]
    for done, path in enumerate(missing, start=1):
        found[keys[path]] = analyse_file(path, upscale_for(path))
        cache.put(keys[path], found[keys[path]])
        if done % COMMIT_EVERY == 0 or done == len(missing):
            cache.db.commit()
            if progress:
                progress(f"analysed {done}/{len(missing)} new images")
    return {p: found[keys[p]] for p in paths if keys[p] in found}
