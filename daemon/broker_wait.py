"""Wait for the broker before the daemon starts: a home server boots before its network is up.

`wait_for_broker` probes the broker (`adapters.base.Probing`) until it answers, with
exponential backoff (stamina: 1 s doubling to 30 s, jittered, no limit), logging one warning
line per failed attempt, without a traceback. Meanwhile the daemon is not ready: systemd gets
no ``READY=1``, only a ``STATUS=`` line and ``EXTEND_TIMEOUT_USEC`` so that its start timeout
does not kill a daemon that is waiting on purpose, and the health file is absent. A
non-transient error (rejected keys) ends the wait at once; so does the `stop` event (SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib

import stamina
import structlog
from stamina.instrumentation import RetryDetails, RetryHook, set_on_retry_hooks

from adapters.base import Broker, BrokerError, Probing
from daemon.sdnotify import notify

log = structlog.get_logger("tlh.broker")

WAIT_INITIAL = 1.0
WAIT_MAX = 30.0
# Longer than the longest pause between two attempts (WAIT_MAX plus jitter plus one call).
_EXTEND_START_TIMEOUT_USEC = 120_000_000


class BrokerRejectedError(RuntimeError):
    """The broker answered, and refused us (e.g. its keys are wrong): retrying cannot help."""


def _transient(exc: Exception) -> bool:
    return isinstance(exc, OSError) or (isinstance(exc, BrokerError) and exc.transient)


def log_retry(details: RetryDetails) -> None:
    """Log one warning line for a failed attempt that stamina will retry (a stamina hook)."""
    what = details.name.rpartition(".")[2]  # e.g. "broker_connection"
    log.warning(
        "retrying",
        what=what,
        attempt=details.retry_num,
        wait_seconds=round(details.wait_for, 1),
        error=str(details.caused_by) or type(details.caused_by).__name__,
    )
    if what == broker_connection.__name__:
        notify(
            f"STATUS=waiting for the broker (attempt {details.retry_num}): {details.caused_by}",
            f"EXTEND_TIMEOUT_USEC={_EXTEND_START_TIMEOUT_USEC}",
        )


def use_retry_logging() -> None:
    """Make every stamina retry in this process log `log_retry`'s one line, and nothing else.

    stamina's default structlog hook logs the retried call's arguments as ``repr``s; ours
    logs what is retried, the attempt, the wait and the error.
    """
    hooks: list[RetryHook] = [log_retry]
    set_on_retry_hooks(hooks)


@stamina.retry(
    on=_transient,
    attempts=None,
    timeout=None,
    wait_initial=WAIT_INITIAL,
    wait_max=WAIT_MAX,
    wait_jitter=WAIT_INITIAL,
)
async def broker_connection(broker: Probing) -> None:
    """Probe `broker` until it answers (stamina retries the transient errors)."""
    await broker.probe()


async def probe_until_reachable(broker: Probing) -> None:
    """Probe `broker` until it answers; raise `BrokerRejectedError` on a non-transient error."""
    try:
        await broker_connection(broker)
    except BrokerError as exc:
        name = getattr(broker, "name", "broker")
        raise BrokerRejectedError(f"broker {name} refused the connection: {exc}") from None


async def wait_for_broker(broker: Broker, stop: asyncio.Event) -> bool:
    """Wait until `broker` answers; return False when `stop` was set first.

    Raise `BrokerRejectedError` when the broker refuses the connection for good.
    """
    if not isinstance(broker, Probing):
        return True
    probing = asyncio.ensure_future(probe_until_reachable(broker))
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({probing, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not probing.done():
            probing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probing
    if probing.cancelled():
        return False
    probing.result()  # raises BrokerRejectedError
    log.info("broker_reachable", broker=broker.name)
    return True
