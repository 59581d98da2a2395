"""pupil groups: classes and clubs the school defines, which an event can name

Revision ID: 0018_pupil_groups
Revises: 0017_dated_references
"""
import sqlalchemy as sa
from alembic import op

revision = "0018_pupil_groups"
down_revision = "0017_dated_references"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "pupil_group",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["school_id"], ["school.id"],
                                name=op.f("fk_pupil_group_school_id_school")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pupil_group")),
        sa.UniqueConstraint("school_id", "name", name=op.f("uq_pupil_group_school_id")),
    )
    with op.batch_alter_table("pupil_group", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pupil_group_school_id"), ["school_id"], unique=False)
    op.create_table(
        "pupil_group_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("pupil_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["pupil_group.id"],
                                name=op.f("fk_pupil_group_member_group_id_pupil_group")),
        sa.ForeignKeyConstraint(["pupil_id"], ["pupil.id"],
                                name=op.f("fk_pupil_group_member_pupil_id_pupil")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pupil_group_member")),
        sa.UniqueConstraint("group_id", "pupil_id", name=op.f("uq_pupil_group_member_group_id")),
    )
    with op.batch_alter_table("pupil_group_member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pupil_group_member_group_id"), ["group_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_pupil_group_member_pupil_id"), ["pupil_id"],
                              unique=False)
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("groups", sa.String(length=500), server_default="", nullable=False))


def downgrade():
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_column("groups")
    op.drop_table("pupil_group_member")
    op.drop_table("pupil_group")
