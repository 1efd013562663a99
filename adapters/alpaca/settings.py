"""`[alpaca]`: the Alpaca adapter's settings (credentials, paper or live, endpoints, feed).

Composed into the daemon's `Settings` as ``alpaca``; the checks that involve other sections
(``mode`` against ``paper``, credentials required when ``broker = "alpaca"``) stay there.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator

from adapters.settings_types import Secret, Section, check_url


class AlpacaSettings(Section):
    """Alpaca credentials and endpoints; the URLs default from `paper` and `feed`.

    Override the URLs only to point at a local fake (tests) or a proxy.
    """

    api_key: Secret | None = None
    secret_key: Secret | None = None
    paper: bool = True
    base_url: str | None = None
    data_url: str | None = None
    data_ws_url: str | None = None
    trading_ws_url: str | None = None
    feed: Literal["iex", "sip"] = "iex"
    # New symbol of a spin-off -> the part of the parent's basis it takes (issuer's Form 8937).
    spin_off_basis: dict[str, Decimal] = Field(default_factory=dict)

    @field_validator("spin_off_basis")
    @classmethod
    def _fractions(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for symbol, fraction in value.items():
            if not Decimal(0) <= fraction <= 1:
                raise ValueError(f"spin_off_basis.{symbol} must be from 0 to 1 (got {fraction})")
        return value

    @field_validator("base_url", "data_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        return check_url(value, ("https://", "http://"))

    @field_validator("data_ws_url", "trading_ws_url")
    @classmethod
    def _ws(cls, value: str | None) -> str | None:
        return check_url(value, ("wss://", "ws://"))

    def trading_url(self) -> str:
        """Return the trading REST base URL in use."""
        if self.base_url:
            return self.base_url
        return "https://paper-api.alpaca.markets" if self.paper else "https://api.alpaca.markets"

    def trading_stream_url(self) -> str:
        """Return the trade-updates WebSocket URL in use."""
        if self.trading_ws_url:
            return self.trading_ws_url
        host = "paper-api.alpaca.markets" if self.paper else "api.alpaca.markets"
        return f"wss://{host}/stream"

    def data_rest_url(self) -> str:
        """Return the market-data REST base URL in use (corporate actions, latest quotes).

        An overridden `base_url` (a local fake or a proxy) serves market data too unless
        `data_url` says otherwise: requests never leave for Alpaca's host unasked.
        """
        return self.data_url or self.base_url or "https://data.alpaca.markets"

    def data_stream_url(self) -> str:
        """Return the stock market-data WebSocket URL in use."""
        return self.data_ws_url or f"wss://stream.data.alpaca.markets/v2/{self.feed}"
