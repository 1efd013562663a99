"""`[sim]`: the simulated broker's price replay for `tlh run` with ``broker = "sim"``.

`replay` names a prices CSV (the `tlh backtest` format) that the running daemon plays through
its engine, `speed` trading days per minute; ``"demo"`` (the default) plays the bundled demo
prices and ``"none"`` plays nothing (the simulator then only answers what it is asked).

`accounts` names the accounts the simulator trades as its own from their first import (`tlh
import` into an empty journal): the simulator reports no account, so an account it has not
traded yet is otherwise taken for an outside one, watched and never traded.
"""

from __future__ import annotations

from pydantic import Field

from adapters.settings_types import Section, Text


class SimSettings(Section):
    """The price replay of the simulated broker under `tlh run`."""

    replay: Text = "demo"
    speed: float = Field(default=1.0, gt=0, le=100_000, allow_inf_nan=False)
    accounts: tuple[Text, ...] = ()
