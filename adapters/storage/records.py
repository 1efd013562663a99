"""Plain records exchanged with the repository: frozen dataclasses, `Decimal` fields, UTC instants.

Nothing here touches SQLAlchemy; the repository converts rows to and from these records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from ledger.conventions import LotMethod
from ledger.model import (
    ZERO,
    AccountType,
    Action,
    Conversion,
    LedgerEvent,
    SpinOff,
    Split,
    Trade,
    Transfer,
)


class JournalKind(StrEnum):
    """What a journal entry records."""

    TRADE = "trade"  # a fill seen live (broker stream, simulator)
    SPLIT = "split"  # a stock split or reverse split
    IMPORT = "import"  # a trade row imported from a history file or a broker's past activity
    CONVERSION = (
        "conversion"  # a symbol change or stock-for-stock merger (`ledger.model.Conversion`)
    )
    SPIN_OFF = "spin_off"  # shares distributed in a spin-off (`ledger.model.SpinOff`)
    TRANSFER = "transfer"  # shares moved out of an account, no sale (`ledger.model.Transfer`)


TRADE_KINDS = frozenset({JournalKind.TRADE, JournalKind.IMPORT})
"""Kinds whose entries are trades (account, action, quantity, price and fees)."""


# Every method the ledger models (`ledger.conventions.LotMethod`), plus lots named per sale.
LOT_METHODS = frozenset({m.value for m in LotMethod} | {"specific"})
"""Lot-relief methods an account may use."""


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One event to append to the journal (the source of truth the ledger is rebuilt from).

    Trades and imports need `account`, `action`, `quantity` and `price`; splits need `ratio` and
    have no account, action, quantity, price or fees; a conversion needs `account`, `ratio` and
    `new_symbol`; a spin-off `account`, `new_symbol`, `quantity` (the new shares) and
    `basis_fraction`; a transfer `account` and `quantity`, and may name `to_account` and
    `lot_id` (`_SHAPES`, `_MAY`). `external_id` is the dedupe key (e.g. a broker execution id):
    appending an entry whose `external_id` is already stored is a no-op. Build entries with
    `trade`, `split` or `from_event`.
    """

    kind: JournalKind
    symbol: str
    trade_date: date
    source: str
    account: str | None = None
    action: Action | None = None
    quantity: Decimal | None = None
    price: Decimal | None = None
    fees: Decimal | None = None
    lot_id: str | None = None
    occurred_at: datetime | None = None
    ratio: Decimal | None = None
    external_id: str | None = None
    new_symbol: str | None = None
    basis_fraction: Decimal | None = None
    to_account: str | None = None

    def __post_init__(self) -> None:
        if self.occurred_at is not None and self.occurred_at.utcoffset() is None:
            raise ValueError("occurred_at must be tz-aware")
        if self.kind is JournalKind.SPLIT:
            if self.ratio is None:
                raise ValueError("a split entry needs a ratio")
            trade_fields = (self.account, self.action, self.quantity, self.price, self.fees)
            if any(f is not None for f in trade_fields) or self._reorganizes or self.to_account:
                raise ValueError("a split entry has no account, action, quantity, price or fees")
        elif self.kind in TRADE_KINDS:
            needed = (self.account, self.action, self.quantity, self.price, self.fees)
            if (
                any(f is None for f in needed)
                or self.ratio is not None
                or self._reorganizes
                or self.to_account is not None
            ):
                raise ValueError(
                    f"a {self.kind} entry needs account, action, quantity, price and fees, "
                    "and no ratio"
                )
        else:
            needed_names, may = _SHAPES[self.kind], _MAY.get(self.kind, ())
            for name in _OPTIONAL_FIELDS:
                if name in may:
                    continue
                if (getattr(self, name) is not None) != (name in needed_names):
                    also = f" (and may have {', '.join(may)})" if may else ""
                    raise ValueError(
                        f"a {self.kind} entry needs {', '.join(needed_names)}{also} "
                        "and nothing else"
                    )

    @property
    def _reorganizes(self) -> bool:
        return self.new_symbol is not None or self.basis_fraction is not None

    @classmethod
    def trade(
        cls,
        *,
        account: str,
        action: Action,
        symbol: str,
        quantity: Decimal,
        price: Decimal,
        trade_date: date,
        source: str,
        fees: Decimal = ZERO,
        lot_id: str | None = None,
        occurred_at: datetime | None = None,
        external_id: str | None = None,
        kind: JournalKind = JournalKind.TRADE,
    ) -> JournalEntry:
        """Return a trade entry (`kind` TRADE for a fill, IMPORT for an imported row)."""
        return cls(
            kind=kind,
            symbol=symbol,
            trade_date=trade_date,
            source=source,
            account=account,
            action=action,
            quantity=quantity,
            price=price,
            fees=fees,
            lot_id=lot_id,
            occurred_at=occurred_at,
            external_id=external_id,
        )

    @classmethod
    def split(
        cls,
        *,
        symbol: str,
        ratio: Decimal,
        trade_date: date,
        source: str,
        occurred_at: datetime | None = None,
        external_id: str | None = None,
    ) -> JournalEntry:
        """Return a split entry: every lot of `symbol` gets `ratio` times the shares."""
        return cls(
            kind=JournalKind.SPLIT,
            symbol=symbol,
            trade_date=trade_date,
            source=source,
            ratio=ratio,
            occurred_at=occurred_at,
            external_id=external_id,
        )

    def to_event(self, seq: int) -> LedgerEvent:
        """Return the ledger event this entry is once journaled as `seq`."""
        return _to_event(self, seq)

    @classmethod
    def from_event(
        cls,
        event: LedgerEvent,
        *,
        kind: JournalKind = JournalKind.TRADE,
        external_id: str | None = None,
    ) -> JournalEntry:
        """Return the entry that records a ledger event (its `seq` is not kept)."""
        if isinstance(event, Transfer):
            return cls(
                kind=JournalKind.TRANSFER,
                symbol=event.symbol,
                trade_date=event.trade_date,
                source=event.source,
                account=event.account,
                quantity=event.quantity,
                to_account=event.to_account,
                lot_id=event.lot_id,
                occurred_at=event.at,
                external_id=external_id,
            )
        if isinstance(event, Conversion):
            return cls(
                kind=JournalKind.CONVERSION,
                symbol=event.symbol,
                trade_date=event.trade_date,
                source=event.source,
                account=event.account,
                ratio=event.ratio,
                new_symbol=event.new_symbol,
                occurred_at=event.at,
                external_id=external_id,
            )
        if isinstance(event, SpinOff):
            return cls(
                kind=JournalKind.SPIN_OFF,
                symbol=event.symbol,
                trade_date=event.trade_date,
                source=event.source,
                account=event.account,
                quantity=event.quantity,
                new_symbol=event.new_symbol,
                basis_fraction=event.basis_fraction,
                occurred_at=event.at,
                external_id=external_id,
            )
        if isinstance(event, Split):
            return cls.split(
                symbol=event.symbol,
                ratio=event.ratio,
                trade_date=event.trade_date,
                source=event.source,
                occurred_at=event.at,
                external_id=external_id,
            )
        return cls.trade(
            account=event.account,
            action=event.action,
            symbol=event.symbol,
            quantity=event.quantity,
            price=event.price,
            fees=event.fees,
            trade_date=event.trade_date,
            source=event.source,
            lot_id=event.lot_id,
            occurred_at=event.at,
            external_id=external_id,
            kind=kind,
        )


