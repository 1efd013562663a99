"""The ledger's kept views of its positions (ledger/engine.py, `Ledger._view`).

Rule: `parcels`, `position`, `positions` and `open_lots` answer from views kept per position
and computed once, and each event drops the views of every position it changes (`_dispatch`:
its own, a transfer's destination, a reorganization's new symbol, a split's every holder, a
wash sale's replacement in any account). Whatever was read before, every answer equals what
the lots as they stand give.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.engine import Ledger
from ledger.model import (
    AccountType,
    Conversion,
    LedgerEvent,
    OpenLot,
    Parcel,
    SpinOff,
    Split,
    Trade,
    Transfer,
)
from tests.ledger.helpers import D, buy, sell, split
from tests.ledger.test_properties import ACCOUNTS, IDENTITY, SYMBOLS, History, histories

ZERO = Decimal(0)
TWO_ACCOUNTS = {"t1": AccountType.TAXABLE, "t2": AccountType.TAXABLE}

PROPERTY = settings(max_examples=150, deadline=None)


def _scratch(ledger: Ledger) -> dict[tuple[str, str], list[Parcel]]:
    """Return every position's open parcels, read off its lots as they stand (the definition)."""
    return {
        key: [p for lot in lots for p in lot.parcels if p.quantity > ZERO]
        for key, lots in ledger._positions.items()
    }


def _total(parcels: list[Parcel]) -> Decimal:
    return sum((p.quantity for p in parcels), ZERO)


def _row(p: Parcel) -> OpenLot:
    return OpenLot(
        p.lot_id,
        p.account,
        p.account_type,
        p.symbol,
        p.quantity,
        p.acquired,
        p.holding_period_start,
        p.cost,
        p.adjusted_basis,
        p.source,
    )


def _assert_views_match_the_lots(ledger: Ledger) -> None:
    scratch = _scratch(ledger)
    for (account, symbol), parcels in scratch.items():
        got = list(ledger.parcels(account, symbol))
        assert [id(p) for p in got] == [id(p) for p in parcels]
        # Same digits and exponent, not only the same value: a total is printed.
        assert ledger.position(account, symbol).as_tuple() == _total(parcels).as_tuple()
    expected = {key: _total(ps) for key, ps in scratch.items() if _total(ps)}
    got_positions = ledger.positions()
    assert list(got_positions.items()) == list(expected.items())
    assert [q.as_tuple() for q in got_positions.values()] == [
        q.as_tuple() for q in expected.values()
    ]
    assert ledger.open_lots() == [_row(p) for key in sorted(scratch) for p in scratch[key]]


def _extra_event(data: st.DataObject, ledger: Ledger, day: date) -> LedgerEvent | None:
    """Draw a split, reorganization or transfer on `day` of something the ledger holds."""
    held = sorted(ledger.positions())
    if not held:
        return None
    account, symbol = data.draw(st.sampled_from(held))
    kind = data.draw(st.sampled_from(["split", "convert", "spin", "transfer"]))
    if kind == "split":
        return Split(0, day, symbol, D(data.draw(st.sampled_from(["2", "0.5", "3", "1.5"]))))
    new = data.draw(st.sampled_from([s for s in (*SYMBOLS, "NEW") if s != symbol]))
    if kind == "convert":
        ratio = D(data.draw(st.sampled_from(["1", "2", "0.5"])))
        return Conversion(0, day, account, symbol, new, ratio)
    if kind == "spin":
        qty = Decimal(data.draw(st.integers(1, 30)))
        fraction = Decimal(data.draw(st.integers(0, 100))) / 100
        return SpinOff(0, day, account, symbol, new, qty, fraction)
    to = data.draw(st.sampled_from([None, *(a for a in ("t1", "t2") if a != account)]))
    qty = Decimal(data.draw(st.integers(1, int(ledger.position(account, symbol)) or 1)))
    return Transfer(0, day, account, symbol, qty, to)


