"""Import past transactions into the append-only journal: all or nothing, once each.

Every source (TRADES.csv, an IB Flex statement, ...) turns its rows into `ImportRow`s: a
journal entry with a stable source id, where it was read (for errors), and for a sale the lots
the broker says it closed. `plan_import` then decides, without writing, what the journal gains:

* Idempotence: a row whose source id is in the journal already (as an entry's external id, or
  as the base of the ids of the entries it was split into, ``ID#1``, ``ID#2``) adds nothing, so
  importing a file twice, or overlapping statements, adds nothing the second time. A row with
  an alias in the journal (the same execution journaled by the broker's fills) is not imported
  either, nor a fill of one of tlh's own orders (`own_orders`) that the journal holds already
  (the daemon journals them); one it does not hold is imported and counted in its intent.
* Validation: the journal is replayed (skipping entries the ledger rejects, as the daemon
  does) together with the new entries, in the ledger's order; a new entry the ledger would
  reject stops the whole import with an `InputError` naming its file, line and field; so does
  an import that would make an entry of the journal impossible (an older sale that takes the
  shares a journaled sale relieved).
* Closed lots: a sale that names the lots it closed (IB's Flex "Closed Lots") becomes one
  sale per lot, each naming the ledger's lot opened at that instant (specific identification),
  so the ledger relieves exactly the lots the broker did.

`write_import` appends the planned entries in one transaction; the caller holds the journal
lock (`adapters.storage.journal_lock`), so the journal cannot change between plan and write.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal

from adapters.importers import InputError
from adapters.storage.records import (
    Account,
    JournalEntry,
    JournalKind,
    JournalRecord,
    counted_fill,
)
from adapters.storage.repository import Repository
from ledger.engine import Ledger, event_order
from ledger.errors import LedgerError
from ledger.model import ZERO, Action, LedgerEvent, Split

CENT = Decimal("0.01")
LEG_SEPARATOR = "#"  # external ids of the sales one sale was split into: ID#1, ID#2, ...


@dataclass(frozen=True, slots=True)
class Where:
    """Where a row was read: file, line and (for XML) the element, e.g. ``Trade[3]``;
    `separator` joins the element and a field (``Trade[3]/@quantity``, ``BUYSTOCK[1]/UNITS``)."""

    path: str
    line: int | None
    element: str | None = None
    separator: str = "/@"

    def error(self, field: str | None, message: str) -> InputError:
        """Return the `InputError` for `field` of this row (an XML attribute or a column)."""
        if self.element is None:
            return InputError(self.path, self.line, field, message)
        name = self.element if field is None else f"{self.element}{self.separator}{field}"
        return InputError(self.path, self.line, name, message)


@dataclass(frozen=True, slots=True)
class ClosedLot:
    """A lot a sale closed, as the broker reports it: when it was opened, shares, cost."""

    opened_at: datetime
    quantity: Decimal
    cost: Decimal | None
    where: Where


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One transaction to import.

    `entry.external_id` is the row's stable source id. `aliases` are external ids under
    which the same transaction may already be journaled (a broker execution id);
    `order_ref` the client order id the broker reported with it (an intent of tlh's own
    when it is one). `closes` lists the lots a sale closed, when the source says.
    """

    entry: JournalEntry
    where: Where
    aliases: tuple[str, ...] = ()
    order_ref: str | None = None
    closes: tuple[ClosedLot, ...] = ()

    @property
    def source_id(self) -> str:
        """Return the row's source id."""
        assert self.entry.external_id is not None
        return self.entry.external_id


@dataclass(frozen=True, slots=True)
class ImportPlan:
    """What an import adds: `entries` in append order, and what it leaves out and why."""

    entries: list[JournalEntry]
    after_seq: int  # the journal's last seq when planned
    known: int = 0  # rows already in the journal
    own_orders: int = 0  # fills of tlh's own orders the journal holds (the daemon's)
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> rows, from the source
    # intent id -> (what the journal held of its order when planned, its entries in `entries`)
    counted: dict[str, tuple[Decimal, list[JournalEntry]]] = field(default_factory=dict)


