"""consent records given in a guardian's name, with no guardian, are linked to that guardian

The rules now tell parents apart by guardian (a name the contacts import corrects no longer makes a
parent's earlier answers another parent's). A record typed by name before its giver was on the
register named no guardian: it is linked here, as a new guardian's are from now on.

Revision ID: 0019_link_named_consent
Revises: 0015_embedding
"""
import sqlalchemy as sa
from alembic import op

revision = "0019_link_named_consent"
down_revision = "0015_embedding"
branch_labels = None
depends_on = None


def _key(name: str) -> str:
    return " ".join((name or "").split()).lower()  # as consent.services.giver_key compares names


def upgrade():
    bind = op.get_bind()
    guardians: dict[tuple[int, str], int] = {}
    for guardian_id, pupil_id, name in bind.execute(sa.text(
            "SELECT id, pupil_id, name FROM guardian ORDER BY id")):
        guardians.setdefault((pupil_id, _key(name)), guardian_id)
    unlinked = bind.execute(sa.text(
        "SELECT id, pupil_id, given_by FROM consent_record WHERE guardian_id IS NULL "
        "AND relationship_to_pupil != 'pupil'")).all()
    for record_id, pupil_id, given_by in unlinked:
        guardian_id = guardians.get((pupil_id, _key(given_by)))
        if guardian_id is not None:
            bind.execute(sa.text("UPDATE consent_record SET guardian_id = :g WHERE id = :r"),
                         {"g": guardian_id, "r": record_id})


def downgrade():
    pass  # the links are true either way: nothing to undo
