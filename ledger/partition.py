"""Split a history into parts that ledgers can replay on their own, with the same result.

The wash-sale rule links only substantially identical securities (IRC §1091(a)), and lot relief
only the lots of one position, so a history falls apart into its identical groups: a ledger
that replays the events of some groups yields, for those groups, exactly the lots, sale rows
and totals a ledger of the whole history yields. What ties groups together is lot ids, which
are global: a purchase may not reuse an id another group used, a generated id steps around
ids already taken, and a sale may name any lot. `split_history` therefore only splits a history
whose lot ids cannot interact: every purchase's id (named, or the one the ledger would
generate) distinct from all others, and every sale of a named lot in the part that bought it.
Anything else (including every history the ledger refuses) is left whole.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from ledger.engine import default_lot_id
from ledger.identity import Identity
from ledger.model import Action, LedgerEvent, Split


def split_history(
    events: Sequence[LedgerEvent], identity: Identity, parts: int
) -> list[list[LedgerEvent]] | None:
    """Return `events` split into at most `parts` independent parts, in their given order.

    Groups go to the part with the fewest events so far, largest group first. Return None when
    the history cannot be split exactly (see the module docstring) or has only one group.
    """
    key = identity.key
    sizes = Counter(key(e.symbol) for e in events)
    if parts < 2 or len(sizes) < 2:
        return None
    loads = [0] * min(parts, len(sizes))
    part_of: dict[str, int] = {}
    for group, size in sorted(sizes.items(), key=lambda item: (-item[1], item[0])):
        lightest = loads.index(min(loads))
        part_of[group] = lightest
        loads[lightest] += size
    if not _lot_ids_independent(events, key, part_of):
        return None
    split: list[list[LedgerEvent]] = [[] for _ in loads]
    for e in events:
        split[part_of[key(e.symbol)]].append(e)
    return split


def _lot_ids_independent(
    events: Sequence[LedgerEvent], group_of: Callable[[str], str], part_of: dict[str, int]
) -> bool:
    """Return whether every lot id is unique and only sold from in its own part."""
    bought: dict[str, int] = {}
    for e in events:
        if isinstance(e, Split) or e.action is not Action.BUY:
            continue
        lot_id = e.lot_id or default_lot_id(e)
        if lot_id in bought:
            return False  # the ledger would refuse a reused name or generate another one
        bought[lot_id] = part_of[group_of(e.symbol)]
    for e in events:
        if isinstance(e, Split) or e.action is not Action.SELL or not e.lot_id:
            continue
        if bought.get(e.lot_id) != part_of[group_of(e.symbol)]:
            return False
    return True
