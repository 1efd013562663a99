"""`tlh run` waits for an unreachable broker (issue 13 §C.13), as a real process.

A home server starts the daemon before its network is up; it died after 13 s with a
traceback. It now retries with backoff (`daemon/broker_wait.py`), one warning line per
attempt, stays not ready meanwhile (no systemd ``READY=1``, no health file: the Dockerfile's
health check reads the file's age) and stops cleanly on SIGTERM while it waits.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from alpacakit import start_tlh_run, tlh_env
from fake_alpaca import FakeAlpaca

pytestmark = pytest.mark.timeout(90)

TLH = Path(sys.executable).with_name("tlh")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def appears(path: Path, seconds: float) -> bool:
    """Return whether `path` exists within `seconds`."""
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return path.exists()


@dataclass
class Daemon:
    """A `tlh run` process, its JSON log, and what it told systemd."""

    proc: asyncio.subprocess.Process
    notify: socket.socket
    health: Path
    env: dict[str, str]
    events: list[dict[str, object]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    async def wait_for(self, event: str, count: int = 1, seconds: float = 40) -> None:
        """Read the log until `event` was logged `count` times."""
        assert self.proc.stdout is not None
        async with asyncio.timeout(seconds):
            while sum(e.get("event") == event for e in self.events) < count:
                line = (await self.proc.stdout.readline()).decode()
                assert line, "tlh run ended early:\n" + "".join(self.lines)
                self.lines.append(line)
                if line.startswith("{"):
                    self.events.append(json.loads(line))

    def notified(self) -> list[str]:
        """Return the systemd messages received so far."""
        out = []
        while True:
            try:
                out.append(self.notify.recv(4096).decode())
            except BlockingIOError:
                return out


@pytest.fixture
async def unreachable(tmp_path: Path) -> AsyncIterator[tuple[Daemon, int]]:
    """Yield `tlh run` on Alpaca at a port nothing listens on (yet), and that port."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    health = tmp_path / "health"
    health.write_text("from a previous run")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.setblocking(False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TLH_")}
    env |= {
        "TLH_BROKER": "alpaca",
        "TLH_MODE": "paper",
        "TLH_LOGGING__FORMAT": "json",
        "TLH_ALPACA__API_KEY": FakeAlpaca.KEY,
        "TLH_ALPACA__SECRET_KEY": FakeAlpaca.SECRET,
        "TLH_ALPACA__BASE_URL": base,
        "TLH_ALPACA__TRADING_WS_URL": f"ws://127.0.0.1:{port}/stream",
        "TLH_ALPACA__DATA_WS_URL": f"ws://127.0.0.1:{port}/v2/iex",
        "TLH_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'run.sqlite'}",
        "TLH_HEALTH_FILE": str(health),
        "NOTIFY_SOCKET": str(tmp_path / "notify.sock"),
    }
    proc = await asyncio.create_subprocess_exec(
        str(TLH),
        "run",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        yield Daemon(proc, notify, health, env), port
    finally:
        notify.close()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_it_retries_not_ready_until_the_broker_answers(
    unreachable: tuple[Daemon, int],
) -> None:
    """Each failed attempt is one warning line without a traceback; until the broker answers
    systemd has no READY=1 and there is no health file; once it answers, the daemon starts."""
    daemon, port = unreachable
    await daemon.wait_for("retrying", count=2)

    retries = [e for e in daemon.events if e.get("event") == "retrying"]
    assert [(e["what"], e["level"], e["attempt"]) for e in retries] == [
        ("broker_connection", "warning", 1),
        ("broker_connection", "warning", 2),
    ]
    assert "Traceback" not in "".join(daemon.lines)
    waiting = daemon.notified()
    assert not any("READY=1" in m for m in waiting)
    assert any("STATUS=waiting for the broker" in m for m in waiting)
    assert not daemon.health.exists()

    fake = FakeAlpaca()
    await fake.start(port)  # the network comes up
    try:
        fake.set_market_open(True)
        await daemon.wait_for("scheduler_started", seconds=60)
        assert await asyncio.to_thread(appears, daemon.health, 20)
        assert any("READY=1" in m for m in daemon.notified())
        daemon.proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(daemon.proc.communicate(), 30)
    finally:
        await fake.stop()
    assert daemon.proc.returncode == 0


async def test_sigterm_stops_it_while_it_waits(unreachable: tuple[Daemon, int]) -> None:
    """SIGTERM during the wait ends the daemon at once, exit 0, after its stopping line."""
    daemon, _ = unreachable
    await daemon.wait_for("retrying")

    daemon.proc.send_signal(signal.SIGTERM)
    rest, _ = await asyncio.wait_for(daemon.proc.communicate(), 10)

    assert daemon.proc.returncode == 0
    assert '"daemon_stopping"' in rest.decode()
    assert "Traceback" not in "".join(daemon.lines) + rest.decode()


async def test_a_pause_while_it_waits_is_applied_and_acknowledged(
    unreachable: tuple[Daemon, int], tmp_path: Path
) -> None:
    """#10 §4 review: the daemon follows the pause switch from its start, so a `tlh pause`
    while it waits for the broker is applied before any trading begins, and the command
    says the running daemon stopped new orders (not "it will start paused")."""
    daemon, _ = unreachable
    await daemon.wait_for("retrying")

    pause = await asyncio.create_subprocess_exec(
        str(TLH), "pause", cwd=tmp_path, env=daemon.env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(pause.communicate(), 30)

    assert out.decode().strip() == "paused: the running daemon stopped new orders"
    await daemon.wait_for("orders_paused")


async def test_rejected_keys_end_it_with_one_line(tmp_path: Path) -> None:
    """Keys the broker refuses (HTTP 403) cannot get better by waiting: exit 2, one line."""
    async with FakeAlpaca(key="other-key") as fake:
        env = tlh_env(fake, tmp_path, TLH_ALPACA__API_KEY=FakeAlpaca.KEY)  # not its key
        proc = await start_tlh_run(env, tmp_path, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 40)

    assert proc.returncode == 2, out.decode() + err.decode()
    # Log records are JSON lines on stderr too; the error itself is one plain line.
    [line] = [x for x in err.decode().strip().splitlines() if not x.startswith("{")]
    assert line.startswith("tlh: broker alpaca refused the connection: HTTP 403")
    assert FakeAlpaca.SECRET not in out.decode() + err.decode()
