"""Official accounts: the head sets them up, approves, pauses and authorises; secrets stay
sealed."""

from sqlalchemy import select

from gatekeeper.models import AuditEvent, OfficialAccount, Post
from tests.support.fixtures import add_pupil
from tests.support.publishing import add_account, cleared_photo, release, user_id

SECRET = "whsec-accounts-do-not-leak"
FORM = {"platform": "Instagram", "handle": "@school", "purpose": "social_media",
        "adapter": "webhook", "url": "https://hooks.example.org/gatekeeper", "secret": SECRET,
        "max_side": "1080", "quality": "85", "visibility": "closed", "aim": "", "audience": "",
        "promotion": "", "admin_names": "Only One"}


def account(app, account_id):
    from gatekeeper.extensions import db

    with app.app_context():
        found = db.session.get(OfficialAccount, account_id)
        db.session.expunge(found)
        return found


def test_approval_needs_business_case_and_two_admins(app, login_as, school):
    head = login_as("head")
    saved = head.post("/accounts/new", FORM)
    account_id = int(saved.headers["Location"].rsplit("/", 1)[1])
    head.post(f"/accounts/{account_id}/approve")
    page = head.get(f"/accounts/{account_id}").get_data(as_text=True)
    assert "Write the business case" in page and "at least 2 admins" in page
    assert account(app, account_id).approved_at is None
    assert SECRET not in page  # never shown again

    head.post(f"/accounts/{account_id}", {**FORM, "secret": "", "aim": "News",
                                          "audience": "Parents", "promotion": "Letters",
                                          "admin_names": "A One\nB Two"})
    head.post(f"/accounts/{account_id}/approve")
    approved = account(app, account_id)
    assert approved.approved_at is not None and approved.admin_names == ["A One", "B Two"]
    assert approved.visibility == "closed" and approved.max_side == 1080
    # The blank secret field kept the sealed secret; it is stored encrypted, never in the clear.
    assert SECRET not in approved.settings_json and approved.settings["secret_sealed"]
    from gatekeeper.extensions import db

    with app.app_context():
        details = " ".join(db.session.scalars(select(AuditEvent.detail_json)))
    assert SECRET not in details


def test_form_refuses_insecure_or_incomplete_settings(app, login_as, school):
    head = login_as("head")
    for bad in ({"url": "http://hooks.example.org/x"}, {"url": "https://user:pw@hooks.example.org"},
                {"secret": ""}, {"adapter": "ftp"}, {"max_side": "99999"}):
        response = head.post("/accounts/new", {**FORM, **bad})
        assert response.status_code == 400, bad
    from gatekeeper.extensions import db

    with app.app_context():
        assert len(db.session.scalars(select(OfficialAccount)).all()) == 1


def test_only_authorised_media_leads_release_and_pause_stops_release(app, login_as, school):
    from gatekeeper.extensions import db

    with app.app_context():
        ada = add_pupil(db.session, school["id"], 1, "Ada", "Lovelace",
                        consents={"social_media": "granted"})
        photo = cleared_photo(db.session, school["id"], [ada.id])
        lead = user_id(db.session, "media_lead@testschool.test")
    head, media = login_as("head"), login_as("media_lead")
    account_id = add_account(head, [], adapter="outbox")  # approved, nobody authorised
    refused = release(media, photo, account_id, "Sports")  # the page comes back with why
    assert refused.status_code == 400 and "not authorised you" in refused.get_data(as_text=True)

    head.post(f"/accounts/{account_id}/releasers", {"user_id": [str(lead)]})
    head.post(f"/accounts/{account_id}/pause", {"paused": "yes"})
    refused = release(media, photo, account_id, "Sports")
    assert refused.status_code == 400 and "paused" in refused.get_data(as_text=True)

    head.post(f"/accounts/{account_id}/pause", {"paused": "no"})
    release(media, photo, account_id, "Sports")
    with app.app_context():
        (post,) = db.session.scalars(select(Post)).all()
        assert post.account_id == account_id and post.state == "published"


def test_accounts_pages_are_the_heads_alone(app, login_as, school):
    for role in ("media_lead", "staff", "admin", "dsl"):
        assert login_as(role).get("/accounts/").status_code == 403
    assert login_as("head").get("/accounts/").status_code == 200


def test_a_stored_secret_never_goes_to_a_new_address(app, login_as, school):
    # A blank secret field keeps the stored secret only while the address stays the same:
    # otherwise whoever changes the address would have the secret sent to a host they chose.
    head = login_as("head")
    saved = head.post("/accounts/new", FORM)
    account_id = int(saved.headers["Location"].rsplit("/", 1)[1])
    before = account(app, account_id).settings
    moved = head.post(f"/accounts/{account_id}", {**FORM, "secret": "",
                                                  "url": "https://elsewhere.example.net/hook"})
    assert moved.status_code == 400
    assert "address changed: give its secret again" in moved.get_data(as_text=True)
    assert account(app, account_id).settings == before
    retyped = head.post(f"/accounts/{account_id}", {**FORM, "secret": "whsec-new",
                                                    "url": "https://elsewhere.example.net/hook"})
    assert retyped.status_code == 302
    assert account(app, account_id).settings["url"] == "https://elsewhere.example.net/hook"
