"""The gate holds at every moment: the rule runs again at release and immediately before posting,
for the purpose of the account, against the register as it is then; a register change screens
every unpublished photo again; "no faces found" needs a person; one release per decision; one
school clock."""

import datetime as dt
import threading

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from consent import services
from consent.clock import london_to_utc
from consent.models import Pupil
from gatekeeper.models import (
    AccountReleaser,
    AuditEvent,
    OfficialAccount,
    Photo,
    Post,
    Takedown,
    User,
)
from gatekeeper.publishing import service as publishing
from gatekeeper.register import actions
from tests.support.fixtures import add_pupil, upload_photo
from tests.support.publishing import (
    CHECKLIST,
    cleared_photo,
    enrol_made_up_face,
    post_at,
    release,
    screened_photo,
    uk_time,
)

SOCIAL = 1  # the test school's approved social-media outbox account (make_school)
SOON_UK = uk_time(6, 15)
SOON = post_at(SOON_UK)
AFTER_SOON = london_to_utc(SOON_UK) + dt.timedelta(minutes=30)  # UTC: past SOON
SUMMER_END = uk_time(8, 31, 20, 0)  # the last evening of a school year's grants
LAST_DAY = SUMMER_END.date()


def lookalike_encodings():
    """Reference faces of pupils A and B and a face just inside the blocking distance of A and
    clearly nearer B: within B's clear radius with the margin the rule asks for."""
    from gatekeeper.screening import thresholds as t

    to_a = t.LOOSE_TOLERANCE - 0.01
    to_b = to_a - t.CLEAR_MARGIN - 0.01
    rng = np.random.default_rng(7)
    b = rng.normal(0, 0.1, 128)
    x, y = np.zeros(128), np.zeros(128)
    x[0], y[1] = 1.0, 1.0
    apart = 0.6
    a = b + apart * x
    along = (apart**2 + to_b**2 - to_a**2) / (2 * apart)
    face = b + along * x + np.sqrt(to_b**2 - along**2) * y
    assert np.isclose(np.linalg.norm(face - b), to_b)
    assert np.isclose(np.linalg.norm(face - a), to_a)
    return a, b, face


@pytest.fixture
def lookalike(app, school):
    """A (consented for the website, refused for social media), B (consented for both), and a
    photo of a lookalike of A that the website screening cleared as B."""
    from gatekeeper.extensions import db

    a_ref, b_ref, face = lookalike_encodings()
    with app.app_context():
        a = add_pupil(db.session, school["id"], 1, "Efa", "Jones",
                      consents={"website": "granted", "social_media": "refused"})
        b = add_pupil(db.session, school["id"], 2, "Cara", "Williams",
                      consents={"website": "granted", "social_media": "granted"})
        enrol_made_up_face(db.session, school["id"], a.id, a_ref)
        enrol_made_up_face(db.session, school["id"], b.id, b_ref)
        db.session.commit()
        photo_id = screened_photo(db.session, school["id"], [face], purpose="website")
        website = add_account(db.session, school["id"], "website")
        ids = {"a": a.id, "a_upn": a.upn, "b": b.id, "photo": photo_id, "website": website}
        assert photo_state(ids["photo"]) == ("cleared", ["cleared"], [b.id])
    return ids


def add_account(session, school_id: int, purpose: str, *, authorise: bool = True) -> int:
    head = session.scalar(select(User).where(User.email == "head@testschool.test"))
    lead = session.scalar(select(User).where(User.email == "media_lead@testschool.test"))
    account = OfficialAccount(school_id=school_id, platform="Site", handle=f"@{purpose}",
                              purpose=purpose, adapter="outbox", admin_names_json='["A", "B"]',
                              approved_by_id=head.id, approved_at=dt.datetime(2026, 1, 1))
    session.add(account)
    session.flush()
    if authorise:
        session.add(AccountReleaser(account_id=account.id, user_id=lead.id,
                                    authorised_by_id=head.id))
    session.commit()
    return account.id


def photo_state(photo_id: int):
    from gatekeeper.extensions import db

    photo = db.session.get(Photo, photo_id)
    db.session.refresh(photo)
    return photo.status, [f.status for f in photo.faces], [f.pupil_id for f in photo.faces]


