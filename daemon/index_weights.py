"""STUB (H1 owns this module; the lead takes H1's version on merge): read the index target."""

from __future__ import annotations

from pathlib import Path

from daemon.index_settings import IndexSettings
from strategies.index.target import IndexTarget


class WeightsError(ValueError):
    """A weights file that cannot be read (the message names file:line:field)."""


def load_target(settings: IndexSettings, *, config_dir: Path | None = None) -> IndexTarget:
    """Return the target `[index]` configures; raise `WeightsError` or `TargetError`."""
    raise NotImplementedError
