"""The price-dependent lot-matching methods of Interactive Brokers' Tax Optimizer.

IB's definitions (https://www.ibkrguides.com/taxoptimizer/ibto/lotmatchingmethods.htm; the
methods are listed on https://www.interactivebrokers.com/en/trading/tax-optimizer.php):

* Maximize Long Term Gain: maximize long-term gain per share; if no long-term gain, maximize
  short-term gain per share; if no gain, realize and minimize short-term loss per share; if no
  short-term loss, realize and minimize long-term loss per share.
* Maximize Long Term Loss: long-term loss (largest first), short-term loss (largest first),
  short-term gain (smallest first), long-term gain (smallest first).
* Maximize Short Term Gain: short-term gain (largest), long-term gain (largest), long-term loss
  (smallest), short-term loss (smallest).
* Maximize Short Term Loss: short-term loss (largest), long-term loss (largest), long-term gain
  (smallest), short-term gain (smallest).

At one sale price every step of a gain method ranks by ascending basis per share (the largest
gain and the smallest loss are both the lowest basis) and every step of a loss method by
descending basis, so a block's rank is (step, signed basis per share). Where IB is silent
(break-even blocks, ties, the price and holding period used) see convention 8 in
`ledger.conventions`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

from ledger.conventions import LotMethod
from ledger.holding import term_of
from ledger.model import Term

Rank = tuple[int, Decimal]
"""A block's place in a sale's relief: (step of the method, signed basis per share)."""

_GAIN, _LOSS = True, False
# Per method: its four steps as (term, gain?) in IB's order, and whether it maximizes gains.
_STEPS: dict[LotMethod, tuple[tuple[tuple[Term, bool], ...], bool]] = {
    LotMethod.MAX_LT_GAIN: (
        ((Term.LONG, _GAIN), (Term.SHORT, _GAIN), (Term.SHORT, _LOSS), (Term.LONG, _LOSS)),
        True,
    ),
    LotMethod.MAX_LT_LOSS: (
        ((Term.LONG, _LOSS), (Term.SHORT, _LOSS), (Term.SHORT, _GAIN), (Term.LONG, _GAIN)),
        False,
    ),
    LotMethod.MAX_ST_GAIN: (
        ((Term.SHORT, _GAIN), (Term.LONG, _GAIN), (Term.LONG, _LOSS), (Term.SHORT, _LOSS)),
        True,
    ),
    LotMethod.MAX_ST_LOSS: (
        ((Term.SHORT, _LOSS), (Term.LONG, _LOSS), (Term.LONG, _GAIN), (Term.SHORT, _GAIN)),
        False,
    ),
}

PRICE_RANKED = frozenset(_STEPS)
"""The methods whose relief order depends on the sale's price and date."""


def relief_rank(
    method: LotMethod, price: Decimal, date_sold: date
) -> Callable[[Decimal, date], Rank]:
    """Return the rank of a block under `method` in a sale at net `price` a share on
    `date_sold`, given the block's adjusted basis per share and holding-period start.

    Blocks are relieved lowest rank first. A break-even block is neither a gain nor a loss: it
    goes to the "minimize" step of its term, where it ranks first (convention 8).
    """
    steps, maximizes_gain = _STEPS[method]
    index = {kind: i for i, kind in enumerate(steps)}
    terms: dict[date, Term] = {}  # a position's blocks share few holding-period starts

    def rank(basis_per_share: Decimal, holding_period_start: date) -> Rank:
        term = terms.get(holding_period_start)
        if term is None:
            term = terms[holding_period_start] = term_of(holding_period_start, date_sold)
        if maximizes_gain:
            return index[(term, price > basis_per_share)], basis_per_share
        return index[(term, price >= basis_per_share)], -basis_per_share

    return rank