def posts(app) -> list[tuple[int, str, int]]:
    from gatekeeper.extensions import db

    with app.app_context():
        return [(p.photo_id, p.state, p.account_id)
                for p in db.session.scalars(select(Post).order_by(Post.id))]


def flashed(response) -> str:
    return response.get_data(as_text=True)


# --- 1. the rule runs again at release, for the account's purpose ---------------------------

def test_a_lookalike_cleared_for_the_website_is_refused_for_social_media(app, login_as, lookalike):
    media = login_as("media_lead")
    refused = media.post(f"/review/{lookalike['photo']}/release",
                         {"account_id": str(SOCIAL), "caption": "Sports day", **CHECKLIST},
                         follow_redirects=True)
    assert "may be a pupil who must not be published" in flashed(refused)
    assert posts(app) == []
    assert release(
        media, lookalike["photo"], lookalike["website"], "Sports", SOON).status_code == 302
    assert posts(app) == [(lookalike["photo"], "queued", lookalike["website"])]


def test_the_review_page_says_per_account_what_the_rule_says(app, login_as, lookalike):
    from gatekeeper.extensions import db

    with app.app_context():
        hidden = add_account(db.session, 1, "newsletter", authorise=False)
    page = login_as("media_lead").get(f"/review/{lookalike['photo']}").get_data(as_text=True)

    def check(account_id):
        start = page.index(f'data-account="{account_id}"')
        return page[start:page.index("</div></li>", start)]

    assert "not now" in check(SOCIAL) and "must not be published" in check(SOCIAL)
    assert "may be released" in check(lookalike["website"])
    assert "not now" not in check(lookalike["website"])
    form = page[page.index('class="release-form"'):]
    assert f'<option value="{lookalike["website"]}"' in form
    assert f'<option value="{SOCIAL}"' not in form  # the rule says no for social media
    assert f'data-account="{hidden}"' not in page and f'value="{hidden}"' not in page


def test_a_withdrawal_after_screening_rescreens_the_photo_and_refuses_release(
        app, login_as, lookalike):
    from gatekeeper.extensions import db

    with app.app_context():  # screened for social media while A had consent for it
        pupil = db.session.get(Pupil, lookalike["a"])
        actions.record_consent(db.session, pupil, "website", "withdrawn", actor="test",
                               given_by="Parent of Efa")
        db.session.commit()  # the register change screens every unpublished photo again
        assert photo_state(lookalike["photo"]) == ("blocked", ["blocked"], [lookalike["a"]])
    media = login_as("media_lead")
    refused = release(media, lookalike["photo"], lookalike["website"], "Sports")
    assert refused.status_code == 400 and "must not be published" in flashed(refused)
    assert posts(app) == []


# --- ... and again immediately before the publisher is called --------------------------------

def test_the_publish_time_check_runs_the_whole_rule_not_only_the_cleared_pupils(
        app, login_as, lookalike):
    from gatekeeper.extensions import db

    media = login_as("media_lead")
    assert release(
        media, lookalike["photo"], lookalike["website"], "Sports", SOON).status_code == 302
    with app.app_context():  # straight into the register: no rescreen runs, only the post's check
        pupil = db.session.get(Pupil, lookalike["a"])
        services.record_consent(db.session, pupil, "website", "withdrawn",
                                given_by="Parent of Efa", recorded_by="test")
        db.session.commit()
        post = db.session.scalars(select(Post)).one()
        assert post.pupil_ids == [lookalike["b"]]  # A was never named on the post
        assert publishing.publish_due(AFTER_SOON) == {post.id: "held"}
        db.session.refresh(post)
        assert post.last_error == publishing.HELD_CONSENT
    assert not list(app.config["OUTBOX_DIR"].rglob("*.jpg"))


