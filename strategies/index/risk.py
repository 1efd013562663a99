"""The risk model: a Ledoit–Wolf shrunk covariance of daily returns, in factor form.

The covariance is estimated (scikit-learn's `LedoitWolf`) from the returns of the window
before the day it is used (never looking ahead), then held as its leading principal
components plus a diagonal residual, so that the optimiser's problem stays sparse.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

TRADING_DAYS = 252
Array = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class RiskModel:
    """Annualised covariance as ``loadings.T @ loadings + diag(specific**2)`` over `symbols`.

    `loadings` is (factors × names), `specific` (names,); `as_of` is the last day whose
    return went into the estimate.
    """

    symbols: tuple[str, ...]
    loadings: Array
    specific: Array
    as_of: date

    def tracking_error(self, active: Array) -> float:
        """Return the annualised ex-ante tracking error of `active` weights (holdings minus
        target, ordered as `symbols`)."""
        raise NotImplementedError


def estimate(returns: Array, symbols: tuple[str, ...], as_of: date, factors: int = 20) -> RiskModel:
    """Return the model of daily `returns` (days × names; NaN where a name has no return)."""
    raise NotImplementedError
