"""The posting queue through the web client: release → queue → publish at the scheduled UK time,
the re-checks at publish time, failures with backoff, and exactly-once after a worker crash."""

import datetime as dt
import html
import json
import os
import signal
import subprocess
import sys

import pytest
from sqlalchemy import select, update

from consent import services
from consent.clock import SCHOOL_ZONE, london_to_utc
from gatekeeper.imaging.sanitise import verify_clean
from gatekeeper.models import AuditEvent, Photo, Post
from gatekeeper.publishing.adapters import school_outbox
from gatekeeper.publishing.service import (
    BACKOFF_BASE,
    POST_AT_GRACE,
    PUBLISH_MAX_ATTEMPTS,
    STALE_CLAIM,
    ScheduleError,
    check_post_at,
    finish,
    publish_due,
    record_failure,
)
from gatekeeper.publishing.views import RECENT_POSTS
from tests.support.fixtures import add_pupil
from tests.support.publishing import (
    CHECKLIST,
    WebhookReceiver,
    add_account,
    cleared_photo,
    post_at,
    release,
    uk_days_ahead,
    uk_time,
    user_id,
)

SECRET = "whsec-publishing-test-secret"
WINTER_UK, SUMMER_UK = uk_time(1, 15), uk_time(6, 15)
WINTER = (post_at(WINTER_UK), WINTER_UK)  # GMT: UK time is UTC
SUMMER = (post_at(SUMMER_UK), SUMMER_UK - dt.timedelta(hours=1))  # BST: UK time is UTC+1
# A post due after its pupil's grant has lapsed: the grant ends ten days before.
LATER_UK = uk_days_ahead(60, 10, 0)
LAPSED_ON = LATER_UK.date() - dt.timedelta(days=10)
SECOND = dt.timedelta(seconds=1)


@pytest.fixture
def setup(app, school):
    """Two pupils with consent, a cleared photo of Ada, and the ids the tests need."""
    from gatekeeper.extensions import db

    with app.app_context():
        ada = add_pupil(db.session, school["id"], 1, "Ada", "Lovelace",
                        consents={"social_media": "granted", "website": "granted"})
        add_pupil(db.session, school["id"], 2, "Alan", "Turing",
                  consents={"social_media": "granted"})
        return {
            "ada": (ada.id, ada.upn),
            "photo": cleared_photo(db.session, school["id"], [ada.id]),
            "media_lead": user_id(db.session, "media_lead@testschool.test"),
            "admin": user_id(db.session, "admin@testschool.test"),
        }


def one_post(app) -> Post:
    from gatekeeper.extensions import db

    with app.app_context():
        post = db.session.scalars(select(Post)).one()
        db.session.expunge(post)
        return post


def publish_at(app, now):
    with app.app_context():
        return publish_due(now)


@pytest.mark.parametrize("local, utc", [WINTER, SUMMER])
def test_release_queue_publish_at_uk_time(app, login_as, setup, local, utc):
    media = login_as("media_lead")
    assert release(
        media, setup["photo"], 1, "Sports day: what a race!", local[0:16]).status_code == 302
    post = one_post(app)
    assert post.state == "queued" and post.scheduled_at == utc

    queue = media.get("/queue/").get_data(as_text=True)
    shown = dt.datetime.fromisoformat(local).strftime("%a %d/%m/%Y %H:%M")
    assert shown in queue and "Sports day: what a race!" in queue

    assert publish_at(app, utc - SECOND) == {}  # one second early: nothing goes out
    assert publish_at(app, utc) == {post.id: "published"}
    outbox = school_outbox(app.config["OUTBOX_DIR"], post.school_id)
    verify_clean((outbox / f"{post.uuid}.jpg").read_bytes())
    side = json.loads((outbox / f"{post.uuid}.json").read_text())
    assert side["scheduled_at"] == utc.isoformat() + "Z"
    assert side["pupils_cleared"] == [setup["ada"][1]]
    assert publish_at(app, utc + dt.timedelta(hours=1)) == {}  # published once


