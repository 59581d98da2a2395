"""A trust of schools: the command line makes one and invites its admin, the trust admin adds
schools and invites heads and sees counts but never a pupil, the DPO reads the trust's audit
trail and makes subject access exports, and each sees only their own trust."""

from __future__ import annotations

import datetime as dt
import html
import io
import re
import zipfile

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from consent.models import Pupil, School
from gatekeeper.models import ROLES, TRUST_ROLES, AuditEvent
from gatekeeper.people.models import Invitation, TrustMembership
from tests.integration.test_route_guard import concrete, walk
from tests.support.fixtures import Browser, add_pupil, invitation_path, make_school, make_trust

PUPIL_NAMES = ("Zebedee", "Quillfeather")


@pytest.fixture
def trust(app, school):
    """Test School in Oak Trust, with a pupil whose name must never reach a trust admin; Other
    School in Elm Trust."""
    from gatekeeper.extensions import db

    with app.app_context():
        add_pupil(db.session, school["id"], 7, *PUPIL_NAMES, consents={"social_media": "granted"})
        other = make_school(db.session, "Other School")
        other.urn = "400002"
        db.session.get(School, school["id"]).urn = "400001"
        db.session.commit()
        oak = make_trust(db.session, "Oak Trust", [school["id"]])
        make_trust(db.session, "Elm Trust", [other.id])
        return {"id": oak.id, "school_id": school["id"], "other_id": other.id}


def run(app, *args):
    from gatekeeper.cli import main

    return CliRunner().invoke(main, list(args), obj=_script_info(app), catch_exceptions=False)


def _script_info(app):
    from flask.cli import ScriptInfo

    return ScriptInfo(create_app=lambda: app)


def test_the_command_line_makes_a_trust_and_invites_its_admin(app, school):
    from gatekeeper.extensions import db

    with app.app_context():
        db.session.get(School, school["id"]).urn = "400001"
        db.session.commit()
    assert run(app, "trust", "add", "--name", "Ash Trust").exit_code == 0
    assert run(app, "trust", "add", "--name", " ash  trust").exit_code == 1  # the same name
    assert run(
        app, "trust", "add-school", "--trust", "Ash Trust", "--school", "400001").exit_code == 0
    again = run(app, "trust", "add-school", "--trust", "Ash Trust", "--school", "400001")
    assert again.exit_code == 1 and "already in Ash Trust" in again.output
    assert run(app, "trust", "add-school", "--trust", "Nope", "--school", "400001").exit_code == 1
    assert run(app, "trust", "list").output.strip() == "Ash Trust: 400001"
    invited = run(app, "trust", "invite", "chair@ash.test", "--trust", "Ash Trust", "--role",
                  "trust_admin")
    assert invited.exit_code == 0, invited.output
    assert run(app, "trust", "invite", "x@ash.test", "--trust", "Ash Trust", "--role",
               "head").exit_code != 0  # a school role is not a trust role
    path = "/welcome/" + invited.output.strip().splitlines()[-1].split("/welcome/")[1]
    admin = Browser(app.test_client())
    admin.refresh_token(path)
    assert "Ash Trust" in admin.get(path).get_data(as_text=True)
    done = admin.post(path, {"name": "Chair", "password": "a long first password",
                             "confirm": "a long first password"})
    assert done.headers["Location"].endswith("/account/second-factor")
    admin.enrol_shown_secret()
    home = admin.get("/")
    assert home.headers["Location"].endswith("/trust/")
    page = admin.get("/trust/").get_data(as_text=True)
    assert "Ash Trust" in page and "Test School" in page
    with app.app_context():
        held = db.session.scalar(select(TrustMembership.role))
    assert held == "trust_admin"


