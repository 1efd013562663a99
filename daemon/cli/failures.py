"""Failures every command reports the same way: one line on stderr, exit status 2 (`fail`).

A database that cannot be opened, a journal owned by another process and a broker that
rejects the daemon's keys are the operator's to fix, not tlh's bugs: no traceback. They are
raised where a command first touches the database (`adapters.storage.engine.open_connection`,
`adapters.storage.journal_lock.lock_journal`) or the broker (`daemon.broker_wait`), and
`CommandGroup` reports them for every command.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

FAILURE_EXIT_CODE = 2


def fail(message: str, *, bare: bool = False) -> NoReturn:
    """Print `message` on stderr as one line and exit with status 2.

    The line starts "tlh: ", unless `bare`: an input file's error, which starts with the file
    it names (``trades.csv:12: quantity: ...``, as the README shows).
    """
    typer.echo(message if bare else f"tlh: {message}", err=True)
    raise typer.Exit(FAILURE_EXIT_CODE)


def operator_failure(exc: BaseException) -> str | None:
    """Return the one-line message for `exc` when it is an operator's failure, else None."""
    # Only loaded when a command used the database: `tlh tax report` never imports it.
    engine = sys.modules.get("adapters.storage.engine")
    lock = sys.modules.get("adapters.storage.journal_lock")
    broker = sys.modules.get("daemon.broker_wait")
    known = tuple(
        cls
        for cls in (
            getattr(engine, "DatabaseUnavailableError", None),
            getattr(lock, "JournalLockedError", None),
            getattr(lock, "JournalLockLostError", None),
            getattr(broker, "BrokerRejectedError", None),
        )
        if cls is not None
    )
    return str(exc) if known and isinstance(exc, known) else None


class CommandGroup(TyperGroup):
    """The `tlh` group: report `operator_failure`s of any command in one line, exit 2."""

    def invoke(self, ctx: Any) -> Any:
        """Invoke the command; turn an operator's failure into a message and exit 2."""
        try:
            return super().invoke(ctx)
        except Exception as exc:
            message = operator_failure(exc)
            if message is None:
                raise
            fail(message)
