"""The `aftersales` command.

    aftersales demo                 # migrate the embedded SQLite store and run
    aftersales run                  # run (web chat; Telegram with TELEGRAM_BOT_TOKEN)
    aftersales db upgrade [REV]     # apply migrations (default: head)
    aftersales db downgrade REV
    aftersales catalog extract|update|compile|check
    aftersales data check           # validate the company data files
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from bot.config import Settings


def _run(settings: Settings) -> int:
    from bot.app import serve

    with_telegram = "with Telegram" if settings.telegram_enabled() else "without Telegram (no TELEGRAM_BOT_TOKEN)"
    print(f"Service chat on http://{settings.host}:{settings.port}/ {with_telegram}. Ctrl+C stops it.", flush=True)
    try:
        asyncio.run(serve(settings))
    except KeyboardInterrupt:
        pass
    return 0


def _catalog(action: str) -> int:
    from bot import catalogs

    if action == "extract":
        catalogs.extract()
    elif action == "update":
        catalogs.update()
    elif action == "compile":
        catalogs.compile_all()
    else:
        problems = catalogs.problems()
        print("\n".join(problems) or "catalogs complete")
        return 1 if problems else 0
    return 0


def _data_check(settings: Settings) -> int:
    from bot.company import CompanyDataError, load_company

    try:
        company = load_company(settings)
    except CompanyDataError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"{len(company.catalog.lines)} product lines, {sum(len(l.models) for l in company.catalog.lines)} models: ok")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aftersales", description="After-sales service chatbot")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the service")
    commands.add_parser("demo", help="migrate the store, then run")
    db = commands.add_parser("db", help="database schema").add_subparsers(dest="action", required=True)
    db.add_parser("upgrade").add_argument("revision", nargs="?", default="head")
    db.add_parser("downgrade").add_argument("revision")
    catalog = commands.add_parser("catalog", help="translation catalogs")
    catalog.add_argument("action", choices=["extract", "update", "compile", "check"])
    commands.add_parser("data", help="company data").add_argument("action", choices=["check"])
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)  # one line per update costs ~12%
    settings = Settings()
    from bot.company import CompanyDataError

    try:
        if args.command == "db":
            from storage import db as store

            if args.action == "upgrade":
                store.upgrade(settings.database_url, args.revision)
            else:
                store.downgrade(settings.database_url, args.revision)
            return 0
        if args.command == "catalog":
            return _catalog(args.action)
        if args.command == "data":
            return _data_check(settings)
        if args.command == "demo":
            from storage.db import upgrade

            upgrade(settings.database_url)
        return _run(settings)
    except CompanyDataError as error:
        print(f"Company data error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