def test_the_trust_admin_adds_a_school_and_invites_its_head(app, trust):
    admin = Browser(app.test_client())
    assert admin.login("trust_admin@oaktrust.test").status_code == 302
    admin.post("/trust/schools", {"name": "Ysgol Newydd", "urn": "400003", "la_code": "660",
                                  "postcode": "ll57 2ab", "language": "cy"})
    admin.post("/trust/schools", {"name": "Duplicate", "urn": "400003"})
    page = admin.get("/trust/").get_data(as_text=True)
    assert "Ysgol Newydd" in page and "A school with URN 400003 already exists." in page
    from gatekeeper.extensions import db

    with app.app_context():
        new_id = db.session.scalar(select(School.id).where(School.urn == "400003"))
    invited = admin.post(f"/trust/schools/{new_id}/heads", {"email": "pennaeth@newydd.test"})
    path = invitation_path(invited)
    # Another trust's school is not found: no head can be invited there.
    assert admin.post(f"/trust/schools/{trust['other_id']}/heads",
                      {"email": "spy@elm.test"}).status_code == 404
    head = Browser(app.test_client())
    head.refresh_token(path)
    head.post(path, {"name": "Pennaeth", "password": "a long first password",
                     "confirm": "a long first password"})
    head.enrol_shown_secret()
    # the trust admin's invitation needs no second
    assert head.get("/head/users").status_code == 200
    with app.app_context():
        invitation = db.session.scalar(
            select(Invitation).where(Invitation.email == "pennaeth@newydd.test"))
        assert invitation.school_id == new_id and invitation.accepted_at is not None


def test_the_trust_admin_invites_a_dpo_from_the_dashboard(app, trust):
    """A DPO who leaves is removed on the dashboard; their successor was the operator's to
    invite from the command line. The trust admin invites them; the link brings them to the
    trust's audit trail (no school role reaches /trust/: the route guard's walk)."""
    from gatekeeper.extensions import db
    from gatekeeper.people.models import TrustMembership

    admin = Browser(app.test_client())
    assert admin.login("trust_admin@oaktrust.test").status_code == 302
    assert "invite-dpo" in admin.get("/trust/").get_data(as_text=True)
    refused = admin.post("/trust/dpos", {"email": "not an address"}, follow_redirects=True)
    assert refused.status_code == 200
    with app.app_context():
        assert db.session.scalar(select(Invitation).where(Invitation.role == "dpo")) is None
    invited = admin.post("/trust/dpos", {"email": "new.dpo@oaktrust.test"})
    path = invitation_path(invited)
    # The page's way back leads to the trust admin's own dashboard, not the head's Users page.
    back = re.search(r'href="([^"]+)">Back to', invited.get_data(as_text=True)).group(1)
    assert admin.get(back).status_code == 200
    dpo = Browser(app.test_client())
    dpo.refresh_token(path)
    dpo.post(path, {"name": "Nia Dpo", "password": "a long first password",
                    "confirm": "a long first password"})
    dpo.enrol_shown_secret()
    assert dpo.get("/dpo/").status_code == 200
    with app.app_context():
        held = db.session.scalar(select(TrustMembership).join(TrustMembership.user).where(
            TrustMembership.role == "dpo", TrustMembership.trust_id == trust["id"],
            TrustMembership.user.has(email="new.dpo@oaktrust.test")))
        assert held is not None


def test_a_trust_admin_never_sees_pupil_data(app, trust):
    """Every route, every method, with ids of the school's rows: no pupil's name ever comes back,
    and every school screen is refused."""
    admin = Browser(app.test_client())
    assert admin.login("trust_admin@oaktrust.test").status_code == 302
    seen = []
    for rule, method in walk(app):
        path = concrete(rule)
        if path.startswith(("/static/", "/bootstrap/", "/auth/logout", "/welcome/", "/parent/")):
            continue
        response = admin.get(path) if method == "GET" else admin.post(path, {})
        body = response.get_data(as_text=True)
        assert not any(name in body for name in PUPIL_NAMES), (method, path)
        bp = app.blueprints[rule.endpoint.split(".")[0]]
        if bp.allowed_roles is not None and not bp.allowed_roles & {"trust_admin"}:
            assert response.status_code == 403, (method, path, response.status_code)
        seen.append(path)
    assert "/register/" in seen and "/trust/" in seen
    page = admin.get("/trust/").get_data(as_text=True)
    assert re.search(r'class="count-pupils">1<', page)  # counted, never named


