"""A declared dividend reinvestment keeps the running daemon from harvesting into it.

Issue #11 §3: "Known recurring purchases — dividend reinvestment and automatic investment plans
— can be declared per account (`[[recurring]] account, symbol, schedule`); the guard treats the
next expected purchase as a planned buy, so the daemon does not harvest into it." IRC §1091(a)
(30 days before or after the sale) and Rev. Rul. 2008-5 (a purchase in the taxpayer's IRA
washes the loss for good).

A real `tlh run` on the simulator replays the demo's first 120 sessions (2013). Alone, it
harvests AAPL on 2013-02-25. The spouse's IRA reinvests AAPL's quarterly dividend around the
15th of February, May, August and November (AAPL's pay dates in 2013 were Feb 14, May 16,
Aug 15, Nov 14): the reinvestment of 2013-02-15, ten days before, is not in the journal, so it
is taken as made and the harvest is refused, while the other positions harvest as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from ledger.model import Action
from tests.sim_replay.replaykit import TlhRun, daemon_trades, read_journal, write_config
from tests.sim_replay.replaykit import write_demo_slice as demo_slice

pytestmark = pytest.mark.timeout(180)

DRIP = """
[accounts]
spouse-ira = "ira"

[[recurring]]
account = "spouse-ira"
symbol = "aapl"
schedule = "0 0 15 2,5,8,11 *"
"""


@pytest.fixture
def runs() -> Iterator[list[TlhRun]]:
    """Collect the test's daemons; any still running at the end is killed."""
    started: list[TlhRun] = []
    yield started
    for run in started:
        run.kill()


def _replay(runs: list[TlhRun], folder: Path, extra: str) -> tuple[TlhRun, list[tuple[date, str]]]:
    """Replay 120 sessions through `tlh run` with `extra` configuration; return the run and
    the (date, symbol) of each harvest sale it journaled."""
    folder.mkdir()
    prices = demo_slice(folder / "prices.csv", sessions=120)
    config = write_config(folder, f'replay = "{prices}"\nspeed = 100000')
    config.write_text(config.read_text() + extra)
    run = TlhRun.start(config)
    runs.append(run)
    run.wait_for("replay_finished", seconds=150)
    assert run.stop() == 0
    records, _ = read_journal(folder)
    sales = [(t.trade_date, t.symbol) for t in daemon_trades(records) if t.action is Action.SELL]
    return run, sales


def test_a_declared_drip_blocks_the_harvest_the_daemon_would_make(
    tmp_path: Path, runs: list[TlhRun]
) -> None:
    """Without `[[recurring]]` AAPL is harvested on 2013-02-25; with the spouse IRA's AAPL
    dividend reinvestment declared, it is not harvested within 30 days of an expected
    reinvestment (± 3 days' slack), the skip names the plan, and the other harvests stand."""
    _, alone = _replay(runs, tmp_path / "alone", "")
    run, with_drip = _replay(runs, tmp_path / "drip", DRIP)

    assert (date(2013, 2, 25), "AAPL") in alone
    reinvested = [date(2013, m, 15) for m in (2, 5, 8, 11)]
    aapl = [day for day, symbol in with_drip if symbol == "AAPL"]
    assert all(abs((day - r).days) > 33 for day in aapl for r in reinvested)
    assert [s for s in with_drip if s[1] != "AAPL"] == [s for s in alone if s[1] != "AAPL"]
    skips = [r for r in run.seen if r.get("event") == "skip" and r.get("symbol") == "AAPL"]
    assert skips
    assert str(skips[0]["reason"]).startswith(
        "wash_guard: recurring purchase of AAPL in spouse-ira (recurring[0]) expected on "
        "2013-02-15, within 30 days"
    )
