"""`[ib]`: the Interactive Brokers adapter's settings (TWS or IB Gateway, and Flex queries).

Ports: IB Gateway 4002 paper, 4001 live; TWS 7497 paper, 7496 live. `account` is the IB
account code (e.g. ``DU1234567``); it also names the account in the ledger (declare its type
under ``[accounts]``). `readonly = true` connects read-only even where orders are allowed.
`market_data_type`: ``live`` needs a market-data subscription; ``delayed`` (15-20 minutes) works
without one but is refused for trading in mode live. `lot_method` declares the account's default
lot-matching method set in IB's Tax Optimizer, which tlh models exactly; ``specific`` means the
user picks lots in the Tax Optimizer per sale (until 8:30 PM ET on the trade day), as tlh prints.
`flex_token` (a secret) and `flex_query_id` fetch older trades through the Flex Web Service;
`flex_url` overrides its address (a local fake in tests).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, field_validator

from adapters.settings_types import Host, Port, Seconds, Secret, Section, Text, check_url

DEFAULT_FLEX_URL = "https://ndcdyn.interactivebrokers.com/AccountManagement/FlexWebService"


class IBLotMethod(StrEnum):
    """The lot-matching methods of IB's Tax Optimizer that tlh models."""

    FIFO = "fifo"
    LIFO = "lifo"
    HIFO = "hifo"  # IB: "Highest Cost"
    MAX_LT_GAIN = "max_lt_gain"
    MAX_LT_LOSS = "max_lt_loss"
    MAX_ST_GAIN = "max_st_gain"
    MAX_ST_LOSS = "max_st_loss"
    SPECIFIC = "specific"


class IBSettings(Section):
    """Interactive Brokers TWS / IB Gateway connection, lot method and Flex queries."""

    host: Host = "127.0.0.1"
    port: Port = 4002
    client_id: Annotated[int, Field(ge=0, le=2**31 - 1)] = 17
    account: Text | None = None
    readonly: bool = False
    market_data_type: Literal["live", "frozen", "delayed", "delayed_frozen"] = "live"
    lot_method: IBLotMethod = IBLotMethod.FIFO
    timeout_seconds: Seconds = 10.0
    reconnect_max_seconds: Seconds = 60.0
    flex_token: Secret | None = None
    flex_query_id: Text | None = None
    flex_url: str | None = None

    @field_validator("flex_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        return check_url(value, ("https://", "http://"))

    def flex_service_url(self) -> str:
        """Return the Flex Web Service base URL in use."""
        return self.flex_url or DEFAULT_FLEX_URL
