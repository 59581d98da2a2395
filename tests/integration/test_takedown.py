"""Withdrawal → takedown end to end for each publisher; takedown by hand; staff deleting uploads."""

import pytest
from sqlalchemy import select

from gatekeeper.models import AuditEvent, Photo, Post, Takedown
from gatekeeper.publishing.adapters import school_outbox
from gatekeeper.register import actions
from tests.support.fixtures import add_pupil
from tests.support.publishing import (
    WebhookReceiver,
    WordPressSite,
    add_account,
    cleared_photo,
    post_at,
    release,
    uk_days_ahead,
    user_id,
)

SECRET = "whsec-takedown-test-secret"
WP_USER, WP_PASSWORD = "gatekeeper", "wxyz 1234 ABCD 5678 efgh IJKL"


@pytest.fixture
def setup(app, school):
    from gatekeeper.extensions import db

    with app.app_context():
        ada = add_pupil(db.session, school["id"], 1, "Ada", "Lovelace",
                        consents={"social_media": "granted", "website": "granted"})
        alan = add_pupil(db.session, school["id"], 2, "Alan", "Turing",
                         consents={"social_media": "granted", "website": "granted"})
        return {
            "ada": ada.upn, "ada_id": ada.id,
            "photo": cleared_photo(db.session, school["id"], [ada.id]),
            "other": cleared_photo(db.session, school["id"], [alan.id]),
            "media_lead": user_id(db.session, "media_lead@testschool.test"),
            "staff": user_id(db.session, "staff@testschool.test"),
        }


def withdraw(app, upn, purpose="social_media"):
    """The register's own path (web screens and CLI both call it) as the admin withdraws."""
    from gatekeeper.extensions import db

    with app.app_context():
        actions.set_consent(db.session, 1, upn, purpose, "withdrawn", given_by="Parent of Ada",
                            recorded_by="admin@testschool.test")
        db.session.commit()


def carry_out(app):
    from gatekeeper.worker.tasks import carry_out_takedowns_task

    with app.app_context():
        return carry_out_takedowns_task().get()


def rows(app, model):
    from gatekeeper.extensions import db

    with app.app_context():
        found = db.session.scalars(select(model).order_by(model.id)).all()
        db.session.expunge_all()
        return found


def actions_logged(app) -> list[str]:
    return [e.action for e in rows(app, AuditEvent)]


def publish_both(media, setup, account, caption="Maths week"):
    assert release(media, setup["photo"], account, caption).status_code == 302
    assert release(media, setup["other"], account, caption).status_code == 302
    posts = rows(media.client.application, Post)
    assert [p.state for p in posts] == ["published", "published"]
    return posts


def test_withdrawal_deletes_through_webhook(app, login_as, setup):
    with WebhookReceiver(SECRET) as receiver:
        account = add_account(login_as("head"), [setup["media_lead"]], adapter="webhook",
                              url=receiver.url, secret=SECRET, can_delete="yes")
        ada_post, alan_post = publish_both(login_as("media_lead"), setup, account)
        withdraw(app, setup["ada"])  # its commit queues the deletion at once
        (done,) = rows(app, Takedown)
        assert done.state == "done" and done.post_id == ada_post.id
        assert done.requested_by == "admin@testschool.test"
        assert carry_out(app) == {}  # nothing left for the minute's sweep
    assert receiver.live_posts() == [alan_post.idempotency_key]  # only Ada's post is gone
    delete = receiver.deliveries[-1]
    assert delete.event == "post.delete" and delete.signature_ok
    assert delete.body["idempotency_key"] == ada_post.idempotency_key
    posts = {p.id: p for p in rows(app, Post)}
    assert posts[ada_post.id].state == "withdrawn" and posts[alan_post.id].state == "published"
    log = actions_logged(app)
    assert log.index("consent_recorded") < log.index("post_withdrawn") < log.index("post_deleted")


