"""Every customer-facing string is translated, in every supported locale."""

from __future__ import annotations

import ast
import re
from datetime import UTC
from pathlib import Path

import pytest

from bot import catalogs
from bot.i18n import Translator
from bot.locales import SUPPORTED_LOCALES

ROOT = Path(__file__).resolve().parent.parent
# The layers that produce what customers read.
CUSTOMER_FACING = ["handlers", "bot/core", "bot/channels"]
TRANSLATING_CALLS = {"_", "n", "N_", "Nn_"}
SENTENCE = re.compile(r"[^\W\d_]{2,}[,.!?:;]?\s+[^\W\d_]{2,}")
EXEMPT = "# not customer-facing"


def test_catalogs_are_complete_without_fuzzy_entries() -> None:
    assert catalogs.problems() == []


def test_template_matches_the_source(tmp_path: Path) -> None:
    fresh = tmp_path / "messages.pot"
    catalogs.extract(fresh)
    source = {m.id for m in catalogs.read(fresh) if m.id}
    template = {m.id for m in catalogs.read(catalogs.POT) if m.id}
    assert source - template == set(), "run: aftersales catalog extract && aftersales catalog update"
    assert template - source == set(), "messages.pot has strings the code no longer uses"


def _unwrapped(path: Path, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    lines = path.read_text().splitlines()
    allowed: set[int] = set()
    for node in ast.walk(tree):
        wrapped = isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in TRANSLATING_CALLS
        logged = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and getattr(node.func.value, "id", "") in {"log", "logging"}
        if wrapped or logged or isinstance(node, ast.Raise):
            allowed.update(id(child) for child in ast.walk(node))
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and ast.get_docstring(node):
            allowed.add(id(node.body[0].value))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in allowed:
            if SENTENCE.search(node.value) and EXEMPT not in lines[node.lineno - 1]:
                found.append(f"{path.relative_to(root)}:{node.lineno}: {node.value[:60]!r}")
    return found


def test_customer_facing_strings_are_wrapped_for_translation() -> None:
    found = [hit for folder in CUSTOMER_FACING for path in sorted((ROOT / folder).rglob("*.py")) for hit in _unwrapped(path)]
    assert found == []


def test_the_lint_catches_an_unwrapped_string(tmp_path: Path) -> None:
    sample = tmp_path / "handlers" / "_lint_sample.py"  # not in the source tree
    sample.parent.mkdir()
    sample.write_text('def f(turn):\n    turn.say("Your ticket is ready")\n    turn.say(turn.t._("Translated text"))\n')
    assert [hit.split(": ", 1)[1] for hit in _unwrapped(sample, tmp_path)] == ["'Your ticket is ready'"]


@pytest.mark.parametrize("locale", [code for code in SUPPORTED_LOCALES if code != "en"])
def test_translations_are_not_english_copies(locale: str) -> None:
    catalog = catalogs.read(catalogs.po_path(locale), locale)
    same = [m.id for m in catalog if m.id and isinstance(m.id, str) and m.string == m.id and SENTENCE.search(m.id)]
    assert same == []


@pytest.mark.parametrize(
    ("locale", "counts"),
    [("ru", {1: "файл", 3: "файла", 5: "файлов", 21: "файл"}), ("en", {1: "file", 2: "files"})],
)
def test_plural_forms(locale: str, counts: dict[int, str]) -> None:
    t = Translator(locale, "Europe/Moscow")
    for count, word in counts.items():
        assert re.search(rf"\b{count} {word}\b", t.n("%(count)d file", "%(count)d files", count))


# A deadline as the customer reads it, written out by hand: 06:00 UTC on 14 Jan 2030.
DEADLINES = {
    "en": ("Mon, Jan 14 2:00\u202fPM (Shanghai)", "Mon, Jan 14 10:00\u202fAM (Tbilisi)"),
    "ru": ("пн, 14 янв. 14:00 (Шанхай)", "пн, 14 янв. 10:00 (Тбилиси)"),
    "ka": ("ორშ, 14 იან 14:00 (შანხაი)", "ორშ, 14 იან 10:00 (თბილისი)"),
    "zh_Hans": ("1月14日周一 14:00（上海）", "1月14日周一 10:00（第比利斯）"),
    "zh_Hant": ("1月14日 週一 下午2:00（上海）", "1月14日 週一 上午10:00（第比利斯）"),
}


@pytest.mark.parametrize("locale", list(DEADLINES))
def test_a_deadline_in_the_customers_language_and_zone(locale: str) -> None:
    from datetime import datetime

    from bot.i18n import Translator

    at = datetime(2030, 1, 14, 6, 0, tzinfo=UTC)
    assert (Translator(locale, "Asia/Shanghai").when(at), Translator(locale, "Asia/Tbilisi").when(at)) == DEADLINES[locale]


def test_the_catalog_check_catches_a_missing_and_a_fuzzy_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from babel.messages.pofile import write_po

    import bot.catalogs as catalogs

    copy = tmp_path / "locales"
    shutil.copytree(catalogs.LOCALES_DIR, copy)
    monkeypatch.setattr(catalogs, "LOCALES_DIR", copy)
    monkeypatch.setattr(catalogs, "POT", copy / catalogs.POT.name)
    assert catalogs.problems() == []
    ru = catalogs.read(catalogs.po_path("ru"), "ru")
    del ru["Send"]
    ru["Language"].flags.add("fuzzy")
    with catalogs.po_path("ru").open("wb") as fp:
        write_po(fp, ru, width=0)
    assert catalogs.problems() == ["ru: not in catalog: 'Send'", "ru: fuzzy: 'Language'"]
