"""`tlh import`: add past transactions of an account to the journal, once, all or nothing.

Sources: ``--trades FILE.csv`` (the `tlh tax report` format), ``--ib-flex FILE.xml`` (an
Interactive Brokers Flex statement) and ``--ib-flex-fetch`` (the same, downloaded through the
Flex Web Service with ``[ib] flex_token`` and ``flex_query_id``), ``--ofx FILE`` (an OFX/QFX
investment statement, `adapters.importers.ofx`) and ``--plaid`` (every ``[[plaid.items]]``
entry, or the one of ``--account``: `daemon.cli.plaid`).

The import owns the journal while it runs: it takes the journal lock as the daemon does.
While `tlh run` holds the journal, the import is checked here (read-only, as ``--dry-run``)
and handed to the daemon through the database (`daemon.import_inbox`), which applies it
without a restart and answers with what it added; a daemon that does not answer in time
imports nothing. Another process holding the journal: exit 2 naming it. ``--dry-run`` only
reads, so it runs beside the daemon, and writes nothing. Every new entry is checked against
the ledger (the journal replayed with them) before anything is written; the entries are
appended in one transaction (`adapters.importers.journal_import`).

For a Flex statement ``--account`` defaults to the statement's accountId; given and
different, it is an error naming both. For an OFX 401(k) statement (``INV401K``) ``--type``
defaults to 401k when [accounts] does not declare the account.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from adapters.importers import InputError
from adapters.importers.journal_import import (
    ImportPlan,
    ImportRow,
    JournalChangedError,
    describe,
    plan_import,
    write_import,
)
from adapters.importers.ofx import read_ofx_file
from adapters.importers.trades_source import trade_rows
from adapters.storage.engine import create_engine
from adapters.storage.journal_lock import JournalLockedError, lock_journal
from adapters.storage.migrate import current_revision, upgrade_database
from adapters.storage.records import LOT_METHODS, Account, JournalRecord
from adapters.storage.repository import Repository
from daemon.app import make_ledger
from daemon.broker_accounts import BrokerAccounts
from daemon.brokers import broker_account
from daemon.cli import app
from daemon.cli.config import ConfigOption, load_settings_or_exit
from daemon.cli.failures import fail
from daemon.engine_import import own_orders
from daemon.import_inbox import ANSWER_SECONDS, answer, daemon_takes_imports, submit
from daemon.logging import configure_logging
from daemon.settings import Settings
from ledger.model import AccountType


class ImportType(StrEnum):
    """Account types `--type` accepts (issue #11's contract)."""

    TAXABLE = "taxable"
    IRA = "ira"
    ROTH_IRA = "roth_ira"
    K401 = "401k"
    HSA = "hsa"


@app.command("import")
def import_command(
    account: Annotated[
        str | None,
        typer.Option(
            "--account",
            help="Account the transactions belong to (for --ib-flex: default the "
            "statement's accountId).",
            show_default=False,
        ),
    ] = None,
    account_type: Annotated[
        ImportType | None,
        typer.Option(
            "--type",
            case_sensitive=False,
            help="The account's tax treatment (default: \\[accounts] in tlh.toml, else taxable).",
            show_default=False,
        ),
    ] = None,
    trades: Annotated[
        Path | None,
        typer.Option("--trades", help="TRADES.csv (the tlh tax report format).", dir_okay=False),
    ] = None,
    ib_flex: Annotated[
        Path | None,
        typer.Option("--ib-flex", help="Interactive Brokers Flex statement (XML).", dir_okay=False),
    ] = None,
    ib_flex_fetch: Annotated[
        bool,
        typer.Option(
            "--ib-flex-fetch",
            help="Download the Flex statement (\\[ib] flex_token, flex_query_id, flex_url).",
        ),
    ] = False,
    ofx: Annotated[
        Path | None,
        typer.Option(
            "--ofx", help="OFX/QFX investment statement (SGML 1.x or XML 2.x).", dir_okay=False
        ),
    ] = None,
    plaid: Annotated[
        bool,
        typer.Option("--plaid", help="Plaid: every [[plaid.items]] entry, or --account's."),
    ] = False,
    config: ConfigOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be added; write nothing.")
    ] = False,
) -> None:
    """Import past transactions of an account into the journal (idempotent, all or nothing)."""
    given = [
        name
        for name, value in (
            ("--trades", trades),
            ("--ib-flex", ib_flex),
            ("--ib-flex-fetch", ib_flex_fetch or None),
            ("--ofx", ofx),
            ("--plaid", plaid or None),
        )
        if value is not None
    ]
    if len(given) != 1:
        fail(
            "give exactly one source: --trades FILE.csv, --ib-flex FILE.xml, --ib-flex-fetch or "
            "--ofx FILE.ofx or --plaid" + (f" (got {', '.join(given)})" if given else "")
        )
    source = given[0]
    if source in ("--trades", "--ofx") and not account:
        fail(f"--account is required with {source}")
    settings = load_settings_or_exit(config)
    configure_logging(settings.logging.level, settings.logging.format, settings.secret_values())
    for chatty in ("alembic", "ofxtools"):  # INFO lines on every migration, every OFX parse
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLogger().level))
    if source == "--plaid":
        _import_plaid(settings, account, account_type, dry_run)
        return
    try:
        if source == "--trades":
            assert trades is not None
            assert account is not None
            name, rows, skipped = account, trade_rows(trades, account), Counter[str]()
        elif source == "--ofx":
            assert ofx is not None
            assert account is not None
            statement = read_ofx_file(ofx, account)
            name, rows, skipped = account, statement.rows, statement.skipped
            if account_type is None and account not in settings.accounts and statement.account_type:
                account_type = ImportType(statement.account_type.value)
                typer.echo(
                    f"{ofx} is a {account_type.value} statement: --type {account_type.value}",
                    err=True,
                )
        else:
            name, rows, skipped = _flex_rows(settings, ib_flex, account)
    except InputError as exc:
        fail(str(exc), bare=True)
    kind = _account_type(settings, name, account_type)
    _import_and_report(settings, name, kind, account_type, rows, skipped, dry_run)
    if account_type is not None and name not in settings.accounts:
        typer.echo(
            f'note: declare `{name} = "{kind.value}"` under [accounts] in tlh.toml, so that the '
            "daemon treats the account as such",
            err=True,
        )