def test_the_dpo_reads_the_trust_audit_trail_and_exports_a_pupil(app, trust):
    from gatekeeper.extensions import db

    with app.app_context():
        upn = db.session.scalar(select(Pupil.upn).where(Pupil.first_name == "Zebedee"))
        db.session.add(AuditEvent(school_id=trust["other_id"], action="elm_only_event"))
        db.session.add(AuditEvent(school_id=trust["school_id"], action="summer_event",
                                  created_at=dt.datetime(2026, 7, 1, 12, 0)))  # stored in UTC
        db.session.commit()
    dpo = Browser(app.test_client())
    assert dpo.login("dpo@oaktrust.test").status_code == 302
    page = dpo.get("/dpo/").get_data(as_text=True)
    assert "01/07/2026 13:00" in page and "Time (UK)" in page  # as the schools read it (BST)
    assert "consent_recorded" in page or "pupil" in page
    assert "elm_only_event" not in page
    assert "elm_only_event" not in dpo.get(
        f"/dpo/?school={trust['other_id']}").get_data(as_text=True)
    assert dpo.get("/trust/").status_code == 403 and dpo.get("/register/").status_code == 403
    export = dpo.post("/dpo/subject-access", {"school_id": trust["school_id"], "upn": upn})
    assert export.status_code == 200
    with zipfile.ZipFile(io.BytesIO(export.data)) as archive:
        assert "Zebedee" in archive.read("pupil.json").decode()
    # Everything held about a child: no cache keeps it (a school's web filter, a shared PC's
    # browser), as for every page and picture.
    assert "no-store" in export.headers["Cache-Control"]
    assert dpo.post("/dpo/subject-access", {"school_id": trust["other_id"],
                                            "upn": upn}).status_code == 404
    missing = dpo.post("/dpo/subject-access", {"school_id": trust["school_id"], "upn": "X"})
    assert missing.status_code == 302
    with app.app_context():
        actions = [e.action for e in db.session.scalars(select(AuditEvent))]
    assert "subject_access_export" in actions


def test_the_head_reads_the_schools_audit_trail_and_sees_the_dpos_export(app, trust, login_as):
    """A head had no audit trail: the trust's DPO could export a pupil's every record and photo
    without the school's head being able to see it. The head's trail is the school's own, and
    its action list offers only the school's actions (the DPO's offered none: the name had to be
    typed exactly)."""
    from gatekeeper.extensions import db

    with app.app_context():
        upn = db.session.scalar(select(Pupil.upn).where(Pupil.first_name == "Zebedee"))
        db.session.add(AuditEvent(school_id=trust["other_id"], action="elm_only_event"))
        db.session.commit()
    dpo = Browser(app.test_client())
    assert dpo.login("dpo@oaktrust.test").status_code == 302
    assert dpo.post("/dpo/subject-access", {"school_id": trust["school_id"],
                                            "upn": upn}).status_code == 200
    assert '<option value="subject_access_export"' in dpo.get("/dpo/").get_data(as_text=True)
    head = login_as("head")
    page = head.get("/head/audit").get_data(as_text=True)
    assert "subject_access_export" in page and "dpo@oaktrust.test" in page
    assert "elm_only_event" not in page
    only = head.get("/head/audit?action=subject_access_export").get_data(as_text=True)
    rows = re.findall(r"<tr><td>.*?</tr>", only)
    assert rows and all("subject_access_export" in row for row in rows)
    assert "Audit trail of the school" in head.get("/head/").get_data(as_text=True)
    assert login_as("admin").get("/head/audit").status_code == 403


@pytest.mark.parametrize("role", TRUST_ROLES)
def test_trust_roles_reach_only_their_blueprints(app, trust, role):
    browser = Browser(app.test_client())
    assert browser.login(f"{role}@oaktrust.test").status_code == 302
    for rule, method in walk(app):
        path = concrete(rule)
        if path.startswith(("/static/", "/bootstrap/")) or rule.endpoint.startswith("auth."):
            continue
        bp = app.blueprints[rule.endpoint.split(".")[0]]
        if bp.allowed_roles is None:
            continue
        response = browser.get(path) if method == "GET" else browser.post(path, {})
        if role in bp.allowed_roles:
            assert response.status_code != 403, (role, method, path)
        else:
            assert response.status_code == 403, (role, method, path, response.status_code)


