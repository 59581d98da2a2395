"""A school with one real row of every kind a route or a form names by id, each carrying a marker
word, for the attack walks (tests/integration/test_attack_walk.py): ids keyed by the name routes
and forms give them, so a walk can put one school's ids into another school's requests."""

from __future__ import annotations

import datetime as dt
import io
import json

import numpy as np
from PIL import Image
from sqlalchemy import select

from consent import services
from consent.models import (
    Guardian,
    ImportBatch,
    NoPublishEntry,
    PupilGroup,
    PupilGroupMember,
    ReferenceFace,
    School,
)
from gatekeeper.models import (
    AccountReleaser,
    BlockLift,
    Event,
    Face,
    Membership,
    OfficialAccount,
    Photo,
    Post,
    Takedown,
    User,
)
from tests.support.fixtures import add_pupil, make_school

# Written into the EXIF of every stored original: a response that carries it served the original.
ORIGINAL_MARKER = "ORIGINAL-NOT-SANITISED"


def original_jpeg(colour=(180, 90, 40), size=(320, 240)) -> bytes:
    """A JPEG as a camera leaves it: GPS, an owner and a comment (ORIGINAL_MARKER in each)."""
    image = Image.new("RGB", size, colour)
    exif = Image.Exif()
    exif[0x013B] = ORIGINAL_MARKER  # Artist
    exif[0x8298] = ORIGINAL_MARKER  # Copyright
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (51.0, 30.0, 0.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, comment=ORIGINAL_MARKER.encode())
    return out.getvalue()


def sealed_vector(cipher, seed: int) -> bytes:
    vector = np.random.default_rng(seed).normal(size=128)
    return cipher.encrypt((vector / np.linalg.norm(vector) * 0.6).astype(np.float64).tobytes())


