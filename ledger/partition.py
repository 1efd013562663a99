"""Split a history into parts that ledgers can replay on their own, with the same result.

The wash-sale rule links only substantially identical securities (IRC §1091(a)), and lot relief
only the lots of one position, so a history falls apart into its identical groups: a ledger
that replays the events of some groups yields, for those groups, exactly the lots, sale rows
and totals a ledger of the whole history yields. What ties groups together is lot ids, which
are global: a purchase may not reuse an id another group used, a generated id steps around
ids already taken, and a sale may name any lot. A history is therefore only split where its lot
ids cannot interact (`lot_ids_independent`); anything else, including every history the ledger
refuses, is left whole.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence

from ledger.engine import default_lot_id
from ledger.identity import Identity
from ledger.model import Action, Conversion, LedgerEvent, SpinOff, Trade, Transfer

SALE_WEIGHT = 2  # see `assign_parts`


def split_history(
    events: Sequence[LedgerEvent], identity: Identity, parts: int
) -> list[list[LedgerEvent]] | None:
    """Return `events` split into at most `parts` independent parts, in their given order.

    Return None when the history cannot be split exactly, has only one group, has a
    reorganization (`Conversion`, `SpinOff`: it ties two groups) or a transfer between accounts
    (the lot ids it makes step around every id taken), or has two events with the same `seq`
    (the generated lot ids that tell purchases apart include it).
    """
    if any(
        isinstance(e, Conversion | SpinOff) or (isinstance(e, Transfer) and e.to_account)
        for e in events
    ):
        return None  # a reorganization carries lots from one group to another
    key = identity.key
    groups = [key(e.symbol) for e in events]
    weights: Counter[str] = Counter()
    for e, group in zip(events, groups, strict=True):
        weights[group] += SALE_WEIGHT if isinstance(e, Trade) and e.action is Action.SELL else 1
    part_of = assign_parts(weights, parts)
    if part_of is None or len({e.seq for e in events}) != len(events):
        return None
    split: list[list[LedgerEvent]] = [[] for _ in range(max(part_of.values()) + 1)]
    for e, group in zip(events, groups, strict=True):
        split[part_of[group]].append(e)
    named = [named_lots(part) for part in split]
    for i, part in enumerate(split):
        elsewhere = set().union(*(ids for j, ids in enumerate(named) if j != i))
        if not lot_ids_independent(part, elsewhere):
            return None
    return split


def assign_parts(sizes: Mapping[str, int], parts: int) -> dict[str, int] | None:
    """Return the part of each group: the lightest part so far, largest group first.

    `sizes` weighs each group's events, a sale `SALE_WEIGHT` times a purchase: sales make the
    rows, and rows are most of the work.

    None when there are fewer than two groups or parts (nothing to split).
    """
    if parts < 2 or len(sizes) < 2:
        return None
    loads = [0] * min(parts, len(sizes))
    part_of: dict[str, int] = {}
    for group, size in sorted(sizes.items(), key=lambda item: (-item[1], item[0])):
        lightest = loads.index(min(loads))
        part_of[group] = lightest
        loads[lightest] += size
    return part_of


def named_lots(events: Iterable[LedgerEvent]) -> set[str]:
    """Return the lot ids the purchases among `events` name (generated ones left out)."""
    return {
        e.lot_id for e in events if isinstance(e, Trade) and e.action is Action.BUY and e.lot_id
    }


def lot_ids_independent(part: Sequence[LedgerEvent], named_elsewhere: Collection[str]) -> bool:
    """Return whether the lot ids of `part` cannot interact with those of the other parts.

    `named_elsewhere` holds the ids the other parts' purchases name. The ids of this part's
    purchases (named, or the ones the ledger would generate) must be distinct and not named
    elsewhere, and a sale (or transfer) of a named lot must relieve one bought here. Checked for
    every part, this keeps every id of the history distinct, given distinct `seq` values: a
    generated id ends with its purchase's `seq`, so two generated ids never meet.
    """
    bought: set[str] = set()
    for e in part:
        if not isinstance(e, Trade) or e.action is not Action.BUY:
            continue
        lot_id = e.lot_id or default_lot_id(e)
        if lot_id in bought or lot_id in named_elsewhere:
            return False  # the ledger would refuse a reused name or generate another one
        bought.add(lot_id)
    return all(
        e.lot_id in bought
        for e in part
        if (isinstance(e, Transfer) or (isinstance(e, Trade) and e.action is Action.SELL))
        and e.lot_id
    )
