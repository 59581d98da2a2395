"""Each school has its own outbox folder and the side file names the school (issue 15, finding
10): two schools of a trust publishing at once never mix their posts in one folder."""

from __future__ import annotations

import json

from sqlalchemy import select

from gatekeeper.models import OfficialAccount
from gatekeeper.publishing.adapters import school_outbox
from gatekeeper.publishing.service import publish_due
from tests.support.fixtures import Browser, add_pupil, make_school
from tests.support.publishing import cleared_photo, release


def school_with_photo(app, name: str | None, index: int) -> dict:
    from gatekeeper.extensions import db

    with app.app_context():
        school = make_school(db.session, name) if name else None
        school_id = school.id if school else db.session.scalar(
            select(OfficialAccount.school_id).limit(1))
        pupil = add_pupil(db.session, school_id, index, "Ada", f"Pupil{index}",
                          consents={"social_media": "granted"})
        account = db.session.scalar(select(OfficialAccount.id).where(
            OfficialAccount.school_id == school_id))
        return {"id": school_id, "photo": cleared_photo(db.session, school_id, [pupil.id]),
                "account": account}


def test_two_schools_publish_into_their_own_folders(app, school):
    first = school_with_photo(app, None, 1)
    second = school_with_photo(app, "Second School", 2)
    for slug, made in (("testschool", first), ("secondschool", second)):
        media = Browser(app.test_client())
        assert media.login(f"media_lead@{slug}.test").status_code == 302
        assert release(media, made["photo"], made["account"], "Sports day!").status_code == 302
    with app.app_context():
        publish_due()
    outbox = app.config["OUTBOX_DIR"]
    folders = {school["name"]: school_outbox(outbox, first["id"]),
               "Second School": school_outbox(outbox, second["id"])}
    assert folders["Test School"] != folders["Second School"]
    for name, folder in folders.items():
        sides = [json.loads(p.read_text()) for p in folder.glob("*.json")]
        assert len(sides) == 1 and len(list(folder.glob("*.jpg"))) == 1, name
        assert sides[0]["school"] == name
    assert not list(outbox.glob("*.json"))  # nothing left in the shared top folder
