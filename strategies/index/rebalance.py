"""Tax-aware rebalancing toward the index target: one convex problem over the whole portfolio.

Minimise ex-ante tracking error plus the tax cost of the lots sold plus trading cost, subject
to long-only, the budget, the wash-sale lockouts as bounds, and per-name and per-sector bands
(cvxpy, an open solver). The formulation and how it relates to Moehle, Kochenderfer, Boyd &
Ang (JOTA 2021) are in the README.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ledger.conventions import LotMethod
from ledger.model import Action
from strategies.index.book import Book
from strategies.index.risk import RiskModel
from strategies.index.target import IndexTarget


class PlanError(ValueError):
    """No plan meets the constraints (the message says which, and by how much)."""


@dataclass(frozen=True, slots=True)
class RebalanceParams:
    """What the configuration decides (`[index]`, `[tax]`, the broker's lot relief)."""

    max_tracking_error: float = 0.01
    name_band: float = 0.005
    sector_band: float = 0.03
    min_trade_usd: Decimal = Decimal(50)
    fractional: bool = True
    cash_buffer: Decimal = Decimal("0.005")
    trading_cost_bps: float = 5.0
    short_term_rate: float = 0.37
    long_term_rate: float = 0.20
    specific_lots: bool = True  # False: the broker relieves lots by `lot_method`
    lot_method: LotMethod = LotMethod.FIFO


@dataclass(frozen=True, slots=True)
class PlannedTrade:
    """One order of a plan: `quantity` shares of `symbol` at about `price`; for a sale,
    `lot_ids` are the lots it relieves, in order (empty for a buy)."""

    symbol: str
    side: Action
    quantity: Decimal
    price: Decimal
    lot_ids: tuple[str, ...] = ()
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RebalancePlan:
    """The trades (sales first), the ex-ante tracking error before and after, the estimated
    tax of the sales (negative: a saving), the cash left, and notes (why a trade was left out)."""

    trades: tuple[PlannedTrade, ...]
    tracking_error_before: float
    tracking_error_after: float
    tax_cost: Decimal
    cash_after: Decimal
    notes: tuple[str, ...] = ()


def plan_rebalance(
    book: Book, target: IndexTarget, risk: RiskModel, params: RebalanceParams
) -> RebalancePlan:
    """Return the tax-aware trades that bring `book` toward `target` (cash above the buffer is
    invested, underweights first). Raise `PlanError` when no plan meets the constraints."""
    raise NotImplementedError


def plan_raise(book: Book, cash: Decimal, params: RebalanceParams) -> RebalancePlan:
    """Return the sales that raise `cash` at the least tax per dollar (losses first)."""
    raise NotImplementedError
