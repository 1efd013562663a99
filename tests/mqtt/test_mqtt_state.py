"""Retained state and harvest events on MQTT (issue #10 §3; the topics in README.md, "MQTT and
Home Assistant")."""

from __future__ import annotations

import asyncio
import json

import pytest
from mqttkit import FakeView, Names, Start, Watcher, harvest, lot, retained, snapshot

from adapters.mqtt.publisher import MqttPublisher
from daemon.observation import PauseState


async def test_state_is_published_retained_from_the_snapshot(
    mqtt_url: str, names: Names, watch: Watcher, start: Start
) -> None:
    """Each state topic holds the snapshot's figure, retained for a late subscriber: dollars
    to the cent, losses positive, this year's harvests only, today's count (#10 §3)."""
    last_year = harvest("h0", "VXUS", "999.99", day=snapshot().today.replace(year=2025))
    view = FakeView(
        snapshot(
            harvests=(last_year, harvest("h1", "VTI", "1200.5"), harvest("h2", "VEA", "300")),
            open_lots=(lot("VTI", "1000", "900.255"), lot("SCHB", "500", "600")),
            halted_symbols=("XYZ", "ABC"),
            connected=False,
        )
    )
    start(view, names.settings(mqtt_url))
    await watch.wait_for(f"{names.prefix}/availability", b"online")

    expected = {
        "status": b"running",
        "harvested_loss_ytd": b"1500.50",
        "estimated_tax_saved_ytd": b"360.12",
        "harvests_today": b"2",
        "open_lots": b"2",
        "unrealized_loss": b"99.74",
        "halted_symbols": b'["ABC", "XYZ"]',
        "broker_connected": b"OFF",
        "paused": b"OFF",
    }
    state = await retained(mqtt_url, names.state("#"))
    assert {name: state[names.state(name)] for name in expected} == expected
    last = json.loads(state[names.state("last_harvest")])
    assert last["symbol"] == "VEA"
    assert (last["loss"], last["replacement"], last["day"]) == (300.0, "SCHB", "2026-12-04")


async def test_no_harvest_yet_is_null(
    mqtt_url: str, names: Names, watch: Watcher, start: Start
) -> None:
    """Before the first harvest, the last harvest is JSON null (README, MQTT topics)."""
    start(FakeView(), names.settings(mqtt_url))

    assert await watch.wait_for(names.state("last_harvest")) == b"null"


async def test_state_follows_the_snapshot(
    mqtt_url: str, names: Names, watch: Watcher, start: Start
) -> None:
    """When the daemon's snapshot changes, the retained state follows (#10 §3)."""
    view = FakeView()
    start(view, names.settings(mqtt_url))
    await watch.wait_for(names.state("status"), b"running")

    view.update(state="halted", halted_symbols=("VTI",), open_lots=(lot("VTI", "10", "12"),))

    await watch.wait_for(names.state("status"), b"halted")
    await watch.wait_for(names.state("halted_symbols"), b'["VTI"]')
    await watch.wait_for(names.state("open_lots"), b"1")


async def test_paused_state_is_on_while_paused(
    mqtt_url: str, names: Names, watch: Watcher, start: Start
) -> None:
    """The paused state (the switch's state topic) is ON while new orders are paused (#10 §3)."""
    view = FakeView(snapshot(state="paused", pause=PauseState(paused=True, by="cli")))
    start(view, names.settings(mqtt_url))

    await watch.wait_for(names.state("paused"), b"ON")
    assert watch.latest[names.state("status")] == b"paused"


async def test_a_new_harvest_is_one_event_and_history_is_not_replayed(
    mqtt_url: str, names: Names, watch: Watcher, start: Start
) -> None:
    """A harvest not in the first snapshot is published once as a JSON event, not retained;
    the harvests already in the journal at start are not (#10 §3)."""
    old = harvest("h1", "VTI", "100")
    view = FakeView(snapshot(harvests=(old,)))
    start(view, names.settings(mqtt_url))
    await watch.wait_for(f"{names.prefix}/availability", b"online")

    view.update(harvests=(old, harvest("h2", "VEA", "250.25")))
    event = await watch.wait_json(f"{names.prefix}/event/harvest")
    await view.polls(2)  # a second event would be out by then

    assert (event["symbol"], event["loss"], event["replacement"]) == ("VEA", 250.25, "SCHB")
    assert (event["day"], event["intent_id"]) == ("2026-12-04", "h2")
    assert len(watch.on(f"{names.prefix}/event/harvest")) == 1
    assert not await retained(mqtt_url, f"{names.prefix}/event/#")
    assert json.loads(watch.latest[names.state("last_harvest")])["symbol"] == "VEA"


@pytest.mark.parametrize("how", ["stop", "cancel"])
async def test_stopping_says_offline(mqtt_url: str, names: Names, watch: Watcher, how: str) -> None:
    """A publisher stopped on purpose (its stop event, or its task cancelled) publishes
    `offline`: a clean disconnection does not send the last will (MQTT 3.1.1 §3.1.2.5), and
    Home Assistant would show a stopped daemon as available."""
    stop = asyncio.Event()
    task = asyncio.ensure_future(MqttPublisher(FakeView(), names.settings(mqtt_url)).run(stop))
    availability = f"{names.prefix}/availability"
    await watch.wait_for(availability, b"online")

    if how == "stop":
        stop.set()
    else:
        task.cancel()
    await asyncio.wait({task}, timeout=10)

    assert task.done()
    assert (await watch.wait_for(availability)) == b"offline"
