"""`tlh tax report` end to end (in-process, Typer's CliRunner), with the wash-sale ledger."""

from __future__ import annotations

import csv
import io
import json
import os
from decimal import Decimal
from pathlib import Path

import pytest
from reportkit import DATA, report_json, tlh, write

import daemon.cli.tax as tax_cli

BAD = DATA / "bad"
BASIC = ("--trades", DATA / "basic_trades.csv", "--accounts", DATA / "accounts.csv")

# Every malformed input, and the one line it must produce on stderr (after "FILE:").
MALFORMED = [
    ("quantity_not_positive.csv", "3: quantity: must be greater than 0 (got '-5')"),
    ("unknown_action.csv", "3: action: must be BUY, SELL or SPLIT (got 'HODL')"),
    ("bad_date.csv", "3: date: not a valid date (expected YYYY-MM-DD or an ISO 8601 date-time)"),
    ("bad_number.csv", "3: price: not a number (got '1.234.5')"),
    ("nan.csv", "3: quantity: must be a finite number (got 'NaN')"),
    ("thousands_separator.csv", "2: quantity: thousands separators are not allowed (got '1,000')"),
    ("missing_column.csv", "3: price: missing value"),
    ("missing_header.csv", "1: header: missing header row"),
    ("header_without_price.csv", "1: header: missing required column(s): price"),
    # refused by the ledger (LedgerError.field), mapped back to the row by its line number
    ("unknown_lot.csv", "3: lot_id: no open lot 'L9'"),
    ("oversell.csv", "4: quantity: sells 11 but only 10 held"),
    ("duplicate_lot_id.csv", "3: lot_id: lot id 'L1' is already used"),
    ("sale_before_purchase.csv", "3: quantity: sells 5 but only 0 held"),
]


@pytest.mark.parametrize(("name", "expected"), MALFORMED, ids=[m[0] for m in MALFORMED])
@pytest.mark.parametrize("fmt", ["table", "json", "csv", "txf"])
def test_malformed_trades_exit_2_with_one_line_and_no_output(
    tmp_path: Path, name: str, expected: str, fmt: str
) -> None:
    """Contract: each malformed row stops with ONE message `FILE:LINE: FIELD: message` on
    stderr, exit code 2, nothing on stdout and no output file."""
    path = BAD / name
    out = tmp_path / "report.out"
    result = tlh("tax", "report", "--trades", path, "--format", fmt, "--output", out)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{path}:{expected}")
    assert result.stderr.count("\n") == 1
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_malformed_trades_without_output_option_print_nothing_on_stdout() -> None:
    """Contract: no partial output on stdout either."""
    result = tlh("tax", "report", "--trades", BAD / "oversell.csv", "--format", "json")
    assert (result.exit_code, result.stdout) == (2, "")


@pytest.mark.parametrize(
    ("option", "name", "expected"),
    [
        ("--accounts", "bad_accounts.csv", "bad_accounts.csv:2: type: must be one of taxable"),
        ("--config", "bad_config.toml", "bad_config.toml: identical[0].symbols: "),
        ("--config", "missing.toml", "missing.toml: file not found"),
    ],
)
def test_bad_accounts_or_config_exit_2(option: str, name: str, expected: str) -> None:
    """Contract: the same for ACCOUNTS.csv and the config (file and dotted key named)."""
    trades = DATA / "basic_trades.csv"
    result = tlh("tax", "report", "--trades", trades, option, DATA / name, "--format", "json")
    assert result.exit_code == 2
    assert expected in result.stderr
    assert result.stdout == ""


def test_missing_trades_file_exits_2(tmp_path: Path) -> None:
    """A missing input file is reported like any bad input."""
    result = tlh("tax", "report", "--trades", tmp_path / "nope.csv")
    assert result.exit_code == 2
    assert "nope.csv: cannot read file" in result.stderr


