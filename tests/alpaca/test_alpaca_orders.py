"""Orders, fills and account state through the adapter and the real SDK, one behaviour each."""

from __future__ import annotations

from decimal import Decimal

import pytest
from alpacakit import ACCOUNT, LONG_AGO, Sink, hold, make_broker, make_settings
from fake_alpaca import FakeAlpaca, FillPolicy

from adapters.alpaca.broker import AlpacaBroker
from adapters.base import BrokerError, OrderRequest
from daemon.events import Fill, OrderSide, OrderStatus, OrderUpdate

pytestmark = pytest.mark.timeout(30)


def order(
    cid: str,
    qty: str = "1",
    *,
    side: OrderSide = OrderSide.BUY,
    symbol: str = "VTI",
    limit: str | None = None,
) -> OrderRequest:
    """Return an order request."""
    price = None if limit is None else Decimal(limit)
    return OrderRequest(
        client_order_id=cid,
        account=ACCOUNT,
        symbol=symbol,
        side=side,
        quantity=Decimal(qty),
        limit_price=price,
    )


async def test_quantities_and_prices_go_out_as_exact_decimal_strings(
    fake: FakeAlpaca, broker: AlpacaBroker
) -> None:
    """Issue §1: order quantities are sent as exact decimal strings (raw POST, not floats)."""
    fake.set_fill_policy(FillPolicy.MANUAL)

    snapshot = await broker.submit(order("tlh-x1", "0.123456789", limit="250.01"))

    (placed,) = fake.orders
    assert placed.body["qty"] == "0.123456789"
    assert placed.body["limit_price"] == "250.01"
    assert placed.body["time_in_force"] == "day"
    assert placed.qty == Decimal("0.123456789")
    assert snapshot.broker_order_id == placed.id
    assert snapshot.status is OrderStatus.ACCEPTED


async def test_504_after_the_order_was_stored_returns_it_without_a_second_post(
    fake: FakeAlpaca, broker: AlpacaBroker
) -> None:
    """Issue §3: after an error or timeout the order is looked up by client id before any
    resubmission; a gateway timeout that hid an accepted order creates no second order."""
    fake.set_price("VTI", 250)
    fake.fail_next_submit(504, after_store=True)

    snapshot = await broker.submit(order("tlh-504"))

    assert fake.submissions == 1
    assert [o.client_order_id for o in fake.orders] == ["tlh-504"]
    assert snapshot.broker_order_id == fake.orders[0].id


async def test_503_before_the_order_was_stored_is_resubmitted_after_a_lookup(
    fake: FakeAlpaca, broker: AlpacaBroker
) -> None:
    """Issue §3: the lookup finds nothing, so the same client order id is sent again, once."""
    fake.set_price("VTI", 250)
    fake.fail_next_submit(503, after_store=False)

    await broker.submit(order("tlh-503"))

    assert fake.submissions == 2
    assert len(fake.orders) == 1
    lookups = [r for r in fake.requests if r.path == "/v2/orders:by_client_order_id"]
    assert len(lookups) == 1


async def test_submitting_a_known_client_order_id_again_returns_the_existing_order(
    fake: FakeAlpaca, broker: AlpacaBroker
) -> None:
    """Issue §3: submit is idempotent on client_order_id (Alpaca's duplicate error means
    "probably mine": the order is looked up and returned)."""
    fake.set_fill_policy(FillPolicy.MANUAL)
    first = await broker.submit(order("tlh-dup"))

    again = await broker.submit(order("tlh-dup"))

    assert again.broker_order_id == first.broker_order_id
    assert len(fake.orders) == 1


async def test_a_sale_beyond_the_position_is_a_permanent_rejection(
    fake: FakeAlpaca, broker: AlpacaBroker
) -> None:
    """Issue §3: Alpaca's 403 (insufficient qty) is final: not transient, never retried."""
    fake.set_position("VTI", 5, 200)

    with pytest.raises(BrokerError) as caught:
        await broker.submit(order("tlh-s", "6", side=OrderSide.SELL))

    assert not caught.value.transient
    assert fake.submissions == 1


async def test_dry_run_adapter_refuses_to_send_orders(fake: FakeAlpaca) -> None:
    """Issue §1: orders leave only in paper mode (or live with live trading enabled)."""
    adapter = make_broker(fake, make_settings(fake, mode="dry_run"))
    try:
        with pytest.raises(BrokerError):
            await adapter.submit(order("tlh-dry"))
    finally:
        await adapter.close()

    assert fake.submissions == 0


async def test_unknown_client_order_id_is_none(broker: AlpacaBroker) -> None:
    """Issue §3: the lookup before (re)submission tells "no such order" apart from errors."""
    assert await broker.get_order("tlh-never-sent") is None


