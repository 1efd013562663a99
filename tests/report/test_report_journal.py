"""`tlh tax report --journal` (issue #11 §3): the report straight from the journal, imports
included, without exporting a TRADES.csv first.

The journal below holds the daemon's fills in a taxable account, an imported IRA whose
purchase washes a loss of the taxable account for good (Rev. Rul. 2008-5), an imported
taxable account with a long-term sale, and a crypto sale (box H, `test_report_digital_assets`).
The same history written as TRADES.csv, with the IRA's type in ACCOUNTS.csv, must give the
same report in every format, byte for byte.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from reportkit import tlh, write

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "run_command"))
from commandkit import tlh as tlh_process

from adapters.storage.engine import create_engine
from adapters.storage.journal_lock import JournalLockedError, lock_journal
from adapters.storage.migrate import upgrade_database
from adapters.storage.records import Account, JournalEntry, JournalKind
from adapters.storage.repository import Repository
from ledger.model import AccountType, Action, Transfer

FILL, IMPORT = JournalKind.TRADE, JournalKind.IMPORT
# (kind, date, account, action, symbol, quantity, price, fees, lot_id): the journal's entries
# and the TRADES.csv rows alike.
HISTORY = [
    (IMPORT, "2022-05-02", "old-broker", "BUY", "SPY", "3", "400", "1", "S1"),
    (FILL, "2024-01-02", "alpaca", "BUY", "VTI", "10", "200", "0", "V1"),
    (FILL, "2024-03-01", "alpaca", "SELL", "VTI", "10", "180", "0", "V1"),
    (IMPORT, "2024-03-10", "spouse-ira", "BUY", "VTI", "5", "181", "0", "V2"),
    (IMPORT, "2024-06-03", "old-broker", "SELL", "SPY", "3", "450", "1", ""),
    (FILL, "2025-01-03", "alpaca", "BUY", "BTC-USD", "0.1", "40000", "0", "B1"),
    (FILL, "2025-02-03", "alpaca", "SELL", "BTC-USD", "0.1", "50000", "0", ""),
]
IRA = Account("spouse-ira", AccountType.IRA, "import", "fifo")


def _entry(row: tuple[JournalKind, str, str, str, str, str, str, str, str]) -> JournalEntry:
    kind, day, account, action, symbol, qty, price, fees, lot = row
    return JournalEntry.trade(
        account=account,
        action=Action(action),
        symbol=symbol,
        quantity=Decimal(qty),
        price=Decimal(price),
        fees=Decimal(fees),
        trade_date=date.fromisoformat(day),
        source="test",
        lot_id=lot or None,
        kind=kind,
        external_id=f"{account}:{day}:{action}:{symbol}",
    )


async def _write_journal(url: str, *more: JournalEntry) -> None:
    db = create_engine(url)
    try:
        await upgrade_database(db)
        repo = Repository(db)
        await repo.append_journal([_entry(row) for row in HISTORY] + list(more))
        await repo.upsert_account(IRA)
    finally:
        await db.dispose()


@pytest.fixture
def journal(db_url: str, tmp_path: Path) -> tuple[str, Path]:
    """Return the URL of the journal above and a tlh.toml naming it."""
    asyncio.run(_write_journal(db_url))
    config = write(tmp_path, "tlh.toml", f'[database]\nurl = "{db_url}"\n')
    return db_url, config


def _trades_csv(directory: Path) -> tuple[Path, Path]:
    rows = "".join(",".join(row[1:]) + "\n" for row in HISTORY)
    trades = write(
        directory, "TRADES.csv", "date,account,action,symbol,quantity,price,fees,lot_id\n" + rows
    )
    accounts = write(directory, "ACCOUNTS.csv", "account,type\nspouse-ira,ira\n")
    return trades, accounts


@pytest.mark.parametrize("fmt", ["json", "csv", "txf", "table"])
@pytest.mark.parametrize("year", [None, "2024", "2025"])
def test_the_journal_gives_the_report_of_the_equivalent_trades_csv(
    journal: tuple[str, Path], tmp_path: Path, fmt: str, year: str | None
) -> None:
    """Issue #11 §3: the journal's fills and imported rows report as the same history in a
    TRADES.csv does (the IRA's type from the journal's accounts table there, from ACCOUNTS.csv
    here), in every format and for any year; warnings included."""
    _url, config = journal
    trades, accounts = _trades_csv(tmp_path)
    options = ["--format", fmt, *(["--year", year] if year else [])]
    from_csv = tlh("tax", "report", "--trades", trades, "--accounts", accounts, *options)
    from_journal = tlh("tax", "report", "--journal", "--config", config, *options)
    assert from_csv.exit_code == 0, from_csv.stderr
    assert from_journal.exit_code == 0, from_journal.stderr
    assert from_journal.stdout == from_csv.stdout
    assert from_journal.stderr == from_csv.stderr


def test_the_journal_report_holds_the_imported_accounts(journal: tuple[str, Path]) -> None:
    """The IRA's purchase of 5 shares washes the loss on 5 of the 10 sold, for good, and the
    imported long-term SPY sale is reported: the imports are in the report, not only the
    daemon's fills."""
    _url, config = journal
    result = tlh("tax", "report", "--journal", "--config", config, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert [line.split(",")[:9] for line in result.stdout.splitlines()[1:]] == [
        ["A", "5 VTI", "01/02/2024", "03/01/2024", "900.00", "1000.00", "", "", "-100.00"],
        ["A", "5 VTI", "01/02/2024", "03/01/2024", "900.00", "1000.00", "W", "100.00", "0.00"],
        ["D", "3 SPY", "05/02/2022", "06/03/2024", "1349.00", "1201.00", "", "", "148.00"],
        ["H", "0.1 BTC-USD", "01/03/2025", "02/03/2025", "5000.00", "4000.00", "", "", "1000.00"],
    ]


def test_a_transfer_out_is_in_no_report(db_url: str, tmp_path: Path) -> None:
    """The IRA's 5 VTI delivered to another broker in kind (a journaled transfer): no sale or
    exchange (IRC §1001(a)), so Form 8949 has the same rows as without it, and no lot of it is
    left open."""
    gone = Transfer(0, date(2024, 4, 1), "spouse-ira", "VTI", Decimal(5), source="test")
    asyncio.run(_write_journal(db_url, JournalEntry.from_event(gone, external_id="acats:1")))
    config = write(tmp_path, "tlh.toml", f'[database]\nurl = "{db_url}"\n')
    result = tlh("tax", "report", "--journal", "--config", config, "--format", "csv")
    as_json = tlh("tax", "report", "--journal", "--config", config, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert [line.split(",")[:2] for line in result.stdout.splitlines()[1:]] == [
        ["A", "5 VTI"],
        ["A", "5 VTI"],
        ["D", "3 SPY"],
        ["H", "0.1 BTC-USD"],
    ]
    assert '"VTI"' not in as_json.stdout.split('"open_lots"')[1]


def test_the_report_runs_while_the_daemon_holds_the_journal_lock(
    journal: tuple[str, Path], tmp_path: Path
) -> None:
    """It only reads, as `tlh lots` does: no journal lock (adapters.storage.journal_lock), so
    it runs beside a running daemon (here: this process holding the lock)."""
    url, _config = journal
    loop = asyncio.new_event_loop()
    lock = loop.run_until_complete(lock_journal(url))
    try:
        result = tlh_process(url, tmp_path, "tax", "report", "--journal", "--format", "csv")
        with pytest.raises(JournalLockedError):  # the lock is held indeed
            loop.run_until_complete(lock_journal(url))
    finally:
        loop.run_until_complete(lock.release())
        loop.close()
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 5


def test_a_bad_configuration_exits_2_naming_the_key(tmp_path: Path) -> None:
    """Guide: a bad configuration is one message naming file and key, exit 2, no report."""
    config = write(tmp_path, "tlh.toml", "[harvest]\nmin_loss_pct = 5\n")
    result = tlh("tax", "report", "--journal", "--config", config, "--format", "csv")
    assert result.exit_code == 2
    assert "harvest.min_loss_pct" in result.stderr
    assert str(config) in result.stderr
    assert result.stdout == ""


def test_an_unknown_key_exits_2_naming_it(tmp_path: Path) -> None:
    """A config key for a feature that does not exist is refused, named."""
    config = write(tmp_path, "tlh.toml", "[report]\nform_1099_da = 'none'\n")
    result = tlh("tax", "report", "--journal", "--config", config)
    assert result.exit_code == 2
    assert "report.form_1099_da" in result.stderr


def test_a_missing_journal_exits_2_and_creates_nothing(tmp_path: Path) -> None:
    """A reader creates no database: a journal that is not there is an error naming it."""
    database = tmp_path / "none.sqlite"
    config = write(tmp_path, "tlh.toml", f'[database]\nurl = "sqlite+aiosqlite:///{database}"\n')
    result = tlh("tax", "report", "--journal", "--config", config)
    assert result.exit_code == 2
    assert "no journal there" in result.stderr
    assert str(database) in result.stderr
    assert not database.exists()


@pytest.mark.parametrize(
    "given", [[], ["--journal", "--trades", "TRADES.csv"]], ids=["none", "both"]
)
def test_the_history_is_the_journal_or_a_trades_csv(given: list[str]) -> None:
    """Exactly one history: --trades FILE.csv or --journal."""
    result = tlh("tax", "report", *given)
    assert result.exit_code == 2
    assert "--trades FILE.csv or --journal" in result.stderr


def test_the_report_is_not_written_over_the_journal(sqlite_url: str, tmp_path: Path) -> None:
    """--output naming the journal's own SQLite file is refused: it would replace the journal."""
    asyncio.run(_write_journal(sqlite_url))
    config = write(tmp_path, "tlh.toml", f'[database]\nurl = "{sqlite_url}"\n')
    database = Path(sqlite_url.split("///", 1)[1])
    before = database.read_bytes()
    result = tlh("tax", "report", "--journal", "--config", config, "--output", database)
    assert result.exit_code == 2
    assert "is the --journal file" in result.stderr
    assert database.read_bytes() == before