@dataclass(frozen=True, slots=True)
class JournalRecord:
    """A stored journal entry: the entry's fields plus its `seq` (replay order) and `recorded_at`.

    The field order matches the column order `load_journal` selects.
    """

    seq: int
    kind: JournalKind
    account: str | None
    action: Action | None
    symbol: str
    quantity: Decimal | None
    price: Decimal | None
    fees: Decimal | None
    lot_id: str | None
    trade_date: date
    occurred_at: datetime | None
    ratio: Decimal | None
    source: str
    external_id: str | None
    recorded_at: datetime
    new_symbol: str | None = None
    basis_fraction: Decimal | None = None
    to_account: str | None = None

    def to_event(self) -> LedgerEvent:
        """Return the ledger event this record replays as (its `seq` is the journal's)."""
        return _to_event(self, self.seq)


_OPTIONAL_FIELDS = (
    "account",
    "action",
    "quantity",
    "price",
    "fees",
    "ratio",
    "new_symbol",
    "basis_fraction",
    "to_account",
)
_SHAPES: dict[JournalKind, tuple[str, ...]] = {
    JournalKind.CONVERSION: ("account", "ratio", "new_symbol"),
    JournalKind.SPIN_OFF: ("account", "quantity", "new_symbol", "basis_fraction"),
    JournalKind.TRANSFER: ("account", "quantity"),
}
_MAY: dict[JournalKind, tuple[str, ...]] = {JournalKind.TRANSFER: ("to_account",)}
"""Fields an entry of a kind may leave empty or fill (`lot_id` any entry may have)."""