def test_a_register_change_takes_down_a_published_lookalike(app, login_as, lookalike):
    from gatekeeper.extensions import db

    media = login_as("media_lead")
    assert release(
        media, lookalike["photo"], lookalike["website"], "Sports", SOON).status_code == 302
    with app.app_context():
        assert set(publishing.publish_due(AFTER_SOON).values()) == {"published"}
        actions.add_nopublish(db.session, 1, lookalike["a_upn"], category="court_order",
                              note="court order", added_by="dsl")
        db.session.commit()
        post = db.session.scalars(select(Post)).one()
        assert post.state == "withdrawn" and post.withdrawn_reason == publishing.HELD_CONSENT
        takedown = db.session.scalars(select(Takedown)).one()
        assert takedown.post_id == post.id and takedown.requested_by == "register change"


def test_a_published_lookalike_comes_down_at_the_sweep_when_the_queue_was_down(
        app, login_as, lookalike):
    """The queue down at the no-publish entry: its rescreen was never queued and the lookalike
    stayed up until the next register change. The worker's sweep takes it down, once."""
    from gatekeeper.extensions import db
    from gatekeeper.worker.queue import configure_queue
    from gatekeeper.worker.tasks import (
        carry_out_takedowns_periodic,
        publish_due_posts,
        requeue_stalled_work,
        take_down_forbidden_posts,
    )

    media = login_as("media_lead")
    assert release(media, lookalike["photo"], lookalike["website"], "Sports").status_code == 302
    assert posts(app) == [(lookalike["photo"], "published", lookalike["website"])]
    queue = {key: app.config[key] for key in ("HUEY_IMMEDIATE", "REDIS_URL")}
    app.config.update(HUEY_IMMEDIATE=False, REDIS_URL="redis://127.0.0.1:1/0")  # nobody listens
    configure_queue(app)
    try:
        with app.app_context():
            actions.add_nopublish(db.session, 1, lookalike["a_upn"], category="court_order",
                                  note="court order", added_by="dsl")
            db.session.commit()  # saved; its rescreen could not be queued
    finally:
        app.config.update(queue)
        configure_queue(app)
    with app.app_context():  # the queue is back: the sweeps that were there before see nothing
        for sweep in (publish_due_posts, carry_out_takedowns_periodic, requeue_stalled_work):
            sweep.call_local()
    assert posts(app) == [(lookalike["photo"], "published", lookalike["website"])]

    with app.app_context():
        assert take_down_forbidden_posts.call_local() == 1
        assert take_down_forbidden_posts.call_local() == 0  # again: nothing more to do
        post = db.session.scalars(select(Post)).one()
        assert post.state == "withdrawn" and post.withdrawn_reason == publishing.HELD_CONSENT
        takedown = db.session.scalars(select(Takedown)).one()
        assert (takedown.post_id, takedown.requested_by) == (post.id, "register change")
        assert takedown.state == "manual"  # an outbox: the media lead removes it by hand
        withdrawn = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "post_withdrawn")).all()
        assert [e.subject_id for e in withdrawn] == [str(post.id)]


def test_a_register_change_holds_a_queued_lookalike(app, login_as, lookalike):
    from gatekeeper.extensions import db

    media = login_as("media_lead")
    assert release(
        media, lookalike["photo"], lookalike["website"], "Sports", SOON).status_code == 302
    with app.app_context():
        pupil = db.session.get(Pupil, lookalike["a"])
        actions.record_consent(db.session, pupil, "website", "refused", actor="test",
                               given_by="Parent of Efa")
        db.session.commit()
        post = db.session.scalars(select(Post)).one()
        assert post.state == "held" and post.last_error == publishing.HELD_CONSENT
        assert publishing.publish_due(AFTER_SOON) == {}
    assert not list(app.config["OUTBOX_DIR"].rglob("*.jpg"))


def photo_of_a_pupil_granted_until(app, school, last_day: dt.date) -> int:
    """A cleared photo of Ada, whose parent's social-media grant ends on `last_day`."""
    from gatekeeper.extensions import db

    with app.app_context():
        ada = add_pupil(db.session, school["id"], 1, "Ada", "Lovelace")
        services.record_consent(db.session, ada, "social_media", "granted", given_by="Parent",
                                recorded_by="test", expires_on=last_day)
        db.session.commit()
        return cleared_photo(db.session, school["id"], [ada.id])


