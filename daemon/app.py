"""Composition root: build the daemon's parts from settings, for any broker and clock."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.base import AccountReports, Broker, LotRelief, MarketDataHealth, ResyncRequests
from adapters.storage.engine import create_engine
from adapters.storage.fast_write import dispose_fast_writer
from adapters.storage.journal_lock import JournalLock, lock_journal
from adapters.storage.migrate import upgrade_database
from adapters.storage.records import Account
from adapters.storage.repository import Repository
from daemon.broker_accounts import BrokerAccounts
from daemon.brokers import broker_options
from daemon.clock import LiveClock
from daemon.engine import HarvestEngine
from daemon.engine_import import EngineImportSink
from daemon.import_inbox import ImportInbox
from daemon.index_manager import IndexManager
from daemon.orders import OrderManager, RiskLimits
from daemon.pause import PauseSwitch
from daemon.reconciliation import OrderWatch, Reconciler
from daemon.settings import Settings
from ledger.engine import Ledger
from ledger.model import AccountType
from strategies.decision import Policy
from strategies.harvest import HarvestParams
from strategies.index.target import IndexTarget
from strategies.price_sanity import QuoteSanity
from strategies.wash_guard import WashGuard


@dataclass(slots=True)
class Daemon:
    """The wired daemon: storage, ledger, order manager and engine over one broker."""

    db: AsyncEngine
    repo: Repository
    engine: HarvestEngine
    orders: OrderManager
    broker: Broker
    lock: JournalLock
    reconciler: Reconciler | None = None
    watch: OrderWatch | None = None
    pause: PauseSwitch | None = None
    imports: EngineImportSink | None = None  # the door for imports while it runs
    inbox: ImportInbox | None = None  # `tlh import` requests, through the database
    index: IndexManager | None = None  # the direct index (`[index]`), also `engine.index`

    @property
    def ledger(self) -> Ledger:
        """Return the engine's current ledger."""
        return self.engine.ledger

    async def close(self) -> None:
        """Stop the order watch, close the broker and the database, then give up the journal."""
        if self.watch is not None:
            await self.watch.stop()
        await self.broker.close()
        dispose_fast_writer(self.db)
        await self.db.dispose()
        await self.lock.release()


def trading_enabled(settings: Settings, broker: Broker | str) -> bool:
    """Return whether orders may leave through `broker` (or the broker of that name): the
    simulator always; real brokers per `mode` (`daemon.brokers.broker_options`)."""
    name = broker if isinstance(broker, str) else broker.name
    return name == "sim" or broker_options(settings).orders_allowed


def harvest_params(settings: Settings) -> HarvestParams:
    """Return the harvest thresholds, costs and rates from settings."""
    h, t = settings.harvest, settings.tax
    return HarvestParams(
        min_loss_pct=h.min_loss_pct,
        min_loss_usd=h.min_loss_usd,
        short_term_rate=t.short_term_rate,
        long_term_rate=t.long_term_rate,
        spread_cost_factor=h.spread_cost_factor,
        fee_per_order=h.fee_per_order,
    )


def decision_policy(
    settings: Settings,
    relief: LotRelief,
    ranked: Callable[[str], Sequence[str]] | None = None,
) -> Policy:
    """Return the harvest decision's policy from settings and the broker's lot relief;
    `ranked`: a direct index's replacements (`daemon.index_manager`), else the substitutes."""
    return Policy(
        params=harvest_params(settings),
        specific_lots=relief.specific_lots,
        substitutes=settings.substitute_groups(),
        allow_cash=settings.harvest.allow_cash,
        ranked=ranked,
    )


def make_quote_filter(settings: Settings) -> QuoteSanity:
    """Return the live quote filter configured by `[prices]`."""
    return QuoteSanity(
        band_pct=settings.prices.band_pct,
        stale_after=timedelta(seconds=settings.prices.stale_after_seconds),
        hold_after_suspect=settings.prices.confirm_quotes,
    )


def make_ledger(settings: Settings, recorded: Iterable[Account] = ()) -> Ledger:
    """Return an empty ledger configured from settings; the `recorded` accounts (imported:
    `Repository.accounts`) keep their type unless `[accounts]` declares another, as in the
    daemon."""
    return Ledger(
        identity=settings.identity(),
        conventions=settings.wash_sale_conventions(),
        account_types={**{a.account: a.type for a in recorded}, **settings.accounts},
        default_lot_method=settings.harvest.lot_method,
    )


