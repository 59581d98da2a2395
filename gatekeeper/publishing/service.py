"""Release, publish and take down: the queue between a cleared photo and an official account."""

from __future__ import annotations

import datetime as dt
import json

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent import rules
from consent.models import Pupil, utcnow
from consent.services import school_facts
from gatekeeper import audit
from gatekeeper.extensions import db
from gatekeeper.models import OfficialAccount, Photo, Post, User
from gatekeeper.publishing.adapters import Release, publisher_for
from gatekeeper.publishing.captions import check_caption
from gatekeeper.review.service import blur_boxes, pupils_shown, release_blockers
from gatekeeper.storage import app_storage


class ReleaseError(ValueError):
    """The release was refused; the message is fit to show the media lead."""


def register_names(session: Session, school_id: int) -> list[tuple[str, str]]:
    rows = session.execute(
        select(Pupil.first_name, Pupil.last_name).where(Pupil.school_id == school_id)
    )
    return [(first, last) for first, last in rows]


def not_publishable(session: Session, school_id: int, pupil_ids, purpose: str, on: dt.date) -> list[int]:
    """The pupils among `pupil_ids` who may not be published for `purpose` today."""
    facts = {f.pupil_id: f for f in school_facts(session, school_id)}
    return [pid for pid in pupil_ids if pid not in facts or not rules.decide(facts[pid], purpose, on).ok]


def release_post(
    session: Session,
    photo: Photo,
    account: OfficialAccount,
    caption: str,
    user: User,
    scheduled_at: dt.datetime | None = None,
) -> Post:
    """Queue a reviewed photo for an official account; refuses with a reason, writing nothing."""
    if account.school_id != photo.school_id:
        raise ReleaseError(_("Choose an official account of this school."))
    if account.approved_at is None or account.paused:
        raise ReleaseError(_("This account is not approved for posting, or is paused."))
    blockers = release_blockers(photo)
    if blockers:
        raise ReleaseError(" ".join(blockers))
    check = check_caption(caption, register_names(session, photo.school_id))
    if not check.ok:
        raise ReleaseError(_("Caption refused: %(why)s.", why="; ".join(check.errors)))
    shown = pupils_shown(photo)
    held = not_publishable(session, photo.school_id, shown, account.purpose, utcnow().date())
    if held:
        raise ReleaseError(_("A pupil in this photo may not be published for %(purpose)s.",
                             purpose=account.purpose))
    post = Post(
        school_id=photo.school_id,
        photo_id=photo.id,
        account_id=account.id,
        caption=caption.strip(),
        pupil_ids_json=json.dumps(shown),
        scheduled_at=scheduled_at or utcnow(),
        state="queued",
        released_by_id=user.id,
    )
    session.add(post)
    photo.status = "queued"
    session.flush()
    audit.record(session, "photo_released", school_id=photo.school_id, actor=user, subject=post,
                 detail={"photo_id": photo.id, "account": account.label, "pupils": shown,
                         "warnings": list(check.warnings)})
    return post


def due_post_ids() -> list[int]:
    return list(
        db.session.scalars(
            select(Post.id).where(Post.state == "queued", Post.scheduled_at <= utcnow())
        )
    )


def publish_post(post_id: int) -> str | None:
    """The publishing task: re-check consent now, sanitise, hand to the publisher. Safe to re-run."""
    from gatekeeper.sanitise import sanitise

    session = db.session
    post = session.get(Post, post_id)
    if post is None or post.state not in ("queued", "publishing", "failed"):
        return None
    if post.scheduled_at > utcnow():
        return "not_due"
    account, photo = post.account, post.photo
    held = not_publishable(session, post.school_id, post.pupil_ids, account.purpose, utcnow().date())
    if held:
        post.state, post.last_error = "held", "a pupil in the photo is no longer publishable"
        audit.record(session, "post_held", school_id=post.school_id, subject=post,
                     detail={"pupils": held})
        session.commit()
        return post.state
    post.state, post.attempts = "publishing", post.attempts + 1
    session.commit()
    image = sanitise(
        app_storage().read("originals", photo.uuid),
        max_side=account.max_side,
        quality=account.quality,
        blur_boxes=blur_boxes(photo),
    )
    release = Release(
        post_uuid=post.uuid,
        idempotency_key=post.idempotency_key,
        image=image,
        caption=post.caption,
        account=account.handle,
        platform=account.platform,
        purpose=account.purpose,
        pupils_cleared=[p.upn for p in session.scalars(select(Pupil).where(Pupil.id.in_(post.pupil_ids)))],
        released_by=post.released_by.email if post.released_by else "",
        released_at=post.released_at.isoformat() + "Z",
        scheduled_at=post.scheduled_at.isoformat() + "Z",
    )
    try:
        post.external_id = publisher_for(account, current_app.config["OUTBOX_DIR"]).publish(release)
    except Exception as error:
        session.rollback()
        post.state, post.last_error = "failed", str(error)[:500]
        audit.record(session, "post_failed", school_id=post.school_id, subject=post,
                     detail={"error": post.last_error})
        session.commit()
        raise
    post.state, post.published_at = "published", utcnow()
    photo.status = "published"
    audit.record(session, "post_published", school_id=post.school_id, subject=post,
                 detail={"account": account.label, "external_id": post.external_id})
    session.commit()
    return post.state
