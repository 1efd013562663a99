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


async def test_cash_raised_for_a_withdrawal_is_never_reinvested(sqlite_url: str) -> None:
    """§5 `tlh index raise`: the cash raised is the user's to withdraw. At the next rebalance
    it is not a deposit to invest (review: the raise was bought straight back)."""
    from adapters.storage.records import Intent, IntentKind

    rig = await open_index_rig(sqlite_url)
    try:
        repo = rig.daemon.repo
        await repo.set_state(REQUEST_PREFIX + "1", json.dumps({"op": "raise", "cash": "5000"}))
        assert await rig.index.take_requests() == 1
        answer = json.loads(await repo.get_state(RESULT_PREFIX + "1") or "{}")
        assert "plan_id" in answer, answer
        rig.broker.cash = Decimal(5_000)  # the sales' proceeds, settled
        rig.next_day()
        await rig.quote_all()

        await rig.hook()

        today = rig.today().isoformat()

        def spent(kind: IntentKind, intents: list[Intent]) -> Decimal:
            return sum(
                (
                    i.quantity * (i.limit_price or Decimal(0))
                    for i in intents
                    if i.kind is kind and i.payload.get("trade_date") == today
                ),
                Decimal(0),
            )

        intents = [
            *await repo.intents_of_kind(IntentKind.REBALANCE_BUY),
            *await repo.intents_of_kind(IntentKind.REBALANCE_SELL),
        ]
        # Whatever it trades toward the target, it buys no more than it sells.
        bought = spent(IntentKind.REBALANCE_BUY, intents)
        assert bought <= spent(IntentKind.REBALANCE_SELL, intents) * Decimal("1.01")
    finally:
        await rig.daemon.close()
