"""Build the `StatusSnapshot` from the ledger and the database: one function serves the running
daemon (status page, MQTT, gauges) and `tlh status`, so they always agree."""

from __future__ import annotations

import json
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from adapters.storage.records import Intent, IntentKind, JournalKind, JournalRecord, StatusReads
from adapters.storage.repository import Repository
from daemon.observation import (
    ZERO,
    HarvestRecord,
    OpenLot,
    PauseState,
    State,
    StatusSnapshot,
    WashWindow,
)
from daemon.orders import sent_on
from daemon.settings import Settings
from ledger.engine import Ledger
from ledger.model import Action, SaleRow
from ledger.model import OpenLot as LedgerLot

NEW_YORK = ZoneInfo("America/New_York")
CENT = Decimal("0.01")
HARVEST_KINDS = (
    IntentKind.HARVEST_SELL,
    IntentKind.SWAP_BACK_SELL,
    IntentKind.REBALANCE_SELL,
    IntentKind.REPLACEMENT_BUY,
)
"""The intents the harvests are told from: the sales (a swap back's and a rebalance's too:
their fills are the position's sales of that day) and the replacements."""
Lockout = Literal["no_buy", "no_loss_sale"]
INDEX_STATUS_KEY = "index:status"
"""Where the daemon keeps a direct index's tracking error for `tlh status` (state table):
``{"tracking_error": float | null, "budget": "0.01", "as_of": "YYYY-MM-DD"}``."""


async def build_snapshot(
    settings: Settings,
    repo: Repository,
    ledger: Ledger,
    *,
    bids: Mapping[str, Decimal],
    now: datetime,
    pause: PauseState,
    connected: bool | None,
    trading_enabled: bool,
    orders_in_flight: int,
    reads: StatusReads | None = None,
) -> StatusSnapshot:
    """Return what the daemon is doing `now`: the ledger's open lots (priced at `bids`, the
    latest bid of each symbol known; empty for `tlh status`), the harvests and halts the
    database holds, and the wash-sale windows open today.

    `connected`: whether the broker's streams are up (None: unknown, no daemon);
    `trading_enabled`: whether orders may leave by mode and live flag (the kill switch and
    the pause are added here); `orders_in_flight`: the intents not yet final; `reads`: what
    the database holds for it (`Repository.status_reads` of `HARVEST_KINDS`), read here when
    not given.
    """
    today = now.astimezone(NEW_YORK).date()
    reads = reads or await repo.status_reads(HARVEST_KINDS)
    # Each read once, for the harvests, the lots and the windows.
    sales = list(ledger.sales_by_sale())
    lots = ledger.open_lots()
    # The hard stop first: the kill switch holds every order, a pause only new ones.
    state: State = (
        "disconnected"
        if connected is False
        else "halted"
        if settings.risk.kill_switch
        else "paused"
        if pause.paused
        else "running"
    )
    return StatusSnapshot(
        at=now,
        today=today,
        mode=settings.mode,
        live_trading_enabled=settings.live_trading_enabled,
        trading_enabled=trading_enabled and not settings.risk.kill_switch and not pause.paused,
        broker=settings.broker,
        state=state,
        pause=pause,
        connected=connected,
        journal_entries=reads.journal_entries,
        orders_in_flight=orders_in_flight,
        halted_symbols=tuple(sorted({h.symbol for h in reads.halts})),
        open_lots=open_lots(lots, bids),
        harvests=harvests(reads, sales, settings),
        wash_windows=wash_windows(ledger, sales, lots, today),
        index_tracking_error=await index_tracking_error(settings, repo),
        index_tracking_error_budget=(
            settings.index.max_tracking_error if settings.index.enabled else None
        ),
    )


