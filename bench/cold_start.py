"""Benchmark cold start: a journal holding 100,000 lots, from process state to ready.

Ready means: schema checked, journal loaded, ledger rebuilt, trigger prices computed, open
orders resumed (`HarvestEngine.start()`). Runs on SQLite, and on PostgreSQL when
TLH_TEST_POSTGRES_URL (or --postgres URL) is given.

Run: .venv/bin/python bench/cold_start.py [--lots 100000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg

from adapters.sim.broker import SimBroker
from daemon.app import build_daemon
from daemon.settings import Settings
from ledger.model import Action, Trade


def lots(n: int) -> list[Trade]:
    rng = random.Random(3)
    start = date(2015, 1, 2)
    return [
        Trade(
            i + 1,
            start + timedelta(days=i // 200),
            f"acct{i % 3}",
            Action.BUY,
            f"S{i % 500:03d}",
            Decimal(rng.randint(1, 500)) / 4,
            Decimal(rng.randint(1000, 50000)) / 100,
        )
        for i in range(n)
    ]


async def measure(url: str, n: int) -> tuple[float, float, int]:
    now = datetime(2021, 1, 4, 15, tzinfo=UTC)
    settings = Settings()
    daemon = await build_daemon(settings, SimBroker(lambda: now), lambda: now, database_url=url)
    await daemon.engine.start()
    t0 = time.perf_counter()
    await daemon.engine.import_trades(lots(n), source="bench")
    import_s = time.perf_counter() - t0
    await daemon.close()
    t0 = time.perf_counter()
    fresh = await build_daemon(settings, SimBroker(lambda: now), lambda: now, database_url=url)
    await fresh.engine.start()
    ready_s = time.perf_counter() - t0
    count = len(fresh.ledger.open_lots())
    await fresh.close()
    return import_s, ready_s, count


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lots", type=int, default=100_000)
    ap.add_argument("--postgres", default=os.environ.get("TLH_TEST_POSTGRES_URL"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'cold.sqlite'}"
        imp, ready, count = await measure(url, args.lots)
        print(f"sqlite:     {count:,} lots; import {imp:.1f} s; cold start to ready {ready:.2f} s")
    if args.postgres:
        name = f"tlh_bench_{uuid.uuid4().hex[:8]}"
        admin = args.postgres.replace("+asyncpg", "").rsplit("/", 1)[0] + "/postgres"
        conn = await asyncpg.connect(admin)
        await conn.execute(f'CREATE DATABASE "{name}"')
        try:
            url = args.postgres.rsplit("/", 1)[0] + f"/{name}"
            imp, ready, count = await measure(url, args.lots)
            print(
                f"postgresql: {count:,} lots; import {imp:.1f} s; cold start to ready {ready:.2f} s"
            )
        finally:
            await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
