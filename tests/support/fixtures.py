"""Building blocks for tests: a school with one user per role, and a browser-like client."""

from __future__ import annotations

import functools
import re

from flask.testing import FlaskClient

from consent.models import School
from gatekeeper.models import ROLES, AccountReleaser, Membership, OfficialAccount, User
from gatekeeper.people.auth import hash_password
from gatekeeper.people.second_factor import REQUIRED_FOR
from tests.support.codes import code_after, code_for, enrol

PASSWORD = "correct horse battery staple"
TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
SHOWN_SECRET = re.compile(r'id="totp-secret">([A-Z2-7]+)<')
INVITATION_LINK = re.compile(r'id="invitation-link" readonly value="https?://[^/"]+(/welcome/[^"]+)"')


@functools.cache
def password_hash() -> str:
    """PASSWORD hashed once per process: scrypt is slow by design, and every test user shares it."""
    return hash_password(PASSWORD)


def make_school(session, name: str = "Test School") -> School:
    """A school with one user per role (email `<role>@<slug>.test`; those whose role needs a second
    factor enrolled with codes.TOTP_SECRET) and an approved outbox account."""
    import datetime as dt
    import json

    school = School(name=name)
    session.add(school)
    session.flush()
    slug = re.sub(r"\W+", "", name.lower())
    users = {}
    for role in ROLES:
        user = User(email=f"{role}@{slug}.test", name=f"{name} {role}",
                    password_hash=password_hash())
        session.add(user)
        session.flush()
        session.add(Membership(user_id=user.id, school_id=school.id, role=role))
        if role in REQUIRED_FOR:
            enrol(session, user)
        users[role] = user
    account = OfficialAccount(
        school_id=school.id, platform="Facebook", handle=f"@{slug}", purpose="social_media",
        adapter="outbox", admin_names_json=json.dumps(["A", "B"]),
        approved_by_id=users["head"].id, approved_at=dt.datetime(2026, 1, 1),
    )
    session.add(account)
    session.flush()
    # The head authorised the media lead to release to it (issue 7: deny by default).
    session.add(AccountReleaser(account_id=account.id, user_id=users["media_lead"].id,
                                authorised_by_id=users["head"].id))
    session.commit()
    return school


class Browser:
    """A test client that signs in and sends CSRF tokens the way the real pages do."""

    def __init__(self, client: FlaskClient):
        self.client = client
        self.token = ""

    def refresh_token(self, path: str = "/auth/login") -> str:
        page = self.client.get(path).get_data(as_text=True)
        match = TOKEN.search(page)
        assert match, f"no CSRF token on {path}"
        self.token = match.group(1)
        return self.token

    def login(self, email: str, password: str = PASSWORD):
        """Sign in as a person does: the password, then the authenticator's code when asked (or,
        for a role that needs one and has none yet, enrol an authenticator as the page shows)."""
        self.refresh_token()
        response = self.client.post(
            "/auth/login", data={"email": email, "password": password, "csrf_token": self.token}
        )
        location = response.headers.get("Location", "")
        if response.status_code == 302 and location.endswith("/auth/code"):
            response = self.answer_code(code_for(self.client.application, email))
        elif response.status_code == 302 and location.endswith("/account/second-factor"):
            self.enrol_shown_secret()
        if response.status_code == 302:
            self.refresh_token("/auth/login")
        return response

    def tab(self) -> Browser:
        """Another tab of this signed-in browser: a client carrying the same session cookie (the
        same person on the same device, so the session's binding to the browser still holds)."""
        app = self.client.application
        name = app.config["SESSION_COOKIE_NAME"]
        cookie = self.client.get_cookie(name)
        assert cookie is not None, "not signed in"
        other = Browser(app.test_client())
        other.client.set_cookie(name, cookie.value)
        other.token = self.token
        return other

    def answer_code(self, code: str):
        self.refresh_token("/auth/code")
        return self.client.post("/auth/code", data={"code": code, "csrf_token": self.token})

    def enrol_shown_secret(self) -> str:
        """Enrol the secret the enrolment page shows as text; returns it."""
        page = self.client.get("/account/second-factor").get_data(as_text=True)
        match = SHOWN_SECRET.search(page)
        assert match, "no secret on the enrolment page"
        self.token = TOKEN.search(page).group(1)
        confirmed = self.client.post("/account/second-factor",
                                     data={"code": code_after(match.group(1), 0),
                                           "csrf_token": self.token})
        assert "recovery-codes" in confirmed.get_data(as_text=True), "enrolment not confirmed"
        return match.group(1)

    def get(self, path: str, **kwargs):
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict | None = None, **kwargs):
        data = dict(data or {})
        data.setdefault("csrf_token", self.token)
        return self.client.post(path, data=data, headers={"X-CSRFToken": self.token}, **kwargs)


def make_trust(session, name: str, school_ids: list[int]):
    """A trust holding these schools, with a trust_admin and a dpo (`<role>@<slug>.test`, both
    enrolled with codes.TOTP_SECRET)."""
    from gatekeeper.people.models import Trust, TrustMembership, TrustSchool

    trust = Trust(name=name)
    session.add(trust)
    session.flush()
    session.add_all(TrustSchool(trust_id=trust.id, school_id=ident) for ident in school_ids)
    slug = re.sub(r"\W+", "", name.lower())
    for role in ("trust_admin", "dpo"):
        user = User(email=f"{role}@{slug}.test", name=f"{name} {role}",
                    password_hash=password_hash())
        session.add(user)
        session.flush()
        session.add(TrustMembership(user_id=user.id, trust_id=trust.id, role=role))
        enrol(session, user)
    session.commit()
    return trust