def build_world(session, tag: str, name: str | None = None) -> dict:
    """A school (make_school's people and account) holding one row of every kind below, each named
    with `tag` (say "Bsecret"); inside an app context. Returns the ids by the names routes and
    forms use, and `markers`: text of this school that no other school's user may read."""
    from gatekeeper.compliance.crypto import app_cipher
    from gatekeeper.people import grants, invitations
    from gatekeeper.storage import app_storage

    school = make_school(session, name or f"{tag} School")
    users = {m.role: m.user for m in session.scalars(
        select(Membership).where(Membership.school_id == school.id))}
    cipher, storage = app_cipher(), app_storage()
    pupil = add_pupil(session, school.id, 1, f"{tag}Pupil", f"{tag}Surname",
                      consents={"social_media": "granted", "website": "granted"})
    guardian = Guardian(school_id=school.id, pupil_id=pupil.id, name=f"{tag}Guardian",
                        email=f"parent@{tag.lower()}.test")
    session.add(guardian)
    session.flush()
    services.issue_link_nonce(guardian)
    services.record_biometric(session, pupil, "granted", given_by=guardian.name,
                              recorded_by="test")
    reference = ReferenceFace(school_id=school.id, pupil_id=pupil.id,
                              encoding_encrypted=sealed_vector(cipher, 1),
                              photo_encrypted=cipher.encrypt(original_jpeg((10, 10, 200))),
                              face_height_px=120, taken_on=dt.date.today(), created_by="test")
    protected = add_pupil(session, school.id, 2, f"{tag}Protected", f"{tag}Child")
    entry = NoPublishEntry(school_id=school.id, pupil_id=protected.id, category="other",
                           note=f"{tag}Note", starts_on=dt.date(2026, 1, 1), added_by="dsl")
    group = PupilGroup(school_id=school.id, name=f"{tag}Club", kind="club", created_by="admin")
    session.add_all([reference, entry, group])
    session.flush()
    session.add(PupilGroupMember(group_id=group.id, pupil_id=pupil.id))
    event = Event(school_id=school.id, name=f"{tag}Event", date=dt.date(2026, 6, 1),
                  purpose="social_media", groups=str(group.id), created_by_id=users["staff"].id)
    session.add(event)
    session.flush()

    def photo(uploader: User, status: str, file: str) -> Photo:
        row = Photo(school_id=school.id, event_id=event.id, uploaded_by_id=uploader.id,
                    purpose="social_media", status=status, width=320, height=240,
                    original_filename=f"{tag}{file}.jpg", size_bytes=10)
        session.add(row)
        session.flush()
        storage.write_bytes("originals", row.uuid, original_jpeg())
        return row

    waiting = photo(users["staff"], "needs_review", "File")
    others = photo(users["media_lead"], "needs_review", "OtherFile")  # not the staff member's
    posted = photo(users["staff"], "published", "PostedFile")
    face = Face(school_id=school.id, photo_id=waiting.id, index=0, top=20, right=120, bottom=120,
                left=20, score=0.99, status="unknown",
                encoding_encrypted=sealed_vector(cipher, 2))
    blocked = Face(school_id=school.id, photo_id=waiting.id, index=1, top=120, right=300,
                   bottom=230, left=200, score=0.99, status="blocked", pupil_id=protected.id,
                   distance=0.3, encoding_encrypted=sealed_vector(cipher, 3))
    session.add_all([face, blocked])
    session.flush()
    lift = BlockLift(school_id=school.id, face_id=blocked.id, pupil_id=protected.id,
                     requested_by_id=users["media_lead"].id, requested_at=dt.datetime(2026, 6, 2))
    account = session.scalar(select(OfficialAccount).where(OfficialAccount.school_id == school.id))
    account.handle = f"@{tag}Handle"
    post = Post(school_id=school.id, photo_id=posted.id, account_id=account.id,
                caption=f"{tag}Caption", state="published", pupil_ids_json=json.dumps([pupil.id]),
                published_at=dt.datetime(2026, 6, 2))
    session.add_all([lift, post])
    session.flush()
    takedown = Takedown(school_id=school.id, post_id=post.id, state="manual",
                        reason=f"{tag}Takedown")
    batch = ImportBatch(school_id=school.id, created_by="admin", summary=f"{tag}Import")
    invitation = invitations.invite(session, school, f"newcomer@{tag.lower()}.test", "admin",
                                    users["head"]).invitation
    proposal = grants.propose(session, school.id, users["head"], users["staff"], "dsl")
    session.add_all([takedown, batch])
    users["staff"].name = f"{tag}Staffname"
    session.commit()
    return {
        "tag": tag, "school_id": school.id, "pupil_id": pupil.id, "upn": pupil.upn,
        "protected_id": protected.id,
        "guardian_id": guardian.id, "reference_id": reference.id, "entry_id": entry.id,
        "group_id": group.id, "event_id": event.id, "photo_id": waiting.id,
        "others_photo_id": others.id, "posted_photo_id": posted.id, "face_id": face.id,
        "blocked_face_id": blocked.id, "lift_id": lift.id, "account_id": account.id,
        "post_id": post.id, "takedown_id": takedown.id, "batch_id": batch.id,
        "invitation_id": invitation.id, "proposal_id": proposal.id,
        "user_id": users["staff"].id, "users": {role: u.id for role, u in users.items()},
        "markers": [f"{tag}Pupil", f"{tag}Surname", f"{tag}Guardian", f"{tag}Protected",
                    f"{tag}Note", f"{tag}Club", f"{tag}Event", f"{tag}File", f"{tag}Caption",
                    f"{tag}Handle", f"{tag}Takedown", f"{tag}Import", f"newcomer@{tag.lower()}",
                    f"{tag}Staffname", f"parent@{tag.lower()}"],
    }


def school_rows(session, school_id: int) -> dict:
    """Every row of the school's own tables, and its people's accounts and releasers: what a walk
    by another school's user must leave exactly as it was."""
    from consent.models import Base

    out = {}
    for table in Base.metadata.sorted_tables:
        if "school_id" not in table.c or table.name == "audit_event":
            continue
        rows = session.execute(select(table).where(table.c.school_id == school_id)).all()
        out[table.name] = sorted(tuple(str(v) for v in row) for row in rows)
    member_ids = select(Membership.user_id).where(Membership.school_id == school_id)
    out["user_account"] = sorted(
        (u.id, u.email, u.name, u.password_hash, u.session_token, u.active,
         u.must_change_password) for u in session.scalars(select(User).where(
            User.id.in_(member_ids))))
    account_ids = select(OfficialAccount.id).where(OfficialAccount.school_id == school_id)
    out["account_releaser"] = sorted((r.account_id, r.user_id) for r in session.scalars(
        select(AccountReleaser).where(AccountReleaser.account_id.in_(account_ids))))
    groups = select(PupilGroup.id).where(PupilGroup.school_id == school_id)
    out["pupil_group_member"] = sorted((m.group_id, m.pupil_id) for m in session.scalars(
        select(PupilGroupMember).where(PupilGroupMember.group_id.in_(groups))))
    out["school"] = [tuple(str(v) for v in session.execute(
        select(School.__table__).where(School.id == school_id)).one())]
    return out

