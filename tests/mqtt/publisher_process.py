"""Run an `MqttPublisher` over a `FakeView` until the process is killed (the last-will test).

Usage: python publisher_process.py URL TOPIC_PREFIX DISCOVERY_PREFIX CLIENT_ID
"""

from __future__ import annotations

import asyncio
import sys

from mqttkit import POLL, FakeView, Names

from adapters.mqtt.publisher import MqttPublisher


async def main(url: str, prefix: str, discovery: str, client_id: str) -> None:
    """Publish until killed."""
    settings = Names(prefix, discovery, client_id).settings(url)
    await MqttPublisher(FakeView(), settings, poll_seconds=POLL).run(asyncio.Event())


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
