"""Creating and upgrading the database, and the demo school that `make run` shows."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from flask import current_app
from flask_migrate import upgrade
from sqlalchemy.orm import Session
from stdnum.gb import upn as upn_format

from consent import services
from consent.clock import school_today
from consent.models import Pupil, School, utcnow
from gatekeeper.models import AccountReleaser, Membership, OfficialAccount, User
from gatekeeper.people.auth import hash_password
from gatekeeper.people.schools import school_named
from gatekeeper.screening.enrolment import enrol_pupil

DEMO_SCHOOL = "Demo Primary School"
DEMO_DOMAIN = "demo.gatekeeper.test"
DEMO_ROLES = ("staff", "admin", "dsl", "media_lead", "head")
CREDENTIALS_FILE = "demo-credentials.txt"
# (first, last, year, consent for social_media/website, face fixture to enrol or None)
DEMO_PUPILS = (
    ("Ava", "Thompson", "6", "granted", "obama"),
    ("Ben", "Okafor", "6", "granted", "biden"),
    ("Cara", "Williams", "5", "granted", "kit_harington"),
    ("Dylan", "Evans", "5", "refused", "rose_leslie"),
    ("Efa", "Jones", "4", "granted", "alex_lacamoire"),
    ("Finn", "Murphy", "4", "granted", None),
    ("Grace", "Patel", "3", "granted", None),
    ("Harry", "Davies", "3", None, None),
    ("Isla", "Roberts", "2", "granted", None),
    ("Jac", "Hughes", "2", "withdrawn", None),
    ("Kai", "Lewis", "1", "granted", None),
    ("Lily", "Morgan", "1", "granted", None),
)
NO_PUBLISH_PUPIL = "Efa"  # on the no-publish list although her parents consented
DEMO_FACES = Path(__file__).resolve().parents[3] / "shared" / "data" / "faces" / "people"


def migrate_database() -> None:
    upgrade(directory=current_app.extensions["migrate"].directory, revision="heads")


def demo_upn(index: int) -> str:
    """A valid UPN (DfE check letter) for demo pupil `index`."""

    body = f"{823:03d}{2024:04d}{index:05d}"
    letters = "ABCDEFGHJKLMNPQRTUVWXYZ"
    for letter in letters:
        candidate = letter + body
        if upn_format.is_valid(candidate):
            return candidate
    raise RuntimeError("no check letter found")


def seed_demo(session: Session, instance: Path) -> Iterator[str]:
    """Create the demo school once; print (and keep, owner-only) the demo passwords."""
    if school_named(session, DEMO_SCHOOL) is not None:
        yield ("demo school already exists; demo users and passwords are in "
               f"{instance / CREDENTIALS_FILE}")
        return
    school = School(name=DEMO_SCHOOL, urn="100000")
    session.add(school)
    session.flush()
    lines = [f"Demo users for {DEMO_SCHOOL} (sign in at http://127.0.0.1:5000):"]
    users = {}
    for role in DEMO_ROLES:
        password = secrets.token_urlsafe(9)
        email = f"{role.replace('_', '')}@{DEMO_DOMAIN}"
        user = User(email=email, name=f"Demo {role.replace('_', ' ')}",
                    password_hash=hash_password(password))
        session.add(user)
        session.flush()
        session.add(Membership(user_id=user.id, school_id=school.id, role=role))
        users[role] = user
        lines.append(f"  {role:<11} {email:<34} {password}")
    account = OfficialAccount(
        school_id=school.id, platform="Facebook", handle="@DemoPrimary", purpose="social_media",
        adapter="outbox", aim="Celebrate pupils' achievements with families",
        audience="Parents and the local community", promotion="Newsletter and website",
        visibility="open", admin_names_json=json.dumps(["Demo head", "Demo media lead"]),
        approved_by_id=users["head"].id, approved_at=utcnow(),
    )
    session.add(account)
    session.flush()
    session.add(AccountReleaser(account_id=account.id, user_id=users["media_lead"].id,
                                authorised_by_id=users["head"].id))
    seed_pupils(session, school)
    session.commit()
    lines.append(f"Outbox for released posts: {current_app.config['OUTBOX_DIR']}")
    path = instance / CREDENTIALS_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("\n".join(lines) + "\n")
    yield from lines


def seed_pupils(session: Session, school: School) -> None:
    today = school_today()
    for index, (first, last, year, consent, face) in enumerate(DEMO_PUPILS, start=1):
        pupil = Pupil(school_id=school.id, upn=demo_upn(index), first_name=first, last_name=last,
                      year_group=year, date_of_birth=dt.date(2014 + (6 - int(year)), 9, index))
        session.add(pupil)
        session.flush()
        guardian = f"Parent of {first}"
        for purpose in ("social_media", "website") if consent else ():
            services.record_consent(session, pupil, purpose, consent, given_by=guardian,
                                    recorded_by="demo seed", form_date=today, source="paper")
        if face and (DEMO_FACES / face).is_dir():
            services.record_biometric(session, pupil, "granted", given_by=guardian,
                                      recorded_by="demo seed", form_date=today)
            # The public figures' photos stand in for references the school took this year
            # (their own EXIF dates are years old, and an old reference clears less).
            enrol_pupil(session, school.id, pupil.upn, sorted((DEMO_FACES / face).iterdir())[:3],
                        "demo seed", taken=today)
        if first == NO_PUBLISH_PUPIL:
            services.add_nopublish(session, pupil, category="other", note="Demo entry",
                                   added_by="demo seed")
