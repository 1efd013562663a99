"""The real daemon on the real Alpaca adapter, talking through alpaca-py to the fake Alpaca.

Nothing of ours is mocked: `start_daemon` builds the daemon with `daemon.app.build_daemon` on a
real database file, over `AlpacaBroker.from_settings`, whose SDK clients and streams point at
a `FakeAlpaca` on 127.0.0.1, and runs `engine.start()` then `engine.run()` as the daemon does.
Only the adapter's health thresholds are shortened so faults show within a test's time.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
import warnings
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from fake_alpaca import FakeAlpaca
from running_daemon import RunningDaemon

from adapters.alpaca.broker import AlpacaBroker
from daemon.app import build_daemon
from daemon.brokers import broker_options
from daemon.events import Event
from daemon.settings import Settings

E = TypeVar("E")
ACCOUNT = "alpaca"
LONG_AGO = datetime(2023, 1, 3, 15, 0, tzinfo=UTC)
"""When the starting lots were bought: long-term, far outside any wash-sale window."""
FAST: dict[str, Any] = {
    "auth_timeout": 1.5,
    "backoff": (0.1, 0.5),
    "clock_refresh": 3600.0,
    "rest_timeout": 5.0,
}


def make_settings(fake: FakeAlpaca, **overrides: Any) -> Settings:
    """Return paper-mode settings pointed at `fake`: VTI -> SCHB -> ITOT substitutes."""
    base: dict[str, Any] = {
        "mode": "paper",
        "broker": "alpaca",
        "alpaca": {
            "api_key": fake.KEY,
            "secret_key": fake.SECRET,
            "paper": True,
            "base_url": fake.rest_url,
            "trading_ws_url": fake.trading_ws_url,
            "data_ws_url": fake.data_ws_url("iex"),
        },
        "substitutes": [{"symbols": ["VTI", "SCHB", "ITOT"]}],
        "accounts": {ACCOUNT: "taxable"},
        # Each test quote is meant as it is: no confirming quotes (tests/quote_filter has those).
        "prices": {"confirm_quotes": 0},
    }
    return Settings(**{**base, **overrides})


def hold(
    fake: FakeAlpaca,
    symbol: str,
    qty: str,
    price: str,
    *,
    when: datetime = LONG_AGO,
    position: str | None = None,
) -> dict[str, Any]:
    """Give the fake account a position and the FILL activity that bought it.

    `position` overrides the position's quantity (a holding the history does not explain).
    """
    fake.set_position(symbol, position or qty, price)
    return fill_activity(fake, "buy", symbol, qty, price, when)


def fill_activity(
    fake: FakeAlpaca, side: str, symbol: str, qty: str, price: str, when: datetime
) -> dict[str, Any]:
    """Add the FILL activity of a whole `side` order filled at `when` (the position is the
    caller's)."""
    return fake.add_activity(
        "FILL",
        when=when,
        transaction_time=when.isoformat().replace("+00:00", "Z"),
        type="fill",
        price=price,
        qty=qty,
        side=side,
        symbol=symbol,
        leaves_qty="0",
        order_id=str(uuid.uuid4()),
        cum_qty=qty,
        order_status="filled",
    )


class Running(RunningDaemon[AlpacaBroker]):
    """A started daemon over the Alpaca adapter, with its `engine.run` task."""


async def start_daemon(
    fake: FakeAlpaca,
    url: str,
    settings: Settings | None = None,
    **broker_overrides: Any,
) -> Running:
    """Build and start the daemon on `url` over the adapter pointed at `fake`, as `tlh run`
    does (with the production quote filter)."""
    settings = settings or make_settings(fake)
    broker = AlpacaBroker.from_settings(
        settings.alpaca, broker_options(settings), **{**FAST, **broker_overrides}
    )
    daemon = await build_daemon(
        settings,
        broker,
        lambda: datetime.now(UTC),
        database_url=url,
    )
    running = Running(daemon=daemon, broker=broker, url=url)
    await daemon.engine.start()
    running.task = asyncio.create_task(daemon.engine.run(running.stop), name="tlh-engine")
    return running


def position(fake: FakeAlpaca, symbol: str) -> Decimal:
    """Return the fake's position in `symbol` (0 when none)."""
    held = fake.positions.get(symbol)
    return held.qty if held is not None else Decimal(0)


class Daemons:
    """Start daemons over the fake on one database; stop every one of them after the test."""

    def __init__(self, fake: FakeAlpaca, url: str) -> None:
        self.fake = fake
        self.url = url
        self.started: list[Running] = []

    async def start(self, url: str | None = None, **options: Any) -> Running:
        """Start a daemon (see `alpacakit.start_daemon` for the options)."""
        running = await start_daemon(self.fake, url or self.url, **options)
        self.started.append(running)
        return running


def make_broker(
    fake: FakeAlpaca, settings: Settings | None = None, **overrides: Any
) -> AlpacaBroker:
    """Return the adapter, from settings pointed at `fake`, with short health thresholds."""
    settings = settings or make_settings(fake)
    return AlpacaBroker.from_settings(
        settings.alpaca, broker_options(settings), **{**FAST, **overrides}
    )


class Sink:
    """Collect what the adapter pushes to the daemon."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        """Receive one event (the adapter's `EventSink`)."""
        self.events.append(event)

    def of(self, kind: type[E]) -> list[E]:
        """Return the events of one type, in arrival order."""
        return [e for e in self.events if isinstance(e, kind)]


class FakeWithLatestQuotes(FakeAlpaca):
    """The fake plus the market-data REST route `tlh doctor` prices positions with.

    ``GET /v2/stocks/quotes/latest?symbols=A,B`` answers from the fake's latest quotes (the
    doctor sends market-data REST to the overridden base URL).
    """

    def _add_routes(self, app: web.Application) -> None:
        super()._add_routes(app)
        app.router.add_get("/v2/stocks/quotes/latest", self._latest_quotes)

    async def _latest_quotes(self, request: web.Request) -> web.Response:
        wanted = request.query.get("symbols", "").split(",")
        quotes = {
            s: {
                "bp": float(q.bid),
                "ap": float(q.ask),
                "bs": 1,
                "as": 1,
                "t": "2026-11-24T15:00:00Z",
            }
            for s, q in self.state.quotes.items()
            if s in wanted
        }
        return web.json_response({"quotes": quotes})


def load_exchange_calendar(fake: FakeAlpaca) -> None:
    """Give the fake NYSE's holidays and early closes (exchange-calendars warns under pandas 3)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fake.load_exchange_calendar()


TLH = Path(sys.executable).with_name("tlh")


def tlh_env(fake: FakeAlpaca, tmp_path: Path, **variables: str) -> dict[str, str]:
    """Return the environment of a `tlh` command in paper mode against `fake`, with a SQLite journal
    in `tmp_path`: the machine's variables less any TLH_ one, then `variables` on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TLH_")}
    return env | {
        "TLH_BROKER": "alpaca",
        "TLH_MODE": "paper",
        "TLH_ALPACA__API_KEY": fake.KEY,
        "TLH_ALPACA__SECRET_KEY": fake.SECRET,
        "TLH_ALPACA__BASE_URL": fake.rest_url,
        "TLH_ALPACA__TRADING_WS_URL": fake.trading_ws_url,
        "TLH_ALPACA__DATA_WS_URL": fake.data_ws_url("iex"),
        "TLH_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'run.sqlite'}",
        **variables,
    }


async def start_tlh_run(
    env: dict[str, str], cwd: Path, *, stderr: int = asyncio.subprocess.STDOUT
) -> asyncio.subprocess.Process:
    """Start the real `tlh run` in its own process; its log goes to stdout (with `stderr`)."""
    return await asyncio.create_subprocess_exec(
        str(TLH), "run", cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=stderr
    )
