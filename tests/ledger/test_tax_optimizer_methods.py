"""Specification tests of IB's Tax Optimizer lot-matching methods in the ledger.

IB's definitions: https://www.ibkrguides.com/taxoptimizer/ibto/lotmatchingmethods.htm (each
"max" method is a precedence of four steps by term and gain or loss per share); where IB is
silent, convention 8 of `ledger.conventions` decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.conventions import LotMethod
from ledger.engine import Ledger
from ledger.errors import OversellError
from ledger.holding import anniversary
from ledger.model import Action, Trade
from tests.ledger.helpers import D, buy, run, sell
from tests.ledger.test_properties import History, histories, replay

# One share each, sold at $20.00 on 2025-06-02: long term (bought before 2024-06-02) or short,
# a gain or a loss of so much a share.
SALE_DAY = "2025-06-02"
LOTS = (
    buy("2023-01-03", "XYZ", "1", "10", lot="LT+10"),
    buy("2023-02-01", "XYZ", "1", "18", lot="LT+2"),
    buy("2025-01-02", "XYZ", "1", "12", lot="ST+8"),
    buy("2025-02-03", "XYZ", "1", "19", lot="ST+1"),
    buy("2025-03-03", "XYZ", "1", "21", lot="ST-1"),
    buy("2025-04-01", "XYZ", "1", "30", lot="ST-10"),
    buy("2023-03-01", "XYZ", "1", "22", lot="LT-2"),
    buy("2023-04-03", "XYZ", "1", "40", lot="LT-20"),
)


def _one_share_at_a_time(method: LotMethod) -> list[str]:
    """Return the lots eight one-share sales at $20 relieve, in order (no wash sale: every
    purchase is more than 30 days before them, none after)."""
    sales = [sell(SALE_DAY, "XYZ", "1", "20") for _ in LOTS]
    ledger = run(*LOTS, *sales, methods={"brokerage": method})
    return [r.lot_id for r in ledger.sales]


@pytest.mark.parametrize(
    ("method", "order"),
    [
        # "Maximize Long Term Gain: maximize LT gain per share; if no LT gain, maximize ST
        # gain per share; if no gain, realize and minimize ST loss per share; if no ST loss,
        # realize and minimize LT loss per share."
        (
            LotMethod.MAX_LT_GAIN,
            ["LT+10", "LT+2", "ST+8", "ST+1", "ST-1", "ST-10", "LT-2", "LT-20"],
        ),
        # "Maximize Long Term Loss: LT loss, then ST loss (largest first), then ST gain, then
        # LT gain (smallest first)."
        (
            LotMethod.MAX_LT_LOSS,
            ["LT-20", "LT-2", "ST-10", "ST-1", "ST+1", "ST+8", "LT+2", "LT+10"],
        ),
        # "Maximize Short Term Gain: ST gain, LT gain (largest first), LT loss, ST loss
        # (smallest first)."
        (
            LotMethod.MAX_ST_GAIN,
            ["ST+8", "ST+1", "LT+10", "LT+2", "LT-2", "LT-20", "ST-1", "ST-10"],
        ),
        # "Maximize Short Term Loss: ST loss, LT loss (largest first), LT gain, ST gain
        # (smallest first)."
        (
            LotMethod.MAX_ST_LOSS,
            ["ST-10", "ST-1", "LT-20", "LT-2", "LT+2", "LT+10", "ST+1", "ST+8"],
        ),
        # "Highest Cost: the largest possible loss, else the smallest possible gain" is HIFO.
        (
            LotMethod.HIFO,
            ["LT-20", "ST-10", "LT-2", "ST-1", "ST+1", "LT+2", "ST+8", "LT+10"],
        ),
    ],
    ids=str,
)
def test_each_tax_optimizer_method_relieves_in_ibs_documented_order(
    method: LotMethod, order: list[str]
) -> None:
    """IB Tax Optimizer, Lot-Matching Methods: each method's four steps, in its order."""
    assert _one_share_at_a_time(method) == order


def test_the_net_price_decides_gain_or_loss_and_break_even_is_neither() -> None:
    """Convention 8: gain or loss per share is the net price ($20.50 less $0.50 fees = $20.00)
    minus the adjusted basis. Under Maximize Long Term Gain the long-term lot bought at $20 is
    at break-even, not a gain, so it ranks in the last step (minimize LT loss), after the
    short-term lot at a $0.10 loss (step 3); ignoring the fee would make it a LT gain (step 1).
    """
    ledger = run(
        buy("2023-01-03", "XYZ", "1", "20", lot="LT-even"),
        buy("2025-01-02", "XYZ", "1", "20.10", lot="ST-0.10"),
        sell(SALE_DAY, "XYZ", "1", "20.50", fees="0.50"),
        methods={"brokerage": LotMethod.MAX_LT_GAIN},
    )
    assert [r.lot_id for r in ledger.sales] == ["ST-0.10"]


