"""`[mqtt]`: the MQTT broker that receives state, harvest events and Home Assistant discovery.

`url` is ``mqtt://HOST[:PORT]`` (1883) or ``mqtts://HOST[:PORT]`` (TLS, 8883); credentials go in
`username` and `password`, never in the URL (a URL is logged). `allow_commands` adds the Home
Assistant switch that pauses new orders: anyone who can publish to the broker can then pause
(and resume) new orders, never start trading beyond what this file allows.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import SecretStr, ValidationInfo, field_validator

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
        parts = urlsplit(checked)
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not hold credentials: set [mqtt] username and password")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("must be mqtt://HOST[:PORT] or mqtts://HOST[:PORT], nothing after")
        return checked

    @field_validator("topic_prefix", "discovery_prefix")
    @classmethod
    def _topic(cls, value: str) -> str:
        if "+" in value or "#" in value:
            raise ValueError("must not hold the MQTT wildcards + or #")
        if any(not level for level in value.split("/")):
            raise ValueError("must not start or end with / nor hold an empty level (//)")
        return value

    @field_validator("password")
    @classmethod
    def _password_needs_username(
        cls, value: SecretStr | None, info: ValidationInfo
    ) -> SecretStr | None:
        # `enabled` and `username` are declared first, so they are in `info.data` by now. A
        # password alone is refused only when it would be used: the secrets directory may
        # hold it for every command, whatever its configuration.
        if value is not None and info.data.get("enabled") and info.data.get("username") is None:
            raise ValueError("needs [mqtt] username too (MQTT sends no password without one)")
        return value
