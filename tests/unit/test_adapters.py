"""Each publisher against a real HTTP server on 127.0.0.1 that checks what it receives."""

import io
import json

import pytest
from PIL import Image

from gatekeeper.imaging.sanitise import sanitise, verify_clean
from gatekeeper.publishing.adapters import (
    OutboxPublisher,
    PostRef,
    PublishError,
    Release,
    WebhookPublisher,
    WordPressPublisher,
    sign,
)
from tests.support.publishing import WebhookReceiver, WordPressSite, sample_jpeg

SECRET = "whsec-test-0123456789"
WP_USER, WP_PASSWORD = "gatekeeper", "abcd EFGH ijkl MNOP qrst UVWX"


def release(key: str = "key-1", caption: str = "Sports day: what a race!") -> Release:
    return Release(
        post_uuid="11111111-2222-3333-4444-555555555555", idempotency_key=key,
        image=sanitise(sample_jpeg(), max_side=512, quality=85), caption=caption,
        account="@school", platform="Facebook", purpose="social_media",
        pupils_cleared=["A123456789012"], released_by="media@school.test",
        released_at="2026-07-10T08:00:00Z", scheduled_at="2026-07-10T08:30:00Z",
    )


WORKED_BODY = (b'{"event": "post.delete", "post_uuid": "0b5f6c1e-8d1c-4a55-9a0e-2f7d0c9f1a23", '
               b'"idempotency_key": "6f1d2a4e-3c2b-4f7a-9a55-1e2d3c4b5a69", "external_id": "wh-1"}')


def test_signature_is_hmac_sha256_of_the_canonical_string():
    # The worked example of docs/webhook.md, computed there with openssl.
    key = "6f1d2a4e-3c2b-4f7a-9a55-1e2d3c4b5a69:delete"
    assert sign("whsec_example_only", "1783670400", "post.delete", key, WORKED_BODY) == (
        "sha256=af3842e13180bd0bf0053e9f7b7a14fd9c2d2524ac9f1c03776a82345f610565"
    )
    base = sign("a", "1", "post.publish", "k", b"x")
    assert base != sign("b", "1", "post.publish", "k", b"x")
    assert base != sign("a", "2", "post.publish", "k", b"x")
    # Issue 15: the event and the idempotency key are covered too.
    assert base != sign("a", "1", "post.delete", "k", b"x")
    assert base != sign("a", "1", "post.publish", "k2", b"x")
    assert sign("a", "1", "post.publish", "k", b"x") != sign("a", "1", "post", "publish\nk", b"x")


def test_webhook_posts_signed_clean_multipart_once_per_key():
    with WebhookReceiver(SECRET) as receiver:
        publisher = WebhookPublisher(receiver.url, SECRET)
        first = publisher.publish(release())
        again = publisher.publish(release())  # a re-run after a crash: same key
    assert first == again == "wh-1"
    assert len(receiver.deliveries) == 2 and len(receiver.posts) == 1
    delivery = receiver.deliveries[0]
    assert delivery.signature_ok and delivery.fresh and delivery.event == "post.publish"
    assert delivery.key == "key-1"
    verify_clean(delivery.image)  # no EXIF, GPS, comment or other segment survived
    assert b"Smith" not in delivery.image and b"PhoneCo" not in delivery.image
    assert Image.open(io.BytesIO(delivery.image)).format == "JPEG"
    assert delivery.metadata["caption"] == "Sports day: what a race!"
    # Pupil identifiers and staff emails stay in school.
    assert "pupils_cleared" not in delivery.metadata and "released_by" not in delivery.metadata


def test_webhook_makes_one_request_per_attempt():
    # The retry policy is the queue's backoff (publishing/service.py): a failing destination,
    # even with a 503, gets exactly one request each time the publisher is called.
    with WebhookReceiver(SECRET, fail_first=2) as receiver:
        publisher = WebhookPublisher(receiver.url, SECRET)
        for attempt in (1, 2):
            with pytest.raises(PublishError, match="HTTP 503"):
                publisher.publish(release())
            assert len(receiver.deliveries) == attempt
        assert publisher.publish(release()) == "wh-1"
        receiver.fail_first = 1
        with pytest.raises(PublishError, match="HTTP 503"):
            publisher.delete(PostRef(release().post_uuid, "key-1", "wh-1"))
    assert [d.key for d in receiver.deliveries] == ["key-1"] * 3 + ["key-1:delete"]


