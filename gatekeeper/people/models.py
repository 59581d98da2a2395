"""Invitations and password resets: each opened by a one-time link whose secret is kept only as a hash."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consent.models import Base, School, utcnow
from gatekeeper.models import User


class Invitation(Base):
    """An offer of one role at one school to one email address; the account exists once accepted."""

    __tablename__ = "invitation"
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    role: Mapped[str] = mapped_column(String(20))
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    invited_by: Mapped[str] = mapped_column(String(200))  # a user's email, or "command line"
    token_hash: Mapped[str] = mapped_column(String(64))  # sha256 of the link's secret
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    school: Mapped[School] = relationship()
    inviter: Mapped[User | None] = relationship(foreign_keys=[invited_by_id])

    @property
    def open(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None


class PasswordReset(Base):
    """A request to choose a new password, opened by a one-time link sent to the user's email."""

    __tablename__ = "password_reset"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    user: Mapped[User] = relationship()
