"""`tlh backtest` on the command line: machine output on stdout alone, clear errors.

Issue #13 4c: "`tlh backtest --json` prints log lines on the same stdout (always with
`--verbose`, and whenever anything is logged) ... Machine output goes to stdout alone; logs go
to stderr."
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.backtest.barkit import tlh_backtest, write_inputs


def test_json_with_verbose_logs_is_one_json_object_on_stdout(tmp_path: Path) -> None:
    """Every decision is logged with `--verbose`, on stderr; stdout parses as the summary."""
    result = tlh_backtest(write_inputs(tmp_path), "--json", "--verbose")

    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["harvests"] == 1
    assert "harvest" in result.stderr
