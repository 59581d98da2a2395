"""security: sign-in attempts keyed by a hash of the typed email, with their outcome

Revision ID: 0009_security
Revises: 0010_people
"""
import sqlalchemy as sa
from alembic import op

revision = "0009_security"
down_revision = "0010_people"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("login_failure", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account_key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("outcome", sa.String(length=10), nullable=False,
                                      server_default="failed"))
        batch_op.create_index(batch_op.f("ix_login_failure_account_key"), ["account_key"],
                              unique=False)


def downgrade():
    with op.batch_alter_table("login_failure", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_failure_account_key"))
        batch_op.drop_column("outcome")
        batch_op.drop_column("account_key")
