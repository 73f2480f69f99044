"""customers: the language of their latest messages in a row, and the languages offered (issue 16)

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("language_streak", sa.String(length=24), nullable=True))
        batch.add_column(sa.Column("language_offered", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("language_offered")
        batch.drop_column("language_streak")
