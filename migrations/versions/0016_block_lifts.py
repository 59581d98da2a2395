"""block lifts: the DSL's word that a blocked face is not one protected pupil

Revision ID: 0016_block_lifts
Revises: 0011_school_scale
"""
import sqlalchemy as sa
from alembic import op

revision = "0016_block_lifts"
down_revision = "0011_school_scale"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "block_lift",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("face_id", sa.Integer(), nullable=False),
        sa.Column("pupil_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("requested_at", sa.DateTime(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["decided_by_id"], ["user_account.id"],
                                name=op.f("fk_block_lift_decided_by_id_user_account")),
        sa.ForeignKeyConstraint(["face_id"], ["face.id"], name=op.f("fk_block_lift_face_id_face")),
        sa.ForeignKeyConstraint(["pupil_id"], ["pupil.id"],
                                name=op.f("fk_block_lift_pupil_id_pupil")),
        sa.ForeignKeyConstraint(["requested_by_id"], ["user_account.id"],
                                name=op.f("fk_block_lift_requested_by_id_user_account")),
        sa.ForeignKeyConstraint(["school_id"], ["school.id"],
                                name=op.f("fk_block_lift_school_id_school")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_block_lift")),
    )
    with op.batch_alter_table("block_lift", schema=None) as batch_op:
        for column in ("face_id", "pupil_id", "school_id", "state"):
            batch_op.create_index(batch_op.f(f"ix_block_lift_{column}"), [column], unique=False)


def downgrade():
    op.drop_table("block_lift")
