"""The tax-lot ledger and its wash-sale engine (IRC §1091; Reg. §1.1091-1, -2; Pub 550).

Events are applied in time order, one at a time, so the daemon keeps the ledger current from
its stream and a report rebuilds it from a whole history with the same code.

How a wash sale is found, incrementally:

* A sale relieves lots (specific identification, else the account's FIFO, LIFO, HIFO or one
  of the price-dependent methods of IB's Tax Optimizer, `ledger.relief`) and
  yields one *portion* per relieved parcel. A taxable portion sold at a loss looks at once for
  replacement shares acquired in the 30 days before (and up to) the sale that are still held;
  whatever part of the loss stays unmatched waits, as a *pending loss*, for purchases in the 30
  days after the sale.
* A purchase first absorbs pending losses of its substantially identical group, oldest sale
  first, then becomes a candidate replacement for later losses.
* Replacement shares are matched in order of acquisition and serve once; a lot's own shares
  never replace it (unless the convention says so). A matched portion is split off so each sale
  row is either wholly washed or not washed at all; the disallowed loss moves into the
  replacement's basis with the sold shares' holding period, or is lost for good when the
  replacement sits in an IRA, Roth IRA, 401k or HSA (Rev. Rul. 2008-5).
"""

from __future__ import annotations

import gc
import itertools
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from functools import lru_cache
from heapq import heappop, heappush

from ledger.conventions import LotMethod, WashSaleConventions
from ledger.errors import LedgerError, OversellError, UnknownLotError
from ledger.holding import tacked_start, term_of
from ledger.identity import Identity
from ledger.model import (
    ZERO,
    AccountType,
    Action,
    Conversion,
    LedgerEvent,
    OpenLot,
    Parcel,
    SaleRow,
    SpinOff,
    Split,
    Trade,
    Transfer,
    instant_of,
    midnight,
    new_tuple,
    split_shares,
)
from ledger.money import cents, share
from ledger.relief import PRICE_RANKED, relief_rank

SHARE_QUANTUM = Decimal("1e-9")
ONE = Decimal(1)
_LAST = sys.maxsize  # HIFO tie order of a lot's unwashed remainder: after its parts


@dataclass(slots=True)
class _Lot:
    """All parcels of one purchase (one BUY, one lot id); the unwashed remainder is last."""

    lot_id: str
    account: str
    symbol: str
    parcels: list[Parcel]
    order: int = 0  # creation order: lots of a position are kept in it
    # The first `empty_head` and the last `empty_tail` parcels are known to be empty (sold).
    # Both stay true: a parcel is only ever inserted in front of an open one (`_split_replacement`)
    # and an empty parcel never fills again. They spare sales from rescanning sold parcels, which
    # matters for lots split into thousands of parcels by chains of wash sales.
    empty_head: int = 0
    empty_tail: int = 0

    @property
    def quantity(self) -> Decimal:
        return sum((p.quantity for p in self.open_span()), ZERO)

    def release(self) -> None:
        """Drop the parcels of a lot sold out (a history leaves most lots so); keep its name."""
        self.parcels = []
        self.empty_head = self.empty_tail = 0

    def first_open(self) -> Parcel | None:
        """Return the first parcel with shares left (None when the lot is sold out)."""
        parcels = self.parcels
        i, n = self.empty_head, len(parcels)
        while i < n:
            p = parcels[i]
            if p.quantity > ZERO:
                self.empty_head = i
                return p
            i += 1
        self.empty_head = n
        return None

    def last_open(self) -> Parcel | None:
        """Return the last parcel with shares left (None when the lot is sold out)."""
        parcels = self.parcels
        n = len(parcels)
        i = n - 1 - self.empty_tail
        while i >= 0:
            p = parcels[i]
            if p.quantity > ZERO:
                self.empty_tail = n - 1 - i
                return p
            i -= 1
        self.empty_tail = n
        return None

    def open_span(self) -> list[Parcel]:
        """Return the parcels between the known-empty ends, in order (some may be empty)."""
        if self.empty_head == 0 and self.empty_tail == 0:
            return self.parcels
        return self.parcels[self.empty_head : len(self.parcels) - self.empty_tail]


_HeapEntry = tuple[Decimal, int, int, int, Parcel]
_Key = tuple[str, str]


@dataclass(slots=True)
class _View:
    """What the queries read of one position, derived from its lots once and kept until an
    event changes the position (`Ledger._dispatch`)."""

    parcels: list[Parcel]
    quantity: Decimal
    rows: list[OpenLot] | None = None


@dataclass(slots=True)
class _Portion:
    """A mutable sale row: the shares of one parcel relieved by one sale."""

    lot_id: str
    account: str
    account_type: AccountType
    symbol: str
    quantity: Decimal
    acquired: date
    holding_period_start: date
    date_sold: date
    proceeds: Decimal
    cost_basis: Decimal
    adjusted_basis: Decimal
    seq: int
    wash_sale_disallowed: Decimal = ZERO
    permanently_disallowed: Decimal = ZERO
    replacement_lot_ids: tuple[str, ...] = ()
    # Replacement shares still to be found equal `quantity * share_factor` (splits after the
    # sale change how many new shares stand for one sold share).
    share_factor: Decimal = ONE
    # The piece this portion's washed shares are summed into (one row, however many
    # replacements wash it), once a first part of it is washed.
    washed_part: _Portion | None = None

    @property
    def loss(self) -> Decimal:
        return self.adjusted_basis - self.proceeds - self.wash_sale_disallowed

    def freeze(self) -> SaleRow:
        # A million rows are frozen for a report: built as the tuple they are (`new_tuple`).
        return new_tuple(
            SaleRow,
            (
                self.lot_id,
                self.account,
                self.account_type,
                self.symbol,
                self.quantity,
                self.acquired,
                self.holding_period_start,
                self.date_sold,
                self.proceeds,
                self.cost_basis,
                self.adjusted_basis,
                self.wash_sale_disallowed,
                self.permanently_disallowed,
                term_of(self.holding_period_start, self.date_sold),
                self.replacement_lot_ids,
                self.seq,
            ),
        )


@dataclass(slots=True)
class _Sale:
    """The portions of one sale: one per parcel relieved, then the washed pieces split off."""

    portions: list[_Portion]


@dataclass(slots=True)
class _Group:
    """Wash-sale state of one substantially identical group."""

    recent: deque[Parcel] = field(default_factory=deque)
    pending: deque[tuple[_Sale, _Portion]] = field(default_factory=deque)
    last_purchase: date | None = None
    last_loss_sale: date | None = None


