"""The `aftersales` command.

    aftersales demo                 # migrate the embedded SQLite store and run
    aftersales run                  # migrate if needed, run (web chat; Telegram with TELEGRAM_BOT_TOKEN)
    aftersales db upgrade [REV]     # apply migrations (default: head)
    aftersales db downgrade REV
    aftersales catalog extract|update|compile|check
    aftersales data check           # validate the company data files
    aftersales import-sales FILE [--report REPORT.csv]   # dealers' sales records (docs/sales-import.md)
    aftersales customer-file CUSTOMER_ID                 # a customer's file as JSON
    aftersales customer export ID | erase ID --yes       # everything the file holds (with messages) | erase personal data
    aftersales customer join KEEP MERGE --reason R [--phones-checked] | split IDENTITY --reason R
    aftersales report weekly|monthly [--csv DIR]         # the service report (domain.md §6)
    aftersales downtime TICKET --out-of-use DAY [--working-again DAY] [--caused-by-use]
    aftersales agent add LOGIN --name NAME [--role agent|supervisor|admin] [--languages ru,en] ...
    aftersales agent disable LOGIN | agent password LOGIN   # the password is asked for (or read from stdin)
    aftersales nlu eval FILE.csv [--today YYYY-MM-DD]   # score the typed-message recogniser
    aftersales nlu explain "TEXT" [--locale ru]        # what the bot makes of a message, and why
    aftersales wechat menu [--locale zh_Hans]            # the Official Account's custom menu
    aftersales worker [--once]      # run only the durable jobs, as a process of its own
    aftersales jobs [list] [--status dead] [--cause visit:42] | jobs retry ID   # durable jobs (JSON lines)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from bot.config import Settings
from bot.logs import configure as configure_logging

T = TypeVar("T")


def _run(settings: Settings) -> int:
    """Migrate the store if it is behind, then serve until SIGTERM or SIGINT (a clean stop)."""
    from bot.app import ConfigError, serve
    from bot.startup import migrated, until_signalled

    if not migrated(settings.database_url):
        return 2
    with_telegram = "with Telegram" if settings.telegram_enabled() else "without Telegram (no TELEGRAM_BOT_TOKEN)"
    print(f"Service chat on http://{settings.host}:{settings.port}/ {with_telegram}. Ctrl+C stops it.", flush=True)
    try:
        asyncio.run(until_signalled(lambda stop: serve(settings, stop)))
    except ConfigError as error:
        print(f"Not started: {error}", file=sys.stderr)
        return 2
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
    engineers = len(company.roster.engineers) if company.roster else 0
    print(f"{len(company.catalog.lines)} product lines, {sum(len(line.models) for line in company.catalog.lines)} models, "
          f"{engineers} engineers: ok")
    return 0


def _nlu_eval(settings: Settings, file: str, today: date) -> int:
    from bot.company import load_company
    from bot.nlu import evaluate

    company = load_company(settings)
    try:
        report = evaluate(Path(file), company.intents, company.products, today=today,
                          default_region=company.phone_region)
    except (OSError, ValueError, KeyError) as error:
        print(f"nlu eval: {error}", file=sys.stderr)
        return 1
    print("\n".join(report.lines()))
    return 0


def _nlu_explain(settings: Settings, text: str, locale: str | None, today: date) -> int:
    from bot.company import load_company
    from bot.nlu import explain

    company = load_company(settings)
    print("\n".join(explain(company.intents, company.products, text, locale, today=today,
                            default_region=company.phone_region)))
    return 0


def _on_store(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run `work(engine)` on a fresh engine for the configured store, disposed afterwards."""
    from storage.db import create_engine

    async def run() -> T:
        engine = create_engine(settings.database_url)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _report(settings: Settings, span: str, csv_dir: str | None) -> int:
    """Print the report's tables (and write them as CSV files when asked)."""
    from pathlib import Path

    from services.engineers import load_roster
    from services.reports import Span, Window
    from storage.models import utcnow
    from storage.reports import report

    thresholds = {Window(k): v for k, v in settings.early_warning_thresholds().items()}
    roster = settings.data_dir / "engineers.yaml"
    names = load_roster(roster).names() if roster.exists() else None
    result = _on_store(settings, lambda engine: report(engine, Span(span), utcnow(), thresholds, names))
    print(f"{span} report {result.start:%Y-%m-%d %H:%M} .. {result.end:%Y-%m-%d %H:%M} UTC")
    for table in result.tables:
        print(f"\n{table.title}")
        widths = [max(len(str(c)) for c in column) for column in zip(table.headers, *table.rows, strict=False)]
        for row in (table.headers, *table.rows):
            print("  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)))
        if csv_dir:
            Path(csv_dir).mkdir(parents=True, exist_ok=True)
            (Path(csv_dir) / f"{table.key}.csv").write_text(table.to_csv(), encoding="utf-8")
    return 0


def _today(timezone: str) -> date:
    """Today in the company's time zone (what "in the future" means to the company's data)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(timezone)).date()


def _import_sales(settings: Settings, path: str, report_path: str | None) -> int:
    """Import a sales-record CSV; exit 0 if every row was accepted or unchanged, 1 if some were rejected."""
    import csv
    import time

    from bot.company import load_company
    from services.sales_records import HeaderError, RecordParser, read_rows
    from storage.products import Outcome, RowResult, import_sales

    company = load_company(settings)
    parser = RecordParser(company.catalog, _today(company.timezone), company.phone_region)
    rejected: list[RowResult] = []

    def run(source: Any, report: Any) -> Any:
        def on_result(result: RowResult) -> None:
            if report:
                report.writerow([result.row, result.serial, result.outcome.value, result.reason])
            if result.outcome is Outcome.REJECTED and len(rejected) < 20:
                rejected.append(result)

        return _on_store(settings, lambda engine: import_sales(
            engine, read_rows(source), parser, on_result=on_result,
            on_progress=lambda done: print(f"{done:,} rows...", file=sys.stderr, flush=True),
        ))

    started = time.perf_counter()
    try:
        # Undecodable bytes become U+FFFD and the rows holding them are rejected.
        with open(path, encoding="utf-8-sig", errors="replace", newline="") as source:
            if report_path:
                with open(report_path, "w", encoding="utf-8-sig", newline="") as out:
                    report = csv.writer(out)
                    report.writerow(["row", "serial", "outcome", "reason"])
                    counts = run(source, report)
            else:
                counts = run(source, None)
    except (OSError, HeaderError) as error:
        print(f"{path}: {error}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - started
    print(f"{counts.rows:,} rows in {seconds:.1f} s: {counts.accepted:,} accepted, "
          f"{counts.unchanged:,} unchanged, {counts.rejected:,} rejected")
    if rejected and not report_path:
        for result in rejected:
            print(f"row {result.row} {result.serial}: {result.reason}", file=sys.stderr)
        more = counts.rejected - len(rejected)
        print(f"{'... and ' + format(more, ',') + ' more; ' if more else ''}use --report FILE.csv for every row",
              file=sys.stderr)
    return 1 if counts.rejected else 0


def _customer_file(settings: Settings, customer_id: int) -> int:
    import json

    from storage.products import customer_file

    data = _on_store(settings, lambda engine: customer_file(engine, customer_id))
    if data is None:
        print(f"no customer {customer_id}", file=sys.stderr)
        return 1
    print(json.dumps(data, ensure_ascii=False, indent=2))
    return 0


def _customer(settings: Settings, args: argparse.Namespace) -> int:
    """A person's decisions on customer files (issue 18), each in one transaction with its audit line."""
    import json

    from bot.media import MediaStore
    from storage import customer_files as files
    from storage.models import utcnow

    async def in_transaction(engine: Any) -> Any:
        async with engine.begin() as conn:
            if args.action == "export":
                return await files.export(conn, args.customer_id)
            if args.action == "erase":
                return await files.erase(conn, args.customer_id, utcnow(), by="cli")
            if args.action == "join":
                return await files.join(conn, args.keep, args.merge, utcnow(), by="cli", reason=args.reason,
                                        person_confirmed=args.phones_checked)
            return await files.split(conn, args.identity_id, utcnow(), by="cli", reason=args.reason)

    if args.action == "erase" and not args.yes:
        print("erasing cannot be undone: add --yes", file=sys.stderr)
        return 1
    result = _on_store(settings, in_transaction)
    if args.action == "export":
        if result is None:
            print(f"no customer {args.customer_id}", file=sys.stderr)
            return 1
        print(json.dumps(result, ensure_ascii=False, indent=2))
    elif args.action == "erase":
        if result is None:
            print(f"no customer {args.customer_id}", file=sys.stderr)
            return 1
        media = MediaStore(settings.media_dir)
        for ref in result:
            media.delete(ref)
        print(f"customer {args.customer_id}: personal data erased ({len(result)} files deleted)")
    elif args.action == "join":
        print(f"{args.keep} <- {args.merge}: {result.value}")
        return 0 if result is files.JoinOutcome.JOINED else 1
    else:
        if result is None:
            print("not split: unknown identity, or the only chat of its file", file=sys.stderr)
            return 1
        print(f"identity {args.identity_id} now in the new customer file {result}")
    return 0


def _downtime(settings: Settings, args: argparse.Namespace) -> int:
    from storage.products import record_downtime

    today = _today(settings.company_timezone)
    try:
        serial = _on_store(settings, lambda engine: record_downtime(
            engine, args.ticket, args.out_of_use, args.working_again, not args.caused_by_use, today,
        ))
    except ValueError as problem:
        print(f"downtime not recorded: {problem}", file=sys.stderr)
        return 1
    until = f"until {args.working_again}" if args.working_again else "still out of use"
    print(f"{args.ticket.upper()}: {serial} out of use from {args.out_of_use}, {until}")
    return 0


def _read_password() -> str:
    """Asked twice on a terminal; one line from stdin otherwise (scripts)."""
    import getpass

    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Again: "):
        raise ValueError("the passwords differ")
    return first


def _agent(settings: Settings, args: argparse.Namespace) -> int:
    from bot.console.auth import hash_password
    from services.handoff import Role
    from storage import agents
    from storage.models import utcnow

    def listed(value: str | None) -> list[str]:
        return [item.strip() for item in (value or "").split(",") if item.strip()]

    try:
        if args.action == "add":
            hashed = hash_password(_read_password())
            new_id = _on_store(settings, lambda engine: agents.add_agent(
                engine, login=args.login, name=args.name, password_hash=hashed, role=Role(args.role), now=utcnow(),
                languages=listed(args.languages), product_lines=listed(args.product_lines), team=args.team,
                capacity=args.capacity, locale=args.locale, timezone=args.timezone or settings.company_timezone,
            ))
            print(f"agent {args.login} added (id {new_id}, {args.role})")
            return 0
        found = _on_store(settings, lambda engine: agents.agent_id_by_login(engine, args.login))
        if found is None:
            print(f"no agent {args.login}", file=sys.stderr)
            return 1
        agent_id: int = found
        if args.action == "disable":
            _on_store(settings, lambda engine: agents.set_active(engine, agent_id, False, utcnow()))
            print(f"agent {args.login} disabled; their sessions are revoked")
        else:
            hashed = hash_password(_read_password())
            _on_store(settings, lambda engine: agents.set_password(engine, agent_id, hashed, utcnow()))
            print(f"password of {args.login} changed; their sessions are revoked")
        return 0
    except agents.AgentExists:
        print(f"agent {args.login} exists already", file=sys.stderr)
        return 1
    except ValueError as problem:
        print(f"not done: {problem}", file=sys.stderr)
        return 1


DEMO_LOGIN = "demo"


def demo_admin(settings: Settings) -> str | None:
    """For `aftersales demo`: an admin `demo` for the agents' console, with a fresh password,
    when the store has no agent yet; the password (to print once), or None."""
    import secrets

    from bot.console.auth import hash_password
    from services.handoff import Role
    from storage import agents
    from storage.db import upgrade
    from storage.models import utcnow

    upgrade(settings.database_url)
    if _on_store(settings, agents.list_agents):
        return None
    password = secrets.token_urlsafe(12)
    _on_store(settings, lambda engine: agents.add_agent(
        engine, login=DEMO_LOGIN, name="Demo admin", password_hash=hash_password(password), role=Role.ADMIN,
        now=utcnow(), languages=["en", "zh_Hans", "zh_Hant", "ka", "ru"], timezone=settings.company_timezone,
    ))
    return password


SAMPLE_SALES = "sample-sales.csv"  # in DATA_DIR: dealers' sales records to try the warranty check with


def demo_sales(settings: Settings) -> int:
    """For `aftersales demo`: register the sample units of DATA_DIR/sample-sales.csv when the
    product registry is empty, so a newcomer can try the warranty check at once; how many."""
    from sqlalchemy import func, select

    from bot.company import load_company
    from services.sales_records import RecordParser, read_rows
    from storage.models import Product
    from storage.products import import_sales

    path = settings.data_dir / SAMPLE_SALES
    if not path.exists():
        return 0

    async def load(engine: Any) -> int:
        async with engine.connect() as conn:
            if await conn.scalar(select(func.count()).select_from(Product)):
                return 0
        company = load_company(settings)
        parser = RecordParser(company.catalog, _today(company.timezone), company.phone_region)
        with path.open(encoding="utf-8-sig", newline="") as source:
            counts = await import_sales(engine, read_rows(source), parser)
        return int(counts.accepted)

    return _on_store(settings, load)


def _day(text: str) -> date:
    """An argparse type: a date as YYYY-MM-DD."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _wechat_menu(settings: Settings, locale: str) -> int:
    from bot.channels.wechat import API
    from bot.channels.wechat_menu import menu

    if not settings.wechat_enabled() or not settings.wechat_app_secret:
        print("Set WECHAT_TOKEN, WECHAT_APP_ID and WECHAT_APP_SECRET first.", file=sys.stderr)
        return 2
    body = menu(locale, settings.company_timezone)

    async def create(engine: Any) -> None:
        api = API(settings.wechat_api_base, settings.wechat_app_id or "", settings.wechat_app_secret or "", engine)
        try:
            await api.create_menu(body)
        finally:
            await api.close()

    _on_store(settings, create)
    print(f"Menu created: {', '.join(button['name'] for button in body['button'])}")
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
    sales = commands.add_parser("import-sales", help="import dealers' sales records (CSV) into the product registry")
    sales.add_argument("file", help="CSV file, see docs/sales-import.md")
    sales.add_argument("--report", metavar="REPORT.csv", help="write each row's outcome to this CSV file")
    commands.add_parser("customer-file", help="print a customer's file as JSON").add_argument("customer_id", type=int)
    customer = commands.add_parser("customer", help="customer files").add_subparsers(dest="action", required=True)
    customer.add_parser("export", help="everything a file holds, as JSON").add_argument("customer_id", type=int)
    erase = customer.add_parser("erase", help="erase a customer's personal data (keeps ticket statistics)")
    erase.add_argument("customer_id", type=int)
    erase.add_argument("--yes", action="store_true", help="yes, erase: it cannot be undone")
    join = customer.add_parser("join", help="join file MERGE into file KEEP")
    join.add_argument("keep", type=int)
    join.add_argument("merge", type=int)
    join.add_argument("--reason", required=True)
    join.add_argument("--phones-checked", action="store_true", help="a person checked that two different proven phones are one customer's")
    split_cmd = customer.add_parser("split", help="take a channel identity off its file into a new one")
    split_cmd.add_argument("identity_id", type=int)
    split_cmd.add_argument("--reason", required=True)
    report = commands.add_parser("report", help="the weekly or monthly service report (tables; --csv DIR: one CSV each)")
    report.add_argument("span", choices=["weekly", "monthly"])
    report.add_argument("--csv", dest="csv_dir", help="write each table as DIR/<table>.csv")
    down = commands.add_parser("downtime", help="record on a ticket the days its product was out of use")
    down.add_argument("ticket", help="the ticket number, e.g. R-2026-000042")
    down.add_argument("--out-of-use", type=_day, required=True, metavar="YYYY-MM-DD")
    down.add_argument("--working-again", type=_day, metavar="YYYY-MM-DD", help="leave out while still out of use")
    down.add_argument("--caused-by-use", action="store_true", help="not the product's own fault: does not count")
    agent = commands.add_parser("agent", help="console agents").add_subparsers(dest="action", required=True)
    add = agent.add_parser("add", help="add an agent (the password is asked for, or read from stdin)")
    add.add_argument("login")
    add.add_argument("--name", required=True)
    add.add_argument("--role", choices=["agent", "supervisor", "admin"], default="agent")
    add.add_argument("--languages", help="customer languages, comma-separated, e.g. ru,en")
    add.add_argument("--product-lines", help="product line ids, comma-separated")
    add.add_argument("--team")
    add.add_argument("--capacity", type=int, default=5)
    add.add_argument("--locale", default="en", help="the console's language for this agent")
    add.add_argument("--timezone")
    agent.add_parser("disable", help="disable an agent and end their sessions").add_argument("login")
    agent.add_parser("password", help="set a new password (ends their sessions)").add_argument("login")
    nlu = commands.add_parser("nlu", help="typed messages").add_subparsers(dest="action", required=True)
    nlu_eval = nlu.add_parser("eval", help="score the recogniser on rows locale,text,intent[,serial,phone,product_line,model,when]")
    nlu_eval.add_argument("file", help="UTF-8 CSV with a header row")
    nlu_eval.add_argument("--today", type=_day, metavar="YYYY-MM-DD", help="the day relative expressions count from")
    nlu_explain = nlu.add_parser("explain", help="what a typed message means, with the terms that made it")
    nlu_explain.add_argument("text")
    nlu_explain.add_argument("--locale", help="the customer's language (default: from the text)")
    nlu_explain.add_argument("--today", type=_day, metavar="YYYY-MM-DD", help="the day relative expressions count from")
    wechat = commands.add_parser("wechat", help="WeChat Official Account").add_subparsers(dest="action", required=True)
    wechat.add_parser("menu", help="create the custom menu").add_argument("--locale", default="zh_Hans")
    from bot import worker

    worker.add_arguments(commands)
    args = parser.parse_args(argv)

    settings = Settings()
    configure_logging(settings.log_format, logging.getLevelNamesMapping()[settings.log_level])
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)  # one line per update costs ~12%
    if args.command in ("import-sales", "customer-file", "customer", "downtime", "agent", "jobs", "report", "demo"):
        logging.getLogger("alembic").setLevel(logging.WARNING)  # keep the operator's output readable
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
        if args.command == "import-sales":
            return _import_sales(settings, args.file, args.report)
        if args.command == "customer-file":
            return _customer_file(settings, args.customer_id)
        if args.command == "report":
            return _report(settings, args.span, args.csv_dir)
        if args.command == "downtime":
            return _downtime(settings, args)
        if args.command == "customer":
            return _customer(settings, args)
        if args.command == "agent":
            return _agent(settings, args)
        if args.command == "nlu" and args.action == "explain":
            return _nlu_explain(settings, args.text, args.locale, args.today or date.today())
        if args.command == "nlu":
            return _nlu_eval(settings, args.file, args.today or date.today())
        if args.command == "wechat":
            return _wechat_menu(settings, args.locale)
        if args.command == "worker":
            return worker.run_worker(settings, args.once)
        if args.command == "jobs":
            return worker.jobs_command(settings, args)
        if args.command == "demo" and (password := demo_admin(settings)):
            print(f"agents' console: http://{settings.host}:{settings.port}/console/  "
                  f"log in as {DEMO_LOGIN} with the password {password} (shown once)")
        if args.command == "demo" and (units := demo_sales(settings)):
            print(f"{units} sample units registered from {settings.data_dir / SAMPLE_SALES}: try the warranty "
                  "check with serial HA2403000123")
        return _run(settings)  # `demo` and `run` alike: the store is migrated first
    except CompanyDataError as error:
        print(f"Company data error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
