"""The runtime kill switch: pause and resume new orders without restarting the daemon.

The state is kept in the database's state table (key `PAUSE_KEY`), so it survives a restart and
`tlh pause` / `tlh resume` can set it while the daemon runs; the daemon re-reads it every few
seconds and at once when it is set through the daemon itself (MQTT, HTTP).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from adapters.storage.repository import Repository
from daemon.observation import NOT_PAUSED, PauseSource, PauseState

PAUSE_KEY = "pause"


class PauseSwitch:
    """The persisted pause state and the parts it stops (skeleton: filled by the pause work)."""

    def __init__(self, repo: Repository, now: Callable[[], datetime]) -> None:
        self._repo = repo
        self._now = now
        self.state: PauseState = NOT_PAUSED
        self.on_change: Callable[[PauseState], None] | None = None

    async def load(self) -> PauseState:
        """Read the stored state and apply it."""
        raise NotImplementedError

    async def set(self, paused: bool, *, by: PauseSource, reason: str = "") -> PauseState:
        """Store and apply a new state; return it."""
        raise NotImplementedError

    async def refresh(self) -> PauseState:
        """Re-read the stored state (another process may have set it) and apply a change."""
        raise NotImplementedError
