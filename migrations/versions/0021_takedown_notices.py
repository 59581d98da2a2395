"""takedown notices: the guardian whose "no" opened a takedown is owed a notice, kept with it

Revision ID: 0021_takedown_notices
Revises: 0020_guardian_email_failed
"""
import sqlalchemy as sa
from alembic import op

revision = "0021_takedown_notices"
down_revision = "0020_guardian_email_failed"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("takedown") as batch:
        batch.add_column(sa.Column("notify_guardian_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("notified_at", sa.DateTime(), nullable=True))
        batch.create_foreign_key(batch.f("fk_takedown_notify_guardian_id_guardian"), "guardian",
                                 ["notify_guardian_id"], ["id"])
        batch.create_index(batch.f("ix_takedown_notify_guardian_id"), ["notify_guardian_id"])


def downgrade():
    with op.batch_alter_table("takedown") as batch:
        batch.drop_index(batch.f("ix_takedown_notify_guardian_id"))
        batch.drop_constraint(batch.f("fk_takedown_notify_guardian_id_guardian"), type_="foreignkey")
        batch.drop_column("notified_at")
        batch.drop_column("notify_guardian_id")