def test_withdrawal_deletes_from_wordpress(app, login_as, setup):
    with WordPressSite(WP_USER, WP_PASSWORD) as site:
        account = add_account(login_as("head"), [setup["media_lead"]], adapter="wordpress",
                              purpose="website", base_url=site.url, username=WP_USER,
                              app_password=WP_PASSWORD)
        ada_post, alan_post = publish_both(login_as("media_lead"), setup, account)
        assert len(site.posts) == 2 and len(site.media) == 2
        withdraw(app, setup["ada"], purpose="social_media")  # another purpose: website stays
        assert rows(app, Takedown) == []
        withdraw(app, setup["ada"], purpose="website")  # deleted at once, not in a minute
        remaining = [p["slug"] for p in site.posts.values()]
        assert remaining == ["gk-" + alan_post.idempotency_key] and len(site.media) == 1
    assert [t.state for t in rows(app, Takedown)] == ["done"]
    assert site.refused == 0


def test_withdrawal_from_outbox_becomes_a_task_for_the_media_lead(app, login_as, setup):
    media = login_as("media_lead")
    ada_post, _ = publish_both(media, setup, 1)
    outbox = school_outbox(app.config["OUTBOX_DIR"], ada_post.school_id)
    assert (outbox / f"{ada_post.uuid}.jpg").exists()
    withdraw(app, setup["ada"])
    carry_out(app)
    assert not (outbox / f"{ada_post.uuid}.jpg").exists()  # not picked up by a sync tool later
    (task,) = rows(app, Takedown)
    assert task.state == "manual"
    page = media.get("/queue/").get_data(as_text=True)
    assert f'data-takedown="{task.id}"' in page and "Take down by hand" in page
    assert media.post(f"/queue/takedowns/{task.id}/confirm").status_code == 302
    (task,) = rows(app, Takedown)
    assert task.state == "done" and task.confirmed_by_id == setup["media_lead"]
    assert "Take down by hand" not in media.get("/queue/").get_data(as_text=True)
    assert {"takedown_task_created", "takedown_confirmed"} <= set(actions_logged(app))


def test_queued_post_is_pulled_without_touching_the_destination(app, login_as, setup):
    with WebhookReceiver(SECRET) as receiver:
        account = add_account(login_as("head"), [setup["media_lead"]], adapter="webhook",
                              url=receiver.url, secret=SECRET, can_delete="yes")
        later = post_at(uk_days_ahead(30))
        release(login_as("media_lead"), setup["photo"], account, "Later", later)
        from gatekeeper.extensions import db

        with app.app_context():
            actions.add_nopublish(db.session, 1, setup["ada"], category="other", note="x",
                                  added_by="dsl@testschool.test")
            db.session.commit()
        (post,) = rows(app, Post)
        assert post.state == "withdrawn"
        assert post.withdrawn_reason == "a pupil in the photo is no longer publishable"
        assert rows(app, Takedown) == []  # never handed to the webhook: nothing to delete
    assert receiver.deliveries == []
    with app.app_context():
        assert db.session.get(Photo, setup["photo"]).status == "withdrawn"


def test_the_posting_queue_does_not_say_who_went_on_the_no_publish_list(app, login_as, setup):
    """The media lead must take the post down, but is never told that a pupil in it is now
    protected, nor that the DSL asked: only the DSL knows who is on the list."""
    from gatekeeper.register.forms import today

    media = login_as("media_lead")
    ada_post, _ = publish_both(media, setup, 1)  # the outbox: a takedown is a task for a person
    dsl = login_as("dsl")
    added = dsl.post("/nopublish/", {"pupil": setup["ada"], "category": "court_order",
                                     "note": "", "starts_on": today().isoformat(), "ends_on": ""})
    assert added.status_code == 302
    carry_out(app)
    (task,) = rows(app, Takedown)
    assert task.state == "manual" and task.post_id == ada_post.id
    english = media.get("/queue/").get_data(as_text=True)
    assert "a pupil in the photo is no longer publishable" in english
    media.post("/auth/language/cy", {"next": "/"})
    welsh = media.get("/queue/").get_data(as_text=True)
    for queue in (english, welsh):
        assert f'data-takedown="{task.id}"' in queue
        for telling in ("no-publish", "dim cyhoeddi", "dsl@testschool.test", "Test School dsl"):
            assert telling not in queue, telling
    log = [e for e in rows(app, AuditEvent) if e.action in ("nopublish_added", "post_withdrawn")]
    assert [e.action for e in log] == ["nopublish_added", "post_withdrawn"]
    assert log[0].actor == "dsl@testschool.test"  # the audit trail still says who and why


