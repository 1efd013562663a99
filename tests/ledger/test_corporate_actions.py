"""Reorganizations in the ledger: conversions (symbol changes, stock mergers) and spin-offs.

Rules: a reorganization's new shares take the old ones' basis (IRC §358) and holding period
(§1223(1)), no gain or loss recognized (§354, §355); a spin-off allocates the parent's basis
by relative fair market value (§358(c), Reg. §1.358-2(a)(2)), the fraction the issuer gives on
Form 8937; a wash-sale adjustment is part of basis (§1091(d)) and moves with it.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.engine import Ledger
from ledger.errors import LedgerError
from ledger.model import Conversion, SpinOff
from tests.ledger.helpers import D, buy, run, sell
from tests.ledger.test_properties import ACCOUNTS, IDENTITY, History, histories

ZERO = Decimal(0)


def convert(day: str, old: str, new: str, ratio: str, account: str = "brokerage") -> Conversion:
    return Conversion(10_000, date.fromisoformat(day), account, old, new, Decimal(ratio))


def spin(day: str, parent: str, child: str, qty: str, fraction: str) -> SpinOff:
    return SpinOff(10_001, date.fromisoformat(day), "brokerage", parent, child, D(qty), D(fraction))


def test_a_symbol_change_carries_every_lot_with_its_basis_dates_and_id() -> None:
    """FB became META one for one: the lot is the same lot under the new symbol."""
    ledger = run(
        buy("2021-03-01", "FB", "10", "250", lot="L1"),
        convert("2022-06-09", "FB", "META", "1"),
    )
    (lot,) = ledger.open_lots()
    assert (lot.lot_id, lot.symbol, lot.quantity) == ("L1", "META", D("10"))
    assert (lot.cost_basis, lot.acquired) == (D("2500.00"), date(2021, 3, 1))
    assert ledger.position("brokerage", "FB") == ZERO


def test_a_stock_merger_scales_shares_and_keeps_the_long_term_holding_period() -> None:
    """Two shares of the acquirer per target share; a sale a month later is long-term,
    counted from the target shares' purchase (§1223(1))."""
    ledger = run(
        buy("2022-01-03", "TGT", "10", "40"),
        convert("2023-01-10", "TGT", "ACQ", "2"),
        sell("2023-02-10", "ACQ", "20", "25"),
    )
    (row,) = ledger.sales
    assert (row.quantity, row.cost_basis, row.acquired) == (D("20"), D("400.00"), date(2022, 1, 3))
    assert row.term.value == "long"


def test_a_wash_adjustment_moves_with_the_converted_lot() -> None:
    """A loss washed into the replacement lot stays in its basis after a symbol change."""
    ledger = run(
        buy("2024-01-02", "OLD", "10", "100", lot="A"),
        sell("2024-02-01", "OLD", "10", "80", lot="A"),
        buy("2024-02-05", "OLD", "10", "82", lot="B"),
        convert("2024-03-01", "OLD", "NEW", "1"),
    )
    (lot,) = ledger.open_lots()
    assert (lot.symbol, lot.cost_basis, lot.adjusted_basis) == ("NEW", D("820.00"), D("1020.00"))
    assert lot.holding_period_start == date(2024, 1, 2) + (date(2024, 2, 5) - date(2024, 2, 1))


def test_a_loss_before_a_symbol_change_is_washed_by_buying_the_new_symbol() -> None:
    """The renamed security is the one sold: buying it inside the window washes the loss."""
    ledger = run(
        buy("2024-01-02", "OLD", "11", "100"),
        sell("2024-03-01", "OLD", "10", "80"),
        convert("2024-03-05", "OLD", "NEW", "1", account="brokerage"),
        buy("2024-03-10", "NEW", "10", "81"),
    )
    assert ledger.sales[0].wash_sale_disallowed == D("200.00")


def test_a_symbol_change_carries_the_last_loss_sale_date_to_the_new_symbol() -> None:
    """A loss on OLD on 3/1, OLD became NEW on 3/5: a buy of NEW until 3/31 washes it (IRC
    §1091(a), the successor's shares; wash-sale-rules.md, "Substantially identical"), so the
    date the guard refuses such a buy by (`last_loss_sale`) is the new symbol's too."""
    ledger = run(
        buy("2024-01-02", "OLD", "11", "100"),
        sell("2024-03-01", "OLD", "10", "80"),
        convert("2024-03-05", "OLD", "NEW", "1"),
    )
    assert ledger.last_loss_sale("NEW") == date(2024, 3, 1)