class Ledger:
    """Hold every tax lot of a household and apply trades, splits and the wash-sale rule."""

    def __init__(
        self,
        identity: Identity | None = None,
        conventions: WashSaleConventions | None = None,
        account_types: Mapping[str, AccountType] | None = None,
        lot_methods: Mapping[str, LotMethod] | None = None,
        default_lot_method: LotMethod = LotMethod.FIFO,
    ) -> None:
        self.identity = identity or Identity()
        self.conventions = conventions or WashSaleConventions()
        self._account_types = dict(account_types or {})
        self._lot_methods = dict(lot_methods or {})
        self._default_lot_method = default_lot_method
        self._window = timedelta(days=self.conventions.window_days)
        self._positions: dict[tuple[str, str], deque[_Lot]] = {}
        self._lots: dict[str, _Lot] = {}
        self._groups: dict[str, _Group] = {}
        # (account, group key) -> the last date the account bought anything of the group.
        self._last_bought: dict[tuple[str, str], date] = {}
        self._sales: list[_Sale] = []
        self._last_key: tuple[date, datetime, int] | None = None
        self._applies: dict[str, bool] = {}
        # Basis the sale being applied has added to parcels by washing its own losses (keyed by
        # id(parcel)), so HIFO keeps ranking them as they stood when the sale was made.
        self._raised_in_sale: dict[int, Decimal] | None = None
        # Their holding-period start before that sale tacked onto it, for the Tax Optimizer
        # methods, which rank by term as well (convention 8).
        self._start_before_sale: dict[int, date] = {}
        self._raised_parcels: list[Parcel] = []
        # HIFO relief: per position, a heap of (-basis per share, lot order, part order, push
        # number, parcel); entries whose parcel has changed since are skipped (`_hifo_key`).
        self._hifo_heaps: dict[tuple[str, str], list[_HeapEntry]] = {}
        self._hifo_accounts: dict[str, bool] = {}
        self._counter = itertools.count(1)
        # Lot id of the part of a lot a transfer moved to another account -> the id of the
        # purchase lot it came from: a lot's own shares never replace it, wherever they are.
        self._origin: dict[str, str] = {}
        # The queries' views of each position (`_view`), and of all of them (`positions`),
        # computed on demand; an event drops those of the positions it changes (`_dispatch`).
        # While it is being applied (`_applying`), queries read the lots as they stand: the
        # event's own code queries the position it is changing (`_check_relief`).
        self._views: dict[_Key, _View] = {}
        self._all_positions: dict[_Key, Decimal] | None = None
        self._applying = False
        # Positions changed by the event being applied (its own; a wash sale's replacement,
        # maybe in another account; a split's every holder).
        self._touched: list[_Key] = []

    def empty_copy(self) -> Ledger:
        """Return a new, empty ledger with this one's identity, conventions and accounts."""
        return Ledger(
            self.identity,
            self.conventions,
            self._account_types,
            self._lot_methods,
            self._default_lot_method,
        )

    # -- queries ---------------------------------------------------------------------------

    def account_type(self, account: str) -> AccountType:
        """Return the type of `account` (taxable unless declared otherwise)."""
        return self._account_types.get(account, AccountType.TAXABLE)

    def lot_method(self, account: str) -> LotMethod:
        """Return the lot-relief method of `account`."""
        return self._lot_methods.get(account, self._default_lot_method)

    @property
    def sales(self) -> list[SaleRow]:
        """Return every sale row so far, in order of sale.

        A sale has one row per lot it relieves, split further where only part is washed and
        where the lot's shares carry different holding periods (parts of a lot that served as
        replacement shares). Pieces of one row that the ledger washed separately, against
        different replacements, or that sat in separate parcels, are summed into it.
        """
        rows: list[SaleRow] = []
        for sale_rows in self.sales_by_sale():
            rows.extend(sale_rows)
        return rows

    def sales_by_sale(self) -> Iterator[list[SaleRow]]:
        """Yield the rows of each sale (each SELL applied), in order of sale."""
        for sale in self._sales:
            portions = sale.portions
            if len(portions) == 1:  # most sales: one parcel, not split
                yield [portions[0].freeze()]
            else:
                yield _merged_rows(portions, self._lot_order)

    def open_lots(self) -> list[OpenLot]:
        """Return every parcel still held, by account, symbol and acquisition."""
        rows: list[OpenLot] = []
        if self._applying:
            for key in sorted(self._positions):
                rows.extend(_open_lot(p, key[0]) for p in self._scan(key))
            return rows
        for key in sorted(self._positions):
            view = self._view(key)
            if view.rows is None:
                view.rows = [_open_lot(p, key[0]) for p in view.parcels]
            rows.extend(view.rows)
        return rows

    def parcels(self, account: str, symbol: str) -> Iterator[Parcel]:
        """Yield the open parcels of one position in acquisition order."""
        if self._applying:
            return self._scan((account, symbol))
        return iter(self._view((account, symbol)).parcels)

    def position(self, account: str, symbol: str) -> Decimal:
        """Return the shares of `symbol` held in `account`."""
        if self._applying:
            return sum((p.quantity for p in self._scan((account, symbol))), ZERO)
        return self._view((account, symbol)).quantity

    def positions(self) -> dict[tuple[str, str], Decimal]:
        """Return every non-zero position as {(account, symbol): quantity}."""
        out = None if self._applying else self._all_positions
        if out is None:
            out = {}
            for key in self._positions:
                qty = self.position(*key)
                if qty:
                    out[key] = qty
            if not self._applying:
                self._all_positions = out
        return dict(out)

    def _scan(self, key: _Key) -> Iterator[Parcel]:
        """Yield the open parcels of a position from its lots as they stand."""
        for lot in self._positions.get(key, ()):
            for p in lot.open_span():
                if p.quantity > ZERO:
                    yield p

    def _view(self, key: _Key) -> _View:
        """Return the open parcels of a position and their total, as kept since the last event
        that changed the position (not while an event is being applied: `_applying`)."""
        view = self._views.get(key)
        if view is None:
            parcels = list(self._scan(key))
            # Summed in acquisition order: Decimal sums round, so the order is part of the total.
            view = self._views[key] = _View(parcels, sum((p.quantity for p in parcels), ZERO))
        return view

    def last_purchase(self, symbol: str) -> date | None:
        """Return the last date anything identical to `symbol` was bought, in any account."""
        group = self._groups.get(self.identity.key(symbol))
        return group.last_purchase if group else None

    def last_purchase_in(self, account: str, symbol: str) -> date | None:
        """Return the last date `account` bought anything identical to `symbol`."""
        return self._last_bought.get((account, self.identity.key(symbol)))

    def last_loss_sale(self, symbol: str) -> date | None:
        """Return the last date anything identical to `symbol` was sold at a loss (taxable)."""
        group = self._groups.get(self.identity.key(symbol))
        return group.last_loss_sale if group else None

    def wash_replacements(
        self,
        parcels: Sequence[Parcel],
        day: date,
        at_loss: Callable[[Parcel], bool] = lambda p: True,
    ) -> list[Parcel]:
        """Return the held parcels that would wash a loss if `parcels` were sold on `day`.

        A pure query (the ledger is not changed): `parcels` in the order the sale relieves
        them, `at_loss` telling which of them it sells at a loss. For each loss, the
        replacement shares the ledger's own matching (the tests `_replacements` makes in a sale)
        would find, in any account of the household, an IRA included (Rev. Rul. 2008-5):
        shares the same sale relieves later count, being held at the moment of that loss
        (convention 3); shares it relieved before do not. Empty exactly when the sale would
        wash nothing. The purchases in the 30 days after the sale are the caller's to avoid.
        """
        if not parcels:
            return []
        first = parcels[0]
        if not self._wash_applies(first.symbol) or self.account_type(first.account).tax_advantaged:
            return []
        group = self._groups.get(self.identity.key(first.symbol))
        if group is None:
            return []
        # The tests of `_replacements` for each loss; those depending on the candidate alone
        # made once per candidate, not once per loss (a query changes nothing).
        earliest = day - self._window
        origin = self._origin.get if self._origin else None
        candidates: list[tuple[Parcel, str]] = []  # (candidate, the purchase lot it is of)
        for candidate in group.recent:
            if not _may_replace(candidate, earliest, day):
                continue
            lot_id = candidate.lot_id
            candidates.append((candidate, lot_id if origin is None else origin(lot_id, lot_id)))
        if not candidates:
            return []
        own_lot_replaces = self.conventions.own_lot_replaces
        relieved: set[int] = set()
        found: dict[int, Parcel] = {}
        for p in parcels:
            relieved.add(id(p))
            if not at_loss(p):
                continue
            sold_lot = p.lot_id if origin is None else origin(p.lot_id, p.lot_id)
            for candidate, lot_id in candidates:
                if (lot_id != sold_lot or own_lot_replaces) and id(candidate) not in relieved:
                    found.setdefault(id(candidate), candidate)
        return list(found.values())

    def wash_sales_apply(self, symbol: str) -> bool:
        """Return whether the wash-sale rule reaches `symbol` (not for crypto by default)."""
        return self._wash_applies(symbol)

    # -- applying events -------------------------------------------------------------------

    def apply_all(self, events: Iterable[LedgerEvent]) -> None:
        """Apply a history, ordered by date, then timestamp, then source order."""
        self.apply_sorted(sorted(events, key=event_order))

    def apply_sorted(self, events: Sequence[LedgerEvent]) -> None:
        """Apply a history already sorted by `event_order` (as `apply_all` sorts it)."""
        if not events:
            return
        # The ledger makes no reference cycles, so the cyclic garbage collector has nothing to
        # find here, yet it would walk every lot and sale row again and again as they pile up
        # (a fifth of the replay of a million-trade history, two fifths of a 100,000-trade
        # one). Reference counting still frees everything. Paused for the batch only.
        collecting = gc.isenabled()
        gc.disable()
        dispatch = self._dispatch
        last = events[0]
        try:
            self._apply(last, event_order(last))  # checked against what came before
            for event in itertools.islice(events, 1, None):  # sorted: in order after it
                last = event
                dispatch(event)
        finally:
            self._last_key = event_order(last)
            if collecting:
                gc.enable()

    def applies_next(self, event: LedgerEvent) -> bool:
        """Return whether `event` comes after every event applied so far (`apply` takes it
        in order; one dated earlier needs the history replayed with it)."""
        return self._last_key is None or event_order(event)[:2] >= self._last_key[:2]

    def apply(self, event: LedgerEvent) -> None:
        """Apply one event; events must come in (date, timestamp, seq) order."""
        self._apply(event, event_order(event))

    def refusal(self, event: LedgerEvent) -> LedgerError | None:
        """Return why `event` would be rejected if applied next, or None; change nothing.

        The checks `apply` makes before it changes anything: valid numbers, an unused lot id
        for a purchase, and for a sale a lot or position holding enough shares.
        """
        try:
            if isinstance(event, Split):
                if not event.ratio > ZERO:
                    raise LedgerError(f"split ratio must be positive (got {event.ratio})")
            elif isinstance(event, Conversion | SpinOff):
                self._check_corporate_action(event)
            elif isinstance(event, Transfer):
                self._check_transfer(event)
            elif event.action is Action.BUY:
                _check_trade(event)
                if event.lot_id and event.lot_id in self._lots:
                    raise LedgerError(
                        f"lot id {event.lot_id!r} is already used by an earlier purchase",
                        field="lot_id",
                    )
            else:
                _check_trade(event)
                self._check_relief(event)
        except LedgerError as exc:
            return exc
        return None

    def _apply(self, event: LedgerEvent, key: tuple[date, datetime, int]) -> None:
        if self._last_key is not None and key[:2] < self._last_key[:2]:
            raise LedgerError(
                f"event dated {event.trade_date} arrives after one dated {self._last_key[0]}; "
                "rebuild the ledger from the sorted journal",
                field="date",
            )
        self._last_key = key
        self._dispatch(event)

    def _dispatch(self, event: LedgerEvent) -> None:
        # The views of the positions the event changes are dropped once it is applied, or has
        # failed half way.
        touched = self._touched
        self._applying = True
        try:
            if isinstance(event, Split):
                self._split(event)  # touches every position of the symbol
                return
            touched.append((event.account, event.symbol))
            if isinstance(event, Conversion):
                touched.append((event.account, event.new_symbol))
                self._convert(event)
            elif isinstance(event, SpinOff):
                touched.append((event.account, event.new_symbol))
                self._spin_off(event)
            elif isinstance(event, Transfer):
                if event.to_account is not None:
                    touched.append((event.to_account, event.symbol))
                self._transfer(event)
            elif event.action is Action.BUY:
                self._buy(event)
            else:
                self._sell(event)
        finally:
            views = self._views
            for key in touched:
                views.pop(key, None)
            touched.clear()
            self._all_positions = None
            self._applying = False

    # -- purchases -------------------------------------------------------------------------

    def _buy(self, t: Trade) -> None:
        _check_trade(t)
        lot_id = t.lot_id or self._new_lot_id(t)
        if lot_id in self._lots:
            raise LedgerError(
                f"lot id {lot_id!r} is already used by an earlier purchase", field="lot_id"
            )
        account_type = self.account_type(t.account)
        parcel = Parcel(
            lot_id=lot_id,
            account=t.account,
            account_type=account_type,
            symbol=t.symbol,
            quantity=t.quantity,
            cost=cents(t.quantity * t.price + t.fees),
            acquired=t.trade_date,
            holding_period_start=t.trade_date,
            acquired_at=t.instant,
            seq=t.seq,
            source=t.source,
        )
        lot = _Lot(lot_id, t.account, t.symbol, [parcel], next(self._counter))
        self._lots[lot_id] = lot
        self._positions.setdefault((t.account, t.symbol), deque()).append(lot)
        if self._is_hifo(t.account):
            self._hifo_push(parcel)
        if self._wash_applies(t.symbol):
            group = self._group(t.symbol)
            group.last_purchase = t.trade_date
            self._last_bought[(t.account, self.identity.key(t.symbol))] = t.trade_date
            self._absorb_pending(group, lot, t.trade_date)
            rest = lot.parcels[-1]
            if rest.quantity > ZERO and not rest.replacement_used:
                group.recent.append(rest)

    def _lot_order(self, lot_id: str) -> int:
        return self._lots[lot_id].order

    def _new_lot_id(self, t: Trade) -> str:
        return self._free_lot_id(default_lot_id(t))

    def _absorb_pending(self, group: _Group, lot: _Lot, day: date) -> None:
        """Let a new purchase wash losses sold in the 30 days before it (oldest sale first)."""
        pending = group.pending
        earliest = day - self._window
        while pending and pending[0][1].date_sold < earliest:
            pending.popleft()
        while pending:
            replacement = lot.parcels[-1]
            if replacement.quantity <= ZERO or replacement.replacement_used:
                return
            sale, portion = pending[0]
            before = (replacement.quantity, portion.quantity)
            if self._wash(sale, portion, lot, replacement) is None:
                pending.popleft()
            elif (replacement.quantity, portion.quantity) == before:
                return  # too few shares left to stand for 1e-9 of a sold share

    # -- sales -----------------------------------------------------------------------------

    def _sell(self, t: Trade) -> None:
        _check_trade(t)
        self._check_relief(t)
        account_type = self.account_type(t.account)
        proceeds_left = cents(t.quantity * t.price - t.fees)
        qty_left = t.quantity
        wash = self._wash_applies(t.symbol) and not account_type.tax_advantaged
        group = self._group(t.symbol) if wash else None
        hifo = self._is_hifo(t.account)
        sale = _Sale([])
        self._sales.append(sale)
        self._raised_in_sale = {}
        while qty_left > ZERO:
            # Pick each parcel only once the previous one is done: washing an earlier portion
            # may split a parcel this same sale relieves next (its replacement shares, held at
            # the moment of that loss, convention 3), so a list made up front goes stale.
            parcel = self._next_parcel(t)
            held = parcel.quantity
            qty = min(qty_left, held)
            proceeds = share(proceeds_left, qty, qty_left)
            proceeds_left -= proceeds
            qty_left -= qty
            if qty == held:  # the whole parcel; zeros shared, as most parcels end sold
                cost, adjustment = parcel.cost, parcel.wash_adjustment
                parcel.cost = parcel.wash_adjustment = parcel.quantity = ZERO
            else:
                cost = share(parcel.cost, qty, held)
                adjustment = share(parcel.wash_adjustment, qty, held)
                parcel.cost -= cost
                parcel.wash_adjustment -= adjustment
                parcel.quantity = held - qty
            parcel.basis_per_share = None
            if hifo:
                self._hifo_push(parcel)
            basis = cost + adjustment
            portion = _Portion(  # positional: this runs for every lot every sale relieves
                parcel.lot_id,
                t.account,
                account_type,
                t.symbol,
                qty,
                parcel.acquired,
                parcel.holding_period_start,
                t.trade_date,
                proceeds,
                cost,
                basis,
                t.seq,
            )
            sale.portions.append(portion)
            if group is not None and basis > proceeds:  # a loss
                group.last_loss_sale = t.trade_date
                rest = self._match_earlier(group, sale, portion)
                if rest is not None:
                    group.pending.append((sale, rest))
        self._raised_in_sale = None
        if self._start_before_sale:
            self._start_before_sale.clear()
        raised, self._raised_parcels = self._raised_parcels, []
        for p in raised:
            self._hifo_push(p)

    def _check_relief(self, t: Trade | Transfer) -> None:
        """Raise unless the sale's (or transfer's) lot or position exists and holds enough
        shares."""
        self._drop_empty_lots(t.account, t.symbol)
        if t.lot_id:
            lot = self._lots.get(t.lot_id)
            if lot is None or lot.quantity <= ZERO:
                raise UnknownLotError(
                    f"no open lot {t.lot_id!r} to {'sell' if isinstance(t, Trade) else 'move'} from"
                    + (" (it is fully sold)" if lot is not None else ""),
                    field="lot_id",
                )
            if (lot.account, lot.symbol) != (t.account, t.symbol):
                raise UnknownLotError(
                    f"lot {t.lot_id!r} holds {lot.symbol} in account {lot.account!r}, "
                    f"not {t.symbol} in {t.account!r}",
                    field="lot_id",
                )
            held = lot.quantity
        else:
            # The position's total, summed in order as `position` does, but only as far as
            # needed: partial sums never decrease, so the comparison below comes out the same.
            held = ZERO
            for p in self.parcels(t.account, t.symbol):
                held += p.quantity
                if held >= t.quantity:
                    break
        if t.quantity > held:
            where = f"lot {t.lot_id!r}" if t.lot_id else f"{t.symbol} in account {t.account!r}"
            verb = "sells" if isinstance(t, Trade) else "transfers"
            raise OversellError(
                f"{verb} {t.quantity} but only {held} held in {where}", field="quantity"
            )

    def _next_parcel(self, t: Trade | Transfer) -> Parcel:
        """Return the open parcel a sale or transfer relieves next (specific lot, else the lot
        method)."""
        parcel = self._lots[t.lot_id].first_open() if t.lot_id else self._by_method(t)
        if parcel is None:
            # Only when rounding to the context's precision (quantities after an inexact split)
            # leaves a sliver unrelieved; `next()` over the parcels raised this, and still does.
            raise StopIteration
        return parcel

    def _by_method(self, t: Trade | Transfer) -> Parcel | None:
        """Return the open parcel the account's lot method relieves next (None if none)."""
        account, symbol = t.account, t.symbol
        lots = self._positions.get((account, symbol), ())
        method = self.lot_method(account)
        if method in PRICE_RANKED:
            if isinstance(t, Trade):
                return self._ranked_best(t, method, lots)
            method = LotMethod.FIFO  # a transfer has no price to rank the lots by
        if method is LotMethod.FIFO:  # first open parcel in acquisition order
            for lot in lots:
                if (p := lot.first_open()) is not None:
                    return p
            return None
        if method is LotMethod.LIFO:  # last open parcel in acquisition order
            for lot in reversed(lots):
                if (p := lot.last_open()) is not None:
                    return p
            return None
        # HIFO: highest adjusted basis per share first, as it stood when the sale was made (a
        # loss this sale washes into a parcel it is about to relieve does not re-rank that
        # parcel); ties keep acquisition order.
        return self._hifo_best(account, symbol)

    def _ranked_best(self, t: Trade, method: LotMethod, lots: Iterable[_Lot]) -> Parcel | None:
        """Return the open parcel of lowest rank under a Tax Optimizer method (`ledger.relief`)
        in the sale `t`, earliest among equals, ranked as it stood when the sale was made.

        A scan of the position: the rank depends on the sale's price and date, so no order
        kept between sales serves; a sale relieves few parcels.
        """
        rank = relief_rank(method, t.price - t.fees / t.quantity, t.trade_date)
        starts = self._start_before_sale
        best: Parcel | None = None
        best_rank: tuple[int, Decimal] | None = None
        for lot in lots:
            for p in lot.open_span():
                if p.quantity > ZERO:
                    r = rank(self._hifo_key(p), starts.get(id(p), p.holding_period_start))
                    if best_rank is None or r < best_rank:  # strictly: the earliest stays
                        best, best_rank = p, r
        return best

    def _drop_empty_lots(self, account: str, symbol: str) -> None:
        # A lot's quantity is at most zero exactly when no parcel has shares left (none is
        # negative), which `first_open` finds without summing every parcel each time.
        lots = self._positions.get((account, symbol))
        while lots and lots[0].first_open() is None:
            lots.popleft().release()
        while lots and lots[-1].first_open() is None:
            lots.pop().release()

    # -- wash sales ------------------------------------------------------------------------

    def _match_earlier(self, group: _Group, sale: _Sale, portion: _Portion) -> _Portion | None:
        """Wash a loss with replacement shares bought in the 30 days up to the sale.

        Return the part of the portion still unwashed, or None.
        """
        earliest = portion.date_sold - self._window
        recent = group.recent
        while recent and (
            recent[0].acquired < earliest
            or recent[0].quantity <= ZERO
            or recent[0].replacement_used
        ):
            recent.popleft()
        # Washing never adds to or removes from `recent`.
        for candidate in self._replacements(group, portion.lot_id, portion.date_sold):
            rest = self._wash(sale, portion, self._lots[candidate.lot_id], candidate)
            if rest is None:
                return None
            portion = rest
        return portion

    def _replacements(self, group: _Group, lot_id: str, date_sold: date) -> Iterator[Parcel]:
        """Yield the parcels that may replace shares of `lot_id` sold at a loss on
        `date_sold`, in the order they are matched (acquisition): held, bought in the 30 days
        up to the sale, not yet a replacement, and not of the sold lot itself (convention 2).
        `wash_replacements` makes the same tests.
        """
        earliest = date_sold - self._window
        own_lot_replaces = self.conventions.own_lot_replaces
        origin = self._origin.get if self._origin else None
        if origin is not None:
            lot_id = origin(lot_id, lot_id)
        for candidate in group.recent:
            if not _may_replace(candidate, earliest, date_sold):
                continue
            candidate_lot = candidate.lot_id
            if origin is not None:
                candidate_lot = origin(candidate_lot, candidate_lot)
            if candidate_lot == lot_id and not own_lot_replaces:
                continue
            yield candidate

    def _wash(
        self, sale: _Sale, portion: _Portion, lot: _Lot, replacement: Parcel
    ) -> _Portion | None:
        """Disallow the loss on as many sold shares as `replacement` can stand for.

        Return the part of `portion` still waiting for replacement shares, or None.
        """
        factor = portion.share_factor
        needed = portion.quantity if factor is ONE else portion.quantity * factor
        used = min(needed, replacement.quantity)
        if used < needed:
            sold = used
            if factor != 1:
                # After a split the share count is a division that need not terminate: keep
                # it to 1e-9 shares (brokers' fractional precision) and derive the replacement
                # shares from it exactly, so every quantity stays exact and sums conserve.
                sold = (used / factor).quantize(SHARE_QUANTUM, rounding=ROUND_DOWN)
                if not sold:
                    return portion
                used = sold * factor
            washed = _split_portion(portion, sold)
            rest: _Portion | None = portion
        else:
            washed, rest = portion, None
        loss = washed.loss
        if loss <= ZERO:
            if rest is not None:
                sale.portions.append(washed)
            return rest
        target = self._split_replacement(lot, replacement, used)
        target.replacement_used = True
        self._touched.append((target.account, target.symbol))  # maybe another position
        washed.wash_sale_disallowed = loss
        washed.replacement_lot_ids = (target.lot_id,)
        permanent = target.account_type.tax_advantaged
        if permanent:
            washed.permanently_disallowed = loss
        _sum_washed(sale, portion, washed)
        if not permanent:
            target.wash_adjustment += loss
            target.basis_per_share = None
            if self._raised_in_sale is not None:
                # HIFO ranks it as it stood when the sale was made; re-ranked after the sale.
                self._raised_in_sale[id(target)] = self._raised_in_sale.get(id(target), ZERO) + loss
                self._raised_parcels.append(target)
                self._start_before_sale.setdefault(id(target), target.holding_period_start)
            elif self._is_hifo(target.account):
                self._hifo_push(target)
            target.holding_period_start = tacked_start(
                self.conventions.holding_period,
                sold_start=washed.holding_period_start,
                date_sold=washed.date_sold,
                replacement_start=target.holding_period_start,
                replacement_acquired=target.acquired,
            )
        return rest

    def _split_replacement(self, lot: _Lot, parcel: Parcel, qty: Decimal) -> Parcel:
        """Return a parcel of exactly `qty` shares split off `parcel` (or `parcel` itself).

        The part goes just before `parcel` in the lot (parts are kept in the order they were
        split off, the unwashed remainder last).
        """
        if qty == parcel.quantity:
            return parcel
        part = _carve(parcel, qty, replacement_used=False, part=next(self._counter))
        parcels = lot.parcels
        if parcels[-1] is parcel:  # the unwashed remainder, as always
            parcels.insert(len(parcels) - 1, part)
            if self._is_hifo(parcel.account):
                self._hifo_push(parcel)
                self._hifo_push(part)
            return part
        i = len(parcels) - 1
        while parcels[i] is not parcel:
            i -= 1
        parcels.insert(i, part)
        for p in parcels:  # keep the parts' order that of the list
            if p.part:
                p.part = next(self._counter)
            self._hifo_push(p)
        return part

    # -- HIFO --------------------------------------------------------------------------------

    def _is_hifo(self, account: str) -> bool:
        hifo = self._hifo_accounts.get(account)
        if hifo is None:
            hifo = self._hifo_accounts[account] = self.lot_method(account) is LotMethod.HIFO
        return hifo

    def _hifo_key(self, p: Parcel) -> Decimal:
        """Return the basis per share HIFO ranks `p` by now (as it stood when the sale being
        applied was made, if this sale has washed a loss into it)."""
        key = p.basis_per_share
        if key is None:
            key = p.basis_per_share = p.adjusted_basis / p.quantity
        raised = self._raised_in_sale
        if raised and id(p) in raised:
            key = (p.adjusted_basis - raised[id(p)]) / p.quantity
        return key

    def _hifo_push(self, p: Parcel) -> None:
        """Enter `p` (changed or new) in its position's HIFO heap, if the account uses HIFO."""
        hifo = self._hifo_accounts.get(p.account)
        if hifo is None:
            hifo = self._is_hifo(p.account)
        if hifo and p.quantity > ZERO:
            heap = self._hifo_heaps.get((p.account, p.symbol))
            if heap is None:
                heap = self._hifo_heaps[(p.account, p.symbol)] = []
            order = self._lots[p.lot_id].order
            heappush(heap, (-self._hifo_key(p), order, p.part or _LAST, next(self._counter), p))

    def _hifo_best(self, account: str, symbol: str) -> Parcel | None:
        """Return the open parcel of highest basis per share, earliest among equals.

        Stale entries (the parcel sold out, or changed and entered again) are dropped on the
        way; a parcel is always entered again when it changes.
        """
        heap = self._hifo_heaps.get((account, symbol))
        while heap:
            neg_key, _order, rank, _n, p = heap[0]
            if p.quantity > ZERO and (p.part or _LAST) == rank and -neg_key == self._hifo_key(p):
                return p
            heappop(heap)
        return None

    # -- splits ----------------------------------------------------------------------------

    def _split(self, s: Split) -> None:
        if not s.ratio > ZERO:
            raise LedgerError(f"split ratio must be positive (got {s.ratio})", field="ratio")
        for key, lots in self._positions.items():
            if key[1] != s.symbol:
                continue
            self._touched.append(key)
            for lot in lots:
                for p in lot.parcels:
                    p.quantity = split_shares(p.quantity, s.ratio)
                    p.basis_per_share = None
                    self._hifo_push(p)
        group = self._groups.get(self.identity.key(s.symbol))
        if group is not None:
            for _sale, portion in group.pending:
                if portion.symbol == s.symbol:
                    portion.share_factor *= s.ratio

    # -- reorganizations ---------------------------------------------------------------------

    def _check_corporate_action(self, event: Conversion | SpinOff) -> Decimal:
        """Raise unless `event` can apply; return the shares of the position it acts on."""
        if isinstance(event, Conversion):
            if not event.ratio > ZERO:
                raise LedgerError(
                    f"conversion ratio must be positive (got {event.ratio})", field="ratio"
                )
        else:
            if not event.quantity > ZERO:
                raise LedgerError(
                    f"spin-off quantity must be greater than 0 (got {event.quantity})",
                    field="quantity",
                )
            if not ZERO <= event.basis_fraction <= ONE:
                raise LedgerError(
                    f"spin-off basis fraction must be from 0 to 1 (got {event.basis_fraction})",
                    field="basis_fraction",
                )
        if event.new_symbol == event.symbol:
            raise LedgerError(f"{event.symbol} cannot become itself", field="new_symbol")
        held = self.position(event.account, event.symbol)
        if not held > ZERO:
            raise OversellError(
                f"no shares of {event.symbol} in account {event.account!r} to reorganize",
                field="symbol",
            )
        return held

    def _convert(self, c: Conversion) -> None:
        """Carry every lot of the position to the new symbol (see `Conversion`).

        The wash-sale state of the lots goes with them: their shares still in the 30-day
        window stay candidate replacements, and the position's losses still waiting for
        replacement shares wait for shares of the new symbol (`ratio` new per sold share).
        """
        self._check_corporate_action(c)
        account, old, new, ratio = c.account, c.symbol, c.new_symbol, c.ratio
        moved = self._positions.pop((account, old))
        self._hifo_heaps.pop((account, old), None)
        for lot in moved:
            lot.symbol = new
            for p in lot.parcels:
                p.symbol = new
                if p.quantity:
                    p.quantity = split_shares(p.quantity, ratio)
                p.basis_per_share = None
        into = self._positions.get((account, new), deque())
        self._positions[(account, new)] = deque(sorted([*into, *moved], key=lambda lot: lot.order))
        for lot in moved:
            for p in lot.open_span():
                self._hifo_push(p)
        self._carry_wash_state(c, moved)

    def _carry_wash_state(self, c: Conversion, moved: Iterable[_Lot]) -> None:
        """Move the old symbol's wash-sale state to the new one's group (IRC §1091(a)).

        The new shares stand for the old ones (a reorganization, see `Conversion`), so buying
        them inside the window of a loss on the old ones washes it (Pub 550: a successor's
        stock may be substantially identical), and the guard must see that before the buy:

        * the converted lots' parcels still in the window stay candidate replacements;
        * the losses on the old symbol still waiting for replacement shares wait for shares of
          the new one (`ratio` new per sold share): the account's own, and those of every other
          account of the household that holds none of the old symbol, which has no conversion
          of its own to carry them (an account still holding it does, when it is converted);
        * the last purchase and the last loss sale of the group, and each account's last
          purchase, become the later of the two groups' dates (`last_purchase`,
          `last_loss_sale`, `last_purchase_in`, read by `strategies.wash_guard`). The old
          group's dates are taken whole: a loss on a symbol declared identical to the old one
          blocks the new one too (the guard errs towards refusing).
        """
        old_key = self.identity.key(c.symbol)
        old_group = self._groups.get(old_key)
        if old_group is None:
            return
        new_group = self._group(c.new_symbol) if self._wash_applies(c.new_symbol) else None
        ids = {id(p) for lot in moved for p in lot.parcels}
        # Within one group, other accounts' losses already wait for the new symbol; they are
        # left as they are, lest each account's conversion scale them once more.
        across = new_group is not None and new_group is not old_group
        pending = [
            (sale, portion)
            for sale, portion in old_group.pending
            if portion.symbol == c.symbol
            and (
                portion.account == c.account
                or (across and not self.position(portion.account, c.symbol))
            )
        ]
        for _sale, portion in pending:
            portion.share_factor *= c.ratio
        if new_group is None or new_group is old_group:
            return
        recent = [p for p in old_group.recent if id(p) in ids]
        old_group.recent = deque(p for p in old_group.recent if id(p) not in ids)
        new_group.recent = deque(
            sorted([*new_group.recent, *recent], key=lambda p: (p.acquired, p.acquired_at))
        )
        moving = {id(portion) for _sale, portion in pending}
        old_group.pending = deque(e for e in old_group.pending if id(e[1]) not in moving)
        new_group.pending = deque(
            sorted([*new_group.pending, *pending], key=lambda e: e[1].date_sold)
        )
        new_group.last_purchase = _later(new_group.last_purchase, old_group.last_purchase)
        new_group.last_loss_sale = _later(new_group.last_loss_sale, old_group.last_loss_sale)
        new_key = self.identity.key(c.new_symbol)
        bought = self._last_bought
        for (account, key), day in list(bought.items()):
            if key == old_key:
                earlier = bought.get((account, new_key))
                bought[(account, new_key)] = day if earlier is None else max(earlier, day)

    def _spin_off(self, s: SpinOff) -> None:
        """Give every lot of the parent a lot of the distributed shares (see `SpinOff`).

        Shares are shared pro rata to 1e-9 and basis to the cent, the last parcel taking what
        is left, so the new shares and the parent's basis are conserved exactly. The new lots
        are no purchase: they replace nothing in the wash-sale rule's sense and wash nothing.

        The wash-sale state stays with the parent, which goes on trading under its symbol: the
        distributed shares are another corporation's stock, ordinarily not substantially
        identical to the parent's (Pub 550), so a loss on the parent waits for the parent's
        shares only, and its dates (`last_loss_sale`, `last_purchase_in`) are not the new
        symbol's. Whoever holds the two as identical declares it (`Identity`), and both then
        share one group.
        """
        held = self._check_corporate_action(s)
        account, fraction = s.account, s.basis_fraction
        parents = [lot for lot in self._positions[(account, s.symbol)] if lot.first_open()]
        open_parcels = [p for lot in parents for p in lot.open_span() if p.quantity > ZERO]
        last = open_parcels[-1]
        shares_left = s.quantity
        children: list[_Lot] = []
        for lot in parents:
            parcels: list[Parcel] = []
            for p in lot.open_span():
                if p.quantity <= ZERO:
                    continue
                if p is last:
                    qty = shares_left
                else:
                    qty = (s.quantity * p.quantity / held).quantize(SHARE_QUANTUM, ROUND_DOWN)
                shares_left -= qty
                cost, adjustment = cents(p.cost * fraction), cents(p.wash_adjustment * fraction)
                p.cost -= cost
                p.wash_adjustment -= adjustment
                p.basis_per_share = None
                self._hifo_push(p)
                if qty > ZERO:
                    parcels.append(
                        Parcel(
                            lot_id="",
                            account=account,
                            account_type=p.account_type,
                            symbol=s.new_symbol,
                            quantity=qty,
                            cost=cost,
                            acquired=p.acquired,
                            holding_period_start=p.holding_period_start,
                            acquired_at=p.acquired_at,
                            seq=s.seq,
                            wash_adjustment=adjustment,
                            source=s.source,
                        )
                    )
            if parcels:
                child_id = self._free_lot_id(f"{lot.lot_id}>{s.new_symbol}")
                for p in parcels:
                    p.lot_id = child_id
                child = _Lot(child_id, account, s.new_symbol, parcels, lot.order)
                self._lots[child_id] = child
                children.append(child)
        into = self._positions.get((account, s.new_symbol), deque())
        self._positions[(account, s.new_symbol)] = deque(
            sorted([*into, *children], key=lambda lot: lot.order)
        )
        for child in children:
            for p in child.parcels:
                self._hifo_push(p)

    def _free_lot_id(self, base: str) -> str:
        """Return `base`, or `base-2`, `base-3` ... if taken: a lot id no lot has."""
        lot_id, n = base, 1
        while lot_id in self._lots:
            n += 1
            lot_id = f"{base}-{n}"
        return lot_id

    # -- transfers ---------------------------------------------------------------------------

    def _check_transfer(self, t: Transfer) -> None:
        """Raise unless `t` can apply: shares held, and a destination of the same kind."""
        if not t.quantity > ZERO:
            raise LedgerError(
                f"quantity must be greater than 0 (got {t.quantity})", field="quantity"
            )
        if t.to_account is not None:
            if t.to_account == t.account:
                raise LedgerError(
                    f"a transfer from account {t.account!r} to itself", field="to_account"
                )
            source, dest = self.account_type(t.account), self.account_type(t.to_account)
            if source.tax_advantaged != dest.tax_advantaged:
                # Contributions to an IRA are cash (IRC §408(a)(1)); shares leaving one are
                # a distribution: neither moves lots with their basis.
                raise LedgerError(
                    f"shares cannot move in kind from a {source} account ({t.account!r}) to a "
                    f"{dest} one ({t.to_account!r}) without a sale",
                    field="to_account",
                )
        self._check_relief(t)

    def _transfer(self, t: Transfer) -> None:
        """Move the shares of `t` out of its account (see `Transfer`); nothing is sold.

        Wash-sale state (the convention; README, "Transfers"): a transfer is neither a sale
        nor a purchase (§1091 counts shares acquired "by purchase or by an exchange"), so it
        starts and ends no wash sale. Losses sold earlier and still waiting for replacement
        shares keep waiting. The parcels keep what they carry: a wash adjustment and tacked
        holding period, whether they already served as replacement shares (they serve once),
        and their place among the candidate replacements of later losses (bought in the last 30
        days). Shares transferred out of the ledger are still the household's (at the other
        broker), so for the rest of their 30 days they still replace a loss sold here, which the
        ledger washes into them there (the sale row names their lot, ``LOT@out``); after that
        they are forgotten.
        """
        self._check_transfer(t)
        hifo = self._is_hifo(t.account)
        taken: list[tuple[Parcel, Parcel]] = []  # (parcel relieved, the part it gave)
        qty_left = t.quantity
        while qty_left > ZERO:
            parcel = self._next_parcel(t)
            qty = min(qty_left, parcel.quantity)
            qty_left -= qty
            part = _carve(parcel, qty, replacement_used=parcel.replacement_used, part=parcel.part)
            taken.append((parcel, part))
            if hifo:
                self._hifo_push(parcel)
        self._arrive(t, taken)

    def _arrive(self, t: Transfer, taken: list[tuple[Parcel, Parcel]]) -> None:
        """Put the parts `taken` off the parcels of `t`'s account where they go.

        Into `t.to_account`: each lot's parts form a lot there, in the order its parcels had; a
        lot that moved whole keeps its id, a part of one gets a new id (``LOT@account``) that
        remembers the lot it came from. Out of the ledger: only the parts still candidate
        replacement shares are kept, in a lot held by no position (``LOT@out``, account
        "ACCOUNT (transferred out)"), until their 30 days are over.
        """
        group = self._groups.get(self.identity.key(t.symbol))
        candidates = {id(p) for p in group.recent} if group is not None else set()
        dest = t.to_account
        if dest is None:
            taken = [
                (relieved, part)
                for relieved, part in taken
                if id(relieved) in candidates and not part.replacement_used
            ]
        by_lot: dict[str, list[tuple[Parcel, Parcel]]] = {}
        for relieved, part in taken:
            by_lot.setdefault(relieved.lot_id, []).append((relieved, part))
        account = f"{t.account} (transferred out)" if dest is None else dest
        account_type = self.account_type(dest if dest is not None else t.account)
        arrived: list[_Lot] = []
        replacing: list[Parcel] = []
        for lot_id, pairs in by_lot.items():
            source = self._lots[lot_id]
            position = {id(p): i for i, p in enumerate(source.parcels)}
            pairs.sort(key=lambda pair: position[id(pair[0])])
            whole = dest is not None and source.first_open() is None
            new_id = lot_id if whole else self._free_lot_id(f"{lot_id}@{dest or 'out'}")
            parts = [part for _relieved, part in pairs]
            for part in parts:
                part.lot_id, part.account, part.account_type = new_id, account, account_type
            if whole:
                source.release()
            else:
                self._origin[new_id] = self._origin.get(lot_id, lot_id)
            lot = _Lot(new_id, account, t.symbol, parts, source.order)
            self._lots[new_id] = lot
            arrived.append(lot)
            replacing.extend(part for relieved, part in pairs if id(relieved) in candidates)
        if dest is not None:
            into = self._positions.get((dest, t.symbol), deque())
            self._positions[(dest, t.symbol)] = deque(
                sorted([*into, *arrived], key=lambda lot: lot.order)
            )
            for lot in arrived:
                for p in lot.parcels:
                    self._hifo_push(p)
        if group is not None and replacing:
            group.recent = deque(
                sorted([*group.recent, *replacing], key=lambda p: (p.acquired, p.acquired_at))
            )

    # -- helpers ---------------------------------------------------------------------------

    def _wash_applies(self, symbol: str) -> bool:
        applies = self._applies.get(symbol)
        if applies is None:
            applies = self.conventions.crypto_wash_sales or not self.identity.is_crypto(symbol)
            self._applies[symbol] = applies
        return applies

    def _group(self, symbol: str) -> _Group:
        key = self.identity.key(symbol)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group()
        return group


