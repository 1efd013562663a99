"""`tlh pause`, `tlh resume`: the runtime kill switch from the command line (issue #10 §4).

The state is written through the daemon's own `daemon.pause.PauseSwitch` (by "cli"); then the
command waits up to `daemon.pause.ACK_SECONDS` for a running daemon to apply it (the daemon
re-reads it every `daemon.pause.REFRESH_SECONDS`) and says whether one did. Either way the
state is stored: a daemon started later starts in it. Exit 0 either way; a bad configuration
or a database that cannot be opened is one line, exit 2.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from adapters.storage.engine import create_engine
from adapters.storage.migrate import upgrade_database
from adapters.storage.repository import Repository
from daemon.brokers import broker_options
from daemon.cli import app
from daemon.cli.config import ConfigOption, load_settings_or_exit
from daemon.clock import LiveClock
from daemon.observation import PauseState
from daemon.pause import PauseSwitch, details
from daemon.settings import Settings


@app.command("pause")
def pause(
    reason: Annotated[
        str, typer.Option(help="Why, shown by `tlh status` and in the daemon's log.")
    ] = "",
    config: ConfigOption = None,
) -> None:
    """Stop new harvests and swap backs now, without a restart (until `tlh resume`).

    A replacement buy completing a sale already filled still goes out; `[risk] kill_switch`
    in the configuration is the hard stop of every order.
    """
    settings = load_settings_or_exit(config)
    was, state, acked = asyncio.run(_switch(settings, paused=True, reason=reason))
    if was.paused:
        typer.echo(f"already paused{details(state)}")
    if acked:
        typer.echo("paused: the running daemon stopped new orders")
    else:
        typer.echo("paused: no running daemon acknowledged; it will start paused")


@app.command("resume")
def resume(config: ConfigOption = None) -> None:
    """Let the daemon start new orders again, as far as the configuration allows."""
    settings = load_settings_or_exit(config)
    was, _state, acked = asyncio.run(_switch(settings, paused=False))
    if not was.paused:
        typer.echo("already resumed: new orders were not paused")
    if acked:
        typer.echo("resumed: the running daemon takes new orders again")
    else:
        typer.echo("resumed: no running daemon acknowledged; it will start with new orders")
    if (held := _held_by_config(settings)) is not None:
        typer.echo(f"note: no order leaves all the same: {held}")


async def _switch(
    settings: Settings, *, paused: bool, reason: str = ""
) -> tuple[PauseState, PauseState, bool]:
    """Set the stored state; return the state before, the state now and whether a running
    daemon acknowledged it."""
    db = create_engine(settings.database.url)
    try:
        await upgrade_database(db)
        clock = LiveClock()
        switch = PauseSwitch(Repository(db, clock=clock.now), clock.now)
        was = await switch.load()
        state = await switch.set(paused, by="cli", reason=reason)
        return was, state, await switch.acknowledged()
    finally:
        await db.dispose()


def _held_by_config(settings: Settings) -> str | None:
    """Return what in the configuration keeps every order from leaving, if anything."""
    if settings.risk.kill_switch:
        return "[risk] kill_switch is on"
    if settings.broker != "sim" and not broker_options(settings).orders_allowed:
        live = "enabled" if settings.live_trading_enabled else "disabled"
        return f"mode {settings.mode} with live trading {live} places no orders"
    return None
