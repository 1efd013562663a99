"""`tlh doctor`: check the setup end to end, for any broker, and show what would be harvested now.

The general checks live here and run against the broker port (`adapters.base`), in order:
the configuration; the database and its journal; the broker answers (`Probing`); the
adapter's own checks (`SelfChecks`: for Alpaca the credentials, the account, the market clock,
its market data); the broker's capabilities and whether the configured lot method is the one
the broker relieves by; the broker's trading calendar against the exchange calendar the
scheduler uses (`SessionCalendar`, next 30 days); reconciliation for a broker reporting an
account (`AccountReports`): the journal plus the broker's fills not journaled yet
(`fills_since`), replayed in memory with nothing written, against the broker's `positions`;
no symbol is halted. Then it decides every position with the daemon's own decision function
(`strategies.decision`: the broker's lot relief, the wash guard, halts, the New York date) at
the broker's latest quotes (`QuoteSnapshots`). Each `[[recurring]]` purchase is listed with its
next expected date.

Exit status 0 when every check passes, 1 otherwise. Secrets are never printed: adapters report
credentials as present or missing, and log output goes through the redacting logger.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.base import (
    AccountReports,
    Broker,
    CheckResult,
    Probing,
    QuoteSnapshots,
    SelfChecks,
    SessionCalendar,
)
from adapters.storage.engine import create_engine
from adapters.storage.migrate import upgrade_database
from adapters.storage.records import Account, Halt, JournalEntry, JournalRecord
from adapters.storage.repository import Repository
from daemon.app import decision_policy, make_ledger, trading_enabled
from daemon.broker_accounts import BrokerAccounts
from daemon.brokers import BrokerUnavailableError, build_broker
from daemon.cli import app
from daemon.cli.config import ConfigOption, load_settings_or_exit
from daemon.cli.failures import fail
from daemon.events import Fill, exact
from daemon.index_manager import preview_ranker
from daemon.journal_replay import replay
from daemon.logging import configure_logging
from daemon.market_calendar import MarketCalendar
from daemon.orders import journaled_key, new_fill_entry
from daemon.reconciliation import compare_positions
from daemon.settings import Settings
from ledger.engine import Ledger
from strategies.decision import Action as Act
from strategies.decision import Price, decide_positions
from strategies.index.target import IndexTarget

NEW_YORK = ZoneInfo("America/New_York")
CALENDAR_DAYS = 30
Prices = dict[str, Price]


@dataclass(frozen=True, slots=True)
class Harvestable:
    """A position that would be harvested at the current price."""

    account: str
    symbol: str
    lots: tuple[str, ...]
    quantity: Decimal
    bid: Decimal
    net_loss: Decimal
    tax_saved: Decimal


@dataclass(slots=True)
class Diagnosis:
    """Everything `tlh doctor` found."""

    checks: list[CheckResult] = field(default_factory=list)
    harvests: list[Harvestable] = field(default_factory=list)
    # Positions with a qualifying loss the daemon would not harvest now, with the reason.
    not_harvested: list[tuple[str, str, str]] = field(default_factory=list)
    prices_from: str = ""

    @property
    def ok(self) -> bool:
        """Return whether every check passed."""
        return all(c.ok for c in self.checks)

    def add(self, name: str, ok: bool, detail: str) -> bool:
        """Record a check and return its outcome."""
        self.checks.append(CheckResult(name, ok, detail))
        return ok


@dataclass(frozen=True, slots=True)
class _Journal:
    """What the database holds that the checks read."""

    repo: Repository
    records: list[JournalRecord]
    halts: list[Halt]
    accounts: list[Account]  # recorded (imported) accounts


async def diagnose(
    settings: Settings, broker: Broker, index_target: IndexTarget | None = None
) -> Diagnosis:
    """Run every check against `broker` and the journal `settings` point at (`index_target`:
    a direct index's target, whose ranking replaces harvested stocks in the preview)."""
    out = Diagnosis()
    out.add(
        "configuration",
        True,
        f"mode {settings.mode}, broker {broker.name}, orders "
        f"{'allowed' if trading_enabled(settings, broker) else 'disabled'}",
    )
    _list_recurring(out, settings, datetime.now(UTC).astimezone(NEW_YORK).date())
    db = create_engine(settings.database.url)
    try:
        journal = await _open_journal(out, settings, db)
        reachable = await _check_connectivity(out, broker)
        await _adapter_checks(out, broker)
        _check_capabilities(out, settings, broker)
        if not reachable:
            return out
        await _check_calendar(out, broker)
        if journal is None:
            return out
        ledger, halted = await _reconciled_ledger(out, settings, broker, journal)
        if ledger is None:
            return out
        traded = BrokerAccounts.of(broker, journal.accounts).trades
        await _preview(out, settings, broker, ledger, halted, traded, index_target)
    finally:
        await db.dispose()
    return out


def _list_recurring(out: Diagnosis, settings: Settings, today: date) -> None:
    """List each `[[recurring]]` purchase with its next expected date (the wash guard keeps
    harvests of anything substantially identical away from it)."""
    for plan in settings.recurring_purchases():
        upcoming = plan.next_date(today)
        out.add(
            plan.where,
            True,
            f"{plan.symbol} in {plan.account}, schedule {plan.schedule.text!r} "
            f"(± {plan.slack_days} days): "
            + (f"next expected {upcoming}" if upcoming else f"ended (until {plan.until})"),
        )


async def _open_journal(out: Diagnosis, settings: Settings, db: AsyncEngine) -> _Journal | None:
    """Open the database (migrated as the daemon migrates it) and read the journal."""
    try:
        await upgrade_database(db)
        repo = Repository(db)
        records = await repo.load_journal()
        halts = list(await repo.active_halts())
        accounts = await repo.accounts()
    except Exception as exc:
        out.add("database", False, f"{settings.database.safe_url}: {exc}")
        return None
    out.add("database", True, f"{settings.database.safe_url}, {len(records)} journal entries")
    return _Journal(repo, records, halts, accounts)


async def _check_connectivity(out: Diagnosis, broker: Broker) -> bool:
    """Probe the broker once (`adapters.base.Probing`), without retrying."""
    if not isinstance(broker, Probing):
        return out.add("connectivity", True, f"{broker.name}: nothing to reach (no probe)")
    try:
        await broker.probe()
    except Exception as exc:
        return out.add("connectivity", False, f"{broker.name}: {exc}")
    return out.add("connectivity", True, f"{broker.name} answers")


async def _adapter_checks(out: Diagnosis, broker: Broker) -> None:
    """Add the adapter's own checks (`adapters.base.SelfChecks`)."""
    if not isinstance(broker, SelfChecks):
        return
    try:
        out.checks.extend(await broker.doctor_checks())
    except Exception as exc:
        out.add(f"{broker.name} checks", False, f"could not run: {exc}")


def _check_capabilities(out: Diagnosis, settings: Settings, broker: Broker) -> None:
    """Show what the broker can do, and check that the ledger relieves lots as it does."""
    caps = broker.capabilities
    relief = caps.lot_relief
    if relief.chosen_by_user:
        lots = "specific lots, picked by you at the broker after each sale"
    elif relief.specific_lots:
        lots = "specific lots named on each sale"
    else:
        lots = f"{relief.method.value.upper()} only"
    out.add(
        "capabilities",
        True,
        f"lot relief {lots}; {'fractional' if caps.fractional else 'whole'} shares; orders "
        f"{', '.join(sorted(caps.order_types))}; hours: {caps.hours}"
        f"{' (extended hours)' if caps.extended_hours else ''}",
    )
    method = settings.harvest.lot_method
    if relief.specific_lots:
        out.add("lot relief", True, f"specific lots at {broker.name}; default {method.value}")
        return
    name = relief.method.value.upper()
    out.add(
        "lot relief",
        method is relief.method,
        f"{name}, as {broker.name} relieves lots"
        if method is relief.method
        else f"harvest.lot_method is {method.value}, but {broker.name} relieves {name} only: "
        f"the ledger would disagree with the broker's 1099-B; set it to {relief.method.value}",
    )


async def _check_calendar(out: Diagnosis, broker: Broker, days: int = CALENDAR_DAYS) -> None:
    """Compare the broker's trading calendar with the exchange calendar the scheduler uses."""
    if not isinstance(broker, SessionCalendar):
        return
    start = datetime.now(UTC).astimezone(NEW_YORK).date()
    end = start + timedelta(days=days)
    try:
        theirs = {d: f"{t:%H:%M}" for d, t in (await broker.session_closes(start, end)).items()}
    except Exception as exc:
        out.add("calendar", False, f"the broker's calendar: {exc}")
        return
    calendar = MarketCalendar()
    ours = {}
    for day in calendar.sessions(start, end):
        hours = calendar.session_open_close(day)
        if hours is not None:
            ours[day] = f"{hours[1].astimezone(NEW_YORK):%H:%M}"
    differ = sorted(d for d in ours.keys() | theirs.keys() if ours.get(d) != theirs.get(d))
    out.add(
        "calendar",
        not differ,
        f"broker and exchange calendar agree on the next {days} days"
        if not differ
        else "they differ on "
        + ", ".join(
            f"{d} (broker {theirs.get(d, 'closed')}, exchange {ours.get(d, 'closed')})"
            for d in differ[:5]
        ),
    )


async def _reconciled_ledger(
    out: Diagnosis, settings: Settings, broker: Broker, journal: _Journal
) -> tuple[Ledger | None, set[str]]:
    """Replay the journal plus the broker's unjournaled fills in memory; compare positions.

    Each broker fill adds what the daemon would journal of it (`daemon.orders.new_fill_entry`,
    following its order's journaled quantity), and the whole is replayed as the daemon
    replays its journal (`daemon.journal_replay.replay`). A broker reporting no account (the
    simulator, whose book is the replay itself) is not reconciled.
    """
    account = broker.account if isinstance(broker, AccountReports) else None
    records = journal.records
    fresh: list[JournalEntry] = []
    broker_positions: dict[tuple[str, str], Decimal] = {}
    if account is not None:
        try:
            fills = await broker.fills_since(None)
            broker_positions = await broker.positions()
        except Exception as exc:
            out.add("reconciliation", False, f"the broker's fills and positions: {exc}")
            return None, set()
        fresh = await _unjournaled(journal.repo, records, fills, broker.name)
    seq = max((r.seq for r in records), default=0)
    events = [r.to_event() for r in records]
    events += [entry.to_event(seq + n) for n, entry in enumerate(fresh, 1)]
    ledger, rejected = replay(make_ledger(settings, journal.accounts), events)
    mismatches = (
        compare_positions(ledger.positions(), broker_positions, account)
        if account is not None
        else {}
    )
    detail = "; ".join(
        [r.reason for r in rejected]
        + [f"{s}: broker {b}, ledger {q}" for s, (q, b) in sorted(mismatches.items())]
    )
    if account is None:
        summary = f"not reconciled: {broker.name} reports no account ({len(records)} entries)"
    else:
        summary = (
            f"ledger matches the broker ({len(records)} journal entries, {len(fresh)} broker "
            "fills not journaled yet)"
        )
    out.add("reconciliation", not detail, detail or summary)
    halts = [h for h in journal.halts if account is None or h.account in (None, account)]
    names = sorted(h.symbol for h in halts)
    out.add(
        "halts",
        not names,
        "none" if not names else f"trading halted in {', '.join(names)} (tlh status shows why)",
    )
    return ledger, set(names) | set(mismatches) | {r.symbol for r in rejected}


async def _unjournaled(
    repo: Repository, records: list[JournalRecord], fills: list[Fill], source: str
) -> list[JournalEntry]:
    """Return the entries the daemon would journal for `fills`, in order (nothing is written)."""
    external_ids = {r.external_id for r in records if r.external_id}
    done: dict[str, Decimal | None] = {}  # client order id or state key -> journaled quantity
    entries: list[JournalEntry] = []
    for fill in fills:
        intent = await repo.get_intent(fill.client_order_id)
        key = fill.client_order_id if intent is not None else journaled_key(fill, source)
        if key not in done:
            if intent is not None:
                done[key] = intent.filled_quantity
            elif key:
                done[key] = Decimal(await repo.get_state(key) or "0")
            else:
                done[key] = None
        journaled = done[key]
        entry = new_fill_entry(fill, source, journaled, intent)
        if entry is None:
            continue
        if entry.external_id in external_ids:
            if intent is None and journaled is not None and fill.cumulative_quantity is not None:
                done[key] = max(journaled, fill.cumulative_quantity)
            continue
        external_ids.add(entry.external_id or "")
        entries.append(entry)
        if journaled is not None and entry.quantity is not None:
            done[key] = journaled + entry.quantity
    return entries


async def _preview(
    out: Diagnosis,
    settings: Settings,
    broker: Broker,
    ledger: Ledger,
    halted: set[str],
    traded: Callable[[str], bool],
    index_target: IndexTarget | None = None,
) -> None:
    """Decide the positions at the broker's latest quotes, as the daemon would now (`traded`:
    whether the broker trades an account)."""
    account = broker.account if isinstance(broker, AccountReports) else None
    held = {s for (acct, s) in ledger.positions() if account is None or acct == account}
    # The substitutes too (a direct index's whole universe): a harvest needs its replacement
    # priced.
    symbols = sorted(
        held.union(
            *(g for g in settings.substitute_groups() if held & set(g)),
            index_target.symbols if index_target is not None else (),
        )
    )
    prices: Prices = {}
    if not isinstance(broker, QuoteSnapshots):
        out.prices_from = f"none: {broker.name} gives no quotes on request"
    elif symbols:
        try:
            quotes = await broker.latest_quotes(symbols)
        except Exception as exc:
            out.prices_from = f"none: {broker.name}'s latest quotes: {exc}"
        else:
            out.prices_from = f"{broker.name}'s latest quotes"
            prices = {
                s: Price(exact(q.bid), exact(q.ask), q.at) for s, q in quotes.items() if q.bid > 0
            }
    else:
        out.prices_from = "nothing held"
    out.harvests, out.not_harvested = _harvestable(
        settings, broker, ledger, prices, halted, traded, index_target
    )


def _harvestable(
    settings: Settings,
    broker: Broker,
    ledger: Ledger,
    prices: Prices,
    halted: set[str],
    traded: Callable[[str], bool],
    index_target: IndexTarget | None = None,
) -> tuple[list[Harvestable], list[tuple[str, str, str]]]:
    """Decide every taxable position as the daemon would at the latest prices (the broker's lot
    relief, the wash guard, halts, the accounts it trades, the New York trading date; a direct
    index's ranked replacements)."""
    now = datetime.now(UTC)
    today = now.astimezone(NEW_YORK).date()
    relief = broker.capabilities.lot_relief
    ranked = (
        None
        if index_target is None
        else preview_ranker(settings, index_target, ledger, prices, today, relief, halted=halted)
    )
    decisions = decide_positions(
        ledger,
        decision_policy(settings, relief, ranked),
        method=relief.method,
        prices=prices,
        today=today,
        halted=halted,
        recurring=settings.recurring_purchases(),
        traded=traded,
    )
    out = []
    refused = []
    for account, symbol, d in decisions:
        c = d.candidate
        if c is None:
            continue
        if d.action is Act.HARVEST:
            bid = prices[symbol].bid
            out.append(
                Harvestable(
                    account, symbol, c.lot_ids, c.quantity, bid, c.net_loss, c.estimated_tax_saved
                )
            )
        else:
            refused.append((account, symbol, d.reason))
    return out, refused


def print_diagnosis(diagnosis: Diagnosis, console: Console) -> None:
    """Print each check, then what would (and would not) be harvested now."""
    for check in diagnosis.checks:
        mark = "[green]ok[/green]  " if check.ok else "[red]FAIL[/red]"
        # Escaped: a detail may hold brackets ("[ib] lot_method"), which are not markup.
        console.print(f"{mark} {escape(check.name)}: {escape(check.detail)}", highlight=False)
    if not diagnosis.prices_from:
        return
    for account, symbol, reason in diagnosis.not_harvested:
        console.print(escape(f"Not harvested: {symbol} in {account}: {reason}"), highlight=False)
    if not diagnosis.harvests:
        console.print(f"Nothing to harvest now (prices: {diagnosis.prices_from}).")
        return
    table = Table(title=f"Would harvest now (prices: {diagnosis.prices_from})")
    for col in ("account", "symbol", "lots", "quantity", "bid", "net loss", "est. tax saved"):
        table.add_column(col)
    for h in diagnosis.harvests:
        table.add_row(
            h.account,
            h.symbol,
            ", ".join(h.lots),
            str(h.quantity),
            str(h.bid),
            f"{h.net_loss:,.2f}",
            f"{h.tax_saved:,.2f}",
        )
    console.print(table)


async def _diagnose_configured(
    settings: Settings, index_target: IndexTarget | None = None
) -> Diagnosis:
    try:
        broker = build_broker(settings)
    except BrokerUnavailableError as exc:
        fail(str(exc))
    try:
        return await diagnose(settings, broker, index_target)
    finally:
        await broker.close()


@app.command("doctor")
def doctor(config: ConfigOption = None) -> None:
    """Check the setup (configuration, journal, broker, reconciliation) and preview harvests."""
    settings = load_settings_or_exit(config)
    configure_logging("WARNING", settings.logging.format, settings.secret_values())
    target = None
    if settings.index.enabled:
        from daemon.cli.index import load_target_or_exit

        target = load_target_or_exit(settings, config)
    diagnosis = asyncio.run(_diagnose_configured(settings, target))
    print_diagnosis(diagnosis, Console(width=140))
    raise typer.Exit(0 if diagnosis.ok else 1)
