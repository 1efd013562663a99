"""The backtest's `--json` figures (issue #12 §6), each definition on a series small enough to
compute by hand; the module docstring of `daemon.backtest_metrics` states the definitions,
after Chaudhuri, Burnham & Lo, "An Empirical Evaluation of Tax-Loss Harvesting Alpha", FAJ 2020.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from daemon.backtest_metrics import summary_keys
from daemon.backtest_series import DaySample
from tests.index_report.serieskit import series, two_years, weekdays

CONTRACT_KEYS = {
    "invested",
    "final_value",
    "benchmark_final_value",
    "harvested_loss_pct_of_invested",
    "tax_alpha_annual",
    "tracking_error_realized",
    "tracking_error_ex_ante_max",
    "turnover_annual",
    "years",
}
YEAR_KEYS = {"year", "harvested_loss", "harvested_loss_pct", "tax_alpha", "tracking_error"}


def years(out: dict[str, object]) -> list[dict[str, object]]:
    """Return the summary's `years` list."""
    found = out["years"]
    assert isinstance(found, list)
    return found


def test_the_contract_keys_are_all_there_with_decimals_as_strings() -> None:
    """#12 §6: `--json` adds these keys, and the years' objects have exactly these keys."""
    out = summary_keys(two_years())

    assert out.keys() >= CONTRACT_KEYS
    assert all(set(y) == YEAR_KEYS for y in years(out))
    assert out["invested"] == "1200.00"
    assert out["final_value"] == "1300.00"
    assert out["benchmark_final_value"] == "1320.00"


def test_tax_alpha_of_a_year_is_its_tax_benefit_over_start_value_and_half_its_deposits() -> None:
    """2020: B = −(−100 × 0.40 + 50 × 0.20) = 30 over 1,000 + 200 / 2 → 30 / 1,100;
    2021: B = −(−100 × 0.20) = 20 over the 1,300 it started with → 20 / 1,300."""
    out = summary_keys(two_years())

    assert [(y["year"], y["tax_alpha"]) for y in years(out)] == [
        (2020, "0.027273"),
        (2021, "0.015385"),
    ]
    assert out["tax_benefit"] == "50.00"


def test_tax_alpha_annual_is_the_mean_of_whole_years() -> None:
    """Two whole years: (30 / 1,100 + 20 / 1,300) / 2 = 0.0213287."""
    assert summary_keys(two_years())["tax_alpha_annual"] == "0.021329"


def test_a_partial_year_counts_for_its_share_of_weekdays() -> None:
    """2021-07-01..2021-12-31 is 132 of 2021's 261 weekdays; B = 100 × 0.40 = 40 on 1,000 is
    0.04 in the half year, 0.04 × 261 / 132 = 0.0790909 a year."""
    out = summary_keys(
        series(
            DaySample(date(2021, 7, 1), Decimal(1000), Decimal(1000), Decimal(1000)),
            DaySample(
                date(2021, 12, 31),
                Decimal(950),
                Decimal(1000),
                Decimal(1000),
                harvested_loss=Decimal(100),
                realized_short=Decimal(-100),
            ),
        )
    )

    assert years(out)[0]["tax_alpha"] == "0.040000"
    assert out["years_covered"] == "0.505747"  # 132 / 261
    assert out["tax_alpha_annual"] == "0.079091"


def test_harvested_losses_against_money_invested_and_each_years_start() -> None:
    """250 harvested of 1,200 invested; 2020: 150 of the 1,000 it started with, 2021: the
    100 more of the 1,300 it started with."""
    out = summary_keys(two_years())

    assert out["harvested_loss_pct_of_invested"] == "0.208333"
    assert [(y["harvested_loss"], y["harvested_loss_pct"]) for y in years(out)] == [
        ("150.00", "0.150000"),
        ("100.00", "0.076923"),
    ]


