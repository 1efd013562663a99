"""`tlh tax report` on several cores (`daemon.cli.tax_parts`): the same bytes as on one.

The history is the benchmark's generator (bench/gen_trades.py) at 25,000 trades: wash sales,
chains, identical groups, IRA replacements, specific lots, fractional shares, fees.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import cast

import pytest
from reportkit import REPO

from daemon.cli.tax import ReportFormat, _build, _read, _render
from daemon.cli.tax_parts import MIN_BYTES, Output, PartFormat, write_in_parts
from ledger.conventions import LotMethod
from ledger.forms.txf import left_out_of_txf
from ledger.report import Totals

TLH = Path(sys.executable).with_name("tlh")
FORMATS = ("json", "csv", "txf")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = importlib.util.spec_from_file_location("gen_trades", REPO / "bench" / "gen_trades.py")
    assert spec is not None
    assert spec.loader is not None
    gen_trades = importlib.util.module_from_spec(spec)
    sys.modules["gen_trades"] = gen_trades  # its dataclasses look their module up
    spec.loader.exec_module(gen_trades)
    out = tmp_path_factory.mktemp("history")
    gen_trades.generate(25_000, out, seed=7, symbols=60)
    assert (out / "TRADES.csv").stat().st_size >= MIN_BYTES
    return out


@pytest.fixture(scope="module")
def backwards(history: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same history with its days in reverse order (each day's rows in theirs): the
    ledger's order is not the file's."""
    out = tmp_path_factory.mktemp("backwards")
    header, *rows = (history / "TRADES.csv").read_text().splitlines(keepends=True)
    days: dict[str, list[str]] = {}
    for row in rows:
        days.setdefault(row[:10], []).append(row)
    (out / "TRADES.csv").write_text(header + "".join(r for d in reversed(days) for r in days[d]))
    for name in ("ACCOUNTS.csv", "tlh.toml"):
        (out / name).write_bytes((history / name).read_bytes())
    return out


def run(
    history: Path, *args: str, trades: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [
            str(TLH), "tax", "report",
            "--trades", str(trades or history / "TRADES.csv"),
            "--accounts", str(history / "ACCOUNTS.csv"),
            "--config", str(history / "tlh.toml"),
            *args,
        ],
        capture_output=True,
        timeout=300,
        check=False,
    )  # fmt: skip


@pytest.mark.parametrize("rows", ["forwards", "backwards"])
@pytest.mark.parametrize("year", [None, 2022])
@pytest.mark.parametrize("fmt", FORMATS)
def test_workers_write_the_sequential_report_byte_for_byte(
    request: pytest.FixtureRequest, tmp_path: Path, fmt: str, year: int | None, rows: str
) -> None:
    """Issue #2 contract: the report does not depend on how many cores made it (in process,
    so that the split path is known to be taken)."""
    history: Path = request.getfixturevalue("history" if rows == "forwards" else rows)
    inputs = _read(
        history / "TRADES.csv", history / "ACCOUNTS.csv", history / "tlh.toml", LotMethod.FIFO
    )
    output = Output(cast(PartFormat, fmt), txf_program="tlh test")
    out = tmp_path / "report"
    with out.open("w+b") as f:
        done = write_in_parts(
            inputs.rows, MIN_BYTES, inputs.identity, inputs.new_ledger, output, f.fileno(),
            jobs=2, year=year, boxes=inputs.form_1099,
        )  # fmt: skip
    assert done, "the history was not split"
    report = _build(inputs, year)
    sequential = _render(report, ReportFormat(fmt), None, False)
    assert sequential is not None
    expected = b"".join(sequential)
    if fmt == "txf":  # the sequential renderer names this program and today
        expected = expected.replace(expected.split(b"\r\n")[1], b"Atlh test", 1)
        expected = expected.replace(expected.split(b"\r\n")[2], b"D 01/01/1970", 1)
    assert out.read_bytes() == expected


def one_job_and_two(
    history: Path, fmt: str, trades: Path | None = None
) -> tuple[subprocess.CompletedProcess[bytes], subprocess.CompletedProcess[bytes]]:
    one = run(history, "--format", fmt, "-j", "1", trades=trades)
    return one, run(history, "--format", fmt, "-j", "2", trades=trades)


def with_rows(tmp_path: Path, lines: list[str]) -> Path:
    bad = tmp_path / "TRADES.csv"
    bad.write_text("".join(lines))
    return bad


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_command_writes_the_same_file_with_one_job_or_two(history: Path, fmt: str) -> None:
    """`--jobs 2` and `--jobs 1` give identical output files (exit 0, nothing on stderr but,
    for a TXF of the history's five years, the same warning that it holds several)."""
    one, two = one_job_and_two(history, fmt)
    assert (one.returncode, two.returncode, two.stderr) == (0, 0, one.stderr)
    warning = b"warning: the TXF holds sales of 5 tax years (2020, 2021, 2022, 2023, 2024)"
    assert one.stderr.startswith(warning) if fmt == "txf" else one.stderr == b""
    assert two.stdout == one.stdout


def test_a_bad_row_fails_the_same_way_with_two_jobs(history: Path, tmp_path: Path) -> None:
    """Section 5: the message names file, line and field, exit 2, whatever the job count."""
    lines = (history / "TRADES.csv").read_text().splitlines(keepends=True)
    date, account, _action, *rest = lines[20_000].split(",")
    lines[20_000] = ",".join([date, account, "HOLD", *rest])
    bad = with_rows(tmp_path, lines)
    one, two = one_job_and_two(history, "json", bad)
    assert one.returncode == two.returncode == 2
    assert two.stderr == one.stderr
    assert f"{bad}:20001: action:" in two.stderr.decode()
    assert two.stdout == b""


