"""`tlh index build` and `tlh index raise`: put cash into the direct index, or take it out.

`build --cash USD` plans the purchase of the `[index]` target with that cash on top of what the
journal holds in the index account (`strategies.index.rebalance.plan_rebalance`: underweights
first, within the tracking-error budget, the wash-sale lockouts as bounds); `raise --cash USD`
plans the sales that raise that cash at the least tax per dollar, losses first (`plan_raise`).
Both print the plan. With ``--dry-run``, or while trading is not enabled (`mode`, the live
flag), nothing more happens. Otherwise the plan is placed through the outbox, as the daemon
places its rebalances (`OrderManager.place_plan`: persisted intents, deterministic ids): this
command owns the journal, or, while `tlh run` holds it, hands the request to the daemon
through the state table (`daemon.index_manager`: ``index:request:<id>``), which plans it again
on its own book at its own quotes, places it and answers; a holder that takes no such
requests, or does not answer within `ANSWER_SECONDS`: exit 2, nothing placed.

Prices: the broker's latest quotes (`adapters.base.QuoteSnapshots`), or for the simulator the
closes of the last session its replay played (its first session before any). A target name
without a price, a bad weights file, an empty universe or weights that cannot be met within
the budget: one line naming the problem, exit 2, nothing traded.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from adapters.base import QuoteSnapshots
from adapters.storage.journal_lock import JournalLockedError
from adapters.storage.repository import Repository
from daemon.app import build_daemon, trading_enabled
from daemon.brokers import broker_capabilities
from daemon.cli import app
from daemon.cli.config import ConfigOption, load_settings_or_exit
from daemon.cli.failures import fail
from daemon.clock import Clock, LiveClock, SimulatedClock
from daemon.events import Quote
from daemon.index_manager import (
    OPEN_KEY,
    REQUEST_PREFIX,
    RESULT_PREFIX,
    config_dir,
    holdings_of,
    index_account,
    lockouts_of,
    prior_model,
    rebalance_params,
)
from daemon.logging import configure_logging
from daemon.orders import NEW_YORK
from daemon.replay import at_close
from daemon.settings import MAX_MONEY, ConfigError, Settings
from ledger.engine import Ledger
from ledger.model import Action
from strategies.index.book import Book
from strategies.index.rebalance import PlanError, RebalancePlan, plan_raise, plan_rebalance
from strategies.index.target import IndexTarget
from strategies.wash_guard import WashGuard

CENT = Decimal("0.01")
ANSWER_SECONDS = 60.0  # how long a command waits for the running daemon's answer
ANSWER_POLL_SECONDS = 0.2

index_app = typer.Typer(
    help="Direct indexing: build the index from cash, raise cash from it.", no_args_is_help=True
)
app.add_typer(index_app, name="index")

CashOption = Annotated[str, typer.Option("--cash", help="US dollars.", show_default=False)]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Only print the plan; place nothing.")
]


@dataclass(frozen=True, slots=True)
class Planned:
    """A plan and what it was made of, for printing and placing."""

    plan: RebalancePlan
    book: Book
    target: IndexTarget
    prices_from: str
    cash: Decimal  # the amount asked: to invest (build) or to raise


@index_app.command("build")
def build(cash: CashOption, dry_run: DryRunOption = False, config: ConfigOption = None) -> None:
    """Plan (and, with trading enabled, place) the purchase of the index with cash."""
    _command("build", cash, dry_run, config)


@index_app.command("raise")
def raise_cash(
    cash: CashOption, dry_run: DryRunOption = False, config: ConfigOption = None
) -> None:
    """Plan (and, with trading enabled, place) the sales that raise cash, losses first."""
    _command("raise", cash, dry_run, config)


def _command(op: str, cash_text: str, dry_run: bool, config: Path | None) -> None:
    settings = load_settings_or_exit(config)
    configure_logging(settings.logging.level, settings.logging.format, settings.secret_values())
    cash = _usd(cash_text)
    target = load_target_or_exit(settings, config)
    planned = asyncio.run(_plan(op, settings, target, cash))
    _print(op, planned)
    if dry_run:
        typer.echo("dry run: nothing placed")
        return
    if not trading_enabled(settings, settings.broker):
        typer.echo(f"trading is not enabled (mode {settings.mode}): nothing placed")
        return
    if not planned.plan.trades:
        typer.echo("nothing to trade")
        return
    typer.echo(asyncio.run(_place(op, settings, target, planned)))


def plan_id(op: str, book: Book) -> str:
    """Return the plan's id: the same command on the same day places nothing twice."""
    return f"{op}:{book.today.isoformat()}:{book.account}"


