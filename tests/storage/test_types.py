"""Exact decimals and UTC instants, through each backend."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.storage.records import JournalEntry
from adapters.storage.repository import Repository
from adapters.storage.types import ExactDecimal, UTCDateTime
from ledger.model import Action

EXACT_VALUES = [
    Decimal("12345678901234.123456789"),
    Decimal("0.000000001"),
    Decimal("-0.000000001"),
    Decimal("1E-30"),
    Decimal("1.50"),
    Decimal("0"),
    Decimal("-0"),
    Decimal("-98765432109876543210.123456789012345"),
    Decimal("0.1"),  # not representable as a binary float
]


def _trade(quantity: Decimal, price: Decimal, **kw: object) -> JournalEntry:
    return JournalEntry.trade(
        account="taxable-1",
        action=Action.BUY,
        symbol="VTI",
        quantity=quantity,
        price=price,
        trade_date=date(2026, 3, 2),
        source="test",
        **kw,  # type: ignore[arg-type]
    )


async def test_decimals_round_trip_exactly(repo: Repository) -> None:
    """Huge and tiny decimals come back with the same value, digits and exponent."""
    await repo.append_journal(_trade(v, -v, fees=v) for v in EXACT_VALUES)

    loaded = await repo.load_journal()

    for value, record in zip(EXACT_VALUES, loaded, strict=True):
        for got, want in ((record.quantity, value), (record.price, -value), (record.fees, value)):
            assert isinstance(got, Decimal)
            assert got == want
            assert got.as_tuple() == want.as_tuple()


async def test_decimals_are_stored_as_fixed_point_text(
    repo: Repository, engine: AsyncEngine
) -> None:
    """The column holds the decimal's plain text, not a float that SQL would round."""
    await repo.append_journal([_trade(Decimal("0.000000001"), Decimal("12345678901234.123456789"))])

    async with engine.connect() as conn:
        row = (await conn.execute(text("SELECT quantity, price FROM journal"))).one()

    assert tuple(row) == ("0.000000001", "12345678901234.123456789")


@given(st.decimals(allow_nan=False, allow_infinity=False, places=None))
def test_exact_decimal_type_round_trips_any_finite_decimal(value: Decimal) -> None:
    """Every finite decimal that fits the column survives bind and result processing."""
    column_type = ExactDecimal()
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        try:
            stored = column_type.process_bind_param(value, dialect)
        except ValueError:
            assert len(format(value, "f")) > 64  # refused only when too long, never truncated
            continue
        assert column_type.process_result_value(stored, dialect) == value


@pytest.mark.parametrize("bad", [1.5, "1.5", True, Decimal("NaN"), Decimal("Infinity")])
def test_exact_decimal_refuses_floats_strings_and_non_finite(bad: object) -> None:
    """Only finite Decimal (or int) values are accepted: no silent float conversion."""
    with pytest.raises((TypeError, ValueError)):
        ExactDecimal().process_bind_param(bad, sqlite.dialect())  # type: ignore[arg-type]


def test_exact_decimal_refuses_values_too_long_to_store() -> None:
    """A value longer than the column is refused, not truncated."""
    with pytest.raises(ValueError, match="more than 64 characters"):
        ExactDecimal().process_bind_param(Decimal("1E+70"), sqlite.dialect())


async def test_datetimes_come_back_tz_aware_in_utc(repo: Repository) -> None:
    """An instant in any zone is stored as UTC and read back tz-aware, the same instant."""
    new_york = datetime(2026, 3, 2, 9, 30, 0, 123456, tzinfo=ZoneInfo("America/New_York"))
    await repo.append_journal([_trade(Decimal(1), Decimal(1), occurred_at=new_york)])

    [record] = await repo.load_journal()

    assert record.occurred_at == new_york
    assert record.occurred_at is not None
    assert record.occurred_at.tzinfo is UTC
    assert record.occurred_at.hour == 14
    assert record.recorded_at.tzinfo is UTC


def test_utc_datetime_refuses_naive_values() -> None:
    """A naive datetime names no instant, so it is refused rather than guessed."""
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        with pytest.raises(ValueError, match="tz-aware"):
            UTCDateTime().process_bind_param(datetime(2026, 3, 2, 9, 30), dialect)


async def test_naive_datetime_is_refused_by_the_database_layer(engine: AsyncEngine) -> None:
    """Even a write that bypasses the records is stopped before it reaches the table."""
    from adapters.storage.schema import daemon_state

    async with engine.begin() as conn:
        with pytest.raises(StatementError, match="tz-aware"):
            await conn.execute(
                daemon_state.insert().values(key="k", value="v", updated_at=datetime(2026, 1, 1))
            )


def test_utc_datetime_converts_offsets_to_utc() -> None:
    """A fixed-offset instant is stored as the equal UTC instant."""
    at = datetime(2026, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=-5)))

    stored = UTCDateTime().process_bind_param(at, postgresql.dialect())

    assert stored == datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
