"""Adapters answer the daemon's report queries; they never reach into the engine.

Developers' guide (layers): adapters import only `ledger/` and the daemon's contract modules.
Issue #9 §1 / #13: reconciliation runs in the daemon against the broker port.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The daemon's parts an adapter must never import: it would drive the daemon from inside.
DAEMON_INTERNALS = {
    "daemon.app",
    "daemon.engine",
    "daemon.orders",
    "daemon.reconciliation",
    "daemon.journal_replay",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_no_adapter_imports_the_engine_or_reconciliation() -> None:
    """No module under adapters/ imports the engine, the app, the order manager or the
    reconciliation (not even for type checking)."""
    offenders = sorted(
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / "adapters").rglob("*.py")
        for name in _imports(path)
        if name in DAEMON_INTERNALS
    )
    assert offenders == []


def test_reconciliation_lives_in_the_daemon() -> None:
    """The reconciler is the daemon's, not the Alpaca adapter's."""
    assert not (ROOT / "adapters" / "alpaca" / "reconcile.py").exists()
    assert (ROOT / "daemon" / "reconciliation.py").exists()