def test_periodic_task_publishes_what_is_due(app, login_as, setup):
    media = login_as("media_lead")
    release(media, setup["photo"], 1, "Assembly")  # no time given: now (published inline)
    from gatekeeper.worker.tasks import publish_due_posts

    with app.app_context():
        publish_due_posts()
    post = one_post(app)
    assert post.state == "published" and post.attempts == 1
    assert (school_outbox(app.config["OUTBOX_DIR"], post.school_id) / f"{post.uuid}.jpg").exists()


def test_caption_checked_at_release_and_again_at_publish(app, login_as, setup, school):
    media = login_as("media_lead")
    refused = release(media, setup["photo"], 1, "Well done Ada Lovelace!", SUMMER[0])
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert "full name" in page and "Well done Ada Lovelace!</textarea>" in page  # kept
    assert publish_at(app, SUMMER[1]) == {}

    release(media, setup["photo"], 1, "Hopper house won the relay", SUMMER[0])
    assert one_post(app).state == "queued"
    from gatekeeper.extensions import db

    with app.app_context():  # a pupil with that surname joins before the post goes out
        add_pupil(db.session, school["id"], 3, "Grace", "Hopper",
                  consents={"social_media": "granted"})
    post = one_post(app)
    assert publish_at(app, SUMMER[1]) == {post.id: "held"}
    assert not (school_outbox(app.config["OUTBOX_DIR"], post.school_id)
                / f"{post.uuid}.jpg").exists()
    attention = media.get("/queue/").get_data(as_text=True)
    assert 'id="attention"' in attention and "surname (Hopper)" in attention


def test_a_second_tap_on_release_is_not_called_someone_elses(app, login_as, setup):
    """A double tap on an iPad sends the form twice; the browser shows the second answer, which
    said "released by someone else" to the person who had just released it. Another media lead's
    release is still refused as someone else's."""
    from gatekeeper.extensions import db

    media = login_as("media_lead")
    assert release(media, setup["photo"], 1, "Science week").status_code == 302
    again = release(media, setup["photo"], 1, "Science week")
    page = media.get(again.headers["Location"]).get_data(as_text=True)
    assert "the second tap did nothing" in page and "someone else" not in page
    with app.app_context():
        assert len(db.session.scalars(select(Post)).all()) == 1
        db.session.execute(update(Post).values(released_by_id=setup["admin"]))
        db.session.commit()
    other = release(media, setup["photo"], 1, "Science week")  # the admin's post, not hers
    page = other.get_data(as_text=True)
    assert other.status_code == 400 and "the second tap did nothing" not in page


def test_a_release_to_another_account_just_after_ones_own_is_not_called_a_second_tap(
        app, login_as, setup):
    """Released to one account, the same photo sent to a second account a moment later is not a
    second tap: it went nowhere, and the media lead must not read that it is in the queue."""
    from gatekeeper.extensions import db

    head, media = login_as("head"), login_as("media_lead")
    other = add_account(head, [setup["media_lead"]], adapter="outbox", handle="@school_two")
    assert release(media, setup["photo"], 1, "Science week").status_code == 302
    elsewhere = release(media, setup["photo"], other, "Science week")
    page = elsewhere.get_data(as_text=True)
    assert elsewhere.status_code == 400 and "the second tap did nothing" not in page
    with app.app_context():
        assert [p.account_id for p in db.session.scalars(select(Post))] == [1]


