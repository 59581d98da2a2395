"""Screening speed on 12 MP group photos: ours vs face_recognition's documented pipeline.

Generated 4032x3024 JPEGs with GPS EXIF, five faces each composed from the shared people/ photos.
Ours = the whole screening of one upload (decode, detect, both embeddings, decide, verdict).
"""

from __future__ import annotations

import io
import os
import resource
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # inherited by spawned workers: one thread each
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.support

import multiprocessing as mp  # noqa: E402

import numpy as np  # noqa: E402
import piexif  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402

from gatekeeper.screening.rule import (  # noqa: E402
    FaceVectors,
    Gallery,
    Reference,
    decide_faces,
    photo_verdict,
)
from tests.support.photos import compose_group, head_crop  # noqa: E402

FACES_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces"
SIZE = (4032, 3024)
FACES_PER_PHOTO = 5
FACE_HEIGHTS = (80, 110, 150, 200, 280)  # what a HOG detector at default settings can also find
DISTINCT_PHOTOS = 10
POOL_PHOTOS = 100
WORKERS = 2
NAIVE_PHOTOS = 3
NAIVE_TOLERANCE = 0.6
GALLERY_REFERENCES = 50_000
MATCH_FACES = 100
NOISE_SIGMA = 12  # camera-like noise so the JPEGs weigh and decode like photos (~4-6 MB)
TARGETS = (
    "targets: speedup >= 5, p50 <= 1.0 s, 100 photos/2 workers < 90 s, RSS < 1.5 GB, match < 20 ms"
)


def gps_exif() -> bytes:
    gps = {
        piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: ((51, 1), (30, 1), (26, 1)),
        piexif.GPSIFD.GPSLongitudeRef: b"W", piexif.GPSIFD.GPSLongitude: ((0, 1), (7, 1), (39, 1)),
    }
    return piexif.dump({"0th": {piexif.ImageIFD.Make: b"Apple"}, "GPS": gps})


def load(path: Path) -> np.ndarray:
    return np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))


def group_photos(heads: list) -> list[bytes]:
    """DISTINCT_PHOTOS JPEGs of five faces each, with GPS EXIF."""
    rng = np.random.default_rng(7)
    photos = []
    for seed in range(DISTINCT_PHOTOS):
        chosen = [heads[(seed + i) % len(heads)] for i in range(FACES_PER_PHOTO)]
        rgb, _ = compose_group(chosen, FACE_HEIGHTS, size=SIZE, seed=seed)
        noisy = rgb + rng.normal(0, NOISE_SIGMA, rgb.shape).astype(np.float32)
        out = io.BytesIO()
        Image.fromarray(noisy.clip(0, 255).astype(np.uint8)).save(
            out, "JPEG", quality=92, exif=gps_exif()
        )
        photos.append(out.getvalue())
    return photos


def enrolled_references() -> list[Reference]:
    from gatekeeper.screening.engine import reference_vectors

    people = sorted(p for p in (FACES_DIR / "people").iterdir() if p.is_dir())
    return [
        Reference.of(number, person.name, reference_vectors(photo.read_bytes()))
        for number, person in enumerate(people, start=1)
        for photo in sorted(person.iterdir())
    ]


def screen_once(data: bytes, gallery: Gallery, publishable: frozenset) -> tuple[str, list]:
    from gatekeeper.screening.engine import analyse_bytes

    analysis = analyse_bytes(data)
    decisions = decide_faces([f.vectors for f in analysis.faces], gallery, publishable)
    return photo_verdict(decisions), [f.box.as_list() for f in analysis.faces]


def naive_once(path: str, known: list) -> list:
    """face_recognition's README pipeline: load, locate (defaults), encode, compare at 0.6."""
    import face_recognition

    image = face_recognition.load_image_file(path)
    locations = face_recognition.face_locations(image)
    for encoding in face_recognition.face_encodings(image, locations):
        face_recognition.compare_faces(known, encoding, tolerance=NAIVE_TOLERANCE)
    return [list(box) for box in locations]


