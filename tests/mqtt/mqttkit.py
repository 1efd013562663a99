"""A fake `DaemonView`, a recording MQTT subscriber and a TCP proxy for the `tests/mqtt` tests
(plain module, not a conftest: `publisher_process.py` imports it too)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
from observation_kit import harvest_record, open_lot, status_snapshot

from adapters.mqtt.publisher import MqttPublisher
from adapters.mqtt.settings import MqttSettings
from daemon.observation import (
    FRESH_SNAPSHOT_SECONDS,
    Counters,
    HarvestRecord,
    Health,
    OpenLot,
    PauseSource,
    PauseState,
    StatusSnapshot,
)

TODAY = date(2026, 12, 4)
WAIT_SECONDS = 15.0
# The publisher's poll in the tests: short enough that they wait on state, not on the poll.
POLL = 0.05

# The `start` fixture: start(view, settings, **options) runs an `MqttPublisher`.
Start = Callable[..., MqttPublisher]


def harvest(intent_id: str, symbol: str, loss: str, *, day: date = TODAY) -> HarvestRecord:
    """Return a harvest of 10 `symbol` at a `loss`, saving 24 % of it, replaced by SCHB."""
    saved = Decimal(loss) * Decimal("0.24")
    return harvest_record(intent_id, day, symbol, loss, saved, account="main", replacement="SCHB")


def lot(symbol: str, basis: str, value: str) -> OpenLot:
    """Return a priced open lot of 10 `symbol`."""
    return open_lot(symbol, basis, value, quantity=10, account="main", acquired=date(2026, 3, 2))


def snapshot(**changes: Any) -> StatusSnapshot:
    """Return a running dry-run daemon's snapshot, with `changes`."""
    return status_snapshot(**changes)


class FakeView:
    """A `DaemonView` over a snapshot the test sets; it records each pause request."""

    def __init__(self, snap: StatusSnapshot | None = None) -> None:
        self.snap = snap or snapshot()
        self.pauses: list[tuple[bool, PauseSource]] = []
        self.snapshots = 0
        self._polled = asyncio.Event()

    def update(self, **changes: Any) -> None:
        """Change what the next snapshot returns."""
        self.snap = replace(self.snap, **changes)

    def counters(self) -> Counters:
        return Counters()

    async def snapshot(self, max_age: float = FRESH_SNAPSHOT_SECONDS) -> StatusSnapshot:
        self.snapshots += 1
        self._polled.set()
        return self.snap

    async def polls(self, count: int) -> None:
        """Wait until the view has been asked for `count` more snapshots."""
        target = self.snapshots + count
        while self.snapshots < target:
            self._polled.clear()
            await asyncio.wait_for(self._polled.wait(), WAIT_SECONDS)

    def liveness(self) -> Health:
        return Health({"engine": "ok"})

    def readiness(self) -> Health:
        return Health({"broker": "ok"})

    async def set_paused(self, paused: bool, *, by: PauseSource, reason: str = "") -> PauseState:
        self.pauses.append((paused, by))
        pause = PauseState(paused, since=datetime.now(UTC), by=by, reason=reason)
        self.update(pause=pause, state="paused" if paused else "running")
        return pause


@dataclass(frozen=True)
class Names:
    """Topic prefixes and a client id of one test's own (the broker is shared)."""

    prefix: str
    discovery: str
    client_id: str

    def settings(self, url: str, **changes: Any) -> MqttSettings:
        """Return `[mqtt]` settings for this test, publishing to the broker at `url`."""
        return MqttSettings(
            enabled=True,
            url=url,
            client_id=self.client_id,
            topic_prefix=self.prefix,
            discovery_prefix=self.discovery,
            **changes,
        )

    def state(self, name: str) -> str:
        """Return the retained state topic `name`."""
        return f"{self.prefix}/state/{name}"

    def config(self, component: str, key: str) -> str:
        """Return the discovery config topic of entity `key`."""
        return f"{self.discovery}/{component}/{self.client_id}/{key}/config"


