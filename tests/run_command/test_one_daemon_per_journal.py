"""One daemon per journal (issue 13 §A.1): two real `tlh run` processes on one database.

Two daemons on one journal both traded: replacements were never bought, intents read
`filled` with nothing filled, every symbol got a halt. The second `tlh run` must exit 2 naming
the first (pid, host, start time), readers must keep working beside the daemon, and the lock
must not outlive its holder, even one killed by ``kill -9`` (`adapters/storage/journal_lock.py`).
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from commandkit import TLH, tlh, tlh_env
from sqlalchemy.engine import make_url

pytestmark = pytest.mark.timeout(120)


def start_daemon(url: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(TLH), "run"],
        cwd=cwd,
        env=tlh_env(url),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def wait_until_started(proc: subprocess.Popen[str], seconds: float = 60) -> None:
    """Read the daemon's log until it says its scheduler started (it owns the journal then)."""
    log = proc.stdout if proc.stdout is not None else proc.stderr
    assert log is not None
    deadline = time.monotonic() + seconds
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = log.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith("{") and json.loads(line).get("event") == "scheduler_started":
            return
    raise AssertionError("the daemon did not start:\n" + "".join(seen))


@pytest.fixture
def first_daemon(db_url: str, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Yield a running `tlh run` on `db_url`; it is stopped afterwards."""
    proc = start_daemon(db_url, tmp_path)
    try:
        wait_until_started(proc)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def test_a_second_daemon_exits_2_naming_the_first(
    db_url: str, tmp_path: Path, first_daemon: subprocess.Popen[str]
) -> None:
    """The second `tlh run` on the same journal stops at once: exit 2, one line naming the
    holder's pid and host, and no traceback (SQLite and PostgreSQL)."""
    second = tlh(db_url, tmp_path, "run")

    assert second.returncode == 2, second.stdout + second.stderr
    message = second.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert f"pid {first_daemon.pid} on {socket.gethostname()}" in message
    assert "Traceback" not in second.stdout + second.stderr
    assert first_daemon.poll() is None  # the first daemon is untouched


def test_readers_work_while_the_daemon_runs(
    db_url: str, tmp_path: Path, first_daemon: subprocess.Popen[str]
) -> None:
    """`tlh lots`, `tlh status` and `tlh halts list` read the journal beside its owner."""
    for command in (["lots"], ["status"], ["halts", "list"]):
        result = tlh(db_url, tmp_path, *command)
        assert result.returncode == 0, (command, result.stdout + result.stderr)


def test_halts_clear_works_while_the_daemon_runs(
    db_url: str, tmp_path: Path, first_daemon: subprocess.Popen[str]
) -> None:
    """`tlh halts clear` is the operator's fix for a halt: it is not refused while the daemon
    runs (one serialized write to the halts table, never to the journal)."""
    result = tlh(db_url, tmp_path, "halts", "clear", "VTI")

    assert result.returncode == 1, result.stdout + result.stderr  # nothing to clear
    assert "no active halt on VTI" in result.stderr


def test_a_backtest_on_the_daemons_journal_is_refused(
    db_url: str, tmp_path: Path, first_daemon: subprocess.Popen[str]
) -> None:
    """`tlh backtest --database-url` writes a journal through the same daemon: refused too."""
    prices = tmp_path / "prices.csv"
    prices.write_text("date,symbol,close\n2024-01-02,VTI,100\n2024-01-03,VTI,90\n")
    holdings = tmp_path / "holdings.csv"
    holdings.write_text(
        "date,account,action,symbol,quantity,price,fees,lot_id\n"
        "2024-01-02,taxable,buy,VTI,10,100,0,L1\n"
    )
    result = tlh(
        db_url,
        tmp_path,
        "backtest",
        "--prices",
        str(prices),
        "--holdings",
        str(holdings),
        "--database-url",
        db_url,
    )

    assert result.returncode == 2, result.stdout + result.stderr
    assert f"pid {first_daemon.pid}" in result.stderr


def test_the_lock_dies_with_its_holder(
    db_url: str, tmp_path: Path, first_daemon: subprocess.Popen[str]
) -> None:
    """After ``kill -9`` of the owner (no clean-up ran), a new daemon takes the journal: the
    OS drops a dead process's flock, the server a dead session's advisory lock."""
    first_daemon.send_signal(signal.SIGKILL)
    first_daemon.wait(timeout=30)

    successor = start_daemon(db_url, tmp_path)
    try:
        wait_until_started(successor)
        successor.send_signal(signal.SIGTERM)
        assert successor.wait(timeout=30) == 0
    finally:
        if successor.poll() is None:
            successor.kill()
            successor.wait()


def test_a_daemon_that_loses_its_postgres_lock_stops(postgres_url: str, tmp_path: Path) -> None:
    """A session lock lives as long as its connection: when the server ends that session
    (restart, network fault), another daemon may take the journal, so this one stops with
    one line and a non-zero exit (systemd's Restart=on-failure starts it again)."""
    env = tlh_env(postgres_url) | {"WATCHDOG_USEC": "2000000"}  # the supervisor checks each 1 s
    proc = subprocess.Popen(
        [str(TLH), "run"],
        cwd=tmp_path,
        env=env,
        text=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_started(proc)
        terminated = asyncio.run(terminate_sessions(postgres_url, f"tlh {proc.pid}@%"))
        assert terminated == 1
        assert proc.wait(timeout=30) == 2
        assert proc.stderr is not None
        # Log records are JSON lines on stderr too; the error itself is one plain line.
        [line] = [x for x in proc.stderr.read().strip().splitlines() if not x.startswith("{")]
        assert line.startswith("tlh: lost the journal lock")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def terminate_sessions(url: str, application_name: str) -> int:
    """End the server sessions whose application name is LIKE `application_name`."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE $1",
            application_name,
        )
    finally:
        await conn.close()
    return len(rows)
