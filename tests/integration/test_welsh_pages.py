"""Every screen a school uses, opened in Welsh with data on it, shows no English sentence.

The check is a simple one: the page's visible text (and its alt, title, aria-label and placeholder
texts), without the names and data this test put there, contains none of a set of common English
words that never occur in Welsh text. The data is Welsh too, so that what is left is the product's.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import json
import re

import pytest
from sqlalchemy import update

from consent import services
from consent.clock import school_today
from gatekeeper.models import Event, Face, OfficialAccount, Photo, Post
from gatekeeper.register.forms import today
from tests.integration.test_register_screens import pupils
from tests.support.fixtures import Browser, add_pupil
from tests.support.publishing import cleared_photo, release

ENGLISH = frozenset("""
the and with your you this that for from have has are was were will not can may must should
please only every each which when who what why how here there these those them they their
photo photos pupil pupils consent save cancel yes none nothing new add remove choose give record
school parent parents release review blocked cleared unknown today until list page no of to is it
on in by or as be an account accounts queue upload sign out users roles head dashboard register
renewals import delete show search year left name email date reason note purpose publisher state
approved paused waiting link face faces blur reference safeguarding enrol enrolled leaver leavers
answer answers granted refused withdrawn expired protected publish published posted posting
""".split())
HIDDEN = re.compile(r"<(script|style)\b.*?</\1>|<!--.*?-->|<[^>]*\blang=\"en\"[^>]*>[^<]*", re.S)
SHOWN_ATTRIBUTES = re.compile(r'\b(?:alt|title|aria-label|placeholder)="([^"]*)"')
TAGS = re.compile(r"<[^>]+>")
# What this test put on the pages (the fixture school's and users' names, addresses, UPNs, an
# account's handle, the giver of the fixture pupils' consents), and the MIS file's own column
# names and values, which an export holds in English.
DATA = re.compile(r"Test School(?: \w+)?|[\w.+-]+@[\w.-]+|@testschool|\b[A-Z]\d{11}[A-Z0-9]\b"
                  r"|Parent of \w+|\b[a-z]+_\w*|\"(?:yes|no)\"")
CSV = ("UPN,Forename,Surname,Date of Birth,Year\r\n"
       "{upn1},Ava,Prydderch,01/09/2016,5\r\n{upn2},Cai,Huws,02/09/2016,5\r\n"
       "{upn3},Efa,Llwyd,03/09/2016,5\r\n{upn4},Gwion,Rhys,04/09/2016,4\r\n"
       "{upn4},Gwion,Rhys,31/02/2016,Blwyddyn 20\r\n")


def english_words(page: str) -> list[str]:
    """The English words of a page's visible text, with a little of the text around each."""
    shown = HIDDEN.sub(" ", page)
    text = " ".join(SHOWN_ATTRIBUTES.findall(shown)) + " " + TAGS.sub(" ", shown)
    text = DATA.sub(" ", html.unescape(text))
    return [text[max(0, m.start() - 40):m.end() + 40].replace("\n", " ")
            for m in re.finditer(r"[A-Za-z]+", text) if m.group().lower() in ENGLISH]


def test_the_check_finds_an_english_sentence_and_passes_a_welsh_one():
    assert english_words("<p>Choose the event</p>") != []
    assert english_words('<img alt="Photo of the day">') != []
    assert english_words('<p lang="cy">Dewiswch y digwyddiad</p><button lang="en">English'
                         "</button><script>const no = 'the';</script>") == []


def in_welsh(browser: Browser) -> Browser:
    browser.post("/auth/language/cy", {"next": "/"})
    return browser


