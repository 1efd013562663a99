"""systemd's notify protocol (sd_notify(3)), without a dependency.

Send `READY=1`, `STATUS=...`, `WATCHDOG=1`, `STOPPING=1` datagrams to `$NOTIFY_SOCKET`. Does
nothing when the variable is unset (not under systemd, or in Docker); failures are logged, never
raised, since notification must not take the daemon down.
"""

from __future__ import annotations

import os
import socket

import structlog

log = structlog.get_logger("tlh.sdnotify")


def notify(*fields: str, environ: dict[str, str] | None = None) -> bool:
    """Send `fields` (e.g. "READY=1") to systemd; return whether a message was sent."""
    address = (environ if environ is not None else os.environ).get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall("\n".join(fields).encode())
    except OSError as exc:
        log.debug("sd_notify_failed", error=str(exc))
        return False
    return True


def watchdog_interval(environ: dict[str, str] | None = None) -> float | None:
    """Return how often to ping the watchdog (half of WatchdogSec), or None when it is off."""
    env = environ if environ is not None else os.environ
    usec = env.get("WATCHDOG_USEC")
    pid = env.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2_000_000
    except ValueError:
        return None
