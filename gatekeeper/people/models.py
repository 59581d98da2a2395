"""People's own tables: invitations and password resets (each opened by a one-time link whose
secret is kept only as a hash), second factors, trusts and their roles, role grants awaiting a
second person."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.expression import false, true

from consent.models import Base, School, utcnow
from gatekeeper.models import User


class Invitation(Base):
    """An offer of one role at one school to one email address; the account exists once accepted."""

    __tablename__ = "invitation"
    id: Mapped[int] = mapped_column(primary_key=True)
    # A school's role, or (school_id empty) a trust's role at trust_id.
    school_id: Mapped[int | None] = mapped_column(ForeignKey("school.id"), index=True)
    trust_id: Mapped[int | None] = mapped_column(ForeignKey("trust.id"), index=True)
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

    school: Mapped[School | None] = relationship()
    trust: Mapped[Trust | None] = relationship()
    inviter: Mapped[User | None] = relationship(foreign_keys=[invited_by_id])

    @property
    def open(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None

    @property
    def place_name(self) -> str:
        """The school's name, or the trust's for a trust role."""
        return self.school.name if self.school is not None else self.trust.name


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


class SecondFactor(Base):
    """A user's authenticator (TOTP): the secret sealed with the instance key, and the last time
    step accepted, so a code works once. Not enrolled until a first code confirmed it."""

    __tablename__ = "second_factor"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), unique=True)
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    enrolled_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_step: Mapped[int | None] = mapped_column(Integer)


class RecoveryCode(Base):
    """One single-use code for signing in without the authenticator; only its hash is kept."""

    __tablename__ = "recovery_code"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class CodeAttempt(Base):
    """A second-factor code typed at sign-in, recorded before it is checked (insert, then count)."""

    __tablename__ = "code_attempt"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    outcome: Mapped[str] = mapped_column(String(10), default="pending")  # pending|failed|ok


class Trust(Base):
    """A multi-academy trust (or federation): it holds schools, and its own people's roles."""

    __tablename__ = "trust"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # The trust's pages and emails speak it (en or cy), as a school's language does for its own.
    language: Mapped[str] = mapped_column(String(2), default="en", server_default="en")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class TrustSchool(Base):
    """A school in a trust (a school is in one trust at most)."""

    __tablename__ = "trust_school"
    id: Mapped[int] = mapped_column(primary_key=True)
    trust_id: Mapped[int] = mapped_column(ForeignKey("trust.id"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), unique=True)
    added_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    school: Mapped[School] = relationship()


class TrustMembership(Base):
    """A trust role: trust_admin (schools and their heads, counts only) or dpo (audit, requests)."""

    __tablename__ = "trust_membership"
    __table_args__ = (UniqueConstraint("user_id", "trust_id", "role"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    trust_id: Mapped[int] = mapped_column(ForeignKey("trust.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    authorised_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    suspended_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    trust: Mapped[Trust] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])


class RoleProposal(Base):
    """A grant of dsl or head that waits for a second person: proposed by one, confirmed (or
    refused) by another head, the trust admin or the existing DSL; never by the person it names."""

    __tablename__ = "role_proposal"
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    proposed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    proposed_by: Mapped[User | None] = relationship(foreign_keys=[proposed_by_id])

    @property
    def pending(self) -> bool:
        return self.decided_at is None


class SchoolSignIn(Base):
    """A school's OpenID Connect sign-in (Microsoft 365, Google Workspace or another provider):
    its discovery address and client; the client secret sealed with the instance key."""

    __tablename__ = "school_sign_in"
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), unique=True)
    label: Mapped[str] = mapped_column(String(60))  # "Microsoft 365", "Google Workspace"
    discovery_url: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(200))
    client_secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
