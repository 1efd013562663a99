"""A declared recurring purchase reaches every decision: the engine, `tlh harvest --dry-run`.

Issue #11 §3: "the guard treats the next expected purchase as a planned buy, so the daemon does
not harvest into it"; issue #13 A.8: "One decision function serves the engine, the preview and
doctor". The daemon's guard is built from `[[recurring]]` (`daemon.app.build_daemon`), the
preview's from the same settings (`daemon.cli.run.preview`). IRC §1091(a): a purchase within 30
days after the loss sale washes it.

Household: 40 VTI bought long ago at $200, quoted $180 (daemonkit); the IRA buys VTSAX,
declared identical to VTI, on a monthly plan.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from daemonkit import IRA, NEW_YORK, T0, TAXABLE, Rigs, make_settings

from daemon.cli.run import preview
from strategies.decision import Action as Act


async def test_the_engine_and_the_preview_skip_a_harvest_into_a_planned_buy(
    rigs: Rigs, sqlite_url: str
) -> None:
    """The IRA's VTSAX purchase expected in 10 days: the preview says the harvest is skipped
    and why, and the running engine, on the same quotes, skips it for the same reason and
    sends no order."""
    due = T0.astimezone(NEW_YORK).date() + timedelta(days=10)  # the rig's clock starts at T0
    plan = {"account": IRA, "symbol": "vtsax", "schedule": f"0 0 {due.day} * *"}
    settings = make_settings(database={"url": sqlite_url}, recurring=[plan])
    rig = await rigs.open(sqlite_url, settings=settings)
    await rig.hold("VTI", "40", "200")

    previewed = await preview(
        settings, {"VTI": Decimal(180), "SCHB": Decimal(50)}, now=rig.clock.now()
    )
    await rig.quote("SCHB", 50.00)
    await rig.quote("VTI", 180.00)

    [(account, symbol, decision)] = previewed
    assert (account, symbol, decision.action) == (TAXABLE, "VTI", Act.SKIP)
    assert decision.reason == (
        f"wash_guard: recurring purchase of VTSAX in {IRA} (recurring[0]) expected on {due}, "
        "within 30 days"
    )
    assert [r for _a, _s, r in rig.engine.stats.distinct_skips] == [decision.reason]
    assert rig.broker.submissions == 0
