"""The shared ticket store: SQLAlchemy 2 typed models.

Times are stored in UTC and always come back timezone-aware (SQLite keeps no
zone of its own, hence `UTCDateTime`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def table_of(model: type[Base]) -> Table:
    """The Core table of a mapped class, typed as a Table (``__table__`` is typed as a FromClause)."""
    return cast(Table, model.__table__)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(16), default="en")
    # True once the customer picked a language; detection never overrides a choice.
    locale_chosen: Mapped[bool] = mapped_column(Boolean, default=False)
    timezone: Mapped[str | None] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(32), index=True)  # as given: a contact number, unproven
    # The zone their device reports (web chat), used until `timezone` is known.
    timezone_hint: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A phone the customer proved is theirs (Telegram: their own contact card). Only this
    # one links units: sales records are matched to it, a typed number never counts.
    verified_phone: Mapped[str | None] = mapped_column(String(32), index=True)
    # One customer, one file (storage/customer_files.py): a file joined into another points at
    # it and holds nothing more; an erased file keeps only what the statistics need.
    merged_into: Mapped[int | None] = mapped_column(BigId)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Typed messages in another of our languages: "ru:2" (the latest in a row), and the
    # languages already offered ("ru,ka"), so the offer to switch comes once (handlers/language_offer.py).
    language_streak: Mapped[str | None] = mapped_column(String(24))
    language_offered: Mapped[str | None] = mapped_column(String(64))
    # An e-mail address the customer left to be reached at (the web chat's away form).
    email: Mapped[str | None] = mapped_column(String(254))


class Product(Base):
    """A unit in the product registry, from the dealers' sales records (docs/sales-import.md).

    `customer_phone` is the buyer's phone as the dealer recorded it (E.164): the product
    is linked to the customer with that phone at import, or later when such a customer
    links the serial in the chat.
    """

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    serial: Mapped[str] = mapped_column(String(32), unique=True)
    product_line: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    customer_phone: Mapped[str | None] = mapped_column(String(32), index=True)
    invoice_date: Mapped[date | None] = mapped_column(Date)
    invoice_ref: Mapped[str | None] = mapped_column(String(64))
    manufactured: Mapped[date] = mapped_column(Date)  # first day of the month in the serial
    acceptance_date: Mapped[date | None] = mapped_column(Date)  # project equipment: final acceptance
    dealer: Mapped[str | None] = mapped_column(String(200))
    install_address: Mapped[str | None] = mapped_column(Text)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChannelIdentity(Base):
    """One customer, many channels: a Telegram user, a web visitor, a WeChat openid."""

    __tablename__ = "channel_identities"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        Index("ix_channel_identities_channel_chat_id", "channel", "chat_id"),  # a chat's identity
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    chat_id: Mapped[str] = mapped_column(String(128))
    # Set when the channel refuses delivery (Telegram 403: the bot was blocked).
    unreachable_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("channel_identities.id"), unique=True)
    state: Mapped[str] = mapped_column(String(64), default="")
    slots: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    mode: Mapped[str] = mapped_column(String(16), default="bot")  # bot | queued | agent
    # The ticket a person is handling for this conversation. No foreign key:
    # tickets already point at conversations, and SQLite cannot add one later.
    ticket_id: Mapped[int | None] = mapped_column(BigId)
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_customer_created", "customer_id", "created_at"),
        Index("ix_tickets_conversation_id", "conversation_id"),
        Index("ix_tickets_status_updated", "status", "updated_at"),  # the console's queue
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # repair | complaint | person | warranty | visit
    status: Mapped[str] = mapped_column(String(16))  # open | queued | assigned | resolved | closed
    priority: Mapped[str] = mapped_column(String(8), default="normal")
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    channel: Mapped[str | None] = mapped_column(String(16))
    locale: Mapped[str] = mapped_column(String(16))
    product_line: Mapped[str | None] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(String(64))
    serial: Mapped[str | None] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(32))
    related_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    address: Mapped[str | None] = mapped_column(Text)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    phone: Mapped[str | None] = mapped_column(String(32))
    visit_date: Mapped[date | None] = mapped_column(Date)
    visit_window: Mapped[str | None] = mapped_column(String(16))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Service-time promises (SLA), filled in by the SLA rules.
    first_response_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    onsite_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fix_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The registered unit this ticket is about, and the warranty flow's verdict (JSON).
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"), index=True)
    warranty: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Downtime (domain.md §3.4): out of use from .. working again on (exclusive), and
    # whether the fault was the product's own (not caused by people); recorded by
    # `aftersales downtime`. Not judged yet (NULL) counts as its own: the customer's favour.
    out_of_use_from: Mapped[date | None] = mapped_column(Date)
    working_again_on: Mapped[date | None] = mapped_column(Date)
    own_fault: Mapped[bool | None] = mapped_column(Boolean)
    # The human side (services/handoff.py): who owns it, the team it waits for, how it ended.
    assigned_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    team: Mapped[str | None] = mapped_column(String(32))
    resolution: Mapped[str | None] = mapped_column(String(32))
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the promised first response was found missed (recorded once, supervisors alerted).
    response_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TicketCounter(Base):
    """Readable ticket numbers: one running sequence per prefix and year."""

    __tablename__ = "ticket_counters"

    prefix: Mapped[str] = mapped_column(String(4), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class Message(Base):
    """Every inbound and outbound message: the transcript of a conversation and its tickets."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_conversation_id_id", "conversation_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    author: Mapped[str] = mapped_column(String(16))  # customer | bot | agent | system
    channel: Mapped[str] = mapped_column(String(16))
    channel_message_id: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text, default="")
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # An agent's message: who wrote it, whether only agents see it (a note), and
    # the outbox row that carries it to the customer (its delivery status).
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    outbox_id: Mapped[int | None] = mapped_column(BigId)


