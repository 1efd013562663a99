"""`tlh run` with TLH_BROKER=alpaca (the real command, in its own process) against the fake."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import pytest
from alpacakit import hold, start_tlh_run, tlh_env
from fake_alpaca import FakeAlpaca

pytestmark = pytest.mark.timeout(60)


async def test_tlh_run_on_alpaca_reconciles_streams_and_never_logs_the_keys(
    fake: FakeAlpaca, tmp_path: Path
) -> None:
    """Issue §1: TLH_BROKER=alpaca selects the adapter in `tlh run`; it reconciles at start,
    subscribes its symbols, stops on SIGTERM, and no log line holds a credential."""
    hold(fake, "VTI", "40", "200")
    env = tlh_env(
        fake,
        tmp_path,
        TLH_LOGGING__FORMAT="json",
        TLH_SUBSTITUTES='[{"symbols": ["VTI", "SCHB"]}]',
    )
    proc = await start_tlh_run(env, tmp_path)
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
