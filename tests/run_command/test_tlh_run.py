"""`tlh run`: the daemon starts, schedules its day, and stops gracefully on a signal."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

TLH = Path(sys.executable).with_name("tlh")


def start(tmp_path: Path, **extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TLH_")}
    env |= {
        "TLH_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'run.sqlite'}",
        "TLH_LOGGING__FORMAT": "json",
        # The daemon on its real-time timetable: no price replay on the simulator.
        "TLH_SIM__REPLAY": "none",
        **extra,
    }
    return subprocess.Popen(
        [str(TLH), "run"],
        cwd=tmp_path,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def wait_for(proc: subprocess.Popen[str], event: str, seconds: float = 30) -> list[dict]:
    seen = []
    deadline = time.monotonic() + seconds
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        seen.append(record)
        if record.get("event") == event:
            return seen
    raise AssertionError(f"no {event!r} event; saw {[r.get('event') for r in seen]}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_run_stops_gracefully_on_a_signal(tmp_path: Path, sig: signal.Signals) -> None:
    """SIGTERM/SIGINT stop the daemon with exit 0 after it logs that it is stopping."""
    proc = start(tmp_path)
    try:
        records = wait_for(proc, "scheduler_started")
        starting = next(r for r in records if r.get("event") == "daemon_starting")
        assert starting["mode"] == "dry_run"
        proc.send_signal(sig)
        wait_for(proc, "daemon_stopping", seconds=15)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_run_tells_systemd_when_ready_and_stopping(tmp_path: Path) -> None:
    """Type=notify: READY=1 after recovery, STOPPING=1 on SIGTERM; the health file is written."""
    sock_path = tmp_path / "notify.sock"
    health = tmp_path / "health"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(sock_path))
        server.settimeout(30)
        proc = start(tmp_path, NOTIFY_SOCKET=str(sock_path), TLH_HEALTH_FILE=str(health))
        try:
            messages = []
            while not any(b"READY=1" in m for m in messages):
                messages.append(server.recv(4096))
            wait_for(proc, "scheduler_started")
            deadline = time.monotonic() + 10
            while not health.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert health.exists()
            proc.send_signal(signal.SIGTERM)
            while not any(b"STOPPING=1" in m for m in messages):
                messages.append(server.recv(4096))
            assert proc.wait(timeout=15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