def _usd(text: str) -> Decimal:
    try:
        value = Decimal(text.replace(",", "").removeprefix("$"))
    except InvalidOperation:
        fail(f"--cash {text!r}: expected an amount of US dollars, e.g. 100000")
    if not value.is_finite() or value <= 0:
        fail(f"--cash {text!r}: the amount must be a positive number of US dollars")
    if value > MAX_MONEY:
        fail(f"--cash {text!r}: the amount must be at most {MAX_MONEY:,.0f} US dollars")
    return value


def load_target_or_exit(settings: Settings, config: Path | None) -> IndexTarget:
    """Return the `[index]` target, or print its problem (file:line:field) and exit 2."""
    from daemon.index_weights import load_target

    if not settings.index.enabled:
        fail("no direct index is configured: set [index] weights in tlh.toml")
    try:
        return load_target(settings.index, config_dir=config_dir(config))
    except ConfigError as exc:
        _fail_lines(exc.problems)
    except OSError as exc:
        fail(f"[index] weights: {exc.filename or settings.index.weights}: {exc.strerror or exc}")
    except ValueError as exc:  # a bad row (file:line:field), an empty universe
        fail(str(exc), bare=True)


def _fail_lines(problems: Collection[str]) -> NoReturn:
    for line in list(problems)[:-1]:
        typer.echo(line, err=True)
    fail(list(problems)[-1] if problems else "bad [index] configuration", bare=True)


async def _plan(op: str, settings: Settings, target: IndexTarget, cash: Decimal) -> Planned:
    """Plan `op` from the journal's state at the latest prices; exit 2 when it cannot."""
    from daemon.cli.run import load_ledger

    ledger, repo = await load_ledger(settings)
    prices, day, prices_from = await planning_prices(settings, repo, _universe(target, ledger))
    account = index_account(settings)
    held = {s for (a, s) in ledger.positions() if a == account}
    needed = target.symbols if op == "build" else held  # a raise sells only what is held
    missing = sorted(s for s in needed if s not in prices)
    if missing:
        shown = ", ".join(missing[:10]) + (
            f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        )
        fail(f"no price for {len(missing)} index names ({prices_from}): {shown}; nothing planned")
    book = book_of(settings, ledger, target, prices, day, cash if op == "build" else Decimal(0))
    params = rebalance_params(
        settings,
        broker_capabilities(settings).lot_relief,
        broker_capabilities(settings).fractional,
    )
    try:
        if op == "build":
            plan = plan_rebalance(book, target, prior_model(target.symbols, day), params)
        else:
            plan = plan_raise(book, cash, params)
    except PlanError as exc:
        fail(f"index {op}: {exc}; nothing traded")
    return Planned(plan, book, target, prices_from, cash)


def _universe(target: IndexTarget, ledger: Ledger) -> set[str]:
    out = set(target.symbols) | {s for (_a, s) in ledger.positions()}
    if target.completion:
        out.add(target.completion)
    return out


def book_of(
    settings: Settings,
    ledger: Ledger,
    target: IndexTarget,
    prices: Mapping[str, Decimal],
    day: date,
    cash: Decimal,
) -> Book:
    """Return the index account as the journal holds it, with `cash` to invest (a build) or
    none (a raise), and the household's wash-sale lockouts."""
    relief = broker_capabilities(settings).lot_relief
    account = index_account(settings)
    universe = {*target.symbols, *([target.completion] if target.completion else [])}
    holdings = holdings_of(ledger, account, prices, relief, day, universe)
    guard = WashGuard.for_ledger(lambda: ledger, settings.recurring_purchases())
    lockouts = lockouts_of(guard, target.symbols, holdings, day)
    return Book(account, day, cash, holdings, dict(prices), lockouts, identity=ledger.identity)


