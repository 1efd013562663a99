"""Replacement buys: placed in the order of their sales, and paid for by their sales' limits.

Replacements are sized from their sales' proceeds and spend the same day's limits, so the
order they go out in must not depend on Python's per-process string hashing (a backtest gave
different trades from run to run when it did). And a harvest reserves its replacement's
notional in the day's limit, so that no later harvest spends it and leaves it in cash.
"""

from __future__ import annotations

from daemonkit import Rigs, make_settings

from adapters.storage.records import IntentKind, IntentStatus
from daemon.events import Quote
from daemon.orders import intent_id

ACCOUNTS = [f"taxable-{i}" for i in range(5)]  # at most 5 harvests a day by default


async def test_replacements_waiting_on_one_quote_go_out_in_the_order_of_their_sales(
    rigs: Rigs, sqlite_url: str
) -> None:
    """Five accounts harvest VTI into SCHB; the sales fill when SCHB's feed has gone quiet, so
    the replacements wait; once SCHB is quoted, the five replacement buys reach the broker in
    the order of the five sales."""
    settings = make_settings(
        accounts=dict.fromkeys(ACCOUNTS, "taxable"), risk={"max_daily_notional": 1_000_000}
    )
    rig = await rigs.open(sqlite_url, settings=settings)
    lots = [await rig.hold("VTI", "40", "200", account=a) for a in ACCOUNTS]
    await rig.quote("SCHB", 50.00)
    await rig.deliver(Quote("VTI", 180.00, 180.04, rig.clock.now()))  # no market: sales rest
    rig.broker.stale_feed.update({"SCHB", "ITOT"})
    rig.market("VTI", 180.00)
    rig.broker.fill_open_orders()
    await rig.engine.drain()
    sales = [rig.harvest_id("VTI", lot, account=a) for a, lot in zip(ACCOUNTS, lots, strict=True)]
    assert rig.orders.awaiting_quotes == {"SCHB"}
    rig.broker.stale_feed.clear()

    await rig.quote("SCHB", 50.00)

    submitted = list(rig.broker.stored_at_submit)
    assert submitted[: len(sales)] == sales
    replacements = [intent_id(IntentKind.REPLACEMENT_BUY, s) for s in sales]
    assert [i for i in submitted if i in replacements] == replacements


async def test_a_harvest_whose_replacement_the_day_cannot_pay_for_is_not_made(
    rigs: Rigs, sqlite_url: str
) -> None:
    """Orders docstring: "the limits must hold for both, or the harvest would end in cash".
    With $30,000 a day, two harvests of $7,186 and their two replacements of about $7,200 fit,
    a third harvest does not: it is denied, and both replacements are bought when SCHB is
    quoted later (counting only the sales, the third harvest went out and left a sale in
    cash)."""
    accounts = ACCOUNTS[:3]
    settings = make_settings(
        accounts=dict.fromkeys(accounts, "taxable"), risk={"max_daily_notional": 30_000}
    )
    rig = await rigs.open(sqlite_url, settings=settings)
    lots = [await rig.hold("VTI", "40", "200", account=a) for a in accounts]

    await rig.quote("SCHB", 50.00)
    await rig.quote("VTI", 180.00)

    sales = [
        await rig.intent(rig.harvest_id("VTI", lot, account=a))
        for a, lot in zip(accounts, lots, strict=True)
    ]
    assert [s.status for s in sales] == [IntentStatus.FILLED] * 2 + [IntentStatus.DENIED]
    assert (sales[2].reason or "").startswith("risk: daily notional")
    for sale in sales[:2]:
        buy = await rig.intent(intent_id(IntentKind.REPLACEMENT_BUY, sale.intent_id))
        assert buy.status is IntentStatus.FILLED
