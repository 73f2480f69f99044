"""An address written inside a message: "aircon leaking, come Saturday, 15 Baker Street".

The street words per language come from data/intents.yaml (`address`). Outside Chinese, the
address is the part of a clause (between commas, question marks, line breaks) from the street
word, or from the name and number just before it ("15 Baker Street", "რუსთაველის გამზირი 12"),
on to the clause's end, with the following short clauses ("кв 12"); it needs a number. In
Chinese: the place names before a street word, the street, its section and the house number
("浦东新区张江路100号"), after an optional "地址".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cached_property

_CLAUSES = re.compile(r"[^,;!?\n，；！？。]+")
_TOKEN = re.compile(r"[^\s:：]+")
_HAN = "\u3400-\u9fff"
_LEADING = re.compile(r"^(?:地址|住址)[:：]?|^(?:我家|我住|家)?(?:在|住)")
BEFORE_STREET = 2  # name and number words taken before a street word ("15 Baker Street")
MAX_EXTRA_WORDS = 4  # a following clause this short is part of the address ("flat 12", "London")


class AddressFinder:
    def __init__(self, street_words: Iterable[str]) -> None:
        words = [w.casefold().rstrip(".") for w in street_words]
        self._words = frozenset(w for w in words if not re.search(f"[{_HAN}]", w))
        self._han = sorted({w for w in words if re.search(f"[{_HAN}]", w)}, key=len, reverse=True)

    @cached_property
    def _chinese(self) -> re.Pattern[str] | None:
        if not self._han:
            return None
        streets = "|".join(map(re.escape, self._han))
        return re.compile(
            rf"[{_HAN}]{{0,14}}?(?:{streets})(?:[一二三四五六七八九十\d]+段)?[\d\-]+[号號]"
            rf"(?:[\d\-]+(?:栋|棟|楼|樓|室|单元|單元|层|層|号|號))*"
        )

    def find(self, text: str) -> str | None:
        """The first address in `text`, as written; None."""
        if self._chinese is not None and re.search(f"[{_HAN}]", text):
            for chunk in re.split(r"[\s,，。；;！!？?]+", text):
                match = self._chinese.search(chunk)
                if match:
                    return _LEADING.sub("", match.group()) or None
        clauses = [(m.start(), m.end(), m.group()) for m in _CLAUSES.finditer(text)]
        for i, (start, end, clause) in enumerate(clauses):
            tokens = list(_TOKEN.finditer(clause))
            at = next((k for k, t in enumerate(tokens) if t.group().casefold().rstrip(".") in self._words), None)
            if at is None:
                continue
            first = at
            while first > 0 and at - first < BEFORE_STREET and _name_or_number(tokens[first - 1].group()):
                first -= 1
            last_end = end
            for _s, next_end, extra in clauses[i + 1 :]:  # "flat 12", "кв. 5"
                if len(extra.split()) > MAX_EXTRA_WORDS or not (self._has_street_word(extra) or any(ch.isdigit() for ch in extra)):
                    break
                last_end = next_end
            found = text[start + tokens[first].start() : last_end].strip(" .")
            if any(ch.isdigit() for ch in found):
                return found
        return None


    def _has_street_word(self, clause: str) -> bool:
        return any(t.casefold().rstrip(".") in self._words for t in clause.split())


def _name_or_number(word: str) -> bool:
    """A house number, a capitalised name, or a Georgian name in the genitive ("რუსთაველის")."""
    return word[0].isdigit() or word[0].isupper() or (word.endswith("ის") and "\u10d0" <= word[0] <= "\u10ff")
