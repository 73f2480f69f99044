"""Which agent should take a conversation: those who speak the customer's language
and know the product line first, then the least busy; nobody beyond capacity."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Candidate:
    agent_id: int
    languages: tuple[str, ...]
    product_lines: tuple[str, ...]
    load: int  # conversations they own now
    capacity: int
    online: bool = True


def rank(candidates: list[Candidate], locale: str, product_line: str | None) -> list[Candidate]:
    """Available agents, best first (online, within capacity)."""
    available = [c for c in candidates if c.online and c.load < c.capacity]

    def key(c: Candidate) -> tuple[bool, bool, float, int]:
        knows_line = product_line is None or not c.product_lines or product_line in c.product_lines
        return (locale not in c.languages, not knows_line, c.load / max(c.capacity, 1), c.agent_id)

    return sorted(available, key=key)
