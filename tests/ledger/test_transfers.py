"""Transfers of shares in kind: out of an account, to another broker or another own account.

Rules: a transfer is no sale or exchange, so nothing is realised (IRC §1001(a)) and nothing
goes on Form 8949 (its instructions: report sales and exchanges); shares moved between one's
own accounts keep their basis and holding period, and a wash adjustment is part of basis
(§1091(d)) and moves with it; §1091(a) counts replacement shares acquired "by purchase or by an
exchange", which a transfer is not. The wash-sale convention for transfers is `Ledger._transfer`
(README, "Transfers").
"""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.conventions import LotMethod
from ledger.engine import Ledger
from ledger.errors import LedgerError, OversellError
from ledger.identity import Identity
from ledger.model import AccountType, Transfer
from ledger.partition import split_history
from ledger.report import build_report
from tests.ledger.helpers import D, buy, run, sell
from tests.ledger.test_properties import ACCOUNTS, IDENTITY, History, histories

ZERO = Decimal(0)
TAXABLE_PAIR = {"brokerage": AccountType.TAXABLE, "spouse": AccountType.TAXABLE}
_seq = itertools.count(20_000)


def transfer(
    day: str,
    symbol: str,
    qty: str,
    *,
    account: str = "brokerage",
    to: str | None = None,
    lot: str | None = None,
) -> Transfer:
    return Transfer(next(_seq), date.fromisoformat(day), account, symbol, D(qty), to, lot)


def test_a_transfer_out_removes_the_oldest_lot_and_realises_nothing() -> None:
    """An ACATS transfer to another broker: FIFO relieves the first lot; no sale row."""
    ledger = run(
        buy("2023-01-03", "VTI", "10", "200", lot="A"),
        buy("2023-06-01", "VTI", "5", "220", lot="B"),
        transfer("2024-02-01", "VTI", "10"),
    )
    assert ledger.sales == []
    (lot,) = ledger.open_lots()
    assert (lot.lot_id, lot.quantity) == ("B", D("5"))


def test_a_transfer_never_reaches_the_tax_report() -> None:
    """Form 8949 lists sales and exchanges: the year's report has the sale, not the transfer,
    and nothing is left open."""
    ledger = run(
        buy("2023-01-03", "VTI", "10", "200"),
        sell("2024-03-01", "VTI", "2", "150"),
        transfer("2024-04-01", "VTI", "8"),
    )
    report = build_report(ledger.sales, ledger.open_lots(), year=2024)
    assert [(s.sale.quantity, s.sale.date_sold) for s in report.sales] == [
        (D("2"), date(2024, 3, 1))
    ]
    assert report.open_lots == ()


def test_a_whole_lot_moves_to_the_spouse_account_with_its_id_basis_and_date() -> None:
    """Between own accounts the lot arrives as it was; sold there a year later, its gain is
    long-term from the original purchase, at the original cost."""
    ledger = run(
        buy("2022-05-02", "VTI", "10", "180", lot="A", fees="1"),
        transfer("2023-01-10", "VTI", "10", to="spouse"),
        sell("2023-06-01", "VTI", "10", "210", account="spouse"),
        accounts=TAXABLE_PAIR,
    )
    (row,) = ledger.sales
    assert (row.lot_id, row.account, row.cost_basis) == ("A", "spouse", D("1801.00"))
    assert (row.acquired, row.term.value) == (date(2022, 5, 2), "long")
    assert ledger.position("brokerage", "VTI") == ZERO


def test_part_of_a_lot_becomes_a_lot_of_its_own_sharing_the_cost() -> None:
    """4 of 10 shares move: the cost is shared by shares, to the cent, and conserved."""
    ledger = run(
        buy("2022-05-02", "VTI", "10", "100.01", lot="A"),
        transfer("2023-01-10", "VTI", "4", to="spouse"),
        accounts=TAXABLE_PAIR,
    )
    kept, moved = ledger.open_lots()
    assert (kept.lot_id, kept.quantity, kept.cost_basis) == ("A", D("6"), D("600.06"))
    assert (moved.lot_id, moved.account, moved.quantity) == ("A@spouse", "spouse", D("4"))
    assert kept.cost_basis + moved.cost_basis == D("1000.10")
    assert moved.acquired == date(2022, 5, 2)


