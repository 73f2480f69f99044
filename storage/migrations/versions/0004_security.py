"""security: customers' verified phone, product claims for a person, web sessions

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Plain ADD COLUMN (no batch rebuild): SQLite cannot drop `customers` while rows point at it.
    op.add_column("customers", sa.Column("verified_phone", sa.String(length=32), nullable=True))
    op.create_index(op.f("ix_customers_verified_phone"), "customers", ["verified_phone"], unique=False)
    op.create_table(
        "product_claims",
        sa.Column("id", BigId, nullable=False),
        sa.Column("product_id", BigId, nullable=False),
        sa.Column("customer_id", BigId, nullable=False),
        sa.Column("ticket_id", BigId, nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("phone_matches", sa.Boolean(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_product_claims_customer_id_customers")),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name=op.f("fk_product_claims_product_id_products")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_product_claims_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_claims")),
    )
    with op.batch_alter_table("product_claims", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_product_claims_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_product_claims_product_id"), ["product_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_product_claims_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_product_claims_ticket_id"), ["ticket_id"], unique=False)
    op.create_table(
        "web_sessions",
        sa.Column("id", BigId, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("visitor", sa.String(length=64), nullable=False),
        sa.Column("issued_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_sessions_token_hash")),
    )
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_web_sessions_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_web_sessions_visitor"), ["visitor"], unique=False)


def downgrade() -> None:
    op.drop_table("web_sessions")
    op.drop_table("product_claims")
    op.drop_index(op.f("ix_customers_verified_phone"), table_name="customers")
    op.drop_column("customers", "verified_phone")  # SQLite 3.35+: natively, no rebuild
