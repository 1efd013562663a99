"""The household on the simulated broker, end to end (issue #11, "Done when"): the real
`tlh run` replays three sessions of VTI (200, 200, 180) on the simulator; while it runs,
`tlh import` hands it an IRA's OFX statement and the spouse's Plaid account.

A purchase of VTI in either outside account within 30 days of the drop blocks the harvest of
the taxable lot it would wash (IRC §1091(a); Rev. Rul. 2008-5 for the IRA); purchases older
than that do not (the baseline). The simulator, whose book is the journal, never trades the
outside accounts (daemon/broker_accounts.py), though the spouse's lot is taxable and at a loss
too; importing again adds nothing.

The replay runs on its own clock, without the daemon's Plaid schedule (daemon/cli/run.py):
here the spouse's account comes in through `tlh import --plaid` beside the daemon, the same
import sink its sync uses (tests/household/test_household_alpaca.py has the sync at start).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from daemon.market_calendar import MarketCalendar
from tests.fake_plaid.server import FakePlaid

from .householdkit import (
    IRA,
    SPOUSE,
    TlhRun,
    household_env,
    household_toml,
    intent_accounts,
    ira_statement,
    journal_rows,
    link_spouse,
    tlh,
)

pytestmark = pytest.mark.timeout(150)
TAXABLE = "taxable"
HEADER = "date,account,action,symbol,quantity,price,fees,lot_id\n"


def last_sessions(n: int) -> list[date]:
    """Return the last `n` NYSE sessions before today (Plaid's window ends today)."""
    today = date.today()
    return MarketCalendar().sessions(today - timedelta(days=20), today - timedelta(days=1))[-n:]


@pytest.mark.parametrize(
    ("ira_days", "spouse_days", "blocker"),
    [(60, 60, None), (3, 60, IRA), (60, 3, SPOUSE)],
    ids=["no-recent-purchase-harvests", "ira-ofx-purchase-blocks", "spouse-plaid-purchase-blocks"],
)
async def test_the_household_on_the_simulator(
    fake_plaid: FakePlaid,
    tmp_path: Path,
    ira_days: int,
    spouse_days: int,
    blocker: str | None,
) -> None:
    """VTI falls to 180 on the third session: the taxable lot bought at 200 is harvested,
    unless an outside account bought VTI within 30 days; then the skip's `wash_guard:` reason
    names that account's lot. Only the taxable account is ever traded. `tlh tax report
    --journal` reports the harvest, washed by an IRA purchase imported after it."""
    sessions = last_sessions(3)
    (tmp_path / "prices.csv").write_text(
        "date,symbol,open,high,low,close,volume\n"
        + "".join(
            f"{day},VTI,{p},{p},{p},{p},1000\n{day},SCHB,50,50,50,50,1000\n"
            for day, p in zip(sessions, (200, 200, 180), strict=True)
        )
    )
    (tmp_path / "taxable.csv").write_text(HEADER + f"2023-06-01,{TAXABLE},BUY,VTI,40,200,0,\n")
    ira_bought = sessions[0] - timedelta(ira_days)
    spouse_bought = sessions[0] - timedelta(spouse_days)
    statement = ira_statement(tmp_path, ira_bought)
    link_spouse(fake_plaid, spouse_bought)
    database = tmp_path / "journal.sqlite"
    head = (
        'broker = "sim"\n'
        f'[database]\nurl = "sqlite+aiosqlite:///{database}"\n'
        f'[sim]\nreplay = "prices.csv"\nspeed = 4\naccounts = ["{TAXABLE}"]\n'
    )
    config = household_toml(fake_plaid, tmp_path, head, TAXABLE)
    env = household_env()
    seeded = await tlh(config, env, "import", "--account", TAXABLE, "--trades", "taxable.csv")
    assert seeded.returncode == 0, seeded.stderr
    ofx = ("import", "--account", IRA, "--type", "ira", "--ofx", str(statement))
    run = TlhRun.start(config, env)
    try:
        await run.wait_for("imports_open")
        imported = await tlh(config, env, *ofx)
        linked = await tlh(config, env, "import", "--plaid")
        assert imported.returncode == 0, imported.stderr
        assert "imported 2 journal entries into account ira" in imported.stdout
        assert linked.returncode == 0, linked.stderr
        assert "imported 1 journal entries into account spouse" in linked.stdout
        for account in (IRA, SPOUSE):
            applied = await run.wait_for("import_applied", account=account)
            assert applied["traded"] is False
        assert run.events("harvest") == run.events("skip") == []  # the drop is still to come

        if blocker is None:
            harvest = await run.wait_for("harvest", seconds=90)
            assert (harvest["account"], harvest["symbol"], harvest["quantity"]) == (
                TAXABLE,
                "VTI",
                "40",
            )
            await run.wait_for("fill", symbol="SCHB")  # the replacement, journaled
            # The IRA buys VTI on the day of the sale: the guard cannot stop that purchase;
            # the report shows the loss washed (for good: Rev. Rul. 2008-5).
            later = ira_statement(tmp_path, sessions[-1], fitid="IRA2")
            bought = await tlh(config, env, "import", "--account", IRA, "--ofx", str(later))
            assert "imported 2 journal entries into account ira" in bought.stdout, bought
        else:
            skip = await run.wait_for("skip", seconds=90)
            assert skip["symbol"] == "VTI"
            bought = ira_bought if blocker == IRA else spouse_bought
            assert skip["account"] == TAXABLE
            assert str(skip["reason"]).startswith("wash_guard:"), skip
            assert f"in {blocker} bought {bought.isoformat()}" in str(skip["reason"]), skip
            assert run.events("harvest") == []

        rows = journal_rows(database)
        again = await tlh(config, env, *ofx)
        resync = await tlh(config, env, "import", "--plaid")
        assert again.returncode == 0, again.stderr
        assert "imported 0 journal entries into account ira" in again.stdout
        assert resync.returncode == 0, resync.stderr
        assert "imported 0 journal entries into account spouse" in resync.stdout
        assert journal_rows(database) == rows
        assert await run.stop() == 0
    finally:
        await run.stop()

    assert [r["account"] for r in run.events("harvest")] == ([TAXABLE] if blocker is None else [])
    assert {a for a, _, _ in rows} == {TAXABLE, IRA, SPOUSE}
    assert intent_accounts(database) == ({TAXABLE} if blocker is None else set())
    report = await tlh(config, env, "tax", "report", "--journal", "--format", "csv")
    assert report.returncode == 0, report.stderr
    sales = [line.split(",")[:9] for line in report.stdout.splitlines()[1:]]
    if blocker is not None:
        assert sales == []
    else:
        ((box, what, _, sold, proceeds, cost, code, adjustment, gain),) = sales
        assert (box, what, sold, code, gain) == (
            "D",  # long-term: bought 2023-06-01
            "40 VTI",
            sessions[-1].strftime("%m/%d/%Y"),
            "W",
            "0.00",
        )
        assert Decimal(adjustment) == Decimal(cost) - Decimal(proceeds) > 0
