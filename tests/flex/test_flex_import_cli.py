"""`tlh import` as a user runs it: a subprocess on a real SQLite file.

Issue #11 §1 (the command's contract): imports are idempotent, ``--dry-run`` writes nothing,
bad input names the file, line (or element) and field, exits 2, imports nothing. Issue #9 §2:
IB trades older than ``reqExecutions`` reaches come from a Flex statement, a file or the Flex
Web Service with the token from the secrets (never logged). One process owns a journal
(`adapters/storage/journal_lock.py`): an import beside `tlh run` exits 2 naming it.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from fake_flex import QUERY_ID, TOKEN, FakeFlex, serving

from adapters.storage.journal_lock import lock_journal

pytestmark = pytest.mark.timeout(180)
TLH = Path(sys.executable).with_name("tlh")
FIXTURE = Path(__file__).parent / "fixtures" / "activity_2025.xml"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "tlh.sqlite"


def tlh(
    db: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TLH_")}
    base |= {"TLH_DATABASE__URL": f"sqlite+aiosqlite:///{db}", "COLUMNS": "200"}
    return subprocess.run(
        [str(TLH), *args],
        cwd=db.parent,
        env=base | (env or {}),
        text=True,
        capture_output=True,
        timeout=90,
    )


def journal(db: Path) -> list[tuple[str, str]]:
    """Return (kind, external id) of every journal entry, in seq order."""
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT kind, external_id FROM journal ORDER BY seq").fetchall()


def test_a_flex_statement_is_imported_once(db: Path) -> None:
    """The first import adds the statement's trades and split; the second adds nothing."""
    first = tlh(db, "import", "--ib-flex", str(FIXTURE))
    entries = journal(db)
    second = tlh(db, "import", "--ib-flex", str(FIXTURE))

    assert first.returncode == 0, first.stderr
    assert "imported 6 journal entries into account U1234567" in first.stdout
    assert "skipped 1 OPT trades" in first.stdout
    assert len(entries) == 6
    assert {kind for kind, _id in entries} == {"import", "split"}
    assert second.returncode == 0, second.stderr
    assert "imported 0 journal entries" in second.stdout
    assert "5 transaction(s) already in the journal" in second.stdout
    assert journal(db) == entries


def test_the_imported_lots_are_in_the_ledger(db: Path) -> None:
    """`tlh lots` (the ledger rebuilt from the journal) shows the imported lots: VTI's
    March lot with 90 of its 100 shares left, SCHB's 30 shares split 3 for 1."""
    assert tlh(db, "import", "--ib-flex", str(FIXTURE)).returncode == 0

    lots = tlh(db, "lots")

    assert lots.returncode == 0, lots.stderr
    rows = {line.split("│")[3].strip(): line for line in lots.stdout.splitlines() if "│" in line}
    assert set(rows) == {"VTI-20250303-ib1001", "SCHB-20240903-ib9000"}
    assert " 90 " in rows["VTI-20250303-ib1001"]
    assert " 90 " in rows["SCHB-20240903-ib9000"]


def test_a_dry_run_shows_the_entries_and_writes_nothing(db: Path) -> None:
    """The table of what would be added, and no database written (not even created)."""
    result = tlh(db, "import", "--ib-flex", str(FIXTURE), "--dry-run")

    assert result.returncode == 0, result.stderr
    assert "Would add (dry run)" in result.stdout
    assert "ib-flex:U1234567:1004#2" in result.stdout
    assert "would import 6 journal entries" in result.stdout
    assert not db.exists()


def test_a_dry_run_on_a_journal_writes_nothing(db: Path) -> None:
    """On an existing journal the dry run reads it (what is known is not shown again)."""
    rows = FIXTURE.read_text().splitlines()
    half = tmp_statement(db.parent, [r for r in rows if 'transactionID="1004"' not in r])
    assert tlh(db, "import", "--ib-flex", str(half)).returncode == 0
    before = journal(db)

    result = tlh(db, "import", "--ib-flex", str(FIXTURE), "--dry-run")

    assert result.returncode == 0, result.stderr
    assert "would import 2 journal entries" in result.stdout
    assert journal(db) == before