async def index_tracking_error(settings: Settings, repo: Repository) -> float | None:
    """Return the direct index's tracking error the daemon last published (None: no index,
    or none published yet)."""
    if not settings.index.enabled:
        return None
    raw = await repo.get_state(INDEX_STATUS_KEY)
    if not raw:
        return None
    try:
        value = json.loads(raw).get("tracking_error")
        return float(value) if value is not None else None
    except (ValueError, TypeError, AttributeError):
        return None


def open_lots(lots: Iterable[LedgerLot], bids: Mapping[str, Decimal]) -> tuple[OpenLot, ...]:
    """Return the ledger's open `lots` at their adjusted basis, priced at `bids` where known."""
    out = []
    for lot in lots:
        price = bids.get(lot.symbol)
        value = None if price is None else (lot.quantity * price).quantize(CENT)
        basis = lot.adjusted_basis
        out.append(
            OpenLot(
                account=lot.account,
                symbol=lot.symbol,
                lot_id=lot.lot_id,
                quantity=lot.quantity,
                acquired=lot.acquired,
                basis=basis,
                price=price,
                market_value=value,
                unrealized=None if value is None else (value - basis).quantize(CENT),
            )
        )
    return tuple(out)


# -- harvests ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Harvest:
    """One harvest being summed up: its first order and every part's sale rows."""

    first: Intent
    quantity: Decimal = ZERO
    rows: list[SaleRow] = field(default_factory=list)


def harvests(
    reads: StatusReads, sales: Iterable[list[SaleRow]], settings: Settings
) -> tuple[HarvestRecord, ...]:
    """Return every harvest the database holds (`reads`: a harvest sale that sold shares),
    oldest first.

    The realised loss is the ledger's (`sales`: its rows, sale by sale): the loss of the sale
    rows of the harvest's fills, after any wash-sale adjustment (IRC §1091(a); Form 8949
    column h), taxed at the `[tax]` rate of each row's term for the estimate, as
    `daemon.backtest` sums them. A harvest sold in parts (`max_order_notional`) is one
    harvest. Its replacement is the symbol the replacement buy of its first part bought (or is
    buying); None when it went to cash.
    """
    sells = [i for i in reads.intents if i.kind is IntentKind.HARVEST_SELL]
    buys = [i for i in reads.intents if i.kind is IntentKind.REPLACEMENT_BUY]
    sold = [i for i in reads.intents if i.side is Action.SELL and i.filled_quantity > ZERO]
    fills = _fills_of(sold, reads.journal_sales)
    wanted = {seq for seqs in fills.values() for seq in seqs}
    rows_of = {rows[0].seq: rows for rows in sales if rows and rows[0].seq in wanted}
    found: dict[tuple[object, ...], _Harvest] = {}
    for sale in sells:  # oldest first: a harvest's first part before the others
        if sale.filled_quantity <= ZERO:
            continue
        harvest = found.setdefault(_harvest_key(sale), _Harvest(sale))
        harvest.quantity += sale.filled_quantity
        for seq in fills.get(sale.intent_id, ()):
            harvest.rows += rows_of.get(seq, ())
    replacement = _replacements(buys)
    rate = {"short": settings.tax.short_term_rate, "long": settings.tax.long_term_rate}
    out = []
    for h in found.values():
        losses = [row for row in h.rows if row.gain_loss < ZERO]
        out.append(
            HarvestRecord(
                intent_id=h.first.intent_id,
                day=min((r.date_sold for r in h.rows), default=None) or sent_on(h.first),
                account=h.first.account,
                symbol=h.first.symbol,
                quantity=h.quantity,
                loss=sum((-r.gain_loss for r in losses), ZERO).quantize(CENT),
                estimated_tax_saved=sum(
                    (-r.gain_loss * rate[r.term.value] for r in losses), ZERO
                ).quantize(CENT),
                replacement=replacement.get(h.first.intent_id),
            )
        )
    out.sort(key=lambda r: r.day)  # stable: same-day harvests stay in the order they were made
    return tuple(out)