def test_a_trade_the_ledger_refuses_fails_the_same_way_with_two_jobs(
    history: Path, tmp_path: Path
) -> None:
    """Section 5: an oversold position stops the report with its line, with workers too."""
    lines = (history / "TRADES.csv").read_text().splitlines(keepends=True)
    last = len(lines) - 1
    date, account, _action, symbol, *_rest = lines[last].split(",")
    lines.append(f"{date},{account},SELL,{symbol},1000000,1,,\n")
    bad = with_rows(tmp_path, lines)
    one, two = one_job_and_two(history, "csv", bad)
    assert one.returncode == two.returncode == 2
    assert two.stderr == one.stderr
    assert f"{bad}:{last + 2}: quantity: sells 1000000" in two.stderr.decode()


@pytest.fixture(scope="module")
def with_splits(history: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The history with three of its symbols split mid-way, 2:1, 4:3 (share counts of 26
    decimal places after it) and 5:4, as SPLIT rows (a reverse split would leave too few
    shares for the sales after it)."""
    out = tmp_path_factory.mktemp("splits")
    header, *rows = (history / "TRADES.csv").read_text().splitlines(keepends=True)
    symbols = sorted({row.split(",")[3] for row in rows})[:3]
    middle = sorted(row[:10] for row in rows)[len(rows) // 2]
    splits = [
        f"{middle},,SPLIT,{s},{r},,,\n" for s, r in zip(symbols, ("2", "4/3", "5/4"), strict=True)
    ]
    (out / "TRADES.csv").write_text(header + "".join(rows) + "".join(splits))
    for name in ("ACCOUNTS.csv", "tlh.toml"):
        (out / name).write_bytes((history / name).read_bytes())
    return out


def test_splits_report_the_same_with_one_job_or_two(
    with_splits: Path, history: Path, tmp_path: Path
) -> None:
    """A SPLIT row goes to the part of its symbol: the workers take the history, two jobs
    write what one writes, and the splits change the report (the shares sold after them are
    the split ones)."""
    inputs = _read(
        with_splits / "TRADES.csv",
        with_splits / "ACCOUNTS.csv",
        with_splits / "tlh.toml",
        LotMethod.FIFO,
    )
    with (tmp_path / "report.json").open("w+b") as f:
        assert write_in_parts(
            inputs.rows, MIN_BYTES, inputs.identity, inputs.new_ledger,
            Output("json"), f.fileno(), jobs=2, year=None, boxes=inputs.form_1099,
        )  # fmt: skip
    one, two = one_job_and_two(with_splits, "json")
    assert (one.returncode, two.returncode) == (0, 0), one.stderr
    assert two.stdout == one.stdout
    assert one.stdout != run(history, "--format", "json").stdout


@pytest.fixture(scope="module")
def digital(history: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The history eight years later (2028–2032: the same leap days), with two of its symbols
    declared digital assets, so that their sales go in boxes G–L."""
    out = tmp_path_factory.mktemp("digital")
    header, *rows = (history / "TRADES.csv").read_text().splitlines(keepends=True)
    symbols = sorted({row.split(",")[3] for row in rows})[:2]
    later = [f"{int(row[:4]) + 8}{row[4:]}" for row in rows]
    (out / "TRADES.csv").write_text(header + "".join(later))
    (out / "ACCOUNTS.csv").write_bytes((history / "ACCOUNTS.csv").read_bytes())
    toml = (history / "tlh.toml").read_text()
    assert "[wash_sale]" not in toml
    listed = ", ".join(f'"{s}"' for s in symbols)
    (out / "tlh.toml").write_text(f"{toml}\n[wash_sale]\ncrypto_symbols = [{listed}]\n")
    return out


@pytest.mark.parametrize("fmt", FORMATS)
def test_digital_asset_sales_are_left_out_of_the_txf_the_same_way_with_two_jobs(
    digital: Path, fmt: str
) -> None:
    """Issue #11 §5 on several cores: the same boxes G–L in csv and json, the same TXF without
    them, and the same warning naming how many sales and their totals were left out."""
    one, two = one_job_and_two(digital, fmt)
    assert (one.returncode, two.returncode) == (0, 0)
    assert two.stderr == one.stderr
    assert two.stdout == one.stdout
    if fmt == "txf":
        assert b"warning: the TXF leaves out " in one.stderr
        assert b"digital-asset sale(s) (proceeds " in one.stderr
    elif fmt == "csv":
        boxes = {line[:1] for line in one.stdout.splitlines()[1:]}
        assert boxes & {b"G", b"H", b"J", b"K"}


def test_workers_sum_the_digital_asset_sales_they_leave_out_of_the_txf(
    digital: Path, tmp_path: Path
) -> None:
    """The split path is taken, and the totals it gives for the warning are the sequential
    report's (`left_out_of_txf`)."""
    inputs = _read(
        digital / "TRADES.csv", digital / "ACCOUNTS.csv", digital / "tlh.toml", LotMethod.FIFO
    )
    left_out: list[Totals] = []
    with (tmp_path / "report.txf").open("w+b") as f:
        done = write_in_parts(
            inputs.rows, MIN_BYTES, inputs.identity, inputs.new_ledger, Output("txf"), f.fileno(),
            jobs=2, boxes=inputs.form_1099, digital=inputs.digital, left_out=left_out,
        )  # fmt: skip
    assert done, "the history was not split"
    expected = left_out_of_txf(_build(inputs, None).form8949_sales())
    assert expected.count > 0
    assert left_out == [expected]
