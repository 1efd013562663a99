"""The runtime kill switch: pause and resume new orders without restarting the daemon.

Issue #10 §4: `tlh pause` / `tlh resume`, the MQTT switch and `POST /pause` stop and restart
new orders; the state survives a restart and `tlh status` shows it.

What paused means:
- No new sale is started: the engine skips a position it would harvest with the reason
  `daemon.engine.PAUSED` (counted and memoised for the day like any skip). A swap back it
  would start is only logged as held back; it waits for the next daily check.
- A replacement buy that completes a sale already filled still goes out: stopping it would
  leave the position in cash, out of the market, for as long as the pause lasts. Open orders
  are followed, cancelled and reconciled as usual, and an order already being placed when the
  pause arrives completes.
- Resuming forgets the day's skips, so every position is judged afresh on its next quote. It
  never allows more than the configuration does: dry run, the live-trading flag and
  `[risk] kill_switch` (the hard stop of every order) still apply.

The state is kept in the database's state table (key `PAUSE_KEY`, JSON), so it survives a
restart and `tlh pause` / `tlh resume` can set it from another process: the running daemon
loads it at start, before any order can leave, re-reads it at once and then every
`REFRESH_SECONDS` (`follow`), and applies it at once when it is set through the daemon itself
(MQTT, HTTP). Reads and applies are serialised, and a re-read that began before a `set` is
dropped, so an older stored state never overrides a newer one. A pause reaches the engine
before it is stored: a database that cannot be written does not keep the daemon trading.
Each stored state carries a stamp; the daemon writes the stamp of each state it applies under
`APPLIED_KEY`, so that the command that set it can tell when the daemon acknowledged it
(`acknowledged`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Protocol, get_args

import structlog

from adapters.storage.repository import Repository
from daemon.observation import NOT_PAUSED, PauseSource, PauseState

PAUSE_KEY = "pause"
APPLIED_KEY = "pause:applied"  # {"stamp", "pid", "host", "at"}: the state a daemon applied
REFRESH_SECONDS = 2.0  # how often the running daemon re-reads the stored state
ACK_SECONDS = 10.0  # how long `acknowledged` waits for the running daemon
ACK_POLL_SECONDS = 0.1
UNREADABLE = "the stored pause state is unreadable; `tlh resume` clears it"

log = structlog.get_logger("tlh.pause")


class Pausable(Protocol):
    """What the switch stops: the engine (`HarvestEngine.pause_new_orders`)."""

    def pause_new_orders(self, paused: bool) -> None: ...


class PauseSwitch:
    """The persisted pause state and the parts it stops (issue #10 §4).

    With an `engine` it drives a daemon: applying a state sets the order manager's flag and
    tells the engine, logs `orders_paused` / `orders_resumed`, acknowledges the state under
    `APPLIED_KEY`. Without one (`tlh pause`, `tlh status`) it only reads and writes the stored
    state.
    """

    def __init__(
        self, repo: Repository, now: Callable[[], datetime], *, engine: Pausable | None = None
    ) -> None:
        self._repo = repo
        self._now = now
        self._engine = engine
        self.state: PauseState = NOT_PAUSED
        self._stamp: str | None = None  # the stamp of the state in `state`; None: not loaded
        self._lock = asyncio.Lock()  # one read-and-apply at a time
        self._sets = 0  # how many `set` calls began: a re-read begun before one is stale
        self._unsaved: tuple[PauseState, str] | None = None  # a pause applied, not yet stored

    async def load(self) -> PauseState:
        """Read the stored state and apply it."""
        async with self._lock:
            return await self._apply(*await self._read())

    async def set(self, paused: bool, *, by: PauseSource, reason: str = "") -> PauseState:
        """Store and apply a new state; return it.

        Setting the state it is in already changes nothing: the stored state (its time, source
        and reason) is kept and returned. A pause is applied before it is stored, a resume
        after: when storing fails (logged as `pause_not_stored`, then raised), the engine is
        left paused either way, and a pause not stored is stored again by the next `refresh`.
        """
        self._sets += 1
        async with self._lock:
            state, stamp = self._unsaved or await self._read()
            if state.paused == paused:
                return await self._apply(state, stamp)
            state = PauseState(paused=paused, since=self._now(), by=by, reason=reason)
            stamp = uuid.uuid4().hex
            if paused:
                self._take(state, stamp)
                self._unsaved = (state, stamp)
                await self._store(state, stamp)
                self._unsaved = None
                await self._acknowledge(stamp)
                return state
            await self._store(state, stamp)
            self._unsaved = None
            return await self._apply(state, stamp)

    async def refresh(self) -> PauseState:
        """Re-read the stored state (another process may have set it) and apply a change.

        A re-read that began before a `set` is dropped: it may have read the state that `set`
        replaced. A pause applied but not stored yet is stored first, never overridden.
        """
        began = self._sets
        async with self._lock:
            if self._unsaved is not None:
                await self._store(*self._unsaved)
                self._unsaved = None
            read = await self._read()
            if began != self._sets:
                return self.state
            return await self._apply(*read)

    async def follow(self, stop: asyncio.Event, every: float = REFRESH_SECONDS) -> None:
        """Re-read the stored state at once, then every `every` seconds until `stop` is set.

        A failed read is logged and tried again at the next turn: the switch keeps its state.
        """
        while not stop.is_set():
            try:
                await self.refresh()
            except Exception as exc:  # e.g. the database is briefly unreachable
                log.warning("pause_refresh_failed", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    async def acknowledged(self, within: float = ACK_SECONDS) -> bool:
        """Return whether a running daemon applied this switch's state within `within` seconds.

        Returns False at once when the daemon that last applied a state ran on this host and
        has exited, even if it applied this very state (`tlh pause` when already paused): no
        daemon is running (a daemon starting meanwhile loads the state anyway).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            marker = _decode_marker(await self._repo.get_state(APPLIED_KEY))
            if _exited(marker):
                return False
            if marker.get("stamp") == self._stamp:
                return True
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(ACK_POLL_SECONDS)

    async def _read(self) -> tuple[PauseState, str]:
        return decode(await self._repo.get_state(PAUSE_KEY))

    async def _store(self, state: PauseState, stamp: str) -> None:
        try:
            await self._repo.set_state(PAUSE_KEY, encode(state, stamp))
        except Exception as exc:
            log.error(
                "pause_not_stored",
                paused=state.paused,
                engine_paused=self.state.paused if self._engine is not None else None,
                error=str(exc),
            )
            raise

    async def _apply(self, state: PauseState, stamp: str) -> PauseState:
        if stamp == self._stamp:
            return self.state
        self._take(state, stamp)
        await self._acknowledge(stamp)
        return state

    def _take(self, state: PauseState, stamp: str) -> None:
        """Make `state` the one in force and tell the engine."""
        was = self.state
        self.state, self._stamp = state, stamp
        if self._engine is None:
            return
        self._engine.pause_new_orders(state.paused)
        if state.paused or was.paused:
            log.info(
                "orders_paused" if state.paused else "orders_resumed",
                by=state.by,
                reason=state.reason,
                since=state.since.isoformat() if state.since else None,
            )

    async def _acknowledge(self, stamp: str) -> None:
        """Record that the daemon applied the state of `stamp` (for `acknowledged`)."""
        if self._engine is None:
            return
        marker = {
            "stamp": stamp,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "at": self._now().isoformat(),
        }
        await self._repo.set_state(APPLIED_KEY, json.dumps(marker))


def encode(state: PauseState, stamp: str) -> str:
    """Return `state` as stored under `PAUSE_KEY`, with its `stamp`."""
    return json.dumps(
        {
            "paused": state.paused,
            "since": state.since.isoformat() if state.since else None,
            "by": state.by,
            "reason": state.reason,
            "stamp": stamp,
        }
    )


def decode(raw: str | None) -> tuple[PauseState, str]:
    """Return the state stored under `PAUSE_KEY` and its stamp; never stored: not paused.

    A value that cannot be read reads as paused (the safe side), naming the problem.
    """
    if raw is None:
        return NOT_PAUSED, ""
    try:
        data = json.loads(raw)
        by = data["by"]
        if by not in (None, *get_args(PauseSource)) or not isinstance(data["paused"], bool):
            raise ValueError(f"unknown source {by!r}")
        since = datetime.fromisoformat(data["since"]) if data["since"] else None
        state = PauseState(paused=data["paused"], since=since, by=by, reason=str(data["reason"]))
        return state, str(data["stamp"])
    except (ValueError, TypeError, KeyError):
        return replace(NOT_PAUSED, paused=True, reason=UNREADABLE), raw


def describe(state: PauseState) -> str:
    """Return the `paused` row of `tlh status`: `no`, or `yes` since when, by whom and why."""
    return f"yes{details(state)}" if state.paused else "no"


def details(state: PauseState) -> str:
    """Return e.g. ` since 2026-12-06T10:55:21+00:00 by cli: the reason` (what is known)."""
    since = f" since {state.since.isoformat(timespec='seconds')}" if state.since else ""
    by = f" by {state.by}" if state.by else ""
    return f"{since}{by}" + (f": {state.reason}" if state.reason else "")


async def read_pause(repo: Repository) -> PauseState:
    """Return the stored pause state (for readers such as `tlh status`)."""
    return decode(await repo.get_state(PAUSE_KEY))[0]


def _decode_marker(raw: str | None) -> dict[str, object]:
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _exited(marker: dict[str, object]) -> bool:
    """Return whether the daemon that wrote `marker` ran on this host and is gone."""
    pid = marker.get("pid")
    if marker.get("host") != socket.gethostname() or not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False