@pytest.fixture
def ysgol(app, school):
    """A school with Welsh data on every screen: pupils with each kind of answer, one protected,
    a guardian with a link, a photo waiting for review with an unknown, a cleared and a blocked
    face, a blocked photo, a queued post, a consent lapsing soon and an approved account."""
    from gatekeeper.extensions import db

    made = pupils(app, school["id"],
                  ("Ava", "Prydderch", "5", {"website": "granted", "social_media": "granted"}),
                  ("Cai", "Huws", "5", {"website": "refused"}),
                  ("Efa", "Llwyd", "5", {"social_media": "granted"}),
                  ("Gwion", "Rhys", "4", {}))
    with app.app_context():
        ava = services.get_pupil(db.session, school["id"], made["Ava"]["id"])
        efa = services.get_pupil(db.session, school["id"], made["Efa"]["id"])
        mair = services.add_guardian(db.session, ava, "Mair Prydderch", "parent", "mair@ysgol.test")
        services.record_consent(db.session, ava, "newsletter", "granted", given_by=mair.name,
                                guardian_id=mair.id, recorded_by="test",
                                expires_on=today() + dt.timedelta(days=10))
        services.add_nopublish(db.session, efa, category="court_order", note="Gorchymyn llys",
                               added_by="dsl@testschool.test")
        account = db.session.query(OfficialAccount).filter_by(school_id=school["id"]).one()
        event = Event(school_id=school["id"], name="Mabolgampau", date=school_today(),
                      purpose="social_media")
        db.session.add(event)
        db.session.flush()
        waiting = photo_with_faces(db.session, event, "needs_review",
                                   [("unknown", None), ("cleared", ava.id), ("blocked", efa.id)])
        blocked = photo_with_faces(db.session, event, "blocked", [("blocked", efa.id)])
        queued = photo_with_faces(db.session, event, "queued", [("cleared", ava.id)])
        db.session.add(Post(school_id=school["id"], photo_id=queued.id, account_id=account.id,
                            pupil_ids_json=json.dumps([ava.id]), state="queued",
                            caption="Diwrnod chwaraeon"))
        db.session.commit()
        return {"ava": ava.id, "mair": mair.id, "waiting": waiting.id, "blocked": blocked.id,
                "account": account.id, "upns": [made[n]["upn"] for n in ("Ava", "Cai", "Efa",
                                                                          "Gwion")]}


def photo_with_faces(session, event: Event, status: str, faces) -> Photo:
    photo = Photo(school_id=event.school_id, event_id=event.id, purpose=event.purpose,
                  status=status, width=1200, height=800, original_filename="mabolgampau.jpg")
    session.add(photo)
    session.flush()
    for index, (face_status, pupil_id) in enumerate(faces):
        session.add(Face(school_id=event.school_id, photo_id=photo.id, index=index,
                         top=100, right=300 + 250 * index, bottom=300, left=100 + 250 * index,
                         status=face_status, pupil_id=pupil_id))
    session.flush()
    return photo


def upload(browser: Browser, data: bytes) -> str:
    fields = {"csrf_token": browser.token, "file": (io.BytesIO(data), "allforiad.csv")}
    return browser.client.post("/register/import", data=fields,
                               content_type="multipart/form-data").get_data(as_text=True)