def test_a_wash_adjustment_and_tacked_holding_period_move_with_the_parcel() -> None:
    """Replacement shares keep the disallowed loss in their basis (§1091(d)) and the tacked
    holding period wherever they are moved."""
    ledger = run(
        buy("2024-01-02", "VTI", "10", "100", lot="A"),
        sell("2024-02-01", "VTI", "10", "80", lot="A"),
        buy("2024-02-05", "VTI", "10", "82", lot="B"),
        transfer("2024-03-01", "VTI", "10", to="spouse"),
        accounts=TAXABLE_PAIR,
    )
    (lot,) = ledger.open_lots()
    assert (lot.account, lot.cost_basis) == ("spouse", D("820.00"))
    assert lot.adjusted_basis == D("1020.00")
    assert lot.holding_period_start == date(2024, 1, 2) + (date(2024, 2, 5) - date(2024, 2, 1))


def test_a_transfer_is_no_purchase_a_pending_loss_keeps_waiting() -> None:
    """Shares moved into an account after a loss sale were not acquired by purchase: the loss
    stays allowed, and a real purchase inside the window still washes it."""
    moved_only = run(
        buy("2024-01-02", "VTI", "10", "100", lot="A", account="spouse"),
        buy("2024-01-03", "VTI", "10", "100", lot="B"),
        sell("2024-03-01", "VTI", "10", "80", lot="B"),
        transfer("2024-03-05", "VTI", "10", account="spouse", to="brokerage"),
        accounts=TAXABLE_PAIR,
    )
    assert moved_only.sales[0].wash_sale_disallowed == ZERO
    then_bought = run(
        buy("2024-01-02", "VTI", "10", "100", lot="A", account="spouse"),
        buy("2024-01-03", "VTI", "10", "100", lot="B"),
        sell("2024-03-01", "VTI", "10", "80", lot="B"),
        transfer("2024-03-05", "VTI", "10", account="spouse", to="brokerage"),
        buy("2024-03-10", "VTI", "10", "81", lot="C"),
        accounts=TAXABLE_PAIR,
    )
    assert then_bought.sales[0].wash_sale_disallowed == D("200.00")


def test_shares_moved_to_an_own_account_still_replace_a_later_loss() -> None:
    """Bought within 30 days before the loss and still held (in the spouse's account): the
    loss is washed into them there."""
    ledger = run(
        buy("2024-01-02", "VTI", "10", "100", lot="A"),
        buy("2024-02-20", "VTI", "10", "85", lot="B"),
        transfer("2024-02-25", "VTI", "10", lot="B", to="spouse"),
        sell("2024-03-01", "VTI", "10", "80", lot="A"),
        accounts=TAXABLE_PAIR,
    )
    (row,) = ledger.sales
    assert (row.wash_sale_disallowed, row.replacement_lot_ids) == (D("200.00"), ("B",))
    (lot,) = ledger.open_lots()
    assert (lot.account, lot.adjusted_basis) == ("spouse", D("1050.00"))


def test_shares_transferred_out_still_replace_a_loss_within_their_30_days() -> None:
    """Shares bought 2024-02-20 and delivered to another broker are still the household's:
    a loss sold here on 2024-03-01 is washed into them (their lot named ``B@out``) and the
    guard's query finds them; they are in no position of the ledger."""
    ledger = run(
        buy("2024-01-02", "VTI", "10", "100", lot="A"),
        buy("2024-02-20", "VTI", "10", "85", lot="B"),
        transfer("2024-02-25", "VTI", "10", lot="B"),
    )
    (lot_a,) = ledger.parcels("brokerage", "VTI")
    found = ledger.wash_replacements([lot_a], date(2024, 3, 1))
    assert [(p.lot_id, p.quantity) for p in found] == [("B@out", D("10"))]
    ledger.apply(sell("2024-03-01", "VTI", "10", "80", lot="A"))
    (row,) = ledger.sales
    assert (row.wash_sale_disallowed, row.replacement_lot_ids) == (D("200.00"), ("B@out",))
    assert ledger.open_lots() == []


