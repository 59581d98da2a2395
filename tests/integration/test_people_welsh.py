"""Welsh for the people screens: every string of the invitation, account and school pages has a
translation, and a Welsh school's invitation opens in Welsh."""

from babel.messages.extract import extract_from_dir

from gatekeeper.translations import HERE, read_catalogue
from tests.conftest import ROOT
from tests.integration.test_i18n import KEYWORDS, METHOD_MAP
from tests.support.fixtures import invitation_path

PEOPLE_SCOPE = ("gatekeeper/people/", "gatekeeper/head/people.py", "templates/welcome/",
                "templates/account/", "templates/head/school.html", "templates/head/invited.html",
                "templates/head/users.html", "templates/base.html", "templates/mail/",
                "templates/auth/", "gatekeeper/trust/", "templates/trust/", "templates/grants/",
                "gatekeeper/head/views.py", "gatekeeper/register/contacts.py",
                "templates/register/contacts.html", "gatekeeper/parents/mailing.py",
                "gatekeeper/register/rounds.py", "templates/register/links.html",
                "templates/register/links_sent.html", "templates/register/letters.html",
                "templates/head/sign_in.html")


def test_every_people_screen_text_has_a_welsh_translation():
    welsh = {m.id: m.string for m in read_catalogue(HERE / "cy" / "LC_MESSAGES" / "messages.po")
             if m.id}
    in_scope = {message for filename, _line, message, _c, _x
                in extract_from_dir(str(ROOT), METHOD_MAP, keywords=KEYWORDS)
                if filename.startswith(PEOPLE_SCOPE)}
    assert len(in_scope) > 60
    assert sorted(m for m in in_scope if not welsh.get(m)) == []


def test_an_invitation_opens_in_welsh_when_asked(app, login_as):
    path = invitation_path(login_as("head").post(
        "/head/invitations", {"email": "athro@testschool.test", "role": "staff"}))
    html = app.test_client().get(path, headers={"Accept-Language": "cy"}).get_data(as_text=True)
    assert "Ymuno â Test School" in html and "Creu fy nghyfrif" in html and "Join " not in html


def welsh_school(app) -> None:
    from sqlalchemy import update

    from consent.models import School
    from gatekeeper.extensions import db

    with app.app_context():
        db.session.execute(update(School).values(language="cy"))
        db.session.commit()


def test_a_welsh_schools_invitation_and_reset_links_open_in_welsh_whatever_the_browser(
        app, login_as):
    """Their emails are written in Welsh; the pages they open were in the browser's language
    (most say English), refusals too."""
    import re

    from sqlalchemy import update

    from gatekeeper.extensions import db
    from gatekeeper.people.models import Invitation
    from gatekeeper.people.resets import issue_reset

    welsh_school(app)
    path = invitation_path(login_as("head").post(
        "/head/invitations", {"email": "athro@testschool.test", "role": "staff"}))
    browser = {"Accept-Language": "en-GB,en;q=0.9"}
    html = app.test_client().get(path, headers=browser).get_data(as_text=True)
    assert '<html lang="cy"' in html and "Ymuno â Test School" in html
    with app.app_context():
        db.session.execute(update(Invitation).values(revoked_at=Invitation.created_at))
        db.session.commit()
    refused = app.test_client().get(path, headers=browser)
    assert refused.status_code == 410 and '<html lang="cy"' in refused.get_data(as_text=True)
    forged = app.test_client().get(path[:-4] + "AAAA", headers=browser)
    assert '<html lang="en"' in forged.get_data(as_text=True)  # a forged link says nothing
    with app.app_context():
        _reset, token = issue_reset(db.session, "staff@testschool.test")
        db.session.commit()
    page = app.test_client().get(f"/welcome/reset/{token}", headers=browser)
    assert page.status_code == 200 and '<html lang="cy"' in page.get_data(as_text=True)
    assert re.search(r"<h1[^>]*>[^<]*</h1>", page.get_data(as_text=True))
