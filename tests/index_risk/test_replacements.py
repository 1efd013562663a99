"""Replacements for a harvested stock (issue #12 §3): the names that keep the ex-ante tracking
error lowest, not blocked (the caller's `allowed`: wash guard and substantial identity),
within the sold name's sector first, none above the tracking-error budget."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.index.replacements import rank_replacements, split_replacement
from strategies.index.returns import ReturnsWindow
from strategies.index.risk import RiskModel, estimate
from strategies.index.target import IndexTarget

from .riskkit import feed, load_days, sector_slice, sectors, synthetic_returns

AS_OF = date(2024, 6, 28)
PROPERTY = settings(max_examples=100, deadline=None)
RETURNS, SYMBOLS, SECTORS = synthetic_returns(252, (6, 5, 4))
MODEL = estimate(RETURNS, SYMBOLS, AS_OF, factors=5)
EQUAL = IndexTarget(
    weights={s: Decimal(1) / len(SYMBOLS) for s in SYMBOLS}, sectors=SECTORS, source="test"
)
HELD = {s: float(w) for s, w in EQUAL.weights.items()}
BUDGET = 0.05  # 15 names of 6.7 % each: one name off costs about 2 %/yr


def _everything(_: str) -> bool:
    return True


def _te_after(sold: str, to: str, held: Mapping[str, float], risk: RiskModel) -> float:
    """The tracking error once `sold`'s weight moves to `to`, computed densely."""
    active = risk.vector(held) - risk.vector(EQUAL.weights)
    active[risk.index(to)] += held[sold]
    active[risk.index(sold)] -= held[sold]
    return risk.tracking_error(active)


def test_a_harvest_is_replaced_within_its_sector() -> None:
    """Every candidate for S0N0 is another sector0 name, lowest tracking error first, each
    with the tracking error the move leaves."""
    ranking = rank_replacements(
        "S0N0", HELD, EQUAL, MODEL, allowed=_everything, budget=BUDGET, max_names=5
    )
    assert ranking.reason == ""
    assert [s for s, _ in ranking.candidates] == sorted(
        (s for s in SYMBOLS if SECTORS[s] == "sector0" and s != "S0N0"),
        key=lambda s: _te_after("S0N0", s, HELD, MODEL),
    )
    for symbol, te in ranking.candidates:
        assert te == pytest.approx(_te_after("S0N0", symbol, HELD, MODEL), rel=1e-9)
    assert ranking.tracking_error_before == pytest.approx(0.0, abs=1e-12)


def test_at_most_max_names_are_ranked() -> None:
    """`max_names` bounds the list."""
    ranking = rank_replacements("S0N0", HELD, EQUAL, MODEL, allowed=_everything, budget=BUDGET)
    assert len(ranking.candidates) == 3


def test_other_sectors_replace_when_no_name_of_the_sector_is_allowed() -> None:
    """With every other sector0 name blocked, the best names of the other sectors are ranked."""
    ranking = rank_replacements(
        "S0N0", HELD, EQUAL, MODEL, allowed=lambda s: SECTORS[s] != "sector0", budget=BUDGET
    )
    assert ranking.candidates
    assert all(SECTORS[s] != "sector0" for s, _ in ranking.candidates)


def test_other_sectors_replace_when_every_sector_name_exceeds_the_budget() -> None:
    """A1's sector holds only A2, which moves opposite to it; B1 moves with A1: the budget
    leaves A2 out and B1 in."""
    model = RiskModel(("A1", "A2", "B1"), np.array([[0.2, -0.2, 0.2]]), np.full(3, 0.01), AS_OF)
    target = IndexTarget(
        weights={"A1": Decimal("0.3"), "A2": Decimal("0.3"), "B1": Decimal("0.4")},
        sectors={"A1": "a", "A2": "a", "B1": "b"},
        source="test",
    )
    held = {"A1": 0.3, "A2": 0.3, "B1": 0.4}
    ranking = rank_replacements("A1", held, target, model, allowed=_everything, budget=0.01)
    assert [s for s, _ in ranking.candidates] == ["B1"]
    assert ranking.candidates[0][1] == pytest.approx(0.3 * 0.01 * np.sqrt(2))


