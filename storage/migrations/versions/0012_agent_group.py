"""group_topics, group_messages, telegram_link_codes, agents.telegram_user_id: the agents' Telegram group (issue 14)

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("telegram_user_id", sa.BigInteger(), nullable=True))
        batch.create_unique_constraint(op.f("uq_agents_telegram_user_id"), ["telegram_user_id"])
    op.create_table(
        "group_topics",
        sa.Column("conversation_id", _ID, nullable=False),
        sa.Column("group_id", sa.String(length=32), nullable=False),
        sa.Column("thread_id", sa.BigInteger(), nullable=True),
        sa.Column("ticket_id", _ID, nullable=True),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("updated_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"],
                                name=op.f("fk_group_topics_conversation_id_conversations")),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_group_topics")),
        sa.UniqueConstraint("group_id", "thread_id", name=op.f("uq_group_topics_group_id")),
    )
    op.create_table(
        "group_messages",
        sa.Column("id", _ID, nullable=False),
        sa.Column("group_id", sa.String(length=32), nullable=False),
        sa.Column("group_message_id", sa.BigInteger(), nullable=False),
        sa.Column("conversation_id", _ID, nullable=False),
        sa.Column("message_id", _ID, nullable=True),
        sa.Column("customer_message_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"],
                                name=op.f("fk_group_messages_conversation_id_conversations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_messages")),
        sa.UniqueConstraint("group_id", "group_message_id", name=op.f("uq_group_messages_group_id")),
    )
    op.create_index(op.f("ix_group_messages_conversation_id"), "group_messages", ["conversation_id"])
    op.create_table(
        "telegram_link_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("agent_id", _ID, nullable=False),
        sa.Column("expires_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f("fk_telegram_link_codes_agent_id_agents")),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_telegram_link_codes")),
    )
    op.create_index(op.f("ix_telegram_link_codes_agent_id"), "telegram_link_codes", ["agent_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_telegram_link_codes_agent_id"), table_name="telegram_link_codes")
    op.drop_table("telegram_link_codes")
    op.drop_index(op.f("ix_group_messages_conversation_id"), table_name="group_messages")
    op.drop_table("group_messages")
    op.drop_table("group_topics")
    with op.batch_alter_table("agents") as batch:
        batch.drop_constraint(op.f("uq_agents_telegram_user_id"), type_="unique")
        batch.drop_column("telegram_user_id")