def covers(ours: list, theirs: list) -> bool:
    """Every box found by the naive pipeline has one of ours centred inside it."""
    def inside(box, other):
        cy, cx = (other[0] + other[2]) / 2, (other[1] + other[3]) / 2
        return box[0] <= cy <= box[2] and box[3] <= cx <= box[1]

    return all(any(inside(box, mine) for mine in ours) for box in theirs)


@contextmanager
def timed(cpu: list, wall: list):
    """Append this block's CPU seconds (one thread: the work done) and wall seconds."""
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    yield
    cpu.append(time.process_time() - cpu_start)
    wall.append(time.perf_counter() - wall_start)


# --- worker processes ---------------------------------------------------------------------------
_worker_state: dict = {}


def _worker_init(references: list[Reference]) -> None:
    from gatekeeper.screening import dlib_resnet, embed
    from gatekeeper.screening.detect import _session
    from gatekeeper.screening.encode import _landmarks

    # Load models before the first photo.
    _session(), _landmarks(), dlib_resnet._session(), embed._session()
    time.sleep(0.2)  # hold this worker so the next init task reaches the other one
    _worker_state["gallery"] = Gallery(references)
    _worker_state["publishable"] = frozenset(r.pupil_id for r in references)


def _worker_screen(task: tuple[bytes, list[Reference]]) -> tuple[int, str, float]:
    data, references = task
    if "gallery" not in _worker_state:
        _worker_init(references)
    verdict, _ = screen_once(data, _worker_state["gallery"], _worker_state["publishable"])
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    return os.getpid(), verdict, peak_mb


def start_pool():
    """WORKERS spawned processes, started while this process is still small: Linux keeps
    ru_maxrss across exec, so a worker would otherwise report its parent's peak."""
    return mp.get_context("spawn").Pool(WORKERS)


def pool_run(pool, photos: list[bytes], references: list[Reference]) -> tuple[float, float]:
    """Seconds for POOL_PHOTOS photos through the workers (models loaded), and peak RSS (MB)."""
    pool.map(_worker_init, [references] * WORKERS * 4, chunksize=1)  # every worker loads models
    work = [(photos[i % len(photos)], references) for i in range(POOL_PHOTOS)]
    start = time.perf_counter()
    results = pool.map(_worker_screen, work, chunksize=1)
    elapsed = time.perf_counter() - start
    return elapsed, max(peak for _, _, peak in results)


