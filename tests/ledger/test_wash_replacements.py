"""`Ledger.wash_replacements`: would a sale wash, and against which lots -- the ledger's own answer.

Issue #13 A.4b: the wash guard "must ask the ledger's own matching whether the sale would wash
(which lots, in which accounts, would be its replacements), not approximate it". The query runs
the matching a sale runs (`Ledger._replacements`), changes nothing, and agrees with what the
sale then does (IRC §1091(a); Rev. Rul. 2008-5 for the IRA; convention 2: a lot's own shares
never replace it).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.engine import Ledger
from ledger.model import AccountType, Action, Trade

DAY = date(2024, 6, 3)
ACCOUNTS = {"brokerage": AccountType.TAXABLE, "ira": AccountType.IRA}


def _ledger(trades: list[Trade]) -> Ledger:
    ledger = Ledger(account_types=ACCOUNTS)
    ledger.apply_all(trades)
    return ledger


def _buy(seq: int, days_before: int, lot: str, qty: int = 10, account: str = "brokerage") -> Trade:
    return Trade(
        seq,
        DAY - timedelta(days=days_before),
        account,
        Action.BUY,
        "VTI",
        Decimal(qty),
        Decimal(200),
        lot_id=lot,
    )


def test_the_lots_that_would_replace_in_any_account_but_never_the_sold_lot_itself() -> None:
    """Bought 5 days ago (the lot sold), 10 days ago in the IRA, 20 days ago in the taxable
    account, 40 days ago: the IRA and the 20-day lot would replace; the sold lot's own purchase
    and the one outside the 30 days would not."""
    ledger = _ledger(
        [
            _buy(1, 40, "old"),
            _buy(2, 20, "taxable-20"),
            _buy(3, 10, "ira-10", account="ira"),
            _buy(4, 5, "sold"),
        ]
    )
    sold = [p for p in ledger.parcels("brokerage", "VTI") if p.lot_id == "sold"]

    found = ledger.wash_replacements(sold, DAY)

    assert [(p.lot_id, p.account) for p in found] == [
        ("taxable-20", "brokerage"),
        ("ira-10", "ira"),
    ]
    assert ledger.wash_replacements([], DAY) == []


def test_shares_the_sale_relieves_later_replace_and_those_relieved_before_do_not() -> None:
    """Convention 3: a lot held at the moment of the loss is a replacement even if the same
    sale relieves it later. Old lot first (FIFO): the new lot replaces it. New lot first (its
    own loss; the old lot is outside the 30 days), then the old one: nothing is held any more
    that would replace it. The sales agree."""
    for order, washes in ((["old", "new"], True), (["new", "old"], False)):
        ledger = _ledger([_buy(1, 90, "old"), _buy(2, 5, "new")])
        by_lot = {p.lot_id: p for p in ledger.parcels("brokerage", "VTI")}

        found = ledger.wash_replacements([by_lot[lot] for lot in order], DAY)

        assert [p.lot_id for p in found] == (["new"] if washes else [])
        for seq, lot in enumerate(order, 100):
            sale = Trade(
                seq, DAY, "brokerage", Action.SELL, "VTI", Decimal(10), Decimal(150), lot_id=lot
            )
            ledger.apply(sale)
        assert any(row.washed for row in ledger.sales) is washes


def test_only_the_losses_look_for_replacements() -> None:
    """A parcel sold at a gain washes nothing (IRC §1091 disallows losses only)."""
    ledger = _ledger([_buy(1, 90, "old"), _buy(2, 5, "new")])
    old = [p for p in ledger.parcels("brokerage", "VTI") if p.lot_id == "old"]

    assert ledger.wash_replacements(old, DAY, at_loss=lambda p: False) == []
    assert [p.lot_id for p in ledger.wash_replacements(old, DAY)] == ["new"]


@settings(max_examples=60, deadline=None)
@given(
    lots=st.lists(
        st.tuples(st.integers(0, 60), st.integers(1, 20), st.sampled_from(sorted(ACCOUNTS))),
        min_size=1,
        max_size=6,
    ),
    pick=st.integers(0, 5),
)
def test_the_query_agrees_with_the_sale(lots: list[tuple[int, int, str]], pick: int) -> None:
    """Property: selling one taxable lot at a loss washes exactly when the query found
    replacement lots, and only against lots the query named."""
    buys = sorted(
        (
            _buy(i + 1, days, f"lot-{i}", qty, account)
            for i, (days, qty, account) in enumerate(lots)
        ),
        key=lambda t: (t.trade_date, t.seq),
    )
    taxable = [t for t in buys if t.account == "brokerage"]
    if not taxable:
        return
    target = taxable[pick % len(taxable)]
    ledger = _ledger(buys)
    parcels = [p for p in ledger.parcels("brokerage", "VTI") if p.lot_id == target.lot_id]

    named = {p.lot_id for p in ledger.wash_replacements(parcels, DAY)}
    ledger.apply(
        Trade(
            100,
            DAY,
            "brokerage",
            Action.SELL,
            "VTI",
            target.quantity,
            Decimal(150),
            lot_id=target.lot_id,
        )
    )

    washed = [row for row in ledger.sales if row.washed]
    assert bool(washed) == bool(named)
    assert {lot for row in washed for lot in row.replacement_lot_ids} <= named


@settings(max_examples=60, deadline=None)
@given(
    lots=st.lists(
        st.tuples(st.integers(0, 60), st.integers(1, 20), st.sampled_from(sorted(ACCOUNTS))),
        min_size=1,
        max_size=6,
    ),
    cut=st.integers(1, 6),
)
def test_the_query_agrees_with_a_fifo_sale_of_several_lots(
    lots: list[tuple[int, int, str]], cut: int
) -> None:
    """Property: a FIFO sale of the first `cut` taxable lots at a loss (one order, as Alpaca
    relieves it) washes exactly when the query, given them in that order, names a lot."""
    buys = sorted(
        (
            _buy(i + 1, days, f"lot-{i}", qty, account)
            for i, (days, qty, account) in enumerate(lots)
        ),
        key=lambda t: (t.trade_date, t.seq),
    )
    ledger = _ledger(buys)
    sold = list(ledger.parcels("brokerage", "VTI"))[:cut]
    if not sold:
        return

    named = ledger.wash_replacements(sold, DAY)
    quantity = sum((p.quantity for p in sold), Decimal(0))
    ledger.apply(Trade(100, DAY, "brokerage", Action.SELL, "VTI", quantity, Decimal(150)))

    assert any(row.washed for row in ledger.sales) is bool(named)
