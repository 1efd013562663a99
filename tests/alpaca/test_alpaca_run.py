"""`tlh run` with TLH_BROKER=alpaca (the real command, in its own process) against the fake."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest
from alpacakit import hold
from fake_alpaca import FakeAlpaca

pytestmark = pytest.mark.timeout(60)

TLH = Path(sys.executable).with_name("tlh")


async def test_tlh_run_on_alpaca_reconciles_streams_and_never_logs_the_keys(
    fake: FakeAlpaca, tmp_path: Path
) -> None:
    """Issue §1: TLH_BROKER=alpaca selects the adapter in `tlh run`; it reconciles at start,
    subscribes its symbols, stops on SIGTERM, and no log line holds a credential."""
    hold(fake, "VTI", "40", "200")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TLH_")}
    env |= {
        "TLH_BROKER": "alpaca",
        "TLH_MODE": "paper",
        "TLH_LOGGING__FORMAT": "json",
        "TLH_ALPACA__API_KEY": fake.KEY,
        "TLH_ALPACA__SECRET_KEY": fake.SECRET,
        "TLH_ALPACA__BASE_URL": fake.rest_url,
        "TLH_ALPACA__TRADING_WS_URL": fake.trading_ws_url,
        "TLH_ALPACA__DATA_WS_URL": fake.data_ws_url("iex"),
        "TLH_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'run.sqlite'}",
        "TLH_SUBSTITUTES": '[{"symbols": ["VTI", "SCHB"]}]',
    }
    proc = await asyncio.create_subprocess_exec(
        str(TLH),
        "run",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    events: list[dict[str, object]] = []
    try:
        async with asyncio.timeout(40):
            while not any(e.get("event") == "scheduler_started" for e in events):
                line = (await proc.stdout.readline()).decode()
                assert line, "tlh run ended early:\n" + "".join(lines)
                lines.append(line)
                if line.startswith("{"):
                    events.append(json.loads(line))
        await fake.wait_for_data_subscription("SCHB")
        proc.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(proc.communicate(), 20)
        lines.append(rest.decode())
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    output = "".join(lines)
    assert proc.returncode == 0, output
    reconciled = next(e for e in events if e.get("event") == "reconciled")
    assert (reconciled["reason"], reconciled["fills"], reconciled["mismatches"]) == ("start", 1, [])
    assert fake.KEY not in output
    assert fake.SECRET not in output
