"""Which language to answer in: the channel's hint, else the script of the text."""

from __future__ import annotations

# Characters that exist in only one of the two Chinese scripts (common words of
# after-sales talk: this, that, machine, repair, phone, ...).
_HANT_ONLY = set("這個們來時會說對問題電話維機號請報謝麼為與實還點開關發變幫際預約" "氣壞沒師調語務員熱視顯設過見費換斷產涼嗎讓給從錢處進態訴滿騙聽講轉單裝買賣東車長幾")
_HANS_ONLY = set("这个们来时会说对问题电话维机号请报谢么为与实还点开关发变帮际预约" "气坏没师调语务员热视显设过见费换断产凉吗让给从钱处进态诉满骗听讲转单装买卖东车长几")


def from_language_code(code: str | None) -> str | None:
    """Map an IETF tag such as Telegram's `language_code` ("zh-hant", "ru", "en-US")."""
    if not code:
        return None
    parts = code.replace("_", "-").lower().split("-")
    if parts[0] == "zh":
        traditional = {"hant", "tw", "hk", "mo"}
        return "zh_Hant" if traditional & set(parts[1:]) else "zh_Hans"
    return {"en": "en", "ka": "ka", "ru": "ru"}.get(parts[0])


def from_text(text: str) -> str | None:
    """Guess from the writing system; None when the text gives no hint (Latin, digits)."""
    georgian = cyrillic = han = hant = hans = 0
    for ch in text:
        code = ord(ch)
        if 0x10A0 <= code <= 0x10FF or 0x1C90 <= code <= 0x1CBF:
            georgian += 1
        elif 0x0400 <= code <= 0x04FF:
            cyrillic += 1
        elif 0x4E00 <= code <= 0x9FFF:
            han += 1
            hant += ch in _HANT_ONLY
            hans += ch in _HANS_ONLY
    best = max(georgian, cyrillic, han)
    if best == 0:
        return None
    if best == georgian:
        return "ka"
    if best == cyrillic:
        return "ru"
    return "zh_Hant" if hant > hans else "zh_Hans"


# Common English words: Latin letters alone do not tell English (serials, model codes, names).
_ENGLISH = frozenset((
    "the my is it not and to a i you me please pls can with have has this that what how are was "  # not customer-facing
    "do does dont don't doesnt doesn't want need help of on in for your yes no hello hi thanks thank"  # not customer-facing
).split())
ENGLISH_WORDS_MIN = 2


def written_in(text: str, current: str) -> str | None:
    """The language a typed message is written in, as far as it tells, for a customer spoken to
    in `current`: the script; English by its common words; Chinese of the other script only when
    its own characters say so (most characters are the same in both)."""
    found = from_text(text)
    if found is None:
        latin = [w for w in "".join(ch if ch.isascii() and (ch.isalpha() or ch == "'") else " " for ch in text.casefold()).split()]
        return "en" if sum(w in _ENGLISH for w in latin) >= ENGLISH_WORDS_MIN else None
    if found.startswith("zh") and current.startswith("zh"):
        own = _HANT_ONLY if current == "zh_Hant" else _HANS_ONLY
        other = _HANS_ONLY if current == "zh_Hant" else _HANT_ONLY
        if any(ch in own for ch in text) or not any(ch in other for ch in text):
            return current
    return found


def detect(language_code: str | None, text: str) -> str | None:
    return from_language_code(language_code) or from_text(text)
