"""`tlh doctor`: check the Alpaca setup end to end and show what would be harvested now.

Checks, in order: credentials present; the trading API answers (connectivity); the account is
active and may trade; the broker's market clock; the broker's calendar agrees with the exchange
calendar the scheduler uses (next 30 days); lot relief is FIFO (Alpaca cannot do otherwise);
the ledger (the journal plus the broker's FILL activities not journaled yet, replayed in
memory: nothing is written) matches the broker's positions; no symbol is halted. Then it
decides every position with the daemon's own decision function (`strategies.decision`: FIFO
prefixes as Alpaca relieves them, the wash guard, halts, the New York date) at the latest
quotes from REST (the market-data API, else each position's current price).

Exit status 0 when every check passes, 1 otherwise. Secrets are never printed: credentials
are reported as present or missing, and log output goes through the redacting logger.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from adapters.alpaca.broker import AlpacaBroker
from adapters.alpaca.client import latest_quotes
from adapters.alpaca.parsing import dec, is_crypto
from adapters.storage.engine import create_engine
from adapters.storage.migrate import upgrade_database
from adapters.storage.records import JournalEntry, JournalRecord
from adapters.storage.repository import Repository
from daemon.app import broker_relief, decision_policy, make_ledger
from daemon.cli import app
from daemon.cli.config import ConfigOption, load_settings_or_exit
from daemon.events import Fill
from daemon.journal_replay import replay
from daemon.logging import configure_logging
from daemon.market_calendar import MarketCalendar
from daemon.orders import journaled_key, new_fill_entry
from daemon.reconciliation import compare_positions
from daemon.settings import Settings
from ledger.conventions import LotMethod
from ledger.engine import Ledger
from strategies.decision import Action as Act
from strategies.decision import Price, decide_positions

NEW_YORK = ZoneInfo("America/New_York")
Prices = dict[str, tuple[Decimal, Decimal]]


@dataclass(frozen=True, slots=True)
class Check:
    """One check's outcome."""

    name: str
    ok: bool
    detail: str


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

    checks: list[Check] = field(default_factory=list)
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
        self.checks.append(Check(name, ok, detail))
        return ok


async def diagnose(settings: Settings) -> Diagnosis:
    """Run every check against the account `settings` point at."""
    out = Diagnosis()
    a = settings.alpaca
    present = a.api_key is not None and a.secret_key is not None
    if not out.add(
        "credentials",
        present,
        "API key and secret key present"
        if present
        else "missing: set TLH_ALPACA__API_KEY and TLH_ALPACA__SECRET_KEY (environment "
        "or secret files)",
    ):
        return out
    broker = AlpacaBroker.from_settings(settings)
    try:
        await _check_account(out, settings, broker)
    finally:
        await broker.close()
    return out


async def _check_account(out: Diagnosis, settings: Settings, broker: AlpacaBroker) -> None:
    c = broker.config
    try:
        account = await broker.account_info()
    except Exception as exc:
        out.add("connectivity", False, f"{c.rest_url}: {exc}")
        return
    out.add(
        "connectivity",
        True,
        f"{'paper' if c.paper else 'LIVE'} trading API {c.rest_url}, "
        f"orders {'allowed' if c.orders_allowed else 'disabled'} (mode {settings.mode})",
    )
    blocked = [
        k
        for k in ("account_blocked", "trading_blocked", "trade_suspended_by_user")
        if account.get(k)
    ]
    status = str(account.get("status", "?"))
    out.add(
        "account",
        status == "ACTIVE" and not blocked,
        f"{status}{' ' + ', '.join(blocked) if blocked else ''}, account "
        f"{account.get('account_number', '?')}, cash {account.get('cash', '?')}, "
        f"buying power {account.get('buying_power', '?')}",
    )
    try:
        clock = await broker.clock()
        out.add(
            "market clock",
            True,
            f"open until {clock.next_close:%Y-%m-%d %H:%M} UTC"
            if clock.is_open
            else f"closed; opens {clock.next_open:%Y-%m-%d %H:%M} UTC",
        )
    except Exception as exc:
        out.add("market clock", False, str(exc))
    await _check_calendar(out, broker)
    method = settings.harvest.lot_method
    out.add(
        "lot relief",
        method is LotMethod.FIFO,
        "FIFO, as Alpaca relieves lots"
        if method is LotMethod.FIFO
        else f"harvest.lot_method is {method.value}, but Alpaca relieves FIFO only: the ledger "
        "would disagree with the broker's 1099-B; set it to fifo",
    )
    ledger, halted = await _reconciled_ledger(out, settings, broker)
    if ledger is None:
        return
    held = {s for (acct, s) in ledger.positions() if acct == broker.account}
    # The substitutes too: a harvest needs its replacement priced.
    symbols = sorted(held.union(*(g for g in settings.substitute_groups() if held & set(g))))
    prices, out.prices_from = await _latest_prices(settings, broker, symbols)
    out.harvests, out.not_harvested = _harvestable(settings, ledger, prices, halted)


