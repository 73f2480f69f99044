"""Routing a conversation to an agent (services/routing.py)."""

from __future__ import annotations

from services.routing import Candidate, rank


def ids(candidates: list[Candidate]) -> list[int]:
    return [c.agent_id for c in candidates]


def test_language_first_then_product_line_then_the_least_busy() -> None:
    team = [
        Candidate(1, ("en",), ("household_ac",), 0, 5),
        Candidate(2, ("ru", "en"), ("computer",), 0, 5),
        Candidate(3, ("ru",), ("household_ac",), 3, 5),
        Candidate(4, ("ru",), ("household_ac",), 1, 5),
        Candidate(5, ("ru",), (), 0, 5),  # no product lines listed: knows them all
    ]
    assert ids(rank(team, "ru", "household_ac")) == [5, 4, 3, 2, 1]
    assert ids(rank(team, "en", None)) == [1, 2, 3, 4, 5][:2] + [5, 4, 3]


def test_nobody_beyond_capacity_or_offline() -> None:
    team = [Candidate(1, ("ru",), (), 5, 5), Candidate(2, ("ru",), (), 0, 5, online=False), Candidate(3, ("en",), (), 4, 5)]
    assert ids(rank(team, "ru", None)) == [3]
