"""`[sim]`: the simulated broker's price replay for `tlh run` with ``broker = "sim"``.

`replay` names a prices CSV (the `tlh backtest` format) that the running daemon plays through
its engine, `speed` trading days per minute; ``"demo"`` (the default) plays the bundled demo
prices and ``"none"`` plays nothing (the simulator then only answers what it is asked).
"""

from __future__ import annotations

from pydantic import Field

from adapters.settings_types import Section, Text


class SimSettings(Section):
    """The price replay of the simulated broker under `tlh run`."""

    replay: Text = "demo"
    speed: float = Field(default=1.0, gt=0, le=100_000, allow_inf_nan=False)
