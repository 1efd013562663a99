"""The Alpaca adapter's configuration, from its `[alpaca]` settings and the daemon's options.

Paper endpoints are used unless ``alpaca.paper = false`` (``TLH_ALPACA__PAPER=false``) *and*
the daemon allows the live account (``live_trading_enabled = true``, `BrokerOptions.live`);
orders may leave only when the daemon allows them (mode ``paper``, or mode ``live`` with live
trading enabled), and never from the paper endpoints in mode ``live``. Credentials come from
the settings (environment or secret files) and are excluded from `repr`, so they cannot reach
a log line through this object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from adapters.alpaca.settings import AlpacaSettings
from adapters.base import BrokerOptions

CRYPTO_PATH = "/v1beta3/crypto/us"
DEFAULT_CRYPTO_WS_URL = "wss://stream.data.alpaca.markets" + CRYPTO_PATH
DEFAULT_ACCOUNT = "alpaca"


class AlpacaConfigError(ValueError):
    """The settings cannot configure the Alpaca adapter (e.g. credentials are missing)."""


@dataclass(frozen=True, slots=True)
class AlpacaConfig:
    """Credentials, endpoints and health thresholds of one Alpaca account.

    `account` names the account in the ledger (declare its type under ``[accounts]``).
    `data_url`: the market-data REST base URL (corporate actions, latest quotes).
    `data_timeout`: seconds without market data, while the market is open, before the data
    stream is restarted and its data marked stale. `stale_after`: the age beyond which a quote
    is not traded on. `auth_timeout`: seconds a stream may take to be authorized.
    """

    api_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    paper: bool
    rest_url: str
    trading_ws_url: str
    stock_ws_url: str
    crypto_ws_url: str
    data_url: str = "https://data.alpaca.markets"
    feed: str = "iex"
    account: str = DEFAULT_ACCOUNT
    orders_allowed: bool = False
    auth_timeout: float = 10.0
    data_timeout: float = 60.0
    stale_after: float = 60.0
    rest_timeout: float = 10.0
    backoff: tuple[float, float] = (1.0, 30.0)
    clock_refresh: float = 60.0
    submit_attempts: int = 3
    spin_off_basis: Mapping[str, Decimal] = field(default_factory=dict)

    @classmethod
    def from_settings(
        cls, alpaca: AlpacaSettings, options: BrokerOptions, **overrides: Any
    ) -> AlpacaConfig:
        """Build the configuration from `[alpaca]` and the daemon's `options`; `overrides`
        replace any field."""
        a = alpaca
        if a.api_key is None or a.secret_key is None:
            raise AlpacaConfigError(
                "Alpaca credentials are missing: set TLH_ALPACA__API_KEY and "
                "TLH_ALPACA__SECRET_KEY (environment or secret files)"
            )
        paper = a.paper or not options.live
        endpoints = a.model_copy(update={"paper": paper})
        config = cls(
            api_key=a.api_key.get_secret_value(),
            secret_key=a.secret_key.get_secret_value(),
            paper=paper,
            rest_url=endpoints.trading_url(),
            trading_ws_url=endpoints.trading_stream_url(),
            stock_ws_url=endpoints.data_stream_url(),
            crypto_ws_url=crypto_url(a.data_ws_url),
            data_url=a.data_rest_url(),
            feed=a.feed,
            spin_off_basis=dict(a.spin_off_basis),
            orders_allowed=options.orders_allowed and not (options.live and paper),
            data_timeout=options.stale_after_seconds,
            stale_after=options.stale_after_seconds,
        )
        return replace(config, **overrides)


def crypto_url(stock_ws_url: str | None) -> str:
    """Return the crypto stream URL: on the host of an overridden data URL, else Alpaca's."""
    if not stock_ws_url:
        return DEFAULT_CRYPTO_WS_URL
    parts = urlsplit(stock_ws_url)
    return urlunsplit((parts.scheme, parts.netloc, CRYPTO_PATH, "", ""))
