"""`tlh status` is built from the status snapshot (issue #10 §5: the page's numbers "match
`tlh status`"): `--json` prints exactly what `daemon.snapshot.build_snapshot` gives for the
journal, and the table shows this year's harvests.

The journal is made by the real engine today (the rig's simulated clock starts now), so this
year's harvest and its wash-sale windows are in what `tlh status` reports.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

from daemonkit import Rig, Rigs
from typer.testing import CliRunner

from daemon.app import trading_enabled
from daemon.cli import _register, app
from daemon.cli.run import load_ledger
from daemon.clock import SimulatedClock
from daemon.observation import NOT_PAUSED
from daemon.settings import load_settings
from daemon.snapshot import build_snapshot

HOUSEHOLD = """
[accounts]
taxable = "taxable"
ira = "ira"

[prices]
confirm_quotes = 0

[[substitutes]]
symbols = ["VTI", "SCHB", "ITOT"]

[[substitutes]]
symbols = ["VEA", "IEFA"]

[[identical]]
symbols = ["VTI", "VTSAX"]

[[identical]]
symbols = ["SCHB", "SWTSX"]
"""
"""The household of tests/daemon/daemonkit.py `make_settings`, as a tlh.toml."""


async def harvested_today(rigs: Rigs, url: str, tmp_path: Path) -> tuple[Rig, Path]:
    """Harvest 40 VTI bought at $200 at a $180 bid today; return the rig and its tlh.toml."""
    config = tmp_path / "tlh.toml"
    config.write_text(f'[database]\nurl = "{url}"\n{HOUSEHOLD}')
    rig = await rigs.open(
        url, settings=load_settings(config), clock=SimulatedClock(datetime.now(UTC))
    )
    await rig.hold("VTI", "40", "200")
    await rig.quote("SCHB", 50.00, 50.04)
    await rig.quote("VTI", 180.00, 180.04)
    return rig, config


async def tlh(*args: str, columns: int = 250) -> str:
    """Run `tlh ARGS` in-process on a terminal `columns` wide; return its standard output (it
    must succeed)."""
    _register()
    env = {"COLUMNS": str(columns)}
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


async def test_status_json_is_the_snapshot_of_the_journal(
    rigs: Rigs, sqlite_url: str, tmp_path: Path
) -> None:
    """`tlh status --json` = `build_snapshot` over the journal: no prices, the connection
    unknown, Decimals as strings and dates in ISO 8601 (all but the instant it was taken)."""
    rig, config = await harvested_today(rigs, sqlite_url, tmp_path)
    settings = load_settings(config)

    printed = json.loads(await tlh("status", "--json", "--config", str(config)))
    ledger, repo = await load_ledger(settings)
    expected = await build_snapshot(
        settings,
        repo,
        ledger,
        bids={},
        now=datetime.now(UTC),
        pause=NOT_PAUSED,
        connected=None,
        trading_enabled=trading_enabled(settings, "sim"),
        orders_in_flight=0,
    )

    assert printed.pop("at")
    assert printed == {k: v for k, v in expected.as_json().items() if k != "at"}
    assert (printed["harvests_this_year"], printed["harvested_loss_ytd"]) == (1, "800.00")
    assert printed["harvests"][0]["replacement"] == "SCHB"
    assert {w["symbol"] for w in printed["wash_windows"]} == {"VTI", "VTSAX", "SCHB", "SWTSX"}
    assert rig.ledger.open_lots()  # the replacement lots: what the snapshot listed
    assert len(printed["open_lots"]) == len(rig.ledger.open_lots())


async def test_status_table_shows_this_years_harvests(
    rigs: Rigs, sqlite_url: str, tmp_path: Path
) -> None:
    """The table keeps its rows and adds this year's harvests, loss and tax saved (the lot,
    bought 2023-11-01, is long-term: 15 % of the $800 loss), and the pause state."""
    _rig, config = await harvested_today(rigs, sqlite_url, tmp_path)
    year = datetime.now(UTC).year

    out = await tlh("status", "--config", str(config), columns=80)

    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in out.splitlines()
        if line.count("│") == 3
    }
    assert rows[f"harvests in {year}"] == "1: loss 800.00, est. tax saved 120.00"
    assert rows["wash windows"] == "4 open"
    assert rows["paused"] == "no"
    assert rows["journal entries"] == "4"
    assert rows["orders in flight"] == "0"
