"""Adversarial suite: bad TRADES.csv files (issue #13, C.11 and C.16).

Every file here is unusable in one way. `tlh tax report` must answer each with one line on
stderr, ``FILE:LINE: FIELD: message`` (the field left out only where no single field is at
fault: the row's shape, its quoting, its encoding), exit status 2, no traceback, and no output
file: nothing is written, not even a temporary file beside the output (the guide: "Bad input:
a clear one-line error naming the file, line and field, exit code 2, no traceback; nothing
half-written"). The bounds the numbers and dates must keep are the importer's
(`adapters.importers.trades_csv`, README "TRADES.csv").

Each case is (name, the file's rows after the header, or the whole text when it starts with
``"!"``, the line and field expected, a part of the message).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from reportkit import HEADER, tlh, write

from daemon.cli.tax_parts import MIN_BYTES

GOOD = "2024-01-02,brk,BUY,VTI,10,100,0,\n"
SELL = "2024-03-01,brk,SELL,VTI,1,90,0,\n"

# name, text (rows after a good first row; "!" + text: the whole file), line, field, message
CASES: list[tuple[str, str, int, str | None, str]] = [
    # -- numbers out of range or not exact (C.11, C.16) --
    ("quantity 1e400", "2024-01-03,brk,BUY,VTI,1e400,2,0,", 3, "quantity", "out of range"),
    ("quantity 1e30", "2024-01-03,brk,BUY,VTI,1e30,2,0,", 3, "quantity", "out of range"),
    ("quantity 10^12", "2024-01-03,brk,BUY,VTI,1000000000000,2,0,", 3, "quantity", "10^12"),
    ("price 1e400", "2024-01-03,brk,BUY,VTI,1,1e400,0,", 3, "price", "out of range"),
    ("price 1e30", "2024-01-03,brk,BUY,VTI,1,1e30,0,", 3, "price", "out of range"),
    ("fees 1e400", "2024-01-03,brk,BUY,VTI,1,2,1e400,", 3, "fees", "out of range"),
    ("fees 1e30", "2024-01-03,brk,BUY,VTI,1,2,1e30,", 3, "fees", "out of range"),
    (
        "exponent beyond decimal",
        "2024-01-03,brk,BUY,VTI,1,2,1e99999999999999999999,",
        3,
        "fees",
        "out of range",
    ),
    ("quantity 1e-400", "2024-01-03,brk,BUY,VTI,1e-400,2,0,", 3, "quantity", "decimal places"),
    (
        "33-digit quantity",
        "2024-01-03,brk,BUY,VTI,1.00000000000000000000000000000001,2,0,",
        3,
        "quantity",
        "more than 28 significant digits",
    ),
    (
        "29 significant digits",
        "2024-01-03,brk,BUY,VTI,1,123456789012.12345678901234567,0,",
        3,
        "price",
        "significant digits",
    ),
    ("full-width quantity", "2024-01-03,brk,BUY,VTI,１０,2,0,", 3, "quantity", "ASCII"),
    ("full-width price", "2024-01-03,brk,BUY,VTI,1,２,0,", 3, "price", "ASCII"),
    ("Arabic-Indic fees", "2024-01-03,brk,BUY,VTI,1,2,٣,", 3, "fees", "ASCII"),
    ("full-width exponent", "2024-01-03,brk,BUY,VTI,1e１,2,0,", 3, "quantity", "ASCII"),
    ("NaN", "2024-01-03,brk,BUY,VTI,NaN,2,0,", 3, "quantity", "finite"),
    ("Infinity", "2024-01-03,brk,BUY,VTI,1,Infinity,0,", 3, "price", "finite"),
    ("-inf fees", "2024-01-03,brk,BUY,VTI,1,2,-inf,", 3, "fees", "finite"),
    ("underscores", "2024-01-03,brk,BUY,VTI,1_000,2,0,", 3, "quantity", "not a number"),
    ("thousands", '2024-01-03,brk,BUY,VTI,"1,000",2,0,', 3, "quantity", "thousands"),
    ("currency sign", "2024-01-03,brk,BUY,VTI,1,$2,0,", 3, "price", "not a number"),
    ("hexadecimal", "2024-01-03,brk,BUY,VTI,0x10,2,0,", 3, "quantity", "not a number"),
    ("two points", "2024-01-03,brk,BUY,VTI,1.2.3,2,0,", 3, "quantity", "not a number"),
    ("bare exponent", "2024-01-03,brk,BUY,VTI,1e,2,0,", 3, "quantity", "not a number"),
    ("zero quantity", "2024-01-03,brk,BUY,VTI,0,2,0,", 3, "quantity", "greater than 0"),
    ("negative quantity", "2024-01-03,brk,BUY,VTI,-1,2,0,", 3, "quantity", "greater than 0"),
    ("negative price", "2024-01-03,brk,BUY,VTI,1,-2,0,", 3, "price", "negative"),
    ("negative fees", "2024-01-03,brk,BUY,VTI,1,2,-0.5,", 3, "fees", "negative"),
    ("empty quantity", "2024-01-03,brk,BUY,VTI,,2,0,", 3, "quantity", "empty"),
    ("empty price", "2024-01-03,brk,BUY,VTI,1, ,0,", 3, "price", "empty"),
    # -- dates (C.11, C.16) --
    ("year 1", "0001-01-02,brk,BUY,VTI,1,2,0,", 3, "date", "out of range"),
    ("year 9999", "9999-12-31,brk,BUY,VTI,1,2,0,", 3, "date", "out of range"),
    ("before 1900", "1899-12-31,brk,BUY,VTI,1,2,0,", 3, "date", "1900-01-01..2100-12-31"),
    ("after 2100", "2101-01-01,brk,BUY,VTI,1,2,0,", 3, "date", "out of range"),
    ("date-time year 1", "0001-01-01T00:00:00Z,brk,BUY,VTI,1,2,0,", 3, "date", "out of range"),
    ("full-width date", "２０２４-01-03,brk,BUY,VTI,1,2,0,", 3, "date", "not a valid date"),
    ("February 30", "2024-02-30,brk,BUY,VTI,1,2,0,", 3, "date", "not a valid date"),
    ("month 13", "2024-13-01,brk,BUY,VTI,1,2,0,", 3, "date", "not a valid date"),
    ("US date", "01/03/2024,brk,BUY,VTI,1,2,0,", 3, "date", "not a valid date"),
    ("hour 25", "2024-01-03T25:00:00,brk,BUY,VTI,1,2,0,", 3, "date", "not a valid date"),
    ("empty date", ",brk,BUY,VTI,1,2,0,", 3, "date", "must not be empty"),
    # -- other fields --
    ("action HOLD", "2024-01-03,brk,HOLD,VTI,1,2,0,", 3, "action", "BUY, SELL or SPLIT"),
    ("empty action", "2024-01-03,brk,,VTI,1,2,0,", 3, "action", "BUY, SELL or SPLIT"),
    ("quantity 41 places", "2024-01-03,brk,BUY,VTI,1e-41,2,0,", 3, "quantity",
     "more than 40 decimal places"),
    ("price 19 places", "2024-01-03,brk,BUY,VTI,1,0.0000000000000000001,0,", 3, "price",
     "more than 18 decimal places"),
    # -- SPLIT rows: the ratio in quantity, the rest empty --
    ("split ratio 0", "2024-01-03,,SPLIT,VTI,0,,,", 3, "quantity", "greater than 0"),
    ("split ratio 4/0", "2024-01-03,,SPLIT,VTI,4/0,,,", 3, "quantity", "whole numbers"),
    ("split ratio x/3", "2024-01-03,,SPLIT,VTI,x/3,,,", 3, "quantity", "decimal or p/q"),
    ("split ratio -4/3", "2024-01-03,,SPLIT,VTI,-4/3,,,", 3, "quantity", "decimal or p/q"),
    ("split ratio empty", "2024-01-03,,SPLIT,VTI,,,,", 3, "quantity", "empty"),
    ("split of an account", "2024-01-03,brk,SPLIT,VTI,2,,,", 3, "account", "must be empty"),
    ("split with a price", "2024-01-03,,SPLIT,VTI,2,5,,", 3, "price", "must be empty"),
    ("split with fees", "2024-01-03,,SPLIT,VTI,2,,1,", 3, "fees", "must be empty"),
    ("split of a lot", "2024-01-03,,SPLIT,VTI,2,,,L1", 3, "lot_id", "must be empty"),
    ("split date", "2024-13-03,,SPLIT,VTI,2,,,", 3, "date", "not a valid date"),
    ("empty symbol", "2024-01-03,brk,BUY,,1,2,0,", 3, "symbol", "must not be empty"),
    # -- the file's shape (C.16) --
    (
        "no header",
        "!2024-01-02,brk,BUY,VTI,100,2,100,\n2024-01-03,brk,BUY,VTI,100,2,0,\n",
        1,
        "header",
        "missing header row; expected the columns date,account,action",
    ),
    ("empty file", "!", 1, "header", "the file is empty"),
    (
        "missing column",
        "!date,account,action,symbol,quantity,price,fees\n" + GOOD,
        1,
        "header",
        "missing required column(s): lot_id",
    ),
    (
        "column twice",
        "!" + HEADER.replace("fees", "price") + GOOD,
        1,
        "header",
        "column 'price' appears twice",
    ),
    ("short row", "2024-01-03,brk,BUY,VTI,1", 3, "price", "missing value"),
    ("long row", "2024-01-03,brk,BUY,VTI,1,2,0,,x", 3, None, "9 fields but the header only 8"),
    ("open quote", '2024-01-03,brk,BUY,VTI,1,2,0,"L9\n', 3, None, "malformed CSV"),
    # -- trades the ledger refuses --
    ("oversell", "2024-03-01,brk,SELL,VTI,11,2,0,", 3, "quantity", "only 10 held"),
    ("lot id twice", "2024-01-03,brk,BUY,VTI,1,2,0,L1\n2024-01-04,brk,BUY,VTI,1,2,0,L1", 4,
     "lot_id", "already used"),
    ("unknown lot", "2024-03-01,brk,SELL,VTI,1,2,0,NOPE", 3, "lot_id", "no open lot"),
]  # fmt: skip


def _text(rows: str) -> str:
    if rows.startswith("!"):
        return rows[1:]
    return HEADER + GOOD + rows + ("" if rows.endswith("\n") else "\n") + SELL


@pytest.mark.parametrize(
    ("rows", "line", "field", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_a_bad_trade_file_is_one_line_exit_2_nothing_written(
    tmp_path: Path, rows: str, line: int, field: str | None, message: str
) -> None:
    """A bad TRADES.csv: FILE:LINE: FIELD: message on stderr, exit 2, no output file."""
    trades = write(tmp_path, "t.csv", _text(rows))
    out = tmp_path / "out" / "report.csv"
    out.parent.mkdir()
    result = tlh("tax", "report", "--trades", trades, "--format", "csv", "--output", out)
    where = f"{trades}:{line}: " + (f"{field}: " if field else "")
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith(where), result.stderr
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert result.stdout == ""
    assert list(out.parent.iterdir()) == []


def test_the_bad_files_cover_every_column() -> None:
    """The table exercises each TRADES.csv column and the header (so it stays adversarial)."""
    fields = {case[3] for case in CASES}
    assert {"date", "action", "symbol", "quantity", "price", "fees", "lot_id", "header"} <= fields


TLH = Path(sys.executable).with_name("tlh")


@pytest.mark.parametrize("bad", ["1e400", "1e30", "１０", "1e-41"])
def test_a_bad_value_in_a_large_history_fails_the_same_on_two_cores(
    tmp_path: Path, bad: str
) -> None:
    """A history large enough for several cores (`MIN_BYTES`) with one bad quantity at its end:
    the workers give up, the one-core run names the line (daemon/cli/tax_parts.py), exit 2,
    no traceback, no output file and no temporary file beside it."""
    rows = [HEADER]
    for i in range(MIN_BYTES // 30):
        symbol = ("VTI", "VOO", "BND", "VXUS")[i % 4]
        rows.append(f"2024-01-02,brk,BUY,{symbol},1,100,0,\n")
    rows.append(f"2024-01-03,brk,BUY,VTI,{bad},100,0,\n")
    trades = write(tmp_path, "t.csv", "".join(rows))
    assert trades.stat().st_size >= MIN_BYTES
    out = tmp_path / "out" / "report.json"
    out.parent.mkdir()
    result = subprocess.run(
        [TLH, "tax", "report", "--trades", trades, "--format", "json", "-j", "2", "-o", out],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"{trades}:{len(rows)}: quantity: "), result.stderr
    assert "Traceback" not in result.stderr
    assert list(out.parent.iterdir()) == []
