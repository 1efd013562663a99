"""Issue #13 A.8: `tlh harvest --dry-run` (and doctor) decide with the engine's own function.

"One decision function serves the engine, the preview and doctor": for the same journal,
orders in flight, halts, quotes and instant, the preview (`daemon.cli.run.preview`, what
`tlh harvest --dry-run` prints) says exactly what the running daemon then does, with the same
reasons; it respects the broker's lot relief, the wash guard, halts and the New York date.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from daemonkit import IRA, NEW_YORK, TAXABLE, Rig, Rigs, make_settings

from daemon.cli.run import preview
from ledger.model import Action
from strategies.decision import Action as Act

QUOTES = {"SCHB": "50.00", "VEA": "40.00", "VTI": "180.00", "QQQ": "300.00", "IEFA": "60.00"}


async def _household(rig: Rig) -> None:
    """VTI: harvestable; VEA: a recent identical purchase blocks it (wash guard); QQQ: no
    substitutes group; an IRA lot of VTI: never harvested; IEFA: held, no loss."""
    await rig.hold("VTI", "40", "200")
    await rig.hold("VTI", "10", "200", account=IRA)
    await rig.hold("VEA", "100", "50")
    await rig.hold("QQQ", "10", "400")
    await rig.hold("IEFA", "10", "50")
    await rig.hold("VEA", "5", "41", day=rig.today() - timedelta(days=3), lot_id="VEA-recent")


async def test_the_preview_is_what_the_engine_then_does(rigs: Rigs, sqlite_url: str) -> None:
    """Same state, same instant, same quotes: the preview's harvests and skips (with their
    reasons) are the engine's decisions, position by position."""
    settings = make_settings(database={"url": sqlite_url})
    rig = await rigs.open(sqlite_url, settings=settings)
    await _household(rig)

    previewed = await preview(
        settings, {s: Decimal(p) for s, p in QUOTES.items()}, now=rig.clock.now()
    )
    for symbol, price in QUOTES.items():
        await rig.quote(symbol, float(price), float(price))

    harvested = {(i.account, i.symbol) for i in rig.orders.harvests_completed}
    skipped = {(a, s): r for a, s, r in rig.engine.stats.distinct_skips}
    expected_harvests = {(a, s) for a, s, d in previewed if d.action is Act.HARVEST}
    expected_skips = {(a, s): d.reason for a, s, d in previewed if d.action is Act.SKIP}
    assert harvested == expected_harvests == {(TAXABLE, "VTI")}
    assert skipped == expected_skips
    assert set(skipped) == {(TAXABLE, "VEA"), (TAXABLE, "QQQ")}
    assert skipped[(TAXABLE, "VEA")].startswith("wash_guard:")
    assert skipped[(TAXABLE, "QQQ")] == "no_replacement: no [[substitutes]] group"


async def test_at_a_fifo_broker_the_preview_never_sells_one_lot_alone(
    rigs: Rigs, sqlite_url: str
) -> None:
    """Issue A.8: "`tlh harvest --dry-run` proposed selling one lot alone at Alpaca, which
    relieves FIFO and cannot". The newer lot carries the loss; Alpaca would sell the older
    (a gain) first, so the preview proposes the whole position or nothing -- never the newer
    lot alone."""
    settings = make_settings(
        database={"url": sqlite_url},
        broker="alpaca",
        alpaca={"api_key": "test-key", "secret_key": "test-secret"},
    )
    rig = await rigs.open(sqlite_url, settings=make_settings(database={"url": sqlite_url}))
    # In Alpaca's account: the preview, like the daemon, harvests only the broker's account.
    await rig.hold("VTI", "10", "150", account="alpaca", lot_id="old")
    await rig.hold(
        "VTI", "40", "230", account="alpaca", day=rig.today() - timedelta(days=60), lot_id="new"
    )
    # The simulator names lots: there the newer lot alone would be the best harvest.
    (alone,) = [
        d
        for _a, _s, d in await preview(
            make_settings(database={"url": sqlite_url}),
            {"VTI": Decimal("180"), "SCHB": Decimal("50")},
            now=rig.clock.now(),
        )
    ]
    assert alone.candidate is not None
    assert alone.candidate.lot_ids == ("new",)

    previewed = await preview(
        settings, {"VTI": Decimal("180"), "SCHB": Decimal("50")}, now=rig.clock.now()
    )

    ((_account, _symbol, decision),) = previewed
    assert decision.action is Act.HARVEST
    assert decision.candidate is not None
    assert decision.candidate.lot_ids == ("old", "new")
    assert decision.candidate.quantity == 50


async def test_the_preview_uses_the_new_york_date_halts_and_orders_in_flight(
    rigs: Rigs, sqlite_url: str
) -> None:
    """Issue A.8: the preview "skips the wash guard and halts, and uses the UTC date". At 23:30
    in New York (04:30 the next day in UTC) a purchase 30 New York days ago still blocks
    (IRC §1091(a)); a halted symbol is not harvested."""
    settings = make_settings(database={"url": sqlite_url})
    rig = await rigs.open(sqlite_url, settings=settings)
    late = datetime.combine(rig.today(), datetime.min.time(), NEW_YORK) + timedelta(
        hours=23, minutes=30
    )
    await rig.hold("VTI", "40", "200")
    await rig.record(Action.BUY, "VTI", "1", "199", account=IRA, day=rig.today() - timedelta(30))
    await rig.hold("VEA", "100", "50")
    await rig.repo.set_halt("VEA", "test halt")

    previewed = {
        s: d
        for _a, s, d in await preview(
            settings,
            {"VTI": Decimal(180), "SCHB": Decimal(50), "VEA": Decimal(40), "IEFA": Decimal(60)},
            now=late,
        )
        if _a == TAXABLE
    }

    assert previewed["VTI"].action is Act.SKIP
    assert previewed["VTI"].reason.startswith("wash_guard:")
    assert previewed["VEA"].action is Act.NONE
    assert previewed["VEA"].reason.startswith("halted:")


def test_the_dry_run_command_prints_the_decision(tmp_path: Path) -> None:
    """`tlh harvest --dry-run` with nothing held prints that nothing would be harvested."""
    from typer.testing import CliRunner

    from daemon.cli import app

    (tmp_path / "tlh.toml").write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "tlh.sqlite"}"\n'
    )
    result = CliRunner().invoke(
        app,
        ["harvest", "--dry-run", "--price", "VTI=180", "--config", str(tmp_path / "tlh.toml")],
    )
    assert result.exit_code == 0, result.output
    assert "Nothing to harvest" in result.output
