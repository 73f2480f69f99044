"""The core's second actor: an agent's action on a conversation.

An action (claim, reply, note, transfer, release, resolve, ...) enters the core
addressed to a conversation, like a customer's event, and is serialised with
that conversation's turns by the same committer (in one process) and by the
conversation's lock (across processes). Its ticket change, transcript lines
(author `agent` with the agent's id, or `system` for notices) and outbox rows
commit in one transaction; the handoff change is decided by
`services.handoff.decide` and applied with one conditional UPDATE.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from bot.core.events import Attachment, Choice, Reply
from bot.i18n import Translator
from bot.logs import event as log_event
from services.handoff import Actor, Handoff, Mode, Refused, Step, TicketStatus, decide, may_write
from services.ownership import ClaimStatus
from storage import agent_group as group_store
from storage import handoff as store
from storage.db import StoreConnection
from storage.products import decide_claim
from storage.turns import ConversationRow

log = logging.getLogger(__name__)


class Act(StrEnum):
    CLAIM = "claim"
    ASSIGN = "assign"
    TRANSFER = "transfer"
    REQUEUE = "requeue"
    RELEASE = "release"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    REPLY = "reply"
    NOTE = "note"
    EDIT = "edit"  # the agent corrects a reply they sent (edited in the agents' group)
    CONFIRM_OWNER = "confirm_owner"  # a customer's unverified claim on a unit: theirs
    REFUSE_OWNER = "refuse_owner"  # ... or not
    OFFER_MESSAGE = "offer_message"  # system: unclaimed too long, offer to leave a message (once a ticket)
    JOB = "job"  # system: a durable job that fell due (bot/jobs.py runs it as `Action.job`)


_STEPS = {act: Step(act.value) for act in Act if act.value in {step.value for step in Step}}

END_CHOICE = "handoff:end"  # the customer's button to return to the bot
LEAVE_CHOICE = "handoff:leave"  # the customer's button: leave a message instead of waiting


# Writes one outbox row (channel, chat id, reply) in the action's transaction; returns its id.
Emit = Callable[[str, str, Reply], Awaitable[int]]  # (a dict: an already built payload)


class JobWork(Protocol):
    """A due job's work on its conversation, inside the transaction that holds it (bot/jobs.py)."""

    async def __call__(
        self, conn: StoreConnection, row: ConversationRow, now: datetime, timezone: str, emit: Emit,
    ) -> ActionResult: ...


@dataclass(frozen=True, slots=True)
class Action:
    conversation_id: int
    act: Act
    actor: Actor
    text: str = ""
    ticket_id: int | None = None  # default: the conversation's current ticket
    target_agent_id: int | None = None  # ASSIGN, TRANSFER
    resolution: str | None = None  # RESOLVE
    team: str | None = None  # REQUEUE: the team it waits for
    attachments: tuple[Attachment, ...] = ()  # REPLY: files (`media:` references)
    claim_id: int | None = None  # CONFIRM_OWNER, REFUSE_OWNER
    identity_id: int | None = None  # another linked chat of the customer to write to (default: where they last wrote)
    job: JobWork | None = None  # JOB
    reply_to: str | None = None  # REPLY: the customer's message (channel id) it answers
    message_id: int | None = None  # EDIT: the agent's transcript line to correct
    via: str = ""  # where the agent acted ("group": the agents' Telegram group), so it is not echoed back there


@dataclass(frozen=True, slots=True)
class ActionResult:
    ok: bool
    reason: str | None = None
    owner_id: int | None = None  # who holds the ticket now (the winner, for a lost claim)
    message_id: int | None = None
    ticket_id: int | None = None


def _notice(t: Translator, act: Act, name: str | None, number: str) -> Reply | None:
    """What the customer is told (in their language) when a person's part changes."""
    end = (Choice(END_CHOICE, t._("↩ Back to the assistant")),)
    menu = (Choice("menu:menu", t._("Main menu")),)
    if act in (Act.CLAIM, Act.ASSIGN, Act.REOPEN):
        return Reply(t._("%(name)s from our service team has joined. You are now talking to a person about request %(number)s.",
                         name=name or "?", number=number), end)
    if act is Act.TRANSFER:
        return Reply(t._("%(name)s is taking over your conversation.", name=name or "?"), end)
    if act is Act.REQUEUE:
        return Reply(t._("You are back in the queue: the next free colleague will answer you here."), end)
    if act is Act.RELEASE:
        return Reply(t._("Our colleague has handed you back to the assistant. Write /agent to talk to a person again."), menu)
    if act is Act.RESOLVE:
        return Reply(t._("Your request %(number)s is resolved. You are back with the assistant; write /agent to talk to a person again.",
                         number=number), menu)
    return None