def test_consent_rechecked_at_publish_time_holds_and_tells_media_lead(app, login_as, setup):
    from gatekeeper.extensions import db

    with app.app_context():  # the grant lapses before the post's time (no takedown is triggered)
        pupil = services.find_pupil(db.session, 1, setup["ada"][1])
        services.record_consent(db.session, pupil, "social_media", "granted",
                                given_by="Parent of Ada", recorded_by="test",
                                expires_on=LAPSED_ON)
        db.session.commit()
    media = login_as("media_lead")
    release(media, setup["photo"], 1, "Science week", post_at(LATER_UK))
    post = one_post(app)
    assert post.state == "queued"
    assert publish_at(app, london_to_utc(LATER_UK)) == {post.id: "held"}
    assert not (school_outbox(app.config["OUTBOX_DIR"], post.school_id)
                / f"{post.uuid}.jpg").exists()
    page = media.get("/queue/").get_data(as_text=True)
    assert "held, not posted" in page and "no longer publishable" in page
    with app.app_context():
        held = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "post_held")).one()
        assert held.detail["reason"] == "a pupil in the photo is no longer publishable"


def test_a_held_post_goes_back_to_review_and_is_released_again(app, login_as, setup):
    """A grant lapsed before the post's time and held it; the school renewed it. The held post
    said "held" for ever and the photo stayed queued: taking it down was the only way out, and a
    withdrawn photo can never be released. Back to review puts the photo on the queue again."""
    from gatekeeper.extensions import db

    with app.app_context():
        pupil = services.find_pupil(db.session, 1, setup["ada"][1])
        services.record_consent(db.session, pupil, "social_media", "granted",
                                given_by="Parent of Ada", recorded_by="test",
                                expires_on=LAPSED_ON)
        db.session.commit()
    media = login_as("media_lead")
    release(media, setup["photo"], 1, "Science week", post_at(LATER_UK))
    held = one_post(app)
    assert publish_at(app, london_to_utc(LATER_UK)) == {held.id: "held"}
    assert f'/review/{setup["photo"]}"' not in media.get("/review/").get_data(as_text=True)
    with app.app_context():  # the parents sign the renewal
        pupil = services.find_pupil(db.session, 1, setup["ada"][1])
        services.record_consent(db.session, pupil, "social_media", "granted",
                                given_by="Parent of Ada", recorded_by="test")
        db.session.commit()
    page = media.get("/queue/").get_data(as_text=True)
    assert f'action="/queue/{held.id}/back-to-review"' in page

    back = media.post(f"/queue/{held.id}/back-to-review", follow_redirects=True)
    assert f"Photo {setup['photo']} is back on the review queue" in back.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Post, held.id).state == "withdrawn"
        assert db.session.get(Photo, setup["photo"]).status == "cleared"
    assert f"/review/{setup['photo']}" in media.get("/review/").get_data(as_text=True)
    assert media.post(f"/queue/{held.id}/back-to-review").status_code == 302  # twice: refused
    assert release(media, setup["photo"], 1, "Science week, again").status_code == 302
    with app.app_context():
        posts = db.session.scalars(select(Post).order_by(Post.id)).all()
        assert [p.state for p in posts] == ["withdrawn", "published"]
        assert posts[1].caption == "Science week, again"
        assert db.session.get(Photo, setup["photo"]).status == "published"
        posted = posts[1].id
    dashboard = login_as("head").get("/head/").get_data(as_text=True)
    assert '<div class="figure" id="figure-released">1</div>' in dashboard  # not 2
    assert '<div class="figure" id="figure-takedowns">0</div>' in dashboard  # nothing came down
    # The head's sample of what was posted holds the post that went out, not the one never sent.
    assert f"/head/posts/{posted}/image" in dashboard
    assert f"/head/posts/{held.id}/image" not in dashboard


def test_a_photo_taken_back_to_review_is_no_longer_the_uploaders_to_delete(app, login_as,
                                                                          school):
    """Its post stays a record of the release: the card offered Delete, which was refused."""
    from gatekeeper.extensions import db

    with app.app_context():
        ada = add_pupil(db.session, school["id"], 1, "Ada", "Lovelace",
                        consents={"social_media": "granted"})
        photo_id = cleared_photo(db.session, school["id"], [ada.id],
                                 uploaded_by_id=user_id(db.session, "staff@testschool.test"))
    media, staff = login_as("media_lead"), login_as("staff")
    release(media, photo_id, 1, "Science week", post_at(LATER_UK))
    assert media.post(f"/queue/{one_post(app).id}/back-to-review").status_code == 302
    card = staff.get("/uploads/status").get_json()["photos"][0]
    assert card["status"] == "cleared" and card["released"] is True
    page = staff.get("/uploads/").get_data(as_text=True)
    assert f'action="/my-uploads/{photo_id}/delete" hidden' in page


