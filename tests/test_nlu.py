"""Typed messages (issue 16): intents, details, language, the evaluation and its targets."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.cli import main
from bot.company import load_company
from bot.config import Settings
from bot.core.language import from_text
from bot.locales import SUPPORTED_LOCALES
from bot.nlu import evaluate, understand
from services.intents import LOCALES, Intent, PartOfDay, acts_in_form, load_intents

EVAL = Path(__file__).parent / "data" / "nlu_eval.csv"
# Written as customers type before the method was tuned on it (88.6%-95% per language then), kept apart
# from the data file's terms: bench/README.md has the figures before and after.
CUSTOMERS = Path(__file__).parent / "data" / "nlu_customers.csv"
TODAY = date(2026, 12, 3)


@pytest.fixture(scope="module")
def company():
    return load_company(Settings())


def _understand(company, text: str, locale: str | None = None):
    return understand(company.intents, company.products, text, locale, today=TODAY, default_region="CN")


@pytest.mark.parametrize(("text", "intent"), [
    ("my air conditioner is leaking water", Intent.REPAIR),
    ("空调漏水了", Intent.REPAIR),
    ("冷氣漏水了", Intent.REPAIR),
    ("კონდიციონერი წყალს ჟონავს", Intent.REPAIR),
    ("кондиционер течёт", Intent.REPAIR),
    ("operator", Intent.PERSON),
    ("转人工客服", Intent.PERSON),
    ("хочу поговорить с человеком", Intent.PERSON),
])
def test_the_issue_phrases(company, text: str, intent: Intent) -> None:
    got = _understand(company, text)
    assert got.intent is intent and got.recognition.sure, got.recognition.explain()
    if intent is Intent.REPAIR:
        assert got.details.product_line == "household_ac"
        assert got.recognition.fault  # the message is the fault description


# Written after the method was tuned on CUSTOMERS, measured once (87%, a person 7/10), then the
# gaps it showed in more than one language fixed (Chinese glued to Latin, "support" in ru/ka/zh).
FRESH = Path(__file__).parent / "data" / "nlu_fresh.csv"


@pytest.mark.parametrize(("path", "least"), [(EVAL, 60), (CUSTOMERS, 40), (FRESH, 20)])
def test_the_evaluation_meets_the_targets(company, path: Path, least: int) -> None:
    report = evaluate(path, company.intents, company.products, today=TODAY, default_region="CN")
    assert set(report.total) == set(SUPPORTED_LOCALES)
    for language in SUPPORTED_LOCALES:
        assert report.total[language] >= least
        assert report.accuracy(language) >= 0.9, "\n".join(report.lines())
    assert report.person["recognised"] == report.person["asked"] > 0
    for name in ("serial", "phone", "product_line", "model", "when", "address"):
        assert report.entity.get(name) or path != EVAL or name == "address", name  # the main set has the issue's five
        if report.entity.get(name):
            assert report.prf(name)[2] >= 0.9, name
    assert report.prf()[2] >= 0.9


def test_nlu_eval_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nlu", "eval", str(EVAL), "--today", "2026-12-03"]) == 0
    out = capsys.readouterr().out
    assert "overall" in out and "requests for a person recognised: 40/40" in out and "F1" in out


def test_nlu_eval_names_a_bad_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("locale,text,intent\nen,hello,greeting\nen,hm,smalltalk\n", encoding="utf-8")
    assert main(["nlu", "eval", str(bad)]) == 1
    assert "line 3: unknown intent 'smalltalk'" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "day", "part"), [
    ("can you come tomorrow morning", date(2026, 12, 4), PartOfDay.MORNING),
    ("明天上午", date(2026, 12, 4), PartOfDay.MORNING),
    ("послезавтра после обеда", date(2026, 12, 5), PartOfDay.AFTERNOON),
    ("ხვალ დილით", date(2026, 12, 4), PartOfDay.MORNING),
    ("後天晚上可以嗎", date(2026, 12, 5), PartOfDay.EVENING),
    ("the day after tomorrow", date(2026, 12, 5), None),
    # Thursday 3 December: the next such weekday; "下周" the one of next week; "since" the past
    ("can you come on Friday", date(2026, 12, 4), None),
    ("в пятницу после обеда", date(2026, 12, 4), PartOfDay.AFTERNOON),
    ("周五", date(2026, 12, 4), None),
    ("星期五晚上", date(2026, 12, 4), PartOfDay.EVENING),
    ("პარასკევს დილით", date(2026, 12, 4), PartOfDay.MORNING),
    ("on thursday", date(2026, 12, 10), None),  # today is Thursday: next week's
    ("下周二上午", date(2026, 12, 8), PartOfDay.MORNING),
    ("下週五", date(2026, 12, 11), None),
    ("broken since monday", None, None),
    ("上周五就坏了", None, None),
])
def test_days_and_parts_of_the_day(company, text: str, day: date | None, part: PartOfDay | None) -> None:
    got = _understand(company, text).details
    assert (got.day, got.part) == (day, part)


def test_details_from_one_message(company) -> None:
    got = _understand(company, "кондиционер HA2403000123 течёт, позвоните 8 912 345-67-89", "ru").details
    assert (got.serial, got.phone, got.product_line) == ("HA2403000123", "+79123456789", "household_ac")
    assert _understand(company, "KFR-35GW空调滴水").details.model == "KFR-35GW"
    # A ticket number is not a phone number, also with Chinese right after it.
    assert _understand(company, "R-2026-000042处理到哪了").details.phone is None


@pytest.mark.parametrize(("text", "acts"), [
    ("operator", True),
    ("I want a person", True),
    ("转人工", True),
    ("отмена", True),
    ("cancel", True),
    ("the operator panel is broken", False),  # an answer to "what is wrong?"
    ("кондиционер течёт", False),
    ("человек который приходил сломал дверцу", False),
    ("Operator Street 5, flat 12, please ring twice and wait because the bell is broken", False),
])
def test_in_a_form_only_a_plain_person_or_cancel_acts(company, text: str, acts: bool) -> None:
    assert acts_in_form(company.intents.recognise(text)) is acts


def test_typos_but_not_look_alikes(company) -> None:
    assert _understand(company, "is it under warrenty").intent is Intent.WARRANTY
    assert _understand(company, "хочу общаться с опреатором").intent is Intent.PERSON
    assert _understand(company, "do you sell washing machines").intent is Intent.OTHER  # not "smell", "flashing"


def test_the_why_is_logged(company, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="services.intents")
    company.intents.recognise("кондиционер течёт")
    assert "repair (sure): repair +1.00 fault 'теч*' (ru)" in caplog.text


@pytest.mark.parametrize(("text", "locale"), [
    ("my aircon is leaking", None),  # Latin letters: English, or the channel's hint
    ("空调漏水了，师傅什么时候来", "zh_Hans"),
    ("冷氣漏水了，師傅什麼時候來", "zh_Hant"),
    ("კონდიციონერი წყალს ჟონავს", "ka"),
    ("кондиционер HA2403000123 течёт", "ru"),
    ("HA2403000123", None),
])
def test_language_of_a_first_message(text: str, locale: str | None) -> None:
    assert from_text(text) == locale


def test_the_data_file_is_checked(tmp_path: Path) -> None:
    assert LOCALES == SUPPORTED_LOCALES
    good = (Path(__file__).parent.parent / "data" / "intents.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "intents.yaml"
    bad.write_text(good.replace("    ru: [оператор*,", "    rus: [оператор*,", 1).replace('"ремонт*"', '"рем*онт"'), encoding="utf-8")
    with pytest.raises(ValueError) as error:
        load_intents(bad)
    message = str(error.value)
    assert "intents.person.rus: unknown locale (expected en, zh_Hans, zh_Hant, ka, ru) (line " in message
    bad.write_text(good.replace("ремонт*, почин*", "рем*онт, почин*", 1), encoding="utf-8")
    with pytest.raises(ValueError, match=r"intents\.repair\.ru\[0\]: \* may only end a word .*\(line \d+\)"):
        load_intents(bad)


def test_a_day_in_a_complaint_is_no_visit_and_a_language_no_product(company) -> None:
    got = _understand(company, "your engineer never came on tuesday, terrible")
    assert got.intent is Intent.COMPLAINT and got.details.day is None
    got = _understand(company, "switch to russian please")
    assert got.intent is Intent.LANGUAGE and got.details.product_line is None  # not the network switch


@pytest.mark.parametrize(("text", "line"), [
    ("the screen on my laptop cracked", "notebook"),
    ("экран ноутбука треснул", "notebook"),
    ("ლეპტოპის ეკრანი გაიბზარა", "notebook"),
    ("pc keeps crashing with blue screen", "computer"),
    ("monitor screen flickers", "monitor"),
    ("the screen flickers", "monitor"),
])
def test_a_part_word_gives_way_to_the_product_it_belongs_to(company, text: str, line: str) -> None:
    assert _understand(company, text).details.product_line == line


@pytest.mark.parametrize(("text", "intent"), [
    ("ремонт будет бесплатный или платный", Intent.WARRANTY),  # "бесплатн* ремонт*" in another order
    ("screen went black on my laptop", Intent.REPAIR),  # "black screen"
    ("i dont want to talk to a bot", Intent.PERSON),  # "dont want" beside a person counts half
])
def test_words_of_a_term_in_another_order(company, text: str, intent: Intent) -> None:
    assert _understand(company, text).intent is intent


@pytest.mark.parametrize(("text", "address"), [
    ("aircon leaking, can someone come on saturday morning? 15 Baker Street", "15 Baker Street"),
    ("I live at 221B Baker Street, flat 3, London", "221B Baker Street, flat 3"),
    ("течет кондиционер, мастер нужен в пятницу утром, ул. Ленина 5, кв. 12", "ул. Ленина 5, кв. 12"),
    ("კონდიციონერი ჟონავს, რუსთაველის გამზირი 12", "რუსთაველის გამზირი 12"),
    ("空调漏水 周五上午能来修吗 地址浦东新区张江路100号", "浦东新区张江路100号"),
    ("冷氣漏水 地址台北市信義路五段7號", "台北市信義路五段7號"),
    ("the street lamp is broken", None),  # a street word without a number
    ("R-2026-000042处理到哪了", None),
])
def test_an_address_in_a_message(company, text: str, address: str | None) -> None:
    assert _understand(company, text).details.address == address


def test_weekdays_in_the_data_file_are_checked(tmp_path: Path) -> None:
    good = (Path(__file__).parent.parent / "data" / "intents.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "intents.yaml"
    bad.write_text(good.replace("friday: 5,", "friday: 8,", 1), encoding="utf-8")
    with pytest.raises(ValueError, match=r"when\.weekdays\.en\.friday: must be a weekday from 1 \(Monday\) to 7 \(Sunday\)"):
        load_intents(bad)


def test_nlu_explain_command(capsys: pytest.CaptureFixture[str]) -> None:
    """An operator asks why: the intent, each term with its language and weight, the details."""
    assert main(["nlu", "explain", "кондиционер течёт, приходите в пятницу утром", "--today", "2026-12-03"]) == 0
    out = capsys.readouterr().out
    assert "intent: repair (sure: acted on)" in out and "repair +1.00 fault 'теч*' (ru)" in out
    assert "product_line household_ac" in out and "when 2026-12-04 morning" in out


def test_latin_glued_to_chinese_is_a_word_of_its_own(company) -> None:
    got = _understand(company, "UPS一直在叫")
    assert got.details.product_line == "it_project" and got.intent is Intent.REPAIR