def test_webhook_gives_up_with_a_clear_error_and_no_secret():
    with WebhookReceiver(SECRET, fail_always=True) as receiver:
        publisher = WebhookPublisher(receiver.url, SECRET)
        with pytest.raises(PublishError) as raised:
            publisher.publish(release())
    assert "HTTP 503" in str(raised.value)
    assert SECRET not in str(raised.value) and receiver.url not in str(raised.value)


def test_webhook_with_the_wrong_secret_is_refused_by_the_receiver():
    with WebhookReceiver(SECRET) as receiver:
        with pytest.raises(PublishError, match="HTTP 401"):
            WebhookPublisher(receiver.url, "not-the-secret").publish(release())
    assert receiver.posts == {}
    assert not receiver.deliveries[0].signature_ok


def test_webhook_delete_is_a_signed_second_event():
    with WebhookReceiver(SECRET) as receiver:
        publisher = WebhookPublisher(receiver.url, SECRET)
        external = publisher.publish(release())
        publisher.delete(PostRef(release().post_uuid, "key-1", external))
    delete = receiver.deliveries[-1]
    assert delete.event == "post.delete" and delete.signature_ok
    assert delete.key == "key-1:delete"
    assert delete.body == {"event": "post.delete", "post_uuid": release().post_uuid,
                           "idempotency_key": "key-1", "external_id": "wh-1"}
    assert receiver.live_posts() == []


def test_unreachable_webhook_is_a_publish_error():
    with WebhookReceiver(SECRET) as receiver:
        url = receiver.url
    with pytest.raises(PublishError, match="could not reach"):
        WebhookPublisher(url, SECRET).publish(release())


def test_wordpress_uploads_media_creates_post_and_deletes():
    with WordPressSite(WP_USER, WP_PASSWORD) as site:
        publisher = WordPressPublisher(site.url, WP_USER, WP_PASSWORD)
        external = publisher.publish(release(caption="Sports day <3 & more"))
        assert publisher.publish(release()) == external  # the re-run finds the post by slug
        assert len(site.posts) == 1 and len(site.media) == 1
        (media,) = site.media.values()
        verify_clean(media["bytes"])
        assert b"Smith" not in media["bytes"]
        (post,) = site.posts.values()
        assert post["status"] == "publish" and post["featured_media"] == media["id"]
        assert "&lt;3 &amp; more" in post["content"]  # the caption is text, not HTML
        assert post["slug"] == "gk-key-1"
        publisher.delete(PostRef(release().post_uuid, "key-1", external))
        assert site.posts == {} and site.media == {}
        # Deleting again (a re-run) is not an error: it is gone.
        publisher.delete(PostRef(release().post_uuid, "key-1", external))
    assert site.refused == 0


def test_wordpress_delete_without_external_id_finds_by_slug():
    with WordPressSite(WP_USER, WP_PASSWORD) as site:
        publisher = WordPressPublisher(site.url, WP_USER, WP_PASSWORD)
        publisher.publish(release())
        publisher.delete(PostRef(release().post_uuid, "key-1", None))
        assert site.posts == {} and site.media == {}


def test_wordpress_wrong_password_is_refused():
    with WordPressSite(WP_USER, WP_PASSWORD) as site:
        with pytest.raises(PublishError, match="HTTP 401") as raised:
            WordPressPublisher(site.url, WP_USER, "wrong").publish(release())
    assert "wrong" not in str(raised.value)
    assert site.posts == {} and site.media == {}


def test_outbox_writes_image_and_side_file_once(tmp_path):
    publisher = OutboxPublisher(tmp_path)
    name = publisher.publish(release())
    publisher.publish(release())
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{name}.jpg", f"{name}.json"]
    verify_clean((tmp_path / f"{name}.jpg").read_bytes())
    side = json.loads((tmp_path / f"{name}.json").read_text())
    assert side["idempotency_key"] == "key-1" and side["image_file"] == f"{name}.jpg"
    assert not publisher.can_delete  # what was uploaded by hand must be removed by hand
    publisher.delete(PostRef(name, "key-1", name))
    assert list(tmp_path.iterdir()) == []
