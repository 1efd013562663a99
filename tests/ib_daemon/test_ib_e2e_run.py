"""`tlh run`, `tlh doctor` and `tlh halts list` with ``TLH_BROKER=ib``: the real commands, each
in its own process, against the fake TWS on 127.0.0.1.

Issue #9: "`broker = "ib"` works end to end against the fake with the real ib_async"; §4:
`tlh doctor` for IB checks the connection, account, permissions, market-data type, lot method
and ledger vs positions.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_tws import FakeTWS, FillPolicy
from ibdaemonkit import (
    ACCOUNT,
    TlhRun,
    crossing_quotes,
    placed,
    seed_journal,
    sqlite_url,
    tlh,
    tlh_env,
)

from adapters.storage.engine import create_engine
from adapters.storage.records import JournalRecord
from adapters.storage.repository import Repository

pytestmark = pytest.mark.timeout(90)

FLEX_TOKEN = "381726354918273645102938"


async def _journal(tmp_path: Path) -> list[JournalRecord]:
    db = create_engine(sqlite_url(tmp_path))
    try:
        return await Repository(db).load_journal()
    finally:
        await db.dispose()


async def _both_filled(tws: FakeTWS) -> None:
    await tws.wait_until(
        lambda: len(tws.orders) == 2 and all(o.is_done for o in tws.orders), within=20
    )


async def test_tlh_run_on_ib_connects_reconciles_and_trades_in_paper(
    tws: FakeTWS, tmp_path: Path
) -> None:
    """``TLH_BROKER=ib`` with ``TLH_IB__HOST/PORT/ACCOUNT/CLIENT_ID`` selects the IB adapter in
    `tlh run`: it connects with the client id, reconciles at start, streams its symbols,
    harvests a crossing quote and buys the replacement (mode paper), journals both fills, and
    stops on SIGTERM with exit status 0."""
    url = sqlite_url(tmp_path)
    await seed_journal(url, tws, {"VTI": "40"})
    env = tlh_env(tws, tmp_path, TLH_IB__FLEX_TOKEN=FLEX_TOKEN, TLH_LOGGING__LEVEL="DEBUG")
    run = await TlhRun.start(env, tmp_path)
    try:
        await run.wait_for_event("scheduler_started")
        await crossing_quotes(tws)
        await _both_filled(tws)
        await run.wait_for(lambda e: e.get("event") == "fill" and e.get("symbol") == "SCHB")
        status = await run.terminate()
    finally:
        await run.kill()

    assert status == 0, run.output
    [connected] = run.logged("ib_connected")
    assert (connected["client_id"], connected["readonly"]) == (17, False)
    [starting] = run.logged("daemon_starting")
    assert (starting["broker"], starting["mode"], starting["trading_enabled"]) == (
        "ib",
        "paper",
        True,
    )
    reconciled = run.logged("reconciled")[0]
    assert (reconciled["reason"], reconciled["positions"], reconciled["mismatches"]) == (
        "start",
        1,
        [],
    )
    sell, buy = tws.orders
    assert placed(tws) == {sell.order_ref: 1, buy.order_ref: 1}
    fills = [r for r in await _journal(tmp_path) if r.kind.value == "trade"]
    assert [(r.symbol, r.action.value if r.action else "") for r in fills] == [
        ("VTI", "SELL"),
        ("SCHB", "BUY"),
    ]
    assert [r.fees for r in fills] == [e.commission for e in tws.executions]
    assert FLEX_TOKEN not in run.output


async def test_tlh_run_waits_for_a_gateway_that_is_down_at_start(
    tws: FakeTWS, tmp_path: Path
) -> None:
    """A home server boots before IB Gateway (daemon/broker_wait.py): `tlh run` retries the
    connection, one warning line per attempt, and starts once the Gateway listens."""
    await seed_journal(sqlite_url(tmp_path), tws, {"VTI": "40"})
    await tws.go_down()
    run = await TlhRun.start(tlh_env(tws, tmp_path), tmp_path)
    try:
        retry = await run.wait_for_event("retrying")
        assert run.logged("engine_started") == []
        await tws.come_up()
        await run.wait_for_event("scheduler_started")
        await tws.wait_for_subscription("SCHB")
        status = await run.terminate()
    finally:
        await run.kill()

    assert status == 0, run.output
    assert retry["what"] == "broker_connection"
    assert f"cannot connect to TWS/IB Gateway at 127.0.0.1:{tws.port}" in retry["error"]
    assert "Traceback" not in run.output


async def test_tlh_run_killed_after_place_order_resumes_without_a_second_sale(
    tws: FakeTWS, tmp_path: Path
) -> None:
    """Issue #9 §2: `tlh run` is killed (SIGKILL) once the sale reached IB; the sale fills
    while it is down. The next `tlh run` finds the order by its ``orderRef``, journals the
    fill once from today's executions and buys the replacement: one ``placeOrder`` each."""
    url = sqlite_url(tmp_path)
    await seed_journal(url, tws, {"VTI": "40"})
    tws.set_fill_policy(FillPolicy(mode="hold"), symbol="VTI")
    env = tlh_env(tws, tmp_path)
    first = await TlhRun.start(env, tmp_path)
    try:
        await first.wait_for_event("scheduler_started")
        await crossing_quotes(tws)
        await tws.wait_until(lambda: len(tws.orders) == 1)
    finally:
        await first.kill()
    await tws.wait_until(lambda: not tws.connected_clients())
    ref = tws.orders[0].order_ref
    await tws.fill(ref, price="179.65")

    second = await TlhRun.start(env, tmp_path)
    try:
        await _both_filled(tws)
        await second.wait_for(lambda e: e.get("event") == "fill" and e.get("symbol") == "SCHB")
        status = await second.terminate()
    finally:
        await second.kill()

    assert status == 0, second.output
    assert placed(tws) == {ref: 1, tws.orders[1].order_ref: 1}
    sales = [r for r in await _journal(tmp_path) if r.symbol == "VTI" and r.kind.value == "trade"]
    assert [(r.quantity, r.external_id) for r in sales] == [(40, f"ib:{tws.executions[0].exec_id}")]


