"""Operators' data (issue 17): a product line added in data/ alone works (the serial and
the warranty answer with a new component's name in the customer's language), and a
line without warranty rules or service times fails `aftersales data check`
with a message that names the file, the line and the fix."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cli import main
from bot.company import Company, load_company
from bot.config import PROJECT_ROOT, Settings
from storage.models import Product, utcnow
from tests.memory_channel import Chat

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))

LINE = {
    "id": "dishwasher", "serial_prefix": "DW",
    "names": {"en": "Dishwasher", "zh_Hans": "洗碗机", "zh_Hant": "洗碗機", "ka": "ჭურჭლის სარეცხი მანქანა",
              "ru": "Посудомоечная машина"},
    "models": [{"code": "DW-60"}],
}
WARRANTY = {"start_basis": "invoice", "components": [
    {"component": "whole_unit", "period": "2 years", "service": "on_site"},
    {"component": "door_seal", "period": "5 years", "service": "on_site",
     "names": {"en": "door seal", "zh_Hans": "门封条", "zh_Hant": "門封條", "ka": "კარის შუასადები", "ru": "уплотнитель двери"}},
]}
SLA = {"city": {"on_site": "24h", "clock": "24x7"}}


def data_dir(tmp_path: Path, *, warranty: bool = True, sla: bool = True, names: bool = True) -> Path:
    """A copy of the shipped data with the dishwasher line added, as an operator would."""
    data = tmp_path / "data"
    shutil.copytree(PROJECT_ROOT / "data", data)

    def edit(name: str, change: object) -> None:
        path = data / name
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
        change(content)  # type: ignore[operator]
        path.write_text(yaml.safe_dump(content, allow_unicode=True, sort_keys=False), encoding="utf-8")

    edit("products.yaml", lambda c: c["lines"].append(LINE))
    if warranty:
        policy = {**WARRANTY, "components": [dict(c) for c in WARRANTY["components"]]}
        if not names:
            del policy["components"][1]["names"]
        edit("warranty.yaml", lambda c: c["lines"].__setitem__("dishwasher", policy))
    if sla:
        edit("sla.yaml", lambda c: c["lines"].__setitem__("dishwasher", SLA))
    return data


def data_check(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], data: Path) -> tuple[int, str]:
    monkeypatch.setenv("DATA_DIR", str(data))
    code = main(["data", "check"])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_a_complete_new_line_passes_the_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = data_check(monkeypatch, capsys, data_dir(tmp_path))
    assert code == 0 and "9 product lines" in out


@pytest.mark.parametrize(("missing", "expected"), [
    ({"warranty": False}, "warranty.yaml: lines: product line 'dishwasher' (products.yaml lines[8]) has no warranty rules"),
    ({"sla": False}, "sla.yaml: lines: product line 'dishwasher' (products.yaml lines[8]) has no service times"),
    ({"names": False}, "warranty.yaml: lines.dishwasher.components[1] (door_seal): a new component needs its name for customers"),
])
def test_a_line_without_warranty_rules_or_service_times_fails_the_check_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], missing: dict[str, bool], expected: str,
) -> None:
    code, out = data_check(monkeypatch, capsys, data_dir(tmp_path, **missing))
    assert code == 1 and expected in out, out
    assert out.count("\n") <= 2 and "Traceback" not in out  # one clear line, not a stack


def test_a_line_the_catalogue_lacks_is_refused_in_the_other_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    data = data_dir(tmp_path)
    products = yaml.safe_load((data / "products.yaml").read_text(encoding="utf-8"))
    products["lines"] = [line for line in products["lines"] if line["id"] != "dishwasher"]
    (data / "products.yaml").write_text(yaml.safe_dump(products, allow_unicode=True), encoding="utf-8")
    code, out = data_check(monkeypatch, capsys, data)
    assert code == 1 and "warranty.yaml: lines: 'dishwasher' is not a product line of products.yaml" in out


@pytest.fixture
def company(tmp_path: Path) -> Company:
    return load_company(Settings(data_dir=data_dir(tmp_path)))


@pytest.fixture
def clock() -> object:
    return lambda: NOW


@pytest.mark.parametrize(("language", "seal"), [("en", "door seal"), ("ru", "уплотнитель двери"), ("zh_Hans", "门封条")])
async def test_the_new_line_answers_a_warranty_check_with_its_own_component_names(
    engine: AsyncEngine, new_chat: object, language: str, seal: str,
) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(Product).values(
            serial="DW2501000042", product_line="dishwasher", model="DW-60", invoice_date=date(2025, 2, 10),
            manufactured=date(2025, 1, 1), created_at=utcnow(), updated_at=utcnow(),
        ))
    chat: Chat = new_chat(language=language)  # type: ignore[operator]
    await chat.say("/start")
    await chat.press("menu:warranty")
    await chat.say("DW2501000042")
    answer = chat.text
    assert seal in answer and "door_seal" not in answer, answer
    assert "DW-60" in answer