class JournalChangedError(RuntimeError):
    """The journal changed between planning and writing (another writer ignored the lock)."""


def plan_import(
    records: Sequence[JournalRecord],
    ledger: Ledger,
    rows: Iterable[ImportRow],
    *,
    own_orders: Mapping[str, Decimal] | None = None,
    skipped: Counter[str] | None = None,
) -> ImportPlan:
    """Return the entries `rows` add to the journal `records`; raise `InputError` for a row
    the ledger would reject (nothing is written either way).

    `ledger` is empty and configured as the daemon's (accounts, conventions); when there is
    anything to import, it ends up holding the replay of the journal with the new entries.
    `own_orders` maps the `order_ref`s that name intents of tlh's own to the quantity the
    journal holds of each (the intent's ``filled_quantity``): their rows, in execution order,
    are left out up to that quantity (the daemon journaled them, under other ids) and the rest
    is imported, counted in `ImportPlan.counted` for `write_import` to add to the intent.
    """
    own_orders = own_orders or {}
    after_seq = max((r.seq for r in records), default=0)
    known_ids = {r.external_id for r in records if r.external_id}
    known_bases = {i.partition(LEG_SEPARATOR)[0] for i in known_ids}
    splits = [r for r in records if r.kind is JournalKind.SPLIT]
    unique: dict[str, ImportRow] = {}
    for row in rows:  # the same transaction twice in the input: overlapping statements
        unique.setdefault(row.source_id, row)
    rest = _beyond_journaled(list(unique.values()), own_orders)
    fresh: list[ImportRow] = []
    known = own = 0
    for row in unique.values():
        if (
            row.source_id in known_bases
            or any(a in known_ids for a in row.aliases)
            or _split_known(row.entry, splits)
        ):
            known += 1
        elif row.order_ref in own_orders and row.source_id not in rest:
            own += 1
        else:
            fresh.append(rest.get(row.source_id, row))
    existing = [r.to_event() for r in records]
    if not fresh:
        return ImportPlan([], after_seq, known, own, skipped or Counter())
    _, rejected_before = _replay_with(ledger.empty_copy(), existing, [], after_seq)
    entries, rejected = _replay_with(ledger, existing, fresh, after_seq)
    broken = [item for item in rejected.items() if item[0] not in rejected_before]
    if broken:
        seq, error = broken[0]
        raise InputError(
            fresh[0].where.path,
            None,
            None,
            f"importing this would make journal entry {seq} impossible ({error}); nothing imported",
        )
    refs = {row.source_id: row.order_ref for row in fresh if row.order_ref in own_orders}
    counted: dict[str, tuple[Decimal, list[JournalEntry]]] = {}
    for entry in entries:
        ref = refs.get((entry.external_id or "").partition(LEG_SEPARATOR)[0])
        if ref is not None:
            counted.setdefault(ref, (own_orders[ref], []))[1].append(entry)
    return ImportPlan(entries, after_seq, known, own, skipped or Counter(), counted)


def _beyond_journaled(
    rows: Sequence[ImportRow], own_orders: Mapping[str, Decimal]
) -> dict[str, ImportRow]:
    """Return, by source id, the rows of tlh's own orders that lie beyond what the journal
    holds of their order, each cut to that part (a row it holds in part keeps the rest).

    The daemon journals an order's fills in execution order up to its cumulative quantity
    (`daemon.orders.new_fill_entry`), so the journal's quantity covers the earliest rows.
    """
    rest: dict[str, ImportRow] = {}
    for ref, journaled in own_orders.items():
        mine = sorted(
            (r for r in rows if r.order_ref == ref), key=lambda r: _when(r.entry.to_event(0))
        )
        done = ZERO
        for row in mine:
            entry = row.entry
            assert entry.quantity is not None
            assert entry.fees is not None
            covered = min(max(journaled - done, ZERO), entry.quantity)
            done += entry.quantity
            if covered == entry.quantity:
                continue
            if covered > ZERO:
                left = entry.quantity - covered
                fees = (entry.fees * left / entry.quantity).quantize(CENT)
                row = replace(row, entry=replace(entry, quantity=left, fees=fees), closes=())
            rest[row.source_id] = row
    return rest