def test_no_replacement_within_the_budget_says_so() -> None:
    """When every candidate exceeds the budget the ranking is empty and its reason gives the
    best tracking error reachable and the budget (the harvest is not made)."""
    ranking = rank_replacements("S0N0", HELD, EQUAL, MODEL, allowed=_everything, budget=1e-5)
    best = min(_te_after("S0N0", s, HELD, MODEL) for s in SYMBOLS if s != "S0N0")
    assert ranking.candidates == ()
    assert ranking.reason.startswith("tracking_error: ")
    assert f"{best:.4%}" in ranking.reason
    assert "0.0010%" in ranking.reason


def test_no_allowed_name_says_so() -> None:
    """Nothing may be bought: an empty ranking and the reason."""
    ranking = rank_replacements("S0N0", HELD, EQUAL, MODEL, allowed=lambda _: False, budget=1.0)
    assert ranking.candidates == ()
    assert ranking.reason.startswith("no_candidate: ")


def test_a_holding_the_model_lacks_makes_no_ranking() -> None:
    """The tracking error of weights the model has no estimate for is unknown: no ranking,
    the reason names the names (a held one, a target one)."""
    held = {**HELD, "NEW": 0.01, "GONE": 0.0}
    target = IndexTarget({**EQUAL.weights, "LATER": Decimal("0.01")}, SECTORS, "test")
    ranking = rank_replacements("S0N0", held, target, MODEL, allowed=_everything, budget=1.0)
    assert ranking.candidates == ()
    assert ranking.reason == "risk_model: no estimate for LATER, NEW"


@st.composite
def _situations(draw: st.DrawFn) -> tuple[str, dict[str, float], set[str], float]:
    """A sold name, holdings drifted from the target, the names allowed, a budget."""
    sold = draw(st.sampled_from(SYMBOLS))
    drift = draw(st.lists(st.floats(0.5, 1.5), min_size=len(SYMBOLS), max_size=len(SYMBOLS)))
    held = {s: w * d for (s, w), d in zip(HELD.items(), drift, strict=True)}
    allowed = {s for s in SYMBOLS if draw(st.booleans())}
    budget = draw(st.floats(0.0, 0.05))
    return sold, held, allowed, budget


@PROPERTY
@given(situation=_situations())
def test_the_ranking_keeps_every_rule(
    situation: tuple[str, dict[str, float], set[str], float],
) -> None:
    """Never a disallowed name or the sold one, never above the budget; the first candidate
    has the lowest tracking error of the allowed names of the sold name's sector within the
    budget, or, when there is none, of the allowed names of the other sectors."""
    sold, held, allowed, budget = situation
    ranking = rank_replacements(
        sold, held, EQUAL, MODEL, allowed=allowed.__contains__, budget=budget
    )
    names = {s: _te_after(sold, s, held, MODEL) for s in allowed - {sold}}
    feasible = {s: te for s, te in names.items() if te <= budget}
    in_sector = {s: te for s, te in feasible.items() if SECTORS[s] == SECTORS[sold]}
    pool = in_sector or feasible
    assert all(s in allowed and s != sold for s, _ in ranking.candidates)
    assert all(te <= budget for _, te in ranking.candidates)
    if not pool:
        assert ranking.candidates == ()
        assert ranking.reason.split(":")[0] == ("tracking_error" if names else "no_candidate")
        return
    first, te = ranking.candidates[0]
    assert first in pool
    assert te == pytest.approx(min(pool.values()), rel=1e-9, abs=1e-12)
    assert [t for _, t in ranking.candidates] == sorted(t for _, t in ranking.candidates)