def test_school_roles_never_reach_a_trust_screen(app, trust, login_as):
    for role in ROLES:
        browser = login_as(role)
        assert browser.get("/trust/").status_code == 403
        assert browser.get("/dpo/").status_code == 403


def test_a_welsh_trust_speaks_welsh_on_its_links_pages_and_emails(app, school):
    """A Welsh-medium trust is made Welsh from the command line: the invitation of its DPO, its
    email and the DPO's pages are in Welsh whatever the browser says (they were all in English:
    a trust had no language, and a person with no school followed the browser)."""
    from gatekeeper.extensions import db
    from gatekeeper.people.emails import mail_invitation
    from gatekeeper.people.models import Trust
    from tests.support.smtp import smtp_server, text_of

    refused = run(app, "trust", "add", "--name", "Ymddiriedolaeth Eryri", "--language", "fr")
    assert refused.exit_code == 1 and "The language must be en or cy." in refused.output
    assert run(app, "trust", "add", "--name", "Ymddiriedolaeth Eryri", "--language",
               "cy").exit_code == 0
    invited = run(app, "trust", "invite", "dpo@eryri.test", "--trust", "Ymddiriedolaeth Eryri",
                  "--role", "dpo")
    path = "/welcome/" + invited.output.strip().splitlines()[-1].split("/welcome/")[1]
    english = {"Accept-Language": "en-GB,en;q=0.9"}
    dpo = Browser(app.test_client())
    page = dpo.get(path, headers=english).get_data(as_text=True)
    assert '<html lang="cy"' in page and "Ymuno â Ymddiriedolaeth Eryri" in page
    dpo.refresh_token(path)
    dpo.post(path, {"name": "Swyddog", "password": "a long first password",
                    "confirm": "a long first password"})
    dpo.enrol_shown_secret()
    trail = dpo.get("/dpo/", headers=english).get_data(as_text=True)
    assert '<html lang="cy"' in trail and "Trywydd archwilio&#39;r ymddiriedolaeth" in trail
    with smtp_server() as (inbox, port), app.app_context():
        app.config["MAIL_URL"] = f"smtp://127.0.0.1:{port}"
        trust = db.session.scalar(select(Trust))
        issued = run(app, "trust", "invite", "admin@eryri.test", "--trust", trust.name,
                     "--role", "trust_admin")
        assert issued.exit_code == 0
        invitation = db.session.scalar(select(Invitation).where(
            Invitation.email == "admin@eryri.test"))
        assert mail_invitation(invitation.id) == "sent"
        (message,) = inbox.wait_for(1)
    assert message["Subject"] == "Eich gwahoddiad i Gatekeeper yn Ymddiriedolaeth Eryri"
    assert "Ymuno" in text_of(message) or "gwahodd" in text_of(message)


def test_the_trust_admin_sets_the_trusts_language(app, trust):
    """The trust's pages speak its language, set on its dashboard; a school of the trust keeps
    its own."""
    from gatekeeper.extensions import db
    from gatekeeper.people.models import Trust

    admin = Browser(app.test_client())
    assert admin.login("trust_admin@oaktrust.test").status_code == 302
    assert '<html lang="en"' in admin.get("/trust/").get_data(as_text=True)
    admin.post("/trust/language", {"language": "fr"})
    page = admin.get("/trust/").get_data(as_text=True)
    assert "The language must be en or cy." in page and '<html lang="en"' in page
    admin.post("/trust/language", {"language": "cy"})
    page = admin.get("/trust/").get_data(as_text=True)
    assert '<html lang="cy"' in page and "Dangosfwrdd yr ymddiriedolaeth" in page
    assert "Mae iaith yr ymddiriedolaeth wedi&#39;i chadw." in page  # said in the new language
    dpo = Browser(app.test_client())
    assert dpo.login("dpo@oaktrust.test").status_code == 302
    assert '<html lang="cy"' in dpo.get("/dpo/").get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Trust, trust["id"]).language == "cy"
        actions = [e.action for e in db.session.scalars(select(AuditEvent))]
    assert "trust_language_set" in actions


