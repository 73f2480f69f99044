"""customers.timezone_hint: the zone the customer's device reports

Used for times until the customer's own zone is known (issue 10, item 19).

Revision ID: 0005b
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005b"
down_revision = "0004"
branch_labels = None
depends_on = None


# Plain ADD / DROP COLUMN (SQLite 3.35+ does both natively): a batch-mode rebuild of
# `customers` would fail on DROP TABLE while other tables point at it (see 0002).
def upgrade() -> None:
    op.add_column("customers", sa.Column("timezone_hint", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("customers", "timezone_hint")