def test_a_symbol_change_carries_each_accounts_last_purchase_to_the_new_symbol() -> None:
    """The spouse bought OLD on 2/20 and sold it; OLD became NEW: the spouse's last purchase
    of anything identical to NEW is that one (`last_purchase_in`, which the guard reads to know
    a recurring purchase is in the journal)."""
    ledger = run(
        buy("2024-01-02", "OLD", "10", "100"),
        buy("2024-02-20", "OLD", "2", "90", account="spouse"),
        sell("2024-02-25", "OLD", "2", "95", account="spouse"),
        convert("2024-03-05", "OLD", "NEW", "1"),
    )
    assert ledger.last_purchase_in("spouse", "NEW") == date(2024, 2, 20)
    assert ledger.last_purchase_in("brokerage", "NEW") == date(2024, 1, 2)


def test_a_loss_of_an_account_holding_none_of_the_old_symbol_waits_for_the_new_one() -> None:
    """The spouse sold all its OLD at a loss on 3/1 and so gets no conversion of its own; the
    brokerage's OLD became NEW on 3/5 and the brokerage bought NEW on 3/10: the household
    acquired the successor's shares within 30 days of the spouse's loss (§1091(a); Pub 550:
    a spouse's purchase washes), so the loss is disallowed."""
    ledger = run(
        buy("2024-01-02", "OLD", "10", "100"),
        buy("2024-01-02", "OLD", "10", "100", account="spouse"),
        sell("2024-03-01", "OLD", "10", "80", account="spouse"),
        convert("2024-03-05", "OLD", "NEW", "1"),
        buy("2024-03-10", "NEW", "10", "81"),
    )
    assert ledger.sales[0].wash_sale_disallowed == D("200.00")


def test_a_loss_of_an_account_still_holding_the_old_symbol_is_scaled_once() -> None:
    """Two NEW per OLD, converted in the brokerage and then in the spouse's account, which sold
    10 OLD at a loss and kept 5: its loss waits for its own conversion and then for 20 NEW
    (two per sold share, not four); buying 20 NEW washes all of it (Pub 550, "More or less
    stock bought than sold")."""
    ledger = run(
        buy("2024-01-02", "OLD", "10", "100"),
        buy("2024-01-02", "OLD", "15", "100", account="spouse"),
        sell("2024-03-01", "OLD", "10", "80", account="spouse"),
        convert("2024-03-05", "OLD", "NEW", "2"),
        convert("2024-03-05", "OLD", "NEW", "2", account="spouse"),
        buy("2024-03-10", "NEW", "20", "41"),
    )
    (row,) = ledger.sales
    assert (row.quantity, row.wash_sale_disallowed) == (D("10"), D("200.00"))


def test_a_spin_off_leaves_the_wash_sale_state_with_the_parent() -> None:
    """The convention for spin-offs: the distributed shares are another corporation's stock,
    ordinarily not substantially identical to the parent's (Pub 550), and the parent goes on
    trading. A loss on MMM on 3/1 is not washed by buying SOLV after the 3/5 spin-off, nor is
    its date SOLV's; a buy of MMM still washes it."""
    ledger = run(
        buy("2024-01-02", "MMM", "40", "150"),
        sell("2024-03-01", "MMM", "10", "120"),
        spin("2024-03-05", "MMM", "SOLV", "7.5", "0.08"),
    )
    assert ledger.last_loss_sale("SOLV") is None
    assert ledger.last_purchase_in("brokerage", "SOLV") is None
    ledger.apply(buy("2024-03-10", "SOLV", "10", "30"))
    assert ledger.sales[0].wash_sale_disallowed == ZERO
    ledger.apply(buy("2024-03-11", "MMM", "10", "121"))
    assert ledger.sales[0].wash_sale_disallowed == D("300.00")


def test_a_conversion_of_a_position_not_held_is_refused() -> None:
    """The ledger refuses what it cannot apply instead of inventing shares."""
    ledger = Ledger()
    event = convert("2024-03-05", "OLD", "NEW", "1")
    assert isinstance(ledger.refusal(event), LedgerError)
    with pytest.raises(LedgerError):
        ledger.apply(event)


