"""wechat_answers: the answer to a WeChat push, shared by the workers for WeChat's retries;
wechat_tokens.refreshing_until: the lease of the worker fetching a new access token (issue 15)

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wechat_answers",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_wechat_answers")),
    )
    op.create_index(op.f("ix_wechat_answers_created_at"), "wechat_answers", ["created_at"], unique=False)
    with op.batch_alter_table("wechat_tokens") as batch:
        batch.add_column(sa.Column("refreshing_until", storage.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("wechat_tokens") as batch:
        batch.drop_column("refreshing_until")
    op.drop_index(op.f("ix_wechat_answers_created_at"), table_name="wechat_answers")
    op.drop_table("wechat_answers")
