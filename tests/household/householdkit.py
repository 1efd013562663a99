"""A household in one journal: the broker's taxable account, an IRA imported from an OFX
statement, and a spouse's account linked through (the fake) Plaid (issue #11, "Done when").

The pieces are the suite's own: the OFX fixture `tests/ofx/fixtures/ira_2025.qfx` re-dated to
the test's window, the fake Plaid (`tests/fake_plaid`) with the Plaid tests' Item
(`tests/plaid_items/plaidkit.py`), and the real `tlh` command, whose JSON log this kit reads
without blocking the event loop (the fake Alpaca serves from the test's own loop).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from tests.fake_plaid.server import CLIENT_ID, SECRET, FakePlaid, Transaction
from tests.plaid_items.plaidkit import TOKEN, VTI, hold, ira_item

REPO = Path(__file__).resolve().parents[2]
TLH = Path(sys.executable).with_name("tlh")
IRA_STATEMENT = REPO / "tests" / "ofx" / "fixtures" / "ira_2025.qfx"
SPOUSE = "spouse"
IRA = "ira"


def ira_statement(folder: Path, bought: date, fitid: str = "IRA") -> Path:
    """Write the IRA's OFX statement (100 VTI bought, 0.4 reinvested) with both purchases on
    `bought`; the FITIDs are the fixture's (``IRA-…``, so a second import is the same
    statement) with `fitid` for their prefix."""
    text = IRA_STATEMENT.read_text().replace("<FITID>IRA-", f"<FITID>{fitid}-")
    day = bought.strftime("%Y%m%d")
    start = (bought - timedelta(days=14)).strftime("%Y%m%d")
    for old, new in (("20250314", day), ("20250325", day), ("20250331", day)):
        assert old in text, old
        text = text.replace(old, new)
    text = text.replace("20250301", start)
    path = folder / f"{fitid.lower()}.qfx"
    path.write_text(text)
    return path


def link_spouse(fake: FakePlaid, bought: date) -> None:
    """Link the spouse's brokerage account: 3 VTI bought on `bought`, held."""
    item = ira_item(fake, TOKEN, subtype="brokerage")
    item.transactions.append(
        Transaction("tx-spouse-1", "acct-1", VTI.security_id, bought, "buy", "buy", 3, 240.0)
    )
    hold(item, 3, 720.0)


def household_toml(fake: FakePlaid, folder: Path, head: str, taxable: str) -> Path:
    """Write `tlh.toml`: `head` (broker, database, [sim]), the household's [accounts] (the
    broker's `taxable`, the IRA, the spouse's), VTI -> SCHB, and the spouse's Plaid Item."""
    token = folder / "plaid-spouse.token"
    token.write_text(TOKEN + "\n")
    path = folder / "tlh.toml"
    path.write_text(
        f"{head}"
        '[logging]\nformat = "json"\n'
        "[prices]\nconfirm_quotes = 0\n"
        f'[accounts]\n{taxable} = "taxable"\n{IRA} = "ira"\n{SPOUSE} = "taxable"\n'
        '[[substitutes]]\nsymbols = ["VTI", "SCHB"]\n'
        f'[plaid]\nurl = "{fake.url}"\n'
        f'[[plaid.items]]\naccount = "{SPOUSE}"\naccess_token_file = "{token}"\n'
    )
    return path


def household_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Return the environment of a household `tlh` command: this checkout's code, Plaid's
    credentials, no TLH_ variable of the caller's (unless given in `base`)."""
    env = base or {k: v for k, v in os.environ.items() if not k.startswith("TLH_")}
    return env | {
        "PYTHONPATH": str(REPO),
        "TLH_PLAID__CLIENT_ID": CLIENT_ID,
        "TLH_PLAID__SECRET": SECRET,
    }


async def tlh(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run `tlh ARGS --config config` in a thread (the test's loop keeps serving fakes)."""
    return await asyncio.to_thread(
        subprocess.run,
        [str(TLH), *args, "--config", str(config)],
        cwd=config.parent,
        env=env,
        text=True,
        capture_output=True,
        timeout=90,
    )


@dataclass
class TlhRun:
    """A `tlh run` process whose JSON log goes to a file, read as it grows."""

    proc: subprocess.Popen[str]
    log: Path

    @classmethod
    def start(cls, config: Path, env: dict[str, str], name: str = "run.log") -> TlhRun:
        """Start `tlh run --config config` in the config's folder."""
        log = config.parent / name
        with log.open("w") as out:
            proc = subprocess.Popen(
                [str(TLH), "run", "--config", str(config)],
                cwd=config.parent,
                env=env,
                text=True,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return cls(proc, log)

    def events(self, event: str | None = None, **fields: object) -> list[dict[str, object]]:
        """Return the log records so far (of `event`, with `fields`)."""
        records = [json.loads(x) for x in self.log.read_text().splitlines() if x.startswith("{")]
        return [
            r
            for r in records
            if (event is None or r.get("event") == event)
            and all(r.get(k) == v for k, v in fields.items())
        ]

    async def wait_for(
        self, event: str, seconds: float = 60, **fields: object
    ) -> dict[str, object]:
        """Return the first record of `event` with `fields`, waiting while the daemon runs."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if found := self.events(event, **fields):
                return found[0]
            assert self.proc.poll() is None, f"tlh run exited:\n{self.log.read_text()}"
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {event} {fields} in {seconds} s:\n{self.log.read_text()}")

    async def stop(self) -> int:
        """Send SIGTERM; return the exit status (killed after 30 s)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                await asyncio.to_thread(self.proc.wait, 30)
            finally:
                if self.proc.poll() is None:
                    self.proc.kill()
                    self.proc.wait()
        return self.proc.returncode


def journal_rows(database: Path) -> list[tuple[str, str, str | None]]:
    """Return the journal's (account, symbol, external id) rows in order."""
    with sqlite3.connect(database) as conn:
        query = "SELECT account, symbol, external_id FROM journal ORDER BY seq"
        return conn.execute(query).fetchall()


def intent_accounts(database: Path) -> set[str]:
    """Return the accounts the daemon ever meant to trade (its persisted intents)."""
    with sqlite3.connect(database) as conn:
        return {a for (a,) in conn.execute("SELECT DISTINCT account FROM intents")}
