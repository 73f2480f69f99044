"""visits and visit_slots: engineers' visits booked in the chat (issue 12)

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "visits",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("conversation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("engineer", sa.String(length=32), nullable=False),
        sa.Column("centre", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("starts_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("customer_chose_later", sa.Boolean(), nullable=False),
        sa.Column("booked_by", sa.String(length=16), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=True),
        sa.Column("report", sa.Text(), nullable=True),
        sa.Column("log", sa.JSON(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"], name=op.f("fk_visits_conversation_id_conversations")),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_visits_customer_id_customers")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_visits_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visits")),
    )
    op.create_index("ix_visits_ticket_id_status", "visits", ["ticket_id", "status"])
    op.create_index(op.f("ix_visits_customer_id"), "visits", ["customer_id"])
    op.create_index(op.f("ix_visits_engineer"), "visits", ["engineer"])
    op.create_table(
        "visit_slots",
        sa.Column("engineer", sa.String(length=32), nullable=False),
        sa.Column("starts_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("visit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(["visit_id"], ["visits.id"], name=op.f("fk_visit_slots_visit_id_visits")),
        sa.PrimaryKeyConstraint("engineer", "starts_at", name=op.f("pk_visit_slots")),
    )
    op.create_index(op.f("ix_visit_slots_visit_id"), "visit_slots", ["visit_id"])


def downgrade() -> None:
    op.drop_table("visit_slots")
    op.drop_table("visits")
