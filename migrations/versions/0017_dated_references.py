"""dated references: when each reference photo was taken (earlier ones: their enrolment day)

Revision ID: 0017_dated_references
Revises: 0016_block_lifts
"""
import sqlalchemy as sa
from alembic import op

revision = "0017_dated_references"
down_revision = "0016_block_lifts"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("reference_face", schema=None) as batch_op:
        batch_op.add_column(sa.Column("taken_on", sa.Date(), nullable=True))
    reference = sa.table("reference_face", sa.column("taken_on", sa.Date()),
                         sa.column("created_at", sa.DateTime()))
    # date() is a function in SQLite and PostgreSQL alike (a CAST to DATE is not, in SQLite).
    op.execute(reference.update().values(taken_on=sa.func.date(reference.c.created_at)))


def downgrade():
    with op.batch_alter_table("reference_face", schema=None) as batch_op:
        batch_op.drop_column("taken_on")