async def planning_prices(
    settings: Settings, repo: Repository, symbols: Collection[str]
) -> tuple[dict[str, Decimal], date, str]:
    """Return the latest price of `symbols`, the day they are of, and where they came from."""
    if settings.broker == "sim":
        return await _replay_prices(settings, repo, symbols)
    from daemon.brokers import build_broker

    broker = build_broker(settings)
    try:
        if not isinstance(broker, QuoteSnapshots):
            fail(f"{broker.name} gives no quotes on request: the index cannot be priced")
        try:
            quotes = await broker.latest_quotes(sorted(symbols))
        except Exception as exc:  # the broker's own error, one line: the operator's to fix
            fail(f"{broker.name}'s latest quotes: {exc}; nothing planned")
    finally:
        await broker.close()
    prices = {s: _mid(q) for s, q in quotes.items() if q.bid > 0 and q.ask > 0}
    return prices, datetime.now(UTC).astimezone(NEW_YORK).date(), f"{broker.name}'s latest quotes"


async def _replay_prices(
    settings: Settings, repo: Repository, symbols: Collection[str]
) -> tuple[dict[str, Decimal], date, str]:
    """Return the closes of the session the `[sim] replay` played last (its first before
    any): the prices the simulator fills at."""
    from daemon.replay import LAST_DAY_KEY, ReplayFileError, load_replay

    try:
        replay = load_replay(settings)
    except ReplayFileError as exc:
        fail(str(exc))
    if replay is None:
        fail('the simulator has no prices to plan with: set [sim] replay (not "none")')
    raw = await repo.get_state(LAST_DAY_KEY)
    series = replay.prices
    day = date.fromisoformat(raw) if raw else series.first_date
    wanted = set(symbols)
    prices: dict[str, Decimal] = {}
    for session, bars in series.days(wanted):
        if session > day:
            break
        for bar in bars:
            prices[bar.symbol] = bar.close
    return prices, day, f"the [sim] replay's closes of {day.isoformat()}"


def _mid(q: Quote) -> Decimal:
    return ((q.bid_decimal + q.ask_decimal) / 2).quantize(Decimal("0.0001"))


