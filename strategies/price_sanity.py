"""Per-symbol quote sanity filter for the harvest engine (pure: no I/O, no clock, no asyncio).

`QuoteSanity.check(symbol, bid, ask, at)` judges one quote and returns a `Verdict`. A quote is
rejected, in this order of precedence, when:

1. ``nan``: bid or ask is NaN or infinite (a float NaN is never compared, let alone decided on);
2. ``negative``: bid or ask is below zero;
3. ``zero``: bid or ask is zero (an empty side of the book);
4. ``crossed``: bid > ask (bid == ask, a locked market, is accepted);
5. ``stale``: the quote is older than `stale_after`, or older than the symbol's last accepted
   quote. Age is measured from ``now`` when the caller passes it; otherwise from the latest
   ``at`` of any valid quote checked so far (the stream's own clock, so a delayed or replayed
   quote is caught without reading a wall clock). A feed that may carry bogus future
   timestamps should pass ``now``;
6. ``outlier``: its mid lies outside ``reference × (1 ± band_pct)``, the reference being the
   median of the symbol's last `window` accepted mids.

Rejections 1-5 leave the symbol's state alone. An outlier makes the symbol *suspect*: it is
held (`is_held`) until `hold_after_suspect` consecutive good ticks settle which level is right:

- ticks back within the band of the old reference count towards confirming the old level
  (a lone spike): they are accepted (``ok``) but the symbol stays held until
  `hold_after_suspect` of them in a row;
- ticks within the band of the suspect level (the median of the outlier tick and those that
  followed it) confirm a genuine move, such as a gap down: they stay ``outlier`` until the
  outlier tick plus `hold_after_suspect` more agree; that last tick is accepted, the reference
  is replaced by the new level and the hold ends;
- a tick at yet another level restarts the count from it.

A symbol never seen (and not `seed`-ed) is held the same way until ``hold_after_suspect + 1``
consecutive mutually consistent ticks establish its first reference; those ticks are ``ok``.
Seed a symbol from a trusted price (e.g. the previous close) to skip that warm-up.

Inputs are `Decimal` (or `int`); `float` is accepted for the fast path and converted through
its shortest round-trip representation (``Decimal(repr(x))``: 83.99 stays 83.99, not the binary
83.98999...) after the NaN check, so every decision is made in `Decimal`. Timestamps must be
all timezone-aware (UTC) or all naive. Harvest only on ``verdict.tradable`` (ok and not held).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

Number = Decimal | float | int

_TWO = Decimal(2)


class Reason(StrEnum):
    """Outcome of one quote check."""

    OK = "ok"
    CROSSED = "crossed"
    ZERO = "zero"
    NEGATIVE = "negative"
    NAN = "nan"
    STALE = "stale"
    OUTLIER = "outlier"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The judgement of one quote.

    `mid` is the quote's mid price (None when it could not be computed: nan, negative, zero);
    `reference` the trusted reference it was compared with, after this tick (None before one
    exists); `held` whether the symbol is held after this tick.
    """

    reason: Reason
    mid: Decimal | None = None
    reference: Decimal | None = None
    held: bool = False

    @property
    def ok(self) -> bool:
        """Whether the quote itself was accepted."""
        return self.reason is Reason.OK

    @property
    def tradable(self) -> bool:
        """Whether harvesting may act on this quote: accepted and the symbol not held."""
        return self.reason is Reason.OK and not self.held


def _median(values: list[Decimal]) -> Decimal:
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    if n % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / _TWO


