"""The deployment files: a valid hardened systemd unit, and compose ports on loopback only."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TLH = Path(sys.executable).with_name("tlh")


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed on this machine",
)
def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    """`systemd-analyze verify` accepts the unit (with this checkout's tlh as the binary)."""
    unit = (
        (ROOT / "systemd" / "tlh.service").read_text().replace("/opt/tlh/.venv/bin/tlh", str(TLH))
    )
    path = tmp_path / "tlh.service"
    path.write_text(unit)
    result = subprocess.run(
        ["systemd-analyze", "verify", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""


def test_the_unit_is_a_notify_service_with_a_watchdog() -> None:
    """Type=notify and WatchdogSec pair with tlh's READY=1 and WATCHDOG=1 pings."""
    unit = (ROOT / "systemd" / "tlh.service").read_text()
    assert "Type=notify" in unit
    assert re.search(r"^WatchdogSec=\d+", unit, re.MULTILINE)
    assert "DynamicUser=yes" in unit


def test_compose_publishes_ports_on_loopback_only() -> None:
    """Safe defaults: every published port binds to 127.0.0.1."""
    compose = (ROOT / "docker-compose.yml").read_text()
    ports = re.findall(r'^\s*-\s*"([^"]+:\d+)"\s*$', compose, re.MULTILINE)
    assert ports, "no published ports found"
    assert all(p.startswith("127.0.0.1:") for p in ports), ports
