"""Issue 10, item 21: one term per concept in each language (the review of
2026-11 found leftovers of older terms). A term listed here as avoided must not
come back in any translation; the preferred one is what the catalog says instead."""

from __future__ import annotations

import pytest

from bot.catalogs import po_path, read

# locale -> (avoided, preferred, concept)
GLOSSARY = {
    "ka": [
        ("ნაწარმ", "პროდუქტი", "product"),
        ("თანამშრომ", "ოპერატორი", "person (agent)"),
        ("უკვე ახლა", "ახლავე", "now (calque)"),
        ("გარანტიაზე", "გარანტიის შესახებ", "about the warranty (calque)"),
    ],
    "ru": [
        ("обращени", "заявка", "ticket"),
        ("сотрудник", "оператор", "person (agent)"),
        ("несчастн", "авария, случайное повреждение", "accident (to equipment)"),
        ("время для:", "по часовому поясу «…»", "times for a place"),
        ("Заявка на ремонт»", "«Оформить ремонт»", "the menu item, quoted"),
    ],
    "zh_Hans": [
        ("分享", "发送", "share (a location, a number)"),
        ("保固", "保修", "warranty"),
        ("哪件", "哪个", "which product"),
        ("不认识", "无法识别", "unknown (command, place)"),
    ],
    "zh_Hant": [
        ("保修", "保固", "warranty"),
        ("工單", "服務單", "ticket"),
        ("聯繫", "聯絡", "contact (TW)"),
        ("不認", "無法辨識", "unknown (command, place)"),
        ("交流", "服務", "talk with you (TW)"),
    ],
}


def _strings(locale: str) -> list[tuple[str, str]]:
    found = []
    for message in read(po_path(locale), locale):
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        found += [(str(message.id), s) for s in strings if s]
    return found


@pytest.mark.parametrize("locale", sorted(GLOSSARY))
def test_one_term_per_concept(locale: str) -> None:
    strings = _strings(locale)
    for avoided, preferred, concept in GLOSSARY[locale]:
        offending = [msgid for msgid, text in strings if avoided in text]
        assert not offending, f"{locale}: {concept}: use {preferred!r}, not {avoided!r}, in {offending}"


@pytest.mark.parametrize("locale", ["ka", "ru", "zh_Hans", "zh_Hant"])
def test_no_obsolete_entries_left(locale: str) -> None:
    assert not read(po_path(locale), locale).obsolete
