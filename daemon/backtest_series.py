"""What a backtest records each day, for its `--json` figures and its `--report` page.

`run_backtest` appends one `DaySample` per session played; `daemon.backtest_metrics` turns
the samples into the summary figures and `daemon.backtest_report` into the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class DaySample:
    """One session's close, as the journal and the simulated market stand after it.

    `value`: the account's holdings at the close plus its cash; `benchmark_value`: the same
    money (start and deposits) in the target bought and held without harvesting, dividends
    reinvested; `invested`: the money put in so far (start plus deposits, less withdrawals);
    `harvested_loss`: the losses the daemon's harvest sales realised so far (the `harvested_loss`
    figure); `realized_short` and `realized_long`: the net short- and long-term gain (negative:
    loss) of every sale so far, after wash-sale adjustments, as Form 8949 reports it;
    `tracking_error_ex_ante`: the risk model's annualised tracking error of the holdings
    against the target at the close (None: no model yet, or no index); `lots`: open lots
    held; `traded`: the notional bought and sold so far; `harvests`: harvest sales so far.
    """

    day: date
    value: Decimal
    benchmark_value: Decimal
    invested: Decimal
    harvested_loss: Decimal = ZERO
    realized_short: Decimal = ZERO
    realized_long: Decimal = ZERO
    tracking_error_ex_ante: float | None = None
    lots: int = 0
    traded: Decimal = ZERO
    harvests: int = 0


@dataclass(slots=True)
class BacktestSeries:
    """The samples of one backtest, in day order, and the rates its losses are valued at."""

    short_term_rate: Decimal
    long_term_rate: Decimal
    samples: list[DaySample] = field(default_factory=list)
    label: str = ""  # e.g. "direct index, equal weights" or "ETF pairs"
