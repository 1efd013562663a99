"""`tlh run` with ``broker = "sim"`` plays `[sim] replay` through the running daemon.

Issue #10 §6: "`tlh run` with `broker = "sim"` and `[sim] replay = "PRICES.csv"` (default: the
bundled demo prices) and `speed` (trading days replayed per minute, default 1) plays the prices
through the running daemon". The developers' guide: one engine and one driver for live, paper,
backtest and demo, only the clock, the broker adapter and the event source change
(`daemon/replay.py`).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.prices.csvload import load_prices
from adapters.storage.records import JournalKind
from daemon.demo_data import demo_prices_path
from tests.sim_replay.replaykit import (
    REPO,
    TLH,
    TlhRun,
    backtest_trades,
    daemon_trades,
    read_journal,
    trades_csv,
    write_config,
    write_demo_slice,
)

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def runs() -> Iterator[list[TlhRun]]:
    """Collect the test's daemons; any still running at the end is killed."""
    started: list[TlhRun] = []
    yield started
    for run in started:
        run.kill()


def start(runs: list[TlhRun], config: Path) -> TlhRun:
    run = TlhRun.start(config)
    runs.append(run)
    return run


def wait_for_first_day(run: TlhRun, folder: Path, seconds: float = 60) -> str:
    """Return the first day the daemon records as replayed, once it has."""
    run.wait_for("replay_started")  # the journal's tables exist from then on
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        _, last = read_journal(folder)
        if last is not None:
            return last
        time.sleep(0.1)
    raise AssertionError("no day was replayed")


def test_the_running_daemon_harvests_as_the_backtest_does(
    tmp_path: Path, runs: list[TlhRun]
) -> None:
    """The default replay (the demo prices) at full speed makes, trade for trade, the trades
    `run_backtest` makes on the same prices and holdings (the demo's 21 harvests): one
    driver. It runs no real-time timetable, and stays up once the prices are played out."""
    config = write_config(tmp_path, "speed = 100000")
    run = start(runs, config)

    started = run.wait_for("replay_started")
    finished = run.wait_for("replay_finished", seconds=150)
    assert run.proc.poll() is None  # up, serving its state
    assert run.stop() == 0

    assert started["days"] == finished["days"] == 1259
    assert "scheduler_started" not in run.events()
    records, last = read_journal(tmp_path)
    assert last == "2018-02-07"
    ours = daemon_trades(records)
    theirs = backtest_trades(load_prices(demo_prices_path()), config, tmp_path)
    assert len(ours) == 63
    assert trades_csv(ours) == trades_csv(theirs)


def test_sigterm_mid_replay_stops_at_once(tmp_path: Path, runs: list[TlhRun]) -> None:
    """At one day a minute, SIGTERM between two days stops the daemon in seconds (exit 0), not
    at the next day: the pace is a wait on the stop event."""
    run = start(runs, write_config(tmp_path, "speed = 1"))
    first = wait_for_first_day(run, tmp_path)

    sent = time.monotonic()
    assert run.stop() == 0
    assert time.monotonic() - sent < 10

    assert first == "2013-02-08"
    _, last = read_journal(tmp_path)
    assert last == first


def test_a_restarted_daemon_goes_on_with_the_next_day(tmp_path: Path, runs: list[TlhRun]) -> None:
    """Stopped after its first day and started again, the daemon plays the days after it once
    each: the starting holdings are not imported again, the simulator holds the journal's
    positions (its harvests sell them), and the trades are those of one uninterrupted
    backtest (issue #10 §6, restarts)."""
    prices = write_demo_slice(tmp_path / "prices.csv", sessions=120)
    first = start(runs, write_config(tmp_path, f'replay = "{prices}"\nspeed = 1'))
    day_one = wait_for_first_day(first, tmp_path)
    assert first.stop() == 0

    config = write_config(tmp_path, f'replay = "{prices}"\nspeed = 100000')
    second = start(runs, config)
    started = second.wait_for("replay_started")
    second.wait_for("replay_finished")
    assert second.stop() == 0

    assert started["resumed_after"] == day_one
    assert started["days"] == 119
    records, last = read_journal(tmp_path)
    assert last == "2013-07-31"
    imports = [r for r in records if r.kind is JournalKind.IMPORT]
    assert len(imports) == 9  # the demo's nine groups, once
    ours = daemon_trades(records)
    assert len(ours) == 15  # five harvests: each a sale and its replacement's buys
    assert trades_csv(ours) == trades_csv(backtest_trades(load_prices(prices), config, tmp_path))


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ("date,symbol,close\n2013-02-30,XOM,90\n2013-13-01,CVX,100\n", "prices.csv:2: bad_date"),
        ("date,ticker_symbol,close\n2013-02-08,XOM,90\n", "missing required column 'symbol'"),
        (None, "prices.csv: No such file or directory"),
    ],
    ids=["no-row-readable", "missing-column", "missing-file"],
)
def test_prices_that_cannot_be_played_exit_2_naming_the_file(
    tmp_path: Path, runs: list[TlhRun], content: str | None, named: str
) -> None:
    """A replay file without a playable row is one line on stderr naming the file (and the
    line and what is wrong in it), exit 2, no traceback, as `tlh backtest` (the guide: bad
    input names file, line and field)."""
    prices = tmp_path / "prices.csv"
    if content is not None:
        prices.write_text(content)
    run = start(runs, write_config(tmp_path, f'replay = "{prices}"'))

    assert run.proc.wait(timeout=60) == 2
    output = "".join(run.text)
    assert "Traceback" not in output
    [line] = output.strip().splitlines()
    assert line.startswith("tlh: [sim] replay: ")
    assert str(tmp_path) in line
    assert named in line


def test_replay_none_runs_the_timetable(tmp_path: Path, runs: list[TlhRun]) -> None:
    """`replay = "none"` keeps the daemon on its real-time timetable (APScheduler), the
    simulator idle: no replay starts."""
    run = start(runs, write_config(tmp_path, 'replay = "none"'))

    run.wait_for("scheduler_started")
    assert run.stop() == 0

    assert "replay_started" not in run.events()
    records, last = read_journal(tmp_path)
    assert records == []
    assert last is None


def test_tlh_status_reads_the_journal_at_the_replays_day(
    tmp_path: Path, runs: list[TlhRun]
) -> None:
    """`tlh status` of a replayed journal stands on the last day replayed, the day the status
    page shows (the replay's clock), so its year-to-date harvests are the page's: issue #10 §5
    "numbers match `tlh status`"."""
    prices = write_demo_slice(tmp_path / "prices.csv", sessions=120)
    config = write_config(tmp_path, f'replay = "{prices}"\nspeed = 100000')
    run = start(runs, config)
    run.wait_for("replay_finished")
    assert run.stop() == 0

    env = {k: v for k, v in os.environ.items() if not k.startswith("TLH_")}
    env["PYTHONPATH"] = str(REPO)
    shown = subprocess.run(
        [str(TLH), "status", "--json", "--config", str(config)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    status = json.loads(shown.stdout)
    assert status["today"] == "2013-07-31"
    assert status["harvests_this_year"] == len(status["harvests"]) == 5
    assert Decimal(status["harvested_loss_ytd"]) == sum(
        Decimal(h["loss"]) for h in status["harvests"]
    )
