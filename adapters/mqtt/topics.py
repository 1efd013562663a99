"""The MQTT topics tlh publishes under `[mqtt] topic_prefix`, and their payloads (a contract,
documented in README.md, "MQTT and Home Assistant").

Retained state, one value per topic under ``<prefix>/state/``; a JSON event per new harvest on
``<prefix>/event/harvest`` (not retained); ``online``/``offline`` on ``<prefix>/availability``;
``ON``/``OFF`` commands on ``<prefix>/command/pause`` (only with `allow_commands`). Amounts are
US dollars to the cent, losses positive.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal

from daemon.observation import HarvestRecord, StatusSnapshot
from ledger.money import cents

ONLINE = b"online"
OFFLINE = b"offline"
ON = "ON"
OFF = "OFF"

# The names under <prefix>/state/.
STATUS = "status"
HARVESTED_LOSS_YTD = "harvested_loss_ytd"
TAX_SAVED_YTD = "estimated_tax_saved_ytd"
HARVESTS_TODAY = "harvests_today"
OPEN_LOTS = "open_lots"
UNREALIZED_LOSS = "unrealized_loss"
HALTED_SYMBOLS = "halted_symbols"
BROKER_CONNECTED = "broker_connected"
PAUSED = "paused"
LAST_HARVEST = "last_harvest"


@dataclass(frozen=True, slots=True)
class Topics:
    """The topic names under one prefix."""

    prefix: str

    @property
    def availability(self) -> str:
        """``online`` while connected; the retained last will ``offline`` otherwise."""
        return f"{self.prefix}/availability"

    @property
    def harvest_event(self) -> str:
        """One JSON message per new harvest, not retained."""
        return f"{self.prefix}/event/harvest"

    @property
    def pause_command(self) -> str:
        """``ON`` pauses new orders, ``OFF`` resumes them (only with `allow_commands`)."""
        return f"{self.prefix}/command/pause"

    def state(self, name: str) -> str:
        """Return the retained state topic `name`."""
        return f"{self.prefix}/state/{name}"


def usd(amount: Decimal) -> str:
    """Render dollars to the cent, in plain notation (``1234.50``, never ``1.2345E+3``)."""
    return format(cents(amount), "f")


def on_off(value: bool | None) -> str:
    """Render a flag as Home Assistant's ``ON``/``OFF``, or ``None`` (unknown) for None."""
    return "None" if value is None else ON if value else OFF


def harvest_json(harvest: HarvestRecord) -> bytes:
    """Render a harvest as the JSON of `last_harvest` and of each harvest event."""
    return json.dumps(
        {
            "symbol": harvest.symbol,
            "quantity": float(harvest.quantity),
            "loss": float(cents(harvest.loss)),
            "estimated_tax_saved": float(cents(harvest.estimated_tax_saved)),
            "replacement": harvest.replacement,
            "day": harvest.day.isoformat(),
            "intent_id": harvest.intent_id,
        }
    ).encode()


def state_payloads(snapshot: StatusSnapshot, topics: Topics) -> dict[str, bytes]:
    """Return every retained state topic with its payload for `snapshot`."""
    last = snapshot.last_harvest
    values: dict[str, str | bytes] = {
        STATUS: snapshot.state,
        HARVESTED_LOSS_YTD: usd(snapshot.harvested_loss_ytd),
        TAX_SAVED_YTD: usd(snapshot.estimated_tax_saved_ytd),
        HARVESTS_TODAY: str(snapshot.harvests_today),
        OPEN_LOTS: str(len(snapshot.open_lots)),
        UNREALIZED_LOSS: usd(snapshot.unrealized_loss),
        HALTED_SYMBOLS: json.dumps(sorted(snapshot.halted_symbols)),
        BROKER_CONNECTED: on_off(snapshot.connected),
        PAUSED: on_off(snapshot.pause.paused),
        LAST_HARVEST: b"null" if last is None else harvest_json(last),
    }
    return {
        topics.state(name): value if isinstance(value, bytes) else value.encode()
        for name, value in values.items()
    }
