"""A real `tlh run` process on the simulator with `[sim] replay`, its JSON log, its journal.

The daemon runs this checkout's code (`PYTHONPATH` is the repository), on a SQLite journal in
the test's folder, with a configuration file the test writes.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from adapters.prices.csvload import load_prices
from adapters.prices.model import PriceSeries
from adapters.storage.engine import create_engine
from adapters.storage.records import JournalKind, JournalRecord
from adapters.storage.repository import Repository
from daemon.backtest import run_backtest, write_trades
from daemon.demo_data import demo_config_path, demo_prices_path
from daemon.replay import LAST_DAY_KEY, demo_holdings
from daemon.settings import load_settings
from ledger.model import Trade

REPO = Path(__file__).resolve().parents[2]
TLH = Path(sys.executable).with_name("tlh")
DEMO_GROUPS = demo_config_path().read_text().split("[[substitutes]]", 1)[1]


def write_config(folder: Path, sim: str) -> Path:
    """Write a `tlh.toml` for the simulator: its own SQLite journal, JSON logs, the `[sim]`
    lines `sim`, and the demo's substitute groups."""
    path = folder / "tlh.toml"
    path.write_text(
        'broker = "sim"\n'
        f'[database]\nurl = "sqlite+aiosqlite:///{folder / "journal.sqlite"}"\n'
        '[logging]\nformat = "json"\n'
        f"[sim]\n{sim}\n"
        f"[[substitutes]]{DEMO_GROUPS}"
    )
    return path


def write_demo_slice(path: Path, sessions: int) -> Path:
    """Write the first `sessions` days of the bundled demo prices as a long-format CSV."""
    prices = load_prices(demo_prices_path())
    lines = ["date,symbol,open,high,low,close,volume"]
    for n, (day, bars) in enumerate(prices.days()):
        if n == sessions:
            break
        for b in bars:
            lines.append(f"{day},{b.symbol},{b.open},{b.high},{b.low},{b.close},{b.volume}")
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class TlhRun:
    """A running `tlh run`: its log records arrive on `records` as it writes them."""

    proc: subprocess.Popen[str]
    records: queue.Queue[dict[str, object]] = field(default_factory=queue.Queue)
    seen: list[dict[str, object]] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, config: Path) -> TlhRun:
        """Start `tlh run --config config` in the config's folder."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("TLH_")}
        env["PYTHONPATH"] = str(REPO)
        proc = subprocess.Popen(
            [str(TLH), "run", "--config", str(config)],
            cwd=config.parent,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        run = cls(proc)
        threading.Thread(target=run._read, daemon=True).start()
        return run

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.text.append(line)
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                self.records.put(record)

    def wait_for(self, event: str, seconds: float = 60) -> dict[str, object]:
        """Return the first record of `event` (after those already seen)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                record = self.records.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(record)
            if record.get("event") == event:
                return record
        raise AssertionError(f"no {event!r} in {seconds} s; the log:\n{''.join(self.text)}")

    def events(self) -> list[str]:
        """Return the events seen so far (by `wait_for`) and still queued."""
        while not self.records.empty():
            self.seen.append(self.records.get())
        return [str(r.get("event")) for r in self.seen]

    def stop(self, seconds: float = 30) -> int:
        """Send SIGTERM and return the exit status."""
        self.proc.terminate()
        return self.proc.wait(timeout=seconds)

    def kill(self) -> None:
        """Kill the process if it still runs."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


def journal_url(folder: Path) -> str:
    """Return the journal database of the configuration written in `folder`."""
    return f"sqlite+aiosqlite:///{folder / 'journal.sqlite'}"


async def _read_journal(url: str) -> tuple[list[JournalRecord], str | None]:
    db = create_engine(url)
    try:
        repo = Repository(db)
        return list(await repo.load_journal()), await repo.get_state(LAST_DAY_KEY)
    finally:
        await db.dispose()


def read_journal(folder: Path) -> tuple[list[JournalRecord], str | None]:
    """Return the journal and the last day replayed, as the daemon left them."""
    return asyncio.run(_read_journal(journal_url(folder)))


def trades_csv(trades: Sequence[Trade]) -> str:
    """Return trades in the TRADES.csv format, one line each (what `--trades-out` writes)."""
    out = io.StringIO()
    write_trades(trades, out)
    return out.getvalue()


def daemon_trades(records: Sequence[JournalRecord]) -> list[Trade]:
    """Return the trades the daemon made (fills), not the imported holdings."""
    return [r.to_event() for r in records if r.kind is JournalKind.TRADE]  # type: ignore[misc]


def backtest_trades(prices: PriceSeries, config: Path, folder: Path) -> list[Trade]:
    """Return the trades `run_backtest` makes on `prices` from the demo's holdings, with the
    settings of `config`, on a journal of its own in `folder`."""
    settings = load_settings(config)
    result = asyncio.run(
        run_backtest(
            prices,
            demo_holdings(prices, settings),
            settings,
            database_url=f"sqlite+aiosqlite:///{folder / 'backtest.sqlite'}",
        )
    )
    return result.daemon_trades