def host_port(url: str) -> tuple[str, int]:
    """Return the host and port of an ``mqtt://`` URL."""
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 1883


@dataclass
class Watcher:
    """The test's own MQTT client: it records every message under its topic filters."""

    client: aiomqtt.Client
    messages: list[aiomqtt.Message] = field(default_factory=list)
    latest: dict[str, bytes] = field(default_factory=dict)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def receive(self) -> None:
        """Record messages until cancelled."""
        async for message in self.client.messages:
            payload = message.payload
            assert isinstance(payload, bytes)
            self.messages.append(message)
            self.latest[message.topic.value] = payload
            self._changed.set()

    async def wait(self, condition: Callable[[], bool], what: str) -> None:
        """Wait until `condition()` holds after some message; fail naming `what` if it never
        does within `WAIT_SECONDS`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_SECONDS
        while not condition():
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), deadline - loop.time())
            except TimeoutError:
                raise AssertionError(f"timed out waiting for {what}") from None

    async def wait_for(self, topic: str, payload: bytes | None = None) -> bytes:
        """Wait until `topic` holds `payload` (any, when None) and return it."""

        def holds() -> bool:
            got = self.latest.get(topic)
            return got is not None and (payload is None or got == payload)

        await self.wait(holds, f"{topic} = {payload!r}")
        return self.latest[topic]

    async def wait_json(self, topic: str) -> Any:
        """Wait for a message on `topic` and return it parsed as JSON."""
        return json.loads(await self.wait_for(topic))

    def on(self, topic: str) -> list[bytes]:
        """Return every payload received on `topic`, in order."""
        return [m.payload for m in self.messages if m.topic.value == topic]  # type: ignore[misc]


@contextlib.asynccontextmanager
async def watching(url: str, *filters: str) -> AsyncIterator[Watcher]:
    """Subscribe to `filters` with a client of the test's own; yield the recording `Watcher`."""
    host, port = host_port(url)
    async with aiomqtt.Client(host, port) as client:
        watcher = Watcher(client)
        for topic in filters:
            await client.subscribe(topic, qos=1)
        task = asyncio.ensure_future(watcher.receive())
        try:
            yield watcher
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def retained(url: str, *filters: str) -> dict[str, bytes]:
    """Return the retained messages under `filters`, as a new subscriber gets them."""
    marker = f"tlhtest/marker/{uuid.uuid4().hex}"
    async with watching(url, *filters, marker) as watcher:
        # The retained messages arrive right after each subscription, so before a message
        # published after the last one.
        await watcher.client.publish(marker, b"end", qos=1)
        await watcher.wait_for(marker)
    return {m.topic.value: m.payload for m in watcher.messages if m.retain and m.payload}  # type: ignore[misc]


async def clear_retained(url: str, *filters: str) -> None:
    """Delete the retained messages under `filters` (the broker is shared and persistent)."""
    host, port = host_port(url)
    async with aiomqtt.Client(host, port) as client:
        for topic in await retained(url, *filters):
            await client.publish(topic, b"", qos=1, retain=True)


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait until `condition()` holds, checking every 10 ms, for what no message announces."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def free_port() -> int:
    """Return a TCP port on the loopback that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proxy:
    """A TCP proxy to the broker on a port of its own, to cut and restore the connection; with
    `forward` false, a broker that accepts connections and never answers."""

    def __init__(self, url: str, *, forward: bool = True) -> None:
        self.target = host_port(url)
        self.forward = forward
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.connections = 0

    @property
    def url(self) -> str:
        """The ``mqtt://`` URL of the proxy."""
        return f"mqtt://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen (again) and forward new connections to the broker."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def stop(self) -> None:
        """Stop listening and cut every forwarded connection, as a lost network would."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if not self.forward:
            self._writers.add(writer)
            while await reader.read(65536):
                pass
            return
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers |= {writer, up_writer}
        await asyncio.gather(
            _pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True
        )


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.transport.abort()
