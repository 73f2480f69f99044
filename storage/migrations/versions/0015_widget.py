"""The web-chat widget (issue 17): a customer's e-mail to be reached at, a reply's "seen" time

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("email", sa.String(length=254), nullable=True))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("seen_at", storage.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("seen_at")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("email")
