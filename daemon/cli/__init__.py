"""The `tlh` command line: one Typer app with a sub-module per command group."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="tlh",
    help="Self-hosted tax-loss-harvesting daemon with an exact tax-lot ledger.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    # Each command group lives in its own module and registers itself on `app`.
    from daemon.cli import backtest, config, db, demo, doctor, halts, run, tax  # noqa: F401


def main() -> None:
    """Run the `tlh` command line."""
    _register()
    app()
