"""`tlh backtest` on the command line: machine output on stdout alone, clear errors.

Issue #13 4c: "`tlh backtest --json` prints log lines on the same stdout (always with
`--verbose`, and whenever anything is logged) ... Machine output goes to stdout alone; logs go
to stderr."
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.backtest.barkit import HOLDINGS_CSV, Row, falling, tlh_backtest, write_inputs


def test_json_with_verbose_logs_is_one_json_object_on_stdout(tmp_path: Path) -> None:
    """Every decision is logged with `--verbose`, on stderr; stdout parses as the summary."""
    result = tlh_backtest(write_inputs(tmp_path), "--json", "--verbose")

    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["harvests"] == 1
    assert "harvest" in result.stderr


OVERSELL = """date,account,action,symbol,quantity,price,fees,lot_id
2023-12-01,taxable,BUY,XYZ,100,100,0,XYZ-1
2023-12-04,taxable,SELL,XYZ,150,101,0,
"""
REPEATED_LOT = """date,account,action,symbol,quantity,price,fees,lot_id
2023-12-01,taxable,BUY,XYZ,100,100,0,XYZ-1
2023-12-04,taxable,BUY,XYZ,10,101,0,XYZ-1
"""


@pytest.mark.parametrize(
    ("holdings", "where"),
    [(OVERSELL, "HOLDINGS.csv:3: quantity"), (REPEATED_LOT, "HOLDINGS.csv:3: lot_id")],
    ids=["oversell", "repeated-lot-id"],
)
def test_holdings_the_ledger_refuses_exit_2_naming_file_line_and_field(
    tmp_path: Path, holdings: str, where: str
) -> None:
    """A holdings row the ledger refuses is reported as `tlh tax report` reports it (its
    `locate_refusal`: file, line, field), exit 2, no traceback, nothing replayed."""
    result = tlh_backtest(write_inputs(tmp_path, holdings=holdings), "--json")

    assert result.exit_code == 2, result.stderr
    assert where in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_held_symbol_without_prices_is_named_in_the_summary(tmp_path: Path) -> None:
    """Issue #13 C.17: a held symbol absent from the prices gave 0 harvests without a word.
    It is named in `--json` (`unpriced_symbols`, `warnings`: added keys) and on stderr."""
    holdings = HOLDINGS_CSV + "2023-12-01,taxable,BUY,ABC,10,100,0,ABC-1\n"
    result = tlh_backtest(write_inputs(tmp_path, holdings=holdings), "--json")

    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["unpriced_symbols"] == ["ABC"]
    assert any("ABC" in w for w in summary["warnings"])
    assert "warning" in result.stderr
    assert "ABC" in result.stderr


def test_holdings_dated_after_the_prices_are_counted_in_the_summary(tmp_path: Path) -> None:
    """Issue #13 C.17: holdings dated after the price range were never imported, silently."""
    holdings = HOLDINGS_CSV + "2030-01-02,taxable,BUY,XYZ,10,100,0,XYZ-2\n"
    result = tlh_backtest(write_inputs(tmp_path, holdings=holdings), "--json")

    summary = json.loads(result.stdout)
    assert summary["holdings_not_replayed"] == 1
    assert summary["harvests"] == 1  # the lot in range is still harvested
    assert "never imported" in result.stderr


def test_a_held_symbol_spelled_in_lower_case_in_the_prices_is_priced(tmp_path: Path) -> None:
    """Issue #13 C.17: prices spelling `xyz` now price the holdings' `XYZ` (the loader spells
    symbols as trade files do) and the fall is harvested."""

    def lower(n: int) -> list[Row]:
        return [(s.lower(), *rest) for s, *rest in falling(n)]  # type: ignore[misc]

    result = tlh_backtest(write_inputs(tmp_path, lower), "--json")

    summary = json.loads(result.stdout)
    assert summary["unpriced_symbols"] == []
    assert summary["harvests"] == 1
    assert summary["warnings"] == []
