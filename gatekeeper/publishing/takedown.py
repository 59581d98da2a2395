"""Takedown: when a pupil may no longer be published, pull what is queued and remove what is out."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.models import Pupil, utcnow
from gatekeeper import audit
from gatekeeper.models import Post
from gatekeeper.publishing.adapters import publisher_for

LIVE_STATES = ("queued", "publishing", "failed", "held", "published")


def pull_posts_showing(session: Session, pupil_id: int, reason: str, purpose: str | None = None) -> list[Post]:
    """Withdraw every live post showing the pupil (for one purpose's accounts, or all)."""
    school_id = session.get(Pupil, pupil_id).school_id
    live = select(Post).where(Post.school_id == school_id, Post.state.in_(LIVE_STATES))
    posts = [
        p for p in session.scalars(live)
        if pupil_id in p.pupil_ids and (purpose is None or p.account.purpose == purpose)
    ]
    for post in posts:
        take_down(session, post, reason)
    return posts


def take_down(session: Session, post: Post, reason: str, actor=None) -> None:
    was = post.state
    if was == "published" and post.external_id:
        publisher_for(post.account, current_app.config["OUTBOX_DIR"]).delete(post.external_id)
    post.state, post.withdrawn_at, post.withdrawn_reason = "withdrawn", utcnow(), reason
    post.photo.status = "withdrawn"
    audit.record(session, "post_withdrawn", school_id=post.school_id, actor=actor, subject=post,
                 detail={"was": was, "reason": reason})