def pages_in_welsh(app, login_as, ysgol) -> dict[str, str]:
    """Each screen, as the role that uses it sees it in Welsh."""
    admin, dsl = in_welsh(login_as("admin")), in_welsh(login_as("dsl"))
    lead, head = in_welsh(login_as("media_lead")), in_welsh(login_as("head"))
    link = admin.post(f"/register/guardians/{ysgol['mair']}/link").get_data(as_text=True)
    token = re.search(r'/parent/([^"]+)"', link).group(1)
    ava, upn = ysgol["ava"], ysgol["upns"]
    export = CSV.format(upn1=upn[0], upn2=upn[1], upn3=upn[2], upn4=upn[3]).encode()
    pages = {
        "parent": app.test_client().get(f"/parent/{token}", headers={"Accept-Language": "cy"}),
        "register": admin.get("/register/"),
        "pupil": admin.get(f"/register/pupils/{ava}"),
        "paper form": admin.get(f"/register/pupils/{ava}/form"),
        "biometric form": admin.get(f"/register/pupils/{ava}/biometric"),
        "renewals": admin.get("/register/renewals"),
        "import": admin.get("/register/import"),
        "no-publish list": dsl.get("/nopublish/"),
        "safeguarding": dsl.get("/safeguarding/"),
        "review queue": lead.get("/review/"),
        "review page": lead.get(f"/review/{ysgol['waiting']}"),
        "posting queue": lead.get("/queue/"),
        "dashboard": head.get("/head/"),
        "users": head.get("/head/users"),
        "accounts": head.get(f"/accounts/{ysgol['account']}"),
        "school's details": head.get("/head/school"),
        "role grants": head.get("/grants/"),
        "classes and clubs": admin.get("/register/groups/"),
        "references": admin.get("/register/faces/"),
        "guardians import": admin.get("/register/import/contacts"),
        "parent links": admin.get("/register/links"),
        "password": admin.get("/account/password"),
        "paper form refused": admin.post(f"/register/pupils/{ava}/form", {"giver": ""}),
    }
    assert {name: page.status_code for name, page in pages.items() if page.status_code != 200} == {}
    pages = {name: page.get_data(as_text=True) for name, page in pages.items()}
    pages["import problems"] = upload(admin, export)
    pages["import preview"] = upload(admin, export.rsplit(b"\r\n", 2)[0] + b"\r\n")
    return pages


def test_every_screen_is_in_welsh(app, login_as, ysgol):
    pages = pages_in_welsh(app, login_as, ysgol)
    assert "Efa Llwyd" in pages["safeguarding"] and "Mabolgampau" in pages["review page"]
    assert "Diwrnod chwaraeon" in pages["posting queue"] and "Gwion Rhys" in pages["import preview"]
    assert "&#39;31/02/2016&#39;" in pages["import problems"]
    days = re.findall(r"(\w+) \d\d/\d\d/\d{4} \d\d:\d\d", pages["posting queue"])
    assert days and set(days) <= {"Llun", "Maw", "Mer", "Iau", "Gwen", "Sad", "Sul"}, days
    assert "Rhaid cwblhau&#39;r maes hwn." in pages["paper form refused"]  # WTForms' own Welsh
    english = {name: english_words(page) for name, page in pages.items()}
    assert {name: words for name, words in english.items() if words} == {}


def test_a_post_held_for_its_caption_says_why_in_welsh(app, login_as, school):
    """A pupil whose surname is in a queued post's caption joins before the post's time: the
    gate holds the post, and the Welsh posting queue said why in English."""
    from gatekeeper.extensions import db
    from gatekeeper.publishing.service import publish_due

    with app.app_context():
        ava = add_pupil(db.session, school["id"], 1, "Ava", "Prydderch",
                        consents={"social_media": "granted"})
        photo = cleared_photo(db.session, school["id"], [ava.id])
    lead = in_welsh(login_as("media_lead"))
    assert release(lead, photo, 1, "Tîm Huws yn ennill", "2027-06-15T09:30").status_code == 302
    with app.app_context():
        add_pupil(db.session, school["id"], 2, "Cai", "Huws", consents={"website": "granted"})
        held = publish_due(dt.datetime(2027, 6, 15, 8, 30))
    assert list(held.values()) == ["held"]
    page = lead.get("/queue/").get_data(as_text=True)
    assert "capsiwn wedi'i wrthod: yn cynnwys cyfenw disgybl (Huws)" in html.unescape(page)
    assert english_words(page) == []
    with app.app_context():  # held before its reason was kept as a record: the English it kept
        db.session.execute(update(Post).values(last_error="caption refused: contains a pupil's "
                                               "surname (Huws); contains a pupil's full name "
                                               "(Cai Huws)"))
        db.session.commit()
    page = html.unescape(lead.get("/queue/").get_data(as_text=True))
    assert ("capsiwn wedi'i wrthod: yn cynnwys cyfenw disgybl (Huws); yn cynnwys enw llawn "
            "disgybl (Cai Huws)") in page
    assert english_words(page) == []
    english = login_as("media_lead").get("/queue/").get_data(as_text=True)
    assert "caption refused: contains a pupil&#39;s surname (Huws)" in english
