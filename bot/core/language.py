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


def detect(language_code: str | None, text: str) -> str | None:
    return from_language_code(language_code) or from_text(text)