def test_consents_that_lapse_on_their_expiry_date_are_rechecked_daily(app, school, login_as):
    from gatekeeper.extensions import db
    from gatekeeper.review.rescreen import rescreen_lapsed

    photo_id = photo_of_a_pupil_granted_until(app, school, LAST_DAY)
    media = login_as("media_lead")
    december = post_at(SUMMER_END.replace(month=12, day=1, hour=10))
    assert release(media, photo_id, SOCIAL, "Summer fair", december).status_code == 302
    with app.app_context():
        assert rescreen_lapsed(on=LAST_DAY) == 0  # nothing lapsed yesterday
        assert rescreen_lapsed(on=LAST_DAY + dt.timedelta(days=1)) == 1
        post = db.session.scalars(select(Post)).one()
        assert post.state == "held" and post.last_error == publishing.HELD_CONSENT


# --- 2. "no faces found" is its own state and needs a person ---------------------------------

def blank_jpeg() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (640, 480), (120, 160, 200)).save(out, "JPEG")
    return out.getvalue()


def test_a_photo_with_no_faces_is_never_cleared_nor_bulk_released(app, login_as, school):
    from gatekeeper.extensions import db

    staff = login_as("staff")
    event = staff.post("/uploads/events", {"name": "Trip", "date": "2026-07-10",
                                           "purpose": "social_media"}).get_json()["id"]
    empty = upload_photo(staff, event, "sky.jpg", blank_jpeg()).get_json()["id"]
    with app.app_context():
        assert db.session.get(Photo, empty).status == "no_faces"
        ada = add_pupil(db.session, school["id"], 1, "Ada", "Lovelace",
                        consents={"social_media": "granted"})
        other = cleared_photo(db.session, school["id"], [ada.id])
    media = login_as("media_lead")
    queue = media.get("/review/").get_data(as_text=True)
    assert f'value="{other}" id="pick-{other}"' in queue
    assert f'id="pick-{empty}"' not in queue  # never offered for a bulk release
    bulk = media.post("/review/release", {"photo_id": [str(empty), str(other)],
                                          "account_id": str(SOCIAL), "caption": "Trip",
                                          **CHECKLIST}, follow_redirects=True)
    assert "released on its own" in flashed(bulk) and posts(app) == []
    alone = media.post(f"/review/{empty}/release", {"account_id": str(SOCIAL),
                                                    "caption": "Trip", **CHECKLIST},
                       follow_redirects=True)
    assert "confirm nobody is in it" in flashed(alone) and posts(app) == []
    media.post(f"/review/{empty}/no-faces")
    assert release(media, empty, SOCIAL, "Trip", SOON).status_code == 302
    assert posts(app) == [(empty, "queued", SOCIAL)]
    with app.app_context():
        photo = db.session.get(Photo, empty)
        assert photo.no_faces_checked_by_id is not None


# --- 4. one release per decision --------------------------------------------------------------

