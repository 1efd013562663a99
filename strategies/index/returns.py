"""STUB (H2 owns this module; the lead takes H2's version on merge): the daily returns window."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal

import numpy as np
import numpy.typing as npt


class ReturnsWindow:
    """The daily close-to-close returns of the last `window_days` sessions."""

    def __init__(self, window_days: int) -> None:
        self.window_days = window_days

    def add_day(self, day: date, closes: Mapping[str, Decimal]) -> None:
        """Add one session's closes."""
        raise NotImplementedError

    def apply_split(self, symbol: str, ratio: Decimal) -> None:
        """Adjust the closes held of `symbol` for a split of `ratio` new shares per old."""
        raise NotImplementedError

    def matrix(self, symbols: tuple[str, ...]) -> tuple[npt.NDArray[np.float64], date | None]:
        """Return the returns (days × symbols; NaN where none) and the last day's date."""
        raise NotImplementedError
