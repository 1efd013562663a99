"""Specification tests of lot relief, money arithmetic and the errors a history can raise."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from ledger.conventions import LotMethod
from ledger.engine import Ledger
from ledger.errors import LedgerError, OversellError, UnknownLotError
from ledger.model import Trade
from tests.ledger.helpers import D, buy, run, sell, split, total

# Three lots of 10 shares at $10, $20 and $15 a share; sold later at a gain, so no wash sale.
LOTS = (
    buy("2024-01-02", "XYZ", "10", "10", lot="A"),
    buy("2024-01-03", "XYZ", "10", "20", lot="B"),
    buy("2024-01-04", "XYZ", "10", "15", lot="C"),
)


def _relieved(ledger: Ledger) -> list[tuple[str, Decimal]]:
    return [(r.lot_id, r.quantity) for r in ledger.sales]


# -- methods ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "relieved"),
    [
        (LotMethod.FIFO, [("A", D("10")), ("B", D("5"))]),
        (LotMethod.LIFO, [("C", D("10")), ("B", D("5"))]),
        (LotMethod.HIFO, [("B", D("10")), ("C", D("5"))]),
    ],
    ids=str,
)
def test_a_sale_without_a_lot_id_relieves_lots_by_the_account_method(
    method: LotMethod, relieved: list[tuple[str, Decimal]]
) -> None:
    """Reg. §1.1012-1(c): absent adequate identification, first in first out; tlh also offers
    LIFO and HIFO (highest basis per share first) as standing identification per account."""
    ledger = run(*LOTS, sell("2024-06-03", "XYZ", "15", "30"), methods={"brokerage": method})
    assert _relieved(ledger) == relieved


def test_fifo_is_the_default_method() -> None:
    """Reg. §1.1012-1(c)(1): shares not identified are the ones bought first."""
    ledger = run(*LOTS, sell("2024-06-03", "XYZ", "15", "30"))
    assert _relieved(ledger) == [("A", D("10")), ("B", D("5"))]


def test_hifo_ranks_by_adjusted_basis_per_share_not_cost() -> None:
    """HIFO uses the basis after wash-sale adjustments (IRC §1091(d)): R cost $9.50 a share but
    carries a $3.00-a-share disallowed loss ($12.50), above Y's $12.00."""
    ledger = run(
        buy("2024-01-02", "XYZ", "10", "10"),
        sell("2024-02-01", "XYZ", "10", "7"),
        buy("2024-02-05", "XYZ", "10", "9.50", lot="R"),
        buy("2024-02-06", "XYZ", "10", "12", lot="Y"),
        sell("2024-06-03", "XYZ", "10", "20"),
        methods={"brokerage": LotMethod.HIFO},
    )
    last = ledger.sales[-1]
    assert (last.lot_id, last.cost_basis, last.adjusted_basis) == ("R", D("95.00"), D("125.00"))


def test_hifo_ranks_as_of_the_sale_not_after_the_wash_that_sale_causes() -> None:
    """Reg. §1.1012-1(c): shares are identified when they are sold. Selling 3 by HIFO picks
    A, A ($10) and C ($8); A's loss washed into R ($2 + $9 = $11) while the sale is being
    applied does not make R one of the three highest."""
    ledger = run(
        buy("2023-12-01", "XYZ", "1", "8", lot="C"),
        buy("2023-12-02", "XYZ", "2", "10", lot="A"),
        buy("2024-01-20", "XYZ", "1", "2", lot="R"),
        sell("2024-01-25", "XYZ", "3", "1"),
        methods={"brokerage": LotMethod.HIFO},
    )
    assert sorted((r.lot_id, r.wash_sale_disallowed) for r in ledger.sales) == [
        ("A", D("0")),
        ("A", D("9.00")),
        ("C", D("0")),
    ]
    [r] = ledger.open_lots()
    assert (r.lot_id, r.adjusted_basis) == ("R", D("11.00"))


