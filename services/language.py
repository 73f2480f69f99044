"""Which of our languages a message is written in, when the channel does not say.

Our five languages have four scripts, so the script decides: Georgian, Cyrillic,
Latin; Chinese is Traditional when it uses more characters that exist only in
Traditional writing than only in Simplified (the common pairs below). Digits,
serials and punctuation say nothing: None.
"""

from __future__ import annotations

# Frequent characters written differently in Simplified and Traditional Chinese (same order).
_SIMPLIFIED = "们这个说门来时间维坏没机电话单请问题会还应么为对发后里开关买卖东车长气调语务员热视显备设样过边见谢约预师体质费线录号换断产报冷凉吗别让给从热离钱处进约态诉满骗听讲么儿听图书写记"
_TRADITIONAL = "們這個說門來時間維壞沒機電話單請問題會還應麼為對發後裡開關買賣東車長氣調語務員熱視顯備設樣過邊見謝約預師體質費線錄號換斷產報冷涼嗎別讓給從熱離錢處進約態訴滿騙聽講麼兒聽圖書寫記"
_ONLY_SIMPLIFIED = set(_SIMPLIFIED) - set(_TRADITIONAL)
_ONLY_TRADITIONAL = set(_TRADITIONAL) - set(_SIMPLIFIED)


def detect_locale(text: str) -> str | None:
    """The locale `text` is written in, or None when its letters do not tell."""
    counts = {"ka": 0, "ru": 0, "en": 0, "zh": 0}
    for ch in text:
        if "\u10a0" <= ch <= "\u10ff" or "\u1c90" <= ch <= "\u1cbf":
            counts["ka"] += 1
        elif "\u0400" <= ch <= "\u04ff":
            counts["ru"] += 1
        elif "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff":
            counts["zh"] += 2  # one character is about a word
        elif ch.isascii() and ch.isalpha():
            counts["en"] += 1
    # Latin letters in a Cyrillic, Georgian or Chinese message are serials and model codes.
    best = max(("ka", "ru", "zh"), key=lambda k: counts[k])
    if counts[best] == 0:
        return "en" if counts["en"] >= 2 and not _only_codes(text) else None
    if best != "zh":
        return best
    simplified = sum(ch in _ONLY_SIMPLIFIED for ch in text)
    traditional = sum(ch in _ONLY_TRADITIONAL for ch in text)
    return "zh_Hant" if traditional > simplified else "zh_Hans"


def _only_codes(text: str) -> bool:
    """Only serials, model codes and numbers ("HA2403000123", "KFR-35GW")."""
    return all(any(c.isdigit() for c in word) for word in text.split() if any(c.isalpha() for c in word))
