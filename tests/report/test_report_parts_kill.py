"""`kill -9` of a `tlh tax report` running on several cores (issue #13, C.15).

Killed while its workers ran, the report once left both workers running (2.2 GB each, minutes
later) and its temporary output file behind. Nothing runs in a process killed with SIGKILL, so
the workers must be killed by the kernel (Linux ``PR_SET_PDEATHSIG``, `tax_parts._die_with`)
and the output must be a file nobody can see until it is complete (``O_TMPFILE``,
`tax.atomic_file`).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from reportkit import REPO

from daemon.cli.tax_parts import MIN_BYTES

TLH = Path(sys.executable).with_name("tlh")

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="several cores: Linux only")


def _history(out: Path) -> Path:
    spec = importlib.util.spec_from_file_location("gen_trades", REPO / "bench" / "gen_trades.py")
    assert spec is not None
    assert spec.loader is not None
    gen_trades = importlib.util.module_from_spec(spec)
    sys.modules["gen_trades"] = gen_trades  # its dataclasses look their module up
    spec.loader.exec_module(gen_trades)
    gen_trades.generate(60_000, out, seed=7, symbols=60)
    assert (out / "TRADES.csv").stat().st_size >= 2 * MIN_BYTES
    return out


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def _alive(pid: int) -> bool:
    """Return whether `pid` still runs (a zombie, dead but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_kill_9_of_the_report_kills_its_workers_and_leaves_no_file(tmp_path: Path) -> None:
    """SIGKILL the parent while both workers replay: they are gone within 2 s (unhelped, they
    would work on for seconds), and the output directory stays empty."""
    history = _history(tmp_path / "history")
    out = tmp_path / "out"
    out.mkdir()
    report = subprocess.Popen(
        [
            TLH, "tax", "report",
            "--trades", history / "TRADES.csv",
            "--accounts", history / "ACCOUNTS.csv",
            "--config", history / "tlh.toml",
            "--format", "json", "--jobs", "2", "--output", out / "report.json",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    workers: list[int] = []
    try:
        assert _wait_for(lambda: len(_children(report.pid)) == 2, timeout=60), "no workers"
        workers = _children(report.pid)
        os.kill(report.pid, signal.SIGKILL)
        report.wait(timeout=10)
        assert report.returncode == -signal.SIGKILL
        assert _wait_for(lambda: not any(_alive(w) for w in workers), timeout=2.0)
    finally:
        if report.poll() is None:
            report.kill()
            report.wait()
        for worker in workers:  # left running by a failure: stop them here
            if _alive(worker):
                os.kill(worker, signal.SIGKILL)
    assert list(out.iterdir()) == []