def _unit(rng, count: int, size: int) -> np.ndarray:
    vectors = rng.normal(size=(count, size))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def match_ms_per_face() -> float:
    """Deciding one face against GALLERY_REFERENCES references with both vectors (matched by
    thresholds.MATCH_BY)."""
    rng = np.random.default_rng(1)
    matrix = rng.normal(0, 0.09, (GALLERY_REFERENCES, 128))
    embeddings = _unit(rng, GALLERY_REFERENCES, 192)
    gallery = Gallery(Reference(i // 2, f"U{i // 2:07d}", e, m)
                      for i, (e, m) in enumerate(zip(matrix, embeddings, strict=True)))
    publishable = frozenset(range(0, GALLERY_REFERENCES // 2, 3))
    faces = [FaceVectors(e, m) for e, m in zip(rng.normal(0, 0.09, (MATCH_FACES, 128)),
                                              _unit(rng, MATCH_FACES, 192), strict=True)]
    start = time.process_time()  # CPU time, as for the single-core photo timings
    decide_faces(faces, gallery, publishable)
    return (time.process_time() - start) / MATCH_FACES * 1000


def vectors_ms_per_face(paths: list[Path]) -> tuple[float, float]:
    """CPU ms per face for dlib's encoding and for MobileFaceNet's aligned embedding, on the
    shared reference photos (one face each)."""
    from gatekeeper.screening.detect import detect_faces
    from gatekeeper.screening.embed import embed_faces
    from gatekeeper.screening.encode import encode_face

    images = [Image.fromarray(load(p)) for p in paths]
    faces = [(image, d) for image in images for d in detect_faces(image)[:1]]

    def box(d):
        return d.top, d.right, d.bottom, d.left

    encode_face(faces[0][0], box(faces[0][1])), embed_faces(faces[0][0], [faces[0][1].landmarks])
    start = time.process_time()
    for image, d in faces:
        encode_face(image, box(d))
    dlib_ms = (time.process_time() - start) / len(faces) * 1000
    start = time.process_time()
    for image, d in faces:
        embed_faces(image, [d.landmarks])
    return dlib_ms, (time.process_time() - start) / len(faces) * 1000


def main() -> int:
    if not FACES_DIR.is_dir():
        print(f"bench-screening: face fixtures missing at {FACES_DIR}")
        return 1
    pool = start_pool()
    heads = [head_crop(load(p)) for p in sorted((FACES_DIR / "people").glob("*/*"))]
    photos = group_photos(heads)
    references = enrolled_references()
    gallery, publishable = Gallery(references), frozenset(r.pupil_id for r in references)

    screen_once(photos[0], gallery, publishable)  # warm-up: models, allocator
    ours_cpu, ours_wall, ours_boxes = [], [], []
    for data in photos:
        with timed(ours_cpu, ours_wall):
            ours_boxes.append(screen_once(data, gallery, publishable)[1])
    p50 = statistics.median(ours_cpu)

    known = [r.encoding for r in references]
    naive_cpu, naive_wall, naive_ok, naive_faces = [], [], True, []
    with tempfile.TemporaryDirectory() as tmp:
        for i, data in enumerate(photos[:NAIVE_PHOTOS]):
            path = Path(tmp) / f"{i}.jpg"
            path.write_bytes(data)
            with timed(naive_cpu, naive_wall):
                theirs = naive_once(str(path), known)
            naive_faces.append(len(theirs))
            naive_ok &= covers(ours_boxes[i], theirs)
    naive_p50 = statistics.median(naive_cpu)

    with pool:
        pool_s, peak_rss = pool_run(pool, photos, references)
    match_ms = match_ms_per_face()
    dlib_ms, mfn_ms = vectors_ms_per_face(sorted((FACES_DIR / "people").glob("*/*")))
    per_min = POOL_PHOTOS / pool_s * 60

    ours_faces = [len(b) for b in ours_boxes]
    wall = statistics.median
    print(f"{'pipeline (one thread)':34} {'CPU s/photo':>12} {'wall s':>7} {'faces found':>14}")
    print(f"{'naive face_recognition (HOG, 12MP)':34} {naive_p50:12.2f} {wall(naive_wall):7.2f}"
          f" {str(naive_faces):>14}")
    print(f"{'gatekeeper decode->verdict':34} {p50:12.2f} {wall(ours_wall):7.2f}"
          f" {str(ours_faces[:NAIVE_PHOTOS]):>14}")
    print(f"  medians; CPU time of this process (the machine is shared: wall time varies with"
          f" other load); naive on {NAIVE_PHOTOS} photos, ours on {DISTINCT_PHOTOS}")
    print(f"  ours finds every face the naive finds: {naive_ok}; all {FACES_PER_PHOTO} faces in"
          f" each of {DISTINCT_PHOTOS} photos: {all(n >= FACES_PER_PHOTO for n in ours_faces)}")
    print(f"  {POOL_PHOTOS} photos, {WORKERS} spawned workers, 1 thread each: {pool_s:.1f} s"
          f" (models loaded); peak RSS per worker {peak_rss:.0f} MB")
    print(f"  matching {GALLERY_REFERENCES} references ({gallery.embedding} distance):"
          f" {match_ms:.2f} ms per face")
    print(f"  per face: dlib encoding {dlib_ms:.1f} ms, MobileFaceNet aligned embedding"
          f" {mfn_ms:.1f} ms (CPU)")
    print(f"  {TARGETS}")
    print(
        f"bench: speedup_vs_naive={naive_p50 / p50:.1f} p50_s_per_12mp={p50:.3f}"
        f" photos_per_min_2workers={per_min:.1f} peak_rss_mb={peak_rss:.0f}"
        f" match_ms_per_face_50k={match_ms:.2f} dlib_ms_per_face={dlib_ms:.1f}"
        f" mobilefacenet_ms_per_face={mfn_ms:.1f}"
    )
    return 0 if naive_ok else 1


if __name__ == "__main__":
    sys.exit(main())