def _harvest_key(sale: Intent) -> tuple[object, ...]:
    """Return what the parts of one harvest share (`OrderManager.harvest` names them so)."""
    p = sale.payload
    lots = tuple(p.get("lot_ids", ()))
    return (sale.account, sale.symbol, p.get("trade_date"), lots, p.get("harvest_quantity"))


def _fills_of(sales: Iterable[Intent], journal: Iterable[JournalRecord]) -> dict[str, list[int]]:
    """Return the journal seqs of each sale intent's fills.

    A fill's entry does not name its order, so the sales of a position on the day an order was
    sent are handed to that day's sale intents in the order both happened, each taking its
    filled quantity: the daemon's own fills first, then imported ones (an IB Flex statement
    journaling an order whose fate was unknown).
    """
    queues: dict[tuple[str | None, str, date], deque[JournalRecord]] = defaultdict(deque)
    for record in sorted(journal, key=lambda r: (r.kind is not JournalKind.TRADE, r.seq)):
        queues[(record.account, record.symbol, record.trade_date)].append(record)
    out: dict[str, list[int]] = {}
    for sale in sorted(sales, key=lambda i: (i.created_at is None, i.created_at, i.intent_id)):
        queue = queues.get((sale.account, sale.symbol, sent_on(sale)))
        seqs, taken = out.setdefault(sale.intent_id, []), ZERO
        while queue and taken < sale.filled_quantity:
            record = queue.popleft()
            taken += record.quantity or ZERO
            seqs.append(record.seq)
    return out


def _replacements(buys: Iterable[Intent]) -> dict[str, str]:
    """Return {harvest sale id: the symbol its replacement bought or is buying}."""
    out: dict[str, str] = {}
    for buy in buys:
        bought = buy.filled_quantity > ZERO or not buy.status.terminal
        if buy.parent_intent_id and bought:
            out.setdefault(buy.parent_intent_id, buy.symbol)
    return out


# -- wash-sale windows ----------------------------------------------------------------------


def wash_windows(
    ledger: Ledger, sales: Iterable[list[SaleRow]], lots: Iterable[LedgerLot], today: date
) -> tuple[WashWindow, ...]:
    """Return the wash-sale lockouts open `today` (`sales` and `lots`: the ledger's sale rows,
    sale by sale, and open lots), for each symbol substantially identical to
    the one traded (`[[identical]]`), the latest of each kind per symbol and account.

    IRC §1091(a) (IRS Pub. 550, "Wash Sales"): a loss is disallowed when substantially
    identical stock is bought within 30 days before or after the sale. So a loss sale (of a
    taxable account, a loss left after any wash) forbids buying until 30 days after it
    (`no_buy`), and a purchase still held, in any account, IRAs included (Rev. Rul. 2008-5),
    forbids a loss sale until 30 days after it (`no_loss_sale`). `until` is the first day
    allowed again: the 30th day after is still inside the window, as `WashGuard` counts it.
    Securities outside §1091 (crypto, unless configured) have none.
    """
    days = ledger.conventions.window_days
    window, reopen = timedelta(days=days), timedelta(days=days + 1)
    start = today - window
    latest: dict[tuple[str, str, str], WashWindow] = {}

    def add(symbol: str, account: str, kind: Lockout, since: date) -> None:
        if not ledger.wash_sales_apply(symbol):
            return
        for member in ledger.identity.members(symbol):
            key = (member, account, kind)
            held = latest.get(key)
            if held is None or held.since < since:
                latest[key] = WashWindow(member, account, kind, since, since + reopen)

    for sale in sales:
        for row in sale:
            if row.date_sold >= start and row.reportable and row.gain_loss < ZERO:
                add(row.symbol, row.account, "no_buy", row.date_sold)
    for lot in lots:
        if lot.acquired >= start:
            add(lot.symbol, lot.account, "no_loss_sale", lot.acquired)
    return tuple(sorted(latest.values(), key=lambda w: (w.until, w.symbol, w.account, w.kind)))