def test_a_dpo_who_leaves_is_removed_from_the_trust_and_opens_nothing_more(app, trust):
    """Nothing could end a trust role: a DPO who left kept every school's audit trail and the
    subject access export of every pupil. The trust admin removes them (or the operator, from
    the command line); their sessions end at once and an open invitation to the trust goes."""
    from gatekeeper.extensions import db
    from gatekeeper.models import User

    dpo = Browser(app.test_client())
    assert dpo.login("dpo@oaktrust.test").status_code == 302
    assert dpo.get("/dpo/").status_code == 200
    admin = Browser(app.test_client())
    assert admin.login("trust_admin@oaktrust.test").status_code == 302
    assert run(app, "trust", "invite", "dpo@oaktrust.test", "--trust", "Oak Trust", "--role",
               "trust_admin").exit_code == 0  # open, not accepted yet
    with app.app_context():
        ids = {u.email: u.id for u in db.session.scalars(select(User))}
    page = admin.get("/trust/").get_data(as_text=True)
    assert "dpo@oaktrust.test" in page and "trust_admin@elmtrust.test" not in page
    assert f"/trust/people/{ids['trust_admin@oaktrust.test']}/remove" not in page  # not oneself
    refused = admin.post(f"/trust/people/{ids['trust_admin@oaktrust.test']}/remove")
    assert "You cannot do this to your own account." in admin.get(refused.headers["Location"]) \
        .get_data(as_text=True)
    other = admin.post(f"/trust/people/{ids['dpo@elmtrust.test']}/remove")
    assert "No such person at this trust." in admin.get(other.headers["Location"]) \
        .get_data(as_text=True)
    admin.post(f"/trust/people/{ids['dpo@oaktrust.test']}/remove")
    page = admin.get("/trust/").get_data(as_text=True)
    assert "no longer holds a role at the trust" in page
    assert "dpo@oaktrust.test</td>" not in page
    assert dpo.get("/dpo/").status_code in (302, 403)
    assert dpo.login("dpo@oaktrust.test").status_code == 302
    assert dpo.get("/dpo/").status_code == 403
    with app.app_context():
        open_invitations = db.session.scalars(select(Invitation).where(
            Invitation.email == "dpo@oaktrust.test", Invitation.revoked_at.is_(None))).all()
        actions = [e.action for e in db.session.scalars(select(AuditEvent))]
    assert open_invitations == [] and "trust_role_revoked" in actions
    gone = run(app, "trust", "remove", "trust_admin@elmtrust.test", "--trust", "Elm Trust")
    assert gone.exit_code == 0, gone.output
    assert run(app, "trust", "remove", "trust_admin@elmtrust.test", "--trust",
               "Elm Trust").exit_code == 1
    assert run(app, "trust", "remove", "nobody@elm.test", "--trust", "Elm Trust").exit_code == 1


def test_the_dpo_sees_the_trusts_own_events_and_no_other_trusts(app, trust):
    """Who was invited to a trust role, removed from one, or changed the trust's language was
    recorded against no school, and the DPO's trail showed none of it."""
    from gatekeeper.extensions import db
    from gatekeeper.people import trusts
    from gatekeeper.people.models import Trust

    assert run(app, "trust", "invite", "new.dpo@oak.test", "--trust", "Oak Trust", "--role",
               "dpo").exit_code == 0
    assert run(app, "trust", "invite", "spy@elm.test", "--trust", "Elm Trust", "--role",
               "dpo").exit_code == 0
    with app.app_context():
        elm = db.session.scalar(select(Trust).where(Trust.name == "Elm Trust"))
        trusts.set_language(db.session, elm, "cy", "command line")
        trusts.set_language(db.session, db.session.get(Trust, trust["id"]), "cy", "command line")
        db.session.commit()
    dpo = Browser(app.test_client())
    assert dpo.login("dpo@oaktrust.test").status_code == 302
    page = dpo.get("/dpo/").get_data(as_text=True)
    assert page.count('<code lang="en">trust_language_set</code>') == 1
    assert page.count('<code lang="en">invitation_sent</code>') == 1
    assert "Oak Trust</td>" in page
    one_school = dpo.get(f"/dpo/?school={trust['school_id']}").get_data(as_text=True)
    assert '<code lang="en">trust_language_set</code>' not in one_school
    assert '<code lang="en">invitation_sent</code>' not in one_school


