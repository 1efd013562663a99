"""Column types that keep money, quantities and instants exact on SQLite and PostgreSQL.

Decimals are stored as text on every backend (`ExactDecimal`). The alternatives fail a design
rule:

* `Numeric` is a binary float on SQLite: ``12345678901234.123456789`` comes back as
  ``12345678901234.123046875``.
* Integer minor units (shares x 10⁹) would keep SQL ``SUM``/``ORDER BY`` exact, but a 64-bit
  integer holds only 18 digits, and the journal must keep values such as
  ``12345678901234.123456789`` (23 digits) as well as ``0.000000001`` shares.
* `Numeric(p, s)` on PostgreSQL with text on SQLite would make the two backends differ: PostgreSQL
  pads ``1.5`` to ``1.500000000`` and silently rounds anything past scale `s`, while SQLite would
  keep it.

Text is exact for any finite `Decimal`, and identical on both backends. The cost: SQL cannot
compare, sort or sum these columns (text sorts lexicographically), so aggregate in Python. That
is how tlh works anyway: the ledger is rebuilt in memory from the journal.

Datetimes are stored in UTC and always come back tz-aware (`UTCDateTime`). SQLite has no
time-zone type, so there the value is written as naive UTC and `tzinfo=UTC` is re-attached on read.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Dialect, String, Text
from sqlalchemy.dialects import sqlite
from sqlalchemy.types import TypeDecorator, TypeEngine

DECIMAL_TEXT_LENGTH = 64
"""Longest decimal text stored; longer values are refused rather than truncated."""


class ExactDecimal(TypeDecorator[Decimal]):
    """Store a `Decimal` exactly, as plain text (``format(value, "f")``), on every backend.

    The value, sign and fractional digits survive the round trip (``Decimal("1.50")`` comes back
    as ``Decimal("1.50")``); a positive exponent is written out (``1E+2`` comes back as ``100``).
    Floats, non-finite values and values whose text exceeds `DECIMAL_TEXT_LENGTH` characters are
    refused with an error.
    """

    impl = String(DECIMAL_TEXT_LENGTH)
    cache_ok = True

    def process_bind_param(self, value: Decimal | int | None, dialect: Dialect) -> str | None:
        """Convert `value` to its exact text form."""
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, Decimal | int):
            raise TypeError(f"ExactDecimal takes Decimal or int, not {type(value).__name__}")
        value = Decimal(value)
        if not value.is_finite():
            raise ValueError(f"ExactDecimal cannot store {value}")
        exponent = int(value.as_tuple().exponent)
        # Rule out huge exponents before formatting: 1E+999999 would format to a megabyte.
        if max(value.adjusted(), -exponent) < DECIMAL_TEXT_LENGTH:
            text = format(value, "f")
            if len(text) <= DECIMAL_TEXT_LENGTH:
                return text
        raise ValueError(f"ExactDecimal: {value} needs more than {DECIMAL_TEXT_LENGTH} characters")

    def process_result_value(self, value: str | None, dialect: Dialect) -> Decimal | None:
        """Convert stored text back to a `Decimal`."""
        return None if value is None else Decimal(value)


class UTCDateTime(TypeDecorator[datetime]):
    """Store a tz-aware datetime as UTC; return it tz-aware in UTC on every backend.

    Naive datetimes are refused: an instant without a zone is ambiguous.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Use a DATETIME column whose text `process_result_value` parses itself on SQLite."""
        if dialect.name == "sqlite":
            return _SQLiteDateTimeText()  # type: ignore[no-untyped-call]
        return self.impl_instance

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert `value` to UTC (naive UTC on SQLite, which has no zone type)."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"UTCDateTime needs a tz-aware datetime, got {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: datetime | str | None, dialect: Dialect
    ) -> datetime | None:
        """Return the stored instant as an aware UTC datetime."""
        if value is None:
            return None
        if isinstance(value, str):
            return _parse_sqlite_utc(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class _SQLiteDateTimeText(sqlite.DATETIME):
    """SQLite's DATETIME (same DDL and bind format) whose results stay text."""

    def result_processor(self, dialect: Dialect, coltype: object) -> None:
        return None


# SQLAlchemy writes SQLite datetimes as "YYYY-MM-DD HH:MM:SS.ffffff". Parsing that text with a
# "+00:00" suffix is about 7x faster than parsing it naive and then calling replace(tzinfo=UTC),
# which matters when the journal's 100k rows are loaded on start.
_SQLITE_TEXT_LENGTH = len("2026-01-02 03:04:05.000006")


def _parse_sqlite_utc(text: str) -> datetime:
    if len(text) == _SQLITE_TEXT_LENGTH:
        return datetime.fromisoformat(text + "+00:00")
    parsed = datetime.fromisoformat(text)  # written by another tool: maybe no micros, an offset
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class JSONText(TypeDecorator[dict[str, Any]]):
    """Store a JSON object as text (sorted keys, compact) on every backend.

    Only JSON types are accepted; convert Decimals with ``str()`` first, so that no value changes
    type silently on the way back.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: dict[str, Any] | None, dialect: Dialect) -> str | None:
        """Serialize `value` to JSON text."""
        if value is None:
            return None
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)

    def process_result_value(self, value: str | None, dialect: Dialect) -> dict[str, Any] | None:
        """Parse stored JSON text."""
        return None if value is None else json.loads(value)
