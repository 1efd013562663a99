"""`[index]`: direct indexing — hold an index's stocks one by one and harvest them singly.

Off unless `weights` is set. `weights` is ``"equal"`` (equal weights over `universe`) or a
file: a CSV ``symbol,weight[,sector]`` or the holdings CSV that iShares and SPDR publish
(`daemon.index_weights` documents the layouts accepted). `sectors` optionally names a CSV
``symbol,sector`` (e.g. the S&P constituents list) for weights that carry none.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field

from adapters.settings_types import Section, Text

Share = Annotated[Decimal, Field(ge=0, le=1, allow_inf_nan=False)]
Usd = Annotated[Decimal, Field(ge=0, le=Decimal("1e12"), allow_inf_nan=False)]


class IndexSettings(Section):
    """The index target, its tracking-error budget and the rebalance that keeps to it."""

    weights: Text | None = None
    universe: tuple[Text, ...] = ()
    sectors: Text | None = None
    exclude: tuple[Text, ...] = ()
    account: Text | None = None  # the account holding the index (default: the broker's own)
    cash_buffer: Share = Decimal("0.005")  # of the portfolio's value, kept in cash
    min_trade_usd: Usd = Decimal("50")
    fractional: bool = True
    completion: Text | None = None  # a fund holding the part of the index not held directly
    max_tracking_error: Share = Decimal("0.01")  # ex-ante, annualised
    rebalance: Literal["daily", "weekly", "monthly"] = "weekly"
    name_band: Share = Decimal("0.005")  # |weight - target| per name, absolute
    sector_band: Share = Decimal("0.03")  # |weight - target| per sector, absolute
    trading_cost_bps: Annotated[Decimal, Field(ge=0, le=1000, allow_inf_nan=False)] = Decimal(5)
    # λ, the weight of the ex-ante tracking error's square against tax and trading cost.
    risk_aversion: Annotated[Decimal, Field(gt=0, le=1_000_000, allow_inf_nan=False)] = Decimal(10)
    # The share of a loss's tax value the rebalance counts (0: harvesting is left to the
    # per-lot trigger of `[harvest]`; the rebalance still sells loss lots first).
    loss_credit: Share = Decimal(0)
    risk_window_days: Annotated[int, Field(ge=20, le=2520)] = 252
    risk_factors: Annotated[int, Field(ge=1, le=200)] = 20

    @property
    def enabled(self) -> bool:
        """Return whether direct indexing is configured."""
        return self.weights is not None
