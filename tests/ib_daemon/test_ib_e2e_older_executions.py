"""Executions of earlier days reach the journal through the Flex statement only.

TWS API, "Executions and Commissions": ``reqExecutions`` returns the executions since midnight
by default, and those of up to the last 7 days when TWS's Trade Log is set to "Show trades for"
more days. Earlier days' trades are imported from a Flex statement (`tlh import --ib-flex`)
under Flex ids (``ib-flex:<account>:<transactionID>``), which are not the daemon's
(``ib:<execId>``), so the adapter's `fills_since` returns the current New York day's
executions only: a manual trade of yesterday, imported first, is not journaled again by the
daemon's reconciliation (guide: the journal is the truth, one entry per transaction).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from fake_tws import FakeTWS
from ibdaemonkit import ACCOUNT, Daemons, flex_statement, seed_journal, tlh, tlh_env

from ledger.model import Action

pytestmark = pytest.mark.timeout(60)


async def test_yesterdays_manual_trade_imported_from_flex_is_not_journaled_again(
    tws: FakeTWS, daemons: Daemons, tmp_path: Path
) -> None:
    """TWS shows two days of trades; yesterday's manual purchase of 10 SCHB, imported from
    the Flex statement, stays one entry after the daemon starts and reconciles."""
    await seed_journal(daemons.url, tws, {"VTI": "40"})
    tws.trade_log_days = 2
    tws.add_execution("SCHB", "BUY", 10, "50", moment=datetime.now(UTC) - timedelta(days=1))
    tws.set_position("SCHB", 10, "50")
    env = tlh_env(tws, tmp_path, TLH_DATABASE__URL=daemons.url)
    code, out = await tlh(env, tmp_path, "import", "--ib-flex", str(flex_statement(tws, tmp_path)))
    assert code == 0, out

    running = await daemons.start()

    buys = [r for r in await running.trades("SCHB") if r.action is Action.BUY]
    assert [(r.quantity, r.external_id) for r in buys] == [(Decimal(10), f"ib-flex:{ACCOUNT}:1")]
    assert running.position("SCHB") == 10
    assert await running.daemon.repo.active_halts() == []
