"""TRADES.csv importer: the columns, values and errors of the `tlh tax report` input contract."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reportkit import HEADER, write

from adapters.importers import InputError, read_csv
from adapters.importers.trades_csv import COLUMNS, _trade, parse_history, parse_trades
from ledger.model import Action, Split, Trade


def test_reads_every_column_exactly(tmp_path: Path) -> None:
    """Contract: one Trade per row, numbers as exact Decimals from the text, seq = line number."""
    path = write(tmp_path, "t.csv", HEADER + "2024-01-02,brk,BUY,VTI,0.1,245.17,0.35,L1\n")
    [trade] = parse_trades(path)
    assert trade.seq == 2
    assert trade.trade_date == date(2024, 1, 2)
    assert trade.at is None
    assert (trade.account, trade.action, trade.symbol) == ("brk", Action.BUY, "VTI")
    assert trade.quantity == Decimal("0.1")
    assert str(trade.quantity) == "0.1"  # from the text, not via float
    assert (trade.price, trade.fees, trade.lot_id) == (Decimal("245.17"), Decimal("0.35"), "L1")
    assert trade.source == f"{path}:2"


def test_bom_crlf_header_case_order_and_extra_columns(tmp_path: Path) -> None:
    """Contract: UTF-8 BOM and CRLF handled; header names case-insensitive and trimmed, any
    column order, extra columns ignored."""
    text = (
        "\ufeff Symbol ,QUANTITY,Date,Action,Price,Fees,Lot_ID,Account,Note\r\n"
        "vti,5,2024-01-02,buy,100,,,brk,first buy\r\n"
    )
    [trade] = parse_trades(write(tmp_path, "t.csv", text))
    assert (trade.symbol, trade.quantity, trade.action) == ("VTI", Decimal(5), Action.BUY)
    assert trade.account == "brk"


def test_empty_account_fees_and_lot_id_take_their_defaults(tmp_path: Path) -> None:
    """Contract: empty account → "default", empty fees → 0, empty lot_id → None (generated)."""
    [trade] = parse_trades(write(tmp_path, "t.csv", HEADER + "2024-01-02,,SELL, brk.b ,1,2,,\n"))
    assert (trade.account, trade.fees, trade.lot_id) == ("default", Decimal(0), None)
    assert trade.symbol == "BRK.B"  # normalize_symbol: trimmed, upper-case
    assert trade.action is Action.SELL


def test_datetime_keeps_the_written_date_and_the_instant(tmp_path: Path) -> None:
    """Contract: the tax date is the date as written; the full timestamp orders same-day rows."""
    text = (
        HEADER
        + "2024-12-31T22:30:00-05:00,brk,BUY,VTI,1,2,0,\n2024-06-01T09:30:00,b,BUY,X,1,2,0,\n"
    )
    late, naive = parse_trades(write(tmp_path, "t.csv", text))
    assert late.trade_date == date(2024, 12, 31)  # 2025-01-01 in UTC, but written as Dec 31
    assert late.at == datetime(2024, 12, 31, 22, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert naive.instant == datetime(2024, 6, 1, 9, 30, tzinfo=UTC)


def test_blank_lines_are_skipped_and_line_numbers_stay_physical(tmp_path: Path) -> None:
    """Error messages name physical lines, so blank lines still count."""
    text = HEADER + "\n2024-01-02,brk,BUY,VTI,1,2,0,\n\n,,,,,,,\n2024-01-03,brk,BUY,VTI,1,2,0,\n"
    assert [t.seq for t in parse_trades(write(tmp_path, "t.csv", text))] == [3, 6]


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        ("2024-01-02,brk,HOLD,VTI,1,2,0,", "action", "must be BUY, SELL or SPLIT (got 'HOLD')"),
        ("2024-01-02,brk,BUY,VTI,-5,2,0,", "quantity", "must be greater than 0 (got '-5')"),
        ("2024-01-02,brk,BUY,VTI,0,2,0,", "quantity", "must be greater than 0 (got '0')"),
        ("2024-01-02,brk,BUY,VTI,,2,0,", "quantity", "must not be empty"),
        ("2024-01-02,brk,BUY,VTI,NaN,2,0,", "quantity", "must be a finite number (got 'NaN')"),
        ("2024-01-02,brk,BUY,VTI,1,Infinity,0,", "price", "must be a finite number"),
        ('2024-01-02,brk,BUY,VTI,"1,000",2,0,', "quantity", "thousands separators are not"),
        ("2024-01-02,brk,BUY,VTI,1_000,2,0,", "quantity", "not a number (got '1_000')"),
        ("2024-01-02,brk,BUY,VTI,1,$2,0,", "price", "not a number (got '$2')"),
        ("2024-01-02,brk,BUY,VTI,1,-2,0,", "price", "must not be negative (got '-2')"),
        ("2024-01-02,brk,BUY,VTI,1,2,-0.5,", "fees", "must not be negative (got '-0.5')"),
        ("01/02/2024,brk,BUY,VTI,1,2,0,", "date", "not a valid date"),
        ("2024-02-30,brk,BUY,VTI,1,2,0,", "date", "not a valid date"),
        ("20240102,brk,BUY,VTI,1,2,0,", "date", "not a valid date"),
        (",brk,BUY,VTI,1,2,0,", "date", "must not be empty"),
        ("2024-01-02,brk,BUY,,1,2,0,", "symbol", "must not be empty"),
        ("2024-01-02,brk,BUY,VTI,1", "price", "missing value"),
    ],
)
def test_each_malformed_value_names_line_and_field(
    tmp_path: Path, row: str, field: str, message: str
) -> None:
    """Contract: a malformed row stops with FILE:LINE: FIELD: message."""
    path = write(tmp_path, "t.csv", HEADER + "2024-01-01,brk,BUY,VTI,1,2,0,\n" + row + "\n")
    with pytest.raises(InputError) as caught:
        parse_trades(path)
    assert (caught.value.line, caught.value.field) == (3, field)
    assert message in caught.value.message
    assert str(caught.value).startswith(f"{path}:3: {field}: ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("date,account,action,symbol,quantity,price\n", "missing required column(s): fees, lot_id"),
        ("2024-01-02,brk,BUY,VTI,1,2,0,\n", "missing header row"),
        (HEADER.replace("fees", "price"), "column 'price' appears twice"),
    ],
)
def test_header_problems_name_line_1(tmp_path: Path, text: str, message: str) -> None:
    """Contract: the header row is required and must name every column."""
    with pytest.raises(InputError) as caught:
        parse_trades(write(tmp_path, "t.csv", text))
    assert (caught.value.line, caught.value.field) == (1, "header")
    assert message in caught.value.message


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    """Contract: the file is UTF-8; bytes that are not are reported with their line."""
    path = tmp_path / "t.csv"
    path.write_bytes(HEADER.encode() + b"2024-01-02,caf\xe9,BUY,VTI,1,2,0,\n")
    with pytest.raises(InputError) as caught:
        parse_trades(path)
    assert caught.value.line == 2
    assert "UTF-8" in caught.value.message


def test_missing_file(tmp_path: Path) -> None:
    """A missing input file is an input error too (exit 2 at the command line)."""
    with pytest.raises(InputError, match="cannot read file"):
        parse_trades(tmp_path / "nope.csv")


# Texts for each column: the first three of each are valid (the importer accepts them).
_FIELD_VARIANTS = {
    "date": ["2024-01-02", " 2024-01-02 ", "2024-01-02T15:30:00Z", "2024-1-2", "", "20240102"],
    "account": ["brk", " brk ", "", "ira"],
    "action": ["BUY", "buy", " Sell ", "SELL", "hold", ""],
    "symbol": ["VTI", " vti ", "brk.b", "", "BTC/USD"],
    "quantity": [
        "1",
        "0.5",
        " 2 ",
        "1e2",
        ".5",
        "3.",
        "0",
        "-1",
        "NaN",
        "1_000",
        "1,000",
        "",
        "1e30",
        "１０",
        "999999999999",
        "1000000000000",
        "0.1234567890123456",
        "1.5000000000000000000",
        "0.1234567890123456789",
        "123456789012.1234567890123456",
        "123456789012.12345678901234567",
    ],
    "price": ["100", "0", " 7 ", "99.999", "-1", "Infinity", "1e400", "0e400", "２"],
    "fees": ["", "0.35", " ", "1E-2", "-0.01", "x"],
    "lot_id": ["", "L1", " L2 "],
}


@st.composite
def _row(draw: st.DrawFn) -> dict[str, str]:
    """A valid row (often the plainest), often with one field replaced by any text of its
    column."""
    plain = draw(st.booleans())
    row = {k: v[0] if plain else draw(st.sampled_from(v[:3])) for k, v in _FIELD_VARIANTS.items()}
    if draw(st.booleans()):
        column = draw(st.sampled_from(list(_FIELD_VARIANTS)))
        row[column] = draw(st.sampled_from(_FIELD_VARIANTS[column]))
    return row


@given(st.lists(_row(), min_size=1, max_size=12))
@settings(max_examples=300, deadline=None)
def test_the_fast_path_reads_every_row_as_the_checked_path_does(
    tmp_path_factory: pytest.TempPathFactory, rows: list[dict[str, str]]
) -> None:
    """`parse_trades` takes a fast path per row; it must accept exactly the rows the checked
    reader (`_trade`, row by row) accepts, build the same trades, and fail on the same row
    with the same message (issue #2 §5), whatever was seen before."""
    columns = list(_FIELD_VARIANTS)
    # Good rows first, so that the fast path knows every date and symbol text when the
    # generated rows come.
    rows = [
        {
            "date": d,
            "account": "brk",
            "action": "BUY",
            "symbol": s,
            "quantity": "1",
            "price": "100",
            "fees": "",
            "lot_id": "",
        }
        for d in ("2024-01-02", " 2024-01-02 ")
        for s in (" vti ", "VTI", "brk.b")
    ] + rows
    path = tmp_path_factory.mktemp("fast") / "t.csv"
    path.write_text(
        ",".join(columns)
        + "\n"
        + "".join(",".join(row[c] for c in columns) + "\n" for row in rows),
        encoding="utf-8",
    )

    def checked() -> list[Trade]:
        return [_trade(path, row) for row in read_csv(path, required=COLUMNS)]

    try:
        expected: list[Trade] | str = checked()
    except InputError as exc:
        expected = str(exc)
    try:
        got: list[Trade] | str = parse_trades(path)
    except InputError as exc:
        got = str(exc)
    assert got == expected


def test_a_split_row_is_a_split_of_the_ratio_in_quantity(tmp_path: Path) -> None:
    """Contract (README "TRADES.csv"): ``SPLIT`` with the ratio as a decimal or ``p/q``, the
    division as the ledger computes it (4/3 has no decimal), every other field but the date
    and symbol empty."""
    text = HEADER + "2024-01-02,,SPLIT,vti,2,,,\n2024-01-03T09:30:00-05:00,,split,C,4/3,,,\n"
    double, four_thirds = parse_history(write(tmp_path, "t.csv", text))
    assert isinstance(double, Split)
    assert isinstance(four_thirds, Split)
    assert (double.symbol, double.ratio, double.seq) == ("VTI", Decimal(2), 2)
    assert four_thirds.ratio == Decimal(4) / Decimal(3)
    assert four_thirds.at == datetime(2024, 1, 3, 9, 30, tzinfo=timezone(timedelta(hours=-5)))


def test_starting_lots_take_no_split_row(tmp_path: Path) -> None:
    """`parse_trades` (starting lots, `tlh backtest --holdings`) reads trades only: a SPLIT
    row is an error naming its line and the action."""
    text = HEADER + "2024-01-02,brk,BUY,VTI,1,2,0,\n2024-01-03,,SPLIT,VTI,2,,,\n"
    with pytest.raises(InputError, match=r"t\.csv:3: action: must be BUY or SELL here"):
        parse_trades(write(tmp_path, "t.csv", text))


@pytest.mark.parametrize("whole", ["55.245679876", "0.000027357894736"])
def test_a_quantity_may_carry_the_ledgers_places_after_a_4_for_3_split(
    tmp_path: Path, whole: str
) -> None:
    """A share count the ledger leaves after a 4:3 split (28 digits: 26 places, or 32 for a
    remainder of a share) is read exactly, so a history written by tlh (`tlh backtest
    --trades-out`) reads back."""
    held = Decimal(whole) * (Decimal(4) / Decimal(3))
    assert len(held.as_tuple().digits) == 28
    text = HEADER + f"2024-01-02,brk,SELL,VTI,{held},2,0,\n"
    [trade] = parse_trades(write(tmp_path, "t.csv", text))
    assert trade.quantity == held
