"""`tlh import` beside a real `tlh run` on the same journal (issue #11 §1; daemon/import_inbox.py).

"The daemon picks up new imports without a restart", while one process owns a journal at a
time: the command checks the file itself (read-only), hands the rows to the daemon through the
database and prints what the daemon added; a bad file exits 2 naming file, line and field, and
nothing is written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from commandkit import RunningDaemon, tlh

from adapters.storage.engine import create_engine
from adapters.storage.records import Account, JournalRecord
from adapters.storage.repository import Repository
from ledger.model import AccountType

pytestmark = pytest.mark.timeout(120)
HEADER = "date,account,action,symbol,quantity,price,fees,lot_id\n"


@pytest.fixture
def daemon(db_url: str, tmp_path: Path) -> Iterator[RunningDaemon]:
    """Yield a running `tlh run` on `db_url` that takes imports; it is stopped afterwards."""
    running = RunningDaemon.start(db_url, tmp_path)
    try:
        running.wait_for("imports_open")
        yield running
    finally:
        running.stop()


def _stored(url: str) -> tuple[list[JournalRecord], list[Account]]:
    async def read() -> tuple[list[JournalRecord], list[Account]]:
        db = create_engine(url)
        try:
            repo = Repository(db)
            return await repo.load_journal(), await repo.accounts()
        finally:
            await db.dispose()

    return asyncio.run(read())


def test_an_import_beside_the_daemon_is_applied_by_it_once(
    daemon: RunningDaemon, db_url: str, tmp_path: Path
) -> None:
    """The import does not exit 2 while `tlh run` holds the journal: the daemon applies it
    (logging `import_applied`) and the command prints what was added; importing the same file
    again adds nothing."""
    trades = tmp_path / "ira.csv"
    trades.write_text(HEADER + "2024-02-28,ira,BUY,VTI,5,185.00,0,\n")

    first = tlh(
        db_url, tmp_path, "import", "--account", "ira", "--type", "ira", "--trades", "ira.csv"
    )
    again = tlh(
        db_url, tmp_path, "import", "--account", "ira", "--type", "ira", "--trades", "ira.csv"
    )

    assert first.returncode == 0, first.stderr
    assert "Added: account ira" in first.stdout
    assert "imported 1 journal entries into account ira" in first.stdout
    assert again.returncode == 0, again.stderr
    assert "imported 0 journal entries into account ira; 1 transaction(s) already" in again.stdout
    applied = daemon.wait_for("import_applied")
    assert applied["account"] == "ira"
    assert applied["traded"] is False
    journal, accounts = _stored(db_url)
    assert [(r.account, r.symbol, str(r.quantity)) for r in journal] == [("ira", "VTI", "5")]
    assert accounts == [Account("ira", AccountType.IRA, "import", "fifo")]
    assert daemon.proc.poll() is None


def test_a_bad_import_beside_the_daemon_exits_2_and_writes_nothing(
    daemon: RunningDaemon, db_url: str, tmp_path: Path
) -> None:
    """Bad input: the file, line and field, exit 2, nothing imported (all or nothing), the
    good row before the bad one included."""
    trades = tmp_path / "bad.csv"
    trades.write_text(
        HEADER + "2024-02-28,ira,BUY,VTI,5,185.00,0,\n2024-02-29,ira,BUY,VTI,five,185.00,0,\n"
    )

    done = tlh(db_url, tmp_path, "import", "--account", "ira", "--trades", "bad.csv")

    assert done.returncode == 2
    assert done.stderr.startswith("bad.csv:3: quantity: "), done.stderr
    assert _stored(db_url) == ([], [])


def test_a_sale_the_ledger_rejects_beside_the_daemon_exits_2(
    daemon: RunningDaemon, db_url: str, tmp_path: Path
) -> None:
    """A row the ledger would reject (a sale of shares the account never held) is named with
    its line; nothing reaches the daemon's journal."""
    trades = tmp_path / "sale.csv"
    trades.write_text(HEADER + "2024-02-28,ira,SELL,VTI,5,185.00,0,\n")

    done = tlh(db_url, tmp_path, "import", "--account", "ira", "--trades", "sale.csv")

    assert done.returncode == 2
    assert done.stderr.startswith("sale.csv:2: quantity: "), done.stderr
    assert _stored(db_url) == ([], [])
