"""`[mqtt]`: the MQTT broker that receives state, harvest events and Home Assistant discovery.

`url` is ``mqtt://HOST[:PORT]`` (1883) or ``mqtts://HOST[:PORT]`` (TLS, 8883). `allow_commands`
adds the Home Assistant switch that pauses new orders: anyone who can publish to the broker can
then pause (and resume) new orders, never start trading beyond what this file allows.
"""

from __future__ import annotations

from pydantic import field_validator

from adapters.settings_types import Secret, Section, Text, check_url

MQTT_SCHEMES = ("mqtt://", "mqtts://")


class MqttSettings(Section):
    """The MQTT broker that receives state and Home Assistant discovery messages."""

    enabled: bool = False
    url: str = "mqtt://127.0.0.1:1883"
    username: Text | None = None
    password: Secret | None = None
    client_id: Text = "tlh"
    topic_prefix: Text = "tlh"
    discovery_prefix: Text = "homeassistant"
    allow_commands: bool = False

    @field_validator("url")
    @classmethod
    def _mqtt_url(cls, value: str) -> str:
        checked = check_url(value, MQTT_SCHEMES)
        assert checked is not None
        return checked