def _import_and_report(
    settings: Settings,
    name: str,
    kind: AccountType,
    given: ImportType | None,
    rows: list[ImportRow],
    skipped: Counter[str],
    dry_run: bool,
    broker: str = "import",
) -> None:
    try:
        plan = asyncio.run(_import(settings, name, kind, given, rows, skipped, dry_run, broker))
    except InputError as exc:
        fail(str(exc), bare=True)
    except JournalChangedError as exc:
        fail(f"nothing imported: {exc}")
    _report(plan, name, dry_run)


def _import_plaid(
    settings: Settings, account: str | None, given: ImportType | None, dry_run: bool
) -> None:
    """Import each Item (one transaction each); its type: --type, the item's `type`,
    [accounts], else Plaid's account subtype. The type is stored with the account."""
    from daemon.cli.plaid import fetch_history, plaid_items, report_unexplained
    from daemon.plaid_sync import BROKER

    for item in plaid_items(settings, account):
        history = fetch_history(settings, item)
        kind = (
            _account_type(settings, item.account, given)
            if given is not None
            else item.type or settings.accounts.get(item.account) or history.account_type
        )
        stored = ImportType(kind.value)
        _import_and_report(
            settings, item.account, kind, stored, history.rows, history.skipped, dry_run, BROKER
        )
        report_unexplained(history)