async def apply(
    conn: StoreConnection, row: ConversationRow, action: Action, now: datetime, timezone: str, emit: Emit,
) -> ActionResult:
    """Apply one action inside the transaction that holds the conversation; Refused is raised on a refusal."""
    if action.act in (Act.CONFIRM_OWNER, Act.REFUSE_OWNER):
        return await _decide_ownership(conn, row, action, now, timezone, emit)
    if action.act is Act.OFFER_MESSAGE:
        return await _offer_message(conn, row, action, now, timezone, emit)
    if action.act is Act.JOB:
        if action.job is None:
            raise Refused("no job to run")
        return await action.job(conn, row, now, timezone, emit)
    ticket_id = action.ticket_id or row.ticket_id
    if ticket_id is None:
        raise Refused("no ticket with a person")
    ticket = await store.ticket_state(conn, ticket_id, row.id)
    if ticket is None:
        raise Refused("no such ticket in this conversation")
    actor = action.actor
    where = await store.reply_address(conn, row.customer_id, row.identity_id, action.identity_id)
    t = Translator(row.locale, row.timezone or timezone)
    base: dict[str, Any] = {"conversation_id": row.id, "ticket_id": ticket.id, "channel": where.channel, "created_at": now}
    if action.act is Act.NOTE:
        message_id = await store.add_message(conn, **base, direction="out", author="agent", agent_id=actor.agent_id,
                                             internal=True, text=action.text, attachments=[])
        await store.record(conn, actor.agent_id, action.act, now, conversation_id=row.id, ticket_id=ticket.id)
        return ActionResult(True, message_id=message_id, ticket_id=ticket.id, owner_id=ticket.handoff.agent_id)
    if action.act is Act.REPLY:
        if not may_write(ticket.handoff, actor):
            raise Refused("not yours", ticket.handoff.agent_id)
        outbox_id = await emit(where.channel, where.chat_id,
                               Reply(action.text, attachments=action.attachments, reply_to=action.reply_to))
        files = [{"kind": a.kind, "ref": a.ref, "name": a.name, "mime": a.mime} for a in action.attachments]
        message_id = await store.add_message(conn, **base, direction="out", author="agent", agent_id=actor.agent_id,
                                             text=action.text, attachments=files, outbox_id=outbox_id)
        if ticket.first_response_at is None:
            await store.change_handoff(conn, ticket.id, ticket.handoff, ticket.handoff, now, first_response_at=now)
        await store.record(conn, actor.agent_id, action.act, now, conversation_id=row.id, ticket_id=ticket.id)
        return ActionResult(True, message_id=message_id, ticket_id=ticket.id, owner_id=ticket.handoff.agent_id)
    if action.act is Act.EDIT:
        return await _edit(conn, row, ticket.id, ticket.handoff, action, now, t, where.channel, where.chat_id, emit)
    after = _decide(ticket.handoff, action)
    if after.agent_id is not None and after.agent_id != ticket.handoff.agent_id and not await store.agent_is_active(conn, after.agent_id):
        raise Refused("no such agent")
    values: dict[str, Any] = {}
    if action.act is Act.RESOLVE:
        values["resolution"] = action.resolution
    if action.act is Act.REQUEUE:
        values["team"] = action.team
    if not await store.change_handoff(conn, ticket.id, ticket.handoff, after, now, **values):
        raise Refused("changed meanwhile", await store.owner_of(conn, ticket.id))
    row.mode = after.mode.value
    row.ticket_id = ticket.id if after.mode is not Mode.BOT else None
    if after.mode is not Mode.BOT:
        row.state, row.slots = "", {}
    notice = _notice(t, action.act, await store.agent_name(conn, after.agent_id), ticket.number)
    if notice is not None:
        await store.add_message(conn, **base, direction="out", author="system", agent_id=actor.agent_id,
                                text=notice.text, attachments=[], outbox_id=await emit(where.channel, where.chat_id, notice))
    await store.record(conn, actor.agent_id, action.act, now, conversation_id=row.id, ticket_id=ticket.id,
                       before=ticket.handoff.status.value, after=after.status.value, owner=after.agent_id,
                       **({"resolution": action.resolution} if action.resolution else {}))
    # Logged before the commit: a conflict after this point rolls back silently (rare).
    log_event(log, action.act.value, conversation_id=row.id, ticket=ticket.number, agent_id=actor.agent_id,
              before=ticket.handoff.status.value, after=after.status.value, owner=after.agent_id)
    return ActionResult(True, owner_id=after.agent_id, ticket_id=ticket.id)


