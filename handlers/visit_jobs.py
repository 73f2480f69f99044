"""The visit's jobs: reminders, the engineer's word to the customer, updates on a long repair.

Registered at import (bot/app.py imports this module). Each runs in the job's
transaction, through the core like an agent's action, so it is serialised with
the customer's own messages and speaks their language (`JobTurn.t`).
"""

from __future__ import annotations

from datetime import datetime, time

from bot.core.events import Choice, Reply
from bot.i18n import N_, Translator
from bot.jobs import JobTurn, job_handler
from handlers.visit import MAINTAIN, window_label
from services.engineers import JobKind
from services.visit_reports import UPDATE_EVERY
from storage import jobs
from storage import visits as store
from storage.visits import Notice, VisitInfo, VisitJob, VisitResult, VisitStatus


async def _visit(turn: JobTurn) -> tuple[VisitInfo, Translator, str] | None:
    visit = await store.get(turn.conn, int(turn.job.payload.get("visit", 0)))
    if visit is None or turn.t is None:
        return None
    number, _, _ = await store.ticket_brief(turn.conn, visit.ticket_id)
    return visit, turn.t, number


def _engineer(turn: JobTurn, visit: VisitInfo) -> str:
    return str(turn.job.payload.get("engineer") or visit.engineer)


@job_handler(VisitJob.REMINDER_DAY)
async def remind_the_day_before(turn: JobTurn) -> None:
    found = await _visit(turn)
    if found is None or found[0].status != VisitStatus.BOOKED:
        return
    visit, t, number = found
    await turn.send(Reply(t._(
        "Reminder: tomorrow, %(window)s, %(engineer)s comes for your request %(number)s. "
        "To change the time, choose “Book a visit” in the menu.",
        window=window_label(t, visit.window), engineer=_engineer(turn, visit), number=number)))


@job_handler(VisitJob.REMINDER_HOUR)
async def remind_the_hour_before(turn: JobTurn) -> None:
    found = await _visit(turn)
    if found is None or found[0].status != VisitStatus.BOOKED:
        return
    visit, t, number = found
    await turn.send(Reply(t._("Reminder: %(engineer)s comes in about an hour (%(window)s) for your request %(number)s.",
                              window=window_label(t, visit.window), engineer=_engineer(turn, visit), number=number)))


_RESULTS = {
    VisitResult.FIXED: N_("Request %(number)s: the engineer reports that the fault is fixed. Thank you for your patience!"),
    VisitResult.NEEDS_PARTS: N_("Request %(number)s: the engineer needs parts for the repair. We will agree the next visit with you when they arrive."),
    VisitResult.ANOTHER_VISIT: N_("Request %(number)s: the repair needs another visit. Please choose a time with “Book a visit” in the menu."),
    VisitResult.WORKSHOP: N_("Request %(number)s: your unit goes to our workshop for the repair. We will keep you informed."),
}
INSTALLED = N_("Request %(number)s: the engineer reports that the installation and training are done. Thank you!")


@job_handler(VisitJob.NOTICE)
async def tell_the_customer(turn: JobTurn) -> None:
    """The engineer's word: on my way, late (with an apology), absent (a new booking offered), the result;
    an agent's booking, move or cancellation for the customer."""
    found = await _visit(turn)
    if found is None:
        return
    visit, t, number = found
    payload, engineer = turn.job.payload, _engineer(turn, visit)
    notice = Notice(payload["notice"])
    if notice is Notice.BOOKED:
        text = "\n".join([
            t._("A visit is booked for your request %(number)s: %(engineer)s will come on %(window)s.",
                number=number, engineer=engineer, window=window_label(t, visit.window)),
            t._("I will remind you the day before and an hour before. To change or cancel it, choose “Book a visit” in the menu."),
        ])
    elif notice is Notice.MOVED:
        text = "\n".join([
            t._("Your visit for request %(number)s is moved: %(engineer)s will come on %(window)s.",
                number=number, engineer=engineer, window=window_label(t, visit.window)),
            t._("I will remind you the day before and an hour before. To change or cancel it, choose “Book a visit” in the menu."),
        ])
    elif notice is Notice.CANCELLED:
        text = t._("The visit for your request %(number)s on %(window)s is cancelled. "
                   "To book a new time, choose “Book a visit” in the menu.",
                   number=number, window=window_label(t, visit.window))
    elif notice is Notice.ON_MY_WAY:
        text = t._("%(engineer)s is on the way to you for request %(number)s.", engineer=engineer, number=number)
    elif notice is Notice.LATE:
        minutes = int(payload["minutes"])
        text = t.n(
            "We are sorry: %(engineer)s is running %(count)d minute late and will arrive at about %(time)s. Please accept our apologies.",
            "We are sorry: %(engineer)s is running %(count)d minutes late and will arrive at about %(time)s. Please accept our apologies.",
            minutes, engineer=engineer, time=t.time(_local(turn, t, payload["eta"])))
    elif notice is Notice.ABSENT:
        text = t._(
            "%(engineer)s came at %(arrived)s and waited until %(left)s, but nobody was there. "
            "Please book a new time with “Book a visit” in the menu.",
            engineer=engineer, arrived=t.time(_local(turn, t, payload["arrived"])),
            left=t.time(_local(turn, t, payload["left"])))
    elif visit.kind == JobKind.INSTALLATION and payload["result"] == VisitResult.FIXED:
        text = t._(INSTALLED, number=number)
    else:
        text = t._(_RESULTS[VisitResult(payload["result"])], number=number)
    await turn.send(Reply(text))


def _local(turn: JobTurn, t: Translator, iso: str) -> time:
    return datetime.fromisoformat(iso).astimezone(t.tz).time()


@job_handler(VisitJob.REPAIR_UPDATE)
async def update_a_long_repair(turn: JobTurn) -> None:
    """Until the ticket is resolved: where the repair stands, every two days (domain.md §4)."""
    found = await _visit(turn)
    if found is None:
        return
    visit, t, number = found
    _, status, fix_due = await store.ticket_brief(turn.conn, visit.ticket_id)
    if status in ("resolved", "closed"):
        return
    if fix_due is not None and turn.now < fix_due:
        text = t._("Request %(number)s: the repair cannot be finished by the promised %(time)s. "
                   "We are sorry; we will tell you every two days how it goes.", number=number, time=t.when(fix_due))
    else:
        text = t._("Request %(number)s: the repair is still in progress. We will tell you again in two days.",
                   number=number)
    await turn.send(Reply(text))
    await jobs.schedule(turn.conn, VisitJob.REPAIR_UPDATE, turn.now + UPDATE_EVERY, dict(turn.job.payload),
                        conversation_id=turn.job.conversation_id, ticket_id=turn.job.ticket_id,
                        cause=turn.job.cause, now=turn.now)


@job_handler(VisitJob.MAINTENANCE)
async def offer_maintenance(turn: JobTurn) -> None:
    """Every three months in warranty, for the lines that promise it: a free maintenance visit, offered."""
    if turn.t is None:
        return
    t, ticket_id = turn.t, int(turn.job.payload.get("ticket", 0))
    number, _, _ = await store.ticket_brief(turn.conn, ticket_id)
    await turn.send(Reply(
        t._("Your product of request %(number)s is due for its free maintenance visit (every three months "
            "within the warranty). Would you like to book it?", number=number),
        (Choice(f"{MAINTAIN}{ticket_id}", t._("📅 Book the maintenance visit")),),
    ))