async def _check_calendar(out: Diagnosis, broker: AlpacaBroker, days: int = 30) -> None:
    """Compare the broker's trading calendar with the exchange calendar the scheduler uses."""
    start = datetime.now(UTC).astimezone(NEW_YORK).date()
    end = start + timedelta(days=days)
    try:
        raw = await broker.rest_get(
            "/calendar", {"start": start.isoformat(), "end": end.isoformat()}
        )
        theirs = {date.fromisoformat(d["date"]): str(d["close"])[:5] for d in raw}
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
    out: Diagnosis, settings: Settings, broker: AlpacaBroker
) -> tuple[Ledger | None, set[str]]:
    """Replay the journal plus the broker's unjournaled fills in memory; compare positions.

    Each broker fill adds what the daemon would journal of it (`daemon.orders.new_fill_entry`,
    following its order's journaled quantity), and the whole is replayed as the daemon
    replays its journal (`daemon.journal_replay.replay`).
    """
    fills = await broker.fills_since(None)
    db = create_engine(settings.database.url)
    try:
        await upgrade_database(db)
        repo = Repository(db)
        records = await repo.load_journal()
        halts = [h for h in await repo.active_halts() if h.account in (None, broker.account)]
        fresh = await _unjournaled(repo, records, fills, broker.name)
    finally:
        await db.dispose()
    seq = max((r.seq for r in records), default=0)
    events = [r.to_event() for r in records]
    events += [entry.to_event(seq + n) for n, entry in enumerate(fresh, 1)]
    ledger, rejected = replay(make_ledger(settings), events)
    mismatches = compare_positions(ledger.positions(), await broker.positions(), broker.account)
    detail = "; ".join(
        [r.reason for r in rejected]
        + [f"{s}: broker {b}, ledger {q}" for s, (q, b) in sorted(mismatches.items())]
    )
    out.add(
        "reconciliation",
        not detail,
        detail
        or f"ledger matches the broker ({len(records)} journal entries, {len(fresh)} broker "
        "fills not journaled yet)",
    )
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


async def _latest_prices(
    settings: Settings, broker: AlpacaBroker, symbols: list[str]
) -> tuple[Prices, str]:
    """Return {symbol: (bid, ask)}: latest REST quotes, else the positions' current prices."""
    prices: Prices = {}
    sources: list[str] = []
    stocks = [s for s in symbols if not is_crypto(s)]
    c = broker.config
    if stocks:
        try:
            prices = await asyncio.to_thread(
                latest_quotes,
                c.api_key,
                c.secret_key,
                stocks,
                feed=c.feed,
                url=c.data_url,
                timeout=c.rest_timeout,
            )
            sources.append("latest quotes (market-data REST)")
        except Exception:
            prices = {}
    missing = [s for s in symbols if s not in prices]
    if missing:
        raw = await broker.rest_get("/positions")
        for item in raw if isinstance(raw, list) else []:
            symbol = item.get("symbol")
            if symbol in missing and item.get("current_price"):
                price = dec(item["current_price"], "current_price")
                prices[symbol] = (price, price)
        sources.append("positions' current price")
    return prices, " and ".join(sources) or "none"


def _harvestable(
    settings: Settings, ledger: Ledger, prices: Prices, halted: set[str]
) -> tuple[list[Harvestable], list[tuple[str, str, str]]]:
    """Decide every taxable position as the daemon would at the latest prices (Alpaca relieves
    FIFO, the wash guard, halts, the New York trading date)."""
    now = datetime.now(UTC)
    relief = broker_relief(settings)
    decisions = decide_positions(
        ledger,
        decision_policy(settings, relief),
        method=relief.method,
        prices={s: Price(bid, ask, now) for s, (bid, ask) in prices.items()},
        today=now.astimezone(NEW_YORK).date(),
        halted=halted,
    )
    out = []
    refused = []
    for account, symbol, d in decisions:
        c = d.candidate
        if c is None:
            continue
        if d.action is Act.HARVEST:
            bid = prices[symbol][0]
            out.append(
                Harvestable(
                    account, symbol, c.lot_ids, c.quantity, bid, c.net_loss, c.estimated_tax_saved
                )
            )
        else:
            refused.append((account, symbol, d.reason))
    return out, refused


def _print(diagnosis: Diagnosis, console: Console) -> None:
    for check in diagnosis.checks:
        mark = "[green]ok[/green]  " if check.ok else "[red]FAIL[/red]"
        console.print(f"{mark} {check.name}: {check.detail}", highlight=False)
    if not diagnosis.prices_from:
        return
    for account, symbol, reason in diagnosis.not_harvested:
        console.print(f"Not harvested: {symbol} in {account}: {reason}", highlight=False)
    if not diagnosis.harvests:
        console.print(f"Nothing to harvest now (prices: {diagnosis.prices_from}).")
        return
    table = Table(title=f"Would harvest now (prices: {diagnosis.prices_from})")
    for col in ("account", "symbol", "FIFO lots", "quantity", "bid", "net loss", "est. tax saved"):
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


@app.command("doctor")
def doctor(config: ConfigOption = None) -> None:
    """Check the Alpaca setup (credentials, connectivity, account, clock, reconciliation)."""
    settings = load_settings_or_exit(config)
    configure_logging("WARNING", settings.logging.format, settings.secret_values())
    diagnosis = asyncio.run(diagnose(settings))
    _print(diagnosis, Console(width=140))
    raise typer.Exit(0 if diagnosis.ok else 1)