async def write_import(
    repo: Repository, plan: ImportPlan, account: Account | None = None
) -> list[int]:
    """Append `plan.entries` (and store `account`) in one transaction; return the new seqs.

    Raise `JournalChangedError`, writing nothing, when the journal is not as planned.
    """
    async with repo.transaction() as tx:
        if await tx.load_journal(after_seq=plan.after_seq):
            raise JournalChangedError("the journal changed while the import was being checked")
        seqs = await tx.append_journal(plan.entries)
        if len(seqs) != len(plan.entries):
            raise JournalChangedError("some entries were journaled meanwhile")
        for intent_id, (journaled, entries) in plan.counted.items():
            # What the journal holds of the order moves with the journal (as `on_fill` keeps
            # it), so the daemon takes these executions for repeats when they reach it.
            intent = await tx.get_intent(intent_id)
            if intent is None or intent.filled_quantity != journaled:
                raise JournalChangedError(f"intent {intent_id} changed while it was imported")
            for entry in entries:
                intent = await tx.update_intent(intent_id, **counted_fill(intent, entry))
        if account is not None:
            await tx.upsert_account(account)
    return seqs


def _split_known(entry: JournalEntry, splits: Sequence[JournalRecord]) -> bool:
    """Return whether a split `entry` is journaled already (from another source, dated a few
    days apart: the broker's ex-date and its booking date; `ledger.model.Split.same_as`)."""
    if entry.kind is not JournalKind.SPLIT:
        return False
    split = entry.to_event(0)
    assert isinstance(split, Split)
    return any(isinstance(e := s.to_event(), Split) and split.same_as(e) for s in splits)


def _replay_with(
    ledger: Ledger, existing: list[LedgerEvent], rows: list[ImportRow], after_seq: int
) -> tuple[list[JournalEntry], dict[int, str]]:
    """Replay `existing` and the new `rows` into `ledger` in the ledger's order; return the
    new rows' entries, in the order (and so with the seqs) they must be appended, and the
    journal entries the ledger rejected (skipped, as on the daemon's replay) by seq."""
    existing = sorted(existing, key=event_order)
    numbered = sorted(enumerate(rows), key=lambda ir: (*_when(ir[1].entry.to_event(0)), ir[0]))
    merged: Iterator[tuple[tuple[date, datetime, int, int], LedgerEvent | ImportRow]] = heapq.merge(
        (((*_when(e), 0, e.seq), e) for e in existing),
        (((*_when(row.entry.to_event(0)), 1, i), row) for i, (_n, row) in enumerate(numbered)),
        key=lambda pair: pair[0],
    )
    entries: list[JournalEntry] = []
    rejected: dict[int, str] = {}
    next_seq = after_seq + 1
    for _, item in merged:
        if not isinstance(item, ImportRow):
            refusal = _apply(ledger, item)
            if refusal is not None:
                rejected[item.seq] = str(refusal)
            continue
        for entry in _legs(ledger, item):
            error = _apply(ledger, entry.to_event(next_seq))
            if error is not None:
                # The ledger names the field at fault; a refused sale is about its quantity.
                raise item.where.error(error.field or "quantity", str(error))
            entries.append(entry)
            next_seq += 1
    return entries, rejected


def _when(event: LedgerEvent) -> tuple[date, datetime]:
    """Return the date and instant the ledger orders `event` by (before its seq)."""
    day, instant, _seq = event_order(event)
    return day, instant


def _apply(ledger: Ledger, event: LedgerEvent) -> LedgerError | None:
    """Apply `event` unless the ledger refuses it; return the refusal (None: applied)."""
    refusal = ledger.refusal(event)
    if refusal is None:
        try:
            ledger.apply(event)
        except LedgerError as exc:
            return exc
    return refusal