def test_json_report_of_a_wash_sale_by_repurchase() -> None:
    """Pub 550: a loss followed within 30 days by a purchase of the same stock is disallowed and
    added to the new shares' basis; the replacement's holding period includes the old one."""
    data = report_json("--trades", DATA / "basic_trades.csv", "--accounts", DATA / "accounts.csv")
    loss, ira = data["sales"]
    assert loss["wash_sale_disallowed"] == "200.00"
    assert loss["gain_loss"] == "0.00"
    assert loss["replacement_lot_ids"] == ["L2"]
    assert (ira["account_type"], ira["reportable"], ira["box"]) == ("ira", False, None)
    [replacement] = [lot for lot in data["open_lots"] if lot["lot_id"] == "L2"]
    assert (replacement["cost_basis"], replacement["adjusted_basis"]) == ("1810.00", "2010.00")
    assert replacement["holding_period_start"] < replacement["acquired"]
    assert data["totals"]["count"] == 1


def test_year_counts_a_january_purchase_against_a_december_loss() -> None:
    """IRC §1091(a): the 61-day window spans the year end, so a purchase on Jan 5 washes a loss of
    Dec 15; --year 2023 reports that sale, with the whole history applied."""
    data = report_json("--trades", DATA / "year_end_trades.csv", "--year", "2023")
    [loss] = data["sales"]
    assert loss["date_sold"] == "2023-12-15"
    assert (loss["wash_sale_disallowed"], loss["gain_loss"]) == ("200.00", "0.00")
    assert data["totals"]["gain_loss"] == "0.00"
    assert [lot["adjusted_basis"] for lot in data["open_lots"]] == ["2250.00"]
    # Control: the same year reported from a history that stops at Dec 31 allows the loss.
    truncated = report_json("--trades", DATA / "year_end_trades_2023_only.csv", "--year", "2023")
    assert truncated["totals"]["gain_loss"] == "-200.00"


def test_year_without_sales_reports_open_lots_of_the_whole_history() -> None:
    """Contract: open_lots are as of the end of the history, whatever --year says."""
    data = report_json("--trades", DATA / "year_end_trades.csv", "--year", "2024")
    assert data["sales"] == []
    assert data["totals"]["count"] == 0
    assert [lot["lot_id"] for lot in data["open_lots"]] == ["L2"]


def test_config_identical_groups_wash_across_symbols() -> None:
    """Pub 550, substantially identical securities: with VOO and IVV declared identical in
    tlh.toml ([[identical]]), buying IVV washes a VOO loss; without the config it does not."""
    trades = DATA / "identical_trades.csv"
    with_config = report_json("--trades", trades, "--config", DATA / "identical.toml")
    assert with_config["sales"][0]["wash_sale_disallowed"] == "200.00"
    without = report_json("--trades", trades)
    assert without["sales"][0]["wash_sale_disallowed"] == "0.00"


def test_lot_method_option_and_per_account_override(tmp_path: Path) -> None:
    """Contract: --lot-method picks lots for sales without lot_id (default fifo); an account's
    lot_method column in ACCOUNTS.csv overrides it for that account."""
    trades = write(
        tmp_path,
        "t.csv",
        "date,account,action,symbol,quantity,price,fees,lot_id\n"
        "2024-01-02,a,BUY,X,1,10,0,a-cheap\n2024-01-03,a,BUY,X,1,30,0,a-dear\n"
        "2024-01-02,b,BUY,X,1,10,0,b-cheap\n2024-01-03,b,BUY,X,1,30,0,b-dear\n"
        "2024-02-01,a,SELL,X,1,20,0,\n2024-02-01,b,SELL,X,1,20,0,\n",
    )
    accounts = write(tmp_path, "a.csv", "account,type,lot_method\nb,taxable,lifo\n")

    def sold(*args: str | Path) -> list[str]:
        data = report_json("--trades", trades, "--accounts", accounts, *args)
        return [row["lot_id"] for row in data["sales"]]

    assert sold() == ["a-cheap", "b-dear"]
    assert sold("--lot-method", "hifo") == ["a-dear", "b-dear"]


def test_csv_format_is_form_8949() -> None:
    """Contract: --format csv writes the Form 8949 columns, reportable sales only."""
    result = tlh("tax", "report", *BASIC, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["box"], r["description"], r["code"], r["adjustment"]) for r in rows] == [
        ("A", "10 VTI", "W", "200.00")
    ]


