"""`tlh run` with `[mqtt] enabled` on the simulated broker against the real Mosquitto: discovery
and state arrive, `kill -9` turns the daemon offline, the switch pauses it (issue #10 §3, and
its "Done when")."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest
from mqttkit import Names, Watcher

REPO = Path(__file__).resolve().parents[2]
TLH = Path(sys.executable).with_name("tlh")

Daemon = Callable[..., AbstractAsyncContextManager[asyncio.subprocess.Process]]


@pytest.fixture
def daemon(tmp_path: Path, mqtt_url: str, names: Names) -> Daemon:
    """Return `daemon(**variables)`: `tlh run` on the simulated broker publishing to the test's
    topics, killed on exit; its log is printed (shown when the test fails)."""

    @asynccontextmanager
    async def _daemon(**variables: str) -> AsyncIterator[asyncio.subprocess.Process]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TLH_")}
        env |= {
            "PYTHONPATH": str(REPO),  # this tree's code, whichever checkout the venv points to
            "TLH_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'run.sqlite'}",
            "TLH_LOGGING__FORMAT": "json",
            "TLH_SIM__REPLAY": "none",  # the timetable: no trade changes the state under test
            "TLH_MQTT__ENABLED": "true",
            "TLH_MQTT__URL": mqtt_url,
            "TLH_MQTT__CLIENT_ID": names.client_id,
            "TLH_MQTT__TOPIC_PREFIX": names.prefix,
            "TLH_MQTT__DISCOVERY_PREFIX": names.discovery,
            **variables,
        }
        log = tmp_path / "tlh.log"
        with log.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                str(TLH), "run", cwd=tmp_path, env=env, stdout=out, stderr=out
            )
        try:
            yield proc
        finally:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
            print(log.read_text()[-4000:])

    return _daemon


async def test_tlh_run_publishes_to_mosquitto_and_its_kill_turns_it_offline(
    daemon: Daemon, names: Names, watch: Watcher
) -> None:
    """The daemon announces the device and publishes its state, then `online`; SIGKILL (no
    goodbye possible) leaves the broker's last will `offline` (#10 §3)."""
    availability = f"{names.prefix}/availability"
    async with daemon() as proc:
        await watch.wait_for(availability, b"online")
        config = await watch.wait_json(names.config("sensor", "harvested_loss_ytd"))
        assert (config["device_class"], config["unit_of_measurement"]) == ("monetary", "USD")
        assert config["device"]["identifiers"] == [names.client_id]
        assert watch.latest[names.state("status")] == b"running"
        assert watch.latest[names.state("broker_connected")] == b"ON"
        assert json.loads(watch.latest[names.state("halted_symbols")]) == []

        proc.send_signal(signal.SIGKILL)
        await watch.wait_for(availability, b"offline")
        assert await proc.wait() == -signal.SIGKILL


async def test_the_switch_pauses_the_running_daemon(
    daemon: Daemon, names: Names, watch: Watcher
) -> None:
    """With allow_commands, ON on the switch's command topic pauses the daemon's new orders
    (its status becomes paused), OFF resumes them (#10 §3 and §4)."""
    async with daemon(TLH_MQTT__ALLOW_COMMANDS="true"):
        await watch.wait_for(f"{names.prefix}/availability", b"online")
        command = json.loads(await watch.wait_for(names.config("switch", "pause")))["command_topic"]

        await watch.client.publish(command, b"ON", qos=1)
        await watch.wait_for(names.state("paused"), b"ON")
        await watch.wait_for(names.state("status"), b"paused")

        await watch.client.publish(command, b"OFF", qos=1)
        await watch.wait_for(names.state("paused"), b"OFF")
        await watch.wait_for(names.state("status"), b"running")
