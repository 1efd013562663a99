"""Property tests of the ledger over random valid histories.

A history: dates rising over about 200 days (several rows may share a date), four symbols of
which AAA and BBB are declared substantially identical, two taxable accounts and an IRA, a lot
method per account, BUYs of 1-50 shares and SELLs of no more than the account holds, prices in
whole cents from $1.00 to $300.00. Fees are zero where a property needs exact arithmetic and
random cents where it checks conservation.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.conventions import LotMethod
from ledger.engine import Ledger
from ledger.identity import Identity
from ledger.model import AccountType, Action, Parcel, SaleRow, Term, Trade
from ledger.money import cents
from ledger.partition import split_history
from tests.ledger.helpers import total

SYMBOLS = ("AAA", "BBB", "CCC", "DDD")
IDENTICAL = [["AAA", "BBB"]]
IDENTITY = Identity(IDENTICAL)
ACCOUNTS = {"t1": AccountType.TAXABLE, "t2": AccountType.TAXABLE, "ira": AccountType.IRA}
START = date(2024, 1, 1)
LAST_DAY = 200
WINDOW = timedelta(days=30)
ZERO = Decimal(0)

PROPERTY = settings(max_examples=200, deadline=None)


@dataclasses.dataclass(frozen=True)
class History:
    trades: list[Trade]
    methods: dict[str, LotMethod]

    def with_trades(self, trades: Sequence[Trade]) -> History:
        """Return this history with `trades` in source order (seq renumbered to match)."""
        return History([t._replace(seq=i) for i, t in enumerate(trades)], self.methods)


@st.composite
def histories(draw: st.DrawFn, *, fees: bool = False) -> History:
    symbols = SYMBOLS[: draw(st.integers(3, 4))]
    held: dict[tuple[str, str], int] = defaultdict(int)
    trades: list[Trade] = []
    day = 0
    for seq in range(draw(st.integers(1, 40))):
        day = min(LAST_DAY, day + draw(st.integers(0, 12)))
        account = draw(st.sampled_from(sorted(ACCOUNTS)))
        symbol = draw(st.sampled_from(symbols))
        have = held[account, symbol]
        selling = have > 0 and draw(st.booleans())
        qty = draw(st.integers(1, min(50, have) if selling else 50))
        held[account, symbol] += -qty if selling else qty
        trades.append(
            Trade(
                seq=seq,
                trade_date=START + timedelta(days=day),
                account=account,
                action=Action.SELL if selling else Action.BUY,
                symbol=symbol,
                quantity=Decimal(qty),
                price=Decimal(draw(st.integers(100, 30000))) / 100,
                fees=Decimal(draw(st.integers(0, 999))) / 100 if fees else ZERO,
                lot_id=None if selling else f"L{seq}",
            )
        )
    methods = {a: draw(st.sampled_from(list(LotMethod))) for a in sorted(ACCOUNTS)}
    return History(trades, methods)


def replay(history: History) -> Ledger:
    ledger = Ledger(identity=IDENTITY, account_types=ACCOUNTS, lot_methods=history.methods)
    ledger.apply_all(history.trades)
    return ledger


Summary = tuple[object, ...]


def summary(ledger: Ledger) -> Summary:
    """Return the totals and open positions that reordering a history must not change."""
    rows = ledger.sales
    by_term = {term: total([r for r in rows if r.term is term], "gain_loss") for term in Term}
    positions: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [ZERO] * 3)
    for lot in ledger.open_lots():
        p = positions[lot.account, lot.symbol]
        p[0] += lot.quantity
        p[1] += lot.cost_basis
        p[2] += lot.adjusted_basis
    return (
        total(rows, "gain_loss"),
        total(rows, "wash_sale_disallowed"),
        total(rows, "permanently_disallowed"),
        by_term[Term.SHORT],
        by_term[Term.LONG],
        sorted((k, tuple(v)) for k, v in positions.items()),
    )


# -- conservation -----------------------------------------------------------------------------


@PROPERTY
@given(histories(fees=True))
def test_shares_are_conserved_per_account_and_symbol(history: History) -> None:
    """Every share bought is either in a sale row or still open, in its own position."""
    ledger = replay(history)
    bought: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    accounted: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for t in history.trades:
        if t.action is Action.BUY:
            bought[t.account, t.symbol] += t.quantity
    for r in ledger.sales:
        accounted[r.account, r.symbol] += r.quantity
    for lot in ledger.open_lots():
        assert lot.quantity > ZERO
        accounted[lot.account, lot.symbol] += lot.quantity
    assert accounted == bought
    assert all(r.quantity > ZERO for r in ledger.sales)


@PROPERTY
@given(histories(fees=True))
def test_money_is_conserved(history: History) -> None:
    """Σ open cost + Σ sold cost = Σ BUY costs (fees included, each rounded to the cent), and
    Σ proceeds = Σ SELL proceeds net of fees: pro-rata allocation loses no cent."""
    ledger = replay(history)
    bought = sum(
        (cents(t.quantity * t.price + t.fees) for t in history.trades if t.action is Action.BUY),
        ZERO,
    )
    sold = sum(
        (cents(t.quantity * t.price - t.fees) for t in history.trades if t.action is Action.SELL),
        ZERO,
    )
    open_cost = sum((lot.cost_basis for lot in ledger.open_lots()), ZERO)
    assert open_cost + total(ledger.sales, "cost_basis") == bought
    assert total(ledger.sales, "proceeds") == sold


@PROPERTY
@given(histories(fees=True))
def test_disallowed_losses_are_bounded_by_the_loss(history: History) -> None:
    """Per row: 0 <= permanently disallowed <= disallowed <= the row's loss (IRC §1091(a)
    disallows a loss, never more; Rev. Rul. 2008-5's part is a part of it)."""
    for r in replay(history).sales:
        loss = max(ZERO, r.adjusted_basis - r.proceeds)
        assert ZERO <= r.permanently_disallowed <= r.wash_sale_disallowed <= loss