def _open_lot(p: Parcel, account: str) -> OpenLot:
    """Return the report row of an open parcel of a position of `account`."""
    return OpenLot(
        lot_id=p.lot_id,
        account=account,
        account_type=p.account_type,
        symbol=p.symbol,
        quantity=p.quantity,
        acquired=p.acquired,
        holding_period_start=p.holding_period_start,
        cost_basis=p.cost,
        adjusted_basis=p.adjusted_basis,
        source=p.source,
    )


def _later(a: date | None, b: date | None) -> date | None:
    """Return the later of two dates, either of which may be unknown."""
    if a is None or b is None:
        return a if b is None else b
    return max(a, b)


def default_lot_id(t: Trade) -> str:
    """Return the lot id a BUY without one gets: symbol, date and source position."""
    return f"{t.symbol}-{_compact_date(t.trade_date)}-{t.seq}"


@lru_cache(maxsize=65536)
def _compact_date(day: date) -> str:
    return f"{day:%Y%m%d}"


def _sum_washed(sale: _Sale, portion: _Portion, washed: _Portion) -> None:
    """Add a piece of `portion` just washed to the sale's rows: into the piece its earlier
    washed shares went to, if any, else as that piece."""
    into = portion.washed_part
    if into is None:
        if washed is not portion:  # placed after its portion: rows keep the order of relief
            portions = sale.portions
            portions.insert(_index(portions, portion) + 1, washed)
            portion.washed_part = washed
        return
    into.quantity += washed.quantity
    into.proceeds += washed.proceeds
    into.cost_basis += washed.cost_basis
    into.adjusted_basis += washed.adjusted_basis
    into.wash_sale_disallowed += washed.wash_sale_disallowed
    into.permanently_disallowed += washed.permanently_disallowed
    if washed.replacement_lot_ids[0] not in into.replacement_lot_ids:
        into.replacement_lot_ids += washed.replacement_lot_ids
    if washed is portion:  # its last shares: the portion lives on only in the sum
        portions = sale.portions
        del portions[_index(portions, portion)]


