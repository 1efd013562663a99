"""`tlh run`, `tlh status`, `tlh harvest --dry-run`: the daemon and its views."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import structlog
import typer
from rich.console import Console
from rich.table import Table

from adapters.base import Broker
from adapters.storage.engine import create_engine
from adapters.storage.migrate import upgrade_database
from adapters.storage.records import Intent, IntentKind, IntentStatus
from adapters.storage.repository import Repository
from daemon.app import Daemon, build_daemon, decision_policy, make_ledger, trading_enabled
from daemon.broker_wait import use_retry_logging, wait_for_broker
from daemon.brokers import BrokerUnavailableError, broker_capabilities, build_broker
from daemon.cli import app
from daemon.cli.config import load_settings_or_exit
from daemon.cli.failures import fail
from daemon.clock import Clock, LiveClock
from daemon.hooks import EngineHooks
from daemon.journal_replay import replay
from daemon.logging import configure_logging
from daemon.market_calendar import MarketCalendar
from daemon.observation import PauseState
from daemon.orders import NEW_YORK, denial_kind, pending_buys_of, pending_sells_of
from daemon.pause import describe as describe_pause
from daemon.pause import read_pause
from daemon.replay import LiveReplay, ReplayFileError, load_replay
from daemon.scheduler import DaemonScheduler
from daemon.sdnotify import notify, watchdog_interval
from daemon.settings import Settings
from daemon.supervisor import supervise
from ledger.engine import Ledger
from strategies.decision import Action as Act
from strategies.decision import Decision, Price, decide_positions

ConfigOption = Annotated[Path | None, typer.Option(help="tlh.toml (default ./tlh.toml)")]
log = structlog.get_logger("tlh.run")


def make_broker(settings: Settings, clock: Clock) -> Broker:
    """Return the broker adapter that `settings.broker` selects, on `clock`; exit 2 when this
    build does not have it."""
    try:
        return build_broker(settings, clock.now)
    except BrokerUnavailableError as exc:
        fail(str(exc))


async def _run(settings: Settings, sim_replay: LiveReplay | None = None) -> None:
    health = os.environ.get("TLH_HEALTH_FILE")
    health_file = Path(health) if health else None
    if health_file is not None:
        health_file.unlink(missing_ok=True)  # a previous run's file would say "healthy"
    wall = LiveClock()
    # `[sim] replay`: the daemon lives on the replay's clock, fed by it instead of the timetable.
    clock: Clock = wall if sim_replay is None else sim_replay.clock
    broker = make_broker(settings, clock)
    daemon = await build_daemon(settings, broker, clock.now)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "daemon_starting",
        mode=settings.mode,
        broker=broker.name,
        trading_enabled=trading_enabled(settings, broker),
        database=settings.database.safe_url,
    )
    scheduler = DaemonScheduler(MarketCalendar(), wall, EngineHooks(daemon.engine))
    supervisor: asyncio.Task[None] | None = None
    follower = _follow_pause(daemon, stop)
    try:
        # Not ready while the broker cannot be reached: the network may not be up yet.
        if not await wait_for_broker(broker, stop):
            return
        if sim_replay is None:
            await daemon.engine.start()
            planned = scheduler.start()
            log.info("scheduler_started", jobs_today=len(planned))
        else:
            await sim_replay.start(daemon)
        # Ready only after recovery: open intents resumed, ledger rebuilt from the journal.
        notify("READY=1", "STATUS=running")
        interval = watchdog_interval() or 30.0
        supervisor = asyncio.create_task(
            supervise(
                daemon.engine,
                wall.now,
                interval=interval,
                health_file=health_file,
                stop=stop,
                lock=daemon.lock,
            )
        )
        if sim_replay is None:
            await daemon.engine.run(stop)
        else:
            await sim_replay.run(daemon, stop)
    finally:
        notify("STOPPING=1")
        stop.set()
        try:
            if supervisor is not None:
                await supervisor  # raises JournalLockLostError when the lock was lost
        finally:
            if follower is not None:
                await follower  # `stop` is set: it ends
            scheduler.shutdown()
            # Intents are persisted before any order leaves, so stopping here loses nothing:
            # the next start resumes them through the same recovery path.
            log.info("daemon_stopping", open_intents=len(daemon.orders.open_intents))
            await daemon.close()


def _follow_pause(daemon: Daemon, stop: asyncio.Event) -> asyncio.Task[None] | None:
    """Start re-reading the pause state until `stop` is set (issue #10 §4): a `tlh pause`
    from another process reaches the running daemon within `daemon.pause.REFRESH_SECONDS`."""
    return None if daemon.pause is None else asyncio.create_task(daemon.pause.follow(stop))


@app.command("run")
def run(config: ConfigOption = None) -> None:
    """Run the daemon until SIGTERM or SIGINT."""
    settings = load_settings_or_exit(config)
    configure_logging(settings.logging.level, settings.logging.format, settings.secret_values())
    use_retry_logging()
    try:
        sim_replay = load_replay(settings)
    except ReplayFileError as exc:
        fail(str(exc))
    asyncio.run(_run(settings, sim_replay))


async def load_ledger(settings: Settings) -> tuple[Ledger, Repository]:
    """Return the ledger rebuilt from the journal (entries it rejects skipped, with a warning)
    and the repository."""
    db = create_engine(settings.database.url)
    await upgrade_database(db)
    repo = Repository(db)
    events = [r.to_event() for r in await repo.load_journal()]
    ledger, rejected = replay(make_ledger(settings), events)
    for entry in rejected:  # skipped, as the daemon skips them (it halts their symbols)
        typer.echo(
            f"tlh: warning: {entry.reason}; skipped, trading in {entry.symbol} is halted",
            err=True,
        )
    return ledger, repo


@app.command("status")
def status(config: ConfigOption = None) -> None:
    """Show mode, broker, journal, open lots and orders in flight."""
    settings = load_settings_or_exit(config)

    async def gather() -> tuple[Ledger, list[object], list[object], int, list[Intent], PauseState]:
        ledger, repo = await load_ledger(settings)
        denied = [
            i
            for kind in IntentKind
            for i in await repo.intents_of_kind(kind, (IntentStatus.DENIED,))
        ]
        return (
            ledger,
            list(await repo.open_intents()),
            list(await repo.active_halts()),
            len(await repo.load_journal()),
            denied,
            await read_pause(repo),
        )

    ledger, intents, halts, entries, denied, paused = asyncio.run(gather())
    table = Table(title="tlh status", show_header=False)
    table.add_column("what")
    table.add_column("value")
    table.add_row(
        "mode",
        f"{settings.mode} (live trading "
        f"{'enabled' if settings.live_trading_enabled else 'disabled'})",
    )
    table.add_row("broker", settings.broker)
    table.add_row("database", settings.database.safe_url)
    table.add_row("journal entries", str(entries))
    table.add_row("open lots", str(len(ledger.open_lots())))
    table.add_row("sale rows", str(len(ledger.sales)))
    table.add_row("orders in flight", str(len(intents)))
    table.add_row("halted symbols", ", ".join(h.symbol for h in halts) or "none")  # type: ignore[attr-defined]
    table.add_row("orders denied", _denials(denied))
    table.add_row("paused", describe_pause(paused))
    Console().print(table)


def _denials(denied: list[Intent]) -> str:
    """Summarize the orders the risk limits (or halts, or dry run) denied: how many by which
    limit, and the latest with its reason."""
    if not denied:
        return "none"
    counts: dict[str, int] = {}
    for i in denied:
        kind = denial_kind(i.reason)
        counts[kind] = counts.get(kind, 0) + 1
    last = max(denied, key=lambda i: i.created_at or datetime.min.replace(tzinfo=UTC))
    by = ", ".join(f"{n} by {k}" for k, n in sorted(counts.items()))
    return f"{by}; latest: {last.symbol} on {last.payload.get('trade_date', '?')}: {last.reason}"


@app.command("harvest")
def harvest(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show what would be harvested.")
    ] = False,
    price: Annotated[
        list[str] | None,
        typer.Option(
            help=(
                "Current price as SYMBOL=PRICE (repeatable); positions without a price are "
                "skipped, and a substitute without one is not a replacement."
            )
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Show what the daemon would decide now (it places orders itself: `tlh run`)."""
    if not dry_run:
        fail("harvest places no orders itself; use --dry-run to preview, `tlh run` to trade")
    settings = load_settings_or_exit(config)
    prices: dict[str, Decimal] = {}
    for item in price or []:
        symbol, _, text = item.partition("=")
        try:
            value = Decimal(text)
        except InvalidOperation:
            fail(f"--price {item!r}: expected SYMBOL=PRICE")
        if not value.is_finite() or value <= 0:
            fail(f"--price {item!r}: the price must be a positive number")
        prices[symbol.strip().upper()] = value
    decisions = asyncio.run(preview(settings, prices))
    table = Table(title="Would harvest (dry run)")
    for col in ("account", "symbol", "lots", "quantity", "net loss", "est. tax saved", "decision"):
        table.add_column(col)
    shown = 0
    for account, symbol, d in decisions:
        c = d.candidate
        if c is None:
            continue
        shown += 1
        table.add_row(
            account,
            symbol,
            ", ".join(c.lot_ids),
            str(c.quantity),
            f"{c.net_loss:,.2f}",
            f"{c.estimated_tax_saved:,.2f}",
            d.reason if d.action is not Act.HARVEST else f"harvest: {d.reason}",
        )
    console = Console()
    if shown:
        console.print(table)
    else:
        console.print("Nothing to harvest at these prices.")


async def preview(
    settings: Settings, prices: dict[str, Decimal], now: datetime | None = None
) -> list[tuple[str, str, Decision]]:
    """Decide every priced position as the daemon would `now`, from the journal and the
    orders in flight (New York trading date; the broker's lot relief; halts)."""
    db = create_engine(settings.database.url)
    try:
        await upgrade_database(db)
        repo = Repository(db)
        ledger = make_ledger(settings)
        ledger.apply_all(r.to_event() for r in await repo.load_journal())
        open_intents = await repo.open_intents()
        waiting = await repo.finished_harvests_without_replacement()
        halts = await repo.active_halts()
    finally:
        await db.dispose()
    now = now or datetime.now(UTC)
    relief = broker_capabilities(settings).lot_relief
    return decide_positions(
        ledger,
        decision_policy(settings, relief),
        method=relief.method,
        prices={s: Price(p, p, now) for s, p in prices.items()},
        today=now.astimezone(NEW_YORK).date(),
        halted={h.symbol for h in halts},
        busy={(i.account, i.symbol) for i in open_intents},
        pending_buys=pending_buys_of(
            open_intents,
            (str(w.payload["replacement"]) for w in waiting if w.payload.get("replacement")),
        ),
        pending_loss_sales=pending_sells_of(open_intents),
    )
