"""`tlh run`, `tlh status`, `tlh harvest --dry-run`: the daemon and its views."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Coroutine
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Protocol

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
from daemon.broker_accounts import BrokerAccounts
from daemon.broker_wait import use_retry_logging, wait_for_broker
from daemon.brokers import (
    BrokerUnavailableError,
    broker_account,
    broker_capabilities,
    build_broker,
)
from daemon.cli import app
from daemon.cli.config import load_settings_or_exit
from daemon.cli.failures import fail
from daemon.clock import Clock, LiveClock
from daemon.daemon_view import RunningDaemonView
from daemon.hooks import EngineHooks
from daemon.index_manager import preview_ranker
from daemon.journal_replay import replay
from daemon.logging import configure_logging
from daemon.market_calendar import MarketCalendar
from daemon.observation import StatusSnapshot
from daemon.orders import NEW_YORK, denial_kind, pending_buys_of, pending_sells_of
from daemon.pause import describe as describe_pause
from daemon.pause import read_pause
from daemon.replay import LiveReplay, ReplayFileError, load_replay, replayed_now
from daemon.scheduler import DaemonScheduler
from daemon.sdnotify import notify, watchdog_interval
from daemon.settings import Settings
from daemon.snapshot import build_snapshot
from daemon.supervisor import Verdict, supervise
from ledger.engine import Ledger
from strategies.decision import Action as Act
from strategies.decision import Decision, Price, decide_positions
from strategies.index.target import IndexTarget

ConfigOption = Annotated[Path | None, typer.Option(help="tlh.toml (default ./tlh.toml)")]
log = structlog.get_logger("tlh.run")


class WebServer(Protocol):
    """The running loopback listener (`adapters.web.server.start_web`)."""

    port: int

    async def close(self) -> None: ...


def make_broker(settings: Settings, clock: Clock) -> Broker:
    """Return the broker adapter that `settings.broker` selects, on `clock`; exit 2 when this
    build does not have it."""
    try:
        return build_broker(settings, clock.now)
    except BrokerUnavailableError as exc:
        fail(str(exc))


async def _run(
    settings: Settings,
    sim_replay: LiveReplay | None = None,
    index_target: IndexTarget | None = None,
) -> None:
    health = os.environ.get("TLH_HEALTH_FILE")
    health_file = Path(health) if health else None
    if health_file is not None:
        health_file.unlink(missing_ok=True)  # a previous run's file would say "healthy"
    wall = LiveClock()
    # `[sim] replay`: the daemon lives on the replay's clock, fed by it instead of the timetable.
    clock: Clock = wall if sim_replay is None else sim_replay.clock
    broker = make_broker(settings, clock)
    daemon = await build_daemon(settings, broker, clock.now, index_target=index_target)
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
    calendar = MarketCalendar()
    scheduler = DaemonScheduler(calendar, wall, EngineHooks(daemon.engine))
    supervisor: asyncio.Task[None] | None = None
    verdict = Verdict(interval=watchdog_interval() or 30.0)
    view = RunningDaemonView(daemon, settings, clock.now, verdict, calendar=calendar)
    observers: list[asyncio.Task[None]] = []
    web = None
    try:
        # Followed from now on: a `tlh pause` during the startup is applied (and acknowledged)
        # while the daemon waits for the broker or replays the journal.
        observers = _follow_pause(daemon, stop)
        web = await _start_web(view, settings)  # /healthz and /readyz tell the startup too
        # Not ready while the broker cannot be reached: the network may not be up yet.
        if not await wait_for_broker(broker, stop):
            return
        await _refresh_pause(daemon)  # the state in force before the first order can leave
        if sim_replay is None:
            await daemon.engine.start()
            planned = scheduler.start()
            log.info("scheduler_started", jobs_today=len(planned))
            _schedule_plaid(settings, daemon, calendar, wall, scheduler)
        else:
            await sim_replay.start(daemon)
        # Ready only after recovery: open intents resumed, ledger rebuilt from the journal.
        notify("READY=1", "STATUS=running")
        observers += _start_observers(view, settings, stop)
        if daemon.inbox is not None:  # `tlh import` beside the daemon, from now on
            observers.append(_observe(daemon.inbox.follow(stop), "imports", stop))
        if daemon.index is not None:  # `tlh index build|raise` beside the daemon
            observers.append(_observe(daemon.index.follow(stop), "index", stop))
        supervisor = asyncio.create_task(
            supervise(
                daemon.engine,
                wall.now,
                interval=verdict.interval,
                health_file=health_file,
                stop=stop,
                lock=daemon.lock,
                verdict=verdict,
            )
        )
        await _refresh_pause(daemon)
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
            await _stop_observers(observers, web)
            scheduler.shutdown()
            # Intents are persisted before any order leaves, so stopping here loses nothing:
            # the next start resumes them through the same recovery path.
            log.info("daemon_stopping", open_intents=len(daemon.orders.open_intents))
            await daemon.close()


def _schedule_plaid(
    settings: Settings,
    daemon: Daemon,
    calendar: MarketCalendar,
    clock: Clock,
    scheduler: DaemonScheduler,
) -> None:
    """Sync the `[[plaid.items]]` into the journal: once now, then hourly in the session."""
    if not settings.plaid.items or daemon.imports is None:
        return
    from adapters.storage.records import LOT_METHODS
    from daemon.plaid_sync import PlaidSync

    method = settings.harvest.lot_method.value
    PlaidSync(
        settings.plaid,
        daemon.imports,
        calendar,
        clock,
        accounts=settings.accounts,
        lot_method=method if method in LOT_METHODS else "fifo",
    ).register(scheduler.scheduler)


async def _start_web(view: RunningDaemonView, settings: Settings) -> WebServer | None:
    """Start the loopback listener (`/metrics`, `/healthz`, `/readyz`, `/`) when
    `[metrics] enabled`; the adapter is imported only then."""
    if not settings.metrics.enabled:
        return None
    from adapters.web.server import start_web

    return await start_web(view, settings.metrics)


async def _refresh_pause(daemon: Daemon) -> None:
    """Apply the stored pause state now (`tlh pause` from another process)."""
    if daemon.pause is not None:
        await daemon.pause.refresh()


def _follow_pause(daemon: Daemon, stop: asyncio.Event) -> list[asyncio.Task[None]]:
    """Start re-reading the stored pause state until `stop` (a `tlh pause` from another
    process, at once and then within `daemon.pause.REFRESH_SECONDS`)."""
    if daemon.pause is None:
        return []
    return [_observe(daemon.pause.follow(stop), "pause", stop, guards_money=True)]


def _start_observers(
    view: RunningDaemonView, settings: Settings, stop: asyncio.Event
) -> list[asyncio.Task[None]]:
    """Start what follows the running daemon until `stop`: when `[mqtt] enabled`, the MQTT
    publisher (the adapter is imported only then)."""
    if not settings.mqtt.enabled:
        return []
    from adapters.mqtt.publisher import MqttPublisher

    publisher = MqttPublisher(view, settings.mqtt)
    return [_observe(publisher.run(stop), "mqtt", stop)]


def _observe(
    work: Coroutine[object, object, None],
    name: str,
    stop: asyncio.Event,
    *,
    guards_money: bool = False,
) -> asyncio.Task[None]:
    """Run `work` as a task whose failure is logged as `observer_failed`; when it
    `guards_money` (the pause follower), its failure also stops the daemon: a daemon that no
    longer follows the pause switch must not go on trading."""

    def ended(task: asyncio.Task[None]) -> None:
        if task.cancelled() or (exc := task.exception()) is None:
            return
        log.error("observer_failed", observer=name, stopping_daemon=guards_money, exc_info=exc)
        if guards_money:
            stop.set()

    task = asyncio.create_task(work, name=name)
    task.add_done_callback(ended)
    return task


async def _stop_observers(tasks: list[asyncio.Task[None]], web: WebServer | None) -> None:
    """Let the observers end on `stop` (cancelled after a few seconds), close the listener."""
    if tasks:
        _done, pending = await asyncio.wait(tasks, timeout=5.0)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if web is not None:
        await web.close()


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
    asyncio.run(_run(settings, sim_replay, _index_target(settings, config)))


def _index_target(settings: Settings, config: Path | None) -> IndexTarget | None:
    """Return the `[index]` target (None without one); a bad weights file exits 2."""
    if not settings.index.enabled:
        return None
    from daemon.cli.index import load_target_or_exit

    return load_target_or_exit(settings, config)


async def load_ledger(settings: Settings) -> tuple[Ledger, Repository]:
    """Return the ledger rebuilt from the journal (entries it rejects skipped, with a warning)
    and the repository."""
    db = create_engine(settings.database.url)
    await upgrade_database(db)
    repo = Repository(db)
    events = [r.to_event() for r in await repo.load_journal()]
    ledger, rejected = replay(make_ledger(settings, await repo.accounts()), events)
    for entry in rejected:  # skipped, as the daemon skips them (it halts their symbols)
        typer.echo(
            f"tlh: warning: {entry.reason}; skipped, trading in {entry.symbol} is halted",
            err=True,
        )
    return ledger, repo


@app.command("status")
def status(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the status snapshot as JSON.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Show mode, broker, journal, open lots, this year's harvests, halts, pause and orders
    in flight: the numbers of the status page and MQTT (`daemon.snapshot`)."""
    settings = load_settings_or_exit(config)
    snapshot, sales, denied = asyncio.run(_status(settings))
    if as_json:
        typer.echo(json.dumps(snapshot.as_json(), indent=2))
        return
    table = Table(title="tlh status", show_header=False)
    table.add_column("what")
    table.add_column("value")
    for what, value in _status_rows(settings, snapshot, sales, denied):
        table.add_row(what, value)
    Console().print(table)


