"""The product catalogue: the shipped data file and the loader's error reporting."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from bot.company import DEFAULT_CATALOG_PATH, Catalog, CompanyDataError, load_catalog
from bot.locales import SUPPORTED_LOCALES

EXPECTED_PREFIXES = {
    "household_ac": "HA",
    "light_commercial_ac": "LC",
    "air_water_heater": "WH",
    "computer": "PC",
    "monitor": "MN",
    "notebook": "NB",
    "laser": "LS",
    "it_project": "IT",
}

NAMES = "\n".join(f"{loc}: name {loc}" for loc in SUPPORTED_LOCALES)


def line_yaml(id: str = "household_ac", prefix: str = "HA", names: str = NAMES,
              models: str = "- code: KFR-35GW") -> str:
    """One well-formed `lines` entry; pieces can be swapped for broken ones.

    `models` is block YAML when it starts with "- ", else an inline value (`models: <value>`).
    """
    block = models.startswith("- ")
    return (f"- id: {id}\n  serial_prefix: {prefix}\n  names:\n" + textwrap.indent(names, "    ")
            + ("\n  models:\n" + textwrap.indent(models, "    ") if block else f"\n  models: {models}") + "\n")


def write(tmp_path: Path, *entries: str) -> Path:
    path = tmp_path / "products.yaml"
    path.write_text("lines:\n" + "".join(textwrap.indent(e, "  ") for e in entries), encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(CompanyDataError) as exc:
        load_catalog(path)
    msg = str(exc.value)
    assert path.name in msg, msg
    return msg


# --- the shipped catalogue -------------------------------------------------------------------


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(DEFAULT_CATALOG_PATH)


def test_shipped_file_has_the_eight_lines_in_order(catalog: Catalog) -> None:
    assert [(line.id, line.serial_prefix) for line in catalog.lines] == list(EXPECTED_PREFIXES.items())


def test_shipped_lines_are_complete(catalog: Catalog) -> None:
    for line in catalog.lines:
        assert set(line.names) == set(SUPPORTED_LOCALES)
        assert 3 <= len(line.models) <= 6
        for model in line.models:
            assert len(model.code) <= 24
            assert not model.names or set(model.names) == set(SUPPORTED_LOCALES)
    assert catalog.line("household_ac").names["zh_Hans"] == "家用空调"
    assert catalog.line("household_ac").names["ka"] == "საყოფაცხოვრებო კონდიციონერი"


def test_lookups(catalog: Catalog) -> None:
    ac = catalog.line("household_ac")
    assert catalog.line_for_serial_prefix("HA") is ac
    assert catalog.line_for_serial_prefix("ha") is ac
    assert catalog.line_for_serial_prefix("ZZ") is None
    with pytest.raises(KeyError):
        catalog.line("toaster")
    assert ac.name_in("ru") == ac.names["ru"]
    assert ac.name_in("fr") == ac.names["en"]
    model = ac.model("kfr-35gw")
    assert model is not None and model.code == "KFR-35GW"
    assert model.name_in("fr") == model.names["en"]
    assert ac.model("nope") is None


def test_model_without_names_is_shown_by_code(tmp_path: Path) -> None:
    model = load_catalog(write(tmp_path, line_yaml())).lines[0].models[0]
    assert model.names == {} and model.name_in("ka") == "KFR-35GW"


def test_everything_is_read_as_text(tmp_path: Path) -> None:
    # Unquoted NO / 0800 stay text instead of becoming a boolean or a number.
    catalog = load_catalog(write(tmp_path, line_yaml(id="norway", prefix="NO", models="- code: 0800")))
    assert catalog.lines[0].serial_prefix == "NO" and catalog.lines[0].models[0].code == "0800"


# --- errors ----------------------------------------------------------------------------------


def test_missing_locale_name(tmp_path: Path) -> None:
    names = "\n".join(f"{loc}: x" for loc in SUPPORTED_LOCALES if loc != "ka")
    path = write(tmp_path, line_yaml(), line_yaml("monitor", "MN"), line_yaml("laser", "LS", names=names))
    assert re.search(r"products\.yaml: lines\[2\]\.names\.ka: missing \(line \d+\)", load_error(path))


def test_unknown_locale_name(tmp_path: Path) -> None:
    path = write(tmp_path, line_yaml(names=NAMES.replace("zh_Hans:", "zh_hans:")))
    assert "lines[0].names.zh_hans: unknown locale" in load_error(path)


def test_empty_name(tmp_path: Path) -> None:
    path = write(tmp_path, line_yaml(names=NAMES.replace("ru: name ru", 'ru: "  "')))
    assert "lines[0].names.ru: must not be empty" in load_error(path)


def test_model_names_need_every_locale(tmp_path: Path) -> None:
    path = write(tmp_path, line_yaml(models="- code: A1\n  names:\n    en: Only English"))
    assert "lines[0].models[0].names.zh_Hans: missing" in load_error(path)


def test_duplicate_prefix(tmp_path: Path) -> None:
    path = write(tmp_path, line_yaml(), line_yaml("monitor", "HA"))
    assert "lines[1].serial_prefix: duplicate 'HA' (also lines[0])" in load_error(path)


def test_duplicate_id(tmp_path: Path) -> None:
    path = write(tmp_path, line_yaml(), line_yaml(prefix="MN"))
    assert "lines[1].id: duplicate 'household_ac' (also lines[0])" in load_error(path)


@pytest.mark.parametrize("prefix", ["H", "ha", "HAX", "H1"])
def test_bad_prefix(tmp_path: Path, prefix: str) -> None:
    msg = load_error(write(tmp_path, line_yaml(prefix=prefix)))
    assert "lines[0].serial_prefix: must be two upper-case letters" in msg


@pytest.mark.parametrize("id", ["HouseholdAC", "household-ac", "_ac", "ac__x"])
def test_bad_id(tmp_path: Path, id: str) -> None:
    assert "lines[0].id: must be snake_case" in load_error(write(tmp_path, line_yaml(id=id)))


def test_too_long_id(tmp_path: Path) -> None:
    assert "lines[0].id: must be at most 32 characters" in load_error(write(tmp_path, line_yaml(id="a" * 33)))


def test_every_button_the_catalogue_makes_fits_telegrams_64_bytes() -> None:
    from zoneinfo import available_timezones

    from bot.channels.telegram import MAX_CALLBACK_DATA, keyboard
    from bot.company import MAX_ID
    from bot.core.events import Choice, Reply
    from handlers.repair import REPAIR

    longest_model = "X" * 24  # the longest code the loader accepts
    ids = [f"{REPAIR.name}.{slot.name}:{'a' * MAX_ID}" for slot in REPAIR.slots]
    ids += [f"{REPAIR.name}.model:{longest_model}", "warranty.serial:HA2403000123"]
    ids += [f"tz:{zone}" for zone in available_timezones()]
    assert max(len(i.encode()) for i in ids) <= MAX_CALLBACK_DATA
    with pytest.raises(ValueError, match="over 64 bytes"):
        keyboard(Reply("?", (Choice("x" * 65, "too long"),)))


@pytest.mark.parametrize(("models", "expected"), [
    ("- code: KFR 35GW", "lines[0].models[0].code: must be 1-24 characters"),
    ("- code: " + "X" * 25, "lines[0].models[0].code: must be 1-24 characters"),
    ("- code: A1\n- code: B2\n- code: a1", "lines[0].models[2].code: duplicate code 'a1' (also models[0])"),
])
def test_bad_model_code(tmp_path: Path, models: str, expected: str) -> None:
    assert expected in load_error(write(tmp_path, line_yaml(models=models)))


@pytest.mark.parametrize("models", ["[]", ""])
def test_empty_models(tmp_path: Path, models: str) -> None:
    path = write(tmp_path, line_yaml(models=models))
    assert "lines[0].models: must list at least one model" in load_error(path)


@pytest.mark.parametrize(("models", "expected"), [
    ("KFR-35GW", "lines[0].models: must be a list (got text)"),
    ("- KFR-35GW", "lines[0].models[0]: must be a mapping (got text)"),
    ("- code: [KFR, 35GW]", "lines[0].models[0].code: must be text (got a list)"),
    ("{code: KFR-35GW}", "lines[0].models: must be a list (got a mapping)"),
])
def test_wrong_field_type(tmp_path: Path, models: str, expected: str) -> None:
    assert expected in load_error(write(tmp_path, line_yaml(models=models)))


def test_unknown_field(tmp_path: Path) -> None:
    path = write(tmp_path, line_yaml() + "  colour: red\n")
    assert re.search(r"lines\[0\]\.colour: unknown field \(line 12\)", load_error(path))


def test_missing_field(tmp_path: Path) -> None:
    path = write(tmp_path, line_yaml().replace("  serial_prefix: HA\n", ""))
    assert re.search(r"lines\[0\]\.serial_prefix: missing \(line 2\)", load_error(path))


def test_duplicate_key(tmp_path: Path) -> None:
    path = write(tmp_path, line_yaml(names=NAMES + "\nka: again"))
    assert re.search(r"lines\[0\]\.names\.ka: duplicate key \(line 10\)", load_error(path))


def test_yaml_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path, line_yaml(names=NAMES.replace("ka: name ka", "ka: [unclosed")))
    assert re.search(r"products\.yaml: line \d+: YAML syntax error", load_error(path))


def test_bad_indentation(tmp_path: Path) -> None:
    path = tmp_path / "products.yaml"
    path.write_text("lines:\n  - id: monitor\n   serial_prefix: MN\n", encoding="utf-8")
    assert re.search(r"products\.yaml: line 3: YAML syntax error", load_error(path))


@pytest.mark.parametrize(("text", "expected"), [
    ("", "file is empty"),
    ("# only a comment\n", "file is empty"),
    ("- id: monitor\n", "(top level): must be a mapping (got a list)"),
    ("lines: []\n", "lines: must list at least one product line"),
    ("products: []\n", "lines: missing"),
])
def test_bad_top_level(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "products.yaml"
    path.write_text(text, encoding="utf-8")
    assert expected in load_error(path)


def test_unreadable_file(tmp_path: Path) -> None:
    assert "cannot read" in load_error(tmp_path / "products.yaml")