def tmp_statement(folder: Path, lines: list[str]) -> Path:
    path = folder / "statement.xml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_bad_file_exits_2_naming_file_line_and_field(db: Path) -> None:
    """A bad quantity on the fixture's 3rd Trade: one line naming it, no traceback, and
    nothing imported (not even the good rows before it)."""
    lines = FIXTURE.read_text().splitlines()
    number = next(i for i, line in enumerate(lines) if 'transactionID="1002"' in line)
    lines[number] = lines[number].replace('quantity="50"', 'quantity="5O"')
    bad = tmp_statement(db.parent, lines)

    result = tlh(db, "import", "--ib-flex", str(bad))

    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"{bad}:{number + 1}: Trade[3]/@quantity: cannot read '5O': "
        "Can't convert '5O' to <class 'decimal.Decimal'>"
    )
    assert "Traceback" not in result.stderr
    assert journal(db) == []


@pytest.mark.parametrize(
    ("attribute", "raw", "message"),
    [
        ("quantity", "1e400000000", "out of range: must be less than 10^12"),
        ("quantity", "1E+30", "out of range: must be less than 10^12"),
        ("tradePrice", "NaN", "must be a finite number"),
        ("tradePrice", "0.0000000000000000001", "more than 18 decimal places"),
    ],
)
def test_a_number_out_of_bounds_exits_2_naming_its_attribute(
    db: Path, attribute: str, raw: str, message: str
) -> None:
    """Numbers are bounded as TRADES.csv's are (`adapters.importers.inexact`): a value the
    ledger's arithmetic would overflow or round is refused at its attribute, not a traceback."""
    lines = FIXTURE.read_text().splitlines()
    number = next(i for i, line in enumerate(lines) if 'transactionID="1002"' in line)
    old = re.search(rf'{attribute}="[^"]*"', lines[number])
    assert old is not None
    lines[number] = lines[number].replace(old.group(), f'{attribute}="{raw}"')
    bad = tmp_statement(db.parent, lines)

    result = tlh(db, "import", "--ib-flex", str(bad))

    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"{bad}:{number + 1}: Trade[3]/@{attribute}: {message} (got {raw!r})"
    )
    assert journal(db) == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("1e400000000", "out of range: must be less than 10^12"),
        ("1E+30", "out of range: must be less than 10^12"),
    ],
)
def test_a_csv_number_out_of_bounds_exits_2(db: Path, raw: str, message: str) -> None:
    """TRADES.csv: the same bounds, named at the row's line and column."""
    csv = db.parent / "trades.csv"
    csv.write_text(
        f"date,account,action,symbol,quantity,price,fees,lot_id\n2025-01-02,,BUY,VTI,{raw},200,0,\n"
    )

    result = tlh(db, "import", "--account", "ira", "--trades", str(csv))

    assert result.returncode == 2
    assert result.stderr.strip() == f"{csv}:2: quantity: {message} (got {raw!r})"
    assert journal(db) == []


def test_a_csv_with_a_bad_row_exits_2_and_imports_nothing(db: Path) -> None:
    """TRADES.csv: the bad row's line and column; the good row before it is not imported."""
    csv = db.parent / "trades.csv"
    csv.write_text(
        "date,account,action,symbol,quantity,price,fees,lot_id\n"
        "2025-01-02,,BUY,VTI,5,200,0,\n"
        "2025-01-03,,BUY,VTI,-5,200,0,\n"
    )

    result = tlh(db, "import", "--account", "ira", "--type", "ira", "--trades", str(csv))

    assert result.returncode == 2
    assert result.stderr.startswith(f"{csv}:3: quantity: must be greater than 0")
    assert journal(db) == []


def test_trades_csv_is_imported_into_the_account_with_its_type(db: Path) -> None:
    """--trades with --type: the rows go to the account, the type is stored with it, and the
    user is told to declare it for the daemon."""
    csv = db.parent / "trades.csv"
    csv.write_text(
        "date,account,action,symbol,quantity,price,fees,lot_id\n2025-01-02,,BUY,VTI,5,200,0,\n"
    )

    result = tlh(db, "import", "--account", "ira", "--type", "ira", "--trades", str(csv))
    again = tlh(db, "import", "--account", "ira", "--type", "ira", "--trades", str(csv))

    assert result.returncode == 0, result.stderr
    assert 'declare `ira = "ira"` under [accounts]' in result.stderr
    assert "imported 0 journal entries" in again.stdout
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT account, type FROM accounts").fetchall() == [("ira", "ira")]
        assert conn.execute("SELECT account, symbol FROM journal").fetchall() == [("ira", "VTI")]