def test_a_dpo_of_two_trusts_switches_between_them(app, trust):
    """A DPO who serves two trusts (an outsourced DPO often does) opened only the first: nothing
    let them reach the second's audit trail. The top bar switches trust as it switches school,
    and only to a trust they hold a role at."""
    from gatekeeper.extensions import db
    from gatekeeper.models import User
    from gatekeeper.people.models import Trust, TrustMembership

    with app.app_context():
        elm = db.session.scalar(select(Trust).where(Trust.name == "Elm Trust"))
        dpo_id = db.session.scalar(select(User.id).where(User.email == "dpo@oaktrust.test"))
        db.session.add(TrustMembership(user_id=dpo_id, trust_id=elm.id, role="dpo"))
        db.session.add(AuditEvent(school_id=trust["other_id"], action="elm_only_event"))
        db.session.commit()
        elm_id = elm.id
        third = make_trust(db.session, "Ash Trust", []).id
    dpo = Browser(app.test_client())
    assert dpo.login("dpo@oaktrust.test").status_code == 302
    page = dpo.get("/dpo/").get_data(as_text=True)
    assert ": Oak Trust" in page
    assert 'id="trust-switcher"' in page and "elm_only_event" not in page
    switched = dpo.post("/auth/trust", {"trust_id": elm_id})
    assert switched.headers["Location"].endswith("/dpo/")
    page = dpo.get("/dpo/").get_data(as_text=True)
    assert ": Elm Trust" in page and "elm_only_event" in page
    dpo.post("/auth/trust", {"trust_id": third})  # not theirs: nothing changes
    assert ": Elm Trust" in dpo.get("/dpo/").get_data(as_text=True)
    admin = Browser(app.test_client())
    assert admin.login("trust_admin@oaktrust.test").status_code == 302
    assert 'id="trust-switcher"' not in admin.get("/trust/").get_data(as_text=True)


def test_the_dpo_downloads_the_whole_trail_as_csv(app, trust):
    """The trail could only be read a hundred events a page, with no way to keep it (for a
    complaint or the regulator). The DPO downloads every event the filters choose, as the page
    shows them, and the download is itself audited."""
    import csv

    from gatekeeper.extensions import db

    with app.app_context():
        db.session.add_all(AuditEvent(school_id=trust["school_id"], action="photo_uploaded",
                                      actor='=HYPERLINK("http://x")', subject_type="photo",
                                      subject_id=str(i)) for i in range(150))
        db.session.add(AuditEvent(school_id=trust["other_id"], action="elm_only_event"))
        db.session.commit()
    dpo = Browser(app.test_client())
    assert dpo.login("dpo@oaktrust.test").status_code == 302
    assert "/dpo/audit.csv" in dpo.get("/dpo/").get_data(as_text=True)
    download = dpo.get("/dpo/audit.csv?action=photo_uploaded%20")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert "attachment" in download.headers["Content-Disposition"]
    rows = list(csv.reader(download.get_data(as_text=True).splitlines()))
    assert rows[0] == ["Time (UK)", "School", "Done by", "Action", "About"]
    assert len(rows) == 151 and rows[1][1] == "Test School" and rows[1][4] == "photo 149"
    assert rows[1][2].startswith("'=")  # never run as a formula
    everything = dpo.get("/dpo/audit.csv").get_data(as_text=True)
    assert "elm_only_event" not in everything
    assert dpo.get(f"/dpo/audit.csv?school={trust['other_id']}").get_data(
        as_text=True).strip().count("\n") == 0
    assert "audit_trail_exported" in dpo.get("/dpo/").get_data(as_text=True)
    admin = Browser(app.test_client())
    assert admin.login("trust_admin@oaktrust.test").status_code == 302
    assert admin.get("/dpo/audit.csv").status_code == 403


