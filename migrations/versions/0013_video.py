"""video: a clip rides the photo's life cycle (its kind, length and sound), each face track is a
face row with its per-frame boxes and times

Revision ID: 0013_video
Revises: 0012_people_two
"""
import sqlalchemy as sa
from alembic import op

revision = "0013_video"
down_revision = "0012_people_two"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("photo", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=10), server_default="photo",
                                      nullable=False))
        batch_op.add_column(sa.Column("duration_s", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("muted", sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
    with op.batch_alter_table("face", schema=None) as batch_op:
        batch_op.add_column(sa.Column("track_json", sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table("face", schema=None) as batch_op:
        batch_op.drop_column("track_json")
    with op.batch_alter_table("photo", schema=None) as batch_op:
        batch_op.drop_column("muted")
        batch_op.drop_column("duration_s")
        batch_op.drop_column("kind")
