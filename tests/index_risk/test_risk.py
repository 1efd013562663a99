"""The risk model (issue #12 §2): scikit-learn's Ledoit–Wolf shrunk covariance of daily
returns, annualised, in factor form; ex-ante tracking error ``sqrt(dᵀΣd)``; never looking
ahead."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.covariance import LedoitWolf

from strategies.index.returns import ReturnsWindow
from strategies.index.risk import DEFAULT_VOLATILITY, MIN_OBSERVATIONS, TRADING_DAYS, estimate

from .riskkit import feed, load_days, sector_slice, synthetic_returns

AS_OF = date(2024, 6, 28)
PROPERTY = settings(max_examples=100, deadline=None)
RETURNS, SYMBOLS, _ = synthetic_returns(252, (6, 5, 4))
MODEL = estimate(RETURNS, SYMBOLS, AS_OF, factors=5)


def _dense() -> np.ndarray:
    return LedoitWolf().fit(RETURNS).covariance_ * TRADING_DAYS


def test_with_every_factor_it_is_the_dense_ledoit_wolf_covariance() -> None:
    """factors = names: loadingsᵀloadings + diag(specific²) is sklearn's LedoitWolf
    covariance ×252, and the tracking error is sqrt(dᵀΣd) of it."""
    full = estimate(RETURNS, SYMBOLS, AS_OF, factors=len(SYMBOLS))
    dense = _dense()
    np.testing.assert_allclose(full.covariance(), dense, rtol=1e-9, atol=1e-12)
    active = np.random.default_rng(1).normal(0.0, 0.01, len(SYMBOLS))
    assert full.tracking_error(active) == pytest.approx(np.sqrt(active @ dense @ active))


def _reference_te(returns: np.ndarray, k: int, active: np.ndarray) -> float:
    """The tracking error of the k leading eigenvectors of sklearn's dense LedoitWolf
    covariance ×252 plus its diagonal residual, computed the plain way."""
    dense = LedoitWolf().fit(returns).covariance_ * TRADING_DAYS
    values, vectors = np.linalg.eigh(dense)
    loadings = (vectors[:, -k:] * np.sqrt(values[-k:])).T
    specific = np.sqrt(np.clip(np.diag(dense) - np.sum(loadings**2, axis=0), 0.0, None))
    return float(np.sqrt(np.sum((loadings @ active) ** 2) + np.sum((specific * active) ** 2)))


@pytest.mark.parametrize(("days", "k"), [(252, 5), (60, 10)])
def test_the_factors_are_the_leading_components_of_ledoit_wolf(days: int, k: int) -> None:
    """With fewer factors than names the model is the k leading eigenvectors of the dense
    Ledoit–Wolf covariance plus the diagonal residual, whether there are more days than
    names (15 names, a year) or fewer (100 names, 60 days)."""
    returns, symbols, _ = synthetic_returns(days, (40, 30, 30) if days < 100 else (6, 5, 4))
    model = estimate(returns, symbols, AS_OF, factors=k)
    rng = np.random.default_rng(2)
    for _ in range(5):
        active = rng.normal(0.0, 0.01, len(symbols))
        assert model.tracking_error(active) == pytest.approx(
            _reference_te(returns, k, active), rel=1e-9
        )


def test_the_factor_form_keeps_every_name_s_variance() -> None:
    """With fewer factors the diagonal residual makes up each name's variance exactly; only
    the covariances beyond the leading factors are dropped."""
    np.testing.assert_allclose(np.diag(MODEL.covariance()), np.diag(_dense()), rtol=1e-9)
    assert MODEL.loadings.shape == (5, len(SYMBOLS))
    assert MODEL.as_of == AS_OF


def test_the_tracking_error_of_no_active_weight_is_zero() -> None:
    """Holdings equal to the target have no tracking error."""
    assert MODEL.tracking_error(np.zeros(len(SYMBOLS))) == 0.0


@PROPERTY
@given(
    active=st.lists(st.floats(-0.05, 0.05), min_size=15, max_size=15),
    scale=st.floats(-100.0, 100.0),
)
def test_the_tracking_error_scales_linearly(active: list[float], scale: float) -> None:
    """TE(c·d) = |c|·TE(d): tracking error is a norm of the active weights."""
    d = np.array(active)
    assert MODEL.tracking_error(scale * d) == pytest.approx(
        abs(scale) * MODEL.tracking_error(d), rel=1e-9, abs=1e-15
    )


def test_a_model_as_of_a_day_is_unchanged_by_the_days_after_it() -> None:
    """No look-ahead: two histories equal up to day d and different afterwards give the same
    model as of d when each is fed day by day and estimated on d."""
    shared_past = RETURNS[:151]  # prices of days 0..150
    models = []
    for seed in (1, 2):
        future = np.random.default_rng(seed).normal(0.0, 0.02, (101, len(SYMBOLS)))
        prices = 100.0 * np.cumprod(1.0 + np.vstack([shared_past, future]), axis=0)
        window = ReturnsWindow(120)
        for i, row in enumerate(prices):
            window.add_day(AS_OF + timedelta(days=i), dict(zip(SYMBOLS, row, strict=True)))
            if i == 150:
                returns, as_of = window.matrix(SYMBOLS)
                assert as_of is not None
                models.append(estimate(returns, SYMBOLS, as_of))
    first, second = models
    assert first.as_of == second.as_of == AS_OF + timedelta(days=150)
    np.testing.assert_array_equal(first.covariance(), second.covariance())


@pytest.mark.parametrize("factors", [3, len(SYMBOLS)])
def test_a_name_with_too_few_returns_gets_the_average_variance_and_no_covariance(
    factors: int,
) -> None:
    """A name with fewer than MIN_OBSERVATIONS returns (listed days ago) counts as typical
    idiosyncratic risk: the mean variance of the others, uncorrelated with them, never 0."""
    returns = RETURNS.copy()
    returns[: -(MIN_OBSERVATIONS - 1), 0] = np.nan
    model = estimate(returns, SYMBOLS, AS_OF, factors=factors)
    covariance = model.covariance()
    others = LedoitWolf().fit(RETURNS[:, 1:]).covariance_ * TRADING_DAYS
    assert covariance[0, 0] == pytest.approx(np.mean(np.diag(others)))
    np.testing.assert_allclose(covariance[0, 1:], 0.0, atol=1e-12)
    np.testing.assert_allclose(np.diag(covariance)[1:], np.diag(others), rtol=1e-9)


def test_without_enough_history_every_name_gets_the_pooled_variance() -> None:
    """The first weeks of a backtest: no name has MIN_OBSERVATIONS returns, so each gets the
    variance of all the returns there are, uncorrelated; before any return, the default."""
    returns = RETURNS[: MIN_OBSERVATIONS - 1]
    model = estimate(returns, SYMBOLS, AS_OF)
    pooled = np.var(returns, ddof=1) * TRADING_DAYS
    np.testing.assert_allclose(model.covariance(), np.eye(len(SYMBOLS)) * pooled, rtol=1e-9)
    empty = estimate(np.empty((0, 2)), ("A", "B"), AS_OF)
    np.testing.assert_allclose(empty.specific, [DEFAULT_VOLATILITY] * 2)


def test_a_name_listed_during_the_window_keeps_its_variance() -> None:
    """A name with returns on only the last 60 of 252 days has about the variance of those
    days (missing days are not counted as days without movement)."""
    returns = RETURNS.copy()
    returns[:192, 0] = np.nan
    model = estimate(returns, SYMBOLS, AS_OF, factors=len(SYMBOLS))
    observed = np.var(RETURNS[192:, 0]) * TRADING_DAYS
    assert model.covariance()[0, 0] == pytest.approx(observed, rel=0.2)


def test_weights_embed_in_the_model_s_order() -> None:
    """`vector` places each weight at its symbol's `index`; a name outside `weights` is 0."""
    vector = MODEL.vector({SYMBOLS[3]: 0.25, SYMBOLS[0]: 0.5})
    assert MODEL.index(SYMBOLS[3]) == 3
    assert vector[0] == 0.5
    assert vector[3] == 0.25
    assert vector.sum() == 0.75