class Agent(Base):
    """A person who answers customers in the console."""

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # services.handoff.Role
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    product_lines: Mapped[list[str]] = mapped_column(JSON, default=list)
    team: Mapped[str | None] = mapped_column(String(32))
    capacity: Mapped[int] = mapped_column(Integer, default=5)
    locale: Mapped[str] = mapped_column(String(16), default="en")  # the console's language for them
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Their Telegram account in the agents' group, linked once with a one-time code (issue 14).
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)


class AgentSession(Base):
    """A console log-in; the cookie holds the token, the store only its SHA-256."""

    __tablename__ = "agent_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    """Every agent action: who, what, on which conversation or ticket, when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[int | None] = mapped_column(BigId)
    ticket_id: Mapped[int | None] = mapped_column(BigId)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InboundReceipt(Base):
    """De-duplication of inbound deliveries (a webhook retry, a re-polled update)."""

    __tablename__ = "inbound_receipts"
    __table_args__ = (Index("ix_inbound_receipts_received_at", "received_at"),)  # retention

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxRow(Base):
    """A reply waiting for its channel. Written in the same transaction as the state change."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_channel_status_due", "channel", "status", "next_attempt_at"),
        Index("ix_outbox_channel_chat_id", "channel", "chat_id", "status"),  # a chat's replies (history)
        Index("ix_outbox_conversation_id", "conversation_id"),
        Index("ix_outbox_status_sent_at", "status", "sent_at"),  # retention; stale claims
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(128))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # pending -> sending -> sent | failed | uncertain (a crash between claim and
    # confirmation: never re-sent, so a customer never gets a message twice)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    channel_message_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the customer's page showed it (the web chat reports it): the reply's "seen" state.
    seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Job(Base):
    """Durable time-based work (reminders, survey questions, SLA checks): storage/jobs.py.

    pending -> running (claimed with a lease) -> done | pending again (retried, back-off)
    | dead (after `max_attempts`); pending or running -> cancelled (by `cause`)."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_run_at", "status", "run_at"),
        Index("ix_jobs_cause_status", "cause", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    run_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # storage.jobs.JobStatus
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    cause: Mapped[str | None] = mapped_column(String(64))  # "visit:42": cancelled together
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ProductClaim(Base):
    """A customer's claim that a registered unit is theirs, without proof: a person decides
    (storage.products.confirm_claim / refuse_claim). `phone` is the number the claimant gave,
    `phone_matches` whether it equals the dealer's record (neither is ever shown to them)."""

    __tablename__ = "product_claims"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    phone_matches: Mapped[bool | None] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # ClaimStatus
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(200))


class WebSession(Base):
    """A web-chat visitor identity the server issued: the cookie holds a random token,
    the store only its SHA-256. Rotated to a new token, ended by "forget this device"."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    visitor: Mapped[str] = mapped_column(String(64), index=True)  # the web channel's user id
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
class WeChatToken(Base):
    """WeChat's access token, shared by every worker: a new token invalidates the old one."""

    __tablename__ = "wechat_tokens"

    app_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    token: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refreshing_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a worker is fetching a new one


