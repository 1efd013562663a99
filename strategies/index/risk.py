"""The risk model: a Ledoit–Wolf shrunk covariance of daily returns, in factor form.

The covariance is estimated (scikit-learn's `LedoitWolf`) from the returns of the window
before the day it is used (never looking ahead), then held as its leading principal
components plus a diagonal residual, so that the optimiser's problem stays sparse.

Missing returns (a name listed during the window, a day without a close): each name's returns
are demeaned over the days it has, and the missing days count as its mean (0 after
demeaning); a name seen on n of the T days has its demeaned returns scaled by sqrt(T / n), so
that its variance is that of the days it has. A name with fewer than `MIN_OBSERVATIONS`
returns gets no covariance with the others and the average variance of the names that have
enough: unknown risk counts as typical idiosyncratic risk, never as none. When no name has
enough (the first weeks of a backtest), every name gets the pooled variance of the returns
there are, or, with none at all, `DEFAULT_VOLATILITY`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import numpy as np
import numpy.typing as npt
from scipy.linalg import eigh
from sklearn.covariance import ledoit_wolf_shrinkage

TRADING_DAYS = 252
MIN_OBSERVATIONS = 20
DEFAULT_VOLATILITY = 0.30  # annualised; about a typical S&P 500 stock's
Array = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True, eq=False)
class RiskModel:
    """Annualised covariance as ``loadings.T @ loadings + diag(specific**2)`` over `symbols`.

    `loadings` is (factors × names), `specific` (names,); `as_of` is the last day whose
    return went into the estimate.
    """

    symbols: tuple[str, ...]
    loadings: Array
    specific: Array
    as_of: date
    positions: Mapping[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "positions", {s: i for i, s in enumerate(self.symbols)})

    def index(self, symbol: str) -> int:
        """Return `symbol`'s position in `symbols` (KeyError when the model lacks it)."""
        return self.positions[symbol]

    def missing(self, symbols: Iterable[str]) -> tuple[str, ...]:
        """Return those of `symbols` that the model lacks, sorted."""
        return tuple(sorted(s for s in symbols if s not in self.positions))

    def vector(self, weights: Mapping[str, float | Decimal]) -> Array:
        """Return `weights` as a vector ordered as `symbols` (0 for a name not in `weights`).
        Raise `KeyError` naming the symbols of `weights` that the model lacks."""
        lacking = self.missing(weights)
        if lacking:
            raise KeyError(f"risk model as of {self.as_of} lacks {', '.join(lacking)}")
        vector = np.zeros(len(self.symbols))
        for symbol, weight in weights.items():
            vector[self.positions[symbol]] = float(weight)
        return vector

    def covariance(self) -> Array:
        """Return the dense annualised covariance (names × names)."""
        dense: Array = self.loadings.T @ self.loadings + np.diag(self.specific**2)
        return dense

    def tracking_error(self, active: Array) -> float:
        """Return the annualised ex-ante tracking error of `active` weights (holdings minus
        target, ordered as `symbols`)."""
        factor = self.loadings @ active
        residual = self.specific * active
        return float(np.sqrt(factor @ factor + residual @ residual))


def estimate(returns: Array, symbols: tuple[str, ...], as_of: date, factors: int = 20) -> RiskModel:
    """Return the model of daily `returns` (days × names; NaN where a name has no return)."""
    days, names = returns.shape
    if names != len(symbols):
        raise ValueError(f"returns have {names} columns for {len(symbols)} symbols")
    observed = np.isfinite(returns)
    counts = observed.sum(axis=0)
    enough = counts >= MIN_OBSERVATIONS
    loadings = np.zeros((0, names))
    variance = np.zeros(names)
    if enough.any():
        centred = _centred(returns[:, enough], observed[:, enough], counts[enough], days)
        factor_loadings, variance[enough] = _ledoit_wolf_factors(centred, factors)
        variance[~enough] = np.mean(variance[enough])
        loadings = np.zeros((factor_loadings.shape[0], names))
        loadings[:, enough] = factor_loadings
    elif observed.sum() >= 2:
        variance[:] = np.var(returns[observed], ddof=1)
    else:
        variance[:] = DEFAULT_VOLATILITY**2 / TRADING_DAYS
    loadings *= np.sqrt(TRADING_DAYS)
    variance *= TRADING_DAYS
    specific = np.sqrt(np.clip(variance - np.sum(loadings**2, axis=0), 0.0, None))
    return RiskModel(symbols, loadings, specific, as_of)


def _centred(returns: Array, observed: Mask, counts: Array, days: int) -> Array:
    """Return the returns demeaned per name, missing days at 0, each name scaled to the
    variance of its observed days."""
    filled = np.where(observed, returns, 0.0)
    means = filled.sum(axis=0) / counts
    centred: Array = np.where(observed, filled - means, 0.0) * np.sqrt(days / counts)
    return centred


def _ledoit_wolf_factors(centred: Array, factors: int) -> tuple[Array, Array]:
    """Return the `factors` leading principal components of scikit-learn's Ledoit–Wolf
    covariance of `centred` (``LedoitWolf(assume_centered=True)``: the sample covariance S
    shrunk toward its mean variance μ, ``(1 - δ) S + δ μ I``) as loadings (factors × names),
    and the covariance's diagonal.

    The shrunk covariance has S's eigenvectors, so they come from the smaller of S and the
    days' Gram matrix; only when every component is asked for is the dense matrix built."""
    days, names = centred.shape
    shrinkage = float(ledoit_wolf_shrinkage(centred, assume_centered=True))
    sample_variance = np.sum(centred**2, axis=0) / days
    mu = float(np.mean(sample_variance))
    k = min(factors, names)
    if k < 1:
        values, vectors = np.zeros(0), np.zeros((names, 0))
    elif k >= min(days, names):
        shrunk = (1.0 - shrinkage) * (centred.T @ centred / days)
        shrunk.flat[:: names + 1] += shrinkage * mu
        values, vectors = eigh(shrunk, subset_by_index=[names - k, names - 1])
    elif days < names:
        gram = centred @ centred.T / days
        values, left = eigh(gram, subset_by_index=[days - k, days - 1])
        with np.errstate(invalid="ignore", divide="ignore"):
            vectors = np.nan_to_num(centred.T @ left / np.sqrt(days * values))
        values = (1.0 - shrinkage) * values + shrinkage * mu
    else:
        values, vectors = eigh(centred.T @ centred / days, subset_by_index=[names - k, names - 1])
        values = (1.0 - shrinkage) * values + shrinkage * mu
    loadings: Array = (vectors * np.sqrt(np.clip(values, 0.0, None))).T[::-1].copy()
    return loadings, (1.0 - shrinkage) * sample_variance + shrinkage * mu
