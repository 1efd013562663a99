"""The journal lock (`adapters/storage/journal_lock.py`, issue 13 §A.1), in one process.

The subprocess tests (tests/run_command/test_one_daemon_per_journal.py) show two `tlh run`;
these pin the lock's own rules: one holder at a time, named; free again once released; a
missing folder is the database's error; an in-memory database needs no lock.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.storage.engine import DatabaseUnavailableError
from adapters.storage.journal_lock import Holder, JournalLockedError, lock_journal


async def test_one_holder_at_a_time_and_named(db_url: str) -> None:
    """A second lock on the same journal fails, naming the holder; after release it works."""
    first = await lock_journal(db_url)
    try:
        with pytest.raises(JournalLockedError) as caught:
            await lock_journal(db_url)
        assert caught.value.holder is not None
        assert (caught.value.holder.pid, caught.value.holder.host) == (
            os.getpid(),
            socket.gethostname()[: len(caught.value.holder.host)],
        )
    finally:
        await first.release()
    again = await lock_journal(db_url)
    await again.release()
    await again.release()  # a second release does nothing


async def test_a_symbolic_link_names_the_same_journal(tmp_path: Path) -> None:
    """Two names of one database file are one journal: a daemon started through a symbolic
    link (or another relative path) finds the lock of the one started through the file."""
    database = tmp_path / "journal.sqlite"
    database.touch()
    (tmp_path / "link.sqlite").symlink_to(database)
    first = await lock_journal(f"sqlite+aiosqlite:///{database}")
    try:
        with pytest.raises(JournalLockedError):
            await lock_journal(f"sqlite+aiosqlite:///{tmp_path / 'link.sqlite'}")
        with pytest.raises(JournalLockedError):
            await lock_journal(f"sqlite+aiosqlite:///{tmp_path / 'sub' / '..' / 'journal.sqlite'}")
    finally:
        await first.release()


async def test_a_missing_folder_is_a_database_error(tmp_path: Path) -> None:
    """The lock file's folder is the database's: its absence names the database and folder."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'gone' / 'tlh.sqlite'}"
    with pytest.raises(DatabaseUnavailableError, match=r"folder .*gone does not exist"):
        await lock_journal(url)
    assert not (tmp_path / "gone").exists()


async def test_an_in_memory_database_needs_no_lock() -> None:
    """No other process can open an in-memory database: nothing to lock."""
    locks = [await lock_journal("sqlite+aiosqlite://") for _ in range(2)]
    for lock in locks:
        await lock.release()


@given(
    pid=st.integers(min_value=1, max_value=2**22),
    host=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=255),
)
def test_a_holder_survives_the_application_name(pid: int, host: str) -> None:
    """PostgreSQL keeps 63 bytes of an application name: the holder fits, pid and start
    time whole, the host cut to what is left."""
    holder = Holder(pid, host, "2026-12-06T05:49:44Z")
    name = holder.to_app_name()
    parsed = Holder.from_app_name(name)

    assert len(name.encode()) <= 63
    assert parsed is not None
    assert (parsed.pid, parsed.started) == (pid, holder.started)
    assert host.startswith(parsed.host)
