"""Turn a backtest's day samples into its `--json` figures: tax alpha, tracking error, turnover.

The definitions (the README's "How tax alpha is measured" says the same; the report's Method
section prints `METHOD`). They follow Chaudhuri, Burnham & Lo, "An Empirical Evaluation of
Tax-Loss Harvesting Alpha", Financial Analysts Journal 76(3), 2020: realised net losses are
worth the tax they save at the investor's rates, because they offset other gains of the
investor; the benchmark is the same index bought and held, which realises nothing.

- Start and flows. The account starts as cash equal to the first sample's `invested`; a day's
  flow is the change of `invested` (deposits less withdrawals), made at that day's close.
- Daily return, deposits removed: r_t = (V_t − flow_t) / V_{t−1} − 1, the same for the
  benchmark with its own values; a day after a value of zero or less has no return.
- Calendar year y: its start value S_y is the value at the last close before y (the first year:
  the money invested at the start); D_y its net deposits; ΔST_y and ΔLT_y the year's net
  realised short- and long-term gains (negative: losses), after wash-sale adjustments.
- Tax benefit B_y = −(ΔST_y × short-term rate + ΔLT_y × long-term rate): positive when the year
  realised net losses, negative (a tax cost) when it realised net gains. Dividends are taxed
  alike on both sides and left out.
- Tax alpha of year y: B_y / (S_y + D_y / 2), the year's benefit over the money it worked on
  (deposits counted for half the year); a partial year's figure is not annualised.
- `tax_alpha_annual`: Σ_y tax alpha_y / Σ_y f_y, where f_y is the share of year y the backtest
  covers (weekdays covered / weekdays of the year): the mean of the yearly tax alphas, each
  annualised and weighted by its share of a year. `years_covered` = Σ_y f_y.
- `after_tax_excess_annual`: (W_P / W_B)^(1 / years_covered) − 1, where W_B is the benchmark's
  final value and W_P = the portfolio's final value + Σ_y B_y × the benchmark's growth from the
  year's last close to the end (each year's benefit, paid at the year's last close, is invested
  in the benchmark). No liquidation at the end: neither side sells, so neither pays tax on its
  unrealised gain (harvesting lowers the portfolio's basis, so liquidating would give back part
  of the benefit). `pre_tax_excess_annual` is the same without the benefit. A backtest shorter
  than a year gives the period's excess, not annualised (as GIPS requires of returns).
- `harvested_loss_pct_of_invested`: harvested losses (the harvest sales' gross realised losses)
  / the money invested at the end. A year's `harvested_loss`: the losses harvested in the year;
  its `harvested_loss_pct`: that / S_y.
- `tracking_error_realized`: the sample standard deviation of r_t − r_t(benchmark) over the
  backtest × √252; a year's `tracking_error` the same over the year's days (null below 2 days).
  `tracking_error_ex_ante_max`: the largest ex-ante tracking error sampled (null: never had one).
- `turnover_annual`: (notional traded / 2) / the mean of the daily values / years_covered.

Money is rounded to cents, ratios to 6 decimals, both as strings; null where a figure is
undefined (no samples, a zero denominator).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import numpy as np

from daemon.backtest_series import ZERO, BacktestSeries, DaySample

CENT = Decimal("0.01")
RATIO = Decimal("0.000001")
TRADING_DAYS = 252

METHOD = (
    "Returns remove deposits: r = (V_t − flow_t) / V_{t−1} − 1, where flow_t is the day's change "
    "in money invested, made at the close; the account starts as cash equal to the money first "
    "invested.",
    "Tax benefit of a calendar year: B = −(net realised short-term gain × short-term rate + net "
    "realised long-term gain × long-term rate), after wash-sale adjustments; realised losses are "
    "assumed to offset other gains of the investor (Chaudhuri, Burnham & Lo, FAJ 2020). The "
    "benchmark, the same index bought and held, realises nothing. Dividends are left out.",
    "Tax alpha of a year: B / (value at the start of the year + half the year's net deposits); a "
    "partial year's figure is not annualised. Average tax alpha: the sum of the yearly tax "
    "alphas / the years covered (each year's share of weekdays covered), i.e. the yearly figures "
    "annualised and weighted by their share of a year.",
    "After-tax excess return (annualised): final wealth against the benchmark's, each year's B "
    "invested in the benchmark from the year's last close to the end; no liquidation at the end "
    "(neither side pays tax on its unrealised gain, which would give back part of the benefit); "
    "a backtest shorter than a year gives its period's excess, not annualised.",
    "Harvested losses: the gross losses of the harvest sales, as % of the money invested (a "
    "year's: as % of its start value).",
    "Realised tracking error: the standard deviation of the daily return differences "
    "(portfolio − benchmark) × √252; ex-ante: the risk model's estimate at each close. "
    "Turnover: half the notional traded, over the mean value, per year covered.",
)


@dataclass(frozen=True, slots=True)
class YearFigures:
    """One calendar year of a backtest (see the module's definitions)."""

    year: int
    last_day: date
    start_value: Decimal
    deposits: Decimal
    harvested_loss: Decimal
    tax_benefit: Decimal
    tax_alpha: Decimal | None
    tracking_error: float | None
    fraction: Decimal  # share of the year's weekdays the backtest covers


@dataclass(frozen=True, slots=True)
class DayReturn:
    """One day's returns, deposits removed, of the portfolio and of its benchmark."""

    day: date
    portfolio: Decimal
    benchmark: Decimal


def summary_keys(series: BacktestSeries) -> dict[str, object]:
    """Return the `--json` keys of issue #12 §6 (and a few more) for `series`."""
    samples = series.samples
    returns = daily_returns(samples)
    years = yearly_figures(series, returns)
    covered = sum((y.fraction for y in years), ZERO)
    last = samples[-1] if samples else None
    invested = last.invested if last else ZERO
    harvested = last.harvested_loss if last else ZERO
    alphas = [(y.tax_alpha, y.fraction) for y in years if y.tax_alpha is not None]
    alpha_years = sum((f for _, f in alphas), ZERO)
    wealth = after_tax_wealth(samples, years, returns)
    return {
        "invested": _money(invested),
        "final_value": _money(last.value if last else ZERO),
        "benchmark_final_value": _money(last.benchmark_value if last else ZERO),
        "harvested_loss_pct_of_invested": _ratio(_div(harvested, invested)),
        "tax_alpha_annual": _ratio(
            _div(sum((a for a, _ in alphas), ZERO), alpha_years) if alphas else None
        ),
        "tracking_error_realized": _ratio(tracking_error(returns)),
        "tracking_error_ex_ante_max": _ratio(ex_ante_max(samples)),
        "turnover_annual": _ratio(turnover_annual(samples, covered)),
        "years": [
            {
                "year": y.year,
                "harvested_loss": _money(y.harvested_loss),
                "harvested_loss_pct": _ratio(_div(y.harvested_loss, y.start_value)),
                "tax_alpha": _ratio(y.tax_alpha),
                "tracking_error": _ratio(y.tracking_error),
            }
            for y in years
        ],
        "after_tax_excess_annual": _ratio(_annualised(wealth, covered)),
        "pre_tax_excess_annual": _ratio(
            _annualised((last.value, last.benchmark_value) if last else None, covered)
        ),
        "tax_benefit": _money(sum((y.tax_benefit for y in years), ZERO)),
        "years_covered": _ratio(covered if years else None),
    }


def daily_returns(samples: Sequence[DaySample]) -> list[DayReturn]:
    """Return each day's returns with the day's flow removed (none after a value ≤ 0)."""
    out: list[DayReturn] = []
    if not samples:
        return out
    start = samples[0].invested
    prev_value, prev_bench, prev_invested = start, start, start
    for s in samples:
        flow = s.invested - prev_invested
        if prev_value > 0 and prev_bench > 0:
            out.append(
                DayReturn(
                    s.day,
                    (s.value - flow) / prev_value - 1,
                    (s.benchmark_value - flow) / prev_bench - 1,
                )
            )
        prev_value, prev_bench, prev_invested = s.value, s.benchmark_value, s.invested
    return out


def tracking_error(returns: Sequence[DayReturn]) -> float | None:
    """Return the annualised standard deviation of the daily return differences (None: < 2)."""
    if len(returns) < 2:
        return None
    diffs = [float(r.portfolio - r.benchmark) for r in returns]
    return statistics.stdev(diffs) * math.sqrt(TRADING_DAYS)


def ex_ante_max(samples: Sequence[DaySample]) -> float | None:
    """Return the largest ex-ante tracking error sampled (None: the model never gave one)."""
    known = [s.tracking_error_ex_ante for s in samples if s.tracking_error_ex_ante is not None]
    return max(known) if known else None


def turnover_annual(samples: Sequence[DaySample], years: Decimal) -> Decimal | None:
    """Return half the notional traded over the mean value, per year covered."""
    if not samples or years <= 0:
        return None
    mean_value = sum((s.value for s in samples), ZERO) / len(samples)
    return _div(samples[-1].traded / 2, mean_value * years)


def yearly_figures(series: BacktestSeries, returns: Sequence[DayReturn]) -> list[YearFigures]:
    """Return the figures of each calendar year the samples touch, in order."""
    samples = series.samples
    if not samples:
        return []
    first, last_day = samples[0], samples[-1].day
    ends = [
        i
        for i, s in enumerate(samples)
        if i + 1 == len(samples) or samples[i + 1].day.year != s.day.year
    ]
    out: list[YearFigures] = []
    before: DaySample | None = None
    for i in ends:
        end = samples[i]
        year = end.day.year
        start_value = before.value if before else first.invested
        deposits = end.invested - (before.invested if before else first.invested)
        short = end.realized_short - (before.realized_short if before else ZERO)
        long = end.realized_long - (before.realized_long if before else ZERO)
        benefit = -(short * series.short_term_rate + long * series.long_term_rate)
        base = start_value + deposits / 2
        out.append(
            YearFigures(
                year=year,
                last_day=end.day,
                start_value=start_value,
                deposits=deposits,
                harvested_loss=end.harvested_loss - (before.harvested_loss if before else ZERO),
                tax_benefit=benefit,
                tax_alpha=benefit / base if base > 0 else None,
                tracking_error=tracking_error([r for r in returns if r.day.year == year]),
                fraction=_year_fraction(
                    year,
                    first.day if before is None else date(year, 1, 1),
                    last_day if end.day == last_day else date(year, 12, 31),
                ),
            )
        )
        before = end
    return out


def after_tax_wealth(
    samples: Sequence[DaySample], years: Sequence[YearFigures], returns: Sequence[DayReturn]
) -> tuple[Decimal, Decimal] | None:
    """Return the final after-tax wealth of the portfolio and of the benchmark (no liquidation),
    each year's tax benefit invested in the benchmark from the year's last close."""
    if not samples:
        return None
    growth_after: dict[date, Decimal] = {}
    growth = Decimal(1)
    for r in reversed(returns):
        growth_after[r.day] = growth
        growth *= 1 + r.benchmark
    benefits = sum((y.tax_benefit * growth_after.get(y.last_day, Decimal(1)) for y in years), ZERO)
    return samples[-1].value + benefits, samples[-1].benchmark_value


def _annualised(wealth: tuple[Decimal, Decimal] | None, years: Decimal) -> Decimal | None:
    if wealth is None or years <= 0 or wealth[0] <= 0 or wealth[1] <= 0:
        return None
    ratio = wealth[0] / wealth[1]
    if years < 1:  # GIPS: a period shorter than a year is not annualised
        return ratio - 1
    return Decimal(repr(float(ratio) ** (1 / float(years)) - 1))


def _year_fraction(year: int, start: date, end: date) -> Decimal:
    """Return the share of `year`'s weekdays from `start` to `end`, both included."""
    covered = np.busday_count(start, end + timedelta(days=1))
    whole = np.busday_count(date(year, 1, 1), date(year + 1, 1, 1))
    return Decimal(int(covered)) / Decimal(int(whole))


def _div(num: Decimal, den: Decimal) -> Decimal | None:
    """Return num / den, or None when den ≤ 0 (no money to measure against)."""
    return num / den if den > 0 else None


def _money(value: Decimal) -> str:
    cents = value.quantize(CENT)
    return str(abs(cents) if cents == 0 else cents)  # never "-0.00"


def _ratio(value: Decimal | float | None) -> str | None:
    if value is None:
        return None
    exact = (value if isinstance(value, Decimal) else Decimal(repr(value))).quantize(RATIO)
    return str(abs(exact) if exact == 0 else exact)  # never "-0.000000"
