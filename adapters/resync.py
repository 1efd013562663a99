"""Run the daemon's reconciliation for a broker that asks for one, one pass at a time.

A broker whose streams do not replay what they sent while away (`adapters.base.ResyncRequests`)
asks for a pass after each reconnect. Requests that arrive while a pass runs are coalesced into
one more pass (with the latest reason); a pass that fails is retried with a doubling wait.
"""

from __future__ import annotations

import asyncio

import structlog

from adapters.base import ResyncHandler

log = structlog.get_logger("tlh.resync")


class ResyncRunner:
    """Coalesce reconciliation requests into passes of the handler the daemon gives."""

    def __init__(self, broker: str, *, max_backoff: float = 30.0) -> None:
        self.broker = broker
        self.max_backoff = max_backoff
        self.handler: ResyncHandler | None = None
        self.requests = 0
        self._reason: str | None = None
        self._task: asyncio.Task[None] | None = None

    def request(self, reason: str) -> None:
        """Ask for a pass; a no-op (but counted) until the daemon has given its handler."""
        self.requests += 1
        if self.handler is None:
            return
        self._reason = reason
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"{self.broker}-resync")

    async def _run(self) -> None:
        failures = 0
        while self._reason is not None and self.handler is not None:
            reason, self._reason = self._reason, None
            try:
                await self.handler(reason)
                failures = 0
            except Exception:
                failures += 1
                log.exception("resync_failed", broker=self.broker, reason=reason, failures=failures)
                self._reason = self._reason or reason
                await asyncio.sleep(min(self.max_backoff, 0.5 * 2**failures))

    async def stop(self) -> None:
        """Cancel a pass in progress (waiting at most 2 s for it to end)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=2.0)