@PROPERTY
@given(histories(fees=True))
def test_basis_increases_equal_the_losses_not_lost_for_good(history: History) -> None:
    """IRC §1091(d) / Rev. Rul. 2008-5: every disallowed loss raises a replacement's basis
    exactly once, except the part washed by an IRA purchase."""
    ledger = replay(history)
    raised = sum((r.adjusted_basis - r.cost_basis for r in ledger.sales), ZERO) + sum(
        (lot.adjusted_basis - lot.cost_basis for lot in ledger.open_lots()), ZERO
    )
    rows = ledger.sales
    assert raised == total(rows, "wash_sale_disallowed") - total(rows, "permanently_disallowed")


@PROPERTY
@given(histories(fees=True))
def test_a_sale_has_one_row_per_lot_holding_period_and_washedness(history: History) -> None:
    """Issue #2: one row per portion of a sale relieving one lot, split further only where part
    is washed (and where the lot's shares carry different holding periods)."""
    ledger = replay(history)
    for rows in ledger.sales_by_sale():
        keys = [(r.lot_id, r.holding_period_start, r.washed) for r in rows]
        assert len(set(keys)) == len(keys)
        assert all(r.quantity > ZERO for r in rows)


@PROPERTY
@given(histories(fees=True))
def test_a_wash_needs_an_identical_purchase_within_30_days(history: History) -> None:
    """IRC §1091(a): a washed row names replacement lots bought, as identical securities, in the
    61-day period around its sale, each once and in order of purchase; IRA replacements make
    the loss permanent; sales inside the IRA are never washed."""
    buys = {t.lot_id: t for t in history.trades if t.action is Action.BUY}
    order = [t.lot_id for t in sorted(buys.values(), key=lambda t: (t.trade_date, t.seq))]
    for r in replay(history).sales:
        if not r.washed:
            assert r.replacement_lot_ids == ()
            continue
        assert r.reportable
        assert r.replacement_lot_ids
        assert list(r.replacement_lot_ids) == [i for i in order if i in r.replacement_lot_ids]
        kinds = set()
        for lot_id in r.replacement_lot_ids:
            b = buys[lot_id]
            assert IDENTITY.identical(b.symbol, r.symbol)
            assert abs(b.trade_date - r.date_sold) <= WINDOW
            kinds.add(ACCOUNTS[b.account].tax_advantaged)
        if kinds == {True}:
            assert r.permanently_disallowed == r.wash_sale_disallowed
        elif kinds == {False}:
            assert r.permanently_disallowed == ZERO
        else:
            assert ZERO < r.permanently_disallowed < r.wash_sale_disallowed


# -- invariance ---------------------------------------------------------------------------


@st.composite
def shuffled_keeping_same_date_order(draw: st.DrawFn, trades: list[Trade]) -> list[Trade]:
    """Shuffle `trades`, then put each date's rows back in their old relative order."""
    out = draw(st.permutations(trades))
    by_date: dict[date, list[Trade]] = defaultdict(list)
    for t in trades:
        by_date[t.trade_date].append(t)
    queues = {d: iter(rows) for d, rows in by_date.items()}
    return [next(queues[t.trade_date]) for t in out]


@PROPERTY
@given(st.data(), histories())
def test_rows_out_of_date_order_give_the_same_result(data: st.DataObject, history: History) -> None:
    """The ledger sorts a history by date, then time, then source order: shuffling the rows
    (same-date rows keeping their order) changes nothing."""
    shuffled = data.draw(shuffled_keeping_same_date_order(history.trades))
    assert summary(replay(history.with_trades(shuffled))) == summary(replay(history))


