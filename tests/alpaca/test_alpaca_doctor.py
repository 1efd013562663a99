"""`tlh doctor` (the real command, in its own process) against the fake Alpaca."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from alpacakit import ACCOUNT, Daemons, FakeWithLatestQuotes, hold, load_exchange_calendar, tlh_env
from fake_alpaca import FakeAlpaca, FillPolicy

pytestmark = pytest.mark.timeout(60)

TLH = Path(sys.executable).with_name("tlh")


async def doctor(fake: FakeAlpaca, tmp_path: Path, **extra: str) -> tuple[int, str]:
    """Run `tlh doctor` pointed at `fake`; return its exit status and output."""
    env = tlh_env(
        fake,
        tmp_path,
        TLH_DATABASE__URL=f"sqlite+aiosqlite:///{tmp_path / 'doctor.sqlite'}",
        TLH_SUBSTITUTES='[{"symbols": ["VTI", "SCHB"]}]',
        COLUMNS="200",
        **extra,
    )
    proc = await asyncio.create_subprocess_exec(
        str(TLH),
        "doctor",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 45)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


@pytest.fixture
async def quoting_fake() -> AsyncIterator[FakeAlpaca]:
    """Yield a fake that also serves the latest-quotes market-data route."""
    async with FakeWithLatestQuotes() as server:
        yield server


async def test_doctor_passes_and_shows_the_harvest_it_would_make(
    fake: FakeAlpaca, tmp_path: Path
) -> None:
    """Issue §6: credentials, connectivity, account, clock and reconciliation pass (exit 0),
    and the losing VTI lot is listed at the broker's current price; no secret is printed.
    Issue #13 A.8: doctor decides as the daemon does, so the substitute must be priced too
    (here from the positions: SCHB is held elsewhere in the account)."""
    hold(fake, "VTI", "40", "200")
    hold(fake, "SCHB", "1", "50")
    fake.set_quote("VTI", "179.98", "180.02")
    fake.set_quote("SCHB", "50.00", "50.02")
    load_exchange_calendar(fake)

    status, out = await doctor(fake, tmp_path)

    assert status == 0, out
    for check in (
        "credentials",
        "connectivity",
        "account",
        "market clock",
        "calendar",
        "lot relief",
        "reconciliation",
        "halts",
    ):
        assert f"ok   {check}:" in out
    assert "Would harvest now" in out
    assert "VTI" in out
    assert "positions' current price" in out
    assert fake.KEY not in out
    assert fake.SECRET not in out
    assert fake.submissions == 0


async def test_doctor_prices_positions_with_the_latest_rest_quotes(
    quoting_fake: FakeAlpaca, tmp_path: Path
) -> None:
    """Issue §6: the harvest preview uses the latest quotes from the market-data REST API."""
    hold(quoting_fake, "VTI", "40", "200")
    quoting_fake.set_quote("VTI", "179.50", "179.54")
    quoting_fake.set_quote("SCHB", "50.00", "50.02")
    load_exchange_calendar(quoting_fake)

    status, out = await doctor(quoting_fake, tmp_path)

    assert status == 0, out
    assert "latest quotes (market-data REST)" in out
    assert "179.50" in out or "179.5" in out


async def test_doctor_does_not_propose_a_harvest_whose_replacement_has_no_price(
    fake: FakeAlpaca, tmp_path: Path
) -> None:
    """Issue #13 A.8: doctor makes the daemon's decision. Nothing prices SCHB (no market-data
    quotes, not held): like the daemon, doctor does not harvest VTI, and says why."""
    hold(fake, "VTI", "40", "200")
    fake.set_quote("VTI", "179.98", "180.02")
    load_exchange_calendar(fake)

    status, out = await doctor(fake, tmp_path)

    assert status == 0, out
    assert "Not harvested: VTI in" in out
    assert "no_replacement: SCHB: no fresh quote" in out
    assert "Would harvest now" not in out


async def test_doctor_fails_on_rejected_credentials_without_printing_them(
    fake: FakeAlpaca, tmp_path: Path
) -> None:
    """Issue §6: a failed check exits non-zero; the keys are never printed."""
    status, out = await doctor(fake, tmp_path, TLH_ALPACA__SECRET_KEY="wrong-secret-value-123")

    assert status == 1
    assert "FAIL connectivity" in out
    assert "wrong-secret-value-123" not in out
    assert fake.KEY not in out


async def test_doctor_fails_when_the_brokers_calendar_disagrees_with_the_exchange(
    fake: FakeAlpaca, tmp_path: Path
) -> None:
    """Issue §2 (the broker's clock/calendar): the fake knows no holidays, so its calendar
    disagrees with the exchange calendar the scheduler uses on the next holiday."""
    status, out = await doctor(fake, tmp_path)

    assert status == 1
    assert "FAIL calendar: they differ on" in out


async def test_doctor_fails_when_the_broker_holds_what_the_ledger_cannot_explain(
    fake: FakeAlpaca, tmp_path: Path
) -> None:
    """Issue §6/§2: reconciliation is a check: a position the history does not explain fails
    it (exit 1) and names the symbol with both quantities."""
    hold(fake, "VTI", "40", "200", position="50")

    status, out = await doctor(fake, tmp_path)

    assert status == 1
    assert "FAIL reconciliation: VTI: broker 50, ledger 40" in out


async def test_doctor_counts_an_execution_reported_with_disagreeing_cumulatives_once(
    fake: FakeAlpaca, daemons: Daemons, tmp_path: Path
) -> None:
    """Issue #13 A.6: doctor adds the broker's fills as the daemon journals them, following
    each order's cumulative quantity. The sale fills in two executions (15, then 25); the
    stream reports the first with the order's later cumulative (40), its FILL activity with
    15. The daemon journals 40 shares sold; doctor must not count the activity of the first
    execution as a new fill (55 sold of 40 held) but find the ledger matching the broker."""
    hold(fake, "VTI", "40", "200")
    fake.set_fill_policy(FillPolicy.MANUAL, "VTI")
    running = await daemons.start(url=f"sqlite+aiosqlite:///{tmp_path / 'doctor.sqlite'}")
    await fake.wait_for_data_subscription("SCHB")
    await fake.publish_quote("SCHB", "50.00", "50.04")
    await fake.publish_quote("VTI", "180.00", "180.04")
    await fake.wait_until(lambda: len(fake.orders) >= 1, what="the harvest order")
    cid = fake.orders[0].client_order_id
    order = fake.order(cid)
    fake.state.fill(order, Decimal(15), Decimal("179.70"))
    fake.state.fill(order, Decimal(25), Decimal("179.60"))
    await fake.send_trade_update(cid, "partial_fill", qty="15", price="179.7")
    await fake.wait_until(
        lambda: running.engine.ledger.position(ACCOUNT, "VTI") == 25,
        what="the first execution journaled from the stream",
    )
    assert await fake.drop_trading_stream() == 1  # the reconnect journals the second
    await fake.wait_until(
        lambda: running.engine.ledger.position(ACCOUNT, "VTI") == 0, what="the sale journaled"
    )
    await running.close()
    load_exchange_calendar(fake)

    status, out = await doctor(fake, tmp_path)

    assert status == 0, out
    assert "ok   reconciliation: ledger matches the broker" in out, out
    assert "does not replay" not in out
