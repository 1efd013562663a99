"""The status page of a real `tlh run` (issue #10 §5, and "Done when": `tlh run` on the simulated
broker serves the status page; the page renders in a real browser and its numbers match
`tlh status` and `tlh lots`).

The journal is made the way a user makes one: `tlh backtest --database-url` harvests a fall of
XYZ (sold at a loss, replaced by SUB) in the last days before today, so its wash-sale windows
are still open (and the harvest is this year's, but in the first days of January). `tlh run`
then serves that journal with `[metrics] enabled`, and chromium loads `/`.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.backtest.barkit import CONFIG, HEADER, HOLDINGS_CSV, Row, flat
from tests.web_page.browser import Chromium, find_chromium
from tests.web_page.dom import Node, parse
from tests.web_page.pagekit import cell

TLH = Path(sys.executable).with_name("tlh")
ROOT = Path(__file__).resolve().parents[2]
SESSIONS = 60
FALL_FROM = 52  # XYZ falls from this session on: the harvest is days old, its windows open


def sessions(until: date, n: int = SESSIONS) -> list[date]:
    """Return the `n` weekdays before `until`, oldest first."""
    days: list[date] = []
    day = until
    while len(days) < n:
        day -= timedelta(days=1)
        if day.weekday() < 5:
            days.append(day)
    return days[::-1]


def late_fall(n: int) -> list[Row]:
    """Return session `n`: XYZ near $100, falling $4 a session from FALL_FROM down to $80."""
    fallen = Decimal(100) - 4 * max(n - FALL_FROM + 1, 0)
    return [flat("SUB", Decimal(50), n), flat("XYZ", max(fallen, Decimal(80)), n)]


def free_port() -> int:
    """Return a loopback port free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Household:
    """A folder with the household's ./tlh.toml, and the environment of its `tlh` commands."""

    folder: Path
    env: dict[str, str]

    def tlh(self, *args: str) -> str:
        """Run `tlh ARGS` in the folder; return its stdout (fail on a non-zero exit)."""
        out = subprocess.run(
            [str(TLH), *args], env=self.env, cwd=self.folder, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr[-3000:]
        return out.stdout


def write_household(tmp_path: Path) -> Household:
    """Write the household's configuration and its journal (with `tlh backtest`)."""
    prices = [HEADER] + [
        f"{day},{s},{o},{h},{lo},{c}"
        for n, day in enumerate(sessions(date.today()))
        for s, o, h, lo, c in late_fall(n)
    ]
    (tmp_path / "PRICES.csv").write_text("\n".join(prices) + "\n")
    (tmp_path / "HOLDINGS.csv").write_text(HOLDINGS_CSV)
    (tmp_path / "tlh.toml").write_text(
        CONFIG + f'\n[metrics]\nenabled = true\nport = {free_port()}\n\n[sim]\nreplay = "none"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TLH_")}
    env |= {
        "TLH_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'journal.sqlite'}",
        "TLH_LOGGING__FORMAT": "json",
        "COLUMNS": "240",  # rich tables unabridged
        # The code under test, not whatever the installed `tlh` script would import.
        "PYTHONPATH": str(ROOT),
    }
    home = Household(tmp_path, env)
    home.tlh("backtest", "--prices", "PRICES.csv", "--holdings", "HOLDINGS.csv",
             "--config", "tlh.toml", "--database-url", env["TLH_DATABASE__URL"])  # fmt: skip
    return home


@dataclass(frozen=True)
class Seen:
    """What the test compares: the page chromium rendered from `tlh run`, then what `tlh status
    --json` and `tlh lots` print for the same journal."""

    dom: Node
    status: dict[str, Any]
    lots: dict[str, tuple[str, str]]


@pytest.fixture(scope="module")
def seen(tmp_path_factory: pytest.TempPathFactory) -> Seen:
    """Run the household's daemon once for the module's tests; load `/` in chromium, then read
    `tlh status --json` and `tlh lots`; stop the daemon with SIGTERM."""
    chromium = Chromium(find_chromium())
    household = write_household(tmp_path_factory.mktemp("household"))
    log = household.folder / "run.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(TLH), "run"], env=household.env, cwd=household.folder, stdout=out, stderr=out
        )
    try:
        url = f"http://127.0.0.1:{wait_for_listener(proc, log)}/"
        dom = parse(asyncio.run(chromium.dump_dom(url)))
        status = json.loads(household.tlh("status", "--json"))
        lots = lots_table(household.tlh("lots"))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return Seen(dom, status, lots)


def wait_for_listener(proc: subprocess.Popen[bytes], log: Path, seconds: float = 60) -> int:
    """Return the port the daemon's `web_listening` log record names."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        for line in log.read_text().splitlines():
            if '"web_listening"' in line:
                return int(json.loads(line)["port"])
        time.sleep(0.1)
    raise AssertionError(
        f"no web_listening record (exit {proc.poll()}):\n{log.read_text()[-4000:]}"
    )


def lots_table(out: str) -> dict[str, tuple[str, str]]:
    """Return `tlh lots`'s rows: lot id -> (quantity, adjusted basis)."""
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line)[1:-1]]
        if len(cells) == 8 and re.fullmatch(r"\d{4}-\d\d-\d\d", cells[4]):
            rows[cells[2]] = (cells[3], cells[7])
    return rows


