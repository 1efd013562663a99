"""Every command works on a journal holding an entry the ledger rejects (issue #13 A.6).

An older version could journal a sale twice; the ledger rejects the second (more shares sold
than held). `tlh run`, `tlh lots`, `tlh status` and `tlh halts` must not end in a traceback:
the entry is skipped, the symbol is halted (`daemon/journal_replay.py`).
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from bad_journal import write_bad_journal
from test_tlh_run import start, wait_for
from typer.testing import CliRunner

from adapters.storage.engine import create_engine
from adapters.storage.migrate import upgrade_database
from adapters.storage.repository import Repository
from daemon.cli import _register, app


def _make_journal(url: str) -> None:
    async def work() -> None:
        db = create_engine(url)
        await upgrade_database(db)
        await write_bad_journal(Repository(db))
        await db.dispose()

    asyncio.run(work())


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bad.sqlite'}"
    monkeypatch.setenv("TLH_DATABASE__URL", url)
    monkeypatch.setenv("TLH_ACCOUNTS__TAXABLE", "taxable")
    monkeypatch.chdir(tmp_path)
    _make_journal(url)
    _register()
    return url


def test_lots_skips_the_rejected_entry_and_says_so(database: str) -> None:
    """`tlh lots` lists the lots (the later purchases too) and warns about the entry."""
    result = CliRunner().invoke(app, ["lots"])
    assert result.exit_code == 0, result.output
    assert "vti-2" in result.stdout
    assert "schb-1" in result.stdout
    assert "journal entry 2 rejected by the ledger" in result.stderr


def test_status_works(database: str) -> None:
    """`tlh status` shows the journal (4 entries) instead of a traceback."""
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    assert "journal entries" in result.stdout
    assert "rejected by the ledger" in result.stderr


def test_run_starts_halts_the_symbol_and_stops_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tlh run` starts on the journal, halts VTI (an error event names the entry), stops
    on SIGTERM with exit 0; `tlh halts list` then shows the halt and why."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'run.sqlite'}"
    _make_journal(url)
    proc = start(tmp_path, TLH_ACCOUNTS__TAXABLE="taxable")
    try:
        records = wait_for(proc, "scheduler_started")
        halts = [r for r in records if r.get("event") == "reconcile_mismatch"]
        assert [r["symbol"] for r in halts] == ["VTI"]
        assert "journal entry 2" in halts[0]["reason"]
        proc.send_signal(signal.SIGTERM)
        wait_for(proc, "daemon_stopping", seconds=15)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    monkeypatch.setenv("TLH_DATABASE__URL", url)
    monkeypatch.chdir(tmp_path)
    _register()
    listed = CliRunner().invoke(app, ["halts", "list"])
    assert listed.exit_code == 0, listed.output
    assert "VTI" in listed.stdout
    assert "rejected" in listed.stdout