@PROPERTY
@given(histories(fees=True), st.data())
def test_the_kept_views_equal_the_lots_after_every_event(
    history: History, data: st.DataObject
) -> None:
    """After any sequence of trades, splits, conversions, spin-offs and transfers, each read
    after each event (so views kept from before it), every query answers what the lots give;
    and a ledger that never answered a query before the end agrees."""
    warm = Ledger(identity=IDENTITY, account_types=ACCOUNTS, lot_methods=history.methods)
    applied: list[LedgerEvent] = []

    def apply(event: LedgerEvent) -> None:
        # Numbered in the order applied, so that the replay from scratch sorts them alike.
        if isinstance(event, Trade):
            event = event._replace(seq=len(applied))
        else:
            event = replace(event, seq=len(applied))
        if warm.refusal(event) is not None:
            return
        warm.apply(event)
        applied.append(event)
        _assert_views_match_the_lots(warm)

    for trade in history.trades:
        apply(trade)
        if data.draw(st.integers(0, 3)) == 0:
            extra = _extra_event(data, warm, trade.trade_date)
            if extra is not None:
                apply(extra)

    cold = Ledger(identity=IDENTITY, account_types=ACCOUNTS, lot_methods=history.methods)
    cold.apply_all(applied)
    assert cold.positions() == warm.positions()
    assert cold.open_lots() == warm.open_lots()
    assert cold.sales == warm.sales


def test_a_wash_sale_raises_the_basis_of_a_replacement_read_before_in_another_account() -> None:
    """A loss sold in t1 washes into t2's lot bought 10 days before (IRC §1091(d)): t2's open
    lot, read before the sale, shows the adjusted basis after it."""
    ledger = Ledger(account_types=TWO_ACCOUNTS)
    ledger.apply(buy("2024-01-02", "VTI", "10", "100", account="t1"))
    ledger.apply(buy("2024-02-01", "VTI", "10", "90", account="t2"))
    (t2_lot,) = [lot for lot in ledger.open_lots() if lot.account == "t2"]
    assert t2_lot.adjusted_basis == D("900")
    ledger.apply(sell("2024-02-11", "VTI", "10", "80", account="t1"))
    (t2_lot,) = ledger.open_lots()
    assert t2_lot.adjusted_basis == D("1100")


def test_a_split_changes_every_accounts_position_read_before_it() -> None:
    """A split multiplies the shares of every holder of the symbol: positions read before it
    in both accounts are read again after it."""
    ledger = Ledger(account_types=TWO_ACCOUNTS)
    ledger.apply(buy("2024-01-02", "VTI", "10", "100", account="t1"))
    ledger.apply(buy("2024-01-03", "VTI", "4", "100", account="t2"))
    assert ledger.positions() == {("t1", "VTI"): D("10"), ("t2", "VTI"): D("4")}
    ledger.apply(split("2024-02-01", "VTI", "2"))
    assert ledger.position("t2", "VTI") == D("8")
    assert ledger.positions() == {("t1", "VTI"): D("20"), ("t2", "VTI"): D("8")}


def test_a_transfer_fills_the_destination_position_read_before_it() -> None:
    """Shares moved from t1 to t2 (README, "Transfers") appear in t2's parcels, read (empty)
    before the transfer."""
    ledger = Ledger(account_types=TWO_ACCOUNTS)
    ledger.apply(buy("2024-01-02", "VTI", "10", "100", account="t1", lot="A"))
    assert list(ledger.parcels("t2", "VTI")) == []
    ledger.apply(Transfer(99, date(2024, 2, 1), "t1", "VTI", D("10"), "t2"))
    assert [p.lot_id for p in ledger.parcels("t2", "VTI")] == ["A"]
    assert ledger.position("t1", "VTI") == ZERO


def test_a_conversion_adds_to_the_new_symbols_position_read_before_it() -> None:
    """A conversion carries the old symbol's lots into the new symbol's position (IRC §358):
    the new symbol's total, read before, includes them after."""
    ledger = Ledger()
    ledger.apply(buy("2024-01-02", "OLD", "10", "100"))
    ledger.apply(buy("2024-01-03", "NEW", "5", "50"))
    assert ledger.position("brokerage", "NEW") == D("5")
    ledger.apply(Conversion(99, date(2024, 2, 1), "brokerage", "OLD", "NEW", D("2")))
    assert ledger.position("brokerage", "NEW") == D("25")
    assert ledger.positions() == {("brokerage", "NEW"): D("25")}
