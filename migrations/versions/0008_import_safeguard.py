"""import safeguard: each applied MIS import is a batch that can be undone; leavers' faces sealed

Revision ID: 0008_import_safeguard
Revises: 0007_gate
"""
import sqlalchemy as sa
from alembic import op

revision = "0008_import_safeguard"
down_revision = "0007_gate"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "import_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("full", sa.Boolean(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("changes_json", sa.Text(), nullable=False),
        sa.Column("undone_at", sa.DateTime(), nullable=True),
        sa.Column("undone_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["school_id"], ["school.id"],
                                name=op.f("fk_import_batch_school_id_school")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_batch")),
    )
    with op.batch_alter_table("import_batch", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_import_batch_school_id"), ["school_id"], unique=False)
    with op.batch_alter_table("reference_face", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sealed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("sealed_by_batch_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_reference_face_sealed_at"), ["sealed_at"],
                              unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_reference_face_sealed_by_batch_id_import_batch"),
                                    "import_batch", ["sealed_by_batch_id"], ["id"])


def downgrade():
    with op.batch_alter_table("reference_face", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_reference_face_sealed_by_batch_id_import_batch"),
                                 type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_reference_face_sealed_at"))
        batch_op.drop_column("sealed_by_batch_id")
        batch_op.drop_column("sealed_at")
    with op.batch_alter_table("import_batch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_import_batch_school_id"))
    op.drop_table("import_batch")