def invitation_path(page) -> str:
    """The path of the one-time link on the head's "Invitation ready" page."""
    match = INVITATION_LINK.search(page.get_data(as_text=True))
    assert match, "no invitation link on the page"
    return match.group(1)


def add_pupil(session, school_id: int, index: int, first: str, last: str, *, consents=(),
              faces=(), year: str = "5"):
    """A pupil with granted/refused consent per purpose and, optionally, enrolled reference
    faces."""
    import datetime as dt

    from consent import services
    from consent.clock import school_today
    from consent.models import Pupil
    from gatekeeper.ops.setup import demo_upn
    from gatekeeper.screening.enrolment import enrol_pupil

    pupil = Pupil(school_id=school_id, upn=demo_upn(index), first_name=first, last_name=last,
                  year_group=year, date_of_birth=dt.date(2015, 1, 1))
    session.add(pupil)
    session.flush()
    for purpose, status in dict(consents).items():
        services.record_consent(session, pupil, purpose, status, given_by=f"Parent of {first}",
                                recorded_by="test")
    if faces:
        services.record_biometric(session, pupil, "granted", given_by=f"Parent of {first}",
                                  recorded_by="test")
        # Taken today: the shared photos carry EXIF dates years old (an old reference clears less).
        enrol_pupil(session, school_id, pupil.upn, list(faces), "test", taken=school_today())
    session.commit()
    return pupil


def upload_photo(browser: Browser, event_id: int, name: str, data: bytes):
    """POST one photo as the upload page does; the response is read and closed (frees the body)."""
    import io

    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    # Encoded here as bytes: the test client's own encoder leaves a temporary file open.
    boundary, body = encode_multipart(
        {"event_id": str(event_id), "photo": FileStorage(io.BytesIO(data), filename=name)}
    )
    response = browser.client.post(
        "/uploads/", data=body, headers={"X-CSRFToken": browser.token},
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    response.get_data()
    response.close()
    return response


# Four people of ../shared/data/faces at a sports day: who each is to the school, and the face
# heights they have in each of the event's photos (kit, rose, alex, obama).
SPORTS_DAY_HEIGHTS = ((150, 120, 100, 130), (110, 150, 130, 100), (130, 100, 150, 120),
                      (100, 130, 120, 150))


def sports_day(app, school_id: int, staff: Browser, people) -> dict:
    """An event of four group photos: Kit (enrolled, consented: the rule clears him), Rose
    (consented, written biometric consent, no reference yet), Alex (parents refused, no
    reference) and Obama (a visiting adult). Returns the ids, and where each person was pasted
    in the first photo (in that order)."""
    from consent import services
    from gatekeeper.extensions import db

    with app.app_context():
        kit = add_pupil(db.session, school_id, 1, "Kit", "Harington",
                        consents={"social_media": "granted"},
                        faces=[people / "kit_harington" / "2.jpg"])
        rose = add_pupil(db.session, school_id, 2, "Rose", "Leslie",
                         consents={"social_media": "granted"})
        services.record_biometric(db.session, rose, "granted", given_by="Parent of Rose",
                                  recorded_by="test")
        alex = add_pupil(db.session, school_id, 3, "Alex", "Lacamoire",
                         consents={"social_media": "refused"})
        db.session.commit()
        ids = {"kit": kit.id, "rose": rose.id, "alex": alex.id}
    event = staff.post("/uploads/events", {"name": "Sports day", "date": "2026-07-10",
                                           "purpose": "social_media"}).get_json()["id"]
    photos, pasted = [], []
    for number, (data, boxes) in enumerate(sports_day_photos(people)):
        pasted.append(list(boxes))
        photos.append(upload_photo(staff, event, f"race-{number + 1}.jpg", data).get_json()["id"])
    return {"event": event, "photos": photos, "first_boxes": pasted[0], "pasted": pasted, **ids}


@functools.cache
def sports_day_photos(people) -> tuple[tuple[bytes, list], ...]:
    """The event's four group photos (JPEG bytes, and where each person was pasted), composed
    once per test process: the same bytes every time, so each test that uploads them reads them."""
    from tests.support.photos import group_jpeg, head_crop, load_rgb

    heads = [head_crop(load_rgb(people / folder / "1.jpg"))
             for folder in ("kit_harington", "rose_leslie", "alex_lacamoire", "obama")]
    return tuple(group_jpeg(heads, heights, seed=number)
                 for number, heights in enumerate(SPORTS_DAY_HEIGHTS))


SPORTS_DAY_PEOPLE = ("kit", "rose", "alex", "obama")


def sports_day_faces(app, day: dict) -> dict[str, list[int]]:
    """Each person's face ids across the event's photos, by where each was pasted."""
    from gatekeeper.extensions import db
    from gatekeeper.models import Photo

    found: dict[str, list[int]] = {who: [] for who in SPORTS_DAY_PEOPLE}
    with app.app_context():
        for photo_id, boxes in zip(day["photos"], day["pasted"], strict=True):
            for face in db.session.get(Photo, photo_id).faces:
                cy, cx = (face.top + face.bottom) / 2, (face.left + face.right) / 2
                for who, (top, right, bottom, left) in zip(SPORTS_DAY_PEOPLE, boxes, strict=True):
                    if top <= cy <= bottom and left <= cx <= right:
                        found[who].append(face.id)
    return found
