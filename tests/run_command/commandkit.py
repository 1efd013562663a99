"""Run `tlh` commands on one journal, as a user beside the daemon would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
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


@dataclass
class RunningDaemon:
    """A `tlh run` process whose JSON log lines go to a file."""

    proc: subprocess.Popen[str]
    log: Path

    @classmethod
    def start(cls, url: str, cwd: Path, name: str = "run.log") -> RunningDaemon:
        log = cwd / name
        with log.open("w") as out:
            proc = subprocess.Popen(
                [str(TLH), "run"], cwd=cwd, env=tlh_env(url), text=True, stdout=out, stderr=out
            )
        daemon = cls(proc, log)
        daemon.wait_for("scheduler_started")
        return daemon

    def events(self) -> list[dict[str, object]]:
        lines = self.log.read_text().splitlines()
        return [json.loads(x) for x in lines if x.startswith("{")]

    def wait_for(self, event: str, seconds: float = 60) -> dict[str, object]:
        """Return the first log record of `event`, waiting for it while the daemon runs."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = [e for e in self.events() if e.get("event") == event]
            if found:
                return found[0]
            assert self.proc.poll() is None, f"the daemon exited:\n{self.log.read_text()}"
            time.sleep(0.05)
        raise AssertionError(f"no {event} within {seconds} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            finally:
                if self.proc.poll() is None:
                    self.proc.kill()
                    self.proc.wait()