def test_realised_tracking_error_removes_deposits_from_returns() -> None:
    """Differences 0, +0.01 and −0.01 (the third day's 100 deposit is no return: portfolio
    (1,120 − 100) / 1,020 − 1 = 0, benchmark (1,120.10 − 100) / 1,010 − 1 = 0.01); their
    sample standard deviation is 0.01, × √252 = 0.158745."""
    d1, d2, d3 = weekdays(date(2021, 3, 1), 3)
    out = summary_keys(
        series(
            DaySample(d1, Decimal(1000), Decimal(1000), Decimal(1000)),
            DaySample(d2, Decimal(1020), Decimal(1010), Decimal(1000)),
            DaySample(d3, Decimal(1120), Decimal("1120.10"), Decimal(1100)),
        )
    )

    assert out["tracking_error_realized"] == "0.158745"
    assert years(out)[0]["tracking_error"] == "0.158745"


def test_tracking_error_of_a_year_uses_that_years_days() -> None:
    """2020 moves with its benchmark (0); 2021's differences are +0.01 (0.02 − 0.01) and −0.01
    (−0.01 − 0): their standard deviation is √(0.0002 / 1) = 0.0141421, × √252 = 0.224499."""
    days = [date(2020, 12, 30), date(2020, 12, 31), date(2021, 1, 4), date(2021, 1, 5)]
    values = [(1000, 1000), (1010, 1010), (1030.2, 1020.1), (1019.898, 1020.1)]
    samples = [
        DaySample(d, Decimal(str(v)), Decimal(str(b)), Decimal(1000))
        for d, (v, b) in zip(days, values, strict=True)
    ]

    out = summary_keys(series(*samples))

    assert [y["tracking_error"] for y in years(out)] == ["0.000000", "0.224499"]


def test_ex_ante_tracking_error_is_the_largest_sampled_or_null() -> None:
    """The largest of 0.012 and 0.009; null when the risk model never gave one (ETF pairs)."""
    assert summary_keys(two_years())["tracking_error_ex_ante_max"] == "0.012000"
    day = DaySample(date(2021, 3, 1), Decimal(1000), Decimal(1000), Decimal(1000))
    assert summary_keys(series(day))["tracking_error_ex_ante_max"] is None


def test_turnover_is_half_the_notional_over_mean_value_per_year() -> None:
    """(4,000 / 2) / mean(1,000, 1,300, 1,300) = 2,000 / 1,200, over 2 years = 0.833333."""
    assert summary_keys(two_years())["turnover_annual"] == "0.833333"


def test_after_tax_excess_reinvests_each_years_benefit_in_the_benchmark() -> None:
    """2020's 30 grows with the benchmark's 2021 return (1,320 / 1,200 = 1.1) to 33, 2021's 20
    is paid at the end: (1,300 + 33 + 20) / 1,320 = 1.025 over 2 years, √1.025 − 1 = 0.0124228;
    before tax √(1,300 / 1,320) − 1 = −0.0076047."""
    out = summary_keys(two_years())

    assert out["after_tax_excess_annual"] == "0.012423"
    assert out["pre_tax_excess_annual"] == "-0.007605"


def test_excess_over_less_than_a_year_is_not_annualised() -> None:
    """GIPS: a return for less than a year is not annualised. Half a year, 40 of benefit
    paid at the end: (950 + 40) / 1,000 − 1 = −0.01."""
    out = summary_keys(
        series(
            DaySample(date(2021, 7, 1), Decimal(1000), Decimal(1000), Decimal(1000)),
            DaySample(
                date(2021, 12, 31),
                Decimal(950),
                Decimal(1000),
                Decimal(1000),
                realized_short=Decimal(-100),
            ),
        )
    )

    assert out["after_tax_excess_annual"] == "-0.010000"
    assert out["pre_tax_excess_annual"] == "-0.050000"


def test_no_samples_gives_zero_money_and_null_ratios() -> None:
    """An empty backtest (no day in the period): nothing invested, nothing measurable."""
    out = summary_keys(series())

    assert out["invested"] == out["final_value"] == out["benchmark_final_value"] == "0.00"
    assert out["years"] == []
    for key in CONTRACT_KEYS - {"invested", "final_value", "benchmark_final_value", "years"}:
        assert out[key] is None, key


def test_one_day_has_figures_but_no_tracking_error() -> None:
    """One day is one return: no standard deviation; its year covers 1 of 2021's 261 weekdays."""
    out = summary_keys(
        series(DaySample(date(2021, 3, 1), Decimal(1010), Decimal(1000), Decimal(1000)))
    )

    assert out["tracking_error_realized"] is None
    assert out["years"] == [
        {
            "year": 2021,
            "harvested_loss": "0.00",
            "harvested_loss_pct": "0.000000",
            "tax_alpha": "0.000000",
            "tracking_error": None,
        }
    ]
    assert out["years_covered"] == "0.003831"  # 1 / 261


