"""guardians: when the mail server refused their address for good (a letter goes instead)

Revision ID: 0020_guardian_email_failed
Revises: 0019_link_named_consent
"""
import sqlalchemy as sa
from alembic import op

revision = "0020_guardian_email_failed"
down_revision = "0019_link_named_consent"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("guardian") as batch:
        batch.add_column(sa.Column("email_failed_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("guardian") as batch:
        batch.drop_column("email_failed_at")
