"""Alpaca's non-trade account activities, normalised for the ledger (`AccountActivity`).

Pure (no I/O): `normalise` reads the items of ``GET /v2/account/activities`` (the legacy
NonTradeActivity object: ``id, activity_type, date, symbol, qty, per_share_amount,
net_amount, description, cusip``, numbers as strings) and says what each does to the lots.

Alpaca books a reorganization as two entries of the same type on the same day: one removing
the old position (``qty`` negative), one adding the new (``qty`` positive) — its docs say so of
``NC``; splits, mergers and other reorganizations follow the same pattern. So, per type and day:

* ``SPLIT`` (or the former code ``SSP``), one removal and one addition of the same symbol: a
  split of ``added / removed`` new shares per old one.
* Either of those (or a conversion below) with one cash entry (``qty`` 0, cash in lieu of a
  fractional share): the fraction is the cash over its ``per_share_amount`` (else ``price``);
  the ratio includes it, and the fraction is sold for the cash at once (a sale on Form 8949).
  Without a price the fraction cannot be told and the symbols halt, naming the cash entry.
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
  ``|net_amount| / qty``): the wash guard must see it. One that brings shares in (``qty`` > 0)
  with no cash paid out (``net_amount`` <= 0) and no such description is a stock dividend,
  which the daemon does not apply: the symbol halts, naming the activity.
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
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from adapters.alpaca.splits import ratio_decimal
from adapters.base import AccountActivity, ActivityKind

NEW_YORK = ZoneInfo("America/New_York")
ZERO = Decimal(0)
ONE = Decimal(1)
SPLITS = frozenset({"SPLIT", "SSP"})
CONVERSIONS = frozenset({"NC", "MA", "REORG"})
SPINS = frozenset({"SPIN", "SSO"})
TRANSFERS = frozenset({"ACATS", "JNLS"})
PAIRED = SPLITS | CONVERSIONS | SPINS
REINVESTED = ("reinvest", "drip")
SPLIT_DENOMINATOR = 1000  # the largest denominator a split's ratio is taken to have


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
    out: list[tuple[tuple[datetime, str, int], AccountActivity]] = []
    paired: dict[tuple[str, date], list[_Item]] = defaultdict(list)
    for item in items:
        if item.type in PAIRED:
            paired[(_family(item.type), item.day)].append(item)
        else:
            out.extend(((a.at, a.activity_id, 0), a) for a in _single(item))
    for (family, _day), group in paired.items():
        found = _paired(family, group, spin_off_basis or {})
        # A group's activities keep their order (a cash-in-lieu sale after its conversion).
        out.extend(((a.at, found[0].activity_id, n), a) for n, a in enumerate(found))
    out.sort(key=lambda pair: pair[0])
    return [a for _key, a in out], bad


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
        reinvested = any(word in text for word in REINVESTED)
        if item.qty > ZERO and item.net <= ZERO and not reinvested:
            # Shares came in, no cash: a stock dividend (IRC §305, §307 basis), not cash.
            return [
                _unknown(
                    item,
                    f"{item.name} brought {item.qty} {item.symbol} in without cash (a stock "
                    "dividend?); the daemon does not apply it",
                )
            ]
        if item.qty > ZERO and reinvested and item.symbol:
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
    cash = [i for i in group if not i.qty and i.net]
    if (
        len(removed) == 1
        and len(added) == 1
        and len(cash) <= 1
        and not removed[0].net
        and not added[0].net
    ):
        return _reorganized(family, removed[0], added[0], cash[0] if cash else None)
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


def _reorganized(
    family: str, old: _Item, new: _Item, in_lieu: _Item | None
) -> list[AccountActivity]:
    """Return the split or conversion of `old` into `new`, and the sale of the fractional
    share that `in_lieu` (cash in lieu, if any) pays for.

    The shares delivered are rounded down; the cash pays for the fraction, sold at once
    (a sale on Form 8949: Rev. Rul. 66-365; IRS Pub. 550, "Fractional shares"). The fraction
    is the cash over its price per new share (``per_share_amount``, else ``price``); without
    one it cannot be told, and every symbol involved halts, naming the cash activity.
    """
    kind = (
        ActivityKind.SPLIT
        if family == "SPLIT" and old.symbol == new.symbol
        else ActivityKind.CONVERSION
    )
    symbol = "" if kind is ActivityKind.SPLIT else new.symbol
    name = f"{old.name} + {new.activity_id}"
    fraction = ZERO
    if in_lieu is not None:
        per_share = _decimal(in_lieu.raw.get("per_share_amount")) or _decimal(
            in_lieu.raw.get("price")
        )
        fraction = in_lieu.net / per_share if per_share > ZERO else ZERO
    ratio = (new.qty + fraction) / -old.qty
    if kind is ActivityKind.SPLIT and fraction:
        # A split's ratio is a small fraction (1 for 3); the calendar's report of it must
        # match this one exactly to be recognised as the same split.
        ratio = ratio_decimal(Fraction(ratio).limit_denominator(SPLIT_DENOMINATOR))
        fraction = -old.qty * ratio - new.qty
    if in_lieu is not None:
        if not ZERO < fraction < ONE:
            problem = (
                f"{in_lieu.name}: cannot tell which fraction of a share of {new.symbol} the cash "
                f"in lieu of {name} pays for (it needs a price per share, per_share_amount, "
                "that makes it less than one share)"
            )
            return [_unknown(i, problem) for i in (old, new) if i.symbol]
        name = f"{name} + {in_lieu.activity_id}"
    out = [
        AccountActivity(
            old.activity_id, name, kind, old.symbol, old.at, new_symbol=symbol, ratio=ratio
        )
    ]
    if in_lieu is not None:
        out.append(
            AccountActivity(
                in_lieu.activity_id,
                in_lieu.name,
                ActivityKind.SALE,
                new.symbol,
                old.at,
                quantity=fraction,
                price=in_lieu.net / fraction,
            )
        )
    return out


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
