"""jobs: the conversation or ticket a job concerns, its cause (to cancel), tries, end (issue 12)

Revision ID: 0009
Revises: 0008

Statuses become pending | running | done | dead | cancelled (storage.jobs.JobStatus);
nothing wrote the table before, so no row has the old `failed`.
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = storage.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    # Batch mode (SQLite rebuilds `jobs` for the foreign keys): no table points at `jobs`.
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("conversation_id", Id, nullable=True))
        batch.add_column(sa.Column("ticket_id", Id, nullable=True))
        batch.add_column(sa.Column("cause", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("max_attempts", sa.Integer(), nullable=False, server_default="5"))
        batch.add_column(sa.Column("finished_at", When, nullable=True))
        batch.create_foreign_key(op.f("fk_jobs_conversation_id_conversations"), "conversations", ["conversation_id"], ["id"])
        batch.create_foreign_key(op.f("fk_jobs_ticket_id_tickets"), "tickets", ["ticket_id"], ["id"])
        batch.create_index(op.f("ix_jobs_conversation_id"), ["conversation_id"], unique=False)
        batch.create_index(op.f("ix_jobs_ticket_id"), ["ticket_id"], unique=False)
        batch.create_index("ix_jobs_cause_status", ["cause", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_cause_status")
        batch.drop_index(op.f("ix_jobs_ticket_id"))
        batch.drop_index(op.f("ix_jobs_conversation_id"))
        batch.drop_constraint(op.f("fk_jobs_ticket_id_tickets"), type_="foreignkey")
        batch.drop_constraint(op.f("fk_jobs_conversation_id_conversations"), type_="foreignkey")
        batch.drop_column("finished_at")
        batch.drop_column("max_attempts")
        batch.drop_column("cause")
        batch.drop_column("ticket_id")
        batch.drop_column("conversation_id")