def _to_event(stored: JournalEntry | JournalRecord, seq: int) -> LedgerEvent:
    """Return the ledger event `stored` (an entry or a record of one) is, numbered `seq`."""
    if stored.kind is JournalKind.TRANSFER:
        assert stored.account is not None
        assert stored.quantity is not None
        return Transfer(
            seq=seq,
            trade_date=stored.trade_date,
            account=stored.account,
            symbol=stored.symbol,
            quantity=stored.quantity,
            to_account=stored.to_account,
            lot_id=stored.lot_id,
            at=stored.occurred_at,
            source=stored.source,
        )
    if stored.kind is JournalKind.CONVERSION:
        assert stored.account is not None
        assert stored.ratio is not None
        assert stored.new_symbol is not None
        return Conversion(
            seq=seq,
            trade_date=stored.trade_date,
            account=stored.account,
            symbol=stored.symbol,
            new_symbol=stored.new_symbol,
            ratio=stored.ratio,
            at=stored.occurred_at,
            source=stored.source,
        )
    if stored.kind is JournalKind.SPIN_OFF:
        assert stored.account is not None
        assert stored.quantity is not None
        assert stored.new_symbol is not None
        assert stored.basis_fraction is not None
        return SpinOff(
            seq=seq,
            trade_date=stored.trade_date,
            account=stored.account,
            symbol=stored.symbol,
            new_symbol=stored.new_symbol,
            quantity=stored.quantity,
            basis_fraction=stored.basis_fraction,
            at=stored.occurred_at,
            source=stored.source,
        )
    if stored.kind is JournalKind.SPLIT:
        assert stored.ratio is not None
        return Split(
            seq=seq,
            trade_date=stored.trade_date,
            symbol=stored.symbol,
            ratio=stored.ratio,
            at=stored.occurred_at,
            source=stored.source,
        )
    # Guaranteed for trades and imports (`JournalEntry.__post_init__`, the journal's CHECK).
    assert stored.account is not None
    assert stored.action is not None
    assert stored.quantity is not None
    assert stored.price is not None
    assert stored.fees is not None
    return Trade(
        seq=seq,
        trade_date=stored.trade_date,
        account=stored.account,
        action=stored.action,
        symbol=stored.symbol,
        quantity=stored.quantity,
        price=stored.price,
        fees=stored.fees,
        lot_id=stored.lot_id,
        at=stored.occurred_at,
        source=stored.source,
    )


@dataclass(frozen=True, slots=True)
class Account:
    """A brokerage account: its tax treatment, broker and lot-relief method."""

    account: str
    type: AccountType
    broker: str
    lot_method: str = "fifo"

    def __post_init__(self) -> None:
        if self.lot_method not in LOT_METHODS:
            raise ValueError(f"lot_method must be one of {sorted(LOT_METHODS)}")


class IntentKind(StrEnum):
    """Why an order is placed."""

    HARVEST_SELL = "harvest_sell"
    REPLACEMENT_BUY = "replacement_buy"
    SWAP_BACK_SELL = "swap_back_sell"
    SWAP_BACK_BUY = "swap_back_buy"
    REBALANCE_SELL = "rebalance_sell"  # a direct index's rebalance, investment or withdrawal
    REBALANCE_BUY = "rebalance_buy"


class IntentStatus(StrEnum):
    """Where an order intent stands.

    `PENDING` is recorded but not yet sent; `SUBMITTED` was sent and its outcome is not known yet
    (a timeout or disconnect leaves an intent here until an update or reconciliation resolves it:
    a reject is never assumed); `DENIED` was refused locally and never sent.
    """

    PENDING = "pending"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    PENDING_CANCEL = "pending_cancel"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"
    DENIED = "denied"

    @property
    def terminal(self) -> bool:
        """Return whether no further broker activity is expected for this status."""
        return self in _TERMINAL