def test_a_split_row_is_journaled_as_a_split_once(db: Path) -> None:
    """TRADES.csv with a SPLIT row (README "TRADES.csv"): the split is journaled as a split,
    the sale of the split shares after it is accepted, and importing the file again adds
    nothing."""
    csv = db.parent / "trades.csv"
    csv.write_text(
        "date,account,action,symbol,quantity,price,fees,lot_id\n"
        "2025-01-02,,BUY,C,3,90,0,C-1\n"
        "2025-02-03,,SPLIT,C,4/3,,,\n"
        "2025-03-03,,SELL,C,4,60,0,C-1\n"
    )

    result = tlh(db, "import", "--account", "brokerage", "--trades", str(csv))
    again = tlh(db, "import", "--account", "brokerage", "--trades", str(csv))

    assert result.returncode == 0, result.stderr
    assert "imported 0 journal entries" in again.stdout
    assert [kind for kind, _id in journal(db)] == ["import", "split", "import"]
    with sqlite3.connect(db) as conn:
        [(ratio,)] = conn.execute("SELECT ratio FROM journal WHERE kind = 'split'").fetchall()
    assert Decimal(ratio) == Decimal(4) / Decimal(3)


def test_an_account_other_than_the_statements_exits_2_naming_both(db: Path) -> None:
    """--account differing from the statement's accountId is an error naming both."""
    result = tlh(db, "import", "--ib-flex", str(FIXTURE), "--account", "U999")

    assert result.returncode == 2
    assert "'U999'" in result.stderr
    assert "'U1234567'" in result.stderr
    assert journal(db) == []


def test_an_import_while_another_process_owns_the_journal_exits_2_naming_it(db: Path) -> None:
    """The import takes the journal lock as `tlh run` does; held elsewhere, it exits 2
    naming the holder, and writes nothing."""

    async def hold_and_import() -> subprocess.CompletedProcess[str]:
        lock = await lock_journal(f"sqlite+aiosqlite:///{db}")
        try:
            return await asyncio.to_thread(tlh, db, "import", "--ib-flex", str(FIXTURE))
        finally:
            await lock.release()

    result = asyncio.run(hold_and_import())

    assert result.returncode == 2
    assert f"pid {os.getpid()}" in result.stderr
    assert "Traceback" not in result.stderr
    assert journal(db) == []


@pytest.fixture
def flex_service() -> Iterator[FakeFlex]:
    with serving(FakeFlex(statement=FIXTURE.read_bytes(), pending=1)) as fake:
        yield fake


def test_the_statement_is_fetched_with_the_secret_token(
    db: Path, flex_service: FakeFlex, tmp_path: Path
) -> None:
    """--ib-flex-fetch: the token from the secrets directory, the query id and URL from the
    environment; at DEBUG, the token is in no output line."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "TLH_IB__FLEX_TOKEN").write_text(TOKEN + "\n")
    env = {
        "TLH_SECRETS_DIR": str(secrets),
        "TLH_IB__FLEX_QUERY_ID": QUERY_ID,
        "TLH_IB__FLEX_URL": flex_service.url,
        "TLH_LOGGING__LEVEL": "DEBUG",
    }

    result = tlh(db, "import", "--ib-flex-fetch", env=env)

    assert result.returncode == 0, result.stderr
    assert "imported 6 journal entries into account U1234567" in result.stdout
    assert [r.query["t"] for r in flex_service.requests] == [TOKEN] * 3
    output = result.stdout + result.stderr
    assert "flex_statement_pending" in output  # the DEBUG run logged, and the retry happened
    assert TOKEN[:8] not in output
    assert TOKEN[-8:] not in output


def test_an_expired_token_exits_2_with_ibs_message(db: Path, flex_service: FakeFlex) -> None:
    """IB's error 1012 ends the import with its code and message, and nothing imported."""
    flex_service.send_error = ("1012", "Token has expired.")
    env = {
        "TLH_IB__FLEX_TOKEN": TOKEN,
        "TLH_IB__FLEX_QUERY_ID": QUERY_ID,
        "TLH_IB__FLEX_URL": flex_service.url,
    }

    result = tlh(db, "import", "--ib-flex-fetch", env=env)

    assert result.returncode == 2
    assert "error 1012: Token has expired." in result.stderr
    assert TOKEN[:8] not in result.stderr
    assert journal(db) == []
