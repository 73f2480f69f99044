"""Fixtures for flow tests: a chat on the real core and store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.company import Company
from bot.core.dispatcher import Dispatcher
from bot.jobs import JobRunner
from handlers.router import route
from storage.models import utcnow
from tests.memory_channel import Chat


@pytest.fixture
def clock() -> Callable[[], datetime]:
    """The turns' clock; a test module overrides it with a fixed instant where the date matters."""
    return utcnow


@pytest.fixture
async def dispatcher(engine: AsyncEngine, company: Company, clock: Callable[[], datetime]) -> AsyncIterator[Dispatcher]:
    core = Dispatcher(engine, company, route, clock=clock)
    yield core
    await core.close()


@pytest.fixture
def new_chat(dispatcher: Dispatcher, engine: AsyncEngine) -> Callable[..., Chat]:
    def make(user_id: str = "u1", language: str | None = "en") -> Chat:
        return Chat(dispatcher, engine, user_id=user_id, language=language)

    return make


@pytest.fixture
def chat(new_chat: Callable[..., Chat]) -> Chat:
    return new_chat()


@pytest.fixture
def runner(engine: AsyncEngine, dispatcher: Dispatcher, clock: Callable[[], datetime]) -> JobRunner:
    """The job runner on the turns' clock, with the handlers registered by the modules imported."""
    return JobRunner(engine, dispatcher, timezone="Asia/Shanghai", clock=clock, owner="test")
