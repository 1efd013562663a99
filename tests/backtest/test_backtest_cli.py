"""`tlh backtest` on the command line: machine output on stdout alone, clear errors.

Issue #13 4c: "`tlh backtest --json` prints log lines on the same stdout (always with
`--verbose`, and whenever anything is logged) ... Machine output goes to stdout alone; logs go
to stderr."
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.backtest.barkit import tlh_backtest, write_inputs


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
    `_locate`: file, line, field), exit 2, no traceback, nothing replayed."""
    result = tlh_backtest(write_inputs(tmp_path, holdings=holdings), "--json")

    assert result.exit_code == 2, result.stderr
    assert where in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
