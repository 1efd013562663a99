"""`ledger.partition.split_history`: which histories split into independent parts, and how."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from ledger.identity import Identity
from ledger.model import LedgerEvent, Split
from ledger.partition import split_history
from tests.ledger.helpers import buy, sell

IDENTITY = Identity([["SPY", "VOO", "IVV"]])


def symbols(part: list[LedgerEvent]) -> set[str]:
    return {e.symbol for e in part}


def test_substantially_identical_symbols_stay_in_one_part() -> None:
    """IRC §1091(a): a loss on SPY can be washed by VOO, so their events replay together."""
    history = [
        buy("2024-01-02", "SPY", "10", "400", lot="a"),
        buy("2024-01-02", "AAPL", "10", "150", lot="b"),
        buy("2024-01-03", "VOO", "10", "370", lot="c"),
        sell("2024-01-04", "SPY", "10", "390"),
        buy("2024-01-05", "MSFT", "5", "300", lot="d"),
    ]
    parts = split_history(history, IDENTITY, 2)
    assert parts is not None
    assert sorted(map(sorted, map(symbols, parts))) == [["AAPL", "MSFT"], ["SPY", "VOO"]]


def test_each_part_keeps_the_histories_order_and_every_event_lands_once() -> None:
    """A part is a sub-sequence of the history: the ledger orders it the same way."""
    history: list[LedgerEvent] = [
        buy("2024-01-02", "AAA", "1", "10", lot="a"),
        buy("2024-01-02", "BBB", "1", "10", lot="b"),
        Split(99, date(2024, 1, 3), "AAA", Decimal(2)),
        sell("2024-01-04", "BBB", "1", "9"),
        sell("2024-01-05", "AAA", "2", "9"),
    ]
    parts = split_history(history, Identity(), 2)
    assert parts is not None
    assert sorted(id(e) for p in parts for e in p) == sorted(id(e) for e in history)
    for part in parts:
        assert part == [e for e in history if e in part]


def test_groups_are_balanced_by_event_count_largest_first() -> None:
    """Greedy balance: the largest group alone, the next two together."""
    history = [buy("2024-01-02", "AAA", "1", "1", lot=f"a{i}") for i in range(4)]
    history += [buy("2024-01-02", "BBB", "1", "1", lot=f"b{i}") for i in range(2)]
    history += [buy("2024-01-02", "CCC", "1", "1", lot=f"c{i}") for i in range(2)]
    parts = split_history(history, Identity(), 2)
    assert parts is not None
    assert [len(p) for p in parts] == [4, 4]


def test_one_group_or_one_part_is_not_split() -> None:
    """Nothing to gain: the caller replays the history whole."""
    one_group = [buy("2024-01-02", "SPY", "1", "1", lot="a"), buy("2024-01-03", "VOO", "1", "1")]
    assert split_history(one_group, IDENTITY, 2) is None
    two_groups = [buy("2024-01-02", "SPY", "1", "1", lot="a"), buy("2024-01-03", "X", "1", "1")]
    assert split_history(two_groups, IDENTITY, 1) is None


def test_a_sale_of_a_lot_bought_in_another_group_is_not_split() -> None:
    """Lot ids are global: the whole ledger must refuse a sale naming another symbol's lot."""
    history = [
        buy("2024-01-02", "AAA", "1", "10", lot="shared"),
        buy("2024-01-02", "BBB", "1", "10", lot="b"),
        sell("2024-01-03", "BBB", "1", "9", lot="shared"),
    ]
    assert split_history(history, Identity(), 2) is None


def test_a_lot_id_used_twice_is_not_split() -> None:
    """The ledger refuses a reused lot id, across symbols too; each part alone would not."""
    history = [
        buy("2024-01-02", "AAA", "1", "10", lot="same"),
        buy("2024-01-02", "BBB", "1", "10", lot="same"),
    ]
    assert split_history(history, Identity(), 2) is None


def test_a_named_lot_equal_to_a_generated_id_is_not_split() -> None:
    """A purchase without a lot id gets `default_lot_id`; a name equal to it elsewhere would
    make the whole ledger step around it (or refuse it), which a part cannot know."""
    unnamed = buy("2024-01-02", "AAA", "1", "10")
    generated = f"AAA-20240102-{unnamed.seq}"
    history = [unnamed, buy("2024-01-03", "BBB", "1", "10", lot=generated)]
    assert split_history(history, Identity(), 2) is None


def test_sales_of_named_lots_in_their_own_group_split() -> None:
    """Specific identification within a group ties nothing across groups."""
    history = [
        buy("2024-01-02", "AAA", "1", "10", lot="a"),
        buy("2024-01-02", "BBB", "1", "10"),
        sell("2024-01-03", "AAA", "1", "9", lot="a"),
    ]
    assert split_history(history, Identity(), 2) is not None


def test_a_sale_weighs_twice_a_purchase_in_the_balance() -> None:
    """Sales make the rows, most of the work: BBB (a buy and a sell) weighs as much as AAA's
    three buys, so each leads a part."""
    history = [buy("2024-01-02", "AAA", "1", "1", lot=f"a{i}") for i in range(3)]
    history += [buy("2024-01-02", "BBB", "1", "1", lot="b"), sell("2024-01-03", "BBB", "1", "1")]
    history += [buy("2024-01-02", "CCC", "1", "1", lot=f"c{i}") for i in range(2)]
    history += [buy("2024-01-02", "DDD", "1", "1", lot="d")]
    parts = split_history(history, Identity(), 2)
    assert parts is not None
    assert [sorted(symbols(p)) for p in parts] == [["AAA", "CCC"], ["BBB", "DDD"]]
