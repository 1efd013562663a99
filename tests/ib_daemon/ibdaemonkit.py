"""The real daemon on the real IB adapter, talking through the real ib_async to the fake TWS.

Nothing of ours is mocked: `make_settings` points `broker = "ib"` at a `FakeTWS` on 127.0.0.1
(tests/fake_tws), `start_daemon` builds the adapter through the daemon's one broker factory
(`daemon.brokers.build_broker`) and the daemon with `daemon.app.build_daemon` on a real SQLite
file, then runs `engine.start()` and `engine.run()` as `tlh run` does; `start_tlh_run` runs the
real command in its own process. Only the adapter's timings are shortened through `[ib]`
(request timeout, reconnect backoff) so that faults show within a test's time.

IB's `reqExecutions` covers the current day only, so the starting lots reach the journal as
imports (`seed_journal`, as a Flex Query import would), and the fake account holds the same
positions.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fake_tws import DEFAULT_ACCOUNT, FakeTWS, FillPolicy
from running_daemon import RunningDaemon

from adapters.base import OrderRequest, OrderSnapshot
from adapters.ib.broker import IBBroker
from adapters.storage.engine import create_engine
from adapters.storage.migrate import upgrade_database
from adapters.storage.records import JournalEntry, JournalKind, JournalRecord
from adapters.storage.repository import Repository
from daemon.app import build_daemon
from daemon.brokers import build_broker
from daemon.settings import Settings
from ledger.model import Action

ACCOUNT = DEFAULT_ACCOUNT
SYMBOLS = ("VTI", "SCHB", "ITOT")
LONG_AGO = datetime(2023, 1, 3, 15, 0, tzinfo=UTC)
"""When the starting lots were bought: long-term, far outside any wash-sale window."""
TLH = Path(sys.executable).with_name("tlh")
NEW_YORK = ZoneInfo("America/New_York")
ORDER_REF = 26
"""The field of a ``placeOrder`` message carrying ``orderRef`` (ib_async `Client.placeOrder`)."""


def ib_section(tws: FakeTWS, **fields: Any) -> dict[str, Any]:
    """Return an `[ib]` section pointing at `tws`, with short timings."""
    return {
        "host": tws.host,
        "port": tws.port,
        "client_id": 17,
        "account": ACCOUNT,
        "timeout_seconds": 3.0,
        "reconnect_max_seconds": 0.5,
        **fields,
    }


def make_settings(tws: FakeTWS, *, ib: dict[str, Any] | None = None, **overrides: Any) -> Settings:
    """Return paper-mode settings with `broker = "ib"` pointed at `tws`: VTI -> SCHB -> ITOT."""
    base: dict[str, Any] = {
        "mode": "paper",
        "broker": "ib",
        "ib": ib_section(tws, **(ib or {})),
        "substitutes": [{"symbols": list(SYMBOLS)}],
        "accounts": {ACCOUNT: "taxable"},
        # Each test quote is meant as it is: no confirming quotes (tests/quote_filter has those).
        "prices": {"confirm_quotes": 0},
    }
    return Settings(**{**base, **overrides})


def import_entry(symbol: str, quantity: str, price: str) -> JournalEntry:
    """Return the journal entry of a lot bought long ago, as an import would write it."""
    return JournalEntry.trade(
        account=ACCOUNT,
        action=Action.BUY,
        symbol=symbol,
        quantity=Decimal(quantity),
        price=Decimal(price),
        trade_date=LONG_AGO.date(),
        occurred_at=LONG_AGO,
        source="test:import",
        external_id=f"test:{symbol}",
        kind=JournalKind.IMPORT,
    )


async def seed_journal(
    url: str, tws: FakeTWS, holdings: dict[str, str], *, held: dict[str, str] | None = None
) -> None:
    """Journal `holdings` ({symbol: quantity}, bought at $200 long ago) and give the fake account
    the same positions, or `held` ({symbol: quantity}) where the account holds otherwise."""
    db = create_engine(url)
    try:
        await upgrade_database(db)
        await Repository(db).append_journal(
            [import_entry(s, q, "200") for s, q in holdings.items()]
        )
    finally:
        await db.dispose()
    for symbol, quantity in {**holdings, **(held or {})}.items():
        tws.set_position(symbol, quantity, "200")


def placed(tws: FakeTWS) -> Counter[str]:
    """Return how many ``placeOrder`` messages the fake received for each ``orderRef``."""
    return Counter(r.fields[ORDER_REF] for r in tws.requests_named("placeOrder"))


async def until(predicate: Callable[[], bool], *, within: float = 10.0, what: str = "") -> None:
    """Wait until `predicate()` holds, checked every 10 ms (the daemon's state announces no
    event a test could await); fail naming `what` after `within` seconds."""
    try:
        async with asyncio.timeout(within):
            while not predicate():  # noqa: ASYNC110 - nothing to wait on but the state itself
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out after {within}s waiting for {what or predicate}") from None


async def crossing_quotes(tws: FakeTWS) -> None:
    """Quote the substitute once it is streamed, then let VTI fall through its lot's threshold
    (bought at $200, the harvest triggers near $190)."""
    await tws.wait_for_subscription("SCHB")
    await tws.publish_quote("SCHB", 50.0, 50.04)
    await tws.publish_quote("VTI", 180.0, 180.04)


class Running(RunningDaemon[IBBroker]):
    """A started daemon over the IB adapter, with its `engine.run` task."""

    def position(self, symbol: str) -> Decimal:
        """Return the ledger's position in `symbol` in the IB account."""
        return self.engine.ledger.position(ACCOUNT, symbol)

    async def trades(self, symbol: str) -> list[JournalRecord]:
        """Return the journaled trades (fills and imports) of `symbol`."""
        return [r for r in await self.journal() if r.symbol == symbol and r.action is not None]


