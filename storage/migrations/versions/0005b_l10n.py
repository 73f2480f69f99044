"""customers.timezone_hint: the zone the customer's device reports

Used for times until the customer's own zone is known (issue 10, item 19).

Revision ID: 0005b
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0005b"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("timezone_hint", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("timezone_hint")
