"""Run `tlh` commands on one journal, as a user beside the daemon would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TLH = Path(sys.executable).with_name("tlh")


def tlh_env(url: str) -> dict[str, str]:
    """Return the environment of a command on the journal `url`, JSON logs, without the
    caller's own TLH_ variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TLH_")}
    # The daemon on its real-time timetable: no price replay on the simulator.
    return env | {
        "TLH_DATABASE__URL": url,
        "TLH_LOGGING__FORMAT": "json",
        "TLH_SIM__REPLAY": "none",
    }


def tlh(url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `tlh ARGS` on the journal `url` in `cwd` and return what it did."""
    return subprocess.run(
        [str(TLH), *args], cwd=cwd, env=tlh_env(url), text=True, capture_output=True, timeout=60
    )
