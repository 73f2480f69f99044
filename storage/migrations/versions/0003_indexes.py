"""indexes for per-chat and per-conversation lookups, and for retention

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 11:10:00
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

INDEXES = [
    ("ix_channel_identities_channel_chat_id", "channel_identities", ["channel", "chat_id"]),
    ("ix_tickets_conversation_id", "tickets", ["conversation_id"]),
    ("ix_inbound_receipts_received_at", "inbound_receipts", ["received_at"]),
    ("ix_outbox_channel_chat_id", "outbox", ["channel", "chat_id", "status"]),
    ("ix_outbox_conversation_id", "outbox", ["conversation_id"]),
    ("ix_outbox_status_sent_at", "outbox", ["status", "sent_at"]),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