def test_each_account_uses_its_own_method() -> None:
    """Lot identification is per account (tlh `methods`): t1 LIFO, t2 the default FIFO."""
    trades = (
        [
            buy("2024-01-02", "XYZ", "10", "10", account=acct, lot=f"{acct}-old")
            for acct in ("t1", "t2")
        ]
        + [
            buy("2024-01-03", "XYZ", "10", "20", account=acct, lot=f"{acct}-new")
            for acct in ("t1", "t2")
        ]
        + [sell("2024-06-03", "XYZ", "5", "30", account=acct) for acct in ("t1", "t2")]
    )
    ledger = run(*trades, methods={"t1": LotMethod.LIFO})
    assert _relieved(ledger) == [("t1-new", D("5")), ("t2-old", D("5"))]


def test_specific_identification_relieves_the_named_lot() -> None:
    """Reg. §1.1012-1(c)(2): adequately identified shares are the ones sold, whatever FIFO
    would say."""
    ledger = run(*LOTS, sell("2024-06-03", "XYZ", "4", "30", lot="C"))
    assert [(r.lot_id, r.quantity, r.cost_basis) for r in ledger.sales] == [
        ("C", D("4"), D("60.00"))
    ]
    assert [(lot.lot_id, lot.quantity) for lot in ledger.open_lots()] == [
        ("A", D("10")),
        ("B", D("10")),
        ("C", D("6")),
    ]


def test_a_sale_relieving_its_own_replacement_conserves_shares() -> None:
    """Regression: one FIFO sale of A (a loss) and B, A's replacement bought within 30 days.
    Convention 3: B, held when A's shares go, washes A's loss, which moves into B's first 100
    shares; the sale then relieves those and the rest of B -- 300 shares, no more, no less."""
    ledger = run(
        buy("2024-01-01", "XYZ", "100", "10", lot="A"),
        buy("2024-01-05", "XYZ", "200", "10", lot="B"),
        sell("2024-01-10", "XYZ", "300", "8"),
    )
    assert [
        (r.lot_id, r.quantity, r.adjusted_basis, r.wash_sale_disallowed) for r in ledger.sales
    ] == [
        ("A", D("100"), D("1000.00"), D("200.00")),
        ("B", D("100"), D("1200.00"), D("0")),
        ("B", D("100"), D("1000.00"), D("0")),
    ]
    assert total(ledger.sales, "quantity") == D("300")
    assert total(ledger.sales, "cost_basis") == D("3000.00")
    assert ledger.open_lots() == []
    assert total(ledger.sales, "gain_loss") == D("-600.00")


# -- fees and cents ---------------------------------------------------------------------------


def test_fees_are_added_to_cost_and_deducted_from_proceeds() -> None:
    """Pub 550, Basis of Investment Property / Form 8949 instructions for column (d) and (e):
    commissions increase basis on a purchase and reduce the amount realised on a sale."""
    ledger = run(
        buy("2024-01-02", "XYZ", "100", "10", fees="4.95"),
        sell("2024-06-03", "XYZ", "100", "12", fees="4.95"),
    )
    [row] = ledger.sales
    assert (row.cost_basis, row.proceeds, row.gain_loss) == (
        D("1004.95"),
        D("1195.05"),
        D("190.10"),
    )


def test_pro_rata_basis_rounds_to_the_cent_and_conserves_the_total() -> None:
    """ledger.money.share: 1 of 3 shares bought for $100.00 takes $33.33, the 2 left $66.67;
    selling those too relieves exactly $66.67, so the lot's $100.00 is all accounted for."""
    ledger = run(
        buy("2024-01-02", "XYZ", "3", "33.33", fees="0.01"),
        sell("2024-06-03", "XYZ", "1", "40"),
    )
    [first] = ledger.sales
    assert first.cost_basis == D("33.33")
    [rest] = ledger.open_lots()
    assert (rest.quantity, rest.cost_basis) == (D("2"), D("66.67"))
    ledger.apply(sell("2024-06-04", "XYZ", "2", "40"))
    assert ledger.sales[-1].cost_basis == D("66.67")
    assert total(ledger.sales, "cost_basis") == D("100.00")


