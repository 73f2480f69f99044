"""The engineer's word from a ticket's topic in the agents' Telegram group (issue 12): /onway,
/late N, /arrived, /absent HH:MM HH:MM (arrival and leaving, the engineer's local time) and
/result fixed|parts|again|workshop <report>. The rules are bot/visit_desk.py's, as in the
console; here the command is read and the answer worded in the agent's language.
"""

from __future__ import annotations

from datetime import datetime

from bot.i18n import Translator
from bot.visit_desk import RESULTS, VisitDesk, local_time, problem_text
from services.visit_reports import MAX_LATE_MINUTES, BadReport
from storage.visits import VisitResult

COMMANDS = ("/onway", "/late", "/arrived", "/absent", "/result")
RESULT_WORDS = {"fixed": VisitResult.FIXED, "parts": VisitResult.NEEDS_PARTS, "again": VisitResult.ANOTHER_VISIT,
                "workshop": VisitResult.WORKSHOP}


async def visit_command(desk: VisitDesk, conversation_id: int, ticket_id: int | None, agent_id: int, t: Translator,
                        command: str, rest: str, now: datetime) -> str:
    """Carry out one of `COMMANDS` on the booked visit of the topic's conversation; the answer for the agent."""
    visit = await desk.booked(conversation_id, ticket_id)
    if visit is None:
        return t._("Not recorded: no visit is booked for this topic's request.")
    zone, engineer = desk.zone_of(visit), desk.engineer_name(visit.engineer)
    try:
        if command == "/onway":
            await desk.on_my_way(agent_id, conversation_id, visit.id, now)
            return t._("🚗 Recorded: %(engineer)s is on the way. The customer is told.", engineer=engineer)
        if command == "/late":
            if not rest.isdigit():
                return t._("Write the minutes after the command: /late <minutes>, 1 to %(most)d.", most=MAX_LATE_MINUTES)
            eta = await desk.late(agent_id, conversation_id, visit.id, int(rest), now)
            return t.n("⏱ Recorded: late by %(count)d minute, at the door at about %(time)s. The customer is told, with an apology.",
                       "⏱ Recorded: late by %(count)d minutes, at the door at about %(time)s. The customer is told, with an apology.",
                       int(rest), time=t.time(eta.astimezone(zone).time()))
        if command == "/arrived":
            await desk.arrived(agent_id, conversation_id, visit.id, now)
            return t._("📍 Recorded: %(engineer)s arrived at %(time)s.", engineer=engineer,
                       time=t.time(now.astimezone(zone).time()))
        if command == "/absent":
            times = rest.split()
            if len(times) != 2:
                return t._("Write when the engineer arrived and left (local time): /absent HH:MM HH:MM")
            arrived, left = (local_time(text, zone, now) for text in times)
            await desk.absent(agent_id, conversation_id, visit.id, arrived, left, now)
            return t._("🚪 Recorded: nobody was there (%(arrived)s–%(left)s). The time is freed and the customer "
                       "is asked to book a new one.", arrived=t.time(arrived.time()), left=t.time(left.time()))
        word, _, report = rest.partition(" ")
        if word.lower() not in RESULT_WORDS:
            return t._("Give the result and the engineer's report: /result fixed|parts|again|workshop <report>")
        result = RESULT_WORDS[word.lower()]
        await desk.result(agent_id, conversation_id, visit.id, result, report, None, now.astimezone(zone).date(), now)
        return t._("✅ Recorded: %(result)s. The customer is told.", result=t._(RESULTS[result]))
    except BadReport as error:
        return problem_text(t, error.problem)
