"""One customer across channels (issue 18): link codes, joined and erased files

Revision ID: 0017
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0017"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("merged_into", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True))
        batch.add_column(sa.Column("erased_at", storage.models.UTCDateTime(timezone=True), nullable=True))
    op.create_table(
        "link_codes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("identity_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_link_codes_customer_id_customers")),
        sa.ForeignKeyConstraint(["identity_id"], ["channel_identities.id"], name=op.f("fk_link_codes_identity_id_channel_identities")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_link_codes_code_hash")),
    )
    op.create_index(op.f("ix_link_codes_customer_id"), "link_codes", ["customer_id"])
    op.create_table(
        "link_attempts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("identity_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_attempts")),
    )
    op.create_index("ix_link_attempts_identity_at", "link_attempts", ["identity_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_link_attempts_identity_at", table_name="link_attempts")
    op.drop_table("link_attempts")
    op.drop_index(op.f("ix_link_codes_customer_id"), table_name="link_codes")
    op.drop_table("link_codes")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("erased_at")
        batch.drop_column("merged_into")