def test_the_trust_admin_withdraws_an_invitation_sent_to_the_wrong_address(app, trust):
    """A DPO (or a school's head) invited at the wrong address could not be taken back: the link
    worked for its whole day. The trust admin withdraws it from the dashboard; the link stops
    working at once. Another trust's admin finds nothing to withdraw, and without the form's
    token nothing happens."""
    from gatekeeper.extensions import db

    admin = Browser(app.test_client())
    assert admin.login("trust_admin@oaktrust.test").status_code == 302
    dpo_link = invitation_path(admin.post("/trust/dpos", {"email": "dpo@wrong.test"}))
    head_link = invitation_path(admin.post(f"/trust/schools/{trust['school_id']}/heads",
                                           {"email": "head@wrong.test"}))
    with app.app_context():
        ids = {i.email: i.id for i in db.session.scalars(select(Invitation))}
    page = admin.get("/trust/").get_data(as_text=True)
    for email in ("dpo@wrong.test", "head@wrong.test"):
        assert email in page and f"/trust/invitations/{ids[email]}/withdraw" in page
    elm = Browser(app.test_client())
    assert elm.login("trust_admin@elmtrust.test").status_code == 302
    assert elm.post(f"/trust/invitations/{ids['dpo@wrong.test']}/withdraw").status_code == 404
    assert elm.post(f"/trust/invitations/{ids['head@wrong.test']}/withdraw").status_code == 404
    forged = admin.client.post(f"/trust/invitations/{ids['dpo@wrong.test']}/withdraw")
    assert forged.status_code == 400
    assert app.test_client().get(dpo_link).status_code == 200  # still open
    for email, link in (("dpo@wrong.test", dpo_link), ("head@wrong.test", head_link)):
        done = admin.post(f"/trust/invitations/{ids[email]}/withdraw")
        assert done.status_code == 302
        assert "its link no longer works" in admin.get(done.headers["Location"]).get_data(
            as_text=True)
        assert app.test_client().get(link).status_code == 410
        assert admin.post(f"/trust/invitations/{ids[email]}/withdraw").status_code == 404
    assert "wrong.test" not in admin.get("/trust/").get_data(as_text=True)
    with app.app_context():
        withdrawn = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "invitation_revoked")).all()
        assert sorted((e.actor, e.detail["email"]) for e in withdrawn) == [
            ("trust_admin@oaktrust.test", "dpo@wrong.test"),
            ("trust_admin@oaktrust.test", "head@wrong.test")]
    dpo = Browser(app.test_client())
    assert dpo.login("dpo@oaktrust.test").status_code == 302
    trail = dpo.get("/dpo/", query_string={"action": "invitation_revoked"}).get_data(as_text=True)
    assert trail.count("invitation_revoked") >= 2


def test_a_trust_admin_cannot_withdraw_a_schools_own_staff_invitation(app, trust, login_as):
    """The dashboard's invitations are the trust's roles and its schools' heads: an invitation a
    head sent to a member of staff stays the head's to withdraw."""
    from gatekeeper.extensions import db

    login_as("head").post("/head/invitations", {"email": "athro@testschool.test", "role": "staff"})
    with app.app_context():
        invitation_id = db.session.scalar(select(Invitation.id))
    admin = Browser(app.test_client())
    assert admin.login("trust_admin@oaktrust.test").status_code == 302
    assert "athro@testschool.test" not in admin.get("/trust/").get_data(as_text=True)
    assert admin.post(f"/trust/invitations/{invitation_id}/withdraw").status_code == 404
    with app.app_context():
        assert db.session.get(Invitation, invitation_id).revoked_at is None


def test_the_trust_admin_cannot_add_a_school_named_like_another(app, trust):
    """Other School is in another trust: a school of the same name, in any case and spacing,
    would read alike on the sign-in buttons and the school choice. Refused, nothing written."""
    from gatekeeper.extensions import db

    admin = Browser(app.test_client())
    assert admin.login("trust_admin@oaktrust.test").status_code == 302
    refused = admin.post("/trust/schools", {"name": " other  SCHOOL", "urn": "400003"},
                         follow_redirects=True)
    assert "A school called Other School already exists" in html.unescape(
        refused.get_data(as_text=True))
    with app.app_context():
        assert db.session.scalar(select(School).where(School.urn == "400003")) is None
        assert len(db.session.scalars(select(School)).all()) == 2
