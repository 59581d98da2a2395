"""No register text is ever marked safe (issue 15, finding 2).

Every page that shows a pupil, guardian, event, note, caption or user is rendered with hostile
values, and the parsed page must hold no element the values tried to inject. A static check keeps
names out of lazy (trusted-as-markup) strings.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
from html.parser import HTMLParser
from pathlib import Path

from sqlalchemy import select

from consent import services
from consent.models import Guardian, NoPublishEntry, PupilGroup, PupilGroupMember, School
from gatekeeper.compliance.crypto import app_cipher
from gatekeeper.models import Event, Face, OfficialAccount, Photo, Post, Takedown, User
from gatekeeper.parents.links import make_token
from gatekeeper.people.models import SchoolSignIn
from tests.support.fixtures import add_pupil
from tests.support.publishing import sample_jpeg

from .test_security import all_roles_user, concrete

ROOT = Path(__file__).resolve().parents[2]
FIELDS = ("first", "last", "guardian", "event", "caption", "note", "user", "reason", "file",
          "school", "group", "handle", "provider")


def hostile(tag: str) -> str:
    """Closes an option, a select and an attribute, then injects an element and a redirect."""
    return f'</option></select>\'"><h1 id=pwn-{tag}>X</h1><meta http-equiv=refresh content=0>'


class Injected(HTMLParser):
    """Collects elements a hostile value created, and the hostile text shown as text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements: list[str] = []
        self.shown: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if (attrs.get("id") or "").startswith("pwn") or (tag == "meta" and "http-equiv" in attrs):
            self.elements.append(f"<{tag} {attrs}>")
        for value in attrs.values():  # a value quoted properly stays inside its attribute
            self.shown.update(re.findall(r"id=pwn-(\w+)", value or ""))

    def handle_data(self, data):
        self.shown.update(re.findall(r"id=pwn-(\w+)", data))


def hostile_school(app, school_id: int) -> dict:
    """A pupil, guardian, event, photo, post, takedown, note, user, the school itself, a club,
    the official account and the school's sign-in provider (its name is on the sign-in page,
    before anyone signs in), all named with markup."""
    from gatekeeper.extensions import db

    with app.app_context():
        session = db.session
        pupil = add_pupil(session, school_id, 1, hostile("first"), hostile("last"),
                          consents={"social_media": "granted"})
        guardian = Guardian(school_id=school_id, pupil_id=pupil.id, name=hostile("guardian"),
                            email="parent@example.test")
        session.add(guardian)
        session.flush()
        services.issue_link_nonce(guardian)
        services.record_consent(session, pupil, "website", "granted", given_by=guardian.name,
                                recorded_by=hostile("user"), guardian_id=guardian.id)
        protected = add_pupil(session, school_id, 2, "Protected", "Child")
        session.add(NoPublishEntry(school_id=school_id, pupil_id=protected.id, category="other",
                                   note=hostile("note"), starts_on=dt.date(2026, 1, 1),
                                   added_by=hostile("user")))
        staff = session.scalar(select(User).where(User.email == "staff@testschool.test"))
        staff.name = hostile("user")
        session.get(School, school_id).name = hostile("school")
        club = PupilGroup(school_id=school_id, name=hostile("group"), created_by="admin")
        session.add_all([club, SchoolSignIn(
            # As the settings keep it: the element, within the label's 60 characters.
            school_id=school_id, label=hostile("provider")[18:78], client_id="gatekeeper",
            discovery_url="https://idp.example/.well-known/openid-configuration",
            client_secret_sealed=app_cipher().encrypt(b"secret"))])
        session.flush()
        session.add(PupilGroupMember(group_id=club.id, pupil_id=pupil.id))
        event = Event(school_id=school_id, name=hostile("event"), date=dt.date(2026, 6, 1),
                      purpose="social_media", created_by_id=staff.id, groups=str(club.id))
        session.add(event)
        session.flush()
        photos = {}
        # One photo per post state too: the database allows one live post per photo and account.
        for status in ("cleared", "blocked", "needs_review", "queued", "published", "failed"):
            photo = Photo(school_id=school_id, event_id=event.id, uploaded_by_id=staff.id,
                          purpose="social_media", status=status, width=640, height=480,
                          original_filename=hostile("file"), size_bytes=10)
            session.add(photo)
            session.flush()
            from gatekeeper.storage import app_storage

            app_storage().write_bytes("originals", photo.uuid, sample_jpeg())
            session.add(Face(school_id=school_id, photo_id=photo.id, index=0, top=100, right=200,
                             bottom=220, left=100, score=0.99, pupil_id=pupil.id, distance=0.3,
                             status="blocked" if status == "blocked" else "cleared"))
            photos[status] = photo.id
        account = session.scalar(select(OfficialAccount).where(
            OfficialAccount.school_id == school_id))
        account.handle = hostile("handle")
        posts = []
        for state in ("queued", "published", "failed"):
            post = Post(school_id=school_id, photo_id=photos[state], account_id=account.id,
                        caption=hostile("caption"), pupil_ids_json=json.dumps([pupil.id]),
                        state=state, last_error=hostile("reason"),
                        published_at=dt.datetime(2026, 6, 2) if state == "published" else None)
            session.add(post)
            session.flush()
            posts.append(post.id)
        session.add(Takedown(school_id=school_id, post_id=posts[1], reason=hostile("reason"),
                             requested_by=hostile("user")))
        session.commit()
        return {"pupil_id": pupil.id, "photo_ids": list(photos.values()), "post_id": posts[1],
                "account_id": account.id, "user_id": staff.id, "token": make_token(guardian),
                "group_id": club.id}


