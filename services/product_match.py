"""Which product line a customer means by what they typed ("laptop", "кондиционер", "空调").

Whole words only ("e" is not "Household air conditioner"); scripts written without
spaces (Chinese) match as a run of characters. A line is meant when one of its names
or synonyms (data/products.yaml) is in the text, the longest such term winning; or,
failing that, when the text is part of a name ("household"). Several lines left:
the customer is asked which one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_WORD = re.compile(r"\w+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def _spaceless(text: str) -> bool:
    """Written without spaces between words (CJK ideographs, kana)."""
    return any("\u3040" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" for ch in text)


def _contains(haystack: list[str], needle: list[str]) -> bool:
    n = len(needle)
    return n > 0 and any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def _term_in(term: str, text: str) -> bool:
    if _spaceless(term):
        return "".join(_words(term)) in "".join(_words(text))
    return _contains(_words(text), _words(term))


def _text_in(text: str, term: str) -> bool:
    if _spaceless(text):
        joined = "".join(_words(text))
        return len(joined) >= 2 and joined in "".join(_words(term))
    return _contains(_words(term), _words(text))


def match_lines(text: str, terms: Mapping[str, Iterable[str]]) -> list[str]:
    """The line ids `text` may mean, best first; several: ask; none: not understood."""
    found: dict[str, int] = {}
    partial: list[str] = []
    for line_id, line_terms in terms.items():
        for term in line_terms:
            if _term_in(term, text):
                found[line_id] = max(found.get(line_id, 0), len("".join(_words(term))))
            elif _text_in(text, term) and line_id not in partial:
                partial.append(line_id)
    if found:
        best = max(found.values())
        return [line_id for line_id, size in found.items() if size == best]
    return partial
