"""agents, console sessions, audit trail; tickets and messages learn who handles them

Revision ID: 0006
Revises: 0005b
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0006"
down_revision = "0005b"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = storage.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", Id, nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("product_lines", sa.JSON(), nullable=False),
        sa.Column("team", sa.String(length=32), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", When, nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
        sa.UniqueConstraint("login", name=op.f("uq_agents_login")),
    )
    op.create_table(
        "agent_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("agent_id", Id, nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("expires_at", When, nullable=False),
        sa.Column("revoked_at", When, nullable=True),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f("fk_agent_sessions_agent_id_agents")),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_agent_sessions")),
    )
    op.create_index(op.f("ix_agent_sessions_agent_id"), "agent_sessions", ["agent_id"], unique=False)
    op.create_table(
        "audit_log",
        sa.Column("id", Id, nullable=False),
        sa.Column("agent_id", Id, nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", Id, nullable=True),
        sa.Column("ticket_id", Id, nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f("fk_audit_log_agent_id_agents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_agent_id"), "audit_log", ["agent_id"], unique=False)
    # As in 0002: on SQLite a foreign key is added inline in ADD COLUMN (batch mode would
    # rebuild `tickets`, which fails while other rows point at it with foreign keys on).
    _add_agent_reference("tickets", "assigned_agent_id")
    op.add_column("tickets", sa.Column("team", sa.String(length=32), nullable=True))
    op.add_column("tickets", sa.Column("resolution", sa.String(length=32), nullable=True))
    op.add_column("tickets", sa.Column("first_response_at", When, nullable=True))
    op.add_column("tickets", sa.Column("response_breached_at", When, nullable=True))
    op.create_index(op.f("ix_tickets_assigned_agent_id"), "tickets", ["assigned_agent_id"], unique=False)
    op.create_index("ix_tickets_status_updated", "tickets", ["status", "updated_at"], unique=False)
    _add_agent_reference("messages", "agent_id")
    op.add_column("messages", sa.Column("internal", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("messages", sa.Column("outbox_id", Id, nullable=True))


def _is_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _add_agent_reference(table: str, column: str) -> None:
    name = f"fk_{table}_{column}_agents"
    if _is_sqlite():
        op.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER CONSTRAINT {name} REFERENCES agents (id)")
    else:
        op.add_column(table, sa.Column(column, sa.BigInteger(), nullable=True))
        op.create_foreign_key(op.f(name), table, "agents", [column], ["id"])


def _drop_agent_reference(table: str, column: str) -> None:
    if not _is_sqlite():
        op.drop_constraint(op.f(f"fk_{table}_{column}_agents"), table, type_="foreignkey")
    op.drop_column(table, column)

def downgrade() -> None:
    op.drop_column("messages", "outbox_id")
    op.drop_column("messages", "internal")
    _drop_agent_reference("messages", "agent_id")
    op.drop_index("ix_tickets_status_updated", table_name="tickets")
    op.drop_index(op.f("ix_tickets_assigned_agent_id"), table_name="tickets")
    op.drop_column("tickets", "response_breached_at")
    op.drop_column("tickets", "first_response_at")
    op.drop_column("tickets", "resolution")
    op.drop_column("tickets", "team")
    _drop_agent_reference("tickets", "assigned_agent_id")
    op.drop_index(op.f("ix_audit_log_agent_id"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index(op.f("ix_agent_sessions_agent_id"), table_name="agent_sessions")
    op.drop_table("agent_sessions")
    op.drop_table("agents")