def test_media_lead_takes_a_post_down_by_hand_with_a_reason(app, login_as, setup):
    with WebhookReceiver(SECRET) as receiver:
        account = add_account(login_as("head"), [setup["media_lead"]], adapter="webhook",
                              url=receiver.url, secret=SECRET, can_delete="yes")
        media = login_as("media_lead")
        release(media, setup["photo"], account, "Sports")
        (post,) = rows(app, Post)
        media.post(f"/queue/{post.id}/takedown", {"reason": ""})
        assert rows(app, Post)[0].state == "published"
        assert "Give a reason" in media.get("/queue/").get_data(as_text=True)
        assert media.post(f"/queue/{post.id}/takedown",
                          {"reason": "posted by mistake"}).status_code == 302
    assert receiver.live_posts() == []  # deleted at once, through the same path
    (task,) = rows(app, Takedown)
    assert task.state == "done" and task.requested_by == "media_lead@testschool.test"
    assert rows(app, Post)[0].withdrawn_reason == "posted by mistake"
    head = login_as("head")
    assert "posted by mistake" in head.get("/queue/").get_data(as_text=True)


def test_failing_delete_is_retried_then_handed_to_a_person(app, login_as, setup):
    from gatekeeper.publishing.takedown import TAKEDOWN_MAX_ATTEMPTS

    with WebhookReceiver(SECRET) as receiver:
        account = add_account(login_as("head"), [setup["media_lead"]], adapter="webhook",
                              url=receiver.url, secret=SECRET, can_delete="yes")
        release(login_as("media_lead"), setup["photo"], account, "Sports")
        receiver.fail_always, receiver.fail_status = True, 400
        withdraw(app, setup["ada"])
        for _ in range(TAKEDOWN_MAX_ATTEMPTS):
            carry_out(app)
    (task,) = rows(app, Takedown)
    assert task.state == "manual" and "HTTP 400" in task.last_error
    assert task.attempts == TAKEDOWN_MAX_ATTEMPTS


def test_staff_delete_their_own_upload_before_release_only(app, login_as, setup, school):
    from gatekeeper.extensions import db
    from gatekeeper.storage import app_storage

    with app.app_context():
        mine = cleared_photo(db.session, school["id"], [setup["ada_id"]],
                             uploaded_by_id=setup["staff"])
        released = cleared_photo(db.session, school["id"], [setup["ada_id"]],
                                 uploaded_by_id=setup["staff"])
        uuid = db.session.get(Photo, mine).uuid
    staff, media = login_as("staff"), login_as("media_lead")
    assert media.post(f"/my-uploads/{mine}/delete").status_code == 404  # not the uploader
    release(media, released, 1, "Sports")
    assert staff.post(f"/my-uploads/{mine}/delete").status_code == 302
    staff.post(f"/my-uploads/{released}/delete")
    with app.app_context():
        assert db.session.get(Photo, mine) is None
        assert not app_storage().exists("originals", uuid)
        assert db.session.get(Photo, released).status == "published"
    assert "photo_deleted" in actions_logged(app)


