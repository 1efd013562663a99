"""Issue #9 §2 "Lot relief": where the user picks lots at the broker after the trade (IB's
Tax Optimizer, `[ib] lot_method = "specific"`), tlh names the lot it sells and tells the user,
per sale, which lots to select before 8:30 PM ET on the trade day.

IB: changes are saved "until 8:30 PM ET on any given trading day"
(https://www.interactivebrokers.com/en/trading/tax-optimizer.php). The broker here is the
simulator declaring `LotRelief.chosen_by_user`; household: VTI in a taxable account (daemonkit),
the quote at T0 (Monday 2024-03-04, 10:00 ET).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import structlog
from daemonkit import T0, TAXABLE, Rig, Rigs, SpyBroker, make_settings

import daemon.orders
from adapters.base import LotRelief
from adapters.sim.broker import SimBroker
from adapters.storage.records import IntentStatus
from daemon.clock import SimulatedClock
from daemon.tax_optimizer import lots_to_select
from ledger.conventions import LotMethod
from ledger.model import AccountType, Parcel

TLH = Path(sys.executable).with_name("tlh")
USER_PICKS = LotRelief(specific_lots=True, method=LotMethod.FIFO, chosen_by_user=True)


class UserPicksLotsBroker(SpyBroker):
    """The simulated broker as IB with `lot_method = "specific"`: lots chosen after the trade."""

    capabilities = replace(SimBroker.capabilities, lot_relief=USER_PICKS)


@pytest.fixture(autouse=True)
def _fresh_orders_logger(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give `daemon.orders` an uncached logger, so `capture_logs` sees its events even after
    a command run in this process cached loggers (`configure_logging(cache_loggers=True)`)."""
    monkeypatch.setattr(daemon.orders, "log", structlog.get_logger("tlh.orders"))


async def _harvest(rigs: Rigs, url: str | None = None, **settings: Any) -> tuple[Rig, list[Any]]:
    """Hold two VTI lots (10 at $170 bought 2023-10-02, 40 at $200 bought 2023-11-01), quote
    SCHB and let VTI bid $180: the $200 lot is harvested. Return the rig and the log events."""
    clock = SimulatedClock(T0)
    rig = await rigs.open(
        url, settings=make_settings(**settings), broker=UserPicksLotsBroker(clock.now), clock=clock
    )
    await rig.hold("VTI", "10", "170", day=date(2023, 10, 2), lot_id="VTI-B")
    await rig.hold("VTI", "40", "200", lot_id="VTI-A")
    await rig.quote("SCHB", 50.00)
    with structlog.testing.capture_logs() as logs:
        await rig.quote("VTI", 180.00)
    return rig, logs


async def test_each_sale_logs_the_lots_to_select_before_the_deadline(rigs: Rigs) -> None:
    """One WARNING per sale, `select_lots_in_tax_optimizer`: account, symbol, quantity, each
    lot's id, acquisition date, shares and cost per share, and the deadline in ET."""
    rig, logs = await _harvest(rigs)

    (event,) = [e for e in logs if e["event"] == "select_lots_in_tax_optimizer"]
    assert event["log_level"] == "warning"
    assert (event["account"], event["symbol"], event["quantity"]) == (TAXABLE, "VTI", "40")
    assert event["lots"] == [
        {
            "lot_id": "VTI-A",
            "acquired": "2023-11-01",
            "quantity": "40",
            "cost_per_share": "200.0000",
            "adjusted_per_share": "200.0000",
        }
    ]
    assert event["deadline"] == "2024-03-04 20:30 ET"
    assert event["intent_id"] == rig.harvest_id("VTI", "VTI-A")


async def test_the_ledger_counts_the_named_lot_as_sold(rigs: Rigs) -> None:
    """The daemon decides as with specific lots: the fill is journaled against the lot it
    named (the one the user selects), not the older lot FIFO would take, which stays open."""
    rig, _logs = await _harvest(rigs)

    sale = await rig.intent(rig.harvest_id("VTI", "VTI-A"))
    assert sale.status is IntentStatus.FILLED
    assert sale.payload["select_by"] == "2024-03-04T20:30:00-05:00"
    assert [(r.lot_id, r.quantity) for r in rig.ledger.sales] == [("VTI-A", Decimal(40))]
    assert rig.ledger.lot_method(TAXABLE) is LotMethod.FIFO
    assert [lot.lot_id for lot in rig.ledger.open_lots() if lot.symbol == "VTI"] == ["VTI-B"]


