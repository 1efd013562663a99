"""Value types of the ledger: accounts, trades, corporate actions, lots and sale rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

ZERO = Decimal(0)

# Builds a named tuple from a tuple of its fields, skipping the Python-level `__new__` that a
# call to the class runs: `new_tuple(SaleRow, (...))`. For the few places that build millions.
new_tuple = tuple.__new__


class AccountType(StrEnum):
    """Kind of account; tax-advantaged accounts wash losses permanently (Rev. Rul. 2008-5)."""

    TAXABLE = "taxable"
    IRA = "ira"
    ROTH_IRA = "roth_ira"
    K401 = "401k"
    HSA = "hsa"

    @property
    def tax_advantaged(self) -> bool:
        """Return whether gains and losses in this account are outside the taxable return."""
        return self is not AccountType.TAXABLE


class Action(StrEnum):
    """Direction of a trade."""

    BUY = "BUY"
    SELL = "SELL"


class Term(StrEnum):
    """Holding-period class of a sale."""

    SHORT = "short"
    LONG = "long"


def instant_of(day: date, at: datetime | None = None) -> datetime:
    """Return the ordering instant of a trade: its timestamp, or midnight UTC of its date."""
    if at is not None:
        return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return midnight(day)


@lru_cache(maxsize=65536)
def midnight(day: date) -> datetime:
    """Return midnight UTC of `day` (the instant of a trade known only by its date)."""
    return datetime.combine(day, time(0), tzinfo=UTC)


class Trade(NamedTuple):
    """One BUY or SELL as it happened (a fill, or a row of an imported history).

    `trade_date` is the date as written by the source (the tax date); `at` is the full timestamp
    when known. Trades are applied in (`instant`, `seq`) order, so rows with equal timestamps keep
    their source order. `lot_id` names the new lot on a BUY (generated when None) and the lot to
    relieve on a SELL (specific identification; else the account's lot-relief method).
    `fees` are added to cost on a BUY and deducted from proceeds on a SELL.

    Immutable; a named tuple rather than a frozen dataclass because histories hold millions
    of them and a frozen dataclass takes five times as long to build (use `_replace`).
    """

    seq: int
    trade_date: date
    account: str
    action: Action
    symbol: str
    quantity: Decimal
    price: Decimal
    fees: Decimal = ZERO
    lot_id: str | None = None
    at: datetime | None = None
    source: str = ""

    @property
    def instant(self) -> datetime:
        """Return the instant used to order this trade among others."""
        return instant_of(self.trade_date, self.at)


class _Dated:
    """An event ordered among trades by its date and, when known, its timestamp."""

    __slots__ = ()
    trade_date: date
    at: datetime | None

    @property
    def instant(self) -> datetime:
        """Return the instant used to order this event among trades."""
        return instant_of(self.trade_date, self.at)


@dataclass(frozen=True, slots=True)
class Split(_Dated):
    """A stock split (or reverse split): every lot of `symbol` gets `ratio` times the shares.

    Basis and holding period are unchanged; per-share basis divides by `ratio`.
    """

    seq: int
    trade_date: date
    symbol: str
    ratio: Decimal
    at: datetime | None = None
    source: str = ""

    def same_as(self, other: Split) -> bool:
        """Return whether `other` is this split as another source reports it: the same
        symbol and ratio, dated within `SPLIT_MATCH_DAYS` (a calendar's ex-date, a broker's
        booking or pay date, a statement's date)."""
        return (
            self.symbol == other.symbol
            and self.ratio == other.ratio
            and abs(self.trade_date - other.trade_date) <= timedelta(days=SPLIT_MATCH_DAYS)
        )


SPLIT_MATCH_DAYS = 5
"""How many days apart two reports of one split may be dated (`Split.same_as`)."""

SPLIT_DENOMINATOR_MAX = 1000
"""The largest q of a ratio p/q that `split_shares` recognises in its `Decimal`."""


def split_shares(quantity: Decimal, ratio: Decimal) -> Decimal:
    """Return `quantity` shares after a split (or conversion) of `ratio` new shares per old.

    A ratio such as 4:3 has no exact `Decimal`: it arrives as 4 / 3 to 28 digits, and
    3 × 1.333…3 is 3.999…9 where the broker holds 4. When `ratio` is such a division p / q
    (`ratio_division`), the shares are `quantity` × p / q, exact whenever the result is
    (whole shares stay whole), else correctly rounded; an exact ratio multiplies.
    """
    fraction = ratio_division(ratio)
    if fraction is None:
        return quantity * ratio
    p, q = fraction
    return quantity * p / q


@lru_cache(maxsize=1024)
def ratio_division(ratio: Decimal) -> tuple[int, int] | None:
    """Return (p, q), q <= `SPLIT_DENOMINATOR_MAX`, when `ratio` is p / q rounded to the
    context's digits, a ratio no decimal holds (4/3); None when `ratio` is exact (2, 1.5,
    0.1) or no such division."""
    exact = Fraction(ratio)
    simple = exact.limit_denominator(SPLIT_DENOMINATOR_MAX)
    p, q = simple.numerator, simple.denominator
    if simple == exact or Decimal(p) / Decimal(q) != ratio:
        return None
    return p, q


@dataclass(frozen=True, slots=True)
class Conversion(_Dated):
    """Every lot of `symbol` in `account` becomes a lot of `new_symbol`, `ratio` new shares per old.

    A symbol or CUSIP change, or a stock-for-stock merger (a reorganization, IRC §368): no gain
    or loss is recognized (§354), the new shares take the old ones' basis (§358) and holding
    period (§1223(1)). Each lot keeps its id, cost, acquisition date, holding period and wash
    adjustments; only its symbol and share count change. Cash received in the same exchange
    (boot, cash in lieu of a fraction) is a separate sale.
    """

    seq: int
    trade_date: date
    account: str
    symbol: str
    new_symbol: str
    ratio: Decimal
    at: datetime | None = None
    source: str = ""


@dataclass(frozen=True, slots=True)
class SpinOff(_Dated):
    """`quantity` shares of `new_symbol` distributed on the shares of `symbol` held in `account`.

    A tax-free distribution (IRC §355): the parent's basis is allocated between the parent and
    the distributed shares in proportion to their fair market values (§358(c), Reg.
    §1.358-2(a)(2)); `basis_fraction` is the part that moves to the new shares (the issuer
    publishes it on Form 8937). Every parent lot gives a new lot with the parent's acquisition
    date and holding period (§1223(1)); the new shares are shared among the lots in proportion
    to their shares.
    """

    seq: int
    trade_date: date
    account: str
    symbol: str
    new_symbol: str
    quantity: Decimal
    basis_fraction: Decimal
    at: datetime | None = None
    source: str = ""


@dataclass(frozen=True, slots=True)
class Transfer(_Dated):
    """`quantity` shares of `symbol` leave `account` without a sale (an ACATS transfer, a journal).

    Nothing is realised: a transfer of securities in kind is no sale or exchange (IRC §1001(a)
    needs one), so it makes no sale row. The shares are relieved as a sale would relieve them
    (the lot `lot_id`, else the account's lot method; the Tax Optimizer methods, which rank by
    a sale's price, relieve in FIFO order). With `to_account` (another account of the
    household, of the same kind: taxable, or tax-advantaged) the same parcels arrive there
    with their cost, acquisition date, holding period and wash adjustments; without it they
    leave the ledger. The wash-sale state that goes with them is described at
    `Ledger._transfer`.
    """

    seq: int
    trade_date: date
    account: str
    symbol: str
    quantity: Decimal
    to_account: str | None = None
    lot_id: str | None = None
    at: datetime | None = None
    source: str = ""


CorporateAction = Conversion | SpinOff
LedgerEvent = Trade | Split | Conversion | SpinOff | Transfer


@dataclass(slots=True)
class Parcel:
    """A block of shares of one lot with one basis adjustment and holding period.

    A lot (one BUY, one `lot_id`) starts as one parcel; wash sales split it when only some of its
    shares serve as replacement shares. `cost` is the original cost (fees included) of this
    parcel's shares; `wash_adjustment` the disallowed losses added to its basis.
    """

    lot_id: str
    account: str
    account_type: AccountType
    symbol: str
    quantity: Decimal
    cost: Decimal
    acquired: date
    holding_period_start: date
    acquired_at: datetime
    seq: int
    wash_adjustment: Decimal = ZERO
    replacement_used: bool = False
    source: str = ""
    # Adjusted basis per share, cached for HIFO relief; the ledger resets it to None whenever
    # it changes the parcel's quantity, cost or adjustment.
    basis_per_share: Decimal | None = field(default=None, compare=False, repr=False)
    # Order among the parcels split off the same lot (0: the lot's unwashed remainder, which
    # stays last); HIFO breaks ties in this order.
    part: int = field(default=0, compare=False, repr=False)

    @property
    def adjusted_basis(self) -> Decimal:
        """Return cost plus the wash-sale basis adjustment."""
        return self.cost + self.wash_adjustment


@dataclass(frozen=True, slots=True)
class OpenLot:
    """An open position row of the report: one parcel of a lot still held."""

    lot_id: str
    account: str
    account_type: AccountType
    symbol: str
    quantity: Decimal
    acquired: date
    holding_period_start: date
    cost_basis: Decimal
    adjusted_basis: Decimal
    source: str = ""


class SaleRow(NamedTuple):
    """One portion of a sale relieving one lot, split further where only part is washed.

    `wash_sale_disallowed` is positive (Form 8949 column g) and includes
    `permanently_disallowed`, the part whose replacement sits in a tax-advantaged account and so
    raises no basis (Rev. Rul. 2008-5). ``gain_loss = proceeds - adjusted_basis +
    wash_sale_disallowed`` (Form 8949 column h). `reportable` is False for sales inside
    tax-advantaged accounts, which belong on no Form 8949. A named tuple, as `Trade` is.
    """

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
    wash_sale_disallowed: Decimal
    permanently_disallowed: Decimal
    term: Term
    replacement_lot_ids: tuple[str, ...] = ()
    seq: int = 0

    @property
    def gain_loss(self) -> Decimal:
        """Return Form 8949 column (h): proceeds - basis + disallowed loss."""
        return self.proceeds - self.adjusted_basis + self.wash_sale_disallowed

    @property
    def reportable(self) -> bool:
        """Return whether this sale belongs on Form 8949 (not inside an IRA, 401k or HSA)."""
        return not self.account_type.tax_advantaged

    @property
    def washed(self) -> bool:
        """Return whether part of this row's loss is disallowed by the wash-sale rule."""
        return self.wash_sale_disallowed > ZERO
