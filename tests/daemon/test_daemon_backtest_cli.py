"""`tlh backtest` end to end: synthetic prices through the real daemon, checked by `tlh tax`.

The prices are written by the test: 120 sessions from 2024-01-02 of VTI (at $200 for 20
sessions, then down 20% to $160), SCHB and ITOT (flat), and AAPL ($150, split 2:1 on session
60, $75 after), each moving a cent every other session, plus three bad rows. Holdings: 40 VTI
and 20 AAPL bought 2023-12-01.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from daemon.cli import _register, app
from tests.backtest.barkit import sessions

SESSIONS = 120
SPLIT_SESSION = 60
BAD_PRICE_ROWS = [
    ",VTI,150,1.0",  # empty date
    "2024-01-06,VTI,abc,1.0",  # close not a number (a Saturday: no good row that day)
    "2024-01-07,AAPL,-5,1.0",  # negative close (a Sunday)
]
HOLDINGS = """date,account,action,symbol,quantity,price,fees,lot_id
2023-12-01,taxable,BUY,VTI,40,200,0,VTI-1
2023-12-01,taxable,BUY,AAPL,20,150,0,AAPL-1
"""
CONFIG = """
[accounts]
taxable = "taxable"

[[substitutes]]
symbols = ["VTI", "SCHB", "ITOT"]
"""


def _vti(n: int) -> Decimal:
    if n < 20:
        return Decimal(200)
    return max(Decimal(200) - Decimal(40) * (n - 19) / 60, Decimal(160)).quantize(Decimal("0.01"))


def _write_prices(path: Path) -> None:
    lines = ["date,symbol,close,split_coefficient"]
    for n, day in enumerate(sessions(SESSIONS)):
        # A cent every other session: a repeated bar is a stale quote (daemon/backtest.py).
        cent = Decimal(n % 2) / 100
        aapl = (150 if n < SPLIT_SESSION else 75) + cent
        split = "2.0" if n == SPLIT_SESSION else "1.0"
        lines += [
            f"{day},VTI,{_vti(n) + cent},1.0",
            f"{day},SCHB,{50 + cent},1.0",
            f"{day},ITOT,{100 + cent},1.0",
            f"{day},AAPL,{aapl},{split}",
        ]
        if n == 3:
            lines += BAD_PRICE_ROWS
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    """Write PRICES.csv, HOLDINGS.csv and tlh.toml; return their paths and a TRADES.csv path."""
    paths = {
        name: tmp_path / name for name in ("PRICES.csv", "HOLDINGS.csv", "tlh.toml", "TRADES.csv")
    }
    _write_prices(paths["PRICES.csv"])
    paths["HOLDINGS.csv"].write_text(HOLDINGS)
    paths["tlh.toml"].write_text(CONFIG)
    return paths


def tlh(*args: object) -> Result:
    """Run `tlh ARGS...` in-process; stdout and stderr apart."""
    _register()
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def _backtest(inputs: dict[str, Path], *extra: object) -> Result:
    return tlh(
        "backtest",
        "--prices",
        inputs["PRICES.csv"],
        "--holdings",
        inputs["HOLDINGS.csv"],
        "--config",
        inputs["tlh.toml"],
        *extra,
    )


def test_backtest_json_summary_reports_the_harvest_and_no_wash_sale(
    inputs: dict[str, Path],
) -> None:
    """Issue: "`--json` prints an object with keys `harvests, harvested_loss,
    estimated_tax_saved, trades, wash_sales_created` (and `wash_sales_created == 0`,
    `harvests >= 1`)" -- the daemon never creates a wash sale (IRC §1091): VTI's 20% fall is
    harvested into SCHB, and AAPL's 2:1 split is no loss."""
    result = _backtest(inputs, "--json")

    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert {
        "harvests",
        "harvested_loss",
        "estimated_tax_saved",
        "trades",
        "wash_sales_created",
    } <= summary.keys()
    assert summary["wash_sales_created"] == 0
    assert summary["harvests"] == 1
    # The VTI sale, the SCHB replacement and a top-up of what its fill left in cash.
    assert summary["trades"] == 3
    assert Decimal(summary["harvested_loss"]) > Decimal(400)  # past the 5% threshold
    assert Decimal(summary["estimated_tax_saved"]) > 0
    assert summary["splits"] == 1


def test_bad_price_rows_are_skipped_counted_and_never_traded_on(
    inputs: dict[str, Path],
) -> None:
    """Issue: "Bad price rows (empty date, `abc` close, negative close) are skipped and counted
    (`price_rows_skipped`), never traded on." No day is made of them and no trade is priced
    from them (the -5 AAPL close would otherwise have looked like a 100% loss)."""
    result = _backtest(inputs, "--json", "--trades-out", inputs["TRADES.csv"])

    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["price_rows_skipped"] == len(BAD_PRICE_ROWS)
    assert summary["days"] == SESSIONS
    assert (summary["first_day"], summary["last_day"]) == (
        str(sessions(SESSIONS)[0]),
        str(sessions(SESSIONS)[-1]),
    )
    rows = list(csv.DictReader(inputs["TRADES.csv"].open()))
    trades = [r for r in rows if r["action"] != "SPLIT"]  # the held AAPL's split is one
    assert {r["symbol"] for r in trades} == {"VTI", "SCHB"}
    assert all(Decimal(r["price"]) >= 40 for r in trades)


def test_trades_out_rows_reconcile_with_tlh_tax_report(inputs: dict[str, Path]) -> None:
    """Issue: "`--trades-out FILE` writes TRADES.csv rows whose SELLs carry lot ids; and `tlh tax
    report --trades <holdings rows + trades-out rows> --format json` reports zero
    `wash_sale_disallowed` (the backtest created no wash sale) and the same harvested loss."""
    result = _backtest(inputs, "--json", "--trades-out", inputs["TRADES.csv"])
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    trades = inputs["TRADES.csv"].read_text()
    rows = list(csv.DictReader(io.StringIO(trades)))
    sells = [r for r in rows if r["action"].upper() == "SELL"]
    assert [(r["symbol"], r["quantity"], r["lot_id"]) for r in sells] == [("VTI", "40", "VTI-1")]
    assert all(r["lot_id"] for r in rows if r["action"] != "SPLIT")
    # The held AAPL's 2:1 split, so that holdings and trades replay as the backtest's ledger.
    splits = [(r["symbol"], r["quantity"]) for r in rows if r["action"] == "SPLIT"]
    assert splits == [("AAPL", "2")]
    history = inputs["HOLDINGS.csv"].parent / "HISTORY.csv"
    history.write_text(HOLDINGS + trades.split("\n", 1)[1])

    report = tlh(
        "tax", "report", "--trades", history, "--config", inputs["tlh.toml"], "--format", "json"
    )

    assert report.exit_code == 0, report.stderr
    totals = json.loads(report.stdout)["totals"]
    assert Decimal(totals["wash_sale_disallowed"]) == 0
    assert Decimal(totals["gain_loss"]) == -Decimal(summary["harvested_loss"])
    assert totals["count"] == 1


def test_a_bad_holdings_row_exits_2_naming_file_line_and_field(
    inputs: dict[str, Path],
) -> None:
    """Issue: "A bad holdings row exits 2 naming file:line:field." -- and nothing runs."""
    holdings = inputs["HOLDINGS.csv"]
    holdings.write_text(HOLDINGS + "2023-12-01,taxable,BUY,ITOT,-5,100,0,ITOT-1\n")

    result = _backtest(inputs, "--json", "--trades-out", inputs["TRADES.csv"])

    assert result.exit_code == 2
    assert f"{holdings}:4: quantity:" in result.stderr
    assert result.stdout == ""
    assert not inputs["TRADES.csv"].exists()
