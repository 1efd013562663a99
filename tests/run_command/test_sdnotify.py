"""systemd notify protocol (sd_notify(3)) and the watchdog interval."""

from __future__ import annotations

import socket
from pathlib import Path

from daemon.sdnotify import notify, watchdog_interval


def test_notify_sends_the_fields_to_notify_socket(tmp_path: Path) -> None:
    """Messages are newline-separated assignments in one datagram to $NOTIFY_SOCKET."""
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        assert notify("READY=1", "STATUS=running", environ={"NOTIFY_SOCKET": str(path)})
        assert server.recv(1024) == b"READY=1\nSTATUS=running"


def test_notify_does_nothing_outside_systemd() -> None:
    """Without $NOTIFY_SOCKET (a shell, Docker) nothing is sent and nothing fails."""
    assert not notify("READY=1", environ={})


def test_notify_survives_a_dead_socket(tmp_path: Path) -> None:
    """A socket that is gone is logged, never raised: notification cannot stop the daemon."""
    assert not notify("READY=1", environ={"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})


def test_the_watchdog_is_pinged_at_half_its_timeout() -> None:
    """sd_watchdog_enabled(3): ping at least every half of WATCHDOG_USEC."""
    assert watchdog_interval({"WATCHDOG_USEC": "60000000"}) == 30.0
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "1"}) is None