def _index(portions: list[_Portion], portion: _Portion) -> int:
    # By identity: portions compare by value, and two may be equal.
    return next(i for i, p in enumerate(portions) if p is portion)


def _merged_rows(portions: list[_Portion], lot_order: Callable[[str], int]) -> list[SaleRow]:
    """Return the rows of one sale: its pieces summed by lot, holding period and washed-ness.

    Rows come in the order the sale relieved their parcels; a summed row lists its replacement
    lots in the order they were matched (acquisition).
    """
    pieces: dict[tuple[tuple[str, date], bool], list[_Portion]] = {}
    slots: dict[tuple[str, date], int] = {}  # (lot, holding period) -> order of relief
    for p in portions:
        slot = (p.lot_id, p.holding_period_start)
        if slot not in slots:
            slots[slot] = len(slots)
        key = (slot, p.wash_sale_disallowed > ZERO)
        same = pieces.get(key)
        if same is None:
            pieces[key] = [p]
        else:
            same.append(p)
    rows = []
    for _key, same in sorted(pieces.items(), key=lambda item: slots[item[0][0]]):
        first = same[0]
        if len(same) == 1:
            rows.append(first.freeze())
            continue
        quantity = proceeds = cost = basis = disallowed = permanent = ZERO
        ids: dict[str, None] = {}
        for p in same:
            quantity += p.quantity
            proceeds += p.proceeds
            cost += p.cost_basis
            basis += p.adjusted_basis
            disallowed += p.wash_sale_disallowed
            permanent += p.permanently_disallowed
            ids.update(dict.fromkeys(p.replacement_lot_ids))
        rows.append(
            new_tuple(
                SaleRow,
                (
                    first.lot_id,
                    first.account,
                    first.account_type,
                    first.symbol,
                    quantity,
                    first.acquired,
                    first.holding_period_start,
                    first.date_sold,
                    proceeds,
                    cost,
                    basis,
                    disallowed,
                    permanent,
                    term_of(first.holding_period_start, first.date_sold),
                    tuple(sorted(ids, key=lot_order)),
                    first.seq,
                ),
            )
        )
    return rows