def test_a_post_a_publisher_has_seen_never_goes_back_to_review(app, login_as, setup):
    """A failed attempt may have reached the network: that post is taken down, not recalled."""
    from gatekeeper.extensions import db

    with WebhookReceiver(SECRET, fail_always=True) as receiver:
        head, media = login_as("head"), login_as("media_lead")
        account = add_account(head, [setup["media_lead"]], adapter="webhook", url=receiver.url,
                              secret=SECRET)
        release(media, setup["photo"], account, "Choir", SUMMER[0])
        assert publish_at(app, SUMMER[1]) == {one_post(app).id: "failed"}
    post = one_post(app)
    assert "back-to-review" not in media.get("/queue/").get_data(as_text=True)
    refused = media.post(f"/queue/{post.id}/back-to-review", follow_redirects=True)
    assert "take it down instead" in refused.get_data(as_text=True)
    assert one_post(app).state == "failed"
    with app.app_context():
        assert db.session.get(Photo, setup["photo"]).status == "queued"


def test_failed_posts_back_off_then_wait_for_the_media_lead(app, login_as, setup):
    from gatekeeper.extensions import db

    with WebhookReceiver(SECRET, fail_always=True) as receiver:
        receiver.fail_status = 400
        head, media = login_as("head"), login_as("media_lead")
        account = add_account(head, [setup["media_lead"]], adapter="webhook", url=receiver.url,
                              secret=SECRET)
        release(media, setup["photo"], account, "Choir", SUMMER[0])
        now, waits = SUMMER[1], []
        for attempt in range(1, PUBLISH_MAX_ATTEMPTS + 1):
            post_id = one_post(app).id
            assert publish_at(app, now) == {post_id: "failed"}
            post = one_post(app)
            assert post.attempts == attempt and "HTTP 400" in post.last_error
            assert len(receiver.deliveries) == attempt  # one request per attempt, no inner loop
            if post.next_attempt_at is None:
                break
            waits.append(post.next_attempt_at - now)
            assert publish_at(app, post.next_attempt_at - SECOND) == {}  # not before its time
            now = post.next_attempt_at
        assert waits == [BACKOFF_BASE * 2 ** i for i in range(PUBLISH_MAX_ATTEMPTS - 1)]
        assert post.attempts == PUBLISH_MAX_ATTEMPTS and post.next_attempt_at is None
        assert publish_at(app, now + dt.timedelta(days=1)) == {}  # given up: a person decides
        page = media.get("/queue/").get_data(as_text=True)
        assert f"failed after {PUBLISH_MAX_ATTEMPTS} attempts" in page and "Try again" in page

        receiver.fail_always = False  # the receiver is fixed; the media lead tries again
        with app.app_context():  # (the post's time is in the future of the test clock)
            row = db.session.get(Post, post.id)
            row.scheduled_at = dt.datetime(2026, 1, 1)
            db.session.commit()
        retried = media.post(f"/queue/{post.id}/retry", follow_redirects=True)
        assert f"Post {post.id} is being tried again now" in retried.get_data(as_text=True)
    assert one_post(app).state == "published"
    assert len(receiver.posts) == 1
    with app.app_context():
        details = " ".join(db.session.scalars(select(AuditEvent.detail_json)))
    assert "post_failed" not in details and SECRET not in details and "HTTP 400" in details