def _print(op: str, planned: Planned) -> None:
    plan, book, target = planned.plan, planned.book, planned.target
    after = _after(book, plan)
    typer.echo(
        f"index {op} (account {book.account}, {book.today.isoformat()}; prices: "
        f"{planned.prices_from})"
    )
    header = ("side", "symbol", "shares", "price", "amount", "weight", "target")
    rows = [
        (
            t.side.value.lower(),
            t.symbol,
            f"{t.quantity.normalize():f}",
            f"{t.price:,.2f}",
            f"{(t.quantity * t.price).quantize(CENT):,}",
            f"{after.get(t.symbol, 0.0):.4%}",
            f"{float(target.weights.get(t.symbol, Decimal(0))):.4%}",
        )
        for t in plan.trades
    ]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    for row in (header, *rows):
        typer.echo("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    buys = sum((t.quantity * t.price for t in plan.trades if t.side is Action.BUY), Decimal(0))
    sells = sum((t.quantity * t.price for t in plan.trades if t.side is Action.SELL), Decimal(0))
    typer.echo(
        f"{len(plan.trades)} trades: buy {buys.quantize(CENT):,}, sell {sells.quantize(CENT):,}; "
        f"tracking error {plan.tracking_error_before:.2%} -> {plan.tracking_error_after:.2%} "
        f"(ex ante, annualised); est. tax {plan.tax_cost.quantize(CENT):,}; "
        f"cash left {plan.cash_after.quantize(CENT):,}"
    )
    for note in plan.notes:
        typer.echo(f"note: {note}")


def _after(book: Book, plan: RebalancePlan) -> dict[str, float]:
    """Return each name's weight once the plan is done (the book's value, cash included)."""
    shares = {s: h.quantity for s, h in book.holdings.items()}
    for t in plan.trades:
        sign = 1 if t.side is Action.BUY else -1
        shares[t.symbol] = shares.get(t.symbol, Decimal(0)) + sign * t.quantity
    held = Book(book.account, book.today, plan.cash_after, {}, book.prices)
    value = held.value + sum(
        (q * book.prices[s] for s, q in shares.items() if s in book.prices), Decimal(0)
    )
    if value <= 0:
        return {}
    return {s: float(q * book.prices[s] / value) for s, q in shares.items() if s in book.prices}


async def _place(op: str, settings: Settings, target: IndexTarget, planned: Planned) -> str:
    """Place the plan through the outbox, owning the journal; while a daemon holds it, hand
    the request to that daemon (`daemon.index_manager.IndexManager.follow`). Return what
    was placed."""
    from daemon.cli.run import make_broker

    # The simulator trades on the replay's day (the lots' dates), a broker on the wall clock.
    clock: Clock = (
        SimulatedClock(at_close(planned.book.today)) if settings.broker == "sim" else LiveClock()
    )
    broker = make_broker(settings, clock)
    try:
        daemon = await build_daemon(settings, broker, clock.now, index_target=target)
    except JournalLockedError as exc:
        await broker.close()
        return await _hand_to_daemon(op, settings, planned, exc)
    try:
        _quote_simulator(daemon.broker, planned.book, clock.now())
        await daemon.engine.start()
        async with daemon.engine.lock:
            placed = await daemon.orders.place_plan(
                plan_id(op, planned.book), planned.book.account, planned.plan.trades
            )
        await daemon.engine.drain()
        return f"placed {len(placed)} orders (plan {plan_id(op, planned.book)})"
    finally:
        await daemon.close()


async def _hand_to_daemon(
    op: str, settings: Settings, planned: Planned, locked: JournalLockedError
) -> str:
    """Have the running daemon that holds the journal plan and place `op` itself (at its own
    quotes, on its own book); exit 2 when the holder takes no requests or does not answer."""
    from adapters.storage.engine import create_engine

    holder = locked.holder
    cash = planned.cash
    db = create_engine(settings.database.url)
    try:
        repo = Repository(db)
        marker = _json(await repo.get_state(OPEN_KEY))
        if holder is None or marker != {"pid": holder.pid, "host": holder.host}:
            fail(f"{locked}; it takes no `tlh index` requests: nothing placed")
        request_id = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        await repo.set_state(REQUEST_PREFIX + request_id, json.dumps({"op": op, "cash": str(cash)}))
        answer = await _answer(repo, request_id)
    finally:
        await db.dispose()
    if answer is None:
        fail(
            f"the running daemon ({holder.describe()}) did not take the request within "
            f"{ANSWER_SECONDS:.0f} s; nothing placed (is it stuck? see its log)"
        )
    if answer.get("error") == TAKEN_NOT_ANSWERED:
        fail(str(TAKEN_NOT_ANSWERED))
    if "error" in answer:
        fail(f"the running daemon placed nothing: {answer['error']}")
    return (
        f"the running daemon ({holder.describe()}) placed plan {answer.get('plan_id')}: "
        f"{answer.get('trades')} trades at its own quotes"
    )


TAKEN_NOT_ANSWERED = (
    "the daemon took the request and has not answered yet: its orders may be going out now; "
    "do not run the command again, see `tlh status` and the daemon's log"
)


async def _answer(repo: Repository, request_id: str) -> dict[str, object] | None:
    """Wait for the daemon's answer; withdraw the request when it does not come in time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ANSWER_SECONDS
    while loop.time() < deadline:
        if (raw := await repo.get_state(RESULT_PREFIX + request_id)) is not None:
            await repo.delete_state(RESULT_PREFIX + request_id)
            return _json(raw)
        await asyncio.sleep(ANSWER_POLL_SECONDS)
    if await repo.delete_state(REQUEST_PREFIX + request_id):
        return None  # withdrawn: the daemon never took it
    raw = await repo.get_state(RESULT_PREFIX + request_id)
    if raw is not None:
        return _json(raw)
    # Taken, and still being planned or placed: the orders may be going out now.
    return {"error": TAKEN_NOT_ANSWERED}


def _json(raw: str | None) -> dict[str, object] | None:
    try:
        value = json.loads(raw) if raw else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _quote_simulator(broker: object, book: Book, at: datetime) -> None:
    """Give the simulator the planning prices to fill at (a real broker has its own)."""
    from adapters.sim.broker import SimBroker

    if not isinstance(broker, SimBroker):
        return
    for symbol, price in book.prices.items():
        p = float(price)
        broker.set_quote(Quote(symbol, p, p, at))
