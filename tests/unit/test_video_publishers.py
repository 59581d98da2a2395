"""Each publisher carries a clip: the webhook as a `video` part, WordPress as a video in the post
(never a featured image), the outbox as `<post>.mp4`; and takedown removes it the same way."""

import dataclasses
import json
from pathlib import Path

import pytest

from gatekeeper.imaging.clips import write_clean_clip
from gatekeeper.imaging.mp4 import verify_clean
from gatekeeper.publishing.adapters import (
    VIDEO_TYPE,
    OutboxPublisher,
    PostRef,
    WebhookPublisher,
    WordPressPublisher,
)
from tests.support.clips import background, write_clip
from tests.support.publishing import WebhookReceiver, WordPressSite
from tests.unit.test_adapters import SECRET, WP_PASSWORD, WP_USER, release


@pytest.fixture(scope="module")
def clip_release(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip")
    plain = background(160, 90)
    source = write_clip(folder / "race.mov", lambda t: plain, seconds=0.5, fps=10, format="mov",
                        metadata={"location": "+51.5074-000.1278/"})
    clean = folder / "clean.mp4"
    write_clean_clip(source, clean, (), hold=0.2)
    return dataclasses.replace(release(), image=clean.read_bytes(), media_type=VIDEO_TYPE)


def test_webhook_sends_the_clip_as_a_video_part(clip_release, tmp_path):
    with WebhookReceiver(SECRET) as receiver:
        WebhookPublisher(receiver.url, SECRET).publish(clip_release)
    [delivery] = receiver.deliveries
    assert delivery.signature_ok and delivery.part == "video"
    assert delivery.image_name == f"{clip_release.post_uuid}.mp4"
    received = tmp_path / "received.mp4"
    received.write_bytes(delivery.image)
    verify_clean(received)


def test_wordpress_embeds_the_clip_and_takes_it_down(clip_release):
    with WordPressSite(WP_USER, WP_PASSWORD) as site:
        publisher = WordPressPublisher(site.url, WP_USER, WP_PASSWORD)
        external = publisher.publish(clip_release)
        (media,) = site.media.values()
        (post,) = site.posts.values()
        assert media["source_url"].endswith(".mp4") and media["bytes"] == clip_release.image
        assert "<video controls" in post["content"] and "featured_media" not in post
        publisher.delete(PostRef(clip_release.post_uuid, "key-1", external))
        assert site.posts == {} and site.media == {}


def test_outbox_writes_the_clip_and_its_side_file(clip_release, tmp_path: Path):
    publisher = OutboxPublisher(tmp_path)
    name = publisher.publish(clip_release)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{name}.json", f"{name}.mp4"]
    side = json.loads((tmp_path / f"{name}.json").read_text())
    assert side["video_file"] == f"{name}.mp4" and "image_file" not in side
    publisher.delete(PostRef(name, "key-1", name))
    assert list(tmp_path.iterdir()) == []