def test_a_release_at_the_moment_of_a_delete_waits_then_finds_nothing(app, setup, school):
    """Staff press Delete while the media lead releases the same photo, the release arriving
    between the delete's check and its DELETE (its first flush). The check holds the row: the
    release waits, then finds nothing to release. Before, it landed in between, and its post
    pointed at a deleted photo and a deleted original."""
    import threading

    from sqlalchemy import event

    from gatekeeper.extensions import db
    from gatekeeper.models import OfficialAccount, User
    from gatekeeper.publishing import service as publishing
    from gatekeeper.publishing import takedown
    from gatekeeper.storage import app_storage

    with app.app_context():
        photo_id = cleared_photo(db.session, school["id"], [setup["ada_id"]],
                                 uploaded_by_id=setup["staff"])
        uuid = db.session.get(Photo, photo_id).uuid
    outcome = {}

    def release():
        with app.app_context():
            lead = db.session.scalar(select(User).where(User.email == "media_lead@testschool.test"))
            try:
                publishing.release_post(db.session, db.session.get(Photo, photo_id),
                                        db.session.get(OfficialAccount, 1), "Sports day", lead)
                db.session.commit()
                outcome["release"] = "released"
            except publishing.ReleaseError as error:
                db.session.rollback()
                outcome["release"] = str(error)

    other = threading.Thread(target=release)
    with app.app_context():
        def release_now(*_args):  # the delete has checked, and is about to write its DELETE
            other.start()
            other.join(1.0)  # a release that does not wait is done well within a second

        event.listen(db.session(), "before_flush", release_now, once=True)
        try:
            takedown.delete_own_upload(db.session, db.session.get(Photo, photo_id),
                                       db.session.get(User, setup["staff"]))
            db.session.commit()
        except takedown.TakedownError:
            db.session.rollback()
        takedown.delete_files(uuid)
    other.join(30)
    with app.app_context():
        photo, posts = db.session.get(Photo, photo_id), db.session.scalars(select(Post)).all()
        # Either the delete won (the release found nothing) or, at worst, the release did and
        # the delete was refused: never a post of a deleted photo.
        assert (photo is None and posts == [] and outcome["release"] != "released"), (
            photo, posts, outcome)
        assert not app_storage().exists("originals", uuid)


def test_a_withdrawal_queues_its_takedown_at_once(app, login_as, setup):
    """Not at the next minute's sweep: the commit itself puts the deletion on the queue."""
    from gatekeeper.worker.queue import configure_queue, huey

    with WebhookReceiver(SECRET) as receiver:
        account = add_account(login_as("head"), [setup["media_lead"]], adapter="webhook",
                              url=receiver.url, secret=SECRET, can_delete="yes")
        publish_both(login_as("media_lead"), setup, account)
        app.config["HUEY_IMMEDIATE"] = False
        configure_queue(app)
        try:
            huey.flush()
            withdraw(app, setup["ada"])
            waiting = [task.name for task in huey.pending()]
            assert "carry_out_takedowns_task" in waiting
            assert [t.state for t in rows(app, Takedown)] == ["pending"]
            with app.app_context():  # what the worker does with that message
                huey.execute(next(t for t in huey.pending()
                                  if t.name.endswith("carry_out_takedowns_task")))
        finally:
            app.config["HUEY_IMMEDIATE"] = True
            configure_queue(app)
        assert [t.state for t in rows(app, Takedown)] == ["done"]
        assert receiver.deleted == [rows(app, Post)[0].idempotency_key]


def test_a_withdrawal_while_the_queue_is_down_is_saved_and_taken_down_later(
        app, login_as, setup):
    from gatekeeper.worker.queue import configure_queue

    with WebhookReceiver(SECRET) as receiver:
        account = add_account(login_as("head"), [setup["media_lead"]], adapter="webhook",
                              url=receiver.url, secret=SECRET, can_delete="yes")
        publish_both(login_as("media_lead"), setup, account)
        queue = {key: app.config[key] for key in ("HUEY_IMMEDIATE", "REDIS_URL")}
        app.config.update(HUEY_IMMEDIATE=False, REDIS_URL="redis://127.0.0.1:1/0")  # nobody
        configure_queue(app)
        try:
            withdraw(app, setup["ada"])  # commits, and does not raise
        finally:
            app.config.update(queue)  # Redis again in pass 2
            configure_queue(app)
        assert [t.state for t in rows(app, Takedown)] == ["pending"]
        assert carry_out(app) == {rows(app, Takedown)[0].id: "done"}  # the sweep, queue back
        assert len(receiver.deleted) == 1
