"""The label values observers show from the start (daemon/observation.py): they must name what
the engine and the order manager count, or a series appears only when it first moves."""

from __future__ import annotations

import re
from pathlib import Path

from adapters.storage.records import IntentStatus
from daemon.engine import PAUSED, EngineStats
from daemon.observation import DECISION_OUTCOMES, ORDER_SIDES, ORDER_STATUSES
from ledger.model import Action

ROOT = Path(__file__).resolve().parents[2]


def skip_reasons() -> list[str]:
    """Return every skip reason the engine can count whose kind is fixed in the code: the
    strategy's skips (strategies/decision.py), the order manager's local denials
    (`OrderManager._risk_denial`, daemon/orders.py) and the pause."""
    decision = (ROOT / "strategies" / "decision.py").read_text()
    orders = (ROOT / "daemon" / "orders.py").read_text()
    denials = orders[orders.index("def _risk_denial") : orders.index("def _submit")]
    found = re.findall(r'Decision\(Action\.SKIP, f?"([^"]+)"', decision)
    found += re.findall(r'return f?"([^"]+)"', denials)
    assert len(found) >= 8, found  # the scan still finds them
    return [*found, PAUSED]


def test_decision_outcomes_cover_every_skip_kind_the_engine_counts() -> None:
    """Issue #10 §1 `tlh_decisions_total{outcome}` ("harvest, and each skip reason"): each
    reason, keyed as `EngineStats.skip` keys it, is one of `DECISION_OUTCOMES`, and each of
    those but "harvest" is a kind some reason has."""
    stats = EngineStats()
    for reason in skip_reasons():
        stats.skip("taxable", "VTI", reason)
    assert set(stats.skips) == set(DECISION_OUTCOMES) - {"harvest"}


def test_order_labels_are_the_intent_statuses_and_the_trade_sides() -> None:
    """Issue #10 §1 `tlh_orders_total{side,status}`: the order manager counts
    `intent.side.value.lower()` and `intent.status.value` (daemon/orders.py)."""
    assert tuple(s.value for s in IntentStatus) == ORDER_STATUSES
    assert tuple(sorted(a.value.lower() for a in Action)) == ORDER_SIDES
