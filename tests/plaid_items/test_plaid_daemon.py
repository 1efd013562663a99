"""`tlh run` with a linked Item: the daemon syncs it at start into its journal, no restart."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

from adapters.storage.engine import create_engine
from adapters.storage.records import JournalRecord
from adapters.storage.repository import Repository
from tests.fake_plaid.server import CLIENT_ID, SECRET, FakePlaid
from tests.run_command.commandkit import TLH, tlh_env
from tests.run_command.test_tlh_run import wait_for

from .plaidkit import TOKEN
from .test_plaid_cli import linked


def test_the_daemon_syncs_plaid_at_start(
    fake_plaid: FakePlaid, tmp_path: Path, sqlite_url: str
) -> None:
    """The start-up sync imports the Item's purchase and opening lot through the daemon's
    import sink, with the access token nowhere in its log."""
    linked(fake_plaid)
    token = tmp_path / "plaid.token"
    token.write_text(TOKEN)
    config = tmp_path / "tlh.toml"
    config.write_text(
        f'[plaid]\nurl = "{fake_plaid.url}"\n\n'
        f'[[plaid.items]]\naccount = "spouse-ira"\naccess_token_file = "{token}"\n'
    )
    env = tlh_env(sqlite_url) | {"TLH_PLAID__CLIENT_ID": CLIENT_ID, "TLH_PLAID__SECRET": SECRET}
    proc = subprocess.Popen(
        [str(TLH), "run", "--config", str(config)],
        cwd=tmp_path,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        done = wait_for(proc, "plaid_sync_done", seconds=60)[-1]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert done["account"] == "spouse-ira"
    assert done["added"] == 2
    ids = {r.external_id for r in asyncio.run(journal(sqlite_url)) if r.account == "spouse-ira"}
    assert "plaid:tx-ira-1" in ids
    assert any(i.startswith("plaid:opening:spouse-ira:VTI") for i in ids if i)


async def journal(url: str) -> list[JournalRecord]:
    """Return the journal the daemon wrote."""
    engine = create_engine(url)
    try:
        return await Repository(engine).load_journal()
    finally:
        await engine.dispose()
