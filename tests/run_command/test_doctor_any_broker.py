"""`tlh doctor` for any broker: the general checks run over the broker port and ask the adapter
for its own (issue #9 §1: "`tlh doctor` keeps its general checks in one place and asks the
adapter for its own"; capabilities are data read by `tlh doctor`)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console

from adapters.base import (
    AccountReports,
    BrokerError,
    CheckResult,
    LotRelief,
    OrderRequest,
    Probing,
    QuoteSnapshots,
    SelfChecks,
    SessionCalendar,
)
from adapters.sim.broker import SimBroker
from adapters.storage.engine import create_engine
from adapters.storage.migrate import upgrade_database
from adapters.storage.records import Account, JournalEntry, JournalKind
from adapters.storage.repository import Repository
from daemon.cli.doctor import Diagnosis, diagnose, print_diagnosis
from daemon.events import OrderSide, Quote
from daemon.market_calendar import MarketCalendar
from daemon.settings import HarvestSettings, Settings, load_settings
from ledger.conventions import LotMethod
from ledger.model import AccountType, Action
from strategies.decision import OUTSIDE_ACCOUNT

TLH = Path(sys.executable).with_name("tlh")
ACCOUNT = "acct"
NEW_YORK = ZoneInfo("America/New_York")
LONG_AGO = datetime(2025, 6, 2, 15, 0, tzinfo=UTC)


class SmallBroker(SimBroker):
    """A broker of a kind tlh does not know, implementing the port and its optional parts:
    it reports an account, answers a probe, runs its own checks, quotes on request and has a
    trading calendar (the exchange's, or one closed on `closed_days`)."""

    name = "small"

    def __init__(self, *, reachable: bool = True) -> None:
        self.clock = LONG_AGO
        super().__init__(lambda: self.clock)
        self.account = ACCOUNT
        self.reachable = reachable
        self.quotes: dict[str, Quote] = {}
        self.closed_days: set[date] = set()
        self.checks_run = 0

    async def probe(self) -> None:
        if not self.reachable:
            raise BrokerError("connection refused by 127.0.0.1:1")

    async def doctor_checks(self) -> Sequence[CheckResult]:
        self.checks_run += 1
        return [
            CheckResult("session token", True, "fresh until 17:00"),
            CheckResult("permissions", False, "stock trading is not enabled"),
        ]

    async def latest_quotes(self, symbols: Collection[str]) -> dict[str, Quote]:
        return {s: self.quotes[s] for s in symbols if s in self.quotes}

    async def session_closes(self, start: date, end: date) -> dict[date, time]:
        calendar = MarketCalendar()
        closes = {}
        for day in calendar.sessions(start, end):
            hours = calendar.session_open_close(day)
            if hours is not None and day not in self.closed_days:
                closes[day] = hours[1].astimezone(NEW_YORK).time()
        return closes

    async def bought(self, symbol: str, quantity: str, price: float) -> None:
        """Buy at the broker, long ago, without the daemon (a fill it has not journaled)."""
        self.set_quote(Quote(symbol, price - 0.02, price, self.clock))
        await self.submit(
            OrderRequest(f"outside-{symbol}", ACCOUNT, symbol, OrderSide.BUY, Decimal(quantity))
        )


def settings_for(tmp_path: Path) -> Settings:
    """Return settings with a journal under `tmp_path`, VTI/SCHB substitutes, one account."""
    return load_settings(
        None,
        {
            "TLH_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'doctor.sqlite'}",
            "TLH_SUBSTITUTES": '[{"symbols": ["VTI", "SCHB"]}]',
            "TLH_ACCOUNTS": f'{{"{ACCOUNT}": "taxable"}}',
        },
    )


def printed(diagnosis: Diagnosis) -> str:
    console = Console(file=io.StringIO(), width=200)
    print_diagnosis(diagnosis, console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(text, str)
    return text


def test_the_in_test_broker_implements_every_optional_part() -> None:
    """The port's optional parts are what doctor asks for (adapters/base.py)."""
    broker = SmallBroker()
    for part in (AccountReports, Probing, SelfChecks, QuoteSnapshots, SessionCalendar):
        assert isinstance(broker, part), part.__name__


async def test_doctor_asks_the_adapter_for_its_own_checks_and_prints_them(
    tmp_path: Path,
) -> None:
    """Issue #9 §1: the general checks run, then the adapter's own, printed as any check; a
    failed one of the adapter's fails doctor."""
    broker = SmallBroker()

    diagnosis = await diagnose(settings_for(tmp_path), broker)

    out = printed(diagnosis)
    assert broker.checks_run == 1
    for line in (
        "ok   configuration: mode dry_run, broker small, orders disabled",
        "ok   connectivity: small answers",
        "ok   session token: fresh until 17:00",
        "FAIL permissions: stock trading is not enabled",
        "ok   calendar: broker and exchange calendar agree on the next 30 days",
        "ok   halts: none",
    ):
        assert line in out, out
    assert not diagnosis.ok


async def test_doctor_prints_the_brokers_capabilities(tmp_path: Path) -> None:
    """Issue #9 §1: capabilities (lot relief, fractional shares, order types, hours) are data
    on the adapter, read by `tlh doctor`."""
    diagnosis = await diagnose(settings_for(tmp_path), SmallBroker())

    out = printed(diagnosis)
    assert (
        "ok   capabilities: lot relief specific lots named on each sale; fractional shares; "
        "orders limit, market; hours: at each replayed quote"
    ) in out, out


async def test_doctor_reconciles_through_the_port_and_counts_unjournaled_fills(
    tmp_path: Path,
) -> None:
    """Issue #9 §1 (reconciliation against the broker port): the broker's fills not journaled
    yet (`fills_since`) explain its positions (`positions`), nothing is written."""
    broker = SmallBroker()
    await broker.bought("VTI", "40", 200.0)

    diagnosis = await diagnose(settings_for(tmp_path), broker)

    assert (
        "ok   reconciliation: ledger matches the broker (0 journal entries, 1 broker fills "
        "not journaled yet)"
    ) in printed(diagnosis)


async def test_doctor_fails_on_a_position_the_history_does_not_explain(tmp_path: Path) -> None:
    """Reconciliation halts on mismatch (issue #9 §1); doctor names the symbol and both
    quantities."""
    broker = SmallBroker()
    await broker.bought("VTI", "40", 200.0)
    broker.set_position(ACCOUNT, "VTI", Decimal(55))

    diagnosis = await diagnose(settings_for(tmp_path), broker)

    assert "FAIL reconciliation: VTI: broker 55, ledger 40" in printed(diagnosis)


async def test_doctor_previews_the_harvest_at_the_adapters_latest_quotes(tmp_path: Path) -> None:
    """Issue #9 §1 and strategies/decision.py: doctor decides as the daemon does, at the
    adapter's quotes on request (`QuoteSnapshots`), pricing the substitute too."""
    broker = SmallBroker()
    await broker.bought("VTI", "40", 200.0)
    now = datetime.now(UTC)
    broker.quotes = {
        "VTI": Quote("VTI", 180.0, 180.04, now),
        "SCHB": Quote("SCHB", 50.0, 50.02, now),
    }

    diagnosis = await diagnose(settings_for(tmp_path), broker)

    (harvest,) = diagnosis.harvests
    assert (harvest.account, harvest.symbol, harvest.quantity, harvest.bid) == (
        ACCOUNT,
        "VTI",
        Decimal(40),
        Decimal(180),
    )
    assert "Would harvest now (prices: small's latest quotes)" in printed(diagnosis)
    assert broker.submissions == 1  # the purchase only: doctor places nothing


async def test_doctor_fails_when_the_brokers_calendar_disagrees(tmp_path: Path) -> None:
    """The broker's calendar is compared with the exchange calendar the scheduler uses; a day
    the broker is closed and the exchange is not fails the check, naming the day."""
    broker = SmallBroker()
    today = datetime.now(UTC).astimezone(NEW_YORK).date()
    day = MarketCalendar().sessions(today + timedelta(days=1), today + timedelta(days=10))[0]
    broker.closed_days = {day}

    diagnosis = await diagnose(settings_for(tmp_path), broker)

    assert f"FAIL calendar: they differ on {day} (broker closed, exchange " in printed(diagnosis)


async def test_an_unreachable_broker_fails_connectivity_and_still_runs_its_own_checks(
    tmp_path: Path,
) -> None:
    """`adapters.base.SelfChecks`: the adapter's checks run connected or not (they may say
    why it cannot connect); nothing that needs the broker runs after a failed probe."""
    broker = SmallBroker(reachable=False)

    diagnosis = await diagnose(settings_for(tmp_path), broker)

    out = printed(diagnosis)
    assert "FAIL connectivity: small: connection refused by 127.0.0.1:1" in out
    assert broker.checks_run == 1
    assert "reconciliation" not in out


async def test_doctor_fails_when_the_ledger_would_relieve_lots_otherwise_than_the_broker(
    tmp_path: Path,
) -> None:
    """README "FIFO-only lot relief": at a broker that relieves one fixed method,
    `harvest.lot_method` must be that method, or the ledger disagrees with the 1099-B; the
    check reads the broker's capabilities and names the key."""
    broker = SmallBroker()
    broker.capabilities = replace(
        SimBroker.capabilities, lot_relief=LotRelief(specific_lots=False, method=LotMethod.FIFO)
    )
    settings = settings_for(tmp_path).model_copy(
        update={"harvest": HarvestSettings(lot_method=LotMethod.HIFO)}
    )

    diagnosis = await diagnose(settings, broker)

    assert (
        "FAIL lot relief: harvest.lot_method is hifo, but small relieves FIFO only: the ledger "
        "would disagree with the broker's 1099-B; set it to fifo"
    ) in printed(diagnosis)


def test_tlh_doctor_on_the_simulator(tmp_path: Path) -> None:
    """The real command on the default broker (the simulator): the general checks pass, the
    simulator reports no account to reconcile and gives no quotes on request; exit 0."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TLH_")}
    env["TLH_DATABASE__URL"] = f"sqlite+aiosqlite:///{tmp_path / 'doctor.sqlite'}"
    env["COLUMNS"] = "200"

    result = subprocess.run(
        [str(TLH), "doctor"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    for line in (
        "ok   configuration: mode dry_run, broker sim, orders allowed",
        "ok   database: sqlite+aiosqlite:///",
        "ok   connectivity: sim: nothing to reach (no probe)",
        "ok   capabilities: lot relief specific lots named on each sale",
        "ok   reconciliation: not reconciled: sim reports no account",
        "ok   halts: none",
        "Nothing to harvest now (prices: none: sim gives no quotes on request)",
    ):
        assert line in result.stdout, result.stdout


def _with_plan(tmp_path: Path, schedule: str) -> Settings:
    """Return `settings_for` plus the spouse IRA's recurring VTI purchase on `schedule`."""
    plan = f'[{{"account": "spouse-ira", "symbol": "VTI", "schedule": "{schedule}"}}]'
    return load_settings(
        None,
        {
            "TLH_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'doctor.sqlite'}",
            "TLH_SUBSTITUTES": '[{"symbols": ["VTI", "SCHB"]}]',
            "TLH_ACCOUNTS": f'{{"{ACCOUNT}": "taxable"}}',
            "TLH_RECURRING": plan,
        },
    )


async def test_doctor_lists_each_recurring_purchase_with_its_next_expected_date(
    tmp_path: Path,
) -> None:
    """Issue #11 §3: a declared recurring purchase is a planned buy; doctor shows when the next
    one is expected (the 15th of the month, this one's or the next's, New York date)."""
    today = datetime.now(UTC).astimezone(NEW_YORK).date()
    month = date(today.year, today.month, 15)
    expected = month if today.day <= 15 else (month + timedelta(days=31)).replace(day=15)

    diagnosis = await diagnose(_with_plan(tmp_path, "0 0 15 * *"), SmallBroker())

    assert (
        f"ok   recurring[0]: VTI in spouse-ira, schedule '0 0 15 * *' (± 3 days): next "
        f"expected {expected}"
    ) in printed(diagnosis)


async def test_doctor_does_not_preview_a_harvest_into_a_recurring_purchase(
    tmp_path: Path,
) -> None:
    """The preview decides with the daemon's guard, recurring purchases included: a daily
    purchase of VTI is always within 30 days, so the VTI harvest is not proposed, and why."""
    broker = SmallBroker()
    await broker.bought("VTI", "40", 200.0)
    now = datetime.now(UTC)
    broker.quotes = {
        "VTI": Quote("VTI", 180.0, 180.04, now),
        "SCHB": Quote("SCHB", 50.0, 50.02, now),
    }

    diagnosis = await diagnose(_with_plan(tmp_path, "@daily"), broker)

    assert diagnosis.harvests == []
    [(account, symbol, reason)] = diagnosis.not_harvested
    assert (account, symbol) == (ACCOUNT, "VTI")
    assert reason.startswith("wash_guard: recurring purchase of VTI in spouse-ira (recurring[0])")


async def _journal_outside_purchase(settings: Settings, account: str) -> None:
    """Journal a purchase of 10 VTI at $200 long ago in `account`, imported from Plaid (the
    account recorded as Plaid's, as `tlh import --plaid` records it)."""
    db = create_engine(settings.database.url)
    try:
        await upgrade_database(db)
        repo = Repository(db)
        await repo.upsert_account(Account(account, AccountType.TAXABLE, "plaid"))
        entry = JournalEntry.trade(
            account=account,
            action=Action.BUY,
            symbol="VTI",
            quantity=Decimal(10),
            price=Decimal(200),
            trade_date=LONG_AGO.date(),
            source="plaid",
            external_id="plaid:spouse-1",
            kind=JournalKind.IMPORT,
        )
        await repo.append_journal([entry])
    finally:
        await db.dispose()


async def test_doctor_does_not_propose_a_harvest_in_an_outside_account(tmp_path: Path) -> None:
    """Issue #11 §3 and daemon/broker_accounts.py: the daemon trades only its broker's
    account; doctor decides with the engine's account rule (issue #13 A.8: one decision
    function serves the engine, previews and doctor). The spouse's VTI, at the same loss as
    the broker's, is listed as watched, not traded; only the broker's account is proposed."""
    settings = settings_for(tmp_path)
    await _journal_outside_purchase(settings, "spouse")
    broker = SmallBroker()
    await broker.bought("VTI", "40", 200.0)
    now = datetime.now(UTC)
    broker.quotes = {
        "VTI": Quote("VTI", 180.0, 180.04, now),
        "SCHB": Quote("SCHB", 50.0, 50.02, now),
    }

    diagnosis = await diagnose(settings, broker)

    assert [(h.account, h.symbol) for h in diagnosis.harvests] == [(ACCOUNT, "VTI")]
    assert diagnosis.not_harvested == [("spouse", "VTI", OUTSIDE_ACCOUNT)]
    assert f"Not harvested: VTI in spouse: {OUTSIDE_ACCOUNT}" in printed(diagnosis)
