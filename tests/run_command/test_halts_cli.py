"""`tlh halts list|clear`: the operator's way out of a reconciliation halt."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.storage.engine import create_engine
from adapters.storage.migrate import upgrade_database
from adapters.storage.repository import Repository
from daemon.cli import _register, app


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'h.sqlite'}"
    monkeypatch.setenv("TLH_DATABASE__URL", url)
    monkeypatch.chdir(tmp_path)

    async def halt() -> None:
        db = create_engine(url)
        await upgrade_database(db)
        await Repository(db).set_halt("VTI", "reconcile_mismatch: ledger 10, broker 12")
        await db.dispose()

    asyncio.run(halt())
    _register()
    return url


def test_halts_are_listed_with_their_reason(database: str) -> None:
    """A halted symbol is shown with why it was halted."""
    result = CliRunner().invoke(app, ["halts", "list"])
    assert result.exit_code == 0, result.output
    assert "VTI" in result.output
    assert "reconcile_mismatch" in result.output


def test_clearing_a_halt_lifts_it(database: str) -> None:
    """After `tlh halts clear VTI` the symbol is no longer halted."""
    runner = CliRunner()
    assert runner.invoke(app, ["halts", "clear", "vti"]).exit_code == 0
    assert "No trading halts." in runner.invoke(app, ["halts", "list"]).output


def test_clearing_a_symbol_that_is_not_halted_fails(database: str) -> None:
    """Clearing nothing is an error (exit 1), so a typo is noticed."""
    result = CliRunner().invoke(app, ["halts", "clear", "SCHB"])
    assert result.exit_code == 1