def test_eight_releases_of_one_photo_at_once_make_one_post(app, login_as, school):
    from gatekeeper.extensions import db

    with app.app_context():
        ada = add_pupil(db.session, school["id"], 1, "Ada", "Lovelace",
                        consents={"social_media": "granted"})
        photo_id = cleared_photo(db.session, school["id"], [ada.id])
    media = login_as("media_lead")  # eight tabs of one signed-in browser
    sessions = [media] + [media.tab() for _ in range(7)]
    start, codes = threading.Barrier(len(sessions)), []

    def go(media):
        start.wait()
        codes.append(release(media, photo_id, SOCIAL, "Sports", SOON).status_code)

    threads = [threading.Thread(target=go, args=(m,)) for m in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # The winner goes on to the next photo. A loser that finds the winner's post (the same
    # person's, committed) is told it is released (as a second tap would be); one refused before
    # the winner committed comes back with the message and what was typed.
    assert codes.count(302) >= 1 and set(codes) <= {302, 400} and len(codes) == 8
    assert posts(app) == [(photo_id, "queued", SOCIAL)]


def test_a_stale_release_to_another_account_is_refused(app, school):
    """The conditional update, not the Python check, decides: a second media lead whose page
    was loaded before the first release cannot release the photo again to another account."""
    from gatekeeper.extensions import db

    with app.app_context():
        ada = add_pupil(db.session, school["id"], 1, "Ada", "Lovelace",
                        consents={"social_media": "granted", "website": "granted"})
        photo_id = cleared_photo(db.session, school["id"], [ada.id])
        website = add_account(db.session, school["id"], "website")
        lead_id = db.session.scalar(
            select(User.id).where(User.email == "media_lead@testschool.test"))
    with app.app_context(), Session(db.engine) as first, Session(db.engine) as second:
        stale = second.get(Photo, photo_id)
        assert stale.status == "cleared" and len(stale.faces) == 1
        publishing.release_post(first, first.get(Photo, photo_id),
                                first.get(OfficialAccount, SOCIAL), "Sports",
                                first.get(User, lead_id))
        first.commit()
        with pytest.raises(publishing.ReleaseError, match="just been released"):
            publishing.release_post(second, stale, second.get(OfficialAccount, website), "Sports",
                                    second.get(User, lead_id))
        second.rollback()
    assert posts(app) == [(photo_id, "queued", SOCIAL)]


def test_the_database_allows_one_live_post_per_photo_and_account(app, school):
    from gatekeeper.extensions import db

    with app.app_context():
        ada = add_pupil(db.session, school["id"], 1, "Ada", "Lovelace")
        photo_id = cleared_photo(db.session, school["id"], [ada.id])
        for state in ("withdrawn", "published"):
            db.session.add(Post(school_id=1, photo_id=photo_id, account_id=SOCIAL, state=state))
        db.session.commit()  # a withdrawn post does not count
        db.session.add(Post(school_id=1, photo_id=photo_id, account_id=SOCIAL, state="queued"))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


# --- the publish claim and "withdrawn while it was being published" ------------------------

@pytest.fixture
def queued_post(app, login_as, school):
    from gatekeeper.extensions import db

    with app.app_context():
        ada = add_pupil(db.session, school["id"], 1, "Ada", "Lovelace",
                        consents={"social_media": "granted"})
        photo_id = cleared_photo(db.session, school["id"], [ada.id])
    assert release(login_as("media_lead"), photo_id, SOCIAL, "Sports", SOON).status_code == 302
    with app.app_context():
        return db.session.scalar(select(Post.id))


def test_two_workers_claim_a_post_once(app, queued_post):
    from gatekeeper.extensions import db

    with app.app_context(), Session(db.engine) as one, Session(db.engine) as two:
        assert publishing.claim(one, queued_post, AFTER_SOON) is True
        assert publishing.claim(two, queued_post, AFTER_SOON) is False
        assert one.get(Post, queued_post).attempts == 1


def test_a_post_withdrawn_while_it_was_being_published_is_taken_down_not_published(
        app, queued_post):
    from gatekeeper.extensions import db
    from gatekeeper.publishing.takedown import take_down

    with app.app_context(), Session(db.engine) as worker, Session(db.engine) as register:
        assert publishing.claim(worker, queued_post, AFTER_SOON)
        take_down(register, register.get(Post, queued_post), "consent withdrawn")
        register.commit()  # while the worker is out at the publisher
        post = worker.get(Post, queued_post)
        assert publishing.finish(worker, post, "fb-123", AFTER_SOON) == "withdrawn"
        came_down(worker, queued_post, "fb-123")  # its address known, so it can be deleted
        assert worker.get(Post, queued_post).published_at is None
        assert worker.scalar(select(AuditEvent.id).where(
            AuditEvent.action == "takedown_reopened")) is not None


def came_down(session: Session, post_id: int, external_id: str) -> None:
    """The post is withdrawn, knows where it went out, and its takedown was carried out at once:
    the outbox cannot delete, so a person is asked."""
    session.expire_all()
    post = session.get(Post, post_id)
    assert post.state == "withdrawn" and post.external_id == external_id
    assert session.scalars(select(Takedown.state).where(Takedown.post_id == post_id)).all() == [
        "manual"]


def ada_leaves(register: Session) -> int:
    """Ada leaves as of yesterday (the register change commits); her id."""
    from consent.clock import school_today

    ada = register.scalar(select(Pupil).where(Pupil.first_name == "Ada"))
    ada.left_on = school_today() - dt.timedelta(days=1)
    register.commit()
    return ada.id


def test_a_hold_read_before_a_workers_claim_takes_the_post_down_instead(app, queued_post):
    """The rescreen after a register change read the post while it was queued; a worker claimed
    it before the rescreen wrote. Written over the claim, "held" hid a post that went out with no
    takedown: now the rescreen judges it as it is, out there, and takes it down."""
    from gatekeeper.extensions import db
    from gatekeeper.review.rescreen import rescreen_school

    with app.app_context(), Session(db.engine) as worker, Session(db.engine) as register:
        stale = register.get(Post, queued_post)  # the rescreen's read, kept in its identity map
        assert stale.state == "queued"
        ada = ada_leaves(worker)
        assert publishing.claim(worker, queued_post, AFTER_SOON)  # the worker is out with it
        done = rescreen_school(register, 1, [ada])
        register.commit()
        assert done.posts_held == [] and done.posts_taken_down == [queued_post]
        post = worker.get(Post, queued_post)
        assert publishing.finish(worker, post, "fb-9", AFTER_SOON) == "withdrawn"
        came_down(worker, queued_post, "fb-9")


def test_a_withdrawal_read_before_a_post_went_out_opens_its_takedown(app, queued_post):
    """A withdrawal read the post as queued (never handed out: no takedown needed); meanwhile a
    worker published it. Written from the stale read, the withdrawal opened no takedown and the
    post stayed up. Now it withdraws the post as it is: published, so it comes down."""
    from gatekeeper.extensions import db
    from gatekeeper.publishing.takedown import take_down

    with app.app_context(), Session(db.engine) as worker, Session(db.engine) as register:
        stale = register.get(Post, queued_post)
        assert stale.state == "queued" and stale.claimed_at is None
        assert publishing.claim(worker, queued_post, AFTER_SOON)
        post = worker.get(Post, queued_post)
        assert publishing.finish(worker, post, "fb-10", AFTER_SOON) == "published"
        assert take_down(register, stale, "consent withdrawn") is not None
        register.commit()
        came_down(worker, queued_post, "fb-10")
        assert take_down(register, register.get(Post, queued_post), "again") is None  # once


def test_a_failure_read_before_a_withdrawal_never_queues_the_post_again(app, queued_post):
    """The publisher failed; before the worker wrote "failed" (to be retried), a withdrawal
    committed. Written from the stale read, "failed" put the withdrawn post back in the queue."""
    from gatekeeper.extensions import db
    from gatekeeper.publishing.takedown import take_down

    with app.app_context(), Session(db.engine) as worker, Session(db.engine) as register:
        assert publishing.claim(worker, queued_post, AFTER_SOON)
        stale = worker.get(Post, queued_post)
        assert stale.state == "publishing"
        take_down(register, register.get(Post, queued_post), "consent withdrawn")
        register.commit()
        assert publishing.record_failure(worker, stale, "HTTP 503", AFTER_SOON) == "withdrawn"
        worker.expire_all()
        post = worker.get(Post, queued_post)
        assert post.state == "withdrawn" and post.next_attempt_at is None


def test_a_stale_claim_held_again_while_its_worker_was_out_comes_down(app, queued_post):
    """A claim went stale and the next look held the post (the register had changed); the first
    worker then came back from the publisher: the post is out, so it is taken down."""
    from gatekeeper.extensions import db

    with app.app_context(), Session(db.engine) as first, Session(db.engine) as second:
        assert publishing.claim(first, queued_post, AFTER_SOON)
        held = second.get(Post, queued_post)
        assert publishing.hold(second, held, publishing.HELD_CONSENT) == "held"
        post = first.get(Post, queued_post)
        assert publishing.finish(first, post, "fb-11", AFTER_SOON) == "withdrawn"
        came_down(first, queued_post, "fb-11")


def test_a_post_held_for_its_caption_while_out_comes_down_with_the_reason_in_words(
        app, queued_post):
    """A hold keeps a caption's refusal as a record for the reader's language; the takedown of a
    post found out meanwhile keeps plain English (exports and the audit trail read it as text)."""
    from gatekeeper.extensions import db
    from gatekeeper.publishing.captions import caption_refusal, check_caption

    refusal = caption_refusal(check_caption("Well done Ada Lovelace", [("Ada", "Lovelace")]))
    with app.app_context(), Session(db.engine) as first, Session(db.engine) as second:
        assert publishing.claim(first, queued_post, AFTER_SOON)
        assert publishing.hold(second, second.get(Post, queued_post), refusal) == "held"
        assert publishing.finish(first, first.get(Post, queued_post), "fb-12",
                                 AFTER_SOON) == "withdrawn"
        came_down(first, queued_post, "fb-12")
        [reason] = first.scalars(select(Takedown.reason).where(Takedown.post_id == queued_post))
        assert reason == "caption refused: contains a pupil's full name (Ada Lovelace)"


# --- 6. one school clock ------------------------------------------------------------------------

def test_the_school_date_is_the_london_date():
    from consent.clock import school_date

    assert school_date(dt.datetime(2027, 8, 31, 22, 30)) == dt.date(2027, 8, 31)  # 23:30 BST
    assert school_date(dt.datetime(2027, 8, 31, 23, 30)) == dt.date(2027, 9, 1)  # 00:30 BST
    assert school_date(dt.datetime(2027, 1, 31, 23, 30)) == dt.date(2027, 1, 31)  # GMT


@pytest.mark.parametrize("utc, outcome", [(SUMMER_END.replace(hour=22, minute=30), "published"),
                                           (SUMMER_END.replace(hour=23, minute=30), "held")])
def test_a_consent_expiring_on_31_august_holds_at_the_schools_midnight(
        app, login_as, school, utc, outcome):

    photo_id = photo_of_a_pupil_granted_until(app, school, LAST_DAY)
    media = login_as("media_lead")
    assert release(media, photo_id, SOCIAL, "Summer", post_at(SUMMER_END)).status_code == 302
    with app.app_context():
        assert set(publishing.publish_due(utc).values()) == {outcome}


def test_no_decision_reads_the_servers_date():
    """Every date a decision depends on comes from consent.clock (the school's zone)."""
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[2]
    offenders = [
        f"{path.relative_to(root)}:{n}"
        for folder in ("gatekeeper", "consent")
        for path in (root / folder).rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"utcnow\(\)\.date\(\)|date\.today\(\)|datetime\.now\(\)\.date\(\)", line)
    ]
    assert offenders == []


