"""publishing: claimed/next attempt on posts, account releasers, takedowns

Revision ID: 0004_publishing
Revises: 0001_initial
"""
import sqlalchemy as sa
from alembic import op

revision = "0004_publishing"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("post", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(), nullable=True))
    op.create_table(
        "account_releaser",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("authorised_by_id", sa.Integer(), nullable=True),
        sa.Column("authorised_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["official_account.id"],
                                name=op.f("fk_account_releaser_account_id_official_account")),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"],
                                name=op.f("fk_account_releaser_user_id_user_account")),
        sa.ForeignKeyConstraint(["authorised_by_id"], ["user_account.id"],
                                name=op.f("fk_account_releaser_authorised_by_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_releaser")),
        sa.UniqueConstraint("account_id", "user_id",
                            name=op.f("uq_account_releaser_account_id")),
    )
    with op.batch_alter_table("account_releaser", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_account_releaser_account_id"), ["account_id"])
        batch_op.create_index(batch_op.f("ix_account_releaser_user_id"), ["user_id"])
    op.create_table(
        "takedown",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.Column("confirmed_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["school_id"], ["school.id"], name=op.f("fk_takedown_school_id_school")),
        sa.ForeignKeyConstraint(["post_id"], ["post.id"], name=op.f("fk_takedown_post_id_post")),
        sa.ForeignKeyConstraint(["confirmed_by_id"], ["user_account.id"],
                                name=op.f("fk_takedown_confirmed_by_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_takedown")),
    )
    with op.batch_alter_table("takedown", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_takedown_school_id"), ["school_id"])
        batch_op.create_index(batch_op.f("ix_takedown_post_id"), ["post_id"])
        batch_op.create_index(batch_op.f("ix_takedown_state"), ["state"])


def downgrade():
    op.drop_table("takedown")
    op.drop_table("account_releaser")
    with op.batch_alter_table("post", schema=None) as batch_op:
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("claimed_at")
