"""The application's own tables: users and roles, events, photos and faces, accounts, posts,
audit."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from enum import StrEnum

from flask_login import UserMixin
from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship
from sqlalchemy.sql.expression import false

from consent.models import Base, Pupil, School, utcnow
from consent.wording import from_record
from gatekeeper.states import (
    FIELDS,
    POST_LIVE,
    LiftState,
    MediaKind,
    PhotoState,
    PostState,
    TakedownState,
    check_transition,
)

ROLES = ("staff", "admin", "dsl", "media_lead", "head")
# Roles held at a trust, over its schools (gatekeeper/people/trusts.py); never a school's role.
TRUST_ROLES = ("trust_admin", "dpo")
ERROR_CHARS = 300  # a photo's kept error: its refusal's template and values, or English
# The life cycles of photos, faces, posts and takedowns: gatekeeper/states.py.

# A post in any of the live states is on its way out or out: at most one per photo and account.
_LIVE_POST = text("state IN ({})".format(", ".join(f"'{s}'" for s in POST_LIVE)))


def new_uuid() -> str:
    return str(uuid.uuid4())


class User(UserMixin, Base):
    __tablename__ = "user_account"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    session_token: Mapped[str] = mapped_column(String(64), default=lambda: uuid.uuid4().hex)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Set when someone else chose the password: the user must choose their own at sign-in.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False,
                                                       server_default=false())
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", foreign_keys="Membership.user_id"
    )

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def get_id(self) -> str:
        # The session stores id + token: changing the token (password change, logout
        # everywhere) invalidates every session of the user.
        return f"{self.id}:{self.session_token}"

    def roles_at(self, school_id: int) -> set[str]:
        """The roles held at a school; none while deactivated there."""
        return {m.role for m in self.memberships
                if m.school_id == school_id and m.suspended_at is None}

    def school_ids(self) -> list[int]:
        """The schools where the user holds a role and is not deactivated."""
        return sorted({m.school_id for m in self.memberships if m.suspended_at is None})


class Membership(Base):
    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("user_id", "school_id", "role"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    authorised_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # Deactivated at this school (a leaver, a suspension): the role is kept but grants nothing.
    suspended_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    user: Mapped[User] = relationship(back_populates="memberships", foreign_keys=[user_id])
    school: Mapped[School] = relationship()


class Event(Base):
    __tablename__ = "event"
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    date: Mapped[dt.date] = mapped_column(Date)
    purpose: Mapped[str] = mapped_column(String(40))
    # The year groups taking part, comma-separated MIS codes ("R,1,2"); empty: the whole school.
    # Only their pupils may be cleared on the event's photos (screening/service.py).
    year_groups: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # The school's own groups taking part (classes, clubs): comma-separated PupilGroup ids.
    groups: Mapped[str] = mapped_column(String(500), default="", server_default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    @property
    def year_group_list(self) -> list[str]:
        """The event's year groups, or [] for the whole school."""
        return [y for y in (self.year_groups or "").split(",") if y]

    @property
    def group_id_list(self) -> list[int]:
        """The ids of the school's groups taking part."""
        return [int(g) for g in (self.groups or "").split(",") if g.isdigit()]


class Photo(Base):
    """An uploaded original, kept in quarantine storage under its UUID."""

    __tablename__ = "photo"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"), index=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    original_filename: Mapped[str] = mapped_column(String(255), default="")
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    sha256: Mapped[str] = mapped_column(String(64), default="")
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default=PhotoState.UPLOADED.value, index=True)
    no_faces: Mapped[bool] = mapped_column(Boolean, default=False)
    # "No faces found" needs a person: who opened the photo and confirmed nobody is in it, when.
    no_faces_checked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    no_faces_checked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    error: Mapped[str | None] = mapped_column(String(ERROR_CHARS))
    screen_attempts: Mapped[int] = mapped_column(Integer, default=0)
    screened_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    purged_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # A photo or a video clip (states.MediaKind); a clip's length, and whether the media lead
    # chose to post it without its sound.
    kind: Mapped[str] = mapped_column(String(10), default=MediaKind.PHOTO.value,
                                      server_default=MediaKind.PHOTO.value)
    duration_s: Mapped[float | None] = mapped_column(Float)
    muted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    @property
    def refusal(self) -> str | None:
        """Why the worker refused it, as a message a page says in the reader's language."""
        return from_record(self.error)

    @property
    def is_video(self) -> bool:
        return self.kind == MediaKind.VIDEO

    faces: Mapped[list[Face]] = relationship(
        back_populates="photo", order_by="Face.index", cascade="all, delete-orphan"
    )
    event: Mapped[Event | None] = relationship()
    uploaded_by: Mapped[User | None] = relationship(foreign_keys=[uploaded_by_id])


