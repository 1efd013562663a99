"""`tlh index build|raise` beside the running daemon (issue #12 §5; developers' guide: one
process owns a journal): the command stores its request in the state table, the daemon that
holds the journal takes it between events, plans it on its own book and places it through its
outbox, and answers. These tests play the command's side through the state table.
"""

from __future__ import annotations

import json
from decimal import Decimal

from indexkit import open_index_rig

from daemon.index_manager import LAST_REBALANCE_KEY, REQUEST_PREFIX, RESULT_PREFIX


async def test_the_daemon_carries_out_a_build_request_and_answers(sqlite_url: str) -> None:
    """A request to invest $10,000 is taken once (the request is gone), planned on the
    daemon's book and answered with its plan's id; the daemon counts it as a rebalance."""
    rig = await open_index_rig(sqlite_url)
    try:
        repo = rig.daemon.repo
        rig.broker.cash = Decimal(10_000)
        await repo.set_state(REQUEST_PREFIX + "1", json.dumps({"op": "build", "cash": "10000"}))

        assert await rig.index.take_requests() == 1

        assert await repo.get_state(REQUEST_PREFIX + "1") is None
        answer = json.loads(await repo.get_state(RESULT_PREFIX + "1") or "{}")
        assert answer.get("plan_id") == f"build:{rig.today().isoformat()}:taxable", answer
        assert await repo.get_state(LAST_REBALANCE_KEY) == rig.today().isoformat()
        assert await rig.index.take_requests() == 0
    finally:
        await rig.daemon.close()


async def test_a_request_the_daemon_cannot_read_is_answered_with_the_error(
    sqlite_url: str,
) -> None:
    """Bad input gets a clear answer and trades nothing."""
    rig = await open_index_rig(sqlite_url)
    try:
        repo = rig.daemon.repo
        await repo.set_state(REQUEST_PREFIX + "2", json.dumps({"op": "build", "cash": "lots"}))

        await rig.index.take_requests()

        answer = json.loads(await repo.get_state(RESULT_PREFIX + "2") or "{}")
        assert "could not read" in str(answer.get("error"))
        assert rig.daemon.orders.open_intents == []
        assert await repo.get_state(LAST_REBALANCE_KEY) is None
    finally:
        await rig.daemon.close()