_S = IntentStatus
_TERMINAL = frozenset({_S.FILLED, _S.CANCELED, _S.EXPIRED, _S.REJECTED, _S.DENIED})
_LIVE = frozenset({_S.PARTIALLY_FILLED, _S.FILLED, _S.PENDING_CANCEL, _S.CANCELED, _S.EXPIRED})

TRANSITIONS: dict[IntentStatus, frozenset[IntentStatus]] = {
    _S.PENDING: frozenset({_S.SUBMITTED, _S.DENIED, _S.CANCELED}),
    # The first update after a submit may already be a fill or a cancel.
    _S.SUBMITTED: _LIVE | {_S.ACCEPTED, _S.REJECTED},
    _S.ACCEPTED: _LIVE | {_S.REJECTED},
    _S.PARTIALLY_FILLED: _LIVE,
    # A cancel request can fail (back to ACCEPTED) or lose the race against fills.
    _S.PENDING_CANCEL: _LIVE | {_S.ACCEPTED},
    # Real-world edge: a fill reported after the cancel confirmation.
    _S.CANCELED: frozenset({_S.PARTIALLY_FILLED, _S.FILLED}),
    _S.FILLED: frozenset(),
    _S.EXPIRED: frozenset(),
    _S.REJECTED: frozenset(),
    _S.DENIED: frozenset(),
}
"""Allowed status changes of an intent; staying in the same status is always allowed."""


def transition_allowed(current: IntentStatus, new: IntentStatus) -> bool:
    """Return whether an intent may move from `current` to `new`."""
    return new == current or new in TRANSITIONS[current]


@dataclass(frozen=True, slots=True)
class Intent:
    """An order the daemon means to place (the outbox row); `intent_id` is the client order id.

    `created_at` and `updated_at` are set by the repository when None.
    """

    intent_id: str
    kind: IntentKind
    account: str
    symbol: str
    side: Action
    quantity: Decimal
    status: IntentStatus = IntentStatus.PENDING
    limit_price: Decimal | None = None
    lot_id: str | None = None
    parent_intent_id: str | None = None
    broker_order_id: str | None = None
    filled_quantity: Decimal = ZERO
    filled_notional: Decimal = ZERO
    reason: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None


def counted_fill(intent: Intent, entry: JournalEntry) -> dict[str, Any]:
    """Return the `update_intent` changes that add the journaled fill `entry` to `intent`'s
    filled amounts (written in the journal entry's transaction: the intent's
    ``filled_quantity`` is what the journal holds of its order).

    The notional is net of fees (a sale's proceeds, a purchase's cost); a purchase's lot is
    added to the payload's ``lots``, so a swap back can name exactly the lots it created.
    """
    assert entry.quantity is not None
    assert entry.price is not None
    assert entry.fees is not None
    sign = 1 if entry.action is Action.SELL else -1
    changes: dict[str, Any] = {
        "filled_quantity": intent.filled_quantity + entry.quantity,
        "filled_notional": intent.filled_notional
        + entry.quantity * entry.price
        - sign * entry.fees,
    }
    if entry.action is Action.BUY and entry.lot_id:
        changes["payload"] = {
            **intent.payload,
            "lots": [*intent.payload.get("lots", []), entry.lot_id],
        }
    return changes


INTENT_IDENTITY = ("kind", "account", "symbol", "side", "quantity", "lot_id", "parent_intent_id")
"""Fields fixed at creation: saving an intent again must repeat them exactly."""

INTENT_MUTABLE = frozenset(
    {
        "status",
        "limit_price",
        "broker_order_id",
        "filled_quantity",
        "filled_notional",
        "reason",
        "payload",
    }
)
"""Fields `update_intent` may change."""


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """One order update received from the broker for an intent, stored as received.

    `raw` is the broker's message as text (JSON), kept for audit and reconciliation.
    `event_id` and `recorded_at` are set by the repository.
    """

    intent_id: str
    status: str
    at: datetime
    filled_quantity: Decimal | None = None
    price: Decimal | None = None
    raw: str = ""
    event_id: int | None = None
    recorded_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Halt:
    """A trading halt on `symbol` in `account` (in every account when `account` is None)."""

    halt_id: int
    symbol: str
    account: str | None
    reason: str
    created_at: datetime
    cleared_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StatusReads:
    """What the status snapshot reads from the database at once (`Repository.status_reads`)."""

    journal_entries: int
    journal_sales: list[JournalRecord]  # in seq order
    intents: list[Intent]  # oldest first
    halts: list[Halt]  # the active ones