def _split_portion(portion: _Portion, qty: Decimal) -> _Portion:
    """Split `qty` shares off `portion` into a new portion; `portion` keeps the rest."""
    proceeds = share(portion.proceeds, qty, portion.quantity)
    cost = share(portion.cost_basis, qty, portion.quantity)
    adjusted = share(portion.adjusted_basis, qty, portion.quantity)
    part = _Portion(  # positional, in field order
        portion.lot_id,
        portion.account,
        portion.account_type,
        portion.symbol,
        qty,
        portion.acquired,
        portion.holding_period_start,
        portion.date_sold,
        proceeds,
        cost,
        adjusted,
        portion.seq,
        ZERO,
        ZERO,
        (),
        portion.share_factor,
    )
    portion.quantity -= qty
    portion.proceeds -= proceeds
    portion.cost_basis -= cost
    portion.adjusted_basis -= adjusted
    return part


def _check_trade(t: Trade) -> None:
    if not t.quantity > ZERO:
        raise LedgerError(f"quantity must be greater than 0 (got {t.quantity})", field="quantity")
    if t.price < ZERO:
        raise LedgerError(f"price must not be negative (got {t.price})", field="price")
    if t.fees < ZERO:
        raise LedgerError(f"fees must not be negative (got {t.fees})", field="fees")


