"""The agents' group's first post and notices as plain functions (issue 14)."""

from __future__ import annotations

from bot.channels.telegram import MAX_TEXT
from bot.channels.telegram_group import file_text, notice_text, warranty_text
from bot.core.actions import Act
from bot.i18n import Translator

EN, RU = Translator("en", "Asia/Shanghai"), Translator("ru", "Asia/Shanghai")
FILE = {
    "products": [{"model": "WM-800", "serial": "WM8-2406-0001"}],
    "tickets": [
        {"number": "R-2026-000002", "kind": "repair", "status": "queued",
         "warranty": {"in_warranty": False, "reason": "expired"}},
        {"number": "R-2025-000001", "kind": "repair", "status": "resolved", "warranty": {"in_warranty": True}},
    ],
}


def test_the_first_post_holds_the_customer_file_and_the_talk() -> None:
    text = file_text(EN, "R-2026-000002", "Li Wei", "zh_Hans", "wechat", FILE,
                     [("customer", "/agent", False), ("bot", "A person will answer.", False), ("customer", "photo", True)])
    assert text.splitlines()[0] == "🆕 Request R-2026-000002 from Li Wei (language: zh_Hans, channel: wechat)"
    assert "Warranty: out of warranty (expired)" in text
    assert "• WM-800 (WM8-2406-0001)" in text
    assert "• R-2025-000001 (repair, resolved, in warranty)" in text
    assert "👤 photo 📎" in text and text.endswith("Press Claim or write /claim to take it.")


def test_a_long_talk_keeps_its_latest_lines_and_the_claim_hint() -> None:
    talk = [("customer", f"message {n} " + "x" * 280, False) for n in range(40)]
    text = file_text(EN, "R-1", None, "en", "telegram", {}, talk)
    assert len(text) <= MAX_TEXT
    assert "message 39" in text and "message 0 " not in text and text.endswith("/claim to take it.")


def test_warranty_verdicts_in_the_agents_language() -> None:
    assert warranty_text(EN, None) is None
    assert warranty_text(EN, {"outcome": "no_start_date"}) == "warranty start unknown (check the papers)"
    assert warranty_text(RU, {"in_warranty": True}) != "in warranty"


def test_notices_name_who_in_the_agents_language() -> None:
    assert notice_text(EN, Act.CLAIM, "Ann", "Ann", None) == "✋ Ann has taken this conversation."
    assert notice_text(RU, Act.TRANSFER, "Ann", "Bob", None) == "🔀 Ann передаёт разговор: теперь его ведёт Bob."
    assert notice_text(EN, Act.REQUEUE, "Ann", None, "china") == "🔀 Ann put this conversation back in the queue of team china."
    assert "assistant" in notice_text(EN, None, None, None, None)
