"""From a parent's "no" to the post being gone: the time the takedown takes, end to end.

A published post of each pupil sits at a signed webhook receiver on 127.0.0.1 (tests/support). A
parent answers "no" for social media through their link (the real route); the commit queues the
takedown; a real worker process (`gatekeeper worker`, two processes as `make run` starts) takes
it from the queue (Huey on SQLite storage, or Redis with REDIS_URL) and the receiver records the
signed delete. The time is measured from the parent's request to the delete's arrival, each
"no" coming after the queue has been idle long enough for the worker to poll at its slowest.
Run: `make bench-takedown`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.support

TRIALS = 10
WARM_UP = 1  # the first takedown also starts the worker's own app: reported, not counted
DELETE_TIMEOUT_S = 120
WORKER_PROCESSES = "2"
IDLE_BEFORE_S = 15  # the queue is idle before each "no", as on a school day (the worker backs off)
SECRET = "bench-webhook-secret"


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        os.environ["GATEKEEPER_INSTANCE"] = str(Path(folder) / "instance")
        os.environ.setdefault("GATEKEEPER_QUEUE_NAME", "gk-bench-takedown")
        from tests.support.publishing import WebhookReceiver

        with WebhookReceiver(SECRET) as receiver:
            app, links = school_with_posts(receiver)
            worker = start_worker()
            try:
                times = [takedown_time(app, link, key, receiver, worker) for link, key in links]
            finally:
                stop(worker)
    report(times)


def school_with_posts(receiver):
    """The app, and per pupil: a parent's link and the idempotency key of a published post."""
    from gatekeeper.app import create_app
    from gatekeeper.extensions import db
    from gatekeeper.ops.setup import migrate_database
    from tests.support.fixtures import Browser, make_school
    from tests.support.publishing import add_account

    app = create_app()
    assert not app.config["HUEY_IMMEDIATE"], "the bench measures a real worker"
    with app.app_context():
        migrate_database()
        school_id = make_school(db.session).id
    head = Browser(app.test_client())
    head.login("head@testschool.test")
    account = add_account(head, [media_lead_id(app)], adapter="webhook", url=receiver.url,
                          secret=SECRET, can_delete="yes")
    with app.app_context():
        links = [published_post(app, receiver, school_id, account, n)
                 for n in range(1, TRIALS + WARM_UP + 1)]
    return app, links


def media_lead_id(app) -> int:
    from sqlalchemy import select

    from gatekeeper.extensions import db
    from gatekeeper.models import User

    with app.app_context():
        return db.session.scalar(select(User.id).where(User.email == "media_lead@testschool.test"))


def published_post(app, receiver, school_id: int, account_id: int, n: int) -> tuple[str, str]:
    """A pupil with a parent's consent, a post of them out at the receiver, and the parent's
    link."""
    from consent import services
    from consent.models import utcnow
    from gatekeeper.extensions import db
    from gatekeeper.models import Photo, Post
    from gatekeeper.ops.setup import demo_upn
    from gatekeeper.parents.links import make_token
    from gatekeeper.register import actions
    from tests.support.fixtures import add_pupil

    pupil = add_pupil(db.session, school_id, n, f"Pupil{n}", "Bench")
    parent = services.add_guardian(db.session, pupil, f"Parent {n}", "parent", "")
    services.record_consent(db.session, pupil, "social_media", "granted", given_by=parent.name,
                            guardian_id=parent.id, recorded_by="bench")
    photo = Photo(school_id=school_id, purpose="social_media", status="published",
                  original_filename=f"bench-{n}.jpg")
    db.session.add(photo)
    db.session.flush()
    post = Post(school_id=school_id, photo_id=photo.id, account_id=account_id, state="published",
                pupil_ids_json=json.dumps([pupil.id]), claimed_at=utcnow(),
                published_at=utcnow(), external_id=f"wh-bench-{n}")
    db.session.add(post)
    actions.issue_parent_link(db.session, parent, actor="bench")
    db.session.commit()
    receiver.posts[post.idempotency_key] = post.external_id
    assert pupil.upn == demo_upn(n)
    return "/parent/" + make_token(parent), post.idempotency_key


def start_worker() -> subprocess.Popen:
    gatekeeper = str(Path(sys.executable).with_name("gatekeeper"))
    return subprocess.Popen([gatekeeper, "worker", "--workers", WORKER_PROCESSES],
                            env=os.environ.copy(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def stop(worker: subprocess.Popen) -> None:
    worker.send_signal(signal.SIGINT)
    try:
        worker.wait(30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def takedown_time(app, link: str, key: str, receiver, worker) -> float:
    """Seconds from the parent's "no" being sent to the receiver getting the signed delete."""
    client = app.test_client()
    page = client.get(link).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    time.sleep(IDLE_BEFORE_S)
    started = time.perf_counter()
    answered = client.post(link, data={"csrf_token": token, "social_media": "no"})
    assert answered.status_code == 302, answered.status_code
    while key not in receiver.deleted:
        if worker.poll() is not None:
            sys.exit("the worker stopped")
        if time.perf_counter() - started > DELETE_TIMEOUT_S:
            sys.exit(f"no delete within {DELETE_TIMEOUT_S} s")
        time.sleep(0.005)
    return time.perf_counter() - started


def report(times: list[float]) -> None:
    warm, counted = times[:WARM_UP], times[WARM_UP:]
    print(f"parent's no → post deleted at the webhook, {len(counted)} takedowns with "
          f"{WORKER_PROCESSES} worker processes, queue on "
          f"{'Redis' if os.environ.get('REDIS_URL') else 'SQLite'} idle {IDLE_BEFORE_S} s before "
          f"each: median {statistics.median(counted):.2f} s, slowest {max(counted):.2f} s, "
          f"fastest {min(counted):.2f} s (first, starting the worker's app: {warm[0]:.2f} s)")


if __name__ == "__main__":
    main()
