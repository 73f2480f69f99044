"""The console's visit desk on a conversation page: book, move or cancel a window for the
customer, and the engineer's word (on my way, late by N minutes, arrived, customer absent, the
result). The rules are bot/visit_desk.py's, shared with the agents' Telegram group; here the
form's fields are read and the refusals worded in the agent's language.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from bot.company import Company
from bot.i18n import Translator
from bot.visit_desk import RESULTS, VisitAction, VisitDesk, local_time, problem_text
from handlers.visit import window_label
from services.visit_reports import BadReport, Problem
from storage import visits as store
from storage.db import Store
from storage.visits import VisitResult, VisitStatus


async def desk(engine: Store, company: Company, conversation_id: int, t: Translator, now: datetime) -> dict[str, Any]:
    """What the page shows: the conversation's visits (with windows a booked one may move to), and
    windows an agent may book."""
    visit_desk = VisitDesk(engine, company)
    async with engine.connect() as conn:
        visits = await store.of_conversation(conn, conversation_id)
    number, windows = await visit_desk.bookable(conversation_id, now)
    shown = []
    for v in visits:
        moves = await visit_desk.movable(v, now) if v.status == VisitStatus.BOOKED else []
        shown.append({"id": v.id, "status": v.status, "engineer": visit_desk.engineer_name(v.engineer),
                      "window": window_label(t, v.window), "result": v.result, "log": v.log,
                      "moves": [(w.key, window_label(t, w)) for w in moves]})
    bookable = [(w.key, window_label(t, w)) for w in windows]
    return {"visits": shown, "bookable": bookable, "booking_ticket": number if bookable else None,
            "results": RESULTS}


async def act(engine: Store, company: Company, conversation_id: int, what: str, form: MultiDictProxy[Any],
              t: Translator, now: datetime, by: int | None = None) -> str | None:
    """Carry out one visit action from the page for agent `by`; None when done, else what was wrong (for the agent)."""
    try:
        action = VisitAction(what)
    except ValueError:
        raise web.HTTPNotFound(text="no such visit action") from None
    visit_desk = VisitDesk(engine, company)
    try:
        if action is VisitAction.BOOK:
            await visit_desk.book(by, conversation_id, str(form.get("window", "")), now)
            return None
        visit_id = int(str(form.get("visit", "")) or 0)
        if action is VisitAction.RESCHEDULE:
            await visit_desk.reschedule(by, conversation_id, visit_id, str(form.get("window", "")), now)
        elif action is VisitAction.CANCEL:
            await visit_desk.cancel(by, conversation_id, visit_id, str(form.get("reason", "")), now)
        elif action is VisitAction.ON_MY_WAY:
            await visit_desk.on_my_way(by, conversation_id, visit_id, now)
        elif action is VisitAction.LATE:
            await visit_desk.late(by, conversation_id, visit_id, int(str(form.get("minutes", "0")) or 0), now)
        elif action is VisitAction.ARRIVED:
            await visit_desk.arrived(by, conversation_id, visit_id, now)
        elif action is VisitAction.ABSENT:
            arrived = local_time(str(form.get("arrived", "")), t.tz, now)
            left = local_time(str(form.get("left", "")), t.tz, now)
            await visit_desk.absent(by, conversation_id, visit_id, arrived, left, now)
        else:
            out_text = str(form.get("out_of_use", "")).strip()
            await visit_desk.result(by, conversation_id, visit_id, VisitResult(str(form.get("result", ""))),
                                    str(form.get("report", "")), date.fromisoformat(out_text) if out_text else None,
                                    now.astimezone(t.tz).date(), now)
    except BadReport as error:
        return problem_text(t, error.problem)
    except ValueError:  # a forged or garbled field (a visit id, minutes, a date, a result)
        return problem_text(t, Problem.GARBLED)
    return None