def test_real_harvest_replaces_within_sector_under_the_budget() -> None:
    """sp500_1999_2021, model as of 2019-12-31 on the Information Technology, Financials and
    Health Care names, equally weighted: AAPL harvested while MSFT is locked out by the wash
    guard is replaced by another Information Technology name, within the 1 % budget."""
    symbols = sector_slice(("Information Technology", "Financials", "Health Care"))
    window = ReturnsWindow(252)
    for day in load_days(symbols, date(2018, 12, 31), date(2019, 12, 31)):
        feed(window, day)
    returns, as_of = window.matrix(symbols)
    assert as_of is not None
    model = estimate(returns, symbols, as_of)
    sector_of = sectors()
    target = IndexTarget(
        weights={s: Decimal(1) / len(symbols) for s in symbols},
        sectors={s: sector_of[s] for s in symbols},
        source="test",
    )
    held = {s: float(w) for s, w in target.weights.items()}
    ranking = rank_replacements(
        "AAPL", held, target, model, allowed=lambda s: s != "MSFT", budget=0.01
    )
    assert ranking.candidates
    assert all(sector_of[s] == "Information Technology" for s, _ in ranking.candidates)
    assert "MSFT" not in dict(ranking.candidates)
    assert ranking.candidates[0][1] < 0.01


def test_a_split_spreads_the_sold_weight_within_the_sector() -> None:
    """Spread over up to three allowed names of the sector, the sold weight leaves a
    tracking error no higher than the best single name's, and all of it is reinvested."""
    allowed = {"S0N1", "S0N2", "S0N3", "S0N4", "S1N0"}.__contains__
    split = split_replacement("S0N0", HELD, EQUAL, MODEL, allowed=allowed, budget=BUDGET)
    single = rank_replacements("S0N0", HELD, EQUAL, MODEL, allowed=allowed, budget=BUDGET)
    assert split.reason == ""
    assert 1 <= len(split.weights) <= 3
    assert all(SECTORS[s] == "sector0" and allowed(s) for s, _ in split.weights)
    assert sum(w for _, w in split.weights) == pytest.approx(HELD["S0N0"])
    assert all(w > 0 for _, w in split.weights)
    assert split.tracking_error <= single.candidates[0][1] + 1e-12
    spread = MODEL.vector(HELD) - MODEL.vector(EQUAL.weights)
    spread[MODEL.index("S0N0")] = -HELD["S0N0"]
    for symbol, w in split.weights:
        spread[MODEL.index(symbol)] += w
    assert split.tracking_error == pytest.approx(MODEL.tracking_error(spread))


@PROPERTY
@given(situation=_situations(), max_names=st.integers(1, 4))
def test_a_split_is_never_worse_than_the_best_single_name(
    situation: tuple[str, dict[str, float], set[str], float], max_names: int
) -> None:
    """Whatever the holdings, the names allowed and the budget: the split uses at most
    `max_names` ranked names, reinvests the sold weight, and its tracking error is at most
    the first candidate's; with no candidate it is empty with the ranking's reason."""
    sold, held, allowed, budget = situation
    split = split_replacement(
        sold, held, EQUAL, MODEL, allowed=allowed.__contains__, budget=budget, max_names=max_names
    )
    ranking = rank_replacements(
        sold, held, EQUAL, MODEL, allowed=allowed.__contains__, budget=budget, max_names=20
    )
    if not ranking.candidates:
        assert split.weights == ()
        assert split.reason == ranking.reason
        return
    assert len(split.weights) <= max_names
    assert {s for s, _ in split.weights} <= {s for s, _ in ranking.candidates}
    assert sum(w for _, w in split.weights) == pytest.approx(held[sold])
    assert split.tracking_error <= ranking.candidates[0][1] + 1e-12


def test_a_name_of_unknown_sector_is_replaced_from_any_sector() -> None:
    """A sold name without a sector ("") has no sector to stay in: the best names of the
    whole target are ranked."""
    target = IndexTarget(EQUAL.weights, {**SECTORS, "S0N0": ""}, "test")
    ranking = rank_replacements(
        "S0N0", HELD, target, MODEL, allowed=_everything, budget=BUDGET, max_names=20
    )
    best = sorted((_te_after("S0N0", s, HELD, MODEL), s) for s in SYMBOLS if s != "S0N0")
    assert [s for s, _ in ranking.candidates] == [s for te, s in best if te <= BUDGET]
