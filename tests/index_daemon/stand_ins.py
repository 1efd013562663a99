"""Stand-ins for the direct index's pure parts, used ONLY while the real one is still a stub.

Each `use_*` checks whether the real function is implemented (calling it on a trivial input
raises `NotImplementedError` only while it is a stub) and, only then, patches in a thin
stand-in, so these tests specify the daemon's wiring now and run against the real target
reader, risk model, ranking, optimiser and outbox as soon as they land. Delete this module
once none of them is a stub.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Collection, Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from daemon.index_settings import IndexSettings
from ledger.model import Action
from strategies.index.book import Book
from strategies.index.rebalance import PlannedTrade, RebalanceParams, RebalancePlan
from strategies.index.risk import RiskModel
from strategies.index.target import IndexTarget, TargetError

DAY = date(2024, 3, 4)


def stubbed(call: Callable[[], object]) -> bool:
    """Return whether `call` hits a stub (raises NotImplementedError)."""
    try:
        call()
    except NotImplementedError:
        return True
    except Exception:  # the real code refusing a trivial input: implemented
        return False
    return False


def _tiny_model() -> RiskModel:
    return RiskModel(("A",), np.zeros((0, 1)), np.array([0.2]), DAY)


def _tiny_target() -> IndexTarget:
    return IndexTarget({"A": Decimal(1)}, {"A": ""}, "test")


def _tracking_error(self: RiskModel, active: Any) -> float:
    a = np.asarray(active, dtype=float)
    return float(np.sqrt(np.sum((self.loadings @ a) ** 2) + np.sum((self.specific * a) ** 2)))


def _rank(
    sold: str,
    weights: Mapping[str, float],
    target: IndexTarget,
    risk: RiskModel,
    *,
    allowed: Collection[str],
    budget: float,
) -> Any:
    from strategies.index.replacements import Ranking

    w = dict(weights)
    moved = w.pop(sold, 0.0)
    scored = []
    for name in allowed:
        after = {**w, name: w.get(name, 0.0) + moved}
        active = np.array(
            [after.get(s, 0.0) - float(target.weights.get(s, 0)) for s in risk.symbols]
        )
        te = risk.tracking_error(active)
        if te <= budget:
            scored.append((name, te))
    scored.sort(key=lambda x: (x[1], x[0]))
    return Ranking(tuple(scored), "" if scored else "tracking_error: above the budget")


class _NoReturns:
    def __init__(self, window_days: int) -> None:
        self.window_days = window_days

    def add_day(self, day: date, closes: Mapping[str, Decimal]) -> None:
        return None

    def apply_split(self, symbol: str, ratio: Decimal) -> None:
        return None

    def matrix(self, symbols: tuple[str, ...]) -> tuple[Any, date | None]:
        return np.zeros((0, len(symbols))), None


def _plan(book: Book, target: IndexTarget, risk: RiskModel, params: RebalanceParams) -> Any:
    """Buy each name's shortfall from the cash above the buffer (no sales)."""
    spend = book.cash - params.cash_buffer * book.value
    trades = []
    value = book.value
    for s, w in sorted(target.weights.items()):
        held = book.holdings[s].quantity * book.prices[s] if s in book.holdings else Decimal(0)
        want = min(w * value - held, spend)
        if want >= params.min_trade_usd:
            qty = (want / book.prices[s]).quantize(Decimal("0.000001"))
            trades.append(PlannedTrade(s, Action.BUY, qty, book.prices[s]))
            spend -= qty * book.prices[s]
    cash = book.cash - sum((t.quantity * t.price for t in trades), Decimal(0))
    return RebalancePlan(tuple(trades), 0.0, 0.0, Decimal(0), cash)


def _load_target(settings: IndexSettings, *, config_dir: Path | None = None) -> IndexTarget:
    """`equal` over the universe, or a `symbol,weight` file (a bad weight: file:line:field)."""
    if settings.weights == "equal":
        n = len(settings.universe)
        if not n:
            raise TargetError('[index] universe: empty: weights = "equal" needs symbols')
        return IndexTarget({s: Decimal(1) / n for s in settings.universe}, {}, "equal")
    path = Path(str(settings.weights))
    raw = {}
    with path.open() as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            try:
                raw[row["symbol"]] = Decimal(row["weight"])
            except ArithmeticError:
                raise ValueError(
                    f"{path}:{line}: weight: not a number: {row['weight']!r}"
                ) from None
    total = sum(raw.values(), Decimal(0))
    return IndexTarget({s: w / total for s, w in raw.items()}, {}, str(path))


def use_stand_ins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Patch in the stand-in of each part that is still a stub (see the module's docstring)."""
    import daemon.cli.index as cli_index
    import daemon.index_manager as manager
    import daemon.index_weights as weights
    from daemon.orders import OrderManager
    from strategies.index import replacements, returns

    if stubbed(lambda: _tiny_model().tracking_error(np.zeros(1))):
        monkeypatch.setattr(RiskModel, "tracking_error", _tracking_error)
    if stubbed(
        lambda: replacements.rank_replacements(
            "A", {}, _tiny_target(), _tiny_model(), allowed=(), budget=0.01
        )
    ):
        monkeypatch.setattr(manager, "rank_replacements", _rank)
    if stubbed(lambda: returns.ReturnsWindow(20).matrix(("A",))):
        monkeypatch.setattr(manager, "ReturnsWindow", _NoReturns)
    book = Book("x", DAY, Decimal(0), {}, {"A": Decimal(1)})
    if stubbed(
        lambda: manager.plan_rebalance(book, _tiny_target(), _tiny_model(), RebalanceParams())
    ):
        monkeypatch.setattr(manager, "plan_rebalance", _plan)
        monkeypatch.setattr(cli_index, "plan_rebalance", _plan)
    if stubbed(lambda: weights.load_target(IndexSettings(weights="equal", universe=("A",)))):
        monkeypatch.setattr(weights, "load_target", _load_target)
    if _place_plan_is_stub():
        monkeypatch.setattr(OrderManager, "place_plan", _place_plan)


def _place_plan_is_stub() -> bool:
    import inspect

    from daemon.orders import OrderManager

    return "raise NotImplementedError" in inspect.getsource(OrderManager.place_plan)


async def _place_plan(self: Any, plan_id: str, account: str, trades: Any) -> list[Any]:
    """Note the plan (a stand-in places nothing)."""
    placed = getattr(self, "placed_plans", [])
    placed.append((plan_id, account, tuple(trades)))
    self.placed_plans = placed
    return []