def _legs(ledger: Ledger, row: ImportRow) -> list[JournalEntry]:
    """Return the entries of `row`: itself, or for a sale naming its closed lots, one sale
    per ledger lot they identify (ids ``ID#1``, ``ID#2`` ...; fees shared by quantity)."""
    entry = row.entry
    if not row.closes or entry.action is not Action.SELL:
        return [entry]
    assert entry.account is not None
    assert entry.quantity is not None
    assert entry.fees is not None
    total = sum((c.quantity for c in row.closes), ZERO)
    if total != entry.quantity:
        raise row.where.error(
            "quantity",
            f"the sale is {entry.quantity} shares but the lots it closes add up to {total}",
        )
    held = _lots_held(ledger, entry.account, entry.symbol)
    taken: dict[str, Decimal] = {}
    for closed in row.closes:
        lot_id = _identify(held, taken, closed, entry.account, entry.symbol)
        taken[lot_id] = taken.get(lot_id, ZERO) + closed.quantity
    if len(taken) == 1:
        return [replace(entry, lot_id=next(iter(taken)))]
    legs: list[JournalEntry] = []
    fees_left = entry.fees
    for n, (lot_id, quantity) in enumerate(taken.items(), start=1):
        last = n == len(taken)
        fees = fees_left if last else (entry.fees * quantity / entry.quantity).quantize(CENT)
        fees_left -= fees
        legs.append(
            replace(
                entry,
                quantity=quantity,
                fees=fees,
                lot_id=lot_id,
                external_id=f"{row.source_id}{LEG_SEPARATOR}{n}",
            )
        )
    return legs


@dataclass(slots=True)
class _HeldLot:
    lot_id: str
    opened_at: datetime
    opened_on: date
    quantity: Decimal
    cost: Decimal


def _lots_held(ledger: Ledger, account: str, symbol: str) -> list[_HeldLot]:
    """Return the open lots of a position (their parcels summed), oldest first."""
    lots: dict[str, _HeldLot] = {}
    for p in ledger.parcels(account, symbol):
        lot = lots.get(p.lot_id)
        if lot is None:
            lots[p.lot_id] = _HeldLot(p.lot_id, p.acquired_at, p.acquired, p.quantity, p.cost)
        else:
            lot.quantity += p.quantity
            lot.cost += p.cost
    return list(lots.values())


def _identify(
    held: list[_HeldLot], taken: dict[str, Decimal], closed: ClosedLot, account: str, symbol: str
) -> str:
    """Return the id of the held lot `closed` names: opened at that instant (else on that
    day), with the shares left, the nearest cost per share first."""

    def room(lot: _HeldLot) -> bool:
        return lot.quantity - taken.get(lot.lot_id, ZERO) >= closed.quantity

    exact = [lot for lot in held if lot.opened_at == closed.opened_at and room(lot)]
    same_day = [lot for lot in held if lot.opened_on == closed.opened_at.date() and room(lot)]
    candidates = exact or same_day
    if not candidates:
        raise closed.where.error(
            "openDateTime",
            f"closes {closed.quantity} {symbol} opened {closed.opened_at.isoformat()}, but "
            f"account {account!r} holds no such lot then; import the history of its purchase "
            "first",
        )
    if closed.cost is None or len(candidates) == 1:
        return candidates[0].lot_id
    per_share = closed.cost / closed.quantity
    return min(candidates, key=lambda lot: abs(lot.cost / lot.quantity - per_share)).lot_id


def describe(entry: JournalEntry) -> tuple[str, str, str, str, str, str, str, str]:
    """Return the columns a dry run shows for `entry`: date, action, symbol, quantity, price,
    fees, lot, source id."""
    if entry.kind is JournalKind.SPLIT:
        return (
            entry.trade_date.isoformat(),
            "SPLIT",
            entry.symbol,
            f"x{entry.ratio}",
            "",
            "",
            "",
            entry.external_id or "",
        )
    if entry.kind is JournalKind.TRANSFER:
        where = f"to {entry.to_account}" if entry.to_account else "out"
        return (
            entry.trade_date.isoformat(),
            f"TRANSFER {where}",
            entry.symbol,
            str(entry.quantity),
            "",
            "",
            entry.lot_id or "",
            entry.external_id or "",
        )
    return (
        entry.trade_date.isoformat(),
        str(entry.action),
        entry.symbol,
        str(entry.quantity),
        str(entry.price),
        str(entry.fees),
        entry.lot_id or "",
        entry.external_id or "",
    )