async def test_a_broker_that_takes_the_lot_on_the_order_gets_no_notice(rigs: Rigs) -> None:
    """The plain simulator names the lot on the order: nothing to select afterwards."""
    rig = await rigs.open()
    await rig.hold("VTI", "40", "200", lot_id="VTI-A")
    await rig.quote("SCHB", 50.00)
    with structlog.testing.capture_logs() as logs:
        await rig.quote("VTI", 180.00)

    assert not [e for e in logs if e["event"] == "select_lots_in_tax_optimizer"]
    assert "select_lots" not in (await rig.intent(rig.harvest_id("VTI", "VTI-A"))).payload


async def test_each_part_of_a_split_harvest_names_its_own_shares(rigs: Rigs) -> None:
    """A harvest above `max_order_notional` goes out in parts (issue #13 A.7); each part is
    its own closing trade in the Tax Optimizer and names the shares it sells."""
    _rig, logs = await _harvest(rigs, risk={"max_order_notional": 4000})

    events = [e for e in logs if e["event"] == "select_lots_in_tax_optimizer"]
    assert len(events) > 1
    assert sum(Decimal(e["quantity"]) for e in events) == 40
    assert [[(lot["lot_id"], lot["quantity"]) for lot in e["lots"]] for e in events] == [
        [("VTI-A", e["quantity"])] for e in events
    ]


def _tlh(url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TLH_")}
    env |= {"TLH_DATABASE__URL": url, "COLUMNS": "200"}
    return subprocess.run(
        [str(TLH), *args], cwd=cwd, env=env, text=True, capture_output=True, timeout=60
    )


async def test_tlh_lots_select_prints_the_days_selections(
    rigs: Rigs, sqlite_url: str, tmp_path: Path
) -> None:
    """`tlh lots select --date` prints, from the stored intents, each sale of that day with
    the lots to select and the deadline; another day has none."""
    await _harvest(rigs, sqlite_url)

    shown = await asyncio.to_thread(
        _tlh, sqlite_url, tmp_path, "lots", "select", "--date", "2024-03-04"
    )
    other = await asyncio.to_thread(
        _tlh, sqlite_url, tmp_path, "lots", "select", "--date", "2024-03-05"
    )

    assert shown.returncode == 0, shown.stderr
    assert "before 2024-03-04 20:30 ET" in shown.stdout
    (row,) = [line for line in shown.stdout.splitlines() if "VTI-A" in line]
    for cell in (TAXABLE, "VTI", "40 of 40 sold (filled)", "2023-11-01", "200.0000"):
        assert cell in row
    assert other.returncode == 0, other.stderr
    assert "No lots to select in the Tax Optimizer for 2024-03-05." in other.stdout


def test_tlh_lots_select_refuses_a_bad_date(sqlite_url: str, tmp_path: Path) -> None:
    """Bad input: one clear line naming the option, exit status 2, no traceback."""
    result = _tlh(sqlite_url, tmp_path, "lots", "select", "--date", "2024-13-01")

    assert result.returncode == 2
    assert result.stderr.strip() == "tlh: --date: expected a date as YYYY-MM-DD (got '2024-13-01')"


def test_lots_to_select_takes_a_parts_shares_in_relief_order() -> None:
    """A lot held as a washed block (10 at $12.50 adjusted) and its remainder (30 at $9.50):
    convention 7 relieves the washed block first, so a first part of 15 shares takes the
    block and 5 of the remainder ($11.50 a share adjusted), and a second part of 20 after it
    takes 20 of the remainder, at $9.50."""
    block = _parcel(quantity="10", cost="95.00", adjustment="30.00")
    rest = _parcel(quantity="30", cost="285.00")

    first = lots_to_select([block, rest], Decimal(15))
    second = lots_to_select([block, rest], Decimal(20), skip=Decimal(15))

    assert [(p["quantity"], p["adjusted_per_share"]) for p in first] == [("15", "11.5000")]
    assert [(p["quantity"], p["adjusted_per_share"]) for p in second] == [("20", "9.5000")]
    assert second[0]["cost_per_share"] == "9.5000"


def _parcel(*, quantity: str, cost: str, adjustment: str = "0") -> Parcel:
    return Parcel(
        lot_id="R",
        account=TAXABLE,
        account_type=AccountType.TAXABLE,
        symbol="XYZ",
        quantity=Decimal(quantity),
        cost=Decimal(cost),
        acquired=date(2024, 2, 5),
        holding_period_start=date(2024, 1, 2),
        acquired_at=T0,
        seq=1,
        wash_adjustment=Decimal(adjustment),
    )
