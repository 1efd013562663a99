"""Publish the daemon's state to MQTT with Home Assistant discovery (aiomqtt 2.x).

`MqttPublisher.run` is one task of its own: it polls `DaemonView.snapshot` every couple of
seconds and publishes what changed, so the engine never waits on the broker. It connects with
a retained last will ``offline`` on ``<prefix>/availability`` and publishes ``online`` once the
discovery configs and the state are out. aiomqtt 2.x does not reconnect by itself: `run` does,
with capped, jittered exponential backoff, and on every (re)connection republishes the discovery
configs and all retained state, so a slow or absent broker loses nothing that matters. A harvest
not in the first snapshot after start is published as an event once, even if it happened while
the broker was away; the harvests of earlier runs are history, not events.

With `[mqtt] allow_commands`, ``ON``/``OFF`` on ``<prefix>/command/pause`` pause and resume new
orders through `DaemonView.set_paused`; nothing is subscribed otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
import structlog

from adapters.mqtt import topics as t
from adapters.mqtt.discovery import Discovery
from adapters.mqtt.settings import MqttSettings
from daemon.observation import DaemonView, HarvestRecord, StatusSnapshot

log = structlog.get_logger("tlh.mqtt")

POLL_SECONDS = 2.0
# Prices alone re-price the retained figures this often; the view rebuilds its snapshot at
# once when a harvest, an order, a halt, the pause or a connection changes (daemon_view).
SNAPSHOT_MAX_AGE = 15.0
RETRY_INITIAL = 1.0
RETRY_MAX = 60.0
KEEPALIVE_SECONDS = 30
# How long saying `offline` and disconnecting may take when the publisher stops.
GOODBYE_SECONDS = 2.0
QOS = 1


def backoff(attempt: int, initial: float, cap: float) -> float:
    """Return the wait before reconnection `attempt` (1, 2, ...): doubling from `initial` up
    to `cap`, plus up to `initial` of jitter so that restarted clients do not reconnect in step."""
    return min(cap, initial * 2.0 ** min(attempt - 1, 30)) + random.uniform(0, initial)


class MqttPublisher:
    """Publish `view`'s state, harvest events and discovery to the broker of `settings`."""

    def __init__(
        self,
        view: DaemonView,
        settings: MqttSettings,
        *,
        poll_seconds: float = POLL_SECONDS,
        retry_initial: float = RETRY_INITIAL,
        retry_max: float = RETRY_MAX,
    ) -> None:
        self._view = view
        self._settings = settings
        self._poll = poll_seconds
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._topics = t.Topics(settings.topic_prefix)
        self._discovery = Discovery(settings, self._topics).messages()
        self._seen: set[str] | None = None  # harvests already known; None before a snapshot
        self._events: list[HarvestRecord] = []  # new harvests not yet published
        self._published: dict[str, bytes] = {}  # retained state sent on this connection
        self._lock = asyncio.Lock()  # one refresh at a time: polls and commands
        self._deadline: asyncio.Timeout | None = None  # the connection's, while connected
        self._connected = False  # whether the last attempt got connected

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop` is set, reconnecting whenever the broker is lost."""
        await self._observe()  # what is already in the journal is history, not news
        stopping = asyncio.ensure_future(stop.wait())
        stopping.add_done_callback(lambda task: None if task.cancelled() else self._hurry())
        attempt = 0
        try:
            while not stopping.done():
                try:
                    await self._connection(stopping)
                except aiomqtt.MqttError as exc:
                    attempt = 1 if self._connected else attempt + 1  # a lost connection: anew
                    wait = backoff(attempt, self._retry_initial, self._retry_max)
                    log.warning(
                        "mqtt_unavailable",
                        **self._where(),
                        attempt=attempt,
                        wait_seconds=round(wait, 1),
                        error=str(exc) or type(exc).__name__,
                    )
                    await asyncio.wait({stopping}, timeout=wait)
                except TimeoutError:
                    log.warning("mqtt_goodbye_timed_out", seconds=GOODBYE_SECONDS)
        finally:
            stopping.cancel()
        log.info("mqtt_stopped")

    def _hurry(self) -> None:
        """Leave at most GOODBYE_SECONDS to what is under way, the goodbye and the disconnection:
        the daemon is stopping, and a dead connection can take aiomqtt's whole timeout to
        notice (and to connect to an unresponsive broker)."""
        deadline = self._deadline
        if deadline is not None and deadline.when() is None:  # not hurried yet (nor expiring)
            deadline.reschedule(asyncio.get_running_loop().time() + GOODBYE_SECONDS)

    async def _connection(self, stopping: asyncio.Future[Any]) -> None:
        """Connect, and publish until `stopping` or a lost connection (MqttError)."""
        self._connected = False
        try:
            # No deadline until the publisher stops (`_hurry`).
            async with asyncio.timeout(None) as self._deadline, self._client() as client:
                self._connected = True
                log.info("mqtt_connected", **self._where())
                await self._session(client, stopping)
        finally:
            self._deadline = None

    def _where(self) -> dict[str, object]:
        parts = urlsplit(self._settings.url)  # the url holds no credentials (settings check)
        return {"host": parts.hostname, "port": parts.port, "client_id": self._settings.client_id}

    def _client(self) -> aiomqtt.Client:
        s = self._settings
        parts = urlsplit(s.url)
        tls = parts.scheme == "mqtts"
        return aiomqtt.Client(
            parts.hostname or "127.0.0.1",
            parts.port or (8883 if tls else 1883),
            username=s.username,
            password=None if s.password is None else s.password.get_secret_value(),
            identifier=s.client_id,
            will=aiomqtt.Will(self._topics.availability, t.OFFLINE, qos=QOS, retain=True),
            keepalive=KEEPALIVE_SECONDS,
            clean_session=True,
            tls_context=ssl.create_default_context() if tls else None,
        )

    async def _session(self, client: aiomqtt.Client, stopping: asyncio.Future[Any]) -> None:
        """Announce, then refresh every poll until `stopping` or a lost connection."""
        listener: asyncio.Future[None] | None = None
        try:
            await self._announce(client)
            # Iterating the messages also notices a lost connection between two publications.
            listener = asyncio.ensure_future(self._listen(client))
            while True:
                await asyncio.wait(
                    {listener, stopping}, timeout=self._poll, return_when=asyncio.FIRST_COMPLETED
                )
                if listener.done():
                    listener.result()  # raises the MqttError that ended it
                    raise aiomqtt.MqttError("the message iteration ended")
                if stopping.done():
                    break
                await self._refresh(client)
        except asyncio.CancelledError:
            self._hurry()
            await self._goodbye(client)
            raise
        else:
            await self._goodbye(client)
        finally:
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await listener

    async def _announce(self, client: aiomqtt.Client) -> None:
        """Publish the discovery configs and all retained state, subscribe, then say online."""
        self._published.clear()
        for topic, payload in self._discovery.items():
            await client.publish(topic, payload, qos=QOS, retain=True)
        if self._settings.allow_commands:
            await client.subscribe(self._topics.pause_command, qos=QOS)
        await self._refresh(client)
        await client.publish(self._topics.availability, t.ONLINE, qos=QOS, retain=True)

    async def _goodbye(self, client: aiomqtt.Client) -> None:
        """Say ``offline`` on purpose: a clean disconnection does not send the last will."""
        with contextlib.suppress(aiomqtt.MqttError):
            await client.publish(self._topics.availability, t.OFFLINE, qos=QOS, retain=True)

    async def _observe(self) -> StatusSnapshot | None:
        """Take a snapshot and queue the harvests it holds that the first one did not."""
        try:
            snapshot = await self._view.snapshot(max_age=SNAPSHOT_MAX_AGE)
        except Exception as exc:  # an observer must not die of what it observes
            log.warning("mqtt_snapshot_failed", error=str(exc) or type(exc).__name__)
            return None
        ids = {h.intent_id for h in snapshot.harvests}
        if self._seen is None:
            self._seen = ids
        else:
            self._events += [h for h in snapshot.harvests if h.intent_id not in self._seen]
            self._seen |= ids
        return snapshot

    async def _refresh(self, client: aiomqtt.Client) -> None:
        """Publish the retained state that changed, then the harvest events not yet sent."""
        async with self._lock:
            snapshot = await self._observe()
            if snapshot is not None:
                for topic, payload in t.state_payloads(snapshot, self._topics).items():
                    if self._published.get(topic) != payload:
                        await client.publish(topic, payload, qos=QOS, retain=True)
                        self._published[topic] = payload
            while self._events:
                harvest = self._events[0]
                await client.publish(self._topics.harvest_event, t.harvest_json(harvest), qos=QOS)
                self._events.pop(0)
                log.info("mqtt_harvest_event", symbol=harvest.symbol, intent_id=harvest.intent_id)

    async def _listen(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            if message.topic.matches(self._topics.pause_command):
                await self._command(client, message)

    async def _command(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        """Pause (``ON``) or resume (``OFF``) new orders, then publish the new state."""
        payload = message.payload
        text = payload.decode(errors="replace") if isinstance(payload, bytes) else str(payload)
        if message.retain:
            # A retained command would replay on every reconnection, undoing `tlh resume`.
            log.warning("mqtt_command_ignored", reason="retained", payload=text[:20])
            return
        if text not in (t.ON, t.OFF):
            log.warning("mqtt_command_ignored", reason="not ON or OFF", payload=text[:20])
            return
        paused = text == t.ON
        try:
            await self._view.set_paused(paused, by="mqtt", reason="MQTT command")
        except Exception as exc:  # the daemon refused or failed: say so, keep publishing
            log.warning("mqtt_command_failed", paused=paused, error=str(exc))
            return
        log.info("mqtt_paused" if paused else "mqtt_resumed")
        await self._refresh(client)