def test_the_page_names_the_mode_and_the_broker(seen: Seen) -> None:
    """#10 §5: the page shows the mode and the broker `tlh status` shows."""
    assert seen.dom.by_id("broker").text == seen.status["broker"] == "sim"
    assert seen.dom.by_id("mode").text == seen.status["mode"]


def test_open_lots_match_tlh_lots_and_tlh_status(seen: Seen) -> None:
    """#10 §5: the page's open lots are those of `tlh lots` (quantity, adjusted basis as
    printed) and of `tlh status --json` (the exact basis)."""
    rows = {r.attrs["data-lot-id"]: r for r in seen.dom.find_all("tr") if "data-lot-id" in r.attrs}
    assert seen.lots, "the journal holds no open lot"
    assert sorted(rows) == sorted(seen.lots)
    for lot_id, (quantity, basis) in seen.lots.items():
        assert (cell(rows[lot_id], "quantity").text, cell(rows[lot_id], "basis").text) == (
            quantity,
            basis,
        )
    assert {lot_id: cell(row, "basis").attrs["data-value"] for lot_id, row in rows.items()} == {
        lot["lot_id"]: lot["basis"] for lot in seen.status["open_lots"]
    }


def test_harvests_and_totals_match_tlh_status(seen: Seen) -> None:
    """#10 §5: this year's harvests (loss, replacement) and the year's totals are those of
    `tlh status --json`; the chart rises to the losses of every harvest."""
    status, dom = seen.status, seen.dom
    assert status["harvests"], "the backtest harvested nothing"
    assert dom.by_id("harvested-loss-ytd").attrs["data-value"] == status["harvested_loss_ytd"]
    saved = dom.by_id("estimated-tax-saved-ytd").attrs["data-value"]
    assert saved == status["estimated_tax_saved_ytd"]
    this_year = [h for h in status["harvests"] if h["day"][:4] == status["today"][:4]]
    rows = {r.attrs["data-intent-id"]: r for r in dom.find_all("tr") if "data-intent-id" in r.attrs}
    assert {i: (cell(r, "loss").attrs["data-value"], cell(r, "replacement").text)
            for i, r in rows.items()} == {
        h["intent_id"]: (h["loss"], h["replacement"] or "cash") for h in this_year
    }  # fmt: skip
    points = dom.by_id("loss-chart").find_all("circle")
    total = sum(Decimal(h["loss"]) for h in status["harvests"])
    assert total > 0
    assert Decimal(points[-1].attrs["data-cumulative"]) == total


def test_wash_windows_match_tlh_status(seen: Seen) -> None:
    """#10 §5: the wash-window calendar is `tlh status --json`'s: XYZ, sold at a loss days
    ago, may not be bought yet; SUB, bought as its replacement, may not be sold at a loss."""
    windows = {
        (tr.attrs["data-symbol"], table, tr.attrs["data-until"])
        for table in ("no-buy", "no-loss-sale")
        for tr in seen.dom.by_id(table).find_all("tr")
        if "data-symbol" in tr.attrs
    }
    assert windows == {
        (w["symbol"], w["kind"].replace("_", "-"), w["until"]) for w in seen.status["wash_windows"]
    }
    assert {(symbol, kind) for symbol, kind, _ in windows} >= {
        ("XYZ", "no-buy"),
        ("SUB", "no-loss-sale"),
    }
