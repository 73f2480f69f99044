"""The Babel catalog steps: extract, update, compile, check.

    aftersales catalog extract   # source -> locales/messages.pot
    aftersales catalog update    # messages.pot -> each locales/<l>/LC_MESSAGES/messages.po
    aftersales catalog compile   # .po -> .mo (optional: the bot compiles in memory)
    aftersales catalog check     # fails on a missing, fuzzy or ill-formatted translation
"""

from __future__ import annotations

from contextlib import chdir
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.checkers import python_format
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from bot.config import PROJECT_ROOT
from bot.i18n import DOMAIN, LOCALES_DIR
from bot.locales import DEFAULT_LOCALE, SUPPORTED_LOCALES

POT = LOCALES_DIR / f"{DOMAIN}.pot"
TRANSLATED = [code for code in SUPPORTED_LOCALES if code != DEFAULT_LOCALE]
KEYWORDS = ["-k", "_", "-k", "n:1,2", "-k", "N_", "-k", "Nn_:1,2"]


def _pybabel(*args: str) -> None:
    CommandLineInterface().run(["pybabel", "-q", *args])  # type: ignore[no-untyped-call]


def extract(output: Path = POT) -> None:
    with chdir(PROJECT_ROOT):  # source locations relative to the project, the same on every machine
        _pybabel(
            "extract", "-F", "babel.cfg", *KEYWORDS, "--no-default-keywords",
            "--sort-by-file", "--project", "aftersales-bot", "--no-wrap", "-o", str(output.resolve()), ".",
        )


def po_path(locale: str) -> Path:
    return LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def update() -> None:
    for locale in TRANSLATED:
        command = "update" if po_path(locale).exists() else "init"
        _pybabel(command, "-i", str(POT), "-d", str(LOCALES_DIR), "-D", DOMAIN, "-l", locale, "--no-wrap")


def compile_all() -> None:
    _pybabel("compile", "-d", str(LOCALES_DIR), "-D", DOMAIN, "--statistics")


def read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as fp:
        return read_po(fp, locale=locale)


def problems() -> list[str]:
    """Every gap between the source, the template and the catalogs."""
    found = []
    template = {m.id for m in read(POT) if m.id}
    for locale in TRANSLATED:
        catalog = read(po_path(locale), locale)
        have = {m.id for m in catalog if m.id}  # obsolete entries live apart, in catalog.obsolete
        for missing in sorted(template - have, key=str):
            found.append(f"{locale}: not in catalog: {missing!r}")
        for message in catalog:
            if not message.id or message.id not in template:
                continue
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            if message.fuzzy:
                found.append(f"{locale}: fuzzy: {message.id!r}")
            if not all(strings):
                found.append(f"{locale}: untranslated: {message.id!r}")
                continue
            try:
                python_format(catalog, message)
            except Exception as error:  # babel raises TranslationError
                found.append(f"{locale}: {error}: {message.id!r}")
    return found
