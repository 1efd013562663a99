"""The look-up before placing reads ib_async's trades and fills through an index by ``orderRef``.

adapters/ib/orders.py `RefIndex`: ib_async's wrapper only adds to its ``trades`` and ``fills``
dicts while a connection lasts and starts new dicts when it resets (ib_async wrapper.py
``reset``, ``openOrder``, ``execDetails``); the index follows both, so a look-up never misses an
order (an order placed twice for one intent is what the look-up exists to prevent).
"""

from __future__ import annotations

from adapters.ib.orders import RefIndex


def _index() -> RefIndex[tuple[str, int]]:
    return RefIndex(lambda value: value[0])


def test_values_added_after_a_look_up_are_found_by_the_next() -> None:
    """Orders placed (or reported) since the last look-up are indexed before the next one."""
    trades = {1: ("tlh-a", 1)}
    index = _index()
    assert index.get(trades, "tlh-b") == []

    trades[2] = ("tlh-b", 2)
    trades[3] = ("tlh-a", 3)

    assert index.get(trades, "tlh-b") == [("tlh-b", 2)]
    assert index.get(trades, "tlh-a") == [("tlh-a", 1), ("tlh-a", 3)]


def test_a_new_dict_after_a_reset_is_indexed_from_scratch() -> None:
    """A reconnect's new dicts replace the old ones: nothing of the old is found, all the new is."""
    index = _index()
    old = {1: ("tlh-a", 1), 2: ("tlh-b", 2)}
    assert index.get(old, "tlh-a") == [("tlh-a", 1)]

    new = {7: ("tlh-b", 7)}

    assert index.get(new, "tlh-a") == []
    assert index.get(new, "tlh-b") == [("tlh-b", 7)]
