"""`tlh backtest --index WEIGHTS.csv|equal --cash USD [--deposits USD]` (issue #12 §6): a
direct index from cash, no HOLDINGS file, prices from a directory of the S&P set's per-ticker
files; `--json` keeps its fixed keys. Exactly one of --holdings and --index, exit 2 naming
them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from daemon.cli import _register, app
from tests.prices.pricekit import SP500_DAILY

SLICE = ["AAPL", "MSFT", "XOM", "CVX", "JPM", "BAC", "WFC", "C", "JNJ", "PFE"]
SLICE += ["MRK", "KO", "PEP", "WMT", "HD", "MCD", "INTC", "CSCO", "GE", "IBM"]
FIXED_KEYS = [
    "harvests",
    "harvested_loss",
    "estimated_tax_saved",
    "trades",
    "wash_sales_created",
    "wash_sales_avoided",
    "days",
    "quotes",
    "splits",
    "first_day",
    "last_day",
]


def tlh(*args: str) -> Result:
    _register()
    return CliRunner().invoke(app, ["backtest", *args], catch_exceptions=False)


@pytest.fixture
def sp500_slice(tmp_path: Path) -> Path:
    """Twenty S&P stocks' files, beside the set's constituents (sectors), linked."""
    source = SP500_DAILY
    if not source.is_dir():
        pytest.skip(f"the S&P 1999-2021 set is absent ({source})")
    folder = tmp_path / "sp500" / "daily_adjusted"
    folder.mkdir(parents=True)
    for symbol in SLICE:
        (folder / f"DA-{symbol}-T-2021-04-21.csv.gz").symlink_to(
            source / f"DA-{symbol}-T-2021-04-21.csv.gz"
        )
    (folder.parent / "constituents.csv.gz").symlink_to(source.parent / "constituents.csv.gz")
    return folder


def test_an_equal_index_from_cash_on_a_year_of_the_sp500_slice(
    sp500_slice: Path, tmp_path: Path
) -> None:
    """Twenty stocks, 2008, $100,000 and $1,000 a month: exit 0, the fixed keys, a year of
    sessions, no wash sale created, the money put in counted, the report written."""
    result = tlh(
        "--prices",
        str(sp500_slice),
        "--index",
        "equal",
        "--cash",
        "100000",
        "--deposits",
        "1000",
        "--start",
        "2008-01-01",
        "--end",
        "2008-12-31",
        "--json",
        "--report",
        str(tmp_path / "report"),
    )

    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert [k for k in summary if k in FIXED_KEYS] == FIXED_KEYS
    assert summary["first_day"] == "2008-01-02"
    assert summary["last_day"] == "2008-12-31"
    assert summary["days"] == 253
    assert summary["wash_sales_created"] == 0
    assert summary["invested"] == "111000.00"  # the start and eleven deposits
    assert (tmp_path / "report" / "report.html").is_file()


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ([], "--holdings"),
        (["--holdings", "HOLDINGS.csv", "--index", "equal", "--cash", "1"], "not both"),
        (["--index", "equal"], "--cash"),
        (["--holdings", "HOLDINGS.csv", "--cash", "100"], "--cash"),
        (["--index", "equal", "--cash", "lots"], "--cash: not an amount"),
    ],
    ids=["neither", "both", "no-cash", "cash-without-index", "bad-cash"],
)
def test_holdings_or_index_exactly_one_exit_2_naming_the_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], named: str
) -> None:
    """Neither or both of --holdings and --index, --cash missing or stray or not a number:
    one line naming the flag, exit 2, nothing on stdout."""
    prices = tmp_path / "prices.csv"
    prices.write_text("date,symbol,close\n2024-01-02,XYZ,100\n")
    (tmp_path / "HOLDINGS.csv").write_text("date,account,action,symbol,quantity,price\n")
    monkeypatch.chdir(tmp_path)

    result = tlh("--prices", str(prices), *args)

    assert result.exit_code == 2
    assert named in result.stderr
    assert "--index" in result.stderr or "--cash" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--cash", "1e400"], "--cash: must be at most 1,000,000,000,000 USD"),
        (["--cash", "1000", "--deposits", "1e400"], "--deposits: must be at most"),
        (
            ["--cash", "1000", "--start", "2024-01-03", "--end", "2024-01-02"],
            "--start 2024-01-03 is after --end 2024-01-02",
        ),
        (["--cash", "1000", "--report", "prices.csv/report"], "--report prices.csv/report: "),
        (["--cash", "1000", "--trades-out", "gone/trades.csv"], "--trades-out gone/trades.csv: "),
    ],
    ids=["cash-beyond-any-account", "deposit-beyond", "start-after-end", "report", "trades-out"],
)
def test_input_no_backtest_can_use_exits_2_before_the_replay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], named: str
) -> None:
    """Developers' guide: bad input is one line naming the flag, exit 2, no traceback, nothing
    written. Found trying the command as a hostile user: `1e400` dollars ended in a decimal
    traceback, a start after the end ran an empty backtest with exit 0, and an unwritable
    `--report` failed with a traceback only after the whole replay."""
    prices = tmp_path / "prices.csv"
    prices.write_text("date,symbol,close\n2024-01-02,XYZ,100\n2024-01-03,XYZ,101\n")
    monkeypatch.chdir(tmp_path)

    result = tlh("--prices", str(prices), "--index", "equal", *args)

    assert result.exit_code == 2
    assert named in result.stderr
    assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prices.csv"]
