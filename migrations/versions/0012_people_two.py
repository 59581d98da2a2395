"""people, part two: second factors and recovery codes, trusts and their roles, role grants that
wait for a second person, guardians' MIS identity, a school's OpenID Connect sign-in

Revision ID: 0012_people_two
Revises: 0018_pupil_groups
"""
import sqlalchemy as sa
from alembic import op

revision = "0012_people_two"
down_revision = "0018_pupil_groups"
branch_labels = None
depends_on = None


def fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"))


def upgrade():
    op.create_table(
        "trust",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trust")),
        sa.UniqueConstraint("name", name=op.f("uq_trust_name")),
    )
    op.create_table(
        "trust_school",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trust_id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        fk("trust_school", "trust_id", "trust"),
        fk("trust_school", "school_id", "school"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trust_school")),
        sa.UniqueConstraint("school_id", name=op.f("uq_trust_school_school_id")),
    )
    op.create_index(op.f("ix_trust_school_trust_id"), "trust_school", ["trust_id"], unique=False)
    op.create_table(
        "trust_membership",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("trust_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("authorised_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("suspended_at", sa.DateTime(), nullable=True),
        fk("trust_membership", "user_id", "user_account"),
        fk("trust_membership", "trust_id", "trust"),
        fk("trust_membership", "authorised_by_id", "user_account"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trust_membership")),
        sa.UniqueConstraint("user_id", "trust_id", "role", name=op.f("uq_trust_membership_user_id")),
    )
    op.create_index(op.f("ix_trust_membership_user_id"), "trust_membership", ["user_id"], unique=False)
    op.create_index(op.f("ix_trust_membership_trust_id"), "trust_membership", ["trust_id"], unique=False)
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trust_id", sa.Integer(), nullable=True))
        batch_op.alter_column("school_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_foreign_key(batch_op.f("fk_invitation_trust_id_trust"), "trust",
                                    ["trust_id"], ["id"])
        batch_op.create_index(batch_op.f("ix_invitation_trust_id"), ["trust_id"], unique=False)
    op.create_table(
        "second_factor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("secret_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(), nullable=True),
        sa.Column("last_step", sa.Integer(), nullable=True),
        fk("second_factor", "user_id", "user_account"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_second_factor")),
        sa.UniqueConstraint("user_id", name=op.f("uq_second_factor_user_id")),
    )
    op.create_table(
        "recovery_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        fk("recovery_code", "user_id", "user_account"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_code")),
    )
    op.create_index(op.f("ix_recovery_code_user_id"), "recovery_code", ["user_id"], unique=False)
    op.create_table(
        "code_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        fk("code_attempt", "user_id", "user_account"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_code_attempt")),
    )
    op.create_index(op.f("ix_code_attempt_user_id"), "code_attempt", ["user_id"], unique=False)
    op.create_index(op.f("ix_code_attempt_created_at"), "code_attempt", ["created_at"], unique=False)
    op.create_table(
        "role_proposal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("proposed_by_id", sa.Integer(), nullable=True),
        sa.Column("proposed_at", sa.DateTime(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("confirmed", sa.Boolean(), server_default=sa.false(), nullable=False),
        fk("role_proposal", "school_id", "school"),
        fk("role_proposal", "user_id", "user_account"),
        fk("role_proposal", "proposed_by_id", "user_account"),
        fk("role_proposal", "decided_by_id", "user_account"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role_proposal")),
    )
    op.create_index(op.f("ix_role_proposal_school_id"), "role_proposal", ["school_id"], unique=False)
    op.create_index(op.f("ix_role_proposal_user_id"), "role_proposal", ["user_id"], unique=False)
    op.create_table(
        "school_sign_in",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=60), nullable=False),
        sa.Column("discovery_url", sa.String(length=500), nullable=False),
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("client_secret_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        fk("school_sign_in", "school_id", "school"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_school_sign_in")),
        sa.UniqueConstraint("school_id", name=op.f("uq_school_sign_in_school_id")),
    )
    with op.batch_alter_table("guardian", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contact_key", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("parental_responsibility", sa.Boolean(), nullable=True))
        batch_op.create_index(batch_op.f("ix_guardian_contact_key"), ["contact_key"], unique=False)


def downgrade():
    with op.batch_alter_table("guardian", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_guardian_contact_key"))
        batch_op.drop_column("parental_responsibility")
        batch_op.drop_column("contact_key")
    for table in ("school_sign_in", "role_proposal", "code_attempt", "recovery_code",
                  "second_factor"):
        op.drop_table(table)
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invitation_trust_id"))
        batch_op.drop_constraint(batch_op.f("fk_invitation_trust_id_trust"), type_="foreignkey")
        batch_op.alter_column("school_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("trust_id")
    for table in ("trust_membership", "trust_school", "trust"):
        op.drop_table(table)