def test_proceeds_split_across_lots_add_up_to_the_rounded_total() -> None:
    """ledger.money.share: 3 shares at $33.333 bring $100.00 (rounded once, for the whole
    sale), shared out one lot at a time over what is left: $33.33 (100.00 / 3), $33.34
    (66.67 / 2, half to even) and the remaining $33.33."""
    ledger = run(
        buy("2024-01-02", "XYZ", "1", "30", lot="A"),
        buy("2024-01-03", "XYZ", "1", "30", lot="B"),
        buy("2024-01-04", "XYZ", "1", "30", lot="C"),
        sell("2024-06-03", "XYZ", "3", "33.333"),
    )
    assert [r.proceeds for r in ledger.sales] == [D("33.33"), D("33.34"), D("33.33")]
    assert total(ledger.sales, "proceeds") == D("100.00")


def test_cost_rounds_half_to_even() -> None:
    """ledger.money.cents: money is kept to the cent, ties to even (documented choice):
    1 share at $10.125 costs $10.12, at $10.135 costs $10.14."""
    ledger = run(
        buy("2024-01-02", "XYZ", "1", "10.125", lot="A"),
        buy("2024-01-02", "XYZ", "1", "10.135", lot="B"),
    )
    assert [lot.cost_basis for lot in ledger.open_lots()] == [D("10.12"), D("10.14")]


# -- lot ids ----------------------------------------------------------------------------------


def test_rows_split_by_a_partial_wash_keep_their_lot_id() -> None:
    """Open positions and sale rows stay traceable to their BUY: when only 40 of R's 100 shares
    replace a loss, R is held as two parcels (40 adjusted, 60 not), both reported as "R", and
    selling R relieves both under that id."""
    ledger = run(
        buy("2024-01-02", "XYZ", "40", "10", lot="A"),
        sell("2024-03-01", "XYZ", "40", "8"),
        buy("2024-03-05", "XYZ", "100", "8", lot="R"),
    )
    assert [(lot.lot_id, lot.quantity, lot.adjusted_basis) for lot in ledger.open_lots()] == [
        ("R", D("40"), D("400.00")),
        ("R", D("60"), D("480.00")),
    ]
    ledger.apply(sell("2024-06-03", "XYZ", "100", "9", lot="R"))
    assert [(r.lot_id, r.quantity, r.adjusted_basis) for r in ledger.sales[1:]] == [
        ("R", D("40"), D("400.00")),
        ("R", D("60"), D("480.00")),
    ]


def test_generated_lot_ids_are_unique_per_purchase() -> None:
    """A BUY without a lot id gets a fresh one, so two same-day purchases stay two lots."""
    ledger = run(buy("2024-01-02", "XYZ", "1", "10"), buy("2024-01-02", "XYZ", "1", "11"))
    ids = [lot.lot_id for lot in ledger.open_lots()]
    assert len(set(ids)) == 2


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad_sale",
    [sell("2024-06-03", "XYZ", "31", "30"), sell("2024-06-03", "XYZ", "11", "30", lot="A")],
    ids=["position", "named-lot"],
)
def test_overselling_is_refused_and_changes_nothing(bad_sale: Trade) -> None:
    """A sale of more shares than held (30 in all, 10 in lot A) is an input error on the
    quantity; nothing is relieved."""
    ledger = run(*LOTS)
    with pytest.raises(OversellError) as err:
        ledger.apply(bad_sale)
    assert err.value.field == "quantity"
    assert ledger.sales == []
    assert ledger.position("brokerage", "XYZ") == D("30")


def test_selling_an_unknown_lot_is_refused() -> None:
    """Specific identification must name a lot that exists."""
    ledger = run(*LOTS)
    with pytest.raises(UnknownLotError) as err:
        ledger.apply(sell("2024-06-03", "XYZ", "1", "30", lot="nope"))
    assert err.value.field == "lot_id"


