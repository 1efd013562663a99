"""STUB (H2 owns this module; the lead takes H2's version on merge): replacement ranking."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from strategies.index.risk import RiskModel
from strategies.index.target import IndexTarget


@dataclass(frozen=True, slots=True)
class Ranking:
    """The allowed replacements, best first, with the tracking error after each; `reason`
    says why the list is empty (or short)."""

    candidates: tuple[tuple[str, float], ...]
    reason: str = ""


def rank_replacements(
    sold: str,
    weights: Mapping[str, float],
    target: IndexTarget,
    risk: RiskModel,
    *,
    allowed: Collection[str],
    budget: float,
) -> Ranking:
    """Rank the `allowed` names that may take `sold`'s weight, lowest tracking error first."""
    raise NotImplementedError