def test_a_spin_off_allocates_the_basis_fraction_and_tacks_the_holding_period() -> None:
    """MMM's 2024 Solventum spin-off: one SOLV share per four MMM, 8.32% of the basis to SOLV
    (3M's Form 8937 figures, rounded)."""
    ledger = run(
        buy("2020-05-01", "MMM", "40", "150", lot="M1"),
        spin("2024-04-01", "MMM", "SOLV", "10", "0.0832"),
    )
    parent, child = sorted(ledger.open_lots(), key=lambda lot: lot.symbol)
    assert (parent.symbol, parent.quantity, parent.cost_basis) == ("MMM", D("40"), D("5500.80"))
    assert (child.symbol, child.quantity, child.cost_basis) == ("SOLV", D("10"), D("499.20"))
    assert (child.lot_id, child.acquired) == ("M1>SOLV", date(2020, 5, 1))


def test_a_spin_off_needs_a_fraction_from_zero_to_one() -> None:
    ledger = run(buy("2020-05-01", "MMM", "40", "150"))
    assert ledger.refusal(spin("2024-04-01", "MMM", "SOLV", "10", "1.5")) is not None


# -- properties ----------------------------------------------------------------------------


def _ledger(history: History) -> Ledger:
    ledger = Ledger(identity=IDENTITY, account_types=ACCOUNTS, lot_methods=history.methods)
    ledger.apply_all(history.trades)
    return ledger


def _held(ledger: Ledger) -> list[tuple[str, str]]:
    return sorted(key for key in ledger.positions())


def _basis(ledger: Ledger, account: str, symbol: str) -> tuple[Decimal, Decimal]:
    lots = [lot for lot in ledger.open_lots() if (lot.account, lot.symbol) == (account, symbol)]
    return (
        sum((lot.cost_basis for lot in lots), ZERO),
        sum((lot.adjusted_basis for lot in lots), ZERO),
    )


PROPERTY = settings(max_examples=150, deadline=None)


@PROPERTY
@given(histories(fees=True), st.data())
def test_a_conversion_conserves_basis_and_scales_shares(
    history: History, data: st.DataObject
) -> None:
    """Whatever the history, a conversion moves all of a position's basis to the new symbol
    and multiplies its shares by the ratio, leaving every other position alone."""
    ledger = _ledger(history)
    held = _held(ledger)
    if not held:
        return
    account, symbol = data.draw(st.sampled_from(held))
    ratio = Decimal(data.draw(st.sampled_from(["1", "2", "0.5", "1.5", "0.1"])))
    before = ledger.positions()
    basis = _basis(ledger, account, symbol)
    last = max(t.trade_date for t in history.trades)
    ledger.apply(Conversion(10_000, last, account, symbol, "ZZZ", ratio))
    after = ledger.positions()
    assert after[(account, "ZZZ")] == before[(account, symbol)] * ratio
    assert (account, symbol) not in after
    assert _basis(ledger, account, "ZZZ") == basis
    others = {k: v for k, v in before.items() if k != (account, symbol)}
    assert {k: v for k, v in after.items() if k != (account, "ZZZ")} == others


@PROPERTY
@given(
    histories(fees=True),
    st.data(),
    st.integers(1, 10_000).map(lambda n: Decimal(n) / 1000),
    st.integers(0, 10_000).map(lambda n: Decimal(n) / 10_000),
)
def test_a_spin_off_conserves_basis_and_shares_exactly(
    history: History, data: st.DataObject, quantity: Decimal, fraction: Decimal
) -> None:
    """Parent plus child basis equals the parent's basis before, to the cent; the child lots
    hold exactly the distributed shares, each dated as its parent lot."""
    ledger = _ledger(history)
    held = _held(ledger)
    if not held:
        return
    account, symbol = data.draw(st.sampled_from(held))
    cost, adjusted = _basis(ledger, account, symbol)
    parents = {
        lot.lot_id: lot
        for lot in ledger.open_lots()
        if (lot.account, lot.symbol) == (account, symbol)
    }
    last = max(t.trade_date for t in history.trades)
    ledger.apply(SpinOff(10_000, last, account, symbol, "KID", quantity, fraction))
    kid_cost, kid_adjusted = _basis(ledger, account, "KID")
    new_cost, new_adjusted = _basis(ledger, account, symbol)
    assert (new_cost + kid_cost, new_adjusted + kid_adjusted) == (cost, adjusted)
    assert ledger.position(account, "KID") == quantity
    for lot in ledger.open_lots():
        if lot.symbol == "KID":
            parent = parents[lot.lot_id.split(">")[0]]
            assert (lot.acquired, lot.account_type) == (parent.acquired, parent.account_type)