async def _status(settings: Settings) -> tuple[StatusSnapshot, int, list[Intent]]:
    """Return the snapshot of the journal as it stands (no daemon: nothing priced, the
    connection unknown), the number of sale rows and the orders denied."""
    ledger, repo = await load_ledger(settings)
    now = await replayed_now(settings, repo) or datetime.now(UTC)
    denied = [
        i for kind in IntentKind for i in await repo.intents_of_kind(kind, (IntentStatus.DENIED,))
    ]
    snapshot = await build_snapshot(
        settings,
        repo,
        ledger,
        bids={},
        now=now,
        pause=await read_pause(repo),
        connected=None,
        trading_enabled=trading_enabled(settings, settings.broker),
        orders_in_flight=len(await repo.open_intents()),
    )
    return snapshot, len(ledger.sales), denied


def _status_rows(
    settings: Settings, s: StatusSnapshot, sales: int, denied: list[Intent]
) -> list[tuple[str, str]]:
    """Return the rows of `tlh status`."""
    live = "enabled" if s.live_trading_enabled else "disabled"
    year = s.harvests_this_year
    rows = [
        ("mode", f"{s.mode} (live trading {live})"),
        ("broker", s.broker),
        ("database", settings.database.safe_url),
        ("journal entries", str(s.journal_entries)),
        ("open lots", str(len(s.open_lots))),
        ("sale rows", str(sales)),
        (
            f"harvests in {s.today.year}",
            f"{len(year)}: loss {s.harvested_loss_ytd:,.2f}, "
            f"est. tax saved {s.estimated_tax_saved_ytd:,.2f}",
        ),
        ("wash windows", f"{len(s.wash_windows)} open"),
        ("orders in flight", str(s.orders_in_flight)),
        ("halted symbols", ", ".join(s.halted_symbols) or "none"),
        ("orders denied", _denials(denied)),
        ("paused", describe_pause(s.pause)),
    ]
    if any(lot.unrealized is not None for lot in s.open_lots):
        rows.insert(5, ("unrealized loss", f"{s.unrealized_loss:,.2f}"))
    if s.index_tracking_error_budget is not None:
        te = s.index_tracking_error
        rows.append(
            (
                "index tracking error",
                f"{'not estimated yet' if te is None else f'{te:.2%}'} "
                f"(budget {s.index_tracking_error_budget:.2%}, ex ante, annualised)",
            )
        )
    return rows


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
    decisions = asyncio.run(preview(settings, prices, index_target=_index_target(settings, config)))
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
    settings: Settings,
    prices: dict[str, Decimal],
    now: datetime | None = None,
    *,
    index_target: IndexTarget | None = None,
) -> list[tuple[str, str, Decision]]:
    """Decide every priced position as the daemon would `now`, from the journal and the
    orders in flight (New York trading date; the broker's lot relief; halts; only the
    accounts the broker trades are harvested, `daemon.broker_accounts`; a direct index's
    ranked replacements, `index_target`)."""
    db = create_engine(settings.database.url)
    try:
        await upgrade_database(db)
        repo = Repository(db)
        recorded = await repo.accounts()
        ledger = make_ledger(settings, recorded)
        ledger.apply_all(r.to_event() for r in await repo.load_journal())
        open_intents = await repo.open_intents()
        waiting = await repo.finished_harvests_without_replacement()
        halts = await repo.active_halts()
    finally:
        await db.dispose()
    now = now or datetime.now(UTC)
    today = now.astimezone(NEW_YORK).date()
    relief = broker_capabilities(settings).lot_relief
    quoted = {s: Price(p, p, now) for s, p in prices.items()}
    pending_loss_sales = pending_sells_of(open_intents)
    ranked = (
        None
        if index_target is None
        else preview_ranker(
            settings,
            index_target,
            ledger,
            quoted,
            today,
            relief,
            halted={h.symbol for h in halts},
            pending_loss_sales=pending_loss_sales,
        )
    )
    return decide_positions(
        ledger,
        decision_policy(settings, relief, ranked),
        method=relief.method,
        prices=quoted,
        today=today,
        halted={h.symbol for h in halts},
        busy={(i.account, i.symbol) for i in open_intents},
        pending_buys=pending_buys_of(
            open_intents,
            (str(w.payload["replacement"]) for w in waiting if w.payload.get("replacement")),
        ),
        pending_loss_sales=pending_loss_sales,
        recurring=settings.recurring_purchases(),
        traded=BrokerAccounts(settings.broker, broker_account(settings), recorded).trades,
    )