def _flex_rows(
    settings: Settings, path: Path | None, account: str | None
) -> tuple[str, list[ImportRow], Counter[str]]:
    """Return the account and rows of a Flex statement, read from `path` or downloaded."""
    from adapters.ib.flex import read_flex, read_flex_file

    if path is not None:
        statement = read_flex_file(path, account)
        label = str(path)
    else:
        data = _download(settings)
        label = "the downloaded Flex statement"
        statement = read_flex(data, label, account)
    found = statement.account_id
    if account and found and account != found:
        fail(f"--account {account!r} differs from the account of {label}: {found!r}")
    name = account or found
    if not name:
        fail(f"{label} holds no statement, so no account: give --account")
    return name, statement.rows, statement.skipped


def _download(settings: Settings) -> bytes:
    from adapters.ib.flex_service import FlexServiceError, fetch_statement

    ib = settings.ib
    if ib.flex_token is None or ib.flex_query_id is None:
        missing = "flex_token" if ib.flex_token is None else "flex_query_id"
        fail(
            f"--ib-flex-fetch needs [ib] {missing} (the token from TLH_IB__FLEX_TOKEN or a "
            "secret file of that name)"
        )
    try:
        return asyncio.run(
            fetch_statement(
                ib.flex_service_url(), ib.flex_token.get_secret_value(), ib.flex_query_id
            )
        )
    except FlexServiceError as exc:
        fail(str(exc))


def _account_type(settings: Settings, account: str, given: ImportType | None) -> AccountType:
    """Return the account's type: `given`, which must agree with [accounts], else [accounts]."""
    declared = settings.accounts.get(account)
    if given is None:
        return declared or AccountType.TAXABLE
    kind = AccountType(given.value)
    if declared is not None and declared is not kind:
        fail(
            f"--type {given.value} differs from [accounts] {account} = {declared.value!r} in "
            "the configuration"
        )
    return kind


async def _import(
    settings: Settings,
    account: str,
    kind: AccountType,
    given: ImportType | None,
    rows: list[ImportRow],
    skipped: Counter[str],
    dry_run: bool,
    broker: str = "import",
) -> ImportPlan:
    """Plan the import against the journal and, unless `dry_run`, write it; the account is
    recorded under `broker` (the source: an outside account is never traded) unless the
    configured broker trades it (`BrokerAccounts.to_record`). Without `given` or [accounts],
    a recorded account keeps its type."""
    url = settings.database.url
    if given is None and account not in settings.accounts:
        known = await _recorded(url, account)
        kind = known.type if known is not None else kind
    configured = settings.model_copy(update={"accounts": {**settings.accounts, account: kind}})
    if dry_run:
        return await _plan_only(url, configured, rows, skipped)
    method = settings.harvest.lot_method.value
    record = Account(account, kind, broker, method if method in LOT_METHODS else "fifo")
    try:
        lock = await lock_journal(url)
    except JournalLockedError as exc:
        return await _hand_to_daemon(url, configured, rows, skipped, record, exc)
    db = create_engine(url)
    try:
        await upgrade_database(db)
        repo = Repository(db)
        records = await repo.load_journal()
        accounts = BrokerAccounts(
            settings.broker, broker_account(settings), await repo.accounts(), settings.sim.accounts
        )
        stored = accounts.to_record(record, in_journal=any(r.account == account for r in records))
        plan = await _plan(repo, configured, rows, skipped, records)
        if plan.entries or accounts.recorded().get(account) != stored:
            await write_import(repo, plan, stored)
        return plan
    finally:
        await db.dispose()
        await lock.release()


