"""Fixtures of the MQTT tests: names of the test's own, a recording subscriber, a publisher."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from mqttkit import POLL, FakeView, Names, Start, Watcher, clear_retained, watching

from adapters.mqtt.publisher import MqttPublisher
from adapters.mqtt.settings import MqttSettings


@pytest.fixture
async def names(mqtt_url: str) -> AsyncIterator[Names]:
    """Yield topic prefixes and a client id of this test's own; clear its retained topics after."""
    tag = uuid.uuid4().hex[:12]
    found = Names(prefix=f"tlhtest/{tag}", discovery=f"hatest/{tag}", client_id=f"tlh-{tag}")
    yield found
    await clear_retained(mqtt_url, f"{found.prefix}/#", f"{found.discovery}/#")


@pytest.fixture
async def watch(mqtt_url: str, names: Names) -> AsyncIterator[Watcher]:
    """Yield a subscriber to everything under the test's prefixes, subscribed before the
    publisher starts."""
    async with watching(mqtt_url, f"{names.prefix}/#", f"{names.discovery}/#") as watcher:
        yield watcher


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """Yield `start(view, settings, **options)`: run an `MqttPublisher` (polling and retrying
    fast unless `options` say otherwise), stopped after the test."""
    running: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    def _start(view: FakeView, settings: MqttSettings, **options: Any) -> MqttPublisher:
        fast = {"poll_seconds": POLL, "retry_initial": 0.05, "retry_max": 0.2}
        publisher = MqttPublisher(view, settings, **(fast | options))
        stop = asyncio.Event()
        running.append((stop, asyncio.ensure_future(publisher.run(stop))))
        return publisher

    yield _start
    for stop, task in running:
        stop.set()
        await asyncio.wait_for(task, 15)
