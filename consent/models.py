"""The register's tables: pupils, their guardians, consent records, the no-publish list, biometrics.

Consent records and no-publish entries are never edited in place: a correction is a new record,
so the history stands up to a complaint. Every row carries the school it belongs to.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """Naive UTC timestamp: the database stores UTC without a zone on SQLite and PostgreSQL
    alike."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class School(Base):
    __tablename__ = "school"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    urn: Mapped[str | None] = mapped_column(String(20), unique=True)
    # The local authority's DfE code (e.g. "823"): the first three digits of its pupils' UPNs.
    la_code: Mapped[str | None] = mapped_column(String(3))
    postcode: Mapped[str | None] = mapped_column(String(8))
    language: Mapped[str] = mapped_column(String(2), default="en", server_default="en")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Pupil(Base):
    __tablename__ = "pupil"
    __table_args__ = (UniqueConstraint("school_id", "upn"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    upn: Mapped[str] = mapped_column(String(13))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    date_of_birth: Mapped[dt.date | None] = mapped_column(Date)
    year_group: Mapped[str] = mapped_column(String(10), default="")
    left_on: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    consent_records: Mapped[list[ConsentRecord]] = relationship(
        back_populates="pupil", order_by="ConsentRecord.id"
    )
    nopublish_entries: Mapped[list[NoPublishEntry]] = relationship(
        back_populates="pupil", order_by="NoPublishEntry.id"
    )

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class Guardian(Base):
    __tablename__ = "guardian"
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupil.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    relationship_to_pupil: Mapped[str] = mapped_column(String(50), default="parent")
    email: Mapped[str | None] = mapped_column(String(254))
    # One person across their children: the MIS contact id ("sims:1234", "arbor:567") where the
    # export has one, else "email:<address>". Pupils whose guardians share it are siblings.
    contact_key: Mapped[str | None] = mapped_column(String(120), index=True)
    # Parental responsibility as the MIS records it (None: not said).
    parental_responsibility: Mapped[bool | None] = mapped_column(Boolean)
    # The parent link: a new nonce makes every earlier link of this guardian invalid.
    link_nonce: Mapped[str | None] = mapped_column(String(64))
    link_issued_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # The mail server refused this address for good (5xx): a letter instead, until it changes.
    email_failed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ConsentRecord(Base):
    """One decision by one guardian (or the pupil) about one purpose; never edited after writing."""

    __tablename__ = "consent_record"
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupil.id"), index=True)
    guardian_id: Mapped[int | None] = mapped_column(ForeignKey("guardian.id"))
    purpose: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))  # granted | refused | withdrawn
    given_by: Mapped[str] = mapped_column(String(200))  # guardian name, or the pupil's
    relationship_to_pupil: Mapped[str] = mapped_column(String(50), default="parent")  # or "pupil"
    form_date: Mapped[dt.date | None] = mapped_column(Date)
    effective_from: Mapped[dt.date] = mapped_column(Date)
    expires_on: Mapped[dt.date | None] = mapped_column(Date)
    evidence_ref: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(30), default="paper")  # paper|parent_link|import|cli
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    pupil: Mapped[Pupil] = relationship(back_populates="consent_records")


class NoPublishEntry(Base):
    """A child who must never be published, whatever the consent says. Removal closes, never
    deletes."""

    __tablename__ = "nopublish_entry"
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupil.id"), index=True)
    category: Mapped[str] = mapped_column(String(40))
    note: Mapped[str] = mapped_column(Text, default="")
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date | None] = mapped_column(Date)
    added_by: Mapped[str] = mapped_column(String(200))
    added_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    removed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    removed_by: Mapped[str | None] = mapped_column(String(200))
    removal_reason: Mapped[str | None] = mapped_column(Text)

    pupil: Mapped[Pupil] = relationship(back_populates="nopublish_entries")


class BiometricConsent(Base):
    """Written biometric consent (or an objection) under the Protection of Freedoms Act 2012."""

    __tablename__ = "biometric_consent"
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupil.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))  # granted | objected | withdrawn
    given_by: Mapped[str] = mapped_column(String(200))
    relationship_to_pupil: Mapped[str] = mapped_column(String(50), default="parent")
    form_date: Mapped[dt.date | None] = mapped_column(Date)
    evidence_ref: Mapped[str] = mapped_column(String(200), default="")
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ReferenceFace(Base):
    """An enrolled face template; encoding and photo are encrypted with a key kept outside the
    DB."""

    __tablename__ = "reference_face"
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupil.id"), index=True)
    encoding_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    # MobileFaceNet's embedding; None until re-embedded from the photo (enrolled before it)
    embedding_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    photo_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    face_height_px: Mapped[int] = mapped_column(Integer, default=0)
    # When the photo was taken (children change: older references weigh less; a pupil whose
    # newest reference is over a year old is listed for re-enrolment). None: before dates were kept.
    taken_on: Mapped[dt.date | None] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # Sealed: the pupil left through an import. Out of the screening gallery at once, deleted by
    # the retention task after the grace period, restored if the import is undone before then.
    sealed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, index=True)
    sealed_by_batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batch.id"))


class ImportBatch(Base):
    """One applied MIS import: who applied it, when, and what it changed, so it can be undone."""

    __tablename__ = "import_batch"
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    full: Mapped[bool] = mapped_column(Boolean, default=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    # Pupil ids and record ids per kind of change, and the values an update replaced (JSON).
    changes_json: Mapped[str] = mapped_column(Text, default="{}")
    undone_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    undone_by: Mapped[str | None] = mapped_column(String(200))


class PupilGroup(Base):
    """A class or a club the school defines, so that an event can name who takes part (beside
    the MIS year groups): only those pupils may be cleared on the event's photos."""

    __tablename__ = "pupil_group"
    __table_args__ = (UniqueConstraint("school_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(10), default="club")  # class | club
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    members: Mapped[list[PupilGroupMember]] = relationship(
        back_populates="group", cascade="all, delete-orphan")


class PupilGroupMember(Base):
    __tablename__ = "pupil_group_member"
    __table_args__ = (UniqueConstraint("group_id", "pupil_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("pupil_group.id"), index=True)
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupil.id"), index=True)

    group: Mapped[PupilGroup] = relationship(back_populates="members")
