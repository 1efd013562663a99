"""Count the error records a broker SDK logs when it drops a message it could not handle.

Both SDKs catch what a message handler raises, log it at ERROR on their own loggers and carry
on (ib_async's ``Decoder.interpret``; alpaca-py's stream loops): counting those records makes
the drops visible in the adapter's statistics and in `tlh doctor`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence


class ErrorRecordCounter(logging.Handler):
    """Count the ERROR records of `loggers`, keep the start of the last, and report each."""

    def __init__(
        self, loggers: Sequence[str], on_record: Callable[[int, str], None] | None = None
    ) -> None:
        super().__init__(logging.ERROR)
        self.loggers = tuple(loggers)
        self.on_record = on_record
        self.count = 0
        self.last = ""

    def emit(self, record: logging.LogRecord) -> None:
        """Count one record and keep the start of its message."""
        self.count += 1
        self.last = record.getMessage()[:200]
        if self.on_record is not None:
            self.on_record(self.count, self.last)

    def install(self) -> None:
        """Attach to the SDK's loggers."""
        for name in self.loggers:
            logging.getLogger(name).addHandler(self)

    def remove(self) -> None:
        """Detach from the SDK's loggers."""
        for name in self.loggers:
            logging.getLogger(name).removeHandler(self)