@PROPERTY
@given(st.data(), histories())
def test_splitting_a_sell_into_two_rows_gives_the_same_result(
    data: st.DataObject, history: History
) -> None:
    """A sale reported as two fills of the same day is the same sale (Reg. §1.1091-1(b)
    orders losses by disposition; splitting one changes no order).

    Only in FIFO and LIFO accounts: under HIFO and the Tax Optimizer methods each fill is
    identified by the adjusted basis (and holding period) when it is made (Reg.
    §1.1012-1(c)), and the first fill's wash can raise a lot's basis or tack its holding
    period, so the second fill legitimately relieves other shares than one sale would (see
    test_hifo_ranks_as_of_the_sale_not_after_the_wash_that_sale_causes).
    """
    sells = [
        i
        for i, t in enumerate(history.trades)
        if t.action is Action.SELL
        and t.quantity >= 2
        and history.methods[t.account] in (LotMethod.FIFO, LotMethod.LIFO)
    ]
    if not sells:
        return
    i = data.draw(st.sampled_from(sells))
    t = history.trades[i]
    first = Decimal(data.draw(st.integers(1, int(t.quantity) - 1)))
    parts = [t._replace(quantity=first), t._replace(quantity=t.quantity - first)]
    split_history = history.with_trades(history.trades[:i] + parts + history.trades[i + 1 :])
    assert summary(replay(split_history)) == summary(replay(history))


@PROPERTY
@given(st.data(), histories())
def test_reordering_same_day_rows_of_unrelated_securities_gives_the_same_result(
    data: st.DataObject, history: History
) -> None:
    """Wash sales and lot relief never cross substantially-identical groups, so the order of
    same-date rows of different groups (AAA/BBB, CCC, DDD) does not matter."""
    trades = history.trades
    day = data.draw(st.sampled_from(sorted({t.trade_date for t in trades})))
    slots = [i for i, t in enumerate(trades) if t.trade_date == day]
    same_day = [trades[i] for i in slots]
    order = data.draw(st.permutations(same_day))
    by_group: dict[str, list[Trade]] = defaultdict(list)
    for t in same_day:
        by_group[IDENTITY.key(t.symbol)].append(t)
    queues = {g: iter(rows) for g, rows in by_group.items()}
    reordered = list(trades)
    for slot, t in zip(slots, order, strict=True):
        reordered[slot] = next(queues[IDENTITY.key(t.symbol)])
    assert summary(replay(history.with_trades(reordered))) == summary(replay(history))


# -- HIFO relief --------------------------------------------------------------------------------


class _ScanningLedger(Ledger):
    """The ledger with HIFO found by scanning every open parcel (the definition), not a heap."""

    def _hifo_best(self, account: str, symbol: str) -> Parcel | None:
        best: Parcel | None = None
        best_key = ZERO
        for p in self.parcels(account, symbol):
            key = self._hifo_key(p)
            if best is None or key > best_key:  # strictly higher: the earliest of equals stays
                best, best_key = p, key
        return best


@PROPERTY
@given(histories(fees=True), st.sampled_from(sorted(ACCOUNTS)))
def test_hifo_relieves_exactly_the_parcels_a_full_scan_picks(
    history: History, hifo_account: str
) -> None:
    """HIFO relief (highest adjusted basis per share first, acquisition order among equals,
    ranked as the parcels stood when the sale was made) keeps a heap per position; every sale
    row and open lot must be what scanning all open parcels gives."""
    methods = {**history.methods, hifo_account: LotMethod.HIFO}
    fast = Ledger(identity=IDENTITY, account_types=ACCOUNTS, lot_methods=methods)
    scan = _ScanningLedger(identity=IDENTITY, account_types=ACCOUNTS, lot_methods=methods)

    fast.apply_all(history.trades)
    scan.apply_all(history.trades)

    assert fast.sales == scan.sales
    assert fast.open_lots() == scan.open_lots()


# -- independence of identical groups ---------------------------------------------------------


@PROPERTY
@given(histories(), st.integers(2, 3))
def test_parts_of_a_split_history_replay_to_the_same_rows_and_lots(
    history: History, parts: int
) -> None:
    """IRC §1091(a) reaches only substantially identical securities: each part of
    `split_history` replayed alone gives exactly the whole history's sale rows (per sale) and
    open lots for its symbols."""
    split = split_history(history.trades, IDENTITY, parts)
    if split is None:
        return
    whole = replay(history)
    expected = dict(zip(sells(history.trades), whole.sales_by_sale(), strict=True))
    got: dict[int, list[SaleRow]] = {}
    lots = []
    for part in split:
        ledger = replay(History(part, history.methods))
        got.update(zip(sells(part), ledger.sales_by_sale(), strict=True))
        lots.extend(ledger.open_lots())
    assert got == expected
    assert sorted(lots, key=lambda lot: (lot.account, lot.symbol)) == whole.open_lots()


def sells(trades: Sequence[Trade]) -> list[int]:
    """Return the seq of each SELL in ledger order (as `Ledger.sales_by_sale` yields them)."""
    ordered = sorted(trades, key=lambda t: (t.trade_date, t.seq))
    return [t.seq for t in ordered if t.action is Action.SELL]
