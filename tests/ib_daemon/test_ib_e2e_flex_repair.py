"""A Flex import journals a fill of tlh's own order that the journal is missing, once.

Issue #9: the Flex statement is how IB's history older than the current day reaches the
journal (IB's ``reqExecutions`` reaches today only); guide: "one code path journals fills", "an
entry the ledger rejects is never written". An import leaves out a row of one of tlh's own
orders (its ``orderReference`` names an intent) only up to what the journal holds of that order
(the intent's ``filled_quantity``), imports the rest, and counts it in the intent in the same
transaction, so the daemon's `on_fill` takes the same execution for a repeat afterwards.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from fake_tws import FakeTWS
from ibdaemonkit import (
    ACCOUNT,
    Daemons,
    flex_statement,
    sale_resting_at_ib,
    tlh,
    tlh_env,
    until,
)

from adapters.storage.records import IntentKind, IntentStatus
from ledger.model import Action

pytestmark = pytest.mark.timeout(90)


async def test_a_fill_of_an_own_order_missing_from_the_journal_is_imported_once(
    tws: FakeTWS, daemons: Daemons, tmp_path: Path
) -> None:
    """The sale reached IB and the daemon died before its fill; it filled meanwhile. The Flex
    statement with that execution journals it (the intent SUBMITTED, nothing of it journaled),
    a second import adds nothing, and a daemon started afterwards takes IB's report of the
    same execution for a repeat: one sale in the journal."""
    first, ref = await sale_resting_at_ib(daemons, tws)
    await first.kill()
    await tws.fill(ref, price="179.65")
    statement = flex_statement(tws, tmp_path)
    env = tlh_env(tws, tmp_path, TLH_DATABASE__URL=daemons.url)

    code, out = await tlh(env, tmp_path, "import", "--ib-flex", str(statement))
    assert code == 0, out
    assert "imported 1 journal entries" in out
    again, out = await tlh(env, tmp_path, "import", "--ib-flex", str(statement))
    assert again == 0, out
    assert "imported 0 journal entries" in out

    second = await daemons.start()
    (sale,) = await second.intents(IntentKind.HARVEST_SELL)
    await until(
        lambda: ref not in {i.intent_id for i in second.daemon.orders.open_intents},
        what="the sale followed to its end",
    )
    (sale,) = await second.intents(IntentKind.HARVEST_SELL)
    assert (sale.status, sale.filled_quantity) == (IntentStatus.FILLED, Decimal(40))
    sales = [r for r in await second.trades("VTI") if r.action is Action.SELL]
    assert [(r.quantity, r.external_id) for r in sales] == [(Decimal(40), f"ib-flex:{ACCOUNT}:1")]
    assert second.position("VTI") == 0
    assert await second.daemon.repo.active_halts() == []