def test_shares_transferred_out_replace_nothing_after_their_30_days() -> None:
    """The window is measured from their purchase (§1091(a)): a loss 31 days later is
    allowed."""
    ledger = run(
        buy("2024-01-02", "VTI", "10", "100", lot="A"),
        buy("2024-02-20", "VTI", "10", "85", lot="B"),
        transfer("2024-02-25", "VTI", "10", lot="B"),
        sell("2024-03-22", "VTI", "10", "80", lot="A"),
    )
    assert ledger.sales[0].wash_sale_disallowed == ZERO


def test_a_lot_split_by_a_transfer_never_replaces_itself() -> None:
    """Convention 2: a lot's own unsold shares are not its replacement, even when part of it
    moved to another account."""
    ledger = run(
        buy("2024-02-01", "VTI", "10", "100", lot="A"),
        transfer("2024-02-10", "VTI", "5", to="spouse"),
        sell("2024-02-20", "VTI", "5", "80"),
        accounts=TAXABLE_PAIR,
    )
    assert ledger.sales[0].wash_sale_disallowed == ZERO


def test_hifo_moves_the_highest_basis_and_tax_optimizer_methods_move_fifo() -> None:
    """The account's method relieves a transfer; a price-ranked method has no price, so the
    oldest shares go first."""
    events = (
        buy("2023-01-03", "VTI", "10", "200", lot="A"),
        buy("2023-06-01", "VTI", "10", "250", lot="B"),
        transfer("2024-02-01", "VTI", "10"),
    )
    hifo = run(*events, methods={"brokerage": LotMethod.HIFO})
    assert [lot.lot_id for lot in hifo.open_lots()] == ["A"]
    ranked = run(*events, methods={"brokerage": LotMethod.MAX_LT_LOSS})
    assert [lot.lot_id for lot in ranked.open_lots()] == ["B"]


@pytest.mark.parametrize(
    ("event", "error"),
    [
        (transfer("2024-02-01", "VTI", "11"), OversellError),
        (transfer("2024-02-01", "VTI", "1", lot="nope"), LedgerError),
        (transfer("2024-02-01", "VTI", "0"), LedgerError),
        (transfer("2024-02-01", "VTI", "1", to="brokerage"), LedgerError),
        (transfer("2024-02-01", "VTI", "1", to="ira"), LedgerError),
    ],
    ids=["more than held", "unknown lot", "zero", "to itself", "taxable to ira"],
)
def test_a_transfer_that_cannot_apply_is_refused_and_changes_nothing(
    event: Transfer, error: type[LedgerError]
) -> None:
    """As a sale of more than is held: refused before anything changes."""
    ledger = run(
        buy("2023-01-03", "VTI", "10", "200", lot="A"),
        accounts={"brokerage": AccountType.TAXABLE, "ira": AccountType.IRA},
    )
    assert isinstance(ledger.refusal(event), error)
    with pytest.raises(error):
        ledger.apply(event)
    assert ledger.position("brokerage", "VTI") == D("10")


def test_a_history_with_a_transfer_between_accounts_is_not_split() -> None:
    """The lot ids a transfer makes step around every id taken, so its history is replayed
    whole; a transfer out of the ledger makes none and leaves the history splittable."""
    trades = [
        buy("2024-01-02", "VTI", "10", "100", lot="V"),
        buy("2024-01-02", "BND", "10", "70", lot="B"),
    ]
    between = [*trades, transfer("2024-02-01", "VTI", "4", to="spouse")]
    out = [*trades, transfer("2024-02-01", "VTI", "4")]
    assert split_history(between, Identity(), 2) is None
    assert split_history(out, Identity(), 2) is not None


# -- properties ----------------------------------------------------------------------------

PROPERTY = settings(max_examples=150, deadline=None)


def _ledger(history: History) -> Ledger:
    ledger = Ledger(identity=IDENTITY, account_types=ACCOUNTS, lot_methods=history.methods)
    ledger.apply_all(history.trades)
    return ledger


