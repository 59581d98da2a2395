"""register: when each guardian's parent link was issued

Revision ID: 0002_register
Revises: 0001_initial
"""
import sqlalchemy as sa
from alembic import op

revision = "0002_register"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("guardian", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link_issued_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("guardian", schema=None) as batch_op:
        batch_op.drop_column("link_issued_at")
