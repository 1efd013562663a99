"""Reading Alpaca's corporate actions into the split calendar (`adapters.alpaca.splits`).

Alpaca's ``GET /v1/corporate-actions`` lists ``forward_splits`` and ``reverse_splits``, each
with ``new_rate`` shares for ``old_rate`` on the ``ex_date`` (https://docs.alpaca.markets/
reference/corporateactions-1). The calendar answers `adapters.base.SplitCalendar`: the splits
of a span of days, or None for days it has not been told about.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from adapters.alpaca.splits import AnnouncedSplit, SplitBook, parse_splits, ratio_decimal

D = date(2026, 12, 4)


def split(symbol: str, new: object, old: object, ex_date: str = "2026-12-04") -> dict[str, object]:
    """Return one split as Alpaca lists it."""
    return {"symbol": symbol, "new_rate": new, "old_rate": old, "ex_date": ex_date}


def test_forward_and_reverse_splits_are_new_shares_per_old_share() -> None:
    """4 for 1 is 4; 1 for 10 is 1/10; 3 for 2 is 3/2 (exact, from the JSON floats)."""
    raw = {
        "forward_splits": [split("AAPL", 4.0, 1.0), split("BBB", 3, 2, "2026-12-01")],
        "reverse_splits": [split("CCC", 1.0, 10.0, "2026-12-03")],
    }

    splits, bad = parse_splits(raw)

    assert bad == []
    assert splits == [
        AnnouncedSplit("AAPL", D, Fraction(4)),
        AnnouncedSplit("BBB", date(2026, 12, 1), Fraction(3, 2)),
        AnnouncedSplit("CCC", date(2026, 12, 3), Fraction(1, 10)),
    ]


def test_an_unusable_entry_is_left_out_and_said_why() -> None:
    """A zero rate or a missing ex-date is no split to apply; the others still count."""
    raw = {"forward_splits": [split("AAA", 2, 0), {"symbol": "BBB"}, split("CCC", 2, 1)]}

    splits, bad = parse_splits(raw)

    assert splits == [AnnouncedSplit("CCC", D, Fraction(2))]
    assert len(bad) == 2


def test_days_never_fetched_are_unknown_and_fetched_days_without_splits_are_empty() -> None:
    """None means "cannot tell" (the engine keeps holding); [] means "no split there"."""
    book = SplitBook()
    book.record(
        {"VTI", "SCHB"},
        date(2026, 11, 1),
        date(2026, 12, 10),
        [AnnouncedSplit("VTI", D, Fraction(4))],
    )

    assert book.between("VTI", date(2026, 11, 30), date(2026, 12, 8)) == [(D, Fraction(4))]
    assert book.between("SCHB", date(2026, 11, 30), date(2026, 12, 8)) == []
    assert book.between("VTI", date(2026, 12, 8), date(2026, 12, 12)) is None
    assert book.between("ITOT", date(2026, 11, 30), date(2026, 12, 8)) is None


def test_a_later_answer_replaces_the_splits_of_its_days() -> None:
    """A split withdrawn from the calendar is gone after the next fetch of its days."""
    book = SplitBook()
    book.record(
        {"VTI"}, date(2026, 11, 1), date(2026, 12, 10), [AnnouncedSplit("VTI", D, Fraction(4))]
    )
    book.record({"VTI"}, date(2026, 12, 1), date(2026, 12, 17), [])

    assert book.between("VTI", date(2026, 11, 1), date(2026, 12, 17)) == []


@given(st.integers(1, 50), st.integers(1, 50))
def test_the_ledger_ratio_is_the_split_ratio(new: int, old: int) -> None:
    """The Decimal the ledger applies equals new/old exactly when that is a finite decimal,
    else to 28 significant digits."""
    ratio = Fraction(new, old)

    got = ratio_decimal(ratio)

    assert abs(Fraction(got) - ratio) <= ratio * Fraction(1, 10**27)
    if Fraction(Decimal(str(float(ratio)))) == ratio:
        assert Fraction(got) == ratio
