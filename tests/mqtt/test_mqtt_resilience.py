"""A killed daemon, a lost or absent broker: availability and state stay true (issue #10 §3;
aiomqtt 2.x has no automatic reconnection, /work/shared/reference/libraries.md §3)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import structlog
from mqttkit import FakeView, Names, Proxy, Start, Watcher, harvest, until

import adapters.mqtt.publisher
from adapters.mqtt.publisher import GOODBYE_SECONDS, MqttPublisher

HERE = Path(__file__).parent
REPO = HERE.parents[1]


@pytest.fixture
async def proxy(mqtt_url: str) -> AsyncIterator[Proxy]:
    """Yield a TCP proxy to the broker, not listening yet."""
    found = Proxy(mqtt_url)
    yield found
    await found.stop()


async def test_sigkill_turns_availability_offline(
    mqtt_url: str, names: Names, watch: Watcher
) -> None:
    """The publishing process killed with SIGKILL (no goodbye possible): the broker publishes
    the retained last will `offline` on the availability topic (#10 §3; MQTT 3.1.1 §3.1.2.5)."""
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO), str(HERE), str(HERE.parent)])}
    args = [mqtt_url, names.prefix, names.discovery, names.client_id]
    script = str(HERE / "publisher_process.py")
    proc = await asyncio.create_subprocess_exec(sys.executable, script, *args, env=env)
    availability = f"{names.prefix}/availability"
    killed = False
    try:
        await watch.wait_for(availability, b"online")
        proc.send_signal(signal.SIGKILL)
        killed = True
        await watch.wait_for(availability, b"offline")
    finally:
        # Signal once: `Popen.send_signal` polls first, and a poll that reaps the dead child
        # before asyncio's watcher thread does makes it report returncode 255.
        if not killed:
            proc.kill()
        await proc.wait()
    assert proc.returncode == -signal.SIGKILL


async def test_reconnection_republishes_discovery_and_state(
    mqtt_url: str, names: Names, watch: Watcher, proxy: Proxy, start: Start
) -> None:
    """The connection to the broker drops (the last will says offline); once the broker is
    back, the publisher reconnects and republishes discovery and every retained state, even
    if the broker lost them (#10 §3: a slow or absent broker loses nothing that matters)."""
    await proxy.start()
    start(FakeView(), names.settings(proxy.url))
    availability = f"{names.prefix}/availability"
    status_config = names.config("sensor", "status")
    await watch.wait_for(availability, b"online")

    await proxy.stop()
    await watch.wait_for(availability, b"offline")
    for topic in (status_config, names.state("status")):  # as a broker without persistence
        await watch.client.publish(topic, b"", qos=1, retain=True)
        await watch.wait_for(topic, b"")
    await proxy.start()

    await watch.wait_for(availability, b"online")
    assert watch.latest[names.state("status")] == b"running"
    assert watch.latest[status_config].startswith(b"{")
    assert proxy.connections >= 2


async def test_broker_absent_at_start_is_retried(
    mqtt_url: str, names: Names, watch: Watcher, proxy: Proxy, start: Start
) -> None:
    """A broker that is not reachable yet when the daemon starts is retried until it is
    (capped backoff), and the state is published then (#10 §3: reconnect with backoff)."""
    view = FakeView()
    start(view, names.settings(proxy.url))
    await view.polls(1)  # the publisher runs, with nowhere to connect

    await proxy.start()

    await watch.wait_for(f"{names.prefix}/availability", b"online")
    await watch.wait_for(names.state("status"), b"running")


async def test_a_harvest_during_an_outage_is_published_after_it(
    mqtt_url: str, names: Names, watch: Watcher, proxy: Proxy, start: Start
) -> None:
    """A harvest made while the broker was unreachable is published as an event once the
    broker is back (#10 §3: a slow or absent broker loses nothing that matters)."""
    view = FakeView()
    await proxy.start()
    start(view, names.settings(proxy.url))
    availability = f"{names.prefix}/availability"
    await watch.wait_for(availability, b"online")
    await proxy.stop()
    await watch.wait_for(availability, b"offline")

    view.update(harvests=(harvest("h1", "VTI", "500"),))
    await proxy.start()

    event = await watch.wait_json(f"{names.prefix}/event/harvest")
    assert (event["symbol"], event["intent_id"]) == ("VTI", "h1")


async def test_a_broker_that_never_answers_does_not_hold_up_the_stop(
    mqtt_url: str, names: Names
) -> None:
    """A broker that accepts the connection and never answers (CONNACK, PUBACK) does not hold
    up the daemon's stop beyond the publisher's goodbye time (#10 §3: never block)."""
    silent = Proxy(mqtt_url, forward=False)
    await silent.start()
    stop = asyncio.Event()
    publisher = MqttPublisher(FakeView(), names.settings(silent.url))
    task = asyncio.ensure_future(publisher.run(stop))
    try:
        await until(lambda: silent.connections > 0, "a connection attempt")
        stop.set()
        done, _ = await asyncio.wait({task}, timeout=GOODBYE_SECONDS + 1)
        assert task in done
    finally:
        task.cancel()
        await silent.stop()


async def test_the_password_is_never_logged(
    mqtt_url: str,
    names: Names,
    watch: Watcher,
    proxy: Proxy,
    start: Start,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Neither tlh nor the MQTT library logs the password, connected or failing to connect
    (README, Configuration: logs never hold a secret, at any level)."""
    password = "mqtt-secret-pw-4711"
    monkeypatch.setattr(adapters.mqtt.publisher, "log", structlog.get_logger("tlh.mqtt"))
    caplog.set_level("DEBUG")
    with structlog.testing.capture_logs() as logs:
        start(
            FakeView(),
            names.settings(proxy.url, username="tlh", password=password),
        )
        await until(lambda: any(e["event"] == "mqtt_unavailable" for e in logs), "a failure")
        await proxy.start()
        await watch.wait_for(f"{names.prefix}/availability", b"online")

    events = {e["event"] for e in logs}
    assert {"mqtt_unavailable", "mqtt_connected"} <= events
    assert password not in repr(logs)
    assert password not in caplog.text
