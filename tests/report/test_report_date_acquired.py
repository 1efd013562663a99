"""The date acquired on the forms agrees with the term (issue #13, D.18).

Replacement shares of a wash sale take the washed shares' holding period (IRC §1223(3); Pub 550,
"Wash Sales"; tacked as README convention 1). Brokers report such shares on Form 1099-B with
the adjusted acquisition date, the start of that holding period; so do Form 8949 column (b) and
the TXF ``D`` line here by default, so that a row reported long-term never shows a purchase 232
days before its sale. ``[report] date_acquired = "purchase"`` prints the day bought instead.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from reportkit import HEADER, report_json, tlh, write

TRADES = (
    HEADER
    + "2023-01-03,brk,BUY,VTI,10,200,0,L1\n"
    + "2024-01-02,brk,SELL,VTI,10,150,0,L1\n"  # a loss after 364 days
    + "2024-01-10,brk,BUY,VTI,10,150,0,L2\n"  # its replacement: washed, period tacked
    + "2024-08-29,brk,SELL,VTI,10,160,0,L2\n"  # 232 days after the purchase: long-term
)
TACKED_START = "01/11/2023"  # 2024-01-10 less the 364 days L1 was held
BOUGHT = "01/10/2024"


def _report(tmp_path: Path, fmt: str, *args: str | Path) -> str:
    trades = write(tmp_path, "t.csv", TRADES)
    result = tlh("tax", "report", "--trades", trades, "--format", fmt, *args)
    assert result.exit_code == 0, result.stderr
    return str(result.stdout).replace("\r\n", "\n")


def _replacement_row(text: str) -> dict[str, str]:
    [row] = [r for r in csv.DictReader(io.StringIO(text)) if r["lot_id"] == "L2"]
    return row


def test_form_8949_gives_the_holding_period_start_of_a_tacked_long_term_row(
    tmp_path: Path,
) -> None:
    """Column (b) of the replacement's long-term row is its tacked start, over a year before
    the sale, and equals the JSON report's holding_period_start."""
    row = _replacement_row(_report(tmp_path, "csv"))
    assert (row["box"], row["term"]) == ("D", "long")
    assert row["date_acquired"] == row["holding_period_start"] == TACKED_START
    [sale] = [
        s for s in report_json("--trades", tmp_path / "t.csv")["sales"] if s["lot_id"] == "L2"
    ]
    assert sale["holding_period_start"] == "2023-01-11"
    assert sale["acquired"] == "2024-01-10"  # the JSON keeps both dates, as always


def test_the_txf_long_term_record_gives_the_holding_period_start(tmp_path: Path) -> None:
    """The TXF record of that sale is long-term (refnum 323, box D) with the same date."""
    records = _report(tmp_path, "txf").split("^\n")[1:]
    [record] = [r for r in records if "D08/29/2024" in r and "N323" in r]
    assert f"D{TACKED_START}\n" in record


def test_the_config_may_ask_for_the_purchase_date(tmp_path: Path) -> None:
    """``[report] date_acquired = "purchase"`` in tlh.toml (`tlh tax report --config`) gives
    the day the shares were bought, in the CSV and the TXF."""
    config = write(tmp_path, "tlh.toml", '[report]\ndate_acquired = "purchase"\n')
    row = _replacement_row(_report(tmp_path, "csv", "--config", config))
    assert (row["date_acquired"], row["holding_period_start"]) == (BOUGHT, TACKED_START)
    assert f"D{BOUGHT}\n" in _report(tmp_path, "txf", "--config", config)


def test_a_txf_of_several_tax_years_is_written_with_a_warning(tmp_path: Path) -> None:
    """A TXF goes into one year's return: sales of 2024 and 2025 in one file are written, and
    stderr warns of it; a report of one year (--year) is not warned of."""
    trades = write(tmp_path, "t.csv", TRADES + "2025-02-03,brk,BUY,VTI,1,100,0,\n")
    trades.write_text(trades.read_text() + "2025-03-03,brk,SELL,VTI,1,110,0,\n")
    result = tlh("tax", "report", "--trades", trades, "--format", "txf")
    assert result.exit_code == 0
    assert result.stderr.startswith("warning: the TXF holds sales of 2 tax years (2024, 2025)")
    assert result.stdout.startswith("V042")
    result = tlh("tax", "report", "--trades", trades, "--format", "txf", "--year", "2025")
    assert (result.exit_code, result.stderr) == (0, "")
