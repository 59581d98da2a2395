"""Video clips through the product, with clips made here by PyAV from the shared faces: a
protected pupil blocks the clip, a blurred face is pixelated in every picture posted, sound and
turn are right, nothing but geometry and codec fields is left (by exiftool), and hostile files are
refused with one line and leave nothing behind."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select, update

from gatekeeper.imaging.clips import write_clean_clip
from gatekeeper.imaging.mp4 import ClipRefused
from gatekeeper.imaging.sanitise import _block_size, _blur_region
from gatekeeper.imaging.video import frames
from gatekeeper.models import AuditEvent, Face, Photo, Post
from gatekeeper.publishing.adapters import school_outbox
from gatekeeper.screening.clips import SAMPLE_EVERY, SAMPLE_GAPS, analyse_clip
from tests.support.clips import (
    background,
    moving_face,
    paste,
    sample_delta,
    scaled_head,
    with_time_offsets,
    write_clip,
)
from tests.support.fixtures import add_pupil, upload_photo
from tests.support.photos import head_crop

pytestmark = pytest.mark.slow

SIZE = (960, 540)
FACE_PX = 130
SECONDS = 2.0
FPS = 25
ON_SCREEN = (0.5, 1.5)  # the face is on screen for a second
START, END = (40, 150), (640, 170)  # where the head moves (its top-left corner)
# Exiftool's tags a clean clip may show: the file, the movie's and tracks' structure, geometry
# and codec fields. Dates must be zero.
EXIFTOOL_ALLOWED = {
    "MajorBrand", "MinorVersion", "CompatibleBrands", "MovieHeaderVersion", "CreateDate",
    "ModifyDate", "TimeScale", "Duration", "PreferredRate", "PreferredVolume", "MatrixStructure",
    "PreviewTime", "PreviewDuration", "PosterTime", "SelectionTime", "SelectionDuration",
    "CurrentTime", "NextTrackID", "MediaDataSize", "MediaDataOffset", "TrackHeaderVersion",
    "TrackCreateDate", "TrackModifyDate", "TrackID", "TrackDuration", "TrackLayer",
    "TrackVolume", "ImageWidth", "ImageHeight", "MediaHeaderVersion", "MediaCreateDate",
    "MediaModifyDate", "MediaTimeScale", "MediaDuration", "MediaLanguageCode", "HandlerType",
    "HandlerDescription", "Balance", "AudioFormat", "AudioChannels", "AudioBitsPerSample",
    "AudioSampleRate", "GraphicsMode", "OpColor", "CompressorID", "SourceImageWidth",
    "SourceImageHeight", "XResolution", "YResolution", "BitDepth", "BufferSize", "MaxBitrate",
    "AverageBitrate", "VideoFrameRate", "ImageSize", "Megapixels", "AvgBitrate", "Rotation",
    "FileType", "FileTypeExtension", "MIMEType",
}
ZERO_DATE = "0000:00:00 00:00:00"
IDENTIFYING = {"location": "+51.5074-000.1278/", "make": "Apple", "model": "iPad (10th generation)",
               "creation_time": "2026-07-10T10:00:00Z", "title": "Ava's race",
               "encoder": "Camera 1.0", "comment": "10 Acacia Avenue"}


@pytest.fixture
def run_cli(app):
    """Run `gatekeeper ...` against the test app's database and instance folder."""
    env = {**os.environ, "GATEKEEPER_INSTANCE": str(app.config["INSTANCE"]),
           "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "REDIS_URL": app.config["REDIS_URL"]}
    command = str(Path(sys.executable).with_name("gatekeeper"))

    def gatekeeper(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([command, *args], env=env, capture_output=True, text=True,
                              timeout=300)

    return gatekeeper


@pytest.fixture(scope="module")
def heads(faces_dir):
    """A head of each shared person, its face FACE_PX tall, and the face box inside the head."""
    found = {}
    for person in ("rose_leslie", "alex_lacamoire", "kit_harington"):
        rgb = np.asarray(Image.open(sorted((faces_dir / "people" / person).iterdir())[0])
                         .convert("RGB"))
        crop, box = head_crop(rgb)
        found[person] = scaled_head(crop, box, FACE_PX)
    return found


@pytest.fixture
def pupils(app, school, faces_dir):
    people = faces_dir / "people"
    with app.app_context():
        from gatekeeper.extensions import db

        kit = add_pupil(db.session, school["id"], 1, "Kit", "Harington",
                        consents={"social_media": "granted"},
                        faces=sorted((people / "kit_harington").iterdir()))
        rose = add_pupil(db.session, school["id"], 2, "Rose", "Leslie",
                         consents={"social_media": "refused"},
                         faces=sorted((people / "rose_leslie").iterdir()))
        return {"kit": (kit.id, kit.upn), "rose": (rose.id, rose.upn)}


@pytest.fixture
def uploader(login_as):
    staff = login_as("staff")
    event = staff.post("/uploads/events", {"name": "Sports day", "date": "2026-07-10",
                                           "purpose": "social_media"})
    return staff, event.get_json()["id"]


def clip_of(tmp_path: Path, heads, person: str, name: str = "race.mov", **options) -> tuple:
    head, box = heads[person]
    picture = moving_face(head, SIZE, START, END, ON_SCREEN, SECONDS)
    path = write_clip(tmp_path / name, picture, seconds=SECONDS, fps=FPS, **options)
    return path, picture, box


def face_box_at(t: float, box) -> tuple[int, int, int, int] | None:
    """Where the face is at `t` in the made clip (top, right, bottom, left), or None."""
    if not ON_SCREEN[0] <= t <= ON_SCREEN[1]:
        return None
    share = (t - ON_SCREEN[0]) / (ON_SCREEN[1] - ON_SCREEN[0])
    x = round(START[0] + (END[0] - START[0]) * share)
    y = round(START[1] + (END[1] - START[1]) * share)
    top, right, bottom, left = box
    return top + y, right + x, bottom + y, left + x


def upload_clip(uploader, path: Path):
    staff, event_id = uploader
    response = upload_photo(staff, event_id, path.name, path.read_bytes())
    return response, response.get_json()


def decoded(path: Path):
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.time, frame.to_ndarray(format="rgb24")


def exiftool(path: Path) -> dict:
    out = subprocess.run(["exiftool", "-j", "-a", "-G1", "-s", str(path)], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)[0]


RELEASE = {"account_id": "1", "caption": "Sports day", "dressed": "yes", "no_distress": "yes",
           "no_location": "yes", "tagging_off": "yes"}


def release_and_publish(app, media, clip_id: int) -> Path:
    """Release the clip to the outbox with the checklist ticked and publish it: the MP4 posted."""
    assert media.post(f"/review/clips/{clip_id}/release", RELEASE).status_code == 302
    with app.app_context():
        from gatekeeper.extensions import db
        from gatekeeper.worker.tasks import publish_due_posts

        publish_due_posts()
        post = db.session.scalars(select(Post)).one()
        assert post.state == "published", post.last_error
        return school_outbox(app.config["OUTBOX_DIR"], post.school_id) / f"{post.uuid}.mp4"


def test_a_protected_pupil_on_screen_for_a_second_blocks_the_clip(app, pupils, heads, uploader,
                                                                  tmp_path, login_as):
    path, _picture, _box = clip_of(tmp_path, heads, "rose_leslie")
    response, body = upload_clip(uploader, path)
    assert response.status_code == 201, body
    assert body["status"] == "blocked"  # Rose's parents refused
    with app.app_context():
        from gatekeeper.extensions import db

        photo = db.session.get(Photo, body["id"])
        assert photo.kind == "video" and photo.duration_s == pytest.approx(SECONDS, abs=0.1)
        [track] = photo.faces
        assert track.status == "blocked" and track.pupil_id == pupils["rose"][0]
        assert len(track.track["boxes"]) >= 2  # seen in at least two samples
        assert ON_SCREEN[0] - 0.05 <= track.seen_from and track.seen_until <= ON_SCREEN[1] + 0.05
        face_id = track.id
    # The DSL is shown the picture of the look Rose's block stands on, cut from the clip.
    crop = login_as("dsl").get(f"/safeguarding/faces/{face_id}/crop?pupil={pupils['rose'][0]}")
    assert crop.status_code == 200 and crop.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(crop.data)).size[0] > 0


@pytest.mark.once
def test_a_blurred_face_is_pixelated_in_every_picture_posted(app, pupils, heads, uploader,
                                                             login_as, tmp_path):
    path, picture, box = clip_of(tmp_path, heads, "alex_lacamoire")
    response, body = upload_clip(uploader, path)
    assert body["status"] == "needs_review", body  # a stranger: a person decides
    media = login_as("media_lead")
    assert media.get(f"/review/{body['id']}").headers["Location"].endswith(
        f"/review/clips/{body['id']}")
    page = media.get(f"/review/clips/{body['id']}").get_data(as_text=True)
    with app.app_context():
        from gatekeeper.extensions import db

        [track] = db.session.get(Photo, body["id"]).faces
        face_id = track.id
    assert f"/review/clips/{body['id']}/faces/{face_id}/card" in page
    played = media.get(f"/review/clips/{body['id']}/play", headers={"Range": "bytes=0-99"})
    assert played.status_code == 206 and played.mimetype == "video/mp4"
    assert len(played.get_data()) == 100 and played.get_data()[4:8] == b"ftyp"
    played.close()  # a streamed file: the test client leaves it open otherwise
    staff, _event = uploader
    assert staff.get(f"/review/clips/{body['id']}/play").status_code == 403  # media leads only
    card = media.get(f"/review/clips/{body['id']}/faces/{face_id}/card")
    assert card.status_code == 200 and card.mimetype == "image/jpeg"
    blurred = media.post(f"/review/{body['id']}/faces/{face_id}", {"resolution": "blur"})
    assert blurred.status_code == 302
    posted = release_and_publish(app, media, body["id"])
    side = json.loads(posted.with_suffix(".json").read_text())
    assert side["video_file"] == posted.name
    checked = 0
    for t, pixels in decoded(posted):
        source = picture(t).astype(np.int16)
        assert pixels.shape == source.shape
        away = np.abs(pixels[-60:, -200:].astype(np.int16) - source[-60:, -200:]).mean()
        assert away < 8, (t, away)  # the rest of the picture is the source, re-encoded
        face = face_box_at(t, box)
        if face is None:
            continue
        top, right, bottom, left = face
        top, left = max(0, top), max(0, left)
        mid_y, mid_x = (top + bottom) // 2, (left + right) // 2
        for y0, y1, x0, x1 in ((top, mid_y, left, mid_x), (top, mid_y, mid_x, right),
                               (mid_y, bottom, left, mid_x), (mid_y, bottom, mid_x, right)):
            quarter = np.abs(pixels[y0:y1, x0:x1].astype(np.int16) - source[y0:y1, x0:x1])
            assert quarter.mean() > 12, (t, face, quarter.mean())  # every part replaced
        checked += 1
    assert checked >= 0.9 * FPS * (ON_SCREEN[1] - ON_SCREEN[0])


def sound_seconds(path: Path) -> float | None:
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        return float(stream.duration * stream.time_base)


@pytest.mark.once
def test_strip_keeps_sound_turns_pixels_and_leaves_no_metadata(run_cli, tmp_path):
    """An iPad's portrait HEVC clip: stored on its side with a turn in its track header, GPS,
    make, model, dates, title and chapters; the sanitised MP4 is upright by pixel, carries none."""
    stored = background(320, 180)
    stored[:90, :160] = (255, 0, 0)  # top-left quarter red as stored
    stored[90:, 160:] = (0, 0, 255)  # bottom-right blue
    source = write_clip(tmp_path / "portrait.mov", lambda t: stored, seconds=SECONDS, fps=FPS,
                        rotation=-90, metadata=IDENTIFYING, format="mov", chapters=True,
                        codec="libx265", options={"x265-params": "log-level=error"})
    before = exiftool(source)
    assert before["Composite:Rotation"] == 90 and "UserData:GPSCoordinates" in before
    assert before["UserData:Make"] == "Apple"
    out = tmp_path / "clean.mp4"
    result = run_cli("strip", str(source), str(out))
    assert result.returncode == 0, result.stderr
    tags = exiftool(out)
    extra = {k for k in tags if k.split(":", 1)[0] not in ("ExifTool", "System", "SourceFile")
             and k.split(":", 1)[1] not in EXIFTOOL_ALLOWED}
    assert extra == set(), extra
    assert {v for k, v in tags.items() if k.endswith("Date") and not k.startswith("System")} == {
        ZERO_DATE}
    assert tags["Composite:Rotation"] == 0
    [(_t, first), *_rest] = list(decoded(out))
    upright = np.rot90(stored, -1)  # shown turned a quarter clockwise, as the iPad meant
    assert first.shape == upright.shape == (320, 180, 3)
    for y, x in ((40, 140), (280, 40), (40, 40), (280, 140)):
        assert np.abs(first[y, x].astype(int) - upright[y, x]).max() < 30, (y, x, first[y, x])
    assert sound_seconds(out) == pytest.approx(sound_seconds(source), abs=0.05)
    with av.open(str(out)) as container:
        assert container.chapters() == []
        assert container.streams.video[0].codec_context.name == "h264"


def test_a_muted_clip_is_posted_without_sound(app, pupils, heads, uploader, login_as, run_cli,
                                              tmp_path):
    path, _picture, _box = clip_of(tmp_path, heads, "kit_harington")
    response, body = upload_clip(uploader, path)
    assert body["status"] == "cleared", body  # Kit, consented, alone in the clip
    media = login_as("media_lead")
    assert media.post(f"/review/clips/{body['id']}/sound", {"muted": "yes"}).status_code == 302
    posted = release_and_publish(app, media, body["id"])
    with app.app_context():
        from gatekeeper.extensions import db

        assert sorted(db.session.scalars(select(Post)).one().pupil_ids) == [pupils["kit"][0]]
        actions = set(db.session.scalars(select(AuditEvent.action)))
    assert sound_seconds(path) == pytest.approx(SECONDS, abs=0.1)
    assert sound_seconds(posted) is None
    archive = tmp_path / "sar.zip"
    assert run_cli("sar", pupils["kit"][1], str(archive)).returncode == 0
    with zipfile.ZipFile(archive) as sar:
        [name] = [n for n in sar.namelist() if n.startswith("photos/")]
        assert name == f"photos/clip-{body['id']}.mp4"
        copy = tmp_path / "sar-clip.mp4"
        copy.write_bytes(sar.read(name))
    assert not {k for k in exiftool(copy) if k.startswith("UserData:")}
    assert {"photo_uploaded", "photo_screened", "clip_sound_chosen", "photo_released",
            "post_published"} <= actions


def test_a_track_that_mixed_two_people_is_split(app, pupils, heads, uploader, login_as, tmp_path):
    """Kit walks off and a stranger walks on where Kit was: one track, split by the media lead."""
    kit, kit_box = heads["kit_harington"]
    stranger, _box = heads["alex_lacamoire"]
    base = background(*SIZE)

    def picture(t: float) -> np.ndarray:
        frame = base.copy()
        paste(frame, kit if t < 1.0 else stranger, 300 + round(40 * t), 150)
        return frame

    path = write_clip(tmp_path / "swap.mp4", picture, seconds=SECONDS, fps=FPS)
    response, body = upload_clip(uploader, path)
    assert response.status_code == 201, body
    with app.app_context():
        from gatekeeper.extensions import db

        faces = db.session.get(Photo, body["id"]).faces
        mixed = [f for f in faces if f.seen_from < 0.5 and f.seen_until > 1.5]
        assert mixed, [(f.seen_from, f.seen_until) for f in faces]  # followed as one face
        assert mixed[0].status == "unknown"  # its looks disagree: never cleared
        face_id = mixed[0].id
    media = login_as("media_lead")
    split = media.post(f"/review/clips/{body['id']}/faces/{face_id}/split", {"at": "1.0"})
    assert split.status_code == 302
    with app.app_context():
        from gatekeeper.extensions import db

        photo = db.session.get(Photo, body["id"])
        parts = sorted((f for f in photo.faces if f.id == face_id or f.index >= len(faces)),
                       key=lambda f: f.seen_from)
        assert [p.seen_until < 1.0 for p in parts] == [True, False]
        assert parts[0].status == "cleared" and parts[0].pupil_id == pupils["kit"][0]
        assert parts[1].status == "unknown"
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "track_split")) == 1
    refused = media.post(f"/review/clips/{body['id']}/faces/{face_id}/split", {"at": "9"})
    assert refused.status_code == 302


