"""Home Assistant MQTT discovery: one device "tlh" and its entities, as retained config messages.

Each entity's config goes to ``<discovery_prefix>/<component>/<node_id>/<key>/config``
(https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery); the node id, the device's
identifier and the prefix of every ``unique_id`` come from `[mqtt] client_id`. Monetary sensors
are USD with ``state_class: total``, the only state class Home Assistant allows for
``device_class: monetary``. The pause switch is announced only with `allow_commands`; without
it, an empty retained config removes a switch announced before.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from adapters.mqtt import topics as t
from adapters.mqtt.settings import MqttSettings
from daemon.observation import State

STATES: tuple[State, ...] = ("running", "paused", "halted", "disconnected")
PAUSE_SWITCH = "pause"


@dataclass(frozen=True, slots=True)
class Entity:
    """One Home Assistant entity: its platform, key (object id) and config beyond the common."""

    component: str
    key: str
    config: dict[str, Any] = field(default_factory=dict)


def _monetary(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "device_class": "monetary",
        "unit_of_measurement": "USD",
        "state_class": "total",
        "suggested_display_precision": 2,
    }


SENSORS: tuple[Entity, ...] = (
    Entity(
        "sensor",
        t.STATUS,
        {"name": "Status", "device_class": "enum", "options": list(STATES), "icon": "mdi:robot"},
    ),
    Entity("sensor", t.HARVESTED_LOSS_YTD, _monetary("Harvested losses this year")),
    Entity("sensor", t.TAX_SAVED_YTD, _monetary("Estimated tax saved this year")),
    Entity("sensor", t.UNREALIZED_LOSS, _monetary("Unrealized loss")),
    Entity(
        "sensor",
        t.HARVESTS_TODAY,
        # Back to 0 each trading day: a new cycle, which is what total_increasing means.
        {"name": "Harvests today", "state_class": "total_increasing", "icon": "mdi:sprout"},
    ),
    Entity(
        "sensor",
        t.OPEN_LOTS,
        {"name": "Open lots", "state_class": "measurement", "icon": "mdi:layers"},
    ),
    Entity(
        "sensor",
        t.HALTED_SYMBOLS,
        {
            "name": "Halted symbols",
            "state_class": "measurement",
            "icon": "mdi:hand-back-left",
            "value_template": "{{ value_json | count }}",
            "json_attributes_template": "{{ {'symbols': value_json} | tojson }}",
        },
    ),
    Entity(
        "sensor",
        t.LAST_HARVEST,
        {
            "name": "Last harvest",
            "icon": "mdi:history",
            "value_template": "{{ value_json.symbol if value_json else 'None' }}",
            "json_attributes_template": "{{ (value_json or {}) | tojson }}",
        },
    ),
    Entity(
        "binary_sensor",
        t.BROKER_CONNECTED,
        {
            "name": "Broker connection",
            "device_class": "connectivity",
            "payload_on": t.ON,
            "payload_off": t.OFF,
        },
    ),
)


def node_id(settings: MqttSettings) -> str:
    """Return `client_id` with what a discovery topic's node id cannot hold replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", settings.client_id)


def _tlh_version() -> str:
    try:
        return version("tlh")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


class Discovery:
    """The discovery config messages of one `[mqtt]` configuration."""

    def __init__(self, settings: MqttSettings, topics: t.Topics) -> None:
        self._settings = settings
        self._topics = topics
        self._node = node_id(settings)
        release = _tlh_version()
        self._common: dict[str, Any] = {
            "availability_topic": topics.availability,
            "payload_available": t.ONLINE.decode(),
            "payload_not_available": t.OFFLINE.decode(),
            "qos": 1,
            "device": {
                "identifiers": [self._node],
                "name": "tlh",
                "manufacturer": "tlh",
                "model": "Tax-loss-harvesting daemon",
                "sw_version": release,
            },
            "origin": {"name": "tlh", "sw_version": release},
        }

    def topic(self, component: str, key: str) -> str:
        """Return the config topic of the entity `key` of `component`."""
        return f"{self._settings.discovery_prefix}/{component}/{self._node}/{key}/config"

    def _config(self, entity: Entity) -> bytes:
        config = {
            **entity.config,
            "unique_id": f"{self._node}_{entity.key}",
            "state_topic": self._topics.state(entity.key),
            **self._common,
        }
        return json.dumps(config).encode()

    def _switch(self) -> bytes:
        config = {
            "name": "Pause new orders",
            "icon": "mdi:pause-octagon",
            "unique_id": f"{self._node}_{PAUSE_SWITCH}",
            "state_topic": self._topics.state(t.PAUSED),
            "command_topic": self._topics.pause_command,
            "payload_on": t.ON,
            "payload_off": t.OFF,
            "state_on": t.ON,
            "state_off": t.OFF,
            "retain": False,
            **self._common,
        }
        return json.dumps(config).encode()

    def messages(self) -> dict[str, bytes]:
        """Return every config topic with its retained payload (empty: remove the entity)."""
        configs = {self.topic(e.component, e.key): self._config(e) for e in SENSORS}
        switch = self._switch() if self._settings.allow_commands else b""
        return configs | {self.topic("switch", PAUSE_SWITCH): switch}
