"""The shapes every screen shares, in gatekeeper/web/: a row of this school or 404."""

import pytest
from flask import g
from sqlalchemy import select
from werkzeug.exceptions import NotFound

from gatekeeper.extensions import db
from gatekeeper.models import OfficialAccount
from gatekeeper.web.rows import school_row
from tests.support.fixtures import make_school


def account_of(school_id: int) -> int:
    return db.session.scalar(select(OfficialAccount.id).where(OfficialAccount.school_id == school_id))


@pytest.fixture
def accounts(app, school):
    """The id of this school's official account and of another school's."""
    with app.app_context():
        other = make_school(db.session, "Other School").id
        return account_of(school["id"]), account_of(other)


def test_school_row_is_this_schools_row(app, school, accounts):
    mine, _theirs = accounts
    with app.test_request_context():
        g.school_id = school["id"]
        row = school_row(OfficialAccount, mine)
        assert (row.id, row.school_id) == (mine, school["id"])


@pytest.mark.parametrize("which", ["another school's", "missing", "none"])
def test_school_row_is_404_for_another_schools_id_and_a_missing_one(app, school, accounts, which):
    _mine, theirs = accounts
    ident = {"another school's": theirs, "missing": theirs + 1000, "none": None}[which]
    with app.test_request_context():
        g.school_id = school["id"]
        with pytest.raises(NotFound):  # 404, never 403: the id is not confirmed to exist
            school_row(OfficialAccount, ident)
