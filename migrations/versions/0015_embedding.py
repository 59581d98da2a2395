"""embedding: each face and reference face keeps MobileFaceNet's embedding, encrypted like dlib's

Revision ID: 0015_embedding
Revises: 0013_video
"""
import sqlalchemy as sa
from alembic import op

revision = "0015_embedding"
down_revision = "0013_video"
branch_labels = None
depends_on = None


def upgrade():
    # Empty for rows from before: references are re-embedded from their stored photo by
    # `gatekeeper init`; faces screened before are matched by dlib's encoding alone.
    for table in ("face", "reference_face"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("embedding_encrypted", sa.LargeBinary(), nullable=True))


def downgrade():
    for table in ("face", "reference_face"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("embedding_encrypted")