async def _hand_to_daemon(
    url: str,
    settings: Settings,
    rows: list[ImportRow],
    skipped: Counter[str],
    account: Account,
    locked: JournalLockedError,
) -> ImportPlan:
    """Have the running daemon, which holds the journal, apply the import (checked here
    first, read-only); raise `locked` when the holder is not a daemon that takes imports."""
    holder = locked.holder
    if holder is None or await asyncio.to_thread(_no_database_file, url):
        raise locked  # no daemon runs on a database that does not exist yet
    await _plan_only(url, settings, rows, skipped)  # errors early, nothing written
    db = create_engine(url)
    try:
        repo = Repository(db)
        if (
            await current_revision(db) is None  # no tables yet: no daemon runs on it
            or not await daemon_takes_imports(repo, holder.pid, holder.host)
        ):
            raise locked
        request = await submit(repo, rows, account)
        found = await answer(repo, request)
    finally:
        await db.dispose()
    if found is None:
        fail(
            f"the running daemon ({holder.describe()}) did not take the import within "
            f"{ANSWER_SECONDS:.0f} s; nothing imported (is it stuck? see its log)"
        )
    if found.error is not None:
        fail(found.error, bare=found.error.startswith(tuple(str(r.where.path) for r in rows)))
    return ImportPlan(found.entries, 0, found.known, found.own_orders, skipped)


async def _plan_only(
    url: str, settings: Settings, rows: list[ImportRow], skipped: Counter[str]
) -> ImportPlan:
    """Plan without writing anything: no lock, no migration, no database file created."""
    if await asyncio.to_thread(_no_database_file, url):
        return plan_import([], make_ledger(settings), rows, skipped=skipped)
    db = create_engine(url)
    try:
        if await current_revision(db) is None:
            return plan_import([], make_ledger(settings), rows, skipped=skipped)
        return await _plan(Repository(db), settings, rows, skipped)
    finally:
        await db.dispose()


async def _recorded(url: str, account: str) -> Account | None:
    """Return how `account` is recorded, reading only (None: unrecorded, or no journal yet)."""
    if await asyncio.to_thread(_no_database_file, url):
        return None
    db = create_engine(url)
    try:
        if await current_revision(db) is None:
            return None
        return next((a for a in await Repository(db).accounts() if a.account == account), None)
    finally:
        await db.dispose()


def _no_database_file(url: str) -> bool:
    """Return whether `url` names a SQLite file that does not exist (yet)."""
    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return False
    return not database.startswith("file:") and not Path(database).exists()


async def _plan(
    repo: Repository,
    settings: Settings,
    rows: list[ImportRow],
    skipped: Counter[str],
    records: list[JournalRecord] | None = None,
) -> ImportPlan:
    records = await repo.load_journal() if records is None else records
    own = await own_orders(repo, rows)
    return plan_import(records, make_ledger(settings), rows, own_orders=own, skipped=skipped)


COLUMNS = ("date", "action", "symbol", "quantity", "price", "fees", "lot", "source id")
_RIGHT = frozenset({"quantity", "price", "fees"})


def _report(plan: ImportPlan, account: str, dry_run: bool) -> None:
    if plan.entries:
        title = "Would add (dry run)" if dry_run else "Added"
        typer.echo(f"{title}: account {account}")
        typer.echo(_table([describe(entry) for entry in plan.entries]))
    verb = "would import" if dry_run else "imported"
    parts = [f"{verb} {len(plan.entries)} journal entries into account {account}"]
    if plan.known:
        parts.append(f"{plan.known} transaction(s) already in the journal")
    if plan.own_orders:
        parts.append(f"{plan.own_orders} fills of tlh's own orders (the daemon journals them)")
    typer.echo("; ".join(parts))
    for reason, count in sorted(plan.skipped.items()):
        typer.echo(f"skipped {count} {reason}")


def _table(rows: list[tuple[str, ...]]) -> str:
    """Return `rows` under the column names, aligned in plain text (a history of thousands
    of rows prints in a blink, whole, whatever the terminal's width)."""
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(COLUMNS)]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            cell.rjust(w) if name in _RIGHT else cell.ljust(w)
            for name, cell, w in zip(COLUMNS, cells, widths, strict=True)
        ).rstrip()

    return "\n".join([line(COLUMNS), line(tuple("-" * w for w in widths)), *map(line, rows)])
