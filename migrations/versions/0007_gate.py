"""gate: "no faces found" confirmed by a person; at most one live post per photo and account

Revision ID: 0007_gate
Revises: 0006_merge
"""
import sqlalchemy as sa
from alembic import op

revision = "0007_gate"
down_revision = "0006_merge"
branch_labels = None
depends_on = None

LIVE = sa.text("state IN ('queued', 'publishing', 'failed', 'held', 'published')")


def upgrade():
    with op.batch_alter_table("photo", schema=None) as batch_op:
        batch_op.add_column(sa.Column("no_faces_checked_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("no_faces_checked_at", sa.DateTime(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_photo_no_faces_checked_by_id_user_account"), "user_account",
            ["no_faces_checked_by_id"], ["id"])
    # Photos screened before this revision with no face found were marked "cleared".
    op.execute("UPDATE photo SET status = 'no_faces' WHERE no_faces AND status = 'cleared'")
    op.create_index("uq_post_live_photo_account", "post", ["photo_id", "account_id"], unique=True,
                    sqlite_where=LIVE, postgresql_where=LIVE)


def downgrade():
    op.drop_index("uq_post_live_photo_account", table_name="post")
    op.execute("UPDATE photo SET status = 'cleared' WHERE status = 'no_faces'")
    with op.batch_alter_table("photo", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_photo_no_faces_checked_by_id_user_account"),
                                 type_="foreignkey")
        batch_op.drop_column("no_faces_checked_at")
        batch_op.drop_column("no_faces_checked_by_id")
