"""Direct indexing in a real `tlh run` on Alpaca's fake (issue #12, "done when": the daemon
runs direct indexing on Alpaca's fake): `tlh index build` beside the running daemon hands the
request over; the daemon plans it on its own book, places it through the outbox and the real
alpaca-py SDK, and journals the fills."""

from __future__ import annotations

import asyncio
import json
import signal
from decimal import Decimal
from pathlib import Path

import pytest

from tests.alpaca.alpacakit import TLH, FakeWithLatestQuotes, start_tlh_run, tlh_env

pytestmark = pytest.mark.timeout(120)

SYMBOLS = ("AAA", "BBB", "CCC", "DDD")


async def _until(proc: asyncio.subprocess.Process, event: str, seen: list[str]) -> None:
    """Read the daemon's JSON log until `event` appears."""
    assert proc.stdout is not None
    while True:
        line = (await proc.stdout.readline()).decode()
        assert line, "tlh run ended early:\n" + "".join(seen)
        seen.append(line)
        if line.startswith("{") and json.loads(line).get("event") == event:
            return


async def test_build_beside_tlh_run_places_the_index_at_alpaca(tmp_path: Path) -> None:
    """The build's buys reach the fake as orders with the outbox's deterministic ids, and
    each fill is journaled by the daemon (one process owns the journal)."""
    async with FakeWithLatestQuotes() as fake:
        fake.set_market_open(True)
        fake.state.cash = Decimal(100_000)
        for i, symbol in enumerate(SYMBOLS, start=1):
            fake.set_quote(symbol, f"{50 * i:.2f}", f"{50 * i + 0.02:.2f}")
        universe = json.dumps(list(SYMBOLS))
        env = tlh_env(
            fake,
            tmp_path,
            TLH_LOGGING__FORMAT="json",
            TLH_INDEX__WEIGHTS="equal",
            TLH_INDEX__UNIVERSE=universe,
        )
        proc = await start_tlh_run(env, tmp_path)
        seen: list[str] = []
        try:
            async with asyncio.timeout(60):
                await _until(proc, "scheduler_started", seen)
                build = await asyncio.create_subprocess_exec(
                    str(TLH),
                    "index",
                    "build",
                    "--cash",
                    "40000",
                    cwd=tmp_path,
                    env=env,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
                out, err = await build.communicate()
                assert build.returncode == 0, err.decode() + "".join(seen)
                while len({o.symbol for o in fake.state.orders}) < len(SYMBOLS):
                    await _until(proc, "fill", seen)
        finally:
            proc.send_signal(signal.SIGTERM)
            rest, _ = await asyncio.wait_for(proc.communicate(), 30)
            seen.append(rest.decode())
    orders = fake.state.orders
    assert {o.symbol for o in orders} == set(SYMBOLS), out.decode()
    assert all(o.side == "buy" and o.client_order_id.startswith("tlh-xb-") for o in orders)
    spent = sum(Decimal(str(o.qty)) * Decimal(str(o.limit_price or 0)) for o in orders)
    assert Decimal(30_000) < spent <= Decimal(40_000)
    lines = "".join(seen).splitlines()
    fills = [x for x in lines if x.startswith("{") and json.loads(x).get("event") == "fill"]
    assert len(fills) >= len(SYMBOLS)