class Face(Base):
    """One detected face of a photo with exactly one status: cleared, blocked or unknown."""

    __tablename__ = "face"
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photo.id"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    top: Mapped[int] = mapped_column(Integer)
    right: Mapped[int] = mapped_column(Integer)
    bottom: Mapped[int] = mapped_column(Integer)
    left: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(20))  # a FaceStatus
    pupil_id: Mapped[int | None] = mapped_column(ForeignKey("pupil.id"), index=True)
    distance: Mapped[float | None] = mapped_column(Float)
    # A photo's face: one 128-d encoding. A clip's track: the encodings of its best looks, one
    # after another (k x 128), read with screening.service.stored_looks.
    encoding_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    # A clip's track: {"boxes": [[t, top, right, bottom, left], ...], "looks": [t, ...]} with
    # times in seconds; the box above is the best look's (the face card's thumbnail).
    track_json: Mapped[str | None] = mapped_column(Text)
    # MobileFaceNet's embedding (None: screened before it existed, not encodable, or a clip's
    # track, whose looks are matched by dlib)
    embedding_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    # A person's decision on an unknown face: pupil | not_pupil | blur
    resolution: Mapped[str | None] = mapped_column(String(20))
    resolved_pupil_id: Mapped[int | None] = mapped_column(ForeignKey("pupil.id"))
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    blur: Mapped[bool] = mapped_column(Boolean, default=False)

    photo: Mapped[Photo] = relationship(back_populates="faces", foreign_keys=[photo_id])
    pupil: Mapped[Pupil | None] = relationship(foreign_keys=[pupil_id])
    lifts: Mapped[list[BlockLift]] = relationship(
        back_populates="face", order_by="BlockLift.id", cascade="all, delete-orphan"
    )

    @property
    def lifted_pupil_ids(self) -> set[int]:
        """The protected pupils the DSL said this face is not: the rule decides without them."""
        return {lift.pupil_id for lift in self.lifts if lift.state == LiftState.LIFTED}

    @property
    def box(self) -> list[int]:
        return [self.top, self.right, self.bottom, self.left]

    @property
    def track(self) -> dict:
        """A clip's track ({} for a photo's face)."""
        return json.loads(self.track_json or "{}")

    @property
    def seen_from(self) -> float | None:
        boxes = self.track.get("boxes")
        return boxes[0][0] if boxes else None

    @property
    def seen_until(self) -> float | None:
        boxes = self.track.get("boxes")
        return boxes[-1][0] if boxes else None


class BlockLift(Base):
    """The DSL's answer to "is this blocked face really this protected pupil?": a media lead asks,
    the DSL, who alone knows the protected children, compares the face with the pupil's reference
    photos and lifts the block for that one pupil on that one face, or keeps it."""

    __tablename__ = "block_lift"
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    face_id: Mapped[int] = mapped_column(ForeignKey("face.id"), index=True)
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupil.id"), index=True)
    state: Mapped[str] = mapped_column(String(20), default=LiftState.REQUESTED.value, index=True)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    requested_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    face: Mapped[Face] = relationship(back_populates="lifts")
    pupil: Mapped[Pupil] = relationship()
    requested_by: Mapped[User | None] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])


class OfficialAccount(Base):
    __tablename__ = "official_account"
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    platform: Mapped[str] = mapped_column(String(40))
    handle: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(40))
    adapter: Mapped[str] = mapped_column(String(20), default="outbox")  # outbox|webhook|wordpress
    settings_json: Mapped[str] = mapped_column(Text, default="{}")
    max_side: Mapped[int] = mapped_column(Integer, default=2048)
    quality: Mapped[int] = mapped_column(Integer, default=88)
    aim: Mapped[str] = mapped_column(Text, default="")
    audience: Mapped[str] = mapped_column(Text, default="")
    promotion: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[str] = mapped_column(String(20), default="open")
    admin_names_json: Mapped[str] = mapped_column(Text, default="[]")
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    approved_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    @property
    def settings(self) -> dict:
        return json.loads(self.settings_json or "{}")

    @property
    def admin_names(self) -> list[str]:
        return json.loads(self.admin_names_json or "[]")

    @property
    def label(self) -> str:
        return f"{self.platform} {self.handle}"


