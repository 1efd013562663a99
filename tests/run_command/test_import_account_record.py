"""`tlh import` records the account it imports into, whether or not `tlh run` is up.

`daemon/broker_accounts.py` (and README "Importing history"): the daemon trades only its
broker's accounts; an account imported under another name (a spouse's, an IRA) is recorded as
an outside account (broker ``import``), never harvested, while its purchases count in the wash
guard. Lots imported into an account the broker trades already stay its own. The import beside
a running daemon always records the account, so the command run alone must too.
"""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.sim.broker import SimBroker
from adapters.storage.engine import create_engine
from adapters.storage.records import Account
from adapters.storage.repository import Repository
from daemon.app import build_daemon
from daemon.settings import Settings
from ledger.model import AccountType, Action, Trade
from tests.run_command.commandkit import TLH, tlh, tlh_env

pytestmark = pytest.mark.timeout(120)
TESTS = Path(__file__).parents[1]
HEADER = "date,account,action,symbol,quantity,price,fees,lot_id\n"
FLEX = TESTS / "flex" / "fixtures" / "activity_2025.xml"
OFX = TESTS / "ofx" / "fixtures" / "spec_example.ofx"


def _recorded(url: str) -> dict[str, Account]:
    async def read() -> dict[str, Account]:
        db = create_engine(url)
        try:
            return {a.account: a for a in await Repository(db).accounts()}
        finally:
            await db.dispose()

    return asyncio.run(read())


def _sim_trades(url: str, account: str) -> bool:
    """Return whether a simulator daemon on the journal `url` trades `account`."""

    async def ask() -> bool:
        now = datetime(2025, 6, 2, 15, tzinfo=UTC)
        daemon = await build_daemon(
            Settings(), SimBroker(lambda: now), lambda: now, database_url=url
        )
        try:
            return daemon.engine.trades_account(account)
        finally:
            await daemon.close()

    return asyncio.run(ask())


def _spouse_csv(tmp_path: Path) -> Path:
    path = tmp_path / "spouse.csv"
    path.write_text(HEADER + "2025-05-01,spouse,BUY,VTI,5,250,0,\n")
    return path


@pytest.mark.parametrize("source", ["--trades", "--ofx", "--ib-flex"])
def test_an_outside_import_is_recorded_and_not_traded_by_the_simulator(
    sqlite_url: str, tmp_path: Path, source: str
) -> None:
    """No --type, no daemon running: the account is still recorded under ``import`` (its
    type taxable, the default), so the simulator leaves it alone."""
    account, args = {
        "--trades": ("spouse", ["--account", "spouse", "--trades", str(_spouse_csv(tmp_path))]),
        "--ofx": ("spouse", ["--account", "spouse", "--ofx", str(OFX)]),
        "--ib-flex": ("U1234567", ["--ib-flex", str(FLEX)]),
    }[source]

    result = tlh(sqlite_url, tmp_path, "import", *args)

    assert result.returncode == 0, result.stderr
    assert _recorded(sqlite_url)[account] == Account(account, AccountType.TAXABLE, "import")
    assert not _sim_trades(sqlite_url, account)


def test_lots_imported_into_the_simulators_account_stay_traded(
    sqlite_url: str, tmp_path: Path
) -> None:
    """The simulator's account (its lots in the journal, no record) is recorded as the
    simulator's when more lots are imported into it (the README's fix for a halt)."""

    async def seed() -> None:
        now = datetime(2025, 6, 2, 15, tzinfo=UTC)
        daemon = await build_daemon(
            Settings(), SimBroker(lambda: now), lambda: now, database_url=sqlite_url
        )
        try:
            bought = Trade(
                1, date(2025, 3, 3), "taxable", Action.BUY, "VTI", Decimal(10), Decimal(250)
            )
            await daemon.engine.import_trades([bought], source="demo:holdings")
        finally:
            await daemon.close()

    asyncio.run(seed())
    transferred = tmp_path / "transfer.csv"
    transferred.write_text(HEADER + "2024-01-02,taxable,BUY,SCHB,20,55,0,\n")

    result = tlh(
        sqlite_url, tmp_path, "import", "--account", "taxable", "--trades", str(transferred)
    )

    assert result.returncode == 0, result.stderr
    assert _recorded(sqlite_url)["taxable"].broker == "sim"
    assert _sim_trades(sqlite_url, "taxable")


def test_a_first_import_into_a_declared_sim_account_is_the_simulators(
    sqlite_url: str, tmp_path: Path
) -> None:
    """`[sim] accounts` names the simulator's own accounts (adapters/sim/settings.py): a first
    import into an empty journal records such an account as the simulator's, and it is
    traded; an account the setting does not name stays outside."""
    (tmp_path / "tlh.toml").write_text('broker = "sim"\n[sim]\naccounts = ["taxable"]\n')
    seed = tmp_path / "taxable.csv"
    seed.write_text(HEADER + "2025-05-01,taxable,BUY,VTI,5,250,0,\n")

    declared = tlh(sqlite_url, tmp_path, "import", "--account", "taxable", "--trades", str(seed))
    outside = tlh(
        sqlite_url,
        tmp_path,
        "import",
        "--account",
        "spouse",
        "--trades",
        str(_spouse_csv(tmp_path)),
    )

    assert declared.returncode == outside.returncode == 0, declared.stderr + outside.stderr
    recorded = _recorded(sqlite_url)
    assert (recorded["taxable"].broker, recorded["spouse"].broker) == ("sim", "import")
    assert _sim_trades(sqlite_url, "taxable")
    assert not _sim_trades(sqlite_url, "spouse")


def test_a_flex_import_into_the_configured_ib_account_is_the_brokers(
    sqlite_url: str, tmp_path: Path
) -> None:
    """With ``broker = "ib"`` and ``[ib] account`` the statement's account, the import's
    account is IB's own (recorded under ``ib``), not an outside one."""
    (tmp_path / "tlh.toml").write_text('broker = "ib"\n[ib]\naccount = "U1234567"\n')

    env = {k: v for k, v in tlh_env(sqlite_url).items() if k != "TLH_SIM__REPLAY"}

    result = subprocess.run(
        [str(TLH), "import", "--ib-flex", str(FLEX), "--config", "tlh.toml"],
        cwd=tmp_path,
        env=env,
        text=True,
        capture_output=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert _recorded(sqlite_url)["U1234567"].broker == "ib"


def test_a_recorded_account_keeps_its_type_and_broker(sqlite_url: str, tmp_path: Path) -> None:
    """A later import without --type neither turns a recorded IRA taxable nor moves it to
    another broker."""
    ira = tmp_path / "ira.csv"
    ira.write_text(HEADER + "2025-05-01,spouse-ira,BUY,VTI,5,250,0,\n")
    more = tmp_path / "more.csv"
    more.write_text(HEADER + "2025-05-08,spouse-ira,BUY,VXUS,5,60,0,\n")
    args = ("import", "--account", "spouse-ira", "--trades")

    first = tlh(sqlite_url, tmp_path, *args, str(ira), "--type", "ira")
    second = tlh(sqlite_url, tmp_path, *args, str(more))

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert "imported 1 journal entries" in second.stdout
    assert _recorded(sqlite_url)["spouse-ira"] == Account("spouse-ira", AccountType.IRA, "import")
