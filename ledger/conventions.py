"""Named choices on points the wash-sale law does not settle (rules file, part 2).

Each field is one convention; the README ("The wash-sale rule, and the conventions tlh chose")
explains every choice and its alternative. Tests that depend on a convention say which one they
assume.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class HoldingPeriodMethod(StrEnum):
    """How the sold shares' holding period is added to the replacement's (IRC §1223(3)).

    ``tack``: replacement acquired date minus the days the sold shares were held (the broker
    practice recorded by Scottrade and both open-source calculators; it may count overlapping
    days twice when the replacement was bought before the sale). ``original_date``: the sold
    shares' (adjusted) holding-period start. Either way the replacement never loses the days it
    was held itself.
    """

    TACK = "tack"
    ORIGINAL_DATE = "original_date"


class LotMethod(StrEnum):
    """How a sale without a named lot picks the shares it relieves.

    ``fifo``, ``lifo``; ``hifo``: highest adjusted basis per share first (Interactive Brokers
    calls it "Highest Cost": the largest loss, else the smallest gain, at any one sale price).
    The ``max_*`` values are the price-dependent methods of Interactive Brokers' Tax Optimizer,
    each a precedence of four classes of lots by term and by gain or loss per share at the
    sale's price (`ledger.relief`; https://www.ibkrguides.com/taxoptimizer/ibto/lotmatchingmethods.htm):
    ``max_lt_gain`` "Maximize Long Term Gain", ``max_lt_loss`` "Maximize Long Term Loss",
    ``max_st_gain`` "Maximize Short Term Gain", ``max_st_loss`` "Maximize Short Term Loss".
    """

    FIFO = "fifo"
    LIFO = "lifo"
    HIFO = "hifo"
    MAX_LT_GAIN = "max_lt_gain"
    MAX_LT_LOSS = "max_lt_loss"
    MAX_ST_GAIN = "max_st_gain"
    MAX_ST_LOSS = "max_st_loss"


@dataclass(frozen=True, slots=True)
class WashSaleConventions:
    """The wash-sale conventions in force; the defaults are tlh's documented choices.

    - `holding_period`: see `HoldingPeriodMethod` (convention 1). Default: tack.
    - `own_lot_replaces`: whether unsold shares of the very purchase lot being sold count as its
      replacement shares (convention 2). Default False (Fairmark; both calculators).
    - `crypto_wash_sales`: whether digital assets are subject to §1091. Default False: in the
      sources read they are not "stock or securities".
    - `window_days`: the days before and after the sale, inclusive (§1091(a): 30).

    Fixed choices, documented rather than configurable (README, conventions table):

    - 3: shares held at the moment of the loss sale are replacements even if sold later that
      day (as adlr's calculator since 2016).
    - 4: replacements are the shares held at the moment of the loss sale or bought after it:
      shares sold before that moment, on an earlier day or earlier the same day (by timestamp,
      else file order), are never replacements, so no loss travels backwards. Valloric's
      tracker, which also refuses backwards replacements, decides by date instead.
    - 5: replacement shares are matched strictly in order of acquisition, ties in source order
      (Pub 550's "beginning with the first shares bought").
    - 6: losses take replacement shares in the order of the sales (Reg. §1.1091-1(b)); the
      order of sales of one day is their timestamps, else their order in the file, taken as the
      order of sale (the alternative for same-day losses with no known order, by original
      acquisition, is not used).
    - 7: within one lot, the blocks that carry a wash adjustment (replacement shares, in the
      order they were washed) come before its plain remainder: a sale by FIFO or naming the lot
      relieves them first, and relieved first they are matched (washed) first. They hold the
      earliest holding periods of the lot (tacked). LIFO takes the lot's blocks in reverse;
      HIFO ranks blocks by adjusted basis per share, the remainder last among equals. The
      Tax Optimizer methods (``max_*``) rank each block by its own term (its tacked holding
      period) and its gain or loss per share, then by adjusted basis per share, the remainder
      last among equals (convention 8).
    - 8: the Tax Optimizer methods (``max_*``, `ledger.relief`) follow IB's four-step
      precedence; where IB's text is silent tlh chooses: a block's gain or loss per share is
      the sale's net price (price less fees per share) minus its adjusted basis per share; a
      block at exactly break-even is neither a gain nor a loss, so it never falls in a
      "maximize" step and ranks first in the "minimize" step of its term; equal blocks go in
      acquisition order; blocks are ranked as they stood when the sale was made (basis and
      holding period before the washes that sale causes), as for HIFO. IB shows lot prices
      without same-day wash sales; tlh counts the washes of earlier sales of that day.
    """

    holding_period: HoldingPeriodMethod = HoldingPeriodMethod.TACK
    own_lot_replaces: bool = False
    crypto_wash_sales: bool = False
    window_days: int = 30
