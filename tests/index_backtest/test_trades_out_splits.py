"""`--trades-out` holds the splits, and `tlh tax report` reads it back (issue #12 §7: "0 wash
sales created (audited by `tlh tax report` on `--trades-out`)"). A 4:3 split leaves share
counts with 26 decimal places (the ledger's 28 digits); the trades file carries them, and the
split as a SPLIT row, so the report of the file is the report of the backtest's journal."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner, Result

from daemon.cli import _register, app
from tests.index_backtest.kit import weekdays, write_prices

SPLIT_SESSION = 8


def tlh(*args: str | Path) -> Result:
    _register()
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def _prices(path: Path) -> Path:
    """XYZ at $90 split 4:3 on session 8 (as Alpha Vantage writes it: 1.33333333333), then
    falling 30 % below its split-adjusted price; SUB flat at $50."""
    rows = []
    for n, day in enumerate(weekdays(40)):
        wiggle = Decimal("0.01") * (n % 3)
        if n < SPLIT_SESSION:
            xyz = Decimal(90)
        elif n < 2 * SPLIT_SESSION:
            xyz = Decimal("67.5")
        else:
            xyz = Decimal("47.25")
        coef = "1.33333333333" if n == SPLIT_SESSION else "1"
        rows.append(
            (day, [("SUB", str(50 + wiggle), "1", "0"), ("XYZ", str(xyz + wiggle), coef, "0")])
        )
    return write_prices(path, rows)


def _sales(report: Result) -> list[dict[str, object]]:
    assert report.exit_code == 0, report.stderr
    sales: list[dict[str, object]] = json.loads(report.stdout)["sales"]
    return sales


def test_the_trades_out_file_reports_as_the_journal_across_a_4_for_3_split(
    tmp_path: Path,
) -> None:
    """The file has the split as ``SPLIT,XYZ,4/3`` and the sale of the split lot at the
    ledger's 26 places; `tlh tax report --trades` on it gives the sales that `--journal` gives
    on the backtest's journal, field for field, and no wash sale."""
    journal, trades = tmp_path / "journal.sqlite", tmp_path / "trades.csv"
    config = tmp_path / "tlh.toml"
    # A two-name index harvests only with a budget wide enough to buy SUB for XYZ.
    config.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{journal}"\n[index]\nmax_tracking_error = 0.5\n'
    )
    run = tlh(
        "backtest",
        "--prices",
        _prices(tmp_path / "prices.csv"),
        "--index",
        "equal",
        "--cash",
        "10000",
        "--config",
        config,
        "--json",
        "--trades-out",
        trades,
        "--database-url",
        f"sqlite+aiosqlite:///{journal}",
    )
    assert run.exit_code == 0, run.stderr
    rows = list(csv.DictReader(trades.open()))
    assert [(r["action"], r["symbol"], r["quantity"]) for r in rows if r["action"] == "SPLIT"] == [
        ("SPLIT", "XYZ", "4/3")
    ]
    sold = [r for r in rows if r["action"] == "SELL" and r["symbol"] == "XYZ"]
    assert sold, "the fall after the split is harvested"
    assert max(len(r["quantity"].partition(".")[2]) for r in sold) > 18

    from_file = _sales(tlh("tax", "report", "--trades", trades, "--format", "json"))
    from_journal = _sales(tlh("tax", "report", "--journal", "--config", config, "--format", "json"))

    assert from_file == from_journal
    assert all(Decimal(str(s["wash_sale_disallowed"])) == 0 for s in from_file)
