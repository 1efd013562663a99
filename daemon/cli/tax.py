"""`tlh tax ...`: tax reports from a trade history."""

from __future__ import annotations

import typer

from daemon.cli import app

tax_app = typer.Typer(help="Tax reports: Form 8949, TXF, JSON.", no_args_is_help=True)
app.add_typer(tax_app, name="tax")