async def test_a_mismatch_halts_the_symbol_and_tlh_halts_list_shows_it(
    tws: FakeTWS, tmp_path: Path
) -> None:
    """Issue #9 §1: IB holds 50 VTI, the journal explains 40: `tlh run` logs
    ``reconcile_mismatch`` and halts VTI; `tlh halts list` names it, with the quantities."""
    url = sqlite_url(tmp_path)
    await seed_journal(url, tws, {"VTI": "40"}, held={"VTI": "50"})
    env = tlh_env(tws, tmp_path)
    run = await TlhRun.start(env, tmp_path)
    try:
        mismatch = await run.wait_for_event("reconcile_mismatch")
        await run.wait_for_event("scheduler_started")
        code, listed = await tlh(env, tmp_path, "halts", "list")
        assert await run.terminate() == 0, run.output
    finally:
        await run.kill()

    assert (mismatch["level"], mismatch["symbol"], mismatch["account"]) == (
        "error",
        "VTI",
        ACCOUNT,
    )
    assert code == 0, listed
    assert "VTI" in listed
    assert ACCOUNT in listed
    assert tws.requests_named("placeOrder") == []


async def test_tlh_doctor_on_ib_passes_against_a_reachable_gateway(
    tws: FakeTWS, tmp_path: Path
) -> None:
    """Issue #9 §4: `tlh doctor` with broker ib checks the connection, the account, whether
    orders may leave, the market-data type, reminds of the Tax Optimizer's lot method,
    reconciles the journal with IB's positions, and previews at IB's quotes; exit 0."""
    await seed_journal(sqlite_url(tmp_path), tws, {"VTI": "40"})
    await tws.publish_quote("VTI", 180.0, 180.04)
    await tws.publish_quote("SCHB", 50.0, 50.04)

    code, output = await tlh(tlh_env(tws, tmp_path), tmp_path, "doctor")

    assert code == 0, output
    for check in (
        "configuration: mode paper, broker ib, orders allowed",
        "connectivity: ib answers",
        f"ib connection: 127.0.0.1:{tws.port} (client id 17), server version 178",
        f"ib account: {ACCOUNT} is among the managed accounts",
        "ib orders: orders allowed",
        "ib market data: live",
        "ib lot method: [ib] lot_method = fifo",
        "lot relief: FIFO, as ib relieves lots",
        "reconciliation: ledger matches the broker",
        "halts: none",
    ):
        assert f"ok   {check}" in output, output
    assert "FAIL" not in output
    assert "Would harvest now (prices: ib's latest quotes)" in output
    assert tws.requests_named("placeOrder") == []


async def test_tlh_doctor_on_ib_fails_clearly_when_the_gateway_is_down(
    tws: FakeTWS, tmp_path: Path
) -> None:
    """Issue #9 §4: with IB Gateway down, `tlh doctor` says it cannot reach it (where, which
    client id) and exits 1, without a traceback; the checks that need no connection run."""
    await tws.go_down()

    code, output = await tlh(tlh_env(tws, tmp_path), tmp_path, "doctor")

    assert code == 1, output
    assert f"FAIL connectivity: ib: cannot connect to TWS/IB Gateway at 127.0.0.1:{tws.port}" in (
        output
    )
    assert "FAIL ib connection" in output
    assert "FAIL ib account" in output
    assert "ok   ib lot method" in output
    assert "Traceback" not in output


async def test_tlh_doctor_on_read_only_ib_says_no_order_leaves(
    tws: FakeTWS, tmp_path: Path
) -> None:
    """Issue #9 §4 (permissions): with ``[ib] readonly = true`` the daemon's orders are
    disabled and the IB check says so; the connection is read-only, and the check passes."""
    env = tlh_env(tws, tmp_path, TLH_IB__READONLY="true")

    code, output = await tlh(env, tmp_path, "doctor")

    assert code == 0, output
    assert "ok   configuration: mode paper, broker ib, orders disabled" in output
    assert "ok   ib orders: read-only: no order leaves" in output
    assert tws.requests_named("reqAllOpenOrders") == []  # read-only: no order sync