class LinkCode(Base):
    """A one-time code that joins another channel to a customer's file (storage/link_codes.py):
    the store keeps its SHA-256 only; single use, short-lived."""

    __tablename__ = "link_codes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("channel_identities.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LinkAttempt(Base):
    """A wrong code typed by a channel identity: counted to refuse guessing."""

    __tablename__ = "link_attempts"
    __table_args__ = (Index("ix_link_attempts_identity_at", "identity_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    identity_id: Mapped[int] = mapped_column(BigId)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class Visit(Base):
    """An engineer's visit booked for a ticket (handlers/visit.py, services/slots.py)."""

    __tablename__ = "visits"
    __table_args__ = (Index("ix_visits_ticket_id_status", "ticket_id", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    engineer: Mapped[str] = mapped_column(String(32), index=True)  # data/engineers.yaml id
    centre: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # services.engineers.JobKind
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="booked")  # storage.visits.VisitStatus
    # The customer chose a window after the on-site promise: not a breach of it.
    customer_chose_later: Mapped[bool] = mapped_column(Boolean, default=False)
    booked_by: Mapped[str] = mapped_column(String(16), default="customer")  # customer | agent
    result: Mapped[str | None] = mapped_column(String(16))  # storage.visits.VisitResult
    report: Mapped[str | None] = mapped_column(Text)
    log: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # on my way, late, absent
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class VisitSlot(Base):
    """Half an hour of one engineer's time held by a booking: the primary key makes
    a double booking of an engineer impossible, on both databases and across processes."""

    __tablename__ = "visit_slots"

    engineer: Mapped[str] = mapped_column(String(32), primary_key=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), index=True)


class Survey(Base):
    """A return visit (domain.md §5): one plan asked after one event (a resolved ticket).

    `(ticket_id, plan, round)` is unique: an event is never surveyed twice; a survey that
    found a problem is asked again (round + 1) once the problem's ticket is resolved."""

    __tablename__ = "surveys"
    __table_args__ = (
        UniqueConstraint("ticket_id", "plan", "round", name="uq_surveys_ticket_plan_round"),
        Index("ix_surveys_status_due_at", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    plan: Mapped[str] = mapped_column(String(32))
    level: Mapped[str] = mapped_column(String(8))  # services.survey_plans.Level
    round: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16))  # services.surveys.SurveyStatus
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    asked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    question: Mapped[int] = mapped_column(Integer, default=0)  # index of the question being asked
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # question id -> answer
    # Who served the customer: the agent who resolved the ticket, and the engineer of its last done visit.
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    team: Mapped[str | None] = mapped_column(String(32))
    engineer: Mapped[str | None] = mapped_column(String(32))  # data/engineers.yaml id
    follow_up_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    note: Mapped[str | None] = mapped_column(String(64))  # why it was not asked (opted out, window closed)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SurveyOptOut(Base):
    """A customer who said "no more surveys" (undone by deleting the row)."""

    __tablename__ = "survey_opt_outs"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GroupTopic(Base):
    """A conversation's topic in the agents' Telegram group (issue 14). `thread_id` is None
    while the topic is to be (re)created: deleted in the group, the next post makes a new one."""

    __tablename__ = "group_topics"
    __table_args__ = (UniqueConstraint("group_id", "thread_id"),)

    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), primary_key=True)
    group_id: Mapped[str] = mapped_column(String(32))
    thread_id: Mapped[int | None] = mapped_column(BigInteger)
    ticket_id: Mapped[int | None] = mapped_column(BigId)
    name: Mapped[str] = mapped_column(String(128))
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GroupMessage(Base):
    """A message in the agents' group and its counterpart at the customer's side, so an
    agent's reply to a copied message and an edit are mapped message to message."""

    __tablename__ = "group_messages"
    __table_args__ = (UniqueConstraint("group_id", "group_message_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    group_id: Mapped[str] = mapped_column(String(32))
    group_message_id: Mapped[int] = mapped_column(BigInteger)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(BigId)  # the transcript line
    customer_message_id: Mapped[str | None] = mapped_column(String(64))  # in the customer's channel
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TelegramLinkCode(Base):
    """A one-time code an agent sends to the bot to link their Telegram account; only its hash is kept."""

    __tablename__ = "telegram_link_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WeChatAnswer(Base):
    """The answer given to one WeChat push (MsgId, or an event's sender and time), shared by
    the workers: WeChat retries a push to any of them, and the retry gets the same answer."""

    __tablename__ = "wechat_answers"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    answer: Mapped[str | None] = mapped_column(Text)  # None: the first worker is still preparing it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