async def build_daemon(
    settings: Settings,
    broker: Broker,
    now: Callable[[], datetime],
    *,
    database_url: str | None = None,
    on_decision: Callable[[str, dict[str, object]], None] | None = None,
    index_target: IndexTarget | None = None,
) -> Daemon:
    """Take the journal, migrate the database and wire every part; call `daemon.engine.start()`
    next.

    Raise `JournalLockedError` when another process owns the journal (see
    `adapters.storage.journal_lock`), `DatabaseUnavailableError` when it cannot be opened.
    Every daemon (`tlh run`, backtests, the demo) judges quotes with the `[prices]` quote
    filter built here, so no caller can leave it out. What the broker can do (lot relief,
    fractional shares) is read from its `capabilities`. The stored pause state
    (`daemon.pause`) is applied here, before any order can leave.

    With `[index]` configured, the engine drives a direct index (`daemon.index_manager`) of
    `index_target` (read from `[index]` here when not given, relative paths from the working
    directory; its errors, `WeightsError` and `TargetError`, are raised before anything is
    opened: the commands report them as configuration errors).
    """
    if settings.index.enabled and index_target is None:
        from daemon.index_weights import load_target

        index_target = load_target(settings.index, config_dir=None)
    url = database_url or settings.database.url
    lock = await lock_journal(url)
    db = create_engine(url)
    try:
        await upgrade_database(db)
    except BaseException:
        await db.dispose()
        await lock.release()
        raise
    repo = Repository(db, clock=now)
    accounts = BrokerAccounts.of(broker, await repo.accounts(), settings.sim.accounts)

    def ledger_for(types: Mapping[str, AccountType]) -> Ledger:
        return make_ledger(settings.model_copy(update={"accounts": dict(types)}))

    # Imported accounts keep their recorded type; the configuration's [accounts] prevail.
    recorded = {name: a.type for name, a in accounts.recorded().items()}
    ledger = ledger_for({**recorded, **settings.accounts})
    engine_ref: list[HarvestEngine] = []

    async def on_journal(seqs: list[int], entries: list) -> None:  # type: ignore[type-arg]
        await engine_ref[0].on_journal(seqs, entries)

    health = broker if isinstance(broker, MarketDataHealth) else None  # asked once: it is slow

    def quote_of(symbol: str):  # type: ignore[no-untyped-def]
        quote = engine_ref[0].quote_of(symbol)
        if quote is not None and health is not None and not health.quote_is_fresh(quote):
            return None  # stale market data: a replacement waits for a fresh quote
        return quote

    orders = OrderManager(
        repo=repo,
        broker=broker,
        now=now,
        quotes=quote_of,
        on_journal=on_journal,
        risk=RiskLimits(
            max_order_notional=settings.risk.max_order_notional,
            max_daily_notional=settings.risk.max_daily_notional,
            max_harvests_per_day=settings.risk.max_harvests_per_day,
            kill_switch=settings.risk.kill_switch,
        ),
        trading_enabled=trading_enabled(settings, broker),
        fee_per_order=settings.harvest.fee_per_order,
    )
    guard = WashGuard.for_ledger(
        lambda: engine_ref[0].ledger if engine_ref else ledger, settings.recurring_purchases()
    )
    engine = HarvestEngine(
        ledger=ledger,
        repo=repo,
        broker=broker,
        orders=orders,
        params=harvest_params(settings),
        guard=guard,
        substitutes=settings.substitute_groups(),
        now=now,
        allow_cash=settings.harvest.allow_cash,
        swap_back=settings.harvest.swap_back,
        swap_back_max_st_gain=settings.harvest.swap_back_max_st_gain_usd,
        quote_filter=make_quote_filter(settings),
        source=broker.name,
        on_decision=on_decision,
    )
    engine_ref.append(engine)
    engine.trades_account = accounts.trades
    index = None
    if settings.index.enabled and index_target is not None:
        index = IndexManager(engine, settings, index_target, repo)
        engine.index = index
    imports = EngineImportSink(engine, repo, accounts, ledger_for, settings.accounts)
    inbox = ImportInbox(repo, imports)
    reconciler, watch = wire_reconciliation(settings, engine, repo, broker, inbox)
    # Loaded before the engine starts: a daemon restarted while paused stays paused.
    # An operator's pause happens in wall-clock time, whatever clock a replay trades on.
    pause = PauseSwitch(repo, LiveClock().now, engine=engine)
    await pause.load()
    return Daemon(
        db=db,
        repo=repo,
        engine=engine,
        orders=orders,
        broker=broker,
        lock=lock,
        reconciler=reconciler,
        watch=watch,
        pause=pause,
        imports=imports,
        inbox=inbox,
        index=index,
    )


def wire_reconciliation(
    settings: Settings,
    engine: HarvestEngine,
    repo: Repository,
    broker: Broker,
    inbox: ImportInbox | None = None,
) -> tuple[Reconciler | None, OrderWatch | None]:
    """Reconcile `engine` with a broker that reports an account: on start (`engine.start`),
    when the broker asks (after its reconnects), and while orders are in flight (the watch).
    After each pass, the `inbox`'s waiting imports are applied.

    The simulator reports no account: its book is the replay itself, nothing to reconcile.
    """
    if not isinstance(broker, AccountReports):
        return None, None
    reconciler = Reconciler(engine=engine, repo=repo, broker=broker, account=broker.account)

    async def reconcile(reason: str) -> None:
        await reconciler.run(reason)
        if inbox is not None:
            await inbox.poll()

    engine.reconcile = reconcile
    if isinstance(broker, ResyncRequests):
        broker.on_resync(reconciler.resync)
    watch = OrderWatch(
        engine=engine,
        reconciler=reconciler,
        poll_seconds=settings.orders.poll_seconds,
        reconcile_seconds=settings.orders.reconcile_seconds,
    )
    engine.watch = watch
    return reconciler, watch
