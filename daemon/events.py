"""Typed, immutable events that adapters produce and the engine consumes.

Quotes carry floats (what the wire gives and what the tick path compares); every decision
recomputes the price as `Decimal` through `Quote.bid_decimal`, whose text is the float's
shortest round-trip representation (the source's decimal digits).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum


def exact(value: float) -> Decimal:
    """Return the Decimal a wire float stands for (its shortest round-trip text)."""
    return Decimal(repr(value))


@dataclass(frozen=True, slots=True)
class Quote:
    """Best bid and offer of one symbol at one instant."""

    symbol: str
    bid: float
    ask: float
    at: datetime
    bid_size: float = 0.0
    ask_size: float = 0.0

    @property
    def bid_decimal(self) -> Decimal:
        """Return the bid as an exact Decimal for decisions."""
        return exact(self.bid)

    @property
    def ask_decimal(self) -> Decimal:
        """Return the ask as an exact Decimal for decisions."""
        return exact(self.ask)


class OrderSide(StrEnum):
    """Side of an order."""

    BUY = "buy"
    SELL = "sell"


class OrderStatus(StrEnum):
    """State of an order at the broker, as the daemon tracks it."""

    NEW = "new"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    UNKNOWN = "unknown"

    @property
    def terminal(self) -> bool:
        """Return whether no further fills can arrive in this state."""
        return self in _TERMINAL


_TERMINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of an order (a partial or the final fill)."""

    client_order_id: str
    execution_id: str
    account: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    price: Decimal
    at: datetime
    fees: Decimal = Decimal(0)
    broker_order_id: str | None = None
    # The order's filled quantity once this execution is counted, as the broker reports it:
    # with the order, the execution's identity (the order manager journals each one once).
    cumulative_quantity: Decimal | None = None


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """A change of an order's state reported by the broker."""

    client_order_id: str
    status: OrderStatus
    at: datetime
    filled_quantity: Decimal = Decimal(0)
    average_price: Decimal | None = None
    broker_order_id: str | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SplitEvent:
    """A stock split effective on `at` (`ratio` new shares per old share)."""

    symbol: str
    ratio: Decimal
    at: datetime


@dataclass(frozen=True, slots=True)
class ClockTick:
    """The clock moved (used by simulated clocks to drive scheduled checks)."""

    at: datetime


@dataclass(frozen=True, slots=True)
class Scheduled:
    """A scheduled daily hook is due (see `daemon.scheduler`)."""

    hook: str
    day: date


Event = Quote | Fill | OrderUpdate | SplitEvent | ClockTick | Scheduled
