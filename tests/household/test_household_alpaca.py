"""The household on Alpaca's fake, end to end (issue #11, "Done when"): the real `tlh run`
trades the Alpaca account through alpaca-py; an IRA imported from OFX while it runs and a
spouse's account its Plaid sync brings in at start are in the same journal.

A purchase of VTI in either outside account within 30 days blocks the harvest of the taxable
VTI lot that it would wash (IRC §1091(a); Rev. Rul. 2008-5 for the IRA); purchases older than
30 days do not, so the same household harvests (the baseline, which makes the test able to
fail). The outside accounts are never traded, the reconciliation against Alpaca does not halt
over their positions, and importing or syncing again adds nothing.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from fake_alpaca import FakeAlpaca

from tests.alpaca.alpacakit import hold
from tests.alpaca.alpacakit import tlh_env as alpaca_env
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
ACCOUNT = "alpaca"  # the account the Alpaca adapter reports (tests/alpaca/alpacakit.py)


@pytest.mark.parametrize(
    ("ira_days", "spouse_days", "blocker"),
    [(60, 60, None), (5, 60, IRA), (60, 7, SPOUSE)],
    ids=["no-recent-purchase-harvests", "ira-ofx-purchase-blocks", "spouse-plaid-purchase-blocks"],
)
async def test_the_household_on_alpaca(
    fake: FakeAlpaca,
    fake_plaid: FakePlaid,
    tmp_path: Path,
    ira_days: int,
    spouse_days: int,
    blocker: str | None,
) -> None:
    """VTI falls from 200 to 180: the taxable lot is harvested unless the IRA (OFX, imported
    live) or the spouse (Plaid, synced at start) bought VTI within 30 days; then the skip's
    `wash_guard:` reason names that account's lot. No order is ever for an outside account."""
    today = date.today()
    ira_bought, spouse_bought = today - timedelta(ira_days), today - timedelta(spouse_days)
    hold(fake, "VTI", "40", "200")
    link_spouse(fake_plaid, spouse_bought)
    statement = ira_statement(tmp_path, ira_bought)
    config = household_toml(fake_plaid, tmp_path, "", ACCOUNT)
    env = household_env(alpaca_env(fake, tmp_path, TLH_LOGGING__FORMAT="json"))
    database = tmp_path / "run.sqlite"
    ofx = ("import", "--account", IRA, "--type", "ira", "--ofx", str(statement))
    first = TlhRun.start(config, env)
    second: TlhRun | None = None
    try:
        synced = await first.wait_for("plaid_sync_done", account=SPOUSE)
        assert synced["added"] == 1
        await first.wait_for("imports_open")
        imported = await tlh(config, env, *ofx)
        assert imported.returncode == 0, imported.stderr
        assert "imported 2 journal entries into account ira" in imported.stdout
        applied = await first.wait_for("import_applied", account=IRA)
        assert applied["traded"] is False

        await fake.wait_for_data_subscription("SCHB", within=30)
        await fake.publish_quote("SCHB", "50.00", "50.04")
        await fake.publish_quote("VTI", "180.00", "180.04")
        if blocker is None:
            harvest = await first.wait_for("harvest", symbol="VTI")
            assert (harvest["account"], harvest["quantity"]) == (ACCOUNT, "40")
            await fake.wait_until(
                lambda: len(fake.orders) == 2 and not any(o.is_open for o in fake.orders),
                within=30,
                what="the harvest and its replacement filled",
            )
            await first.wait_for("fill", symbol="SCHB")
            sell, buy = fake.orders
            assert (sell.symbol, sell.side, sell.body["qty"]) == ("VTI", "sell", "40")
            assert (buy.symbol, buy.side) == ("SCHB", "buy")
        else:
            skip = await first.wait_for("skip", symbol="VTI")
            bought = ira_bought if blocker == IRA else spouse_bought
            assert skip["account"] == ACCOUNT
            assert str(skip["reason"]).startswith("wash_guard:"), skip
            assert f"in {blocker} bought {bought.isoformat()}" in str(skip["reason"]), skip
            assert fake.orders == []
            assert first.events("harvest") == []

        rows = journal_rows(database)
        again = await tlh(config, env, *ofx)
        resync = await tlh(config, env, "import", "--plaid")
        assert again.returncode == 0, again.stderr
        assert "imported 0 journal entries into account ira" in again.stdout
        assert resync.returncode == 0, resync.stderr
        assert "imported 0 journal entries into account spouse" in resync.stdout
        assert journal_rows(database) == rows
        assert await first.stop() == 0

        # A restart reconciles against Alpaca with the outside positions in the journal, and
        # its Plaid sync at start finds nothing new.
        second = TlhRun.start(config, env, "run2.log")
        reconciled = await second.wait_for("reconciled", reason="start")
        assert reconciled["mismatches"] == []
        resynced = await second.wait_for("plaid_sync_done", account=SPOUSE)
        assert resynced["added"] == 0
        assert await second.stop() == 0
    finally:
        await first.stop()
        if second is not None:
            await second.stop()

    assert journal_rows(database) == rows
    assert {a for a, _, _ in rows} >= {IRA, SPOUSE}
    assert intent_accounts(database) <= {ACCOUNT}
    for run in (first, second):
        assert run is not None
        assert run.events("reconcile_mismatch") == []
