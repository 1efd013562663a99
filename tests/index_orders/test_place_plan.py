"""A rebalance plan becomes intents in the existing outbox (issue #12 §4: "crash-only,
idempotent, risk-limited, dry-run by default"; §8: "a crash in the middle of a rebalance
resumes without a duplicate order").

Household: two AAPL lots bought long ago (10 at $150, 10 at $160); the plan sells 15 AAPL from
those lots at $180 and buys 5 MSFT at $400 and 4 JNJ at $150. The simulated broker takes the
lot on the order (specific lots) and fills a marketable limit at once.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from daemonkit import LONG_AGO, T0, TAXABLE, Rig, Rigs, SpyBroker, make_settings

from adapters.base import LotRelief, OrderRequest
from adapters.storage.records import Intent, IntentKind, IntentStatus
from daemon.cli.lots import _sales_to_match
from daemon.clock import SimulatedClock
from daemon.orders import DRY_RUN, intent_id
from daemon.plan_orders import OPEN_PLAN_KEY
from daemon.tax_optimizer import PAYLOAD_KEY
from ledger.model import Action
from strategies.index.rebalance import PlannedTrade

PLAN = "rebalance-2024-03-04"
LOT_A = "AAPL-a"
LOT_B = "AAPL-b"
SELL = PlannedTrade("AAPL", Action.SELL, Decimal(15), Decimal(180), (LOT_A, LOT_B), "overweight")
BUYS = (
    PlannedTrade("MSFT", Action.BUY, Decimal(5), Decimal(400), reason="underweight"),
    PlannedTrade("JNJ", Action.BUY, Decimal(4), Decimal(150), reason="underweight"),
)
TRADES = (SELL, *BUYS)


async def _household(rig: Rig) -> None:
    await rig.hold("AAPL", "10", "150", lot_id=LOT_A)
    await rig.hold("AAPL", "10", "160", day=LONG_AGO + timedelta(days=1), lot_id=LOT_B)


def _markets(rig: Rig, *symbols: str) -> None:
    """Set the broker's markets at the plan's prices (the daemon is not told: the orders are
    limited from the plan's prices)."""
    prices = {"AAPL": 180.0, "MSFT": 400.0, "JNJ": 150.0}
    for symbol in symbols or tuple(prices):
        rig.market(symbol, prices[symbol])


def _sale_id(lot: str) -> str:
    return intent_id(IntentKind.REBALANCE_SELL, PLAN, TAXABLE, "AAPL", lot)


def _buy_id(symbol: str) -> str:
    return intent_id(IntentKind.REBALANCE_BUY, PLAN, TAXABLE, symbol, "")


def _sent(rig: Rig) -> list[str]:
    """Return the client order ids the broker was sent, in order."""
    assert isinstance(rig.broker, SpyBroker)
    return list(rig.broker.stored_at_submit)


def _shape(intents: list[Intent]) -> list[tuple[str, str, Decimal, str | None, IntentStatus]]:
    return [(i.kind.value, i.symbol, i.quantity, i.lot_id, i.status) for i in intents]


async def test_a_plan_sells_its_lots_then_buys_and_journals_every_fill(rigs: Rigs) -> None:
    """Issue #12 §4: sales first, against the lots the plan names (one order per lot at a
    broker that takes the lot on the order), then the buys with their proceeds; each order
    stored before it leaves, each fill journaled against its lot."""
    rig = await rigs.open()
    await _household(rig)
    _markets(rig)

    placed = await rig.orders.place_plan(PLAN, TAXABLE, TRADES)

    filled = IntentStatus.FILLED
    assert _shape(placed) == [
        ("rebalance_sell", "AAPL", Decimal(10), LOT_A, filled),
        ("rebalance_sell", "AAPL", Decimal(5), LOT_B, filled),
        ("rebalance_buy", "MSFT", Decimal(5), None, filled),
        ("rebalance_buy", "JNJ", Decimal(4), None, filled),
    ]
    assert _sent(rig) == [_sale_id(LOT_A), _sale_id(LOT_B), _buy_id("MSFT"), _buy_id("JNJ")]
    assert isinstance(rig.broker, SpyBroker)
    assert None not in rig.broker.stored_at_submit.values()  # each stored before it left
    fills = await rig.fills()
    assert [(f.action, f.symbol, f.quantity, f.lot_id) for f in fills[-4:-2]] == [
        (Action.SELL, "AAPL", Decimal(10), LOT_A),
        (Action.SELL, "AAPL", Decimal(5), LOT_B),
    ]
    assert [(f.action, f.symbol, f.quantity) for f in fills[-2:]] == [
        (Action.BUY, "MSFT", Decimal(5)),
        (Action.BUY, "JNJ", Decimal(4)),
    ]
    assert [(p.lot_id, p.quantity) for p in rig.ledger.parcels(TAXABLE, "AAPL")] == [
        (LOT_B, Decimal(5))
    ]
    assert rig.orders.plans_in_flight == set()


async def test_a_sale_the_broker_rejects_ends_and_holds_no_later_plan_back(rigs: Rigs) -> None:
    """A sale the broker refuses when it is sent (here it holds fewer shares than the ledger,
    as a split's last digits can leave it) ends REJECTED: it is no longer open, the plan goes
    on to its buys, and nothing is left in flight, which `IndexManager.busy` would take as
    a reason to wait with every later rebalance (a ten-year backtest, 2010-2019, rebalanced
    nothing for eight years after one such sale)."""
    rig = await rigs.open()
    await _household(rig)
    _markets(rig)
    assert isinstance(rig.broker, SpyBroker)
    rig.broker.set_position(TAXABLE, "AAPL", Decimal(5))

    placed = await rig.orders.place_plan(PLAN, TAXABLE, TRADES)

    by_id = {i.intent_id: i.status for i in placed}
    assert by_id[_sale_id(LOT_A)] is IntentStatus.REJECTED
    assert by_id[_sale_id(LOT_B)] is IntentStatus.FILLED
    assert rig.orders.open_intents == []
    assert rig.orders.plans_in_flight == set()


async def test_placing_the_same_plan_again_places_nothing_new(rigs: Rigs) -> None:
    """Idempotent (issue #12 §4): the ids are deterministic and the plan is stored, so a
    retry of the same plan id returns its orders and sends nothing."""
    rig = await rigs.open()
    await _household(rig)
    _markets(rig)
    first = await rig.orders.place_plan(PLAN, TAXABLE, TRADES)
    journaled = len(await rig.fills())

    again = await rig.orders.place_plan(PLAN, TAXABLE, TRADES)

    assert [i.intent_id for i in again] == [i.intent_id for i in first]
    assert rig.broker.submissions == 4
    assert len(await rig.fills()) == journaled


@pytest.mark.parametrize("crashed_on", [LOT_A, LOT_B], ids=["first-sale", "last-sale"])
async def test_a_crash_after_a_sale_was_sent_places_each_order_once_on_restart(
    rigs: Rigs, db_url: str, crashed_on: str
) -> None:
    """Issue #12 §8: "a crash in the middle of a rebalance resumes without a duplicate
    order". The daemon dies right after the broker took (and filled) a sale, before any buy
    (after the first sale: before the second was even stored); the restarted daemon (startup
    = recovery) journals the sales' fills once, places the sale not placed yet and each buy
    once; a second restart places nothing and leaves no plan open (SQLite and PostgreSQL)."""
    rig = await rigs.open(db_url)
    await _household(rig)
    _markets(rig)

    def crash(order: OrderRequest) -> None:
        if order.client_order_id == _sale_id(crashed_on):
            raise RuntimeError("killed")

    assert isinstance(rig.broker, SpyBroker)
    rig.broker.after_submit = crash
    with pytest.raises(RuntimeError, match="killed"):
        await rig.orders.place_plan(PLAN, TAXABLE, TRADES)
    assert await rig.repo.get_intent(_buy_id("MSFT")) is None
    rig.broker.after_submit = lambda order: None

    rig = await rigs.restart(rig)
    rig = await rigs.restart(rig)

    assert _sent(rig) == [_sale_id(LOT_A), _sale_id(LOT_B), _buy_id("MSFT"), _buy_id("JNJ")]
    assert rig.broker.submissions == 4
    for iid in (_sale_id(LOT_A), _sale_id(LOT_B), _buy_id("MSFT"), _buy_id("JNJ")):
        assert (await rig.intent(iid)).status is IntentStatus.FILLED
    fills = await rig.fills()
    assert sorted((f.action.value, f.symbol, f.quantity) for f in fills) == [
        ("BUY", "JNJ", Decimal(4)),
        ("BUY", "MSFT", Decimal(5)),
        ("SELL", "AAPL", Decimal(5)),
        ("SELL", "AAPL", Decimal(10)),
    ]
    assert rig.ledger.position(TAXABLE, "MSFT") == 5
    assert rig.orders.plans_in_flight == set()
    assert await rig.repo.states(OPEN_PLAN_KEY) == {}


async def test_sales_that_fill_while_the_daemon_is_down_start_the_buys_on_restart(
    rigs: Rigs,
) -> None:
    """Issue #12 §8, crash-only: the sales rest at the broker (no AAPL market yet), the
    daemon stops, the sales fill meanwhile; the restarted daemon asks the broker before
    sending anything, journals the fills once, and buys once."""
    rig = await rigs.open()
    await _household(rig)
    _markets(rig, "MSFT", "JNJ")
    await rig.orders.place_plan(PLAN, TAXABLE, TRADES)
    assert (await rig.intent(_sale_id(LOT_A))).status is IntentStatus.ACCEPTED
    assert rig.orders.pending_buy_symbols() >= {"MSFT", "JNJ"}  # the guard sees planned buys
    await rig.close()
    rig.advance(minutes=5)
    _markets(rig, "AAPL")
    rig.broker.fill_open_orders()

    rig = await rigs.restart(rig)

    assert rig.broker.submissions == 4
    assert (await rig.intent(_buy_id("MSFT"))).status is IntentStatus.FILLED
    assert (await rig.intent(_buy_id("JNJ"))).status is IntentStatus.FILLED
    sells = [f for f in await rig.fills() if f.action is Action.SELL]
    assert sorted((f.lot_id, f.quantity) for f in sells) == [
        (LOT_A, Decimal(10)),
        (LOT_B, Decimal(5)),
    ]


async def test_dry_run_denies_every_order_of_the_plan_and_sends_nothing(rigs: Rigs) -> None:
    """Dry-run by default (issue #12 §4; guide: "Dry-run unless live trading enabled"): every
    order is stored DENIED with the dry-run reason, the buys as planned; nothing is sent."""
    clock = SimulatedClock(T0)
    broker = SpyBroker(clock.now)
    broker.name = "alpaca"
    rig = await rigs.open(broker=broker, clock=clock, settings=make_settings(mode="dry_run"))
    assert rig.orders.trading_enabled is False
    await _household(rig)
    _markets(rig)

    placed = await rig.orders.place_plan(PLAN, TAXABLE, TRADES)

    assert [(i.symbol, i.quantity, i.status, i.reason) for i in placed] == [
        ("AAPL", Decimal(10), IntentStatus.DENIED, DRY_RUN),
        ("AAPL", Decimal(5), IntentStatus.DENIED, DRY_RUN),
        ("MSFT", Decimal(5), IntentStatus.DENIED, DRY_RUN),
        ("JNJ", Decimal(4), IntentStatus.DENIED, DRY_RUN),
    ]
    assert broker.submissions == 0
    assert await rig.fills() == []
    assert rig.ledger.position(TAXABLE, "AAPL") == 20


async def test_a_buy_of_a_name_sold_at_a_loss_within_30_days_is_denied(rigs: Rigs) -> None:
    """The wash guard holds for every order placed (IRC §1091(a), issue #12 §3–4): MSFT was
    sold at a loss ten days ago, so the plan's MSFT buy is stored DENIED with the guard's
    reason and never sent; the rest of the plan goes out."""
    rig = await rigs.open()
    await _household(rig)
    await rig.record(Action.BUY, "MSFT", "3", "500", day=LONG_AGO, lot_id="MSFT-old")
    await rig.record(Action.SELL, "MSFT", "3", "380", day=rig.today() - timedelta(days=10))
    _markets(rig)

    await rig.orders.place_plan(PLAN, TAXABLE, TRADES)

    msft = await rig.intent(_buy_id("MSFT"))
    assert msft.status is IntentStatus.DENIED
    assert msft.reason.startswith("wash_guard: identical security sold at a loss")
    assert _buy_id("MSFT") not in _sent(rig)
    assert (await rig.intent(_buy_id("JNJ"))).status is IntentStatus.FILLED


async def test_a_loss_sale_of_a_name_bought_within_30_days_is_denied(rigs: Rigs) -> None:
    """The guard's other direction: AAPL shares bought five days ago would replace the lot
    the plan sells at a loss, so that sale is DENIED with the guard's reason; the buys,
    sized by what the sales raised, go out."""
    rig = await rigs.open()
    await rig.hold("AAPL", "10", "200", lot_id=LOT_A)  # a loss at $180
    await rig.hold("AAPL", "2", "178", day=rig.today() - timedelta(days=5), lot_id="AAPL-new")
    _markets(rig)
    sale = replace(SELL, quantity=Decimal(10), lot_ids=(LOT_A,))

    await rig.orders.place_plan(PLAN, TAXABLE, (sale, BUYS[1]), cash=Decimal(600))

    denied = await rig.intent(_sale_id(LOT_A))
    assert denied.status is IntentStatus.DENIED
    assert denied.reason.startswith("wash_guard: identical shares bought within 30 days")
    assert _sent(rig) == [_buy_id("JNJ")]


async def test_buys_never_spend_beyond_the_sales_proceeds_and_the_plan_cash(
    rigs: Rigs,
) -> None:
    """Issue #12 §4–5: the buys spend what the sales raised plus the plan's cash. The sale is
    denied (AAPL halted), so only the $1,300 of cash is there for $2,600 of buys: each is
    scaled down alike to whole shares (a broker without fractions), topped up while the cash
    allows: 2 MSFT and 3 JNJ ($1,250)."""
    rig = await rigs.open(fractional=False)
    await _household(rig)
    _markets(rig)
    rig.orders.halted.add("AAPL")

    placed = await rig.orders.place_plan(PLAN, TAXABLE, TRADES, cash=Decimal(1300))

    assert [(i.symbol, i.quantity, i.status) for i in placed] == [
        ("AAPL", Decimal(10), IntentStatus.DENIED),
        ("AAPL", Decimal(5), IntentStatus.DENIED),
        ("MSFT", Decimal(2), IntentStatus.FILLED),
        ("JNJ", Decimal(3), IntentStatus.FILLED),
    ]
    assert placed[0].reason == "halted: trading in AAPL is halted"
    assert sum(i.filled_notional for i in placed[2:]) <= Decimal(1300)


async def test_an_order_above_max_order_notional_goes_out_in_parts(rigs: Rigs) -> None:
    """Risk-limited (issue #12 §4): a rebalance order is split within `max_order_notional`
    like a harvest, each part its own id; rebalance orders do not count as harvests
    (`max_harvests_per_day` = 0 stops none of them)."""
    settings = make_settings(risk={"max_order_notional": "1000", "max_harvests_per_day": 0})
    rig = await rigs.open(settings=settings)
    await _household(rig)
    _markets(rig)

    # $1,800 of AAPL from lot A: two orders of $900; then $2,000 of MSFT: 2, 2 and 1 shares.
    trades = (replace(SELL, quantity=Decimal(10)), BUYS[0])
    placed = await rig.orders.place_plan(PLAN, TAXABLE, trades)

    assert [(i.symbol, i.lot_id, i.quantity, i.payload.get("part"), i.status) for i in placed] == [
        ("AAPL", LOT_A, Decimal(5), "1/2", IntentStatus.FILLED),
        ("AAPL", LOT_A, Decimal(5), "2/2", IntentStatus.FILLED),
        ("MSFT", None, Decimal(2), "1/3", IntentStatus.FILLED),
        ("MSFT", None, Decimal(2), "2/3", IntentStatus.FILLED),
        ("MSFT", None, Decimal(1), "3/3", IntentStatus.FILLED),
    ]
    assert len({i.intent_id for i in placed}) == 5
    assert all(i.quantity * (i.limit_price or 0) <= 1000 for i in placed)


async def test_a_tax_optimizer_sale_carries_its_lots_and_is_listed_to_select(
    sqlite_url: str, rigs: Rigs
) -> None:
    """At IB's Tax Optimizer (the user picks lots after the trade), each sale journals against
    its lot and carries the lots to pick in its payload, and `tlh lots select` lists it with
    the harvests' sales (daemon/cli/lots.py)."""
    clock = SimulatedClock(T0)
    broker = SpyBroker(clock.now)
    broker.capabilities = replace(
        broker.capabilities, lot_relief=LotRelief(specific_lots=True, chosen_by_user=True)
    )
    rig = await rigs.open(broker=broker, clock=clock)
    await _household(rig)
    _markets(rig)

    await rig.orders.place_plan(PLAN, TAXABLE, (SELL,))

    listed = await _sales_to_match(sqlite_url, rig.today())
    assert sorted(
        (i.lot_id, [(p["lot_id"], p["quantity"]) for p in i.payload[PAYLOAD_KEY]]) for i in listed
    ) == [(LOT_A, [(LOT_A, "10")]), (LOT_B, [(LOT_B, "5")])]
    sells = [f for f in await rig.fills() if f.action is Action.SELL]
    assert sorted((f.lot_id, f.quantity) for f in sells) == [
        (LOT_A, Decimal(10)),
        (LOT_B, Decimal(5)),
    ]


async def test_rebalance_orders_count_in_the_days_notional(rigs: Rigs) -> None:
    """Risk-limited (issue #12 §4): rebalance orders count in `max_daily_notional`, so the
    second sale, beyond the day's $2,500, is stored DENIED and never sent."""
    rig = await rigs.open(
        settings=make_settings(risk={"max_daily_notional": "2500", "max_order_notional": "2000"})
    )
    await _household(rig)
    _markets(rig)

    await rig.orders.place_plan(PLAN, TAXABLE, (SELL,))

    assert (await rig.intent(_sale_id(LOT_A))).status is IntentStatus.FILLED
    denied = await rig.intent(_sale_id(LOT_B))
    assert denied.status is IntentStatus.DENIED
    assert "max_daily_notional" in denied.reason
    assert _sent(rig) == [_sale_id(LOT_A)]


async def test_a_plan_whose_sales_end_on_a_later_day_buys_nothing(rigs: Rigs) -> None:
    """Crash-only, a day later (review): the sales filled while the daemon was down over
    night; the restarted daemon journals them but places none of the old day's buys (sized at
    yesterday's prices, under yesterday's lockouts): the next rebalance invests the cash."""
    rig = await rigs.open()
    await _household(rig)
    _markets(rig, "MSFT", "JNJ")
    await rig.orders.place_plan(PLAN, TAXABLE, TRADES)
    await rig.close()
    rig.advance(minutes=24 * 60)
    _markets(rig, "AAPL")
    rig.broker.fill_open_orders()

    rig = await rigs.restart(rig)

    assert rig.broker.submissions == 2  # the two sales, before the crash; no buy
    assert await rig.repo.get_intent(_buy_id("MSFT")) is None
    assert rig.orders.plans_in_flight == set()
    sells = [f for f in await rig.fills() if f.action is Action.SELL]
    assert len(sells) == 2
