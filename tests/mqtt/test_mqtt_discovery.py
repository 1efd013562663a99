"""Home Assistant MQTT discovery (issue #10 §3; https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery)."""

from __future__ import annotations

from typing import Any

from mqttkit import FakeView, Names, Start, Watcher

SENSORS = (
    "status",
    "harvested_loss_ytd",
    "estimated_tax_saved_ytd",
    "unrealized_loss",
    "harvests_today",
    "open_lots",
    "halted_symbols",
    "last_harvest",
)


async def _configs(watch: Watcher, names: Names) -> dict[str, dict[str, Any]]:
    """Wait for every sensor's and the binary sensor's config; return them by key."""
    topics = {key: names.config("sensor", key) for key in SENSORS}
    topics["broker_connected"] = names.config("binary_sensor", "broker_connected")
    return {key: await watch.wait_json(topic) for key, topic in topics.items()}


async def test_monetary_sensors_are_usd_totals(
    mqtt_url: str, names: Names, watch: Watcher, start: Start
) -> None:
    """Harvested losses and tax saved this year, and the unrealized loss, are monetary in USD
    with state_class total, the one state class HA allows for monetary (#10 §3)."""
    start(FakeView(), names.settings(mqtt_url))

    configs = await _configs(watch, names)

    for key in ("harvested_loss_ytd", "estimated_tax_saved_ytd", "unrealized_loss"):
        config = configs[key]
        assert (config["device_class"], config["unit_of_measurement"]) == ("monetary", "USD")
        assert config["state_class"] == "total"
        assert config["state_topic"] == names.state(key)


async def test_counts_and_status_have_their_state_classes(
    mqtt_url: str, names: Names, watch: Watcher, start: Start
) -> None:
    """Open lots and halted symbols are measurements, harvests today restarts daily
    (total_increasing), and the status is an enum of the four states (#10 §3)."""
    start(FakeView(), names.settings(mqtt_url))

    configs = await _configs(watch, names)

    assert configs["open_lots"]["state_class"] == "measurement"
    assert configs["halted_symbols"]["state_class"] == "measurement"
    assert configs["harvests_today"]["state_class"] == "total_increasing"
    assert configs["status"]["device_class"] == "enum"
    assert configs["status"]["options"] == ["running", "paused", "halted", "disconnected"]


async def test_broker_connectivity_is_a_connectivity_binary_sensor(
    mqtt_url: str, names: Names, watch: Watcher, start: Start
) -> None:
    """The broker connection is a binary_sensor with device_class connectivity, ON/OFF (#10 §3)."""
    start(FakeView(), names.settings(mqtt_url))

    config = (await _configs(watch, names))["broker_connected"]

    assert config["device_class"] == "connectivity"
    assert (config["payload_on"], config["payload_off"]) == ("ON", "OFF")
    assert config["state_topic"] == names.state("broker_connected")


async def test_every_entity_belongs_to_one_device_with_availability(
    mqtt_url: str, names: Names, watch: Watcher, start: Start
) -> None:
    """One device "tlh" identified by the client id; every entity has a unique_id of its own
    and the availability topic with online/offline (#10 §3)."""
    start(FakeView(), names.settings(mqtt_url))

    configs = await _configs(watch, names)

    assert {c["device"]["name"] for c in configs.values()} == {"tlh"}
    assert {tuple(c["device"]["identifiers"]) for c in configs.values()} == {(names.client_id,)}
    unique_ids = [c["unique_id"] for c in configs.values()]
    assert len(set(unique_ids)) == len(configs)
    assert all(u.startswith(f"{names.client_id}_") for u in unique_ids)
    for config in configs.values():
        assert config["availability_topic"] == f"{names.prefix}/availability"
        assert (config["payload_available"], config["payload_not_available"]) == (
            "online",
            "offline",
        )


async def test_switch_is_announced_with_allow_commands(
    mqtt_url: str, names: Names, watch: Watcher, start: Start
) -> None:
    """With allow_commands, a switch "Pause new orders": state ON = paused, a command topic
    (#10 §3)."""
    start(FakeView(), names.settings(mqtt_url, allow_commands=True))

    config = await watch.wait_json(names.config("switch", "pause"))

    assert config["name"] == "Pause new orders"
    assert config["state_topic"] == names.state("paused")
    assert config["command_topic"] == f"{names.prefix}/command/pause"
    assert (config["payload_on"], config["state_on"]) == ("ON", "ON")
    assert config["unique_id"] == f"{names.client_id}_pause"
    assert config["availability_topic"] == f"{names.prefix}/availability"


async def test_switch_announced_before_is_removed_without_allow_commands(
    mqtt_url: str, names: Names, watch: Watcher, start: Start
) -> None:
    """Without allow_commands no switch is announced, and one announced by an earlier run is
    removed with an empty retained config (#10 §3; HA: an empty payload deletes the entity)."""
    topic = names.config("switch", "pause")
    await watch.client.publish(topic, b'{"name": "Pause new orders"}', qos=1, retain=True)
    await watch.wait_for(topic)

    start(FakeView(), names.settings(mqtt_url))
    await watch.wait_for(f"{names.prefix}/availability", b"online")

    assert watch.latest[topic] == b""
