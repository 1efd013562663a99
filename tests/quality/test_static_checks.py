"""The codebase's own checks, run as part of the suite so CI enforces them."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)


def test_the_pure_domain_type_checks_strictly() -> None:
    """Developers' guide: `mypy --strict` on ledger/ and strategies/."""
    result = run(str(BIN / "mypy"), "--strict", "ledger", "strategies")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean() -> None:
    """Developers' guide: the code is ruff clean with the project's rules."""
    result = run(str(BIN / "ruff"), "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_ledger_imports_nothing_of_ours_and_does_no_io() -> None:
    """ledger/ is the pure domain: no I/O, no asyncio, and it depends on nothing of ours."""
    forbidden = re.compile(
        r"^\s*(import|from) (asyncio|daemon|adapters|strategies|sqlalchemy)\b"
        r"|(?<![\w.])(open|float)\(",
        re.MULTILINE,
    )
    offenders = [
        f"{path.relative_to(ROOT)}: {match.group(0).strip()}"
        for path in (ROOT / "ledger").rglob("*.py")
        for match in forbidden.finditer(path.read_text())
    ]
    assert offenders == []


def test_the_import_rules_hold() -> None:
    """Developers' guide, "The shape of the system": the layering rules are import-linter
    contracts (pyproject.toml), and the code keeps them."""
    result = run(str(BIN / "lint-imports"), "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr


def test_adapters_may_import_no_daemon_module_but_the_contract_modules() -> None:
    """Developers' guide: adapters import `ledger/` and the daemon's contract modules
    (events; the broker port is adapters.base) only. The forbidden list must name every other
    daemon module, so that a new one is covered from its first line."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contract = next(
        c
        for c in config["tool"]["importlinter"]["contracts"]
        if c["source_modules"] == ["adapters"]
        if c["type"] == "forbidden"
    )
    contract_modules = {"daemon.events", "daemon.observation"}
    modules = {
        f"daemon.{p.stem if p.is_file() else p.name}"
        for p in (ROOT / "daemon").iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()
    }
    assert sorted(modules - contract_modules) == sorted(contract["forbidden_modules"])