def pages(app, ids: dict) -> list[str]:
    """Every GET page of the app, with the hostile objects' ids filled in."""
    out = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.rule.startswith(("/static", "/bootstrap")):
            continue
        if "<token>" in rule.rule:
            out.append(rule.rule.replace("<token>", ids["token"]))
        elif "photo_id" in rule.rule:
            out += [re.sub(r"<int:photo_id>", str(i), rule.rule) for i in ids["photo_ids"]]
        else:
            path = rule.rule
            for key in ("pupil_id", "post_id", "account_id", "user_id", "group_id"):
                path = path.replace(f"<int:{key}>", str(ids[key]))
            out.append(concrete(type("Rule", (), {"rule": path})))
    return out + ["/review/pupils?q=X", "/register/?q=pwn"]


def test_no_page_renders_a_hostile_register_value_as_markup(app, school):
    ids = hostile_school(app, school["id"])
    from tests.support.fixtures import Browser

    browser = Browser(app.test_client())
    assert browser.login(all_roles_user(app, school["id"])).status_code == 302
    shown, checked = set(), 0
    for path in pages(app, ids):
        for lang in ("en", "cy"):
            response = browser.get(path, headers={"Accept-Language": lang})
            assert response.status_code < 500, (path, response.status_code)
            if response.mimetype != "text/html":
                continue
            parser = Injected()
            parser.feed(response.get_data(as_text=True))
            assert not parser.elements, (path, lang, parser.elements)
            shown |= parser.shown
            checked += 1
    assert checked >= 20
    # The values really were on the pages (escaped), so the test looked at them.
    assert set(FIELDS) - shown <= {"reason", "file"}, sorted(set(FIELDS) - shown)


def lazy_interpolations(tree: ast.AST) -> list[int]:
    """Lines where a lazy string is given values: `_l("...%(name)s", name=...)`."""
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in ("_l", "lazy_gettext", "lazy_ngettext") and node.keywords]


def test_no_lazy_string_carries_a_value():
    # A lazy string counts as markup (it has __html__), so a value put into one is never escaped.
    found = {}
    for path in (ROOT / "gatekeeper").rglob("*.py"):
        lines = lazy_interpolations(ast.parse(path.read_text()))
        if lines:
            found[str(path.relative_to(ROOT))] = lines
    assert not found, found


def test_the_paper_and_biometric_forms_show_the_name_as_text(app, school, login_as):
    from gatekeeper.extensions import db

    with app.app_context():
        pupil = add_pupil(db.session, school["id"], 3,
                          "</option></select><h1 id=pwn>INJECTED</h1>",
                          '<meta http-equiv=refresh content="2;url=//127.0.0.1:5999/x">')
        pupil_id = pupil.id
    admin = login_as("admin")
    for page in ("form", "biometric"):
        html = admin.get(f"/register/pupils/{pupil_id}/{page}").get_data(as_text=True)
        parser = Injected()
        parser.feed(html)
        assert not parser.elements, (page, parser.elements)
        assert "&lt;/option&gt;&lt;/select&gt;&lt;h1 id=pwn&gt;INJECTED" in html