def _to_decimal(value: Number) -> Decimal | None:
    """Return `value` as a finite Decimal, or None when it is NaN or infinite."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return Decimal(repr(value))
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, int):
        return Decimal(value)
    raise TypeError(f"price must be Decimal, float or int, not {type(value).__name__}")


@dataclass(slots=True)
class _SymbolState:
    reference: deque[Decimal]
    candidate: list[Decimal] = field(default_factory=list)
    confirm_old: int = 0
    suspect: bool = True
    last_at: datetime | None = None


class QuoteSanity:
    """Per-symbol quote filter; see the module docstring for the rules.

    `band_pct` is a fraction, like every ``*_pct`` setting of tlh (``Decimal("0.05")`` means
    ±5 %), ``0 < band_pct < 1``.
    `stale_after` is the largest accepted age of a quote. `hold_after_suspect` (>= 0) is the
    number of good ticks that must confirm a level after an outlier; 0 accepts a new level at
    once. `window` (>= 1) is the number of recent accepted mids whose median is the reference.
    """

    def __init__(
        self,
        band_pct: Decimal,
        stale_after: timedelta,
        hold_after_suspect: int,
        window: int = 5,
    ) -> None:
        if not isinstance(band_pct, Decimal) or not band_pct.is_finite():
            raise ValueError("band_pct must be a finite Decimal fraction (0.05 for 5%)")
        if not Decimal(0) < band_pct < 1:
            raise ValueError(
                f"band_pct must be a fraction between 0 and 1 (got {band_pct}); write 0.05 for 5%"
            )
        if stale_after <= timedelta(0):
            raise ValueError("stale_after must be positive")
        if hold_after_suspect < 0:
            raise ValueError("hold_after_suspect must be >= 0")
        if window < 1:
            raise ValueError("window must be >= 1")
        self.band = band_pct
        self.stale_after = stale_after
        self.hold_after_suspect = hold_after_suspect
        self.window = window
        self._states: dict[str, _SymbolState] = {}
        self._clock: datetime | None = None

    # --- state ------------------------------------------------------------------------------

    def _state(self, symbol: str) -> _SymbolState:
        state = self._states.get(symbol)
        if state is None:
            state = _SymbolState(reference=deque(maxlen=self.window))
            self._states[symbol] = state
        return state

    def seed(self, symbol: str, price: Number, at: datetime | None = None) -> None:
        """Trust `price` as the symbol's reference now (e.g. its previous close); not held."""
        value = _to_decimal(price)
        if value is None or value <= 0:
            raise ValueError(f"seed price must be positive and finite: {price}")
        state = _SymbolState(
            reference=deque([value], maxlen=self.window), suspect=False, last_at=at
        )
        self._states[symbol] = state

    def reset(self, symbol: str) -> None:
        """Forget a symbol (after a split, say): it is held again until re-established."""
        self._states.pop(symbol, None)

    def reference(self, symbol: str) -> Decimal | None:
        """The symbol's trusted reference price (median of recent accepted mids), if any."""
        state = self._states.get(symbol)
        if state is None or not state.reference:
            return None
        return _median(list(state.reference))

    def is_held(self, symbol: str, now: datetime | None = None) -> bool:
        """Whether harvesting `symbol` is held: no trusted level yet, data suspect, or (when
        `now` is given) no accepted quote within `stale_after`."""
        state = self._states.get(symbol)
        if state is None or state.suspect or not state.reference:
            return True
        if now is not None and state.last_at is not None:
            return now - state.last_at > self.stale_after
        return False

    # --- the check --------------------------------------------------------------------------

    def check(
        self,
        symbol: str,
        bid: Number,
        ask: Number,
        at: datetime,
        now: datetime | None = None,
    ) -> Verdict:
        """Judge one quote of `symbol` timestamped `at`; update the symbol's state."""
        b = _to_decimal(bid)
        a = _to_decimal(ask)
        if b is None or a is None:
            return self._reject(symbol, Reason.NAN, None)
        if b < 0 or a < 0:
            return self._reject(symbol, Reason.NEGATIVE, None)
        if b == 0 or a == 0:
            return self._reject(symbol, Reason.ZERO, None)
        mid = (b + a) / _TWO
        if b > a:
            return self._reject(symbol, Reason.CROSSED, mid)
        clock = self._advance_clock(at, now)
        state = self._state(symbol)
        if clock - at > self.stale_after or (state.last_at is not None and at < state.last_at):
            return self._reject(symbol, Reason.STALE, mid)
        return self._judge(state, mid, at)

    def _advance_clock(self, at: datetime, now: datetime | None) -> datetime:
        if now is not None:
            return now
        if self._clock is None or at > self._clock:
            self._clock = at
        return self._clock

    def _reject(self, symbol: str, reason: Reason, mid: Decimal | None) -> Verdict:
        return Verdict(reason, mid, self.reference(symbol), self.is_held(symbol))

    def _within(self, mid: Decimal, level: Decimal) -> bool:
        return abs(mid - level) <= self.band * level

    def _judge(self, state: _SymbolState, mid: Decimal, at: datetime) -> Verdict:
        ref = _median(list(state.reference)) if state.reference else None
        if ref is not None and self._within(mid, ref):
            state.reference.append(mid)
            state.last_at = at
            state.candidate.clear()
            if state.suspect:
                state.confirm_old += 1
                if state.confirm_old >= self.hold_after_suspect:
                    state.suspect = False
                    state.confirm_old = 0
            return Verdict(Reason.OK, mid, _median(list(state.reference)), state.suspect)
        # Outside the trusted band, or no reference yet: a candidate for a new level.
        state.confirm_old = 0
        if state.candidate and self._within(mid, _median(state.candidate)):
            state.candidate.append(mid)
        else:
            state.candidate = [mid]
        state.suspect = True
        if len(state.candidate) > self.hold_after_suspect:
            state.reference = deque(state.candidate[-self.window :], maxlen=self.window)
            state.candidate = []
            state.suspect = False
            state.last_at = at
            return Verdict(Reason.OK, mid, _median(list(state.reference)), False)
        reason = Reason.OUTLIER if ref is not None else Reason.OK
        return Verdict(reason, mid, ref, True)
