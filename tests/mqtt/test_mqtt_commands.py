"""The Home Assistant switch that pauses new orders, only with `[mqtt] allow_commands` (issue
#10 §3 and §4)."""

from __future__ import annotations

import pytest
from mqttkit import FakeView, Names, Start, Watcher


async def test_on_pauses_and_off_resumes(
    mqtt_url: str, names: Names, watch: Watcher, start: Start
) -> None:
    """ON on the command topic pauses new orders through the daemon (by "mqtt"), OFF resumes
    them, and the switch's state follows (#10 §3)."""
    view = FakeView()
    start(view, names.settings(mqtt_url, allow_commands=True))
    await watch.wait_for(f"{names.prefix}/availability", b"online")
    command = f"{names.prefix}/command/pause"

    await watch.client.publish(command, b"ON", qos=1)
    await watch.wait_for(names.state("paused"), b"ON")
    assert view.pauses == [(True, "mqtt")]
    assert watch.latest[names.state("status")] == b"paused"

    await watch.client.publish(command, b"OFF", qos=1)
    await watch.wait_for(names.state("paused"), b"OFF")
    assert view.pauses == [(True, "mqtt"), (False, "mqtt")]


async def test_commands_are_ignored_without_allow_commands(
    mqtt_url: str, names: Names, watch: Watcher, start: Start
) -> None:
    """Without allow_commands nothing is subscribed: ON on the command topic pauses nothing
    (#10 §3: the switch only when allow_commands = true, off by default)."""
    view = FakeView()
    start(view, names.settings(mqtt_url))
    await watch.wait_for(f"{names.prefix}/availability", b"online")

    await watch.client.publish(f"{names.prefix}/command/pause", b"ON", qos=1)
    await view.polls(2)  # a command received before is handled by then

    assert view.pauses == []


@pytest.mark.parametrize("payload", [b"on", b"PAUSE", b"", b"\xff"])
async def test_other_payloads_are_ignored(
    mqtt_url: str, names: Names, watch: Watcher, start: Start, payload: bytes
) -> None:
    """Only ON and OFF are commands (the switch's payload_on/payload_off); anything else
    changes nothing (README, MQTT topics)."""
    view = FakeView()
    start(view, names.settings(mqtt_url, allow_commands=True))
    await watch.wait_for(f"{names.prefix}/availability", b"online")

    await watch.client.publish(f"{names.prefix}/command/pause", payload, qos=1)
    await view.polls(2)  # a command received before is handled by then

    assert view.pauses == []


async def test_a_retained_command_is_not_obeyed(
    mqtt_url: str, names: Names, watch: Watcher, start: Start
) -> None:
    """A retained ON (left on the broker by some client) is not obeyed when the daemon
    connects: it would pause again at every reconnection, undoing `tlh resume` (README)."""
    command = f"{names.prefix}/command/pause"
    await watch.client.publish(command, b"ON", qos=1, retain=True)
    await watch.wait_for(command)
    view = FakeView()
    start(view, names.settings(mqtt_url, allow_commands=True))
    await watch.wait_for(f"{names.prefix}/availability", b"online")

    await view.polls(2)  # a command received before is handled by then

    assert view.pauses == []