def test_txf_format_to_stdout_keeps_crlf() -> None:
    """TXF goes out byte for byte (CRLF line ends, see test_report_txf)."""
    result = tlh("tax", "report", "--trades", DATA / "basic_trades.csv", "--format", "txf")
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes.startswith(b"V042\r\nAtlh ")
    assert b"\r\nN321\r\n" in result.stdout_bytes


def test_table_format_is_the_default() -> None:
    """Contract: the default output is a readable table with a totals panel and W markers."""
    result = tlh("tax", "report", *BASIC)
    assert result.exit_code == 0, result.stderr
    for text in ("2024-03-01", "VTI", "200.00", " W ", "Totals", "Net gain/loss", "(ira)"):
        assert text in result.stdout


def test_output_writes_the_file_and_nothing_to_stdout(tmp_path: Path) -> None:
    """Contract: --output FILE writes there instead of stdout."""
    out = tmp_path / "report.json"
    result = tlh("tax", "report", *BASIC, "--format", "json", "-o", out)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert json.loads(out.read_text())["totals"]["count"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temporary file left


def test_output_error_leaves_an_existing_file_untouched(tmp_path: Path) -> None:
    """Contract: on bad input nothing is written — an existing output file keeps its content."""
    out = write(tmp_path, "report.json", "previous report\n")
    result = tlh("tax", "report", "--trades", BAD / "oversell.csv", "--format", "json", "-o", out)
    assert result.exit_code == 2
    assert out.read_text() == "previous report\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_output_is_replaced_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Contract: the file is written to a temporary file and renamed; a failure while writing
    leaves the old file whole and no temporary file behind."""
    out = write(tmp_path, "report.csv", "old\n")
    os.chmod(out, 0o640)

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tax_cli.os, "replace", broken_replace)
    result = tlh(
        "tax", "report", "--trades", DATA / "basic_trades.csv", "-o", out, "--format", "csv"
    )
    assert result.exit_code == 2
    assert "report.csv: cannot write: No space left on device" in result.stderr
    assert out.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.csv"]

    monkeypatch.undo()
    tax_cli.write_atomically(out, b"new\n")
    assert out.read_bytes() == b"new\n"
    assert out.stat().st_mode & 0o777 == 0o640  # an existing file keeps its permissions


def test_decimal_quantities_round_trip_exactly(tmp_path: Path) -> None:
    """Contract: fractional quantities are exact Decimals end to end, never floats."""
    trades = write(
        tmp_path,
        "t.csv",
        "date,account,action,symbol,quantity,price,fees,lot_id\n"
        "2024-01-02,,BUY,BTC-USD,0.1,100,0,\n2024-01-03,,BUY,BTC-USD,0.2,100,0,\n"
        "2024-02-01,,SELL,BTC-USD,0.3,90,0,\n",
    )
    data = report_json("--trades", trades)
    assert sum(Decimal(s["quantity"]) for s in data["sales"]) == Decimal("0.3")
    assert {s["account"] for s in data["sales"]} == {"default"}


def test_a_trading_config_without_credentials_still_reports(tmp_path: Path) -> None:
    """The report needs only identical groups and conventions from tlh.toml, not the broker.

    A daemon configured for Alpaca keeps its keys on the daemon's host; its tlh.toml must
    still drive `tlh tax report` elsewhere (the keys are never required to report).
    """
    config = write(
        tmp_path,
        "tlh.toml",
        'broker = "alpaca"\nmode = "paper"\n\n[[identical]]\nsymbols = ["SPY", "VOO"]\n',
    )
    trades = write(
        tmp_path,
        "t.csv",
        "date,account,action,symbol,quantity,price,fees,lot_id\n"
        "2024-01-02,a,BUY,SPY,10,400,,\n"
        "2024-02-01,a,SELL,SPY,10,380,,\n"
        "2024-02-10,a,BUY,VOO,10,350,,\n",
    )
    data = report_json("--trades", trades, "--config", config)
    assert data["totals"]["wash_sale_disallowed"] == "200.00"