def test_selling_a_fully_sold_lot_is_refused() -> None:
    """A lot that has been sold entirely cannot be identified again."""
    ledger = run(*LOTS, sell("2024-06-03", "XYZ", "10", "30", lot="A"))
    with pytest.raises(UnknownLotError, match="fully sold") as err:
        ledger.apply(sell("2024-06-04", "XYZ", "1", "30", lot="A"))
    assert err.value.field == "lot_id"


@pytest.mark.parametrize(
    "bad_sale",
    [
        sell("2024-06-03", "XYZ", "1", "30", account="other", lot="A"),
        sell("2024-06-03", "ABC", "1", "30", lot="A"),
    ],
    ids=["other-account", "other-symbol"],
)
def test_a_lot_of_another_account_or_symbol_is_refused(bad_sale: Trade) -> None:
    """Shares are identified within the account and security being sold."""
    ledger = run(*LOTS, buy("2024-01-05", "ABC", "5", "10", account="other"))
    with pytest.raises(UnknownLotError) as err:
        ledger.apply(bad_sale)
    assert err.value.field == "lot_id"
    assert ledger.position("brokerage", "XYZ") == D("30")


def test_a_duplicate_lot_id_on_a_buy_is_refused() -> None:
    """A lot id names one purchase; reusing it (even in another account) is an input error."""
    ledger = run(*LOTS)
    with pytest.raises(LedgerError) as err:
        ledger.apply(buy("2024-06-03", "XYZ", "1", "10", account="t2", lot="B"))
    assert err.value.field == "lot_id"
    assert ledger.position("t2", "XYZ") == D("0")


@pytest.mark.parametrize("qty", ["0", "-1"])
@pytest.mark.parametrize("make", [buy, sell], ids=["buy", "sell"])
def test_a_non_positive_quantity_is_refused(make: Callable[..., Trade], qty: str) -> None:
    """A trade moves a positive number of shares; direction is the action's."""
    ledger = run(*LOTS)
    trade = make("2024-06-03", "XYZ", qty, "10")
    with pytest.raises(LedgerError) as err:
        ledger.apply(trade)
    assert err.value.field == "quantity"
    assert ledger.position("brokerage", "XYZ") == D("30")


def test_an_event_dated_before_the_last_one_is_refused() -> None:
    """Events are applied in date order (the engine is incremental); a late-arriving earlier
    trade must rebuild the ledger from the sorted journal instead."""
    ledger = run(*LOTS)
    with pytest.raises(LedgerError) as err:
        ledger.apply(buy("2024-01-03", "XYZ", "1", "10"))
    assert err.value.field == "date"


def test_a_partial_wash_after_inexact_splits_keeps_every_quantity_exact() -> None:
    """Splits of 3:2 then 5:4 make one old share 1.875 new ones; a partial wash divides by it.

    The sold-share count of the washed part is kept to 1e-9 shares and the replacement shares
    derived from it exactly, so the rows of the sale still add up to what was sold and the
    replacement can be sold in full afterwards (a 28-digit rounding once left a sliver that
    no sale could relieve).
    """
    ledger = run(
        buy("2020-01-02", "JPF", "10", "20"),
        sell("2020-03-02", "JPF", "10", "15"),
        split("2020-03-03", "JPF", "1.5"),
        split("2020-03-04", "JPF", "1.25"),
        buy("2020-03-06", "JPF", "7", "8"),
        sell("2020-04-20", "JPF", "7", "9"),
    )
    first_sale = [r for r in ledger.sales if r.date_sold.isoformat() == "2020-03-02"]
    assert total(first_sale, "quantity") == D("10")
    assert total(first_sale, "wash_sale_disallowed") > 0
    assert all(r.quantity == r.quantity.quantize(D("1e-9")) for r in first_sale)
    assert ledger.position("brokerage", "JPF") == 0