async def start_daemon(
    tws: FakeTWS,
    url: str,
    settings: Settings | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Running:
    """Build and start the daemon on `url` over the adapter the factory builds for `tws`, as
    `tlh run` does; `now` is the daemon's clock."""
    settings = settings or make_settings(tws)
    broker = build_broker(settings)
    assert isinstance(broker, IBBroker)
    daemon = await build_daemon(settings, broker, now, database_url=url)
    running = Running(daemon=daemon, broker=broker, url=url)
    await daemon.engine.start()
    running.task = asyncio.create_task(daemon.engine.run(running.stop), name="tlh-engine")
    return running


class Daemons:
    """Start daemons over the fake on one database; kill every one of them after the test."""

    def __init__(self, tws: FakeTWS, url: str) -> None:
        self.tws = tws
        self.url = url
        self.started: list[Running] = []

    async def start(
        self, settings: Settings | None = None, *, tws: FakeTWS | None = None, days: int = 0
    ) -> Running:
        """Start a daemon (see `start_daemon`) once the fake has seen the previous one's
        connection go (TWS refuses a client id still in use with error 326); against `tws`
        instead of the factory's fake, with its clock `days` ahead of the wall clock."""
        tws = tws or self.tws
        settings = settings or make_settings(tws)
        client_id = settings.ib.client_id
        await tws.wait_until(lambda: client_id not in tws.connected_clients())
        ahead = timedelta(days=days)
        running = await start_daemon(tws, self.url, settings, lambda: datetime.now(UTC) + ahead)
        self.started.append(running)
        return running


async def sale_resting_at_ib(
    daemons: Daemons, tws: FakeTWS, settings: Settings | None = None
) -> tuple[Running, str]:
    """Hold 40 VTI (in the journal and at IB), have IB hold VTI's orders unfilled, start a
    daemon and let VTI cross its trigger; return the daemon and its sale's ``orderRef`` once
    the sale rests at IB."""
    await seed_journal(daemons.url, tws, {"VTI": "40"})
    tws.set_fill_policy(FillPolicy(mode="hold"), symbol="VTI")
    running = await daemons.start(settings)
    await crossing_quotes(tws)
    await tws.wait_until(lambda: len(tws.orders) == 1)
    return running, tws.orders[0].order_ref


class CrashBeforePlacing:
    """Stop a daemon's broker from placing the orders `which` selects: the order manager has
    persisted the intent and calls `submit`, which then never returns (until the daemon is
    killed there, as a crash between the intent's commit and ``placeOrder`` would leave it)."""

    def __init__(self, broker: IBBroker, which: Callable[[OrderRequest], bool]) -> None:
        self.reached = asyncio.Event()
        self.requests: list[OrderRequest] = []
        submit = broker.submit

        async def held(order: OrderRequest) -> OrderSnapshot:
            if not which(order):
                return await submit(order)
            self.requests.append(order)
            self.reached.set()
            await asyncio.Event().wait()  # the process dies here
            raise AssertionError("unreachable")

        broker.submit = held  # type: ignore[method-assign]


def tlh_env(tws: FakeTWS, tmp_path: Path, **variables: str) -> dict[str, str]:
    """Return the environment of a `tlh` command in paper mode on broker ib against `tws`, with
    a SQLite journal in `tmp_path`: the machine's variables less any TLH_ one, then
    `variables` on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TLH_")}
    return env | {
        "TLH_BROKER": "ib",
        "TLH_MODE": "paper",
        "TLH_IB__HOST": tws.host,
        "TLH_IB__PORT": str(tws.port),
        "TLH_IB__ACCOUNT": ACCOUNT,
        "TLH_IB__CLIENT_ID": "17",
        "TLH_IB__TIMEOUT_SECONDS": "3",
        "TLH_IB__RECONNECT_MAX_SECONDS": "0.5",
        "TLH_ACCOUNTS": json.dumps({ACCOUNT: "taxable"}),
        "TLH_SUBSTITUTES": json.dumps([{"symbols": list(SYMBOLS)}]),
        "TLH_PRICES__CONFIRM_QUOTES": "0",
        "TLH_LOGGING__FORMAT": "json",
        "TLH_DATABASE__URL": sqlite_url(tmp_path),
        **variables,
    }


def sqlite_url(tmp_path: Path) -> str:
    """Return the URL of the `tlh` commands' SQLite journal in `tmp_path`."""
    return f"sqlite+aiosqlite:///{tmp_path / 'run.sqlite'}"


class TlhRun:
    """The real `tlh run` in its own process, its JSON log read line by line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.events: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, env: dict[str, str], cwd: Path) -> TlhRun:
        """Start `tlh run` with `env` in `cwd`; stderr joins stdout."""
        proc = await asyncio.create_subprocess_exec(
            str(TLH),
            "run",
            cwd=cwd,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        return cls(proc)

    @property
    def output(self) -> str:
        """Return every line read so far."""
        return "".join(self.lines)

    def logged(self, event: str) -> list[dict[str, Any]]:
        """Return the log events named `event` read so far."""
        return [e for e in self.events if e.get("event") == event]

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], *, within: float = 30.0
    ) -> dict[str, Any]:
        """Read the log until an event matches `predicate` (or was read already); return it."""
        for seen in self.events:
            if predicate(seen):
                return seen
        assert self.proc.stdout is not None
        try:
            async with asyncio.timeout(within):
                while True:
                    line = (await self.proc.stdout.readline()).decode()
                    assert line, "tlh run ended early:\n" + self.output
                    self.lines.append(line)
                    if not line.startswith("{"):
                        continue
                    event = json.loads(line)
                    self.events.append(event)
                    if predicate(event):
                        return event
        except TimeoutError:
            raise AssertionError("tlh run did not log it in time:\n" + self.output) from None

    async def wait_for_event(self, name: str, *, within: float = 30.0) -> dict[str, Any]:
        """Read the log until the event `name`; return it."""
        return await self.wait_for(lambda e: e.get("event") == name, within=within)

    async def terminate(self) -> int:
        """Stop it with SIGTERM, read the rest of its log; return its exit status."""
        self.proc.terminate()
        rest, _ = await asyncio.wait_for(self.proc.communicate(), 20)
        self.lines.append(rest.decode())
        return self.proc.returncode if self.proc.returncode is not None else -1

    async def kill(self) -> None:
        """Kill it (SIGKILL), as a crash would end it."""
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


async def tlh(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, str]:
    """Run one `tlh` command in its own process; return its exit status and output."""
    proc = await asyncio.create_subprocess_exec(
        str(TLH),
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return (proc.returncode if proc.returncode is not None else -1), out.decode()


def flex_statement(tws: FakeTWS, folder: Path) -> Path:
    """Write the Activity Flex statement of the fake's executions (IB's Flex Query reference,
    Trades: https://www.ibkrguides.com/reportingreference/reportguide/tradesfq.htm)."""
    trades = []
    for n, ex in enumerate(tws.executions, start=1):
        at = ex.time.astimezone(NEW_YORK)
        sign = -1 if ex.side == "SLD" else 1
        trades.append(
            f'<Trade accountId="{ex.account}" currency="USD" assetCategory="STK" '
            f'symbol="{ex.instrument.symbol}" conid="{ex.instrument.con_id}" tradeID="{n}" '
            f'transactionID="{n}" ibExecID="{ex.exec_id}" orderReference="{ex.order_ref}" '
            f'tradeDate="{at:%Y%m%d}" dateTime="{at:%Y%m%d;%H%M%S}" quantity="{sign * ex.shares}" '
            f'tradePrice="{ex.price}" multiplier="1" ibCommission="{-ex.commission}" '
            f'ibCommissionCurrency="USD" taxes="0" buySell="{"SELL" if sign < 0 else "BUY"}" '
            f'openCloseIndicator="{"C" if sign < 0 else "O"}" transactionType="ExchTrade" '
            f'levelOfDetail="EXECUTION" notes="" />'
        )
    path = folder / "flex.xml"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<FlexQueryResponse queryName="tlh" type="AF"><FlexStatements count="1">\n'
        f'<FlexStatement accountId="{ACCOUNT}" fromDate="20230101" toDate="20301231" '
        'period="Custom" whenGenerated="20260105;083000">\n'
        "<Trades>\n" + "\n".join(trades) + "\n</Trades>\n"
        "</FlexStatement></FlexStatements></FlexQueryResponse>\n"
    )
    return path