def test_break_even_ranks_first_in_the_minimize_step_of_its_term() -> None:
    """Convention 8: under Maximize Short Term Loss a short-term lot at break-even is the
    smallest short-term gain (step 4, first there) -- after every long-term gain (step 3)."""
    ledger = run(
        buy("2023-01-03", "XYZ", "1", "15", lot="LT+5"),
        buy("2025-01-02", "XYZ", "1", "10", lot="ST+10"),
        buy("2025-01-03", "XYZ", "1", "20", lot="ST-even"),
        sell(SALE_DAY, "XYZ", "1", "20"),
        sell(SALE_DAY, "XYZ", "1", "20"),
        methods={"brokerage": LotMethod.MAX_ST_LOSS},
    )
    assert [r.lot_id for r in ledger.sales] == ["LT+5", "ST-even"]


@pytest.mark.parametrize(
    "method",
    [LotMethod.MAX_LT_GAIN, LotMethod.MAX_LT_LOSS, LotMethod.MAX_ST_GAIN, LotMethod.MAX_ST_LOSS],
    ids=str,
)
def test_equal_lots_go_in_acquisition_order(method: LotMethod) -> None:
    """Convention 8: IB does not say how ties go; equal lots (same term, same basis) are
    relieved in acquisition order, as HIFO's ties are."""
    ledger = run(
        buy("2025-01-02", "XYZ", "2", "25", lot="first"),
        buy("2025-01-03", "XYZ", "2", "25", lot="second"),
        sell(SALE_DAY, "XYZ", "3", "20"),
        methods={"brokerage": method},
    )
    assert sorted((r.lot_id, r.quantity) for r in ledger.sales) == [
        ("first", D("2")),
        ("second", D("1")),
    ]


def test_a_lot_ranks_by_its_term_as_of_the_sale_not_after_the_wash_that_sale_causes() -> None:
    """Convention 8 (Reg. §1.1012-1(c): shares are identified when sold). Maximize Long Term
    Loss, selling 2 at $20: X (LT, $10 loss) goes first; its loss washes into R (bought 13
    days before, held: convention 3), tacking X's 517 days onto R (now LT, basis $31). Ranked
    as it stood, R is a $1 short-term loss, so the second share is Y's $5 long-term loss."""
    ledger = run(
        buy("2024-01-02", "XYZ", "1", "30", lot="X"),
        buy("2024-02-01", "XYZ", "1", "25", lot="Y"),
        buy("2025-05-20", "XYZ", "1", "21", lot="R"),
        sell(SALE_DAY, "XYZ", "2", "20"),
        methods={"brokerage": LotMethod.MAX_LT_LOSS},
    )
    assert sorted((r.lot_id, r.wash_sale_disallowed) for r in ledger.sales) == [
        ("X", D("10.00")),
        ("Y", D("0")),
    ]
    [r] = ledger.open_lots()
    assert (r.lot_id, r.adjusted_basis, r.holding_period_start) == (
        "R",
        D("31.00"),
        date(2023, 12, 20),
    )


@pytest.mark.parametrize("method", list(LotMethod), ids=str)
def test_no_method_sells_more_than_held(method: LotMethod) -> None:
    """A sale of 9 shares from a position of 8 is refused whatever the method; nothing is
    relieved."""
    ledger = run(*LOTS, methods={"brokerage": method})
    with pytest.raises(OversellError):
        ledger.apply(sell(SALE_DAY, "XYZ", "9", "20"))
    assert ledger.sales == []
    assert ledger.position("brokerage", "XYZ") == D("8")


# -- properties -------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(histories(fees=True))
def test_every_sale_relieves_exactly_its_quantity_whatever_the_method(history: History) -> None:
    """Random histories (wash sales, IRAs, every method per account): the rows of each sale
    add up to exactly the shares it sold."""
    ledger = replay(history)
    sold = sorted(
        (t.trade_date, t.seq, t.quantity) for t in history.trades if t.action is Action.SELL
    )
    relieved = [sum((r.quantity for r in rows), Decimal(0)) for rows in ledger.sales_by_sale()]
    assert relieved == [q for _day, _seq, q in sold]


@dataclass
class _Lot:
    lot_id: str
    order: int
    acquired: date
    price: Decimal  # basis per share (bought in whole cents, no fee)
    quantity: Decimal


