"""The posting queue (media lead, head), official accounts (head) and deleting one's own upload."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from consent.clock import utc_to_london
from gatekeeper.extensions import db
from gatekeeper.models import OfficialAccount, Photo, Post, Takedown
from gatekeeper.publishing import accounts as account_service
from gatekeeper.publishing import service, takedown
from gatekeeper.publishing.adapters import ADAPTERS
from gatekeeper.review.service import blur_boxes
from gatekeeper.states import POST_UPCOMING, TakedownState
from gatekeeper.web.commits import commit_or_flash
from gatekeeper.web.guard import guard_blueprint
from gatekeeper.web.previews import posted_image_response
from gatekeeper.web.rows import school_row
from gatekeeper.web.security import queue_errors
from gatekeeper.worker.tasks import publish_post_task

bp = guard_blueprint(Blueprint("publishing", __name__, url_prefix="/queue"), "media_lead", "head")
accounts_bp = guard_blueprint(Blueprint("accounts", __name__, url_prefix="/accounts"), "head")
own_uploads_bp = guard_blueprint(Blueprint("own_uploads", __name__, url_prefix="/my-uploads"),
                                 "staff", "media_lead", "head")

RECENT_POSTS = 100


def london(value) -> str:
    """A stored time as the school reads it, its day's name in the reader's language."""
    if not value:
        return ""
    local = utc_to_london(value)
    return f"{format_date(local.date(), 'EEE')} {local:%d/%m/%Y %H:%M}"


@bp.route("/")
def index():
    posts = db.session.scalars(
        select(Post).where(Post.school_id == g.school_id)
        .order_by(Post.scheduled_at.desc()).limit(RECENT_POSTS)
    ).all()
    takedowns = db.session.scalars(
        select(Takedown).where(Takedown.school_id == g.school_id).order_by(Takedown.id.desc())
    ).all()
    upcoming = sorted((p for p in posts if p.state in POST_UPCOMING),
                      key=lambda p: p.scheduled_at)
    attention = db.session.scalars(  # all of them, however many posts came since
        select(Post).where(Post.school_id == g.school_id, service.waits_for_a_person())
        .order_by(Post.scheduled_at)
    ).all()
    return render_template(
        "publishing/index.html", posts=posts, upcoming=upcoming, attention=attention,
        manual=[t for t in takedowns if t.state == TakedownState.MANUAL], takedowns=takedowns,
        london=london, title=_("Posting queue"),
    )


@bp.route("/<int:post_id>/image")
def post_image(post_id: int):
    """A small copy of what was sent for the post (blurs applied), to tell posts apart."""
    post = school_row(Post, post_id)
    return posted_image_response(post, blur_boxes(post.photo))


@bp.route("/<int:post_id>/takedown", methods=["POST"])
def take_down(post_id: int):
    post = school_row(Post, post_id)
    with commit_or_flash(None, errors=(takedown.TakedownError,)) as withdrawn:
        takedown.take_down_by_hand(db.session, post, request.form.get("reason", ""), current_user)
    if not withdrawn:
        return redirect(url_for("publishing.index"))
    # The commit queued its deletion (worker/tasks.py queue_takedowns).
    flash(_("The post is withdrawn; its takedown is under way."), "success")
    return redirect(url_for("publishing.index"))


@bp.route("/<int:post_id>/back-to-review", methods=["POST"])
def back_to_review(post_id: int):
    """A post no publisher has seen goes back: its photo waits on the review queue again."""
    post = school_row(Post, post_id)
    with commit_or_flash(_("Photo %(n)d is back on the review queue, its faces as they were "
                           "decided: release it again when it is ready.", n=post.photo_id),
                         errors=(service.ReleaseError,)):
        service.back_to_review(db.session, post, current_user)
    return redirect(url_for("publishing.index"))


@bp.route("/takedowns/<int:takedown_id>/confirm", methods=["POST"])
def confirm(takedown_id: int):
    row = school_row(Takedown, takedown_id)
    with commit_or_flash(_("Takedown confirmed."), errors=(takedown.TakedownError,)):
        takedown.confirm_takedown(db.session, row, current_user)
    return redirect(url_for("publishing.index"))


@bp.route("/<int:post_id>/retry", methods=["POST"])
def retry(post_id: int):
    post = school_row(Post, post_id)
    with commit_or_flash(None, errors=(service.ReleaseError,)) as retried:
        service.retry_now(db.session, post, current_user)
    if not retried:
        return redirect(url_for("publishing.index"))
    try:
        publish_post_task(post.id)
    except queue_errors():  # saved: the minute's sweep hands it to a worker once the queue is back
        flash(service.post_waits_for_queue(), "warning")
    else:
        flash(_("Post %(n)d is being tried again now: its line under All posts says how it went.",
                n=post.id), "info")
    return redirect(url_for("publishing.index"))


def account_page(account: OfficialAccount | None, status: int = 200):
    leads = account_service.media_leads(db.session, g.school_id)
    chosen = account_service.releaser_ids(db.session, account) if account else set()
    accounts = db.session.scalars(
        select(OfficialAccount).where(OfficialAccount.school_id == g.school_id)
        .order_by(OfficialAccount.id)
    ).all()
    return render_template(
        "publishing/accounts.html", account=account, accounts=accounts, adapters=ADAPTERS,
        visibilities=account_service.VISIBILITIES, leads=leads, chosen=chosen,
        gaps=account_service.approval_gaps(account) if account else [],
        form=request.form if request.method == "POST" else None,
        title=_("Official accounts"),
    ), status


@accounts_bp.route("/")
def accounts_index():
    return account_page(None)


@accounts_bp.route("/<int:account_id>")
def account(account_id: int):
    return account_page(school_row(OfficialAccount, account_id))


@accounts_bp.route("/new", methods=["POST"])
@accounts_bp.route("/<int:account_id>", methods=["POST"])
def save(account_id: int | None = None):
    existing = school_row(OfficialAccount, account_id) if account_id is not None else None
    with commit_or_flash(_("Saved. The account needs your approval before anything is posted."),
                         errors=(account_service.AccountError,), category="info") as done:
        saved = account_service.save_account(db.session, g.school_id, request.form, current_user,
                                             existing)
    if not done:
        return account_page(existing, 400)
    return redirect(url_for("accounts.account", account_id=saved.id))


@accounts_bp.route("/<int:account_id>/approve", methods=["POST"])
def approve(account_id: int):
    account = school_row(OfficialAccount, account_id)
    with commit_or_flash(_("Approved."), errors=(account_service.AccountError,)):
        account_service.approve_account(db.session, account, current_user)
    return redirect(url_for("accounts.account", account_id=account.id))


@accounts_bp.route("/<int:account_id>/pause", methods=["POST"])
def pause(account_id: int):
    account = school_row(OfficialAccount, account_id)
    account_service.set_paused(db.session, account, request.form.get("paused") == "yes",
                               current_user)
    db.session.commit()
    return redirect(url_for("accounts.account", account_id=account.id))


@accounts_bp.route("/<int:account_id>/releasers", methods=["POST"])
def releasers(account_id: int):
    account = school_row(OfficialAccount, account_id)
    account_service.authorise_releasers(db.session, account,
                                        request.form.getlist("user_id", type=int), current_user)
    db.session.commit()
    flash(_("Who may release to this account is saved."), "success")
    return redirect(url_for("accounts.account", account_id=account.id))


@own_uploads_bp.route("/<int:photo_id>/delete", methods=["POST"])
def delete_upload(photo_id: int):
    photo = school_row(Photo, photo_id)
    if photo.uploaded_by_id != current_user.id:
        abort(404)
    uuid = photo.uuid
    with commit_or_flash(_("Photo deleted."), errors=(takedown.TakedownError,)) as deleted:
        takedown.delete_own_upload(db.session, photo, current_user)
    if deleted:
        takedown.delete_files(uuid)
    return redirect(url_for("uploads.index"))
