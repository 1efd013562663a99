"""Alpaca's non-trade account activities, normalised for the ledger (`AccountActivity`).

Pure (no I/O): `normalise` reads the items of ``GET /v2/account/activities`` (the legacy
NonTradeActivity object: ``id, activity_type, date, symbol, qty, per_share_amount,
net_amount, description, cusip``, numbers as strings) and says what each does to the lots.

Alpaca books a reorganization as two entries of the same type on the same day: one removing
the old position (``qty`` negative), one adding the new (``qty`` positive) — its docs say so of
``NC``; splits, mergers and other reorganizations follow the same pattern. So, per type and day:

* ``SPLIT`` (or the former code ``SSP``), one removal and one addition of the same symbol: a
  split of ``added / removed`` new shares per old one.
* ``NC``, ``MA``, ``REORG`` (or a split whose symbol changed), one removal and one addition: a
  conversion of every lot to the new symbol at ``added / removed``.
* ``MA``/``REORG``, a removal only, with cash (``net_amount`` > 0): a cash merger, a sale of the
  removed shares for the cash.
* ``SPIN`` (or ``SSO``): an addition of the new symbol and an entry naming the parent (another
  symbol, same day). The entry carries no basis allocation; the issuer publishes it on Form
  8937, and the daemon will not guess it from prices (each issuer picks its own valuation
  method and day): it comes from ``[alpaca] spin_off_basis`` (new symbol = fraction of the
  parent's basis), else the spin-off halts both symbols until it is set.
* ``DIV*``: cash, logged; one whose description says it was reinvested (``reinvest``/``DRIP``)
  with a share ``qty`` is a purchase of those shares at ``per_share_amount`` (else
  ``|net_amount| / qty``): the wash guard must see it.
* ``ACATS``, ``JNLS``: securities in (``qty`` > 0) need the lot's basis and acquisition date,
  which Alpaca's object carries only when the transfer did (``cost_basis`` total or ``price``
  per share, and ``acquisition_date``); otherwise the symbol halts, telling the user to import
  the lots with ``tlh import``. Securities out (``qty`` < 0) are a transfer out: the shares
  leave the account by its lot method, with no sale (nothing realised, nothing on Form 8949).
* Anything else that names a symbol (or any pairing that does not fit) is UNKNOWN: the symbol
  halts with the activity's type and id in the reason. Cash-only types (``CSD``, ``CSW``,
  ``INT``, fees, ``JNLC``, ``ACATC``…) touch no lots and are left out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from adapters.base import AccountActivity, ActivityKind

NEW_YORK = ZoneInfo("America/New_York")
ZERO = Decimal(0)
SPLITS = frozenset({"SPLIT", "SSP"})
CONVERSIONS = frozenset({"NC", "MA", "REORG"})
SPINS = frozenset({"SPIN", "SSO"})
TRANSFERS = frozenset({"ACATS", "JNLS"})
PAIRED = SPLITS | CONVERSIONS | SPINS
REINVESTED = ("reinvest", "drip")


@dataclass(frozen=True, slots=True)
class _Item:
    activity_id: str
    type: str
    day: date
    at: datetime
    symbol: str
    qty: Decimal
    net: Decimal
    raw: Mapping[str, Any]

    @property
    def name(self) -> str:
        return f"{self.type} {self.activity_id}"


def normalise(
    raw: Iterable[Any], spin_off_basis: Mapping[str, Decimal] | None = None
) -> tuple[list[AccountActivity], list[str]]:
    """Return the activities that touch lots, oldest first, and why any item was unreadable."""
    items: list[_Item] = []
    bad: list[str] = []
    for entry in raw:
        try:
            item = _item(entry)
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            bad.append(f"{type(exc).__name__}: {exc}"[:200])
            continue
        if item is not None:
            items.append(item)
    out: list[AccountActivity] = []
    paired: dict[tuple[str, date], list[_Item]] = defaultdict(list)
    for item in items:
        if item.type in PAIRED:
            paired[(_family(item.type), item.day)].append(item)
        else:
            out.extend(_single(item))
    for (family, _day), group in paired.items():
        out.extend(_paired(family, group, spin_off_basis or {}))
    out.sort(key=lambda a: (a.at, a.activity_id))
    return out, bad


def _item(entry: Any) -> _Item | None:
    if not isinstance(entry, dict):
        raise TypeError(f"expected an object, got {type(entry).__name__}")
    kind = str(entry["activity_type"]).upper()
    if kind == "FILL":
        return None
    symbol = str(entry.get("symbol") or "")
    day = date.fromisoformat(str(entry["date"])[:10])
    return _Item(
        activity_id=str(entry["id"]),
        type=kind,
        day=day,
        # Corporate actions are booked before the open: the day's start in New York orders
        # them before that day's fills.
        at=datetime.combine(day, time(0), tzinfo=NEW_YORK).astimezone(UTC),
        symbol=symbol,
        qty=_decimal(entry.get("qty")),
        net=_decimal(entry.get("net_amount")),
        raw=entry,
    )


def _decimal(value: Any) -> Decimal:
    return ZERO if value in (None, "") else Decimal(str(value))


def _family(kind: str) -> str:
    if kind in SPLITS:
        return "SPLIT"
    if kind in SPINS:
        return "SPIN"
    return "CONVERSION"


def _unknown(item: _Item, problem: str) -> AccountActivity:
    return AccountActivity(
        item.activity_id, item.name, ActivityKind.UNKNOWN, item.symbol, item.at, problem=problem
    )


def _single(item: _Item) -> list[AccountActivity]:
    base = (item.activity_id, item.name)
    if item.type.startswith("DIV"):
        text = str(item.raw.get("description") or "").lower()
        if item.qty > ZERO and any(word in text for word in REINVESTED) and item.symbol:
            per_share = _decimal(item.raw.get("per_share_amount")) or abs(item.net) / item.qty
            return [
                AccountActivity(
                    *base,
                    ActivityKind.PURCHASE,
                    item.symbol,
                    item.at,
                    quantity=item.qty,
                    price=per_share,
                )
            ]
        return [AccountActivity(*base, ActivityKind.DIVIDEND, item.symbol, item.at)]
    if item.type in TRANSFERS and item.symbol:
        return [_transfer(item)]
    if not item.symbol or not item.qty:
        return []  # cash only: no lot changes
    return [_unknown(item, f"activity {item.name} is not one the daemon understands")]


def _transfer(item: _Item) -> AccountActivity:
    if item.qty < ZERO:
        return AccountActivity(
            item.activity_id,
            item.name,
            ActivityKind.TRANSFER_OUT,
            item.symbol,
            item.at,
            quantity=-item.qty,
        )
    total = _decimal(item.raw.get("cost_basis"))
    price = total / item.qty if total else _decimal(item.raw.get("price"))
    acquired = item.raw.get("acquisition_date") or item.raw.get("acquired")
    if not price or not acquired:
        return _unknown(
            item,
            f"{item.name} brought {item.qty} {item.symbol} in without cost basis and "
            "acquisition date: import the lots with `tlh import --account ... --trades FILE.csv`",
        )
    return AccountActivity(
        item.activity_id,
        item.name,
        ActivityKind.TRANSFER_IN,
        item.symbol,
        item.at,
        quantity=item.qty,
        price=price,
        acquired=date.fromisoformat(str(acquired)[:10]),
    )


def _paired(
    family: str, group: list[_Item], spin_off_basis: Mapping[str, Decimal]
) -> list[AccountActivity]:
    if family == "SPIN":
        return _spin(group, spin_off_basis)
    removed = [i for i in group if i.qty < ZERO]
    added = [i for i in group if i.qty > ZERO]
    if len(removed) == 1 and len(added) == 1 and not removed[0].net and not added[0].net:
        old, new = removed[0], added[0]
        ratio = new.qty / -old.qty
        kind = (
            ActivityKind.SPLIT
            if family == "SPLIT" and old.symbol == new.symbol
            else ActivityKind.CONVERSION
        )
        return [
            AccountActivity(
                old.activity_id,
                f"{old.name} + {new.activity_id}",
                kind,
                old.symbol,
                old.at,
                new_symbol="" if kind is ActivityKind.SPLIT else new.symbol,
                ratio=ratio,
            )
        ]
    if family == "CONVERSION" and len(removed) == 1 and not added and removed[0].net > ZERO:
        old = removed[0]
        return [
            AccountActivity(
                old.activity_id,
                old.name,
                ActivityKind.SALE,
                old.symbol,
                old.at,
                quantity=-old.qty,
                price=old.net / -old.qty,
            )
        ]
    names = ", ".join(i.name for i in group)
    return [
        _unknown(i, f"cannot tell what {names} did to the lots (removals, additions and cash)")
        for i in group
        if i.symbol
    ]


def _spin(group: list[_Item], spin_off_basis: Mapping[str, Decimal]) -> list[AccountActivity]:
    added = [i for i in group if i.qty > ZERO]
    parents = {i.symbol for i in group if i.qty <= ZERO and i.symbol}
    out: list[AccountActivity] = []
    for child in added:
        candidates = parents - {child.symbol}
        if len(candidates) != 1:
            out.append(_unknown(child, f"{child.name}: the parent of {child.symbol} is not named"))
            continue
        parent = candidates.pop()
        fraction = spin_off_basis.get(child.symbol)
        problem = ""
        if fraction is None:
            problem = (
                f"{child.name}: {child.symbol} spun off {parent}; set the part of {parent}'s "
                f"basis that goes to {child.symbol} (the issuer's Form 8937) as "
                f'[alpaca] spin_off_basis = {{ {child.symbol} = "0.xx" }}'
            )
        out.append(
            AccountActivity(
                child.activity_id,
                child.name,
                ActivityKind.SPIN_OFF,
                parent,
                child.at,
                new_symbol=child.symbol,
                quantity=child.qty,
                basis_fraction=fraction,
                problem=problem,
            )
        )
    return out
