"""people: invitations, password resets, a school's own details, deactivation, forced password change

Revision ID: 0010_people
Revises: 0008_import_safeguard
"""
import sqlalchemy as sa
from alembic import op

revision = "0010_people"
down_revision = "0008_import_safeguard"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("school", schema=None) as batch_op:
        batch_op.add_column(sa.Column("la_code", sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column("postcode", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("language", sa.String(length=2), server_default="en", nullable=False))
        batch_op.create_unique_constraint(batch_op.f("uq_school_urn"), ["urn"])
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("must_change_password", sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.add_column(sa.Column("suspended_at", sa.DateTime(), nullable=True))
    op.create_table(
        "invitation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("invited_by_id", sa.Integer(), nullable=True),
        sa.Column("invited_by", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(), nullable=True),
        sa.Column("accepted_by_id", sa.Integer(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["school_id"], ["school.id"], name=op.f("fk_invitation_school_id_school")),
        sa.ForeignKeyConstraint(["invited_by_id"], ["user_account.id"],
                                name=op.f("fk_invitation_invited_by_id_user_account")),
        sa.ForeignKeyConstraint(["accepted_by_id"], ["user_account.id"],
                                name=op.f("fk_invitation_accepted_by_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitation")),
    )
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invitation_school_id"), ["school_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_invitation_email"), ["email"], unique=False)
    op.create_table(
        "password_reset",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"],
                                name=op.f("fk_password_reset_user_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_reset")),
    )
    with op.batch_alter_table("password_reset", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_password_reset_user_id"), ["user_id"], unique=False)


def downgrade():
    with op.batch_alter_table("password_reset", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_password_reset_user_id"))
    op.drop_table("password_reset")
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invitation_email"))
        batch_op.drop_index(batch_op.f("ix_invitation_school_id"))
    op.drop_table("invitation")
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.drop_column("suspended_at")
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("must_change_password")
    with op.batch_alter_table("school", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_school_urn"), type_="unique")
        batch_op.drop_column("language")
        batch_op.drop_column("postcode")
        batch_op.drop_column("la_code")
