"""Join the register, publishing and trust branches into one head.

Revision ID: 0006_merge
Revises: 0002_register, 0004_publishing, 0005_trust
"""

revision = "0006_merge"
down_revision = ("0002_register", "0004_publishing", "0005_trust")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