def test_a_post_that_gave_up_stays_in_sight_however_many_posts_follow(app, login_as, setup):
    """The posting queue read its "Needs your attention" from the 100 latest posts: three weeks
    of a school's posts later, a post that had given up was nowhere to be seen, and until then
    its badge said "Failed, will try again"."""
    from gatekeeper.extensions import db

    with app.app_context():
        gave_up = Post(school_id=1, photo_id=setup["photo"], account_id=1, caption="Choir",
                       state="failed", attempts=PUBLISH_MAX_ATTEMPTS, last_error="HTTP 503",
                       scheduled_at=dt.datetime(2026, 9, 1), claimed_at=dt.datetime(2026, 9, 1))
        db.session.add(gave_up)
        db.session.commit()
        gave_up_id = gave_up.id
    media = login_as("media_lead")
    page = media.get("/queue/").get_data(as_text=True)
    row = page.split('id="posts"')[1].split(f'data-post="{gave_up_id}"')[1].split("</li>")[0]
    assert "Failed, waiting for you" in row and "will try again" not in row

    with app.app_context():
        for day in range(RECENT_POSTS):
            photo = Photo(school_id=1, purpose="social_media", status="published",
                          original_filename=f"later-{day}.jpg")
            db.session.add(photo)
            db.session.flush()
            db.session.add(Post(school_id=1, photo_id=photo.id, account_id=1, caption="Later",
                                state="published",
                                scheduled_at=dt.datetime(2026, 9, 2) + dt.timedelta(days=day)))
        db.session.commit()
    page = media.get("/queue/").get_data(as_text=True)
    attention = page.split('id="attention"')[1].split("</section>")[0]
    assert f'data-post="{gave_up_id}"' in attention
    assert f"failed after {PUBLISH_MAX_ATTEMPTS} attempts" in attention and "Try again" in attention


@pytest.fixture
def webhook_post(app, login_as, setup):
    """A post released to a working webhook receiver, queued and not yet sent."""
    with WebhookReceiver(SECRET) as receiver:
        head, media = login_as("head"), login_as("media_lead")
        account = add_account(head, [setup["media_lead"]], adapter="webhook", url=receiver.url,
                              secret=SECRET)
        release(media, setup["photo"], account, "Choir", SUMMER[0])
        yield receiver


def test_a_post_withdrawn_while_it_was_being_sent_is_not_tried_again(app, webhook_post):
    """The send fails after a takedown withdrew the post mid-flight: the failure is not recorded
    as a retry (queued again, a withdrawn post would be published)."""
    from gatekeeper.extensions import db

    with app.app_context():
        post = db.session.scalars(select(Post)).one()
        post.state = "withdrawn"  # as the takedown leaves it while the publisher is out
        db.session.commit()
        assert record_failure(db.session, post, "HTTP 503", SUMMER[1]) == "withdrawn"
        db.session.refresh(post)
        assert post.state == "withdrawn" and post.next_attempt_at is None
    assert publish_at(app, SUMMER[1] + dt.timedelta(days=1)) == {}
    assert webhook_post.deliveries == []


def test_a_second_worker_finishing_a_published_post_opens_no_takedown(app, webhook_post):
    """Two workers sent one post (the first one's claim went stale): the late finisher keeps the
    live post as it is, opens no takedown, and records the second copy for a person."""
    from gatekeeper.extensions import db
    from gatekeeper.models import Takedown

    with app.app_context():
        post = db.session.scalars(select(Post)).one()
        post.state, post.external_id = "published", "first-copy"
        db.session.commit()
        assert finish(db.session, post, "second-copy", SUMMER[1]) == "published"
        db.session.refresh(post)
        assert post.state == "published" and post.external_id == "first-copy"
        assert db.session.scalars(select(Takedown)).all() == []
        actions = list(db.session.scalars(select(AuditEvent.action)))
        assert "post_sent_twice" in actions and "takedown_reopened" not in actions


