"""wechat_answers: the answer to a WeChat push, shared by the workers for WeChat's retries (issue 15)

Revision ID: 0013
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0013"
down_revision = "0008"
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


def downgrade() -> None:
    op.drop_index(op.f("ix_wechat_answers_created_at"), table_name="wechat_answers")
    op.drop_table("wechat_answers")