class Post(Base):
    """A released image on its way to an official account."""

    __tablename__ = "post"
    __table_args__ = (
        # One release per decision: two releases of one photo at once cannot both stand.
        Index("uq_post_live_photo_account", "photo_id", "account_id", unique=True,
              sqlite_where=_LIVE_POST, postgresql_where=_LIVE_POST),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photo.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("official_account.id"), index=True)
    caption: Mapped[str] = mapped_column(Text, default="")
    pupil_ids_json: Mapped[str] = mapped_column(Text, default="[]")
    scheduled_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(20), default=PostState.QUEUED.value, index=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True, default=new_uuid)
    released_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    released_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    external_id: Mapped[str | None] = mapped_column(String(300))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    withdrawn_reason: Mapped[str | None] = mapped_column(Text)
    # Exactly once: when a worker claimed the post, and when a failed post may be tried again.
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Set on every change: a post left in "publishing" by a killed worker is found by its age.
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, default=utcnow,
                                                           onupdate=utcnow)

    photo: Mapped[Photo] = relationship()
    account: Mapped[OfficialAccount] = relationship()
    released_by: Mapped[User | None] = relationship()

    @property
    def pupil_ids(self) -> list[int]:
        return json.loads(self.pupil_ids_json or "[]")


class AccountReleaser(Base):
    """A media lead the head authorised to release to one official account."""

    __tablename__ = "account_releaser"
    __table_args__ = (UniqueConstraint("account_id", "user_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("official_account.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    authorised_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    authorised_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id])


class Takedown(Base):
    """Removing one post from its destination: by the adapter, or by a person who confirms it."""

    __tablename__ = "takedown"
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id"), index=True)
    state: Mapped[str] = mapped_column(String(20), default=TakedownState.PENDING.value, index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[str] = mapped_column(String(200), default="system")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # The guardian whose "no" opened it, owed a notice once every such takedown of theirs is
    # done; notified_at: when they were told (or found to have no address to be told at).
    notify_guardian_id: Mapped[int | None] = mapped_column(ForeignKey("guardian.id"), index=True)
    notified_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    post: Mapped[Post] = relationship()


class AuditEvent(Base):
    """Who did what, when. Each row carries the hash of the one before it (tamper evidence)."""

    __tablename__ = "audit_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int | None] = mapped_column(ForeignKey("school.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    actor: Mapped[str] = mapped_column(String(200), default="system")
    action: Mapped[str] = mapped_column(String(60), index=True)
    subject_type: Mapped[str] = mapped_column(String(40), default="")
    subject_id: Mapped[str] = mapped_column(String(64), default="")
    detail_json: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    prev_hash: Mapped[str] = mapped_column(String(64), default="")
    hash: Mapped[str] = mapped_column(String(64), default="")

    @property
    def detail(self) -> dict:
        return json.loads(self.detail_json or "{}")


class LoginFailure(Base):
    """A sign-in attempt from an address, recorded before the password is checked (or a request
    for a reset link): the throttles count these rows (insert, then count), so parallel attempts
    cannot slip past a limit."""

    __tablename__ = "login_failure"
    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    # A keyed hash of the typed email (never the text): known and unknown accounts alike.
    account_key: Mapped[str | None] = mapped_column(String(64), index=True)
    # pending (being checked) | failed | refused (throttled) | ok | cleared (a success followed)
    # | reset (a request for a reset link, counted apart)
    outcome: Mapped[str] = mapped_column(String(10), default="failed", server_default="failed")


def hold_row(session: Session, column, row_id: int) -> None:
    """Hold one row until this transaction ends, by writing `column` (any plain column of the
    row's table, never its key) with its own value: a second request that does the same waits,
    then reads what the first committed (SQLite takes its write lock, PostgreSQL the row's)."""
    model = column.class_
    session.execute(update(model).where(model.id == row_id).values({column.key: column})
                    .execution_options(synchronize_session=False))


def move_from_read(session: Session, row, new: StrEnum, **values) -> bool:
    """Move a row (a photo's status, a post's state) from the state this session read to `new`
    (a move its machine allows), with `values`, in one conditional UPDATE. False, with the row
    read again, when someone moved it first (a worker's claim, a release, a withdrawal): a stale
    read never overwrites a newer state."""
    field = FIELDS[type(new)]
    model, was = type(row), getattr(row, field)
    check_transition(was, new)
    done = session.execute(
        update(model).where(model.id == row.id, getattr(model, field) == was)
        .values({field: new, **values}).execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(row)
    return done == 1