def _totals(ledger: Ledger, symbol: str) -> tuple[Decimal, Decimal, Decimal]:
    lots = [lot for lot in ledger.open_lots() if lot.symbol == symbol]
    return (
        sum((lot.quantity for lot in lots), ZERO),
        sum((lot.cost_basis for lot in lots), ZERO),
        sum((lot.adjusted_basis for lot in lots), ZERO),
    )


@PROPERTY
@given(histories(fees=True), st.data())
def test_a_transfer_between_accounts_conserves_shares_and_basis_and_realises_nothing(
    history: History, data: st.DataObject
) -> None:
    """Whatever the history, moving part of a position to another account of the same kind
    keeps the symbol's shares, cost and adjusted basis across the household, adds no sale
    row, and changes only the two positions, by the quantity moved."""
    ledger = _ledger(history)
    held = [
        (key, qty)
        for key, qty in sorted(ledger.positions().items())
        if ACCOUNTS[key[0]] is AccountType.TAXABLE
    ]
    if not held:
        return
    (account, symbol), qty = data.draw(st.sampled_from(held))
    to = "t2" if account == "t1" else "t1"
    moving = Decimal(data.draw(st.integers(1, int(qty))))
    before, sales, totals = ledger.positions(), ledger.sales, _totals(ledger, symbol)
    last = max(t.trade_date for t in history.trades)
    ledger.apply(Transfer(10_000, last, account, symbol, moving, to))
    after = ledger.positions()
    assert ledger.sales == sales
    assert _totals(ledger, symbol) == totals
    assert after.get((account, symbol), ZERO) == before[(account, symbol)] - moving
    assert after[(to, symbol)] == before.get((to, symbol), ZERO) + moving
    untouched = {(account, symbol), (to, symbol)}
    assert {k: v for k, v in after.items() if k not in untouched} == {
        k: v for k, v in before.items() if k not in untouched
    }


@PROPERTY
@given(histories(fees=True), st.data())
def test_a_whole_position_moves_lot_for_lot(history: History, data: st.DataObject) -> None:
    """Moving a whole position, every parcel arrives under its lot id with its shares,
    acquisition date, holding period, cost and adjusted basis; the source holds nothing."""
    ledger = _ledger(history)
    held = sorted(k for k in ledger.positions() if ACCOUNTS[k[0]] is AccountType.TAXABLE)
    if not held:
        return
    account, symbol = data.draw(st.sampled_from(held))
    to = "t2" if account == "t1" else "t1"

    def parcels(where: str) -> list[tuple[object, ...]]:
        return sorted(
            (p.lot_id, p.quantity, p.acquired, p.holding_period_start, p.cost, p.adjusted_basis)
            for p in ledger.parcels(where, symbol)
        )

    leaving, staying = parcels(account), parcels(to)
    last = max(t.trade_date for t in history.trades) + timedelta(days=1)
    ledger.apply(Transfer(10_000, last, account, symbol, ledger.position(account, symbol), to))
    assert parcels(account) == []
    assert parcels(to) == sorted(leaving + staying)


@PROPERTY
@given(histories(fees=True), st.data())
def test_a_transfer_out_of_the_ledger_realises_nothing_and_keeps_what_stays(
    history: History, data: st.DataObject
) -> None:
    """Whatever the history, a transfer out adds no sale row, takes exactly its quantity
    from its position only, and leaves every share that stays at the basis per share it had."""
    ledger = _ledger(history)
    held = sorted(ledger.positions().items())
    if not held:
        return
    (account, symbol), qty = data.draw(st.sampled_from(held))
    moving = Decimal(data.draw(st.integers(1, int(qty))))
    per_share = {id(p): p.adjusted_basis / p.quantity for p in ledger.parcels(account, symbol)}
    before, sales = ledger.positions(), ledger.sales
    last = max(t.trade_date for t in history.trades)
    ledger.apply(Transfer(10_000, last, account, symbol, moving))
    after = ledger.positions()
    assert ledger.sales == sales
    assert after.get((account, symbol), ZERO) == before[(account, symbol)] - moving
    assert {k: v for k, v in after.items() if k != (account, symbol)} == {
        k: v for k, v in before.items() if k != (account, symbol)
    }
    for p in ledger.parcels(account, symbol):
        assert abs(p.adjusted_basis / p.quantity - per_share[id(p)]) < Decimal("0.01")