def test_a_rescreen_read_before_a_release_does_not_put_the_photo_back_for_review(app, school):
    """A rescreen read the photo waiting for review; a media lead released it meanwhile. Written
    from its stale read, the rescreen's verdict put the queued photo back on the review queue
    (and finishing its post could then not move it to published)."""
    from gatekeeper.extensions import db
    from gatekeeper.models import OfficialAccount, User
    from gatekeeper.review.service import settle_photo
    from gatekeeper.screening.service import RegisterNow

    with app.app_context():
        ada = add_pupil(db.session, school["id"], 1, "Ada", "Lovelace",
                        consents={"social_media": "granted"})
        photo_id = cleared_photo(db.session, school["id"], [ada.id])
        db.session.get(Photo, photo_id).status = "needs_review"  # as read before a decision
        db.session.commit()
    with app.app_context(), Session(db.engine) as rescreen, Session(db.engine) as lead:
        stale = rescreen.get(Photo, photo_id)  # the read the rescreen works from
        assert stale.status == "needs_review"
        lead.get(Photo, photo_id).status = "cleared"  # a person's decision cleared it
        lead.commit()
        releaser = lead.scalar(select(User).where(User.email == "media_lead@testschool.test"))
        publishing.release_post(lead, lead.get(Photo, photo_id),
                                lead.get(OfficialAccount, SOCIAL), "Sports", releaser)
        lead.commit()
        assert settle_photo(rescreen, RegisterNow(rescreen, school["id"]), stale) is False
        rescreen.commit()
        assert lead.scalar(select(Photo.status).where(Photo.id == photo_id)) == "queued"
