"""The company's people side as data: language teams with their hours, canned replies.

`data/teams.yaml` names each team of agents, the customer languages it serves and
its business hours; `data/canned_replies.yaml` holds the standard phrases of
domain.md §7 in every supported language (an agent picks one and the customer
gets it in their own language).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from bot.locales import DEFAULT_LOCALE, SUPPORTED_LOCALES
from services.business_hours import BusinessHours
from services.datafile import load_model, problem


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Team(_Strict):
    id: str
    languages: list[str]
    business_hours: BusinessHours

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: list[str]) -> list[str]:
        for index, code in enumerate(value):
            if code not in SUPPORTED_LOCALES:
                raise problem(f"unknown locale (expected {', '.join(SUPPORTED_LOCALES)})", (index,))
        return value


class Teams(_Strict):
    teams: list[Team]
    holidays: list[date] = []
    # Minutes a conversation may wait unclaimed before the customer is offered to leave a message.
    offer_message_after_minutes: int = 10

    @model_validator(mode="after")
    def _cover(self) -> Teams:
        served = {code for team in self.teams for code in team.languages}
        for code in SUPPORTED_LOCALES:
            if code not in served:
                raise problem(f"no team serves {code}", ("teams",))
        return self

    def team_for(self, locale: str) -> Team:
        return next((team for team in self.teams if locale in team.languages), self.teams[0])


class CannedReply(_Strict):
    id: str
    title: dict[str, str]  # what the agent sees, per console language
    text: dict[str, str]  # what the customer gets, per customer language

    @field_validator("title", "text")
    @classmethod
    def _every_language(cls, value: dict[str, str]) -> dict[str, str]:
        for code in SUPPORTED_LOCALES:
            if not value.get(code, "").strip():
                raise problem("missing", (code,))
        return value

    def in_language(self, locale: str, field: str = "text") -> str:
        texts: dict[str, str] = getattr(self, field)
        return texts.get(locale) or texts[DEFAULT_LOCALE]


class CannedReplies(_Strict):
    replies: list[CannedReply]

    def get(self, reply_id: str) -> CannedReply | None:
        return next((reply for reply in self.replies if reply.id == reply_id), None)


def load_teams(path: Path) -> Teams:
    return load_model(path, Teams)


def load_canned(path: Path) -> CannedReplies:
    return load_model(path, CannedReplies, text_scalars=True)
