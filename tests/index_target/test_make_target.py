"""`make_target`: excluded names' weight spread pro rata, weights normalised to exactly 1.

Issue #12 §1: "weights need not sum to 1: normalise"; "exclude = [...] (stocks the user will
not hold; their weight is spread over the rest)"; "An optional completion fund ... holding the
part of the index not held directly".
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strategies.index.target import WEIGHT_QUANTUM, TargetError, make_target

D = Decimal


def test_weights_of_any_scale_are_normalised() -> None:
    """Percentages summing to 80 become fractions summing to 1, in proportion."""
    target = make_target({"AAPL": D(40), "MSFT": D(30), "XOM": D(10)}, {}, source="t")
    assert target.weights == {"AAPL": D("0.5"), "MSFT": D("0.375"), "XOM": D("0.125")}


def test_an_excluded_name_s_weight_is_spread_pro_rata() -> None:
    """Excluding XOM (20 %) scales the others by 1/0.8: their proportions are unchanged."""
    raw = {"AAPL": D("0.5"), "MSFT": D("0.3"), "XOM": D("0.2")}
    target = make_target(raw, {}, exclude={"XOM"}, source="t")
    assert target.weights == {"AAPL": D("0.625"), "MSFT": D("0.375")}
    assert "XOM" not in target.weights
    assert target.weight("XOM") == 0


def test_the_largest_weight_absorbs_the_rounding_residue() -> None:
    """Thirds do not divide in decimal: two get the rounded-down third, the first of the
    largest gets the rest, and the sum is exactly 1."""
    target = make_target({"A": D(1), "B": D(1), "C": D(1)}, {}, source="equal")
    third = D(1 / D(3)).quantize(WEIGHT_QUANTUM, rounding="ROUND_DOWN")
    assert target.weights == {"A": D(1) - 2 * third, "B": third, "C": third}
    assert sum(target.weights.values()) == 1


def test_excluded_weight_goes_to_the_completion_fund() -> None:
    """With `completion`, the fund holds the excluded names' part of the index."""
    raw = {"AAPL": D("0.5"), "MSFT": D("0.3"), "XOM": D("0.2")}
    target = make_target(raw, {}, exclude={"XOM"}, source="t", completion="VTI")
    assert target.weights == {"AAPL": D("0.5"), "MSFT": D("0.3"), "VTI": D("0.2")}
    assert target.completion == "VTI"


def test_a_completion_fund_with_nothing_to_hold_is_not_in_the_weights() -> None:
    """Nothing excluded: the fund's weight is 0 and it is left out of `weights`."""
    target = make_target({"AAPL": D(1)}, {}, source="t", completion="VTI")
    assert target.weights == {"AAPL": D(1)}
    assert target.weight("VTI") == 0


def test_zero_weights_are_left_out() -> None:
    """A name of weight 0 (a rights line in a fund's holdings) is not part of the target."""
    target = make_target({"AAPL": D(1), "RIGHTS": D(0)}, {}, source="t")
    assert target.symbols == ("AAPL",)


def test_sector_weights_sum_each_sector() -> None:
    """`sector_weights` totals each sector; names without a sector gather under ""."""
    raw = {"AAPL": D(2), "MSFT": D(2), "JPM": D(3), "ZZZ": D(1)}
    sectors = {"AAPL": "Information Technology", "MSFT": "Information Technology"}
    target = make_target(raw, {**sectors, "JPM": "Financials"}, source="t")
    assert target.sector_weights() == {
        "": D("0.125"),
        "Financials": D("0.375"),
        "Information Technology": D("0.5"),
    }
    assert target.in_sector("Information Technology") == ("AAPL", "MSFT")
    assert target.sector("ZZZ") == ""


@pytest.mark.parametrize(
    ("raw", "exclude", "message"),
    [
        ({}, set(), "the universe is empty"),
        ({"AAPL": D(1), "MSFT": D(2)}, {"AAPL", "MSFT"}, "every name is excluded"),
        ({"AAPL": D(0), "MSFT": D(0)}, set(), "sum to 0"),
        ({"AAPL": D(1), "MSFT": D(-1)}, set(), "MSFT: weight must be a number ≥ 0"),
        ({"AAPL": D("NaN")}, set(), "AAPL: weight must be a number ≥ 0"),
    ],
    ids=["empty", "all-excluded", "zero-total", "negative", "nan"],
)
def test_a_target_that_cannot_be_made_says_why(
    raw: dict[str, Decimal], exclude: set[str], message: str
) -> None:
    """Issue #12 §8: an empty universe is a clear error, and so is nothing left to hold."""
    with pytest.raises(TargetError, match=message):
        make_target(raw, {}, exclude=exclude, source="t")


symbols = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=5)
weights = st.decimals(min_value=D("0.000001"), max_value=D(1_000_000), places=6)


@given(st.dictionaries(symbols, weights, min_size=1, max_size=60), st.data())
def test_any_positive_weights_sum_exactly_to_one(
    raw: dict[str, Decimal], data: st.DataObject
) -> None:
    """Any positive weights, any names excluded (not all): the weights sum to exactly 1, the
    excluded names are absent, the file's order is kept and so is the weights' order."""
    names = list(raw)
    exclude = set(data.draw(st.lists(st.sampled_from(names), max_size=len(names) - 1)))
    target = make_target(raw, {}, exclude=exclude, source="t")
    kept = [s for s in names if s not in exclude]
    assert sum(target.weights.values()) == 1
    assert list(target.weights) == kept
    assert not exclude & set(target.weights)
    for a in kept:
        for b in kept:
            if raw[a] < raw[b]:
                assert target.weights[a] <= target.weights[b]
    total = sum(raw[s] for s in kept)
    for s in kept:  # each within a rounding of its exact share
        assert abs(target.weights[s] - raw[s] / total) <= len(kept) * WEIGHT_QUANTUM