CRASHING_WORKER = """
import json, os, sys
from gatekeeper.app import create_app
from gatekeeper.publishing.service import publish_post
import datetime as dt
config = json.loads(os.environ["GK_TEST_CONFIG"])
app = create_app(config, config_name="test")
with app.app_context():
    publish_post(int(sys.argv[1]), dt.datetime.fromisoformat(sys.argv[2]))
print("finished", flush=True)
"""


def test_worker_killed_after_the_webhook_accepted_does_not_post_twice(app, login_as, setup):
    from gatekeeper.extensions import db

    with WebhookReceiver(SECRET) as receiver:
        head, media = login_as("head"), login_as("media_lead")
        account = add_account(head, [setup["media_lead"]], adapter="webhook", url=receiver.url,
                              secret=SECRET)
        release(media, setup["photo"], account, "Sports day", SUMMER[0])
        post_id = one_post(app).id
        config = {key: str(app.config[key]) for key in
                  ("SQLALCHEMY_DATABASE_URI", "INSTANCE", "STORAGE_DIR", "OUTBOX_DIR",
                   "SECRET_KEY", "REDIS_URL", "HUEY_NAME")}
        receiver.hold.clear()  # the receiver makes the post, then the worker dies before the answer
        worker = subprocess.Popen(
            [sys.executable, "-c", CRASHING_WORKER, str(post_id), SUMMER[1].isoformat()],
            env={**os.environ, "GK_TEST_CONFIG": json.dumps(config)},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        try:
            assert receiver.accepted.wait(60), worker.communicate(timeout=5)[0]
        finally:
            worker.send_signal(signal.SIGKILL)
            output = worker.communicate(timeout=30)[0]
            receiver.hold.set()
        assert "finished" not in output
        crashed = one_post(app)
        assert crashed.state == "publishing" and crashed.attempts == 1  # written before the send
        assert len(receiver.posts) == 1

        # Still in flight as far as anyone knows: not taken again until the claim is stale.
        assert publish_at(app, SUMMER[1] + dt.timedelta(minutes=1)) == {}
        later = SUMMER[1] + STALE_CLAIM + SECOND
        assert publish_at(app, later) == {post_id: "published"}
        assert publish_at(app, later + dt.timedelta(hours=1)) == {}

    post = one_post(app)
    assert post.state == "published" and post.attempts == 2 and post.external_id == "wh-1"
    keys = [d.key for d in receiver.deliveries]
    assert keys == [post.idempotency_key] * 2  # sent twice with one key ...
    assert list(receiver.posts) == [post.idempotency_key]  # ... and one post exists
    with app.app_context():
        assert db.session.get(Photo, setup["photo"]).status == "published"


def test_a_release_while_the_queue_is_down_is_saved_and_goes_out_when_it_is_back(app, login_as,
                                                                                  setup):
    """The release was committed, then queueing its post failed: the page said "Nothing was
    saved" (a 503), and a media lead who believed it might release again."""
    from gatekeeper.extensions import db
    from gatekeeper.worker.queue import configure_queue
    from gatekeeper.worker.tasks import publish_due_posts

    media = login_as("media_lead")
    app.config.update(HUEY_IMMEDIATE=False, REDIS_URL="redis://127.0.0.1:1/0")  # nothing there
    configure_queue(app)
    try:
        response = release(media, setup["photo"], 1, "Sports day")
    finally:
        app.config.update(HUEY_IMMEDIATE=True, REDIS_URL="")
        configure_queue(app)
    assert response.status_code == 302
    page = media.get(response.headers["Location"]).get_data(as_text=True)
    assert "1 photo(s) released to" in page
    assert "or within a minute of the queue coming back" in page
    assert "Nothing was saved" not in page
    with app.app_context():
        assert [p.state for p in db.session.scalars(select(Post))] == ["queued"]
        publish_due_posts()  # the minute's sweep, once the queue is back
        db.session.expire_all()
        assert [p.state for p in db.session.scalars(select(Post))] == ["published"]


def test_a_refused_batch_release_fills_its_own_events_form_only(app, login_as, setup, school):
    """The caption and ticks a refused batch release sent came back in every event's batch form,
    each opened, so the next event's photos could go out under the first event's words."""
    from gatekeeper.extensions import db
    from gatekeeper.models import Event

    with app.app_context():
        other = cleared_photo(db.session, school["id"], [setup["ada"][0]])
        for name, photo_id in (("Choir", setup["photo"]), ("Sports day", other)):
            event = Event(school_id=school["id"], name=name, date=dt.date(2026, 7, 1),
                          purpose="social_media")
            db.session.add(event)
            db.session.flush()
            db.session.get(Photo, photo_id).event_id = event.id
        db.session.commit()
    media = login_as("media_lead")
    refused = media.post("/review/release", {"photo_id": [str(setup["photo"])], "account_id": "1",
                                             "caption": "Choir with Ada Lovelace", **CHECKLIST})
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert page.count("Choir with Ada Lovelace</textarea>") == 1
    assert page.count("<details class=\"card card-body\" open>") == 1


def uk_now() -> dt.datetime:
    return dt.datetime.now(SCHOOL_ZONE).replace(tzinfo=None)


def nothing_released(app, photo_id: int) -> bool:
    from gatekeeper.extensions import db

    with app.app_context():
        return (db.session.scalars(select(Post)).all() == []
                and db.session.get(Photo, photo_id).status == "cleared"
                and db.session.scalars(select(AuditEvent).where(
                    AuditEvent.action == "photo_released")).all() == [])


def test_a_post_at_time_that_has_passed_is_refused_and_the_form_kept(app, login_as, setup):
    """A mistyped date in the past posted at once. Half an hour ago in UK time: in summer, read
    as UTC, it would still be to come."""
    media = login_as("media_lead")
    typed = post_at(uk_now() - dt.timedelta(minutes=30))
    refused = release(media, setup["photo"], 1, "Sports day relay", typed)
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert "Sports day relay</textarea>" in page and f'value="{typed}"' in page
    assert page.count("required checked") == len(CHECKLIST)
    # The error is beside the field, which is invalid, described by it and focused.
    assert 'aria-invalid="true" aria-describedby="scheduled_at-error" autofocus' in page
    assert ('id="scheduled_at-error">The time to post at has passed: give a time still to come, '
            'or leave it empty to post now.</div>') in page
    assert nothing_released(app, setup["photo"])

    assert release(media, setup["photo"], 1, "Sports day", "31/02 10:00").status_code == 400
    assert nothing_released(app, setup["photo"])
    # The minute it is now, sent a little later (the form gives minutes), still stands.
    assert release(media, setup["photo"], 1, "Sports day", post_at(uk_now())).status_code == 302
    assert one_post(app).state == "published"


def test_a_batch_release_at_a_time_past_is_refused_in_welsh(app, login_as, setup):
    media = login_as("media_lead")
    media.post("/auth/language/cy", {"next": "/review/"})
    yesterday = post_at(uk_now() - dt.timedelta(days=1))
    refused = media.post("/review/release", {"photo_id": [str(setup["photo"])], "account_id": "1",
                                             "caption": "Côr yr ysgol", "scheduled_at": yesterday,
                                             **CHECKLIST})
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert ("Mae'r amser i bostio wedi mynd heibio: rhowch amser sydd eto i ddod, neu gadewch y "
            "maes yn wag i bostio nawr.") in html.unescape(page)
    assert "Côr yr ysgol</textarea>" in page and f'value="{yesterday}"' in page
    assert 'aria-describedby="bulk-1-scheduled_at-error"' in page
    assert nothing_released(app, setup["photo"])


def test_a_post_at_time_is_refused_only_once_past_the_grace(app):
    typed = london_to_utc(uk_time(1, 15))
    with app.test_request_context():
        check_post_at(typed, typed + POST_AT_GRACE)
        check_post_at(None, typed)  # empty: now
        with pytest.raises(ScheduleError):
            check_post_at(typed, typed + POST_AT_GRACE + SECOND)