def event_order(event: LedgerEvent) -> tuple[date, datetime, int]:
    """Return the key the ledger orders events by: date, then timestamp, then source order."""
    day, at = event.trade_date, event.at
    # `event.instant`, without its two calls for the plain dates of most histories.
    return (day, midnight(day) if at is None else instant_of(day, at), event.seq)


def _carve(parcel: Parcel, qty: Decimal, *, replacement_used: bool, part: int) -> Parcel:
    """Return `qty` shares of `parcel`, with their share of its cost and wash adjustment, as a
    new parcel of its own (numbered `part`); `parcel` keeps the rest."""
    held = parcel.quantity
    if qty == held:
        cost, adjustment = parcel.cost, parcel.wash_adjustment
        parcel.cost = parcel.wash_adjustment = parcel.quantity = ZERO
    else:
        cost = share(parcel.cost, qty, held)
        adjustment = share(parcel.wash_adjustment, qty, held)
        parcel.cost -= cost
        parcel.wash_adjustment -= adjustment
        parcel.quantity = held - qty
    parcel.basis_per_share = None
    return Parcel(  # positional, in field order
        parcel.lot_id,
        parcel.account,
        parcel.account_type,
        parcel.symbol,
        qty,
        cost,
        parcel.acquired,
        parcel.holding_period_start,
        parcel.acquired_at,
        parcel.seq,
        adjustment,
        replacement_used,
        parcel.source,
        None,
        part,
    )


def _may_replace(candidate: Parcel, earliest: date, day: date) -> bool:
    """Return whether `candidate` may replace shares sold at a loss on `day`: held, bought
    from `earliest` (the window's first day) up to the sale, not yet a replacement."""
    return (
        candidate.quantity > ZERO
        and not candidate.replacement_used
        and earliest <= candidate.acquired <= day
    )