def _documented_key(method: LotMethod, lot: _Lot, net: Decimal, day: date) -> tuple[object, ...]:
    """Return where IB's text (and tlh's documented FIFO/LIFO/HIFO) puts `lot` in a sale at
    `net` a share on `day`: a smaller key goes first, acquisition order among equals."""
    pnl = net - lot.price  # > 0 a gain, < 0 a loss
    long = day > anniversary(lot.acquired)
    if method is LotMethod.FIFO:
        return (lot.order,)
    if method is LotMethod.LIFO:
        return (-lot.order,)
    if method is LotMethod.HIFO:
        return (-lot.price, lot.order)
    steps = {
        # step: (long term?, a gain? (break-even counts as neither), maximize?)
        LotMethod.MAX_LT_GAIN: [(True, True), (False, True), (False, False), (True, False)],
        LotMethod.MAX_LT_LOSS: [(True, False), (False, False), (False, True), (True, True)],
        LotMethod.MAX_ST_GAIN: [(False, True), (True, True), (True, False), (False, False)],
        LotMethod.MAX_ST_LOSS: [(False, False), (True, False), (True, True), (False, True)],
    }[method]
    maximize_gains = method in (LotMethod.MAX_LT_GAIN, LotMethod.MAX_ST_GAIN)
    gain = pnl > 0 or (pnl == 0 and not maximize_gains)
    step = steps.index((long, gain))
    # Steps 1-2 maximize |pnl|, steps 3-4 minimize it.
    amount = -abs(pnl) if step < 2 else abs(pnl)
    return (step, amount, lot.order)


Sale = tuple[date, Decimal, Decimal, Decimal]  # day, quantity, price, fees


@st.composite
def _lots_and_sales(draw: st.DrawFn) -> tuple[list[_Lot], list[Sale]]:
    lots = []
    for i in range(draw(st.integers(1, 8))):
        acquired = date(2023, 1, 2) + timedelta(days=draw(st.integers(0, 790)))
        price = Decimal(draw(st.integers(500, 3000))) / 100
        lots.append(_Lot(f"L{i}", i, acquired, price, Decimal(draw(st.integers(1, 20)))))
    held = sum(lot.quantity for lot in lots)
    sales: list[Sale] = []
    day = date(2025, 4, 15)  # after the last purchase by more than 30 days: no wash sale
    for _ in range(draw(st.integers(1, 5))):
        if held <= 0:
            break
        day += timedelta(days=draw(st.integers(0, 200)))
        qty = Decimal(draw(st.integers(1, int(held))))
        held -= qty
        # Often exactly some lot's basis, net of fees: break-even.
        net = draw(st.sampled_from([lot.price for lot in lots] + [Decimal("17.77")]))
        fee_per_share = Decimal(draw(st.integers(0, 5))) / 100
        sales.append((day, qty, net + fee_per_share, fee_per_share * qty))
    return lots, sales


@settings(max_examples=300, deadline=None)
@given(_lots_and_sales(), st.sampled_from(list(LotMethod)))
def test_each_method_relieves_lots_in_its_documented_order(
    lots_and_sales: tuple[list[_Lot], list[Sale]], method: LotMethod
) -> None:
    """Without wash sales, each sale relieves exactly the lots a greedy pass in the method's
    documented order takes (IB's four steps for max_*; FIFO, LIFO and HIFO as before), prices
    at break-even included, fees counted in the net price (convention 8)."""
    lots, sales = lots_and_sales
    by_order = sorted(lots, key=lambda lot: (lot.acquired, lot.order))
    ledger = Ledger(lot_methods={"b": method})
    seq = 0
    for rank, lot in enumerate(by_order):
        lot.order = rank  # acquisition order, as the ledger keeps it
        seq += 1
        ledger.apply(
            Trade(
                seq,
                lot.acquired,
                "b",
                Action.BUY,
                "XYZ",
                lot.quantity,
                lot.price,
                D("0"),
                lot.lot_id,
            )
        )
    left = {lot.lot_id: lot.quantity for lot in lots}
    for day, qty, price, fees in sales:
        seq += 1
        ledger.apply(Trade(seq, day, "b", Action.SELL, "XYZ", qty, price, fees))
        net = price - fees / qty
        expected: dict[str, Decimal] = {}
        need = qty
        for lot in sorted(by_order, key=lambda lot: _documented_key(method, lot, net, day)):
            take = min(need, left[lot.lot_id])
            if take > 0:
                expected[lot.lot_id] = take
                left[lot.lot_id] -= take
                need -= take
        rows = list(ledger.sales_by_sale())[-1]
        got: dict[str, Decimal] = {}
        for r in rows:
            got[r.lot_id] = got.get(r.lot_id, Decimal(0)) + r.quantity
        assert got == expected