async def test_open_orders_are_read_past_alpacas_default_page_of_50(
    fake: FakeAlpaca, broker: AlpacaBroker
) -> None:
    """Issue §2: open orders are paged; GET /v2/orders alone returns only 50."""
    fake.set_fill_policy(FillPolicy.MANUAL)
    for i in range(55):
        await broker.submit(order(f"tlh-open-{i}"))

    opened = await broker.open_orders()

    assert len(opened) == 55
    assert {o.client_order_id for o in opened} == {o.client_order_id for o in fake.orders}


async def test_fill_activities_are_paged_and_exact(fake: FakeAlpaca, broker: AlpacaBroker) -> None:
    """Issue §2: FILL activities are read page by page (100 per page) into exact Decimals."""
    for i in range(120):
        hold(fake, "VTI", "0.000000001", f"200.{i:02d}")

    fills = await broker.fills_since(None)

    assert len(fills) == 120
    assert len({f.execution_id for f in fills}) == 120
    assert fills[7].quantity == Decimal("0.000000001")
    assert fills[7].price == Decimal("200.07")
    assert fills[0].at == LONG_AGO


async def test_positions_are_exact_and_keyed_by_account(
    fake: FakeAlpaca, broker: AlpacaBroker
) -> None:
    """Issue §2: positions come back as exact Decimals under the ledger's account name."""
    fake.set_position("VTI", "12.345678901", "200")

    assert await broker.positions() == {(ACCOUNT, "VTI"): Decimal("12.345678901")}


async def test_fill_is_pushed_before_the_terminal_update_of_its_order(
    fake: FakeAlpaca, broker: AlpacaBroker
) -> None:
    """Issue §3 / adapters.base: a Fill precedes the terminal OrderUpdate of the same order,
    with the execution's exact quantity and price."""
    fake.set_fill_policy(FillPolicy.MANUAL)
    sink = Sink()
    await broker.connect(sink)
    await fake.wait_for_trade_listener()
    await broker.submit(order("tlh-f", "3"))

    await fake.fill("tlh-f", 1, "250.01")
    await fake.fill("tlh-f", 2, "250.03")
    await fake.wait_until(lambda: len(sink.of(Fill)) == 2, what="both fills")
    await fake.wait_until(
        lambda: sink.of(OrderUpdate)[-1].status is OrderStatus.FILLED, what="the terminal update"
    )

    kinds = [(type(e).__name__, getattr(e, "status", None)) for e in sink.events]
    assert kinds == [
        ("OrderUpdate", OrderStatus.ACCEPTED),
        ("Fill", None),
        ("OrderUpdate", OrderStatus.PARTIALLY_FILLED),
        ("Fill", None),
        ("OrderUpdate", OrderStatus.FILLED),
    ]
    assert [(f.quantity, f.price) for f in sink.of(Fill)] == [
        (Decimal(1), Decimal("250.01")),
        (Decimal(2), Decimal("250.03")),
    ]
    assert sink.of(OrderUpdate)[-1].filled_quantity == 3


async def test_every_trade_update_event_is_handled(fake: FakeAlpaca, broker: AlpacaBroker) -> None:
    """Issue §3: new, accepted, pending_new, partial_fill, fill, canceled, expired, rejected,
    replaced, pending_cancel, restated, and the rest each become an OrderUpdate; none is
    counted as malformed."""
    fake.set_fill_policy(FillPolicy.MANUAL)
    sink = Sink()
    await broker.connect(sink)
    await fake.wait_for_trade_listener()
    await broker.submit(order("tlh-e"))
    others = [
        "pending_new",
        "accepted",
        "pending_cancel",
        "pending_replace",
        "restated",
        "done_for_day",
        "calculated",
        "order_cancel_rejected",
        "order_replace_rejected",
        "held",
        "suspended",
        "stopped",
        "something_new",
    ]
    for event in others:
        await fake.send_trade_update("tlh-e", event)
    await fake.send_trade_update("tlh-e", "replaced")
    for cid, end in (("tlh-c", fake.cancel), ("tlh-x", fake.expire), ("tlh-r", fake.reject)):
        await broker.submit(order(cid))
        await end(cid)
    await fake.wait_until(
        lambda: len(sink.of(OrderUpdate)) == 1 + len(others) + 1 + 6, what="every update"
    )

    statuses = {u.client_order_id: u.status for u in sink.of(OrderUpdate)}
    assert statuses == {
        "tlh-e": OrderStatus.CANCELED,
        "tlh-c": OrderStatus.CANCELED,
        "tlh-x": OrderStatus.EXPIRED,
        "tlh-r": OrderStatus.REJECTED,
    }
    middle = sink.of(OrderUpdate)[1 : 1 + len(others)]
    assert {u.status for u in middle} == {OrderStatus.ACCEPTED}
    assert broker.stats.malformed == 0
