"""surveys, survey_opt_outs: return visits and satisfaction surveys (issue 13)

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0011"
down_revision = "0010"  # 0008 by convention; chained after the merged jobs migration (one head)
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = storage.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "surveys",
        sa.Column("id", BigId, nullable=False),
        sa.Column("ticket_id", BigId, nullable=False),
        sa.Column("customer_id", BigId, nullable=False),
        sa.Column("conversation_id", BigId, nullable=True),
        sa.Column("plan", sa.String(length=32), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("due_at", When, nullable=False),
        sa.Column("asked_at", When, nullable=True),
        sa.Column("reminded_at", When, nullable=True),
        sa.Column("answered_at", When, nullable=True),
        sa.Column("question", sa.Integer(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("agent_id", BigId, nullable=True),
        sa.Column("team", sa.String(length=32), nullable=True),
        sa.Column("follow_up_ticket_id", BigId, nullable=True),
        sa.Column("note", sa.String(length=64), nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f("fk_surveys_agent_id_agents")),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"], name=op.f("fk_surveys_conversation_id_conversations")),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_surveys_customer_id_customers")),
        sa.ForeignKeyConstraint(["follow_up_ticket_id"], ["tickets.id"], name=op.f("fk_surveys_follow_up_ticket_id_tickets")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_surveys_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_surveys")),
        sa.UniqueConstraint("ticket_id", "plan", "round", name="uq_surveys_ticket_plan_round"),
    )
    op.create_index("ix_surveys_status_due_at", "surveys", ["status", "due_at"], unique=False)
    op.create_index(op.f("ix_surveys_customer_id"), "surveys", ["customer_id"], unique=False)
    op.create_index(op.f("ix_surveys_conversation_id"), "surveys", ["conversation_id"], unique=False)
    op.create_table(
        "survey_opt_outs",
        sa.Column("customer_id", BigId, nullable=False),
        sa.Column("since", When, nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_survey_opt_outs_customer_id_customers")),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_survey_opt_outs")),
    )


def downgrade() -> None:
    op.drop_table("survey_opt_outs")
    op.drop_index(op.f("ix_surveys_conversation_id"), table_name="surveys")
    op.drop_index(op.f("ix_surveys_customer_id"), table_name="surveys")
    op.drop_index("ix_surveys_status_due_at", table_name="surveys")
    op.drop_table("surveys")
