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