def padding(content: bytes) -> bytes:
    return (8 + len(content)).to_bytes(4, "big") + b"free" + content


def hostile_clips(tmp_path: Path) -> dict[str, tuple[bytes, str]]:
    plain = background(320, 180)
    good = write_clip(tmp_path / "good.mp4", lambda t: plain, seconds=1.0, fps=FPS).read_bytes()
    fast = tmp_path / "fast.mp4"
    with av.open(str(tmp_path / "good.mp4")) as src, av.open(
            str(fast), "w", options={"movflags": "+faststart"}) as out:
        streams = {s.index: out.add_stream_from_template(s) for s in src.streams}
        for packet in src.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    faststart = fast.read_bytes()
    moov_at = good.index(b"moov") - 4
    two = tmp_path / "two.mp4"
    with av.open(str(two), "w") as out:
        for _ in range(2):
            stream = out.add_stream("libx264", rate=FPS)
            stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        for stream in out.streams.video:
            for i in range(3):
                frame = av.VideoFrame.from_ndarray(plain, format="rgb24")
                frame.pts = i
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
    huge = write_clip(tmp_path / "8k.mp4", lambda t: np.zeros((4320, 7680, 3), np.uint8),
                      seconds=2 / FPS, fps=FPS, audio=False)
    jpeg = tmp_path / "still.jpg"
    Image.fromarray(plain).save(jpeg, "JPEG")
    return {
        "zero bytes": (b"", "empty"),
        "truncated (index at the end, cut off)": (good[: len(good) // 2], "cut short"),
        "truncated (index first, pictures cut off)": (faststart[:-2000], "cut short"),
        "missing moov": (good[:moov_at], "index"),
        "mp4+html polyglot": (good + b"<html><script>alert(1)</script></html>", "cut short"),
        "html in padding": (good + padding(b"<html><script>alert(1)</script></html>"),
                            "something other than a video"),
        "8K frames": (huge.read_bytes(), "4K"),
        "two video streams": (two.read_bytes(), "more than one"),
        "a still image renamed .mp4": (jpeg.read_bytes(), "not one"),
    }


@pytest.mark.once
def test_hostile_clips_are_refused_with_one_line_and_leave_nothing(app, school, uploader,
                                                                    tmp_path):
    staff, event_id = uploader
    for case, (data, words) in hostile_clips(tmp_path).items():
        response = upload_photo(staff, event_id, "clip.mp4", data)
        error = response.get_json()["error"]
        assert response.status_code == 422, (case, response.status_code, error)
        assert "\n" not in error and words in error, (case, error)
    with app.app_context():
        from gatekeeper.extensions import db

        assert db.session.scalar(select(func.count()).select_from(Photo)) == 0
        assert db.session.scalar(select(func.count()).select_from(Face)) == 0
    originals = Path(app.config["STORAGE_DIR"]) / "originals"
    assert not originals.exists() or list(originals.iterdir()) == []


@pytest.mark.once
def test_screen_json_gives_each_track_with_its_boxes_and_times(run_cli, pupils, heads, tmp_path):
    path, _picture, _box = clip_of(tmp_path, heads, "rose_leslie", name="race.mp4")
    result = run_cli("screen", str(path), "--purpose", "social_media", "--json")
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stdout)
    assert line["verdict"] == "blocked" and line["kind"] == "video"
    [face] = line["faces"]
    assert face["status"] == "blocked" and face["upn"] == pupils["rose"][1]
    assert len(face["boxes"]) >= 2 and face["first"] < face["last"]
    for t, top, right, bottom, left in face["boxes"]:
        assert ON_SCREEN[0] - 0.05 <= t <= ON_SCREEN[1] + 0.05
        assert 0 <= top < bottom <= SIZE[1] and 0 <= left < right <= SIZE[0]


def test_a_clip_counts_every_sampled_picture_against_the_schools_allowance(app, heads, uploader,
                                                                          tmp_path):
    """Two seconds of 960x540 sampled every 0.2 s is ten pictures, 5.2 MP: over an allowance of
    3 MP, which one such picture as a photo would not be."""
    app.config["SCHOOL_MEGAPIXELS_PER_DAY"] = 3
    path, _picture, _box = clip_of(tmp_path, heads, "kit_harington")
    response, body = upload_clip(uploader, path)
    assert response.status_code == 429 and "allowance" in body["error"]
    with app.app_context():
        from gatekeeper.extensions import db

        assert db.session.scalar(select(func.count()).select_from(Photo)) == 0
    originals = Path(app.config["STORAGE_DIR"]) / "originals"
    assert not originals.exists() or list(originals.iterdir()) == []


def test_a_queued_clip_is_pulled_when_consent_is_withdrawn(app, pupils, heads, uploader,
                                                           login_as, tmp_path):
    """The register's takedown is the photo's: consent withdrawn after release, before the time
    the clip was to be posted, pulls its post, and nothing reaches the outbox."""
    path, _picture, _box = clip_of(tmp_path, heads, "kit_harington")
    response, body = upload_clip(uploader, path)
    assert body["status"] == "cleared", body
    media = login_as("media_lead")
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat() + "T09:00"
    release = {"account_id": "1", "caption": "Sports day", "dressed": "yes",
               "scheduled_at": tomorrow, "no_distress": "yes", "no_location": "yes",
               "tagging_off": "yes"}
    assert media.post(f"/review/clips/{body['id']}/release", release).status_code == 302
    with app.app_context():
        from consent.models import Pupil
        from gatekeeper.extensions import db
        from gatekeeper.register import actions

        assert db.session.scalars(select(Post)).one().state == "queued"
        actions.record_consent(db.session, db.session.get(Pupil, pupils["kit"][0]),
                               "social_media", "withdrawn", actor="test",
                               given_by="Parent of Kit")
        db.session.commit()
        post = db.session.scalars(select(Post)).one()
        assert post.state == "withdrawn" and db.session.get(Photo, body["id"]).status == "withdrawn"
        assert not list(school_outbox(app.config["OUTBOX_DIR"], post.school_id).glob("*"))


def test_variable_frame_rate_keeps_its_timing(tmp_path):
    """A phone's variable frame rate: every picture keeps its time; sampling follows the clock."""
    times = [0.0, 0.033, 0.1, 0.2, 0.25, 0.5, 0.55, 0.9, 1.0, 1.4, 1.45, 1.9]
    plain = background(320, 180)
    source = write_clip(tmp_path / "vfr.mp4", lambda t: plain, seconds=2.0, times=times)
    out = tmp_path / "clean.mp4"
    write_clean_clip(source, out, (), hold=SAMPLE_EVERY)
    assert [round(t, 3) for t, _pixels in decoded(out)] == times
    sampled = [picture.time for picture in frames(source, every=SAMPLE_EVERY)]
    assert sampled == [0.0, 0.2, 0.5, 0.9, 1.4, 1.9]  # at most one a sample interval


def test_a_long_clip_keeps_its_screening_claim_alive(app, school, monkeypatch):
    """Screening a clip may outlast the stalled-work sweep's five minutes: the attempt that holds
    it marks its claim alive, and only that attempt."""
    from gatekeeper.screening import service
    from gatekeeper.worker.recovery import STALLED_AFTER, stalled_photo_ids

    monkeypatch.setattr(service, "CLAIM_REFRESH", dt.timedelta(0))
    long_ago = dt.datetime(2026, 1, 1)
    with app.app_context():
        from gatekeeper.extensions import db

        rows = [Photo(school_id=school["id"], purpose="social_media", kind="video",
                      status="screening", screen_attempts=2) for _ in range(2)]
        db.session.add_all(rows)
        db.session.flush()
        ids = [row.id for row in rows]
        db.session.execute(update(Photo).values(updated_at=long_ago))
        db.session.commit()
        service.claim_keeper(ids[0], attempt=2)()
        service.claim_keeper(ids[1], attempt=1)()  # an attempt recovery took the photo from
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        assert stalled_photo_ids(db.session, now, STALLED_AFTER, queue_idle=True) == [ids[1]]


def test_a_refused_clip_release_comes_back_to_the_clip_with_what_was_typed(
        app, pupils, heads, uploader, login_as, tmp_path):
    path, _picture, _box = clip_of(tmp_path, heads, "kit_harington")
    _response, body = upload_clip(uploader, path)
    assert body["status"] == "cleared", body  # Kit, consented, alone in the clip
    media = login_as("media_lead")
    sent = {**RELEASE, "caption": "Kit Harington wins the race", "tagging_off": ""}
    # The photo's release route hands a clip's form on, as sent (a page loaded before clips had
    # their own route): the method and the body go with it.
    handed = media.post(f"/review/{body['id']}/release", sent)
    assert handed.status_code == 307
    assert handed.headers["Location"].endswith(f"/review/clips/{body['id']}/release")
    refused = media.post(f"/review/clips/{body['id']}/release", sent)
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert f"Review clip {body['id']}" in page and 'id="preview"' not in page
    assert "Kit Harington wins the race</textarea>" in page
    for key in ("dressed", "no_distress", "no_location"):
        assert f'id="check-{key}" required checked' in page
    assert 'id="check-tagging_off" required>' in page  # the tick not given stays for the person
    with app.app_context():
        from gatekeeper.extensions import db

        assert db.session.scalar(select(func.count(Post.id))) == 0


CHECKER_BOX = (100, 260, 260, 100)  # top, right, bottom, left: a face-sized checkerboard


def checkerboard(_t: float) -> np.ndarray:
    frame = background(640, 360)
    yy, xx = np.mgrid[0:160, 0:160]
    frame[100:260, 100:260] = (((yy // 8 + xx // 8) % 2) * 255)[..., None].astype(np.uint8)
    return frame


@pytest.mark.once
@pytest.mark.parametrize("starts", [0.0, 1.0])
def test_the_still_of_a_posted_clip_is_blurred_as_the_clip_is(app, school, tmp_path, starts):
    """Every page that shows "exactly what was posted" for a clip shows its first picture: a
    blurred track must be blurred there too (it was shown in clear, while the MP4 was blurred),
    also when the clip's pictures start late (an empty edit at its start): the still is then the
    picture at 1.0 s, and its blurs are found there."""
    from gatekeeper.extensions import db
    from gatekeeper.imaging.renderings import render_posted_small
    from gatekeeper.imaging.video import frames
    from gatekeeper.models import Face
    from gatekeeper.review.service import blur_boxes
    from gatekeeper.screening.clips import SAMPLE_EVERY
    from gatekeeper.storage import app_storage

    path = write_clip(tmp_path / "c.mp4", checkerboard, seconds=1.0, fps=10, audio=False,
                      times=[starts + i / 10 for i in range(10)])
    sampled = [round(p.time, 3) for p in frames(path, every=SAMPLE_EVERY)]  # as screening does
    with app.app_context():
        photo = Photo(school_id=school["id"], purpose="social_media", status="queued",
                      width=640, height=360, original_filename="c.mp4", size_bytes=1,
                      kind="video", duration_s=1.0)
        db.session.add(photo)
        db.session.flush()
        app_storage().write_bytes("originals", photo.uuid, path.read_bytes())
        track = [[t, *CHECKER_BOX] for t in sampled]
        face = Face(school_id=school["id"], index=0, top=100, right=260, bottom=260, left=100,
                    status="blocked", blur=False, track_json=json.dumps({"boxes": track}))
        photo.faces.append(face)
        db.session.commit()

        def spread_in_the_box() -> float:
            small = render_posted_small(app_storage(), photo, 640, 85, blur_boxes(photo), 640)
            grey = np.asarray(Image.open(io.BytesIO(small)).convert("L"), dtype=float)
            return grey[110:250, 110:250].std()

        assert spread_in_the_box() > 80  # unblurred: the checkerboard
        face.blur, face.resolution = True, "blur"
        db.session.commit()
        assert blur_boxes(photo) == [CHECKER_BOX]
        assert spread_in_the_box() < 40  # pixelated, in a rendering of its own


def claim_one_second(path: Path) -> Path:
    """The same clip with its header saying it lasts 1 s (mvhd, tkhd, mdhd; no edit list)."""
    import struct

    from gatekeeper.imaging.mp4 import boxes

    data = bytearray(path.read_bytes())

    def walk(start: int, end: int) -> None:
        for kind, payload, stop in list(boxes(io.BytesIO(bytes(data)), start, end)):
            if kind in (b"moov", b"trak", b"mdia"):
                walk(payload, stop)
            elif kind in (b"mvhd", b"mdhd", b"tkhd"):
                at = payload + (20 if kind == b"tkhd" else 16)  # version 0 boxes
                stated = struct.unpack(">I", data[at:at + 4])[0]
                data[at:at + 4] = struct.pack(">I", max(1, stated // 60))
            elif kind == b"edts":
                data[payload - 4:payload] = b"free"
                data[payload:stop] = bytes(stop - payload)

    walk(0, len(data))
    lying = path.with_name("lying.mp4")
    lying.write_bytes(bytes(data))
    return lying


@pytest.mark.once
def test_a_clip_whose_header_understates_its_length_is_measured_by_its_pictures(tmp_path):
    """A 60 s clip whose header claims 1 s passed a 5 s limit and counted as 1 s against the
    school's allowance, while all 60 s were screened and encoded."""
    from gatekeeper.imaging.mp4 import ClipRefused
    from gatekeeper.imaging.video import probe

    honest = write_clip(tmp_path / "long.mp4", lambda _t: background(320, 240), seconds=60,
                        fps=10, audio=False)
    lying = claim_one_second(honest)
    assert probe(honest).duration == pytest.approx(60, abs=0.2)
    assert probe(lying).duration == pytest.approx(60, abs=0.2)
    with pytest.raises(ClipRefused, match="lasts 60 s: the most accepted is 5 s"):
        probe(lying, max_seconds=5)


# What a clip's screening looks at must be what is published: pictures shown twice or out of
# order are refused (screening and the writer alike); the pictures sampled cannot be known
# beforehand, yet any half second still holds two samples; a face shown only between the places
# of a fixed grid is seen; a track that follows one child and then another is not cleared as the
# first; and averaging a published clip's pictures does not take its blur's noise away.

AT = (300, 150)  # where each test's faces are pasted


def still(head: np.ndarray) -> np.ndarray:
    frame = background(*SIZE)
    paste(frame, head, *AT)
    return frame


def test_pictures_shown_twice_are_refused_by_screening_and_by_the_writer(
        app, pupils, heads, uploader, tmp_path):
    """Kit in the first second; Rose (parents refused) in the second, whose pictures carry the
    first second's times again. Before, screening sampled by time and never looked at Rose, and
    the writer published every picture: Rose went out at the end of the clip, unblurred."""
    kit, rose = still(heads["kit_harington"][0]), still(heads["rose_leslie"][0])
    path = write_clip(tmp_path / "race.mov", lambda t: kit if t < 1.0 else rose, seconds=2.0,
                      fps=FPS, audio=False, format="mov",
                      options={"x264-params": "keyint=1:bframes=0"})
    with_time_offsets(path, [0] * FPS + [-FPS * sample_delta(path)] * FPS)
    with pytest.raises(ClipRefused, match="out of order"):
        list(frames(path, every=SAMPLE_EVERY))
    with pytest.raises(ClipRefused, match="out of order"):
        write_clean_clip(path, tmp_path / "out.mp4", [], hold=SAMPLE_EVERY, size=SIZE)
    response, body = upload_clip(uploader, path)
    assert response.status_code == 201, body
    assert body["status"] == "rejected", body
    with app.app_context():
        from gatekeeper.extensions import db

        photo = db.session.scalars(select(Photo)).one()
        assert "out of order" in photo.error


def test_the_pictures_sampled_cannot_be_known_yet_any_half_second_holds_two(tmp_path):
    """Which pictures are sampled differs run by run, any half second holds two samples, and the
    samples drift against a pattern repeating every 0.2 s: a grid with up to 0.06 s of jitter
    looked at no more than three of its six pictures in a run (at 30 a second)."""
    fps = 30
    path = write_clip(tmp_path / "clip.mp4", lambda t: background(64, 48), seconds=3.0,
                      fps=fps, audio=False)
    grid = [p.time for p in frames(path, every=SAMPLE_EVERY)]
    assert grid[:3] == pytest.approx([0.0, 0.2, 0.4], abs=1 / fps)  # without gaps: the grid
    runs, drifting = [], 0
    shortest, longest = SAMPLE_GAPS
    for seed in range(40):
        times = [p.time for p in frames(path, gaps=SAMPLE_GAPS, rng=random.Random(seed))]
        assert times[0] == 0.0 and times == sorted(times)
        spans = [later - first for first, later in zip(times, times[2:], strict=False)]
        assert max(spans) < 0.5, (seed, times)  # three samples in a row: within half a second
        assert 3.0 / longest - 1 <= len(times) <= 3.0 / shortest + 2
        runs.append(tuple(times))
        drifting += len({round(time * fps) % 6 for time in times[1:]}) >= 4
    assert len(set(runs)) >= 35  # hardly two runs look at the same pictures
    assert len({times[1] for times in runs}) >= 5  # the samples start anywhere
    assert drifting >= 25, drifting  # most runs look at four or more of the six


def flicker(kit: np.ndarray, rose: np.ndarray):
    """Kit in every fifth picture, exactly where a grid from the first picture samples; Rose in
    the four pictures between, 80% of the clip."""
    return lambda t: kit if round(t * FPS) % 5 == 0 else rose


def test_a_face_shown_only_between_the_places_of_a_fixed_grid_is_seen(app, pupils, heads,
                                                                       uploader, login_as,
                                                                       tmp_path):
    """Before, every sample fell on Kit: the clip was cleared and Rose published unblurred in
    60 of its 75 pictures. The worker's samples and looks come from the system's randomness; for
    the same clip, seeded, every seed sees Rose. Uploaded, three seconds leave about one chance in
    170,000 that every sample falls on Kit (a grid with jitter: 1 in 2,800; see SAMPLE_GAPS)."""
    kit, rose = still(heads["kit_harington"][0]), still(heads["rose_leslie"][0])
    path = write_clip(tmp_path / "race.mp4", flicker(kit, rose), seconds=3.0, fps=FPS,
                      audio=False)
    grid = [round(p.time * FPS) % 5 == 0 for p in frames(path, every=SAMPLE_EVERY)]
    assert sum(grid) >= len(grid) - 2  # a fixed grid sees Kit (Rose once or twice, by rounding)
    for seed in range(5):
        analysis = analyse_clip(path, rng=random.Random(seed))
        assert len(analysis.tracks) == 1 and len(analysis.tracks[0].encodings) >= 2
    response, body = upload_clip(uploader, path)
    assert response.status_code == 201, body
    assert body["status"] == "blocked", body  # Rose's parents refused: her look blocks it


def test_a_track_that_follows_one_child_then_another_is_not_cleared_as_the_first(
        app, pupils, heads, uploader, tmp_path):
    """Kit for the first second and a half, then Rose in his place (crossing in a race): one
    track, which follows a position. Kit is filmed nearer (a larger face), so every one of the
    track's best looks was his, and the clip was cleared with Rose in it, unblurred."""
    kit_head, rose_head = heads["kit_harington"][0], heads["rose_leslie"][0]
    big = np.asarray(Image.fromarray(kit_head).resize((kit_head.shape[1] * 5 // 4,
                                                       kit_head.shape[0] * 5 // 4)))
    kit, rose = still(big), still(rose_head)
    path = write_clip(tmp_path / "crossing.mp4", lambda t: kit if t < 1.5 else rose,
                      seconds=3.0, fps=FPS, audio=False)
    analysis = analyse_clip(path, rng=random.Random(4))  # samples whose card is all Kit's
    assert len(analysis.tracks) == 1  # one position, one track
    track = analysis.tracks[0]
    assert max(look.time for look in track.looks) < 1.5  # the card's best looks are all Kit's
    assert any(time >= 1.5 for time, _encoding in track.encodings)  # a look a second sees Rose
    response, body = upload_clip(uploader, path)
    assert response.status_code == 201, body
    assert body["status"] == "blocked", body


def test_averaging_a_blurred_clips_pictures_does_not_take_the_noise_away(heads, tmp_path):
    """A still face blurred in every picture: with fresh noise in each picture, the mean of the
    published pictures gave the face's block averages (error 1.9 against 14.2 for one picture);
    a face's noise is now drawn once for the clip."""
    rose, (top, right, bottom, left) = heads["rose_leslie"]
    frame = still(rose)
    source = write_clip(tmp_path / "still.mp4", lambda t: frame, seconds=2.0, fps=FPS,
                        audio=False, options={"crf": "12"})
    box = (top + AT[1], right + AT[0], bottom + AT[1], left + AT[0])
    out = tmp_path / "posted.mp4"
    write_clean_clip(source, out, [[(i * 0.2, *box) for i in range(11)]], hold=0.2, size=SIZE)
    with av.open(str(out)) as clip:
        lumas = np.stack([f.to_ndarray(format="gray").astype(float)
                          for f in clip.decode(video=0)])
    with av.open(str(source)) as clip:
        truth = next(clip.decode(video=0)).to_ndarray(format="gray").astype(float)
    left_, top_, right_, bottom_ = _blur_region(box, SIZE)
    block = -(-_block_size(right_ - left_, bottom_ - top_) // 2) * 2
    left_, top_ = left_ // 2 * 2, top_ // 2 * 2
    rows, cols = (bottom_ - top_) // block, (right_ - left_) // block

    def means(picture: np.ndarray) -> np.ndarray:
        area = picture[top_:top_ + rows * block, left_:left_ + cols * block]
        return area.reshape(rows, block, cols, block).mean(axis=(1, 3))

    one = np.abs(means(lumas[0]) - means(truth)).mean()
    averaged = np.abs(means(lumas.mean(axis=0)) - means(truth)).mean()
    assert one > 5 and averaged > one * 0.8, (one, averaged)


def test_a_child_who_takes_anothers_place_within_a_second_is_looked_at(heads, tmp_path):
    """Kit (filmed nearer) for 0.6 s, then Rose in his place for 0.4 s: one track. Judged by one
    random look a second, 13 runs in 20 never looked at Rose (a review found it); by its three
    best looks alone, a crossing later in a longer track was missed. Every seed looks at her."""
    kit_head, rose_head = heads["kit_harington"][0], heads["rose_leslie"][0]
    big = np.asarray(Image.fromarray(kit_head).resize((kit_head.shape[1] * 5 // 4,
                                                       kit_head.shape[0] * 5 // 4)))
    kit, rose, empty = still(big), still(rose_head), background(*SIZE)
    path = write_clip(tmp_path / "crossing.mp4",
                      lambda t: kit if t < 0.6 else (rose if t < 1.0 else empty),
                      seconds=1.6, fps=FPS, audio=False)
    missed = []
    for seed in range(20):
        analysis = analyse_clip(path, rng=random.Random(seed))
        assert len(analysis.tracks) == 1
        times = [time for time, _encoding in analysis.tracks[0].encodings]
        if not any(0.6 <= time < 1.0 for time in times):
            missed.append((seed, times))
    assert not missed, missed


def test_a_clip_in_a_subject_access_export_pixelates_every_other_face(app, pupils, heads,
                                                                       uploader, run_cli,
                                                                       tmp_path):
    """Kit is named in a clip in which a stranger walks across: Kit's export showed the
    stranger's face in every picture; now the stranger's track is pixelated as a blur is."""
    path, picture, box = clip_of(tmp_path, heads, "alex_lacamoire")
    _response, body = upload_clip(uploader, path)
    with app.app_context():
        from gatekeeper.extensions import db
        from gatekeeper.models import Face

        db.session.add(Face(school_id=db.session.get(Photo, body["id"]).school_id,
                            photo_id=body["id"], index=1, top=0, right=9, bottom=9, left=0,
                            status="unknown", resolution="pupil",
                            resolved_pupil_id=pupils["kit"][0]))
        db.session.commit()
    archive = tmp_path / "sar.zip"
    assert run_cli("sar", pupils["kit"][1], str(archive)).returncode == 0
    exported = tmp_path / "sar-clip.mp4"
    with zipfile.ZipFile(archive) as sar:
        exported.write_bytes(sar.read(f"photos/clip-{body['id']}.mp4"))
    checked = 0
    for t, pixels in decoded(exported):
        face = face_box_at(t, box)
        if face is None or pixels.shape != picture(t).shape:
            continue
        top, right, bottom, left = face
        top, left = max(0, top), max(0, left)
        source = picture(t).astype(np.int16)
        replaced = np.abs(pixels[top:bottom, left:right].astype(np.int16)
                          - source[top:bottom, left:right]).mean()
        assert replaced > 12, (t, face, replaced)
        checked += 1
    assert checked >= 0.9 * FPS * (ON_SCREEN[1] - ON_SCREEN[0])
