"""An IRA purchase imported beside a running `tlh run` blocks the harvest it would wash
(issue #11 §3: "a purchase in either outside account blocks the harvest that would have been
washed"; IRC §1091(a), Rev. Rul. 2008-5).

The simulator replays VTI at $200 for two sessions, then at $180: the taxable lot the replay
buys on an empty journal (its starting holdings: the simulator's own account) at $200 crosses
its trigger on the third session. Before it, `tlh import` hands the daemon an IRA
purchase of VTI dated within the 30 days before: the daemon applies it without a restart, and
the harvest is skipped by the wash guard.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.sim_replay.replaykit import REPO, TLH, TlhRun

pytestmark = pytest.mark.timeout(150)
HEADER = "date,account,action,symbol,quantity,price,fees,lot_id\n"
PRICES = "date,symbol,open,high,low,close,volume\n" + "".join(
    f"{day},VTI,{p},{p},{p},{p},1000\n{day},SCHB,50,50,50,50,1000\n"
    for day, p in (("2024-03-04", 200), ("2024-03-05", 200), ("2024-03-06", 180))
)


def _tlh(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TLH_")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [str(TLH), *args, "--config", str(config)],
        cwd=config.parent,
        env=env,
        text=True,
        capture_output=True,
        timeout=60,
    )


def test_an_ira_purchase_imported_beside_the_replay_blocks_the_harvest(tmp_path: Path) -> None:
    """The import is applied while the daemon runs, and the loss sale it would wash is
    skipped with a `wash_guard:` reason; no harvest is placed."""
    (tmp_path / "prices.csv").write_text(PRICES)
    (tmp_path / "ira.csv").write_text(HEADER + "2024-02-28,ira,BUY,VTI,5,190,0,\n")
    config = tmp_path / "tlh.toml"
    config.write_text(
        'broker = "sim"\n'
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "journal.sqlite"}"\n'
        '[logging]\nformat = "json"\n'
        '[sim]\nreplay = "prices.csv"\nspeed = 4\n'
        "[prices]\nconfirm_quotes = 0\n"
        '[accounts]\ntaxable = "taxable"\nira = "ira"\n'
        '[[substitutes]]\nsymbols = ["VTI", "SCHB"]\n'
    )
    run = TlhRun.start(config)
    try:
        run.wait_for("imports_open")
        imported = _tlh(config, "import", "--account", "ira", "--trades", "ira.csv")
        assert imported.returncode == 0, imported.stderr
        assert "imported 1 journal entries into account ira" in imported.stdout
        run.wait_for("import_applied")

        skip = run.wait_for("skip", seconds=90)

        assert skip["symbol"] == "VTI"
        assert skip["account"] == "taxable"
        assert str(skip["reason"]).startswith("wash_guard:")
        assert "harvest" not in run.events()
        assert run.stop() == 0
    finally:
        run.kill()
