"""`tlh tax report` as a real process: the installed console script, real stdout and stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from reportkit import DATA

TLH = Path(sys.executable).with_name("tlh")


def _run(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(TLH), "tax", "report", *map(str, args)], capture_output=True, timeout=120, check=False
    )


def test_json_report_from_the_console_script() -> None:
    """The `tlh` entry point (pyproject [project.scripts]) runs the report end to end."""
    proc = _run("--trades", DATA / "basic_trades.csv", "--format", "json", "--year", "2024")
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stderr == b""
    data = json.loads(proc.stdout)
    assert set(data) == {"sales", "open_lots", "totals"}
    assert data["sales"][0]["wash_sale_disallowed"] == "200.00"


def test_bad_input_exit_code_2_and_one_stderr_line() -> None:
    """Contract: exit code 2, one line on stderr, nothing on stdout (no traceback)."""
    proc = _run("--trades", DATA / "bad" / "oversell.csv", "--format", "csv")
    assert proc.returncode == 2
    assert proc.stdout == b""
    lines = proc.stderr.decode().splitlines()
    path = DATA / "bad" / "oversell.csv"
    assert lines == [f"{path}:4: quantity: sells 11 but only 10 held in VTI in account 'brk'"]
