"""The wash guard across a reorganization: the new symbol inherits the old one's loss sales.

IRC §1091(a) disallows a loss when substantially identical stock is acquired within 30 days
after the sale; the shares a symbol change or stock merger gives (`ledger.model.Conversion`)
stand for the old ones (Pub 550: a successor's stock may be substantially identical;
/work/shared/reference/wash-sale-rules.md, "Substantially identical"), so the ledger washes a
loss on the old symbol with a purchase of the new one, and the guard must refuse that purchase
(`WashGuard.buy_blocked`, which reads `Ledger.last_loss_sale`).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.engine import Ledger
from ledger.model import Action, Conversion, Trade
from strategies.wash_guard import WashGuard
from tests.ledger.test_properties import ACCOUNTS, History, histories, replay

PROPERTY = settings(max_examples=300, deadline=None)


def _trade(seq: int, day: str, account: str, action: Action, symbol: str, qty: str) -> Trade:
    return Trade(seq, date.fromisoformat(day), account, action, symbol, Decimal(qty), Decimal(80))


def test_a_loss_on_the_old_symbol_blocks_buying_the_new_one() -> None:
    """The reviewer's scenario: a loss sale of OLD on 3/1, OLD became NEW on 3/5; a buy of NEW
    on 3/10 would wash the 3/1 loss, so the guard refuses it, naming the date."""
    ledger = Ledger()
    ledger.apply(Trade(1, date(2024, 1, 2), "me", Action.BUY, "OLD", Decimal(11), Decimal(100)))
    ledger.apply(_trade(2, "2024-03-01", "me", Action.SELL, "OLD", "10"))
    ledger.apply(Conversion(3, date(2024, 3, 5), "me", "OLD", "NEW", Decimal(1)))

    reason = WashGuard.for_ledger(lambda: ledger).buy_blocked("NEW", date(2024, 3, 10))

    assert reason == "identical security sold at a loss on 2024-03-01 (within 30 days)"


@PROPERTY
@given(histories(), st.data())
def test_a_buy_the_guard_allows_after_a_conversion_washes_nothing(
    history: History, data: st.DataObject
) -> None:
    """Invariant (§1091(a): the daemon never creates a wash sale itself): whatever the history,
    after any held position becomes a new symbol, a purchase of the new symbol that the guard
    allows, in any account, on any day, disallows no loss. (Often a share of the position is
    first sold at a loss, so that a loss is waiting when it is converted.)"""
    ledger = replay(history)
    held = sorted(key for key in ledger.positions())
    if not held:
        return
    account, symbol = data.draw(st.sampled_from(held))
    ratio = Decimal(data.draw(st.sampled_from(["1", "2", "0.5"])))
    last = max(t.trade_date for t in history.trades)
    if ledger.position(account, symbol) > 1 and data.draw(st.booleans()):
        sale = Trade(9_999, last, account, Action.SELL, symbol, Decimal(1), Decimal("0.5"))
        ledger.apply(sale)
    ledger.apply(Conversion(10_000, last, account, symbol, "ZZZ", ratio))
    day = last + timedelta(days=data.draw(st.integers(0, 40)))
    buyer = data.draw(st.sampled_from(sorted(ACCOUNTS)))
    disallowed = sum(row.wash_sale_disallowed for row in ledger.sales)

    if WashGuard.for_ledger(lambda: ledger).buy_blocked("ZZZ", day) is not None:
        return
    ledger.apply(Trade(10_001, day, buyer, Action.BUY, "ZZZ", Decimal(50), Decimal(1)))

    assert sum(row.wash_sale_disallowed for row in ledger.sales) == disallowed
