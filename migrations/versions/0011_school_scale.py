"""school scale: an event names the year groups taking part (empty: the whole school)

Revision ID: 0011_school_scale
Revises: 0009_security
"""
import sqlalchemy as sa
from alembic import op

revision = "0011_school_scale"
down_revision = "0009_security"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("year_groups", sa.String(length=200), server_default="", nullable=False)
        )


def downgrade():
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_column("year_groups")
