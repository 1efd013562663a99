"""Accounts, trading halts and the daemon's key/value state."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.storage.records import Account
from adapters.storage.repository import Repository
from adapters.storage.schema import accounts
from ledger.model import AccountType


async def test_accounts_are_upserted_by_name(repo: Repository) -> None:
    """Upserting an existing account replaces its type, broker and lot method."""
    await repo.upsert_account(Account("ira-1", AccountType.IRA, "alpaca"))
    await repo.upsert_account(Account("taxable-1", AccountType.TAXABLE, "alpaca", "hifo"))
    await repo.upsert_account(Account("ira-1", AccountType.ROTH_IRA, "ib", "specific"))

    assert await repo.accounts() == [
        Account("ira-1", AccountType.ROTH_IRA, "ib", "specific"),
        Account("taxable-1", AccountType.TAXABLE, "alpaca", "hifo"),
    ]


@pytest.mark.parametrize("method", ["max_lt_gain", "max_lt_loss", "max_st_gain", "max_st_loss"])
async def test_an_account_may_declare_a_tax_optimizer_method(repo: Repository, method: str) -> None:
    """IB's Tax Optimizer methods are lot methods the ledger models (ledger/conventions.py),
    so the migrated accounts table stores them (migrations/versions/0002)."""
    await repo.upsert_account(Account("DU1234567", AccountType.TAXABLE, "ib", method))

    assert await repo.accounts() == [Account("DU1234567", AccountType.TAXABLE, "ib", method)]


def test_an_unknown_lot_method_is_refused() -> None:
    """Only the ledger's methods (ledger.conventions.LotMethod) and specific lots exist."""
    with pytest.raises(ValueError, match="lot_method"):
        Account("a", AccountType.TAXABLE, "alpaca", "average")


async def test_halts_are_scoped_by_symbol_and_account(repo: Repository) -> None:
    """A halt applies to one symbol, in one account or all; clearing one leaves the others."""
    everywhere = await repo.set_halt("VTI", "ledger mismatch")
    one_account = await repo.set_halt("VTI", "broker lot mismatch", account="ira-1")
    await repo.set_halt("BND", "stale quotes")

    cleared = await repo.clear_halt("VTI")

    assert cleared == 1
    active = await repo.active_halts()
    assert [(h.symbol, h.account) for h in active] == [("VTI", "ira-1"), ("BND", None)]
    assert active[0] == one_account
    assert everywhere.halt_id not in {h.halt_id for h in active}


async def test_setting_an_active_halt_again_keeps_the_first(repo: Repository) -> None:
    """Re-halting a halted symbol is a no-op that returns the existing halt and its reason."""
    first = await repo.set_halt("VTI", "first reason")

    again = await repo.set_halt("VTI", "second reason")

    assert again == first
    assert len(await repo.active_halts()) == 1


async def test_clearing_a_symbol_that_is_not_halted_clears_nothing(repo: Repository) -> None:
    """clear_halt reports how many halts it cleared: none here."""
    assert await repo.clear_halt("VTI", account="taxable-1") == 0


async def test_state_values_are_stored_and_replaced(repo: Repository) -> None:
    """get_state returns None for a missing key and the latest value after set_state."""
    assert await repo.get_state("last_reconcile") is None

    await repo.set_state("last_reconcile", "2026-03-02T14:30:00+00:00")
    await repo.set_state("last_reconcile", "2026-03-02T15:30:00+00:00")

    assert await repo.get_state("last_reconcile") == "2026-03-02T15:30:00+00:00"


async def test_a_failed_transaction_leaves_no_trace(repo: Repository) -> None:
    """Calls inside `transaction()` commit together or not at all."""

    class Boom(Exception):
        pass

    async def write_then_fail() -> None:
        async with repo.transaction() as tx:
            await tx.set_state("k", "v")
            await tx.set_halt("VTI", "x")
            raise Boom

    with pytest.raises(Boom):
        await write_then_fail()

    assert await repo.get_state("k") is None
    assert await repo.active_halts() == []


async def test_check_constraints_refuse_rows_that_bypass_the_records(engine: AsyncEngine) -> None:
    """The database itself refuses an account type outside the known ones."""
    async with engine.begin() as conn:
        with pytest.raises(IntegrityError):
            await conn.execute(
                accounts.insert().values(
                    account="b", type="brokerage", broker="x", lot_method="fifo"
                )
            )