def test_weights_of_a_name_the_model_lacks_are_refused() -> None:
    """A holding the model has no estimate for cannot be given a tracking error silently."""
    with pytest.raises(KeyError, match="lacks ZZZ"):
        MODEL.vector({"ZZZ": 0.1, SYMBOLS[0]: 0.9})


def test_real_one_name_off_portfolio_has_a_plausible_tracking_error() -> None:
    """sp500_1999_2021, 2019, the Information Technology, Financials and Health Care names
    equally weighted: holding MSFT instead of AAPL (one name in about 200 off, 0.5 % weight)
    costs a tracking error of about w·σ(AAPL - MSFT), i.e. well under 1 %/yr but not zero;
    holding JPM instead costs more than holding MSFT."""
    symbols = sector_slice(("Information Technology", "Financials", "Health Care"))
    days = load_days(symbols, date(2018, 12, 31), date(2019, 12, 31))
    window = ReturnsWindow(252)
    for day in days:
        feed(window, day)
    returns, as_of = window.matrix(symbols)
    assert as_of == date(2019, 12, 31)
    model = estimate(returns, symbols, as_of)
    w = 1.0 / len(symbols)
    to_msft = model.vector({"AAPL": -w, "MSFT": w})
    to_jpm = model.vector({"AAPL": -w, "JPM": w})
    assert 0.0002 < model.tracking_error(to_msft) < 0.01
    assert model.tracking_error(to_msft) < model.tracking_error(to_jpm)
