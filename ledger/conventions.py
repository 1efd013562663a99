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
    """How a sale without a named lot picks the shares it relieves."""

    FIFO = "fifo"
    LIFO = "lifo"
    HIFO = "hifo"


@dataclass(frozen=True, slots=True)
class WashSaleConventions:
    """The wash-sale conventions in force; the defaults are tlh's documented choices.

    - `holding_period`: see `HoldingPeriodMethod` (convention 1). Default: tack.
    - `own_lot_replaces`: whether unsold shares of the very purchase lot being sold count as its
      replacement shares (convention 2). Default False (Fairmark; both calculators).
    - `crypto_wash_sales`: whether digital assets are subject to §1091. Default False: in the
      sources read they are not "stock or securities".
    - `window_days`: the days before and after the sale, inclusive (§1091(a): 30).

    Fixed choices, documented rather than configurable: a lot already fully disposed of before
    the loss sale is never its replacement (convention 4, as Valloric's tracker); shares held at
    the moment of the loss sale are replacements even if sold later that day (convention 3, as
    adlr's calculator since 2016); replacement shares are matched strictly in order of
    acquisition, ties in source order (convention 5; Pub 550's "beginning with the first shares
    bought").
    """

    holding_period: HoldingPeriodMethod = HoldingPeriodMethod.TACK
    own_lot_replaces: bool = False
    crypto_wash_sales: bool = False
    window_days: int = 30