def test_zero_values_give_null_ratios_not_errors() -> None:
    """Nothing invested yet: no ratio has a denominator."""
    out = summary_keys(
        series(
            DaySample(date(2021, 3, 1), Decimal(0), Decimal(0), Decimal(0)),
            DaySample(date(2021, 3, 2), Decimal(0), Decimal(0), Decimal(0)),
        )
    )

    assert out["harvested_loss_pct_of_invested"] is None
    assert out["tax_alpha_annual"] is None
    assert out["tracking_error_realized"] is None
    assert out["turnover_annual"] is None
    assert out["after_tax_excess_annual"] is None


def test_a_day_after_everything_was_withdrawn_has_no_return() -> None:
    """All 1,000 withdrawn, then 500 deposited: the deposit day has no return (nothing before
    it to earn one); the other days moved with the benchmark."""
    d1, d2, d3 = weekdays(date(2021, 3, 1), 3)
    out = summary_keys(
        series(
            DaySample(d1, Decimal(1000), Decimal(1000), Decimal(1000)),
            DaySample(d2, Decimal(0), Decimal(0), Decimal(0)),
            DaySample(d3, Decimal(500), Decimal(510), Decimal(500)),
        )
    )

    assert out["tracking_error_realized"] == "0.000000"


money = st.decimals(min_value=1, max_value=10**7, places=2)
flows = st.decimals(min_value=0, max_value=10**5, places=2)


@st.composite
def paths(draw: st.DrawFn) -> list[tuple[date, Decimal, Decimal, Decimal]]:
    """Random weekdays (over a year end) with a value, a benchmark value and money invested."""
    days = weekdays(date(2020, 12, 20), draw(st.integers(min_value=1, max_value=20)))
    invested = Decimal(0)
    out = []
    for day in days:
        invested += draw(flows)
        out.append((day, draw(money), draw(money), max(invested, Decimal(1))))
    return out


@given(paths())
def test_no_realised_gain_or_loss_means_no_tax_alpha(
    path: list[tuple[date, Decimal, Decimal, Decimal]],
) -> None:
    """Invariant: the benefit comes only from realised net losses (CBL's definition)."""
    out = summary_keys(series(*(DaySample(d, v, b, i) for d, v, b, i in path)))

    assert out["tax_alpha_annual"] == "0.000000"
    assert {y["tax_alpha"] for y in years(out)} == {"0.000000"}
    assert out["tax_benefit"] == "0.00"


@given(paths())
def test_a_portfolio_equal_to_its_benchmark_has_no_tracking_error(
    path: list[tuple[date, Decimal, Decimal, Decimal]],
) -> None:
    """Invariant: identical values give identical returns, whatever the deposits."""
    out = summary_keys(series(*(DaySample(d, v, v, i) for d, v, _, i in path)))

    assert out["tracking_error_realized"] in {"0.000000", None}
    assert {y["tracking_error"] for y in years(out)} <= {"0.000000", None}


@given(
    st.lists(flows, min_size=2, max_size=30),
    st.decimals(min_value="-0.05", max_value="0.05", places=4),
    st.decimals(min_value="-0.05", max_value="0.05", places=4),
)
def test_deposits_do_not_create_returns(
    deposits: list[Decimal], growth: Decimal, bench_growth: Decimal
) -> None:
    """Invariant: a portfolio earning a constant daily return against a benchmark earning
    another has a constant difference (no tracking error), whatever is deposited each day."""
    start = Decimal(10_000)
    first, *days = weekdays(date(2021, 3, 1), len(deposits) + 1)
    value, bench, invested = start * (1 + growth), start * (1 + bench_growth), start
    samples = [DaySample(first, value, bench, invested)]
    for day, deposit in zip(days, deposits, strict=True):
        invested += deposit
        value = value * (1 + growth) + deposit
        bench = bench * (1 + bench_growth) + deposit
        samples.append(DaySample(day, value, bench, invested))

    assert summary_keys(series(*samples))["tracking_error_realized"] == "0.000000"
