"""The `tlh` command line: one Typer app with a sub-module per command group."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

import typer

from daemon.cli.failures import CommandGroup

app = typer.Typer(
    name="tlh",
    cls=CommandGroup,
    help="Self-hosted tax-loss-harvesting daemon with an exact tax-lot ledger.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _logs_to_stderr() -> None:
    """Send log lines to stderr until a command configures logging: stdout is for output."""
    from daemon.logging import configure_logging

    configure_logging("WARNING")


# The module that registers each top-level command or group (a test keeps this complete).
COMMAND_MODULES = {
    "backtest": "backtest",
    "config": "config",
    "db": "db",
    "demo": "demo",
    "doctor": "doctor",
    "halts": "halts",
    "import": "imports",
    "index": "index",
    "run": "run",
    "lots": "lots",
    "pause": "pause",
    "plaid": "plaid",
    "resume": "pause",
    "status": "run",
    "harvest": "run",
    "tax": "tax",
}


def _register(argv: Sequence[str] | None = None) -> None:
    """Import the command modules (each registers itself on `app`).

    Given the arguments, import only the module of the command they name: the broker SDKs and
    the database layer take about a second to import, which `tlh tax report` does not need.
    """
    command = next((a for a in argv if not a.startswith("-")), None) if argv else None
    if command in COMMAND_MODULES:
        importlib.import_module(f"daemon.cli.{COMMAND_MODULES[command]}")
        return
    from daemon.cli import (  # noqa: F401
        backtest,
        config,
        db,
        demo,
        doctor,
        halts,
        imports,
        index,
        lots,
        pause,
        plaid,
        run,
        tax,
    )


def main() -> None:
    """Run the `tlh` command line."""
    _register(sys.argv[1:])
    app()