async def _decide_ownership(
    conn: StoreConnection, row: ConversationRow, action: Action, now: datetime, timezone: str, emit: Emit,
) -> ActionResult:
    """A person decides the customer's claim on a unit (issue 9 records them, never links without
    proof): confirmed, the unit joins their file; either way they are told, in their language."""
    confirm = action.act is Act.CONFIRM_OWNER
    status = ClaimStatus.CONFIRMED if confirm else ClaimStatus.REFUSED
    claim = None
    if action.claim_id is not None:
        claim = await decide_claim(conn, action.claim_id, status, f"agent:{action.actor.agent_id}", row.customer_id)
    if claim is None:
        raise Refused("no such pending claim")
    t = Translator(row.locale, row.timezone or timezone)
    if confirm:
        text = t._("We have confirmed that the unit %(serial)s is yours; it is now in your customer file.", serial=claim.serial)
    else:
        text = t._("We could not confirm that the unit %(serial)s is yours. If you have the invoice or the warranty card, "
                   "please send a photo of it here.", serial=claim.serial)
    where = await store.reply_address(conn, row.customer_id, row.identity_id, action.identity_id)
    outbox_id = await emit(where.channel, where.chat_id, Reply(text))
    await store.add_message(conn, conversation_id=row.id, ticket_id=claim.ticket_id or row.ticket_id, channel=where.channel,
                            created_at=now, direction="out", author="system", agent_id=action.actor.agent_id,
                            text=text, attachments=[], outbox_id=outbox_id)
    await store.record(conn, action.actor.agent_id, action.act, now, conversation_id=row.id,
                       ticket_id=claim.ticket_id, claim=claim.id, serial=claim.serial)
    return ActionResult(True, ticket_id=claim.ticket_id)


async def _offer_message(
    conn: StoreConnection, row: ConversationRow, action: Action, now: datetime, timezone: str, emit: Emit,
) -> ActionResult:
    """Nobody claimed the ticket in the configured time: offer to leave a message (never silence).
    Once a ticket: the audit line is the mark, and the conversation's lock serialises the check."""
    ticket = await store.ticket_state(conn, action.ticket_id or row.ticket_id or 0, row.id)
    if ticket is None or ticket.handoff.status is not TicketStatus.QUEUED:
        raise Refused("not waiting for a person")
    if await store.offered_message(conn, ticket.id):
        raise Refused("already offered")
    t = Translator(row.locale, row.timezone or timezone)
    text = t._("Nobody has been free to take your request %(number)s yet, sorry. You can leave a message and a colleague "
               "will contact you by phone or here in the chat, or keep waiting here.", number=ticket.number)
    reply = Reply(text, (Choice(LEAVE_CHOICE, t._("✉️ Leave a message")), Choice(END_CHOICE, t._("↩ Back to the assistant"))))
    where = await store.reply_address(conn, row.customer_id, row.identity_id, action.identity_id)
    await store.add_message(conn, conversation_id=row.id, ticket_id=ticket.id, channel=where.channel, created_at=now,
                            direction="out", author="system", text=text, attachments=[],
                            outbox_id=await emit(where.channel, where.chat_id, reply))
    await store.record(conn, None, action.act, now, conversation_id=row.id, ticket_id=ticket.id)
    return ActionResult(True, ticket_id=ticket.id)


# Channels whose messages can be changed after sending; elsewhere a correction is a new message.
_EDITABLE = {"telegram", "web"}


async def _edit(conn: StoreConnection, row: ConversationRow, ticket_id: int, handoff: Handoff, action: Action,
                now: datetime, t: Translator, channel: str, chat_id: str, emit: Emit) -> ActionResult:
    """The owner corrects their reply: the customer's copy is edited (or a correction follows), the transcript too."""
    if not may_write(handoff, action.actor):
        raise Refused("not yours", handoff.agent_id)
    line = await group_store.agent_line(conn, action.message_id or 0, row.id)
    if line is None or line.agent_id != action.actor.agent_id or not action.text:
        raise Refused("not your message")
    if channel in _EDITABLE and line.channel_message_id:
        reply = Reply(action.text, replaces=line.channel_message_id)
    else:
        reply = Reply(t._("Correction: %(text)s", text=action.text))
    await emit(channel, chat_id, reply)
    await group_store.correct_line(conn, line.id, action.text)
    await store.record(conn, action.actor.agent_id, action.act, now, conversation_id=row.id, ticket_id=ticket_id,
                       message=line.id)
    return ActionResult(True, message_id=line.id, ticket_id=ticket_id, owner_id=handoff.agent_id)


def _decide(current: Handoff, action: Action) -> Handoff:
    step = _STEPS.get(action.act)
    if step is None:
        raise Refused(f"unknown action {action.act}")
    if step is Step.RESOLVE and not action.resolution:
        raise Refused("a resolution code is required")
    after = decide(current, step, action.actor, action.target_agent_id)
    if after.status is TicketStatus.ASSIGNED and after.agent_id is None:
        raise Refused("no agent")
    return after
