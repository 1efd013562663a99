"""`tlh run` wires the observers (issue #10 §1-§2): with `[metrics] enabled` the daemon serves
`/healthz` and `/readyz` on the loopback listener from its own view of the engine (without it
nothing listens)."""

from __future__ import annotations

import json
import signal
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

from test_tlh_run import start, wait_for


def free_port() -> int:
    """Return a port nothing listens on at 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, dict[str, object]]:
    """Return the status and JSON body of GET `url`."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def eventually_ok(url: str, seconds: float = 15.0) -> dict[str, object]:
    """Return the body of `url` once it answers 200; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            status, body = get(url)
        except urllib.error.URLError:
            status, body = 0, {}
        if status == 200 or time.monotonic() > deadline:
            assert status == 200, body
            return body
        time.sleep(0.1)


def test_run_serves_health_when_metrics_are_enabled(tmp_path: Path) -> None:
    """#10 §2: alive (the supervisor's first check passed) and ready (journal replayed, the
    simulator connected, nothing to reconcile), JSON bodies naming each check."""
    port = free_port()
    proc = start(
        tmp_path,
        TLH_METRICS__ENABLED="true",
        TLH_METRICS__PORT=str(port),
        TLH_SIM__REPLAY="none",
    )
    try:
        wait_for(proc, "scheduler_started")

        alive = eventually_ok(f"http://127.0.0.1:{port}/healthz")
        ready = eventually_ok(f"http://127.0.0.1:{port}/readyz")

        assert alive["checks"] == {"engine": "ok"}
        assert ready["checks"] == {
            "journal": "ok",
            "broker": "ok",
            "reconciled": "ok",
            "market_data": "ok",
        }
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_nothing_listens_when_metrics_are_disabled(tmp_path: Path) -> None:
    """`[metrics] enabled = false` (the default): no listener."""
    port = free_port()
    proc = start(tmp_path, TLH_METRICS__PORT=str(port), TLH_SIM__REPLAY="none")
    try:
        wait_for(proc, "scheduler_started")

        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
