"""trusts: a default language (English or Welsh), as schools have

Revision ID: 0022_trust_language
Revises: 0021_takedown_notices
"""
import sqlalchemy as sa
from alembic import op

revision = "0022_trust_language"
down_revision = "0021_takedown_notices"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("trust") as batch:
        batch.add_column(sa.Column("language", sa.String(length=2), nullable=False,
                                   server_default="en"))


def downgrade():
    with op.batch_alter_table("trust") as batch:
        batch.drop_column("language")
