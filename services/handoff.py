"""The hand-over between the bot and people: one state machine, no I/O.

A ticket's handoff is its status plus the agent who owns it; the conversation's
mode follows from the ticket it is attached to. Every change, by the customer
(asking for a person, ending the talk), by an agent (claim, transfer, release,
resolve, reopen) or by a supervisor (assign), goes through `decide`; the core
applies the outcome with one conditional UPDATE, so a decision taken on a stale
reading (another agent claimed first) changes nothing.

    bot/open --QUEUE--> queued --CLAIM/ASSIGN--> assigned(agent) --RESOLVE--> resolved
                          ^   <------REQUEUE/TRANSFER(team)------'   |              |
                          |                                          RELEASE/END -> open (bot)
                          '-----------------REOPEN (agent: assigned to them)--------'
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class TicketKind(StrEnum):
    REPAIR = "repair"
    COMPLAINT = "complaint"
    PERSON = "person"
    WARRANTY = "warranty"
    VISIT = "visit"


class TicketStatus(StrEnum):
    OPEN = "open"  # the bot (or nobody yet) handles it
    QUEUED = "queued"  # waiting for a person
    ASSIGNED = "assigned"  # a person owns it
    RESOLVED = "resolved"
    CLOSED = "closed"


class Mode(StrEnum):
    """Who speaks for us in a conversation."""

    BOT = "bot"
    QUEUED = "queued"  # the bot answers, but only to say a person is coming
    AGENT = "agent"  # a person owns it: the bot is silent except for system notices


class Step(StrEnum):
    QUEUE = "queue"  # the customer (or the bot for them) asks for a person
    CLAIM = "claim"  # an agent takes a waiting conversation
    ASSIGN = "assign"  # a supervisor gives it to an agent
    TRANSFER = "transfer"  # the owner (or a supervisor) hands it to another agent
    REQUEUE = "requeue"  # back to the queue (a transfer to a team)
    RELEASE = "release"  # an agent gives it back to the bot, unresolved
    RESOLVE = "resolve"
    REOPEN = "reopen"
    END = "end"  # the customer ends the talk with a person


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class Resolution(StrEnum):
    """Why a conversation with a person was resolved (the console offers these)."""

    ANSWERED = "answered"
    REPAIR_BOOKED = "repair_booked"
    VISIT_BOOKED = "visit_booked"
    REFUND_OR_EXCHANGE = "refund_or_exchange"
    NOT_OUR_PRODUCT = "not_our_product"
    NO_REPLY = "no_reply"
    DUPLICATE = "duplicate"


OPEN_STATUSES = (TicketStatus.OPEN, TicketStatus.QUEUED, TicketStatus.ASSIGNED)


@dataclass(frozen=True, slots=True)
class Handoff:
    status: TicketStatus
    agent_id: int | None = None

    @property
    def mode(self) -> Mode:
        return mode_of(self.status)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who takes a step: an agent (with their role), or the customer/the bot (agent_id None)."""

    agent_id: int | None = None
    role: Role | None = None

    @property
    def supervises(self) -> bool:
        return self.role in (Role.SUPERVISOR, Role.ADMIN)


CUSTOMER = Actor()


class Refused(Exception):
    """The step is not allowed from the current state; `owner`: who holds the ticket, if anyone."""

    def __init__(self, reason: str, owner: int | None = None) -> None:
        super().__init__(reason)
        self.reason, self.owner = reason, owner


def mode_of(status: TicketStatus) -> Mode:
    if status is TicketStatus.QUEUED:
        return Mode.QUEUED
    if status is TicketStatus.ASSIGNED:
        return Mode.AGENT
    return Mode.BOT


def decide(current: Handoff, step: Step, actor: Actor, target: int | None = None) -> Handoff:
    """The handoff after `step`, or Refused. `target`: the agent of an ASSIGN or TRANSFER."""
    status, owner = current.status, current.agent_id
    is_owner = actor.agent_id is not None and actor.agent_id == owner
    if step is Step.QUEUE:
        if status is TicketStatus.ASSIGNED:
            return current  # already with a person: nothing to do
        return Handoff(TicketStatus.QUEUED)
    if step is Step.END:
        if status not in (TicketStatus.QUEUED, TicketStatus.ASSIGNED):
            raise Refused("not with a person")
        return Handoff(TicketStatus.OPEN)
    if actor.agent_id is None:
        raise Refused("only an agent may do this")
    if step is Step.CLAIM:
        if status is TicketStatus.ASSIGNED:
            raise Refused("already claimed", owner)
        if status is not TicketStatus.QUEUED:
            raise Refused("not waiting for a person")
        return Handoff(TicketStatus.ASSIGNED, actor.agent_id)
    if step is Step.REOPEN:
        if status not in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
            raise Refused("not resolved")
        return Handoff(TicketStatus.ASSIGNED, actor.agent_id)
    if step is Step.ASSIGN:
        if not actor.supervises:
            raise Refused("only a supervisor assigns")
        if status not in (TicketStatus.QUEUED, TicketStatus.ASSIGNED) or target is None:
            raise Refused("not waiting for a person")
        return Handoff(TicketStatus.ASSIGNED, target)
    # The remaining steps belong to the owner (a supervisor may take them over).
    if status is not TicketStatus.ASSIGNED:
        raise Refused("not assigned", owner)
    if not (is_owner or actor.supervises):
        raise Refused("not yours", owner)
    if step is Step.TRANSFER:
        if target is None or target == owner:
            raise Refused("no other agent")
        return Handoff(TicketStatus.ASSIGNED, target)
    if step is Step.REQUEUE:
        return Handoff(TicketStatus.QUEUED)
    if step is Step.RELEASE:
        return Handoff(TicketStatus.OPEN)
    if step is Step.RESOLVE:
        return Handoff(TicketStatus.RESOLVED, owner)
    raise Refused(f"unknown step {step}")


def may_write(current: Handoff, actor: Actor) -> bool:
    """Whether the actor may speak to the customer now: only the owner (a supervisor takes over first)."""
    return current.status is TicketStatus.ASSIGNED and actor.agent_id is not None and actor.agent_id == current.agent_id


# What people type when they want a person, in each supported language (lower case;
# Chinese and Georgian words match inside a sentence, the others as whole words).
PERSON_WORDS = frozenset({
    "operator", "agent", "human", "person", "manager", "support",
    "оператор", "оператора", "оператору", "человек", "человека", "менеджер", "поддержка",
    "ოპერატორი", "ოპერატორთან", "ადამიანი", "ადამიანთან", "მენეჯერი",
})
PERSON_PHRASES = ("人工", "客服", "真人", "轉人工", "转人工", "ოპერატორ")
MISUNDERSTANDINGS_BEFORE_PERSON = 3


def asks_for_person(text: str) -> bool:
    """Whether a short free-text message asks for a human (e.g. "operator please", "转人工")."""
    lowered = text.casefold()
    if len(lowered) > 80:  # a long message is a story, not a request for a person
        return False
    if any(phrase in lowered for phrase in PERSON_PHRASES):
        return True
    words = "".join(ch if ch.isalnum() else " " for ch in lowered).split()
    return any(word in PERSON_WORDS for word in words)
