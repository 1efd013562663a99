"""The benchmark (issue #12 §6: "portfolio value against the same index bought and held
without harvesting"): the money at the target weights, bought and held, splits applied,
dividends reinvested over the holdings pro rata (as an index fund does), deposits bought at
the prices the daemon trades at."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from adapters.prices.csvload import load_prices
from daemon.backtest_benchmark import buy_and_hold
from tests.index_backtest.kit import write_prices

D1, D2, D3, D4 = date(2024, 3, 1), date(2024, 3, 4), date(2024, 3, 5), date(2024, 4, 1)
CENT = Decimal("0.01")


def test_the_benchmark_equals_a_hand_computation(tmp_path: Path) -> None:
    """$1,000 at equal weights on D1 (no earlier close: at D1's close) buys 5 A at $100 and
    10 B at $50 ($1,000). D2: A pays $1.10 on 5 shares; the $5.50 is reinvested over the
    holdings by value at the close (A $550, B $400 of $950): 0.028947 A at $110 and 0.057895 B
    at $40: $955.50. D3: A splits 2:1 at the open (10.057895 A): 10.057895 x 60 + 10.057895 x
    45 = $1,056.08. D4: $100 deposited buys at D3's closes, $50 of A at $60 (5/6) and $50 of B
    at $45 (10/9): 10.891228 x 55 + 11.169006 x 50 = $1,157.47."""
    prices = load_prices(
        write_prices(
            tmp_path / "prices.csv",
            [
                (D1, [("A", "100", "1", "0"), ("B", "50", "1", "0")]),
                (D2, [("A", "110", "1", "1.10"), ("B", "40", "1", "0")]),
                (D3, [("A", "60", "2", "0"), ("B", "45", "1", "0")]),
                (D4, [("A", "55", "1", "0"), ("B", "50", "1", "0")]),
            ],
        )
    )

    days = buy_and_hold(
        prices,
        weights={"A": Decimal(1), "B": Decimal(1)},
        cash_in={D1: Decimal(1000), D4: Decimal(100)},
    )

    assert [d.day for d in days] == [D1, D2, D3, D4]
    assert [d.value.quantize(CENT) for d in days] == [
        Decimal("1000.00"),
        Decimal("955.50"),
        Decimal("1056.08"),
        Decimal("1157.47"),
    ]
    assert [d.invested for d in days] == [Decimal(1000)] * 3 + [Decimal(1100)]


def test_starting_holdings_are_held_from_their_day(tmp_path: Path) -> None:
    """An ETF-pair backtest's benchmark: its starting shares held. 10 A bought before the
    first day replayed are held from it: 10 x 100, then 10 x 110; invested: their value on
    the day they came in ($1,000)."""
    prices = load_prices(
        write_prices(
            tmp_path / "prices.csv",
            [(D1, [("A", "100", "1", "0")]), (D2, [("A", "110", "1", "0")])],
        )
    )

    days = buy_and_hold(prices, shares_in={date(2023, 1, 3): {"A": Decimal(10)}})

    assert [(d.value, d.invested) for d in days] == [
        (Decimal(1000), Decimal(1000)),
        (Decimal(1100), Decimal(1000)),
    ]
