"""Loading daily price CSV files: layouts, exact prices, bad rows, splits, errors.

Facts about the shared files are from /work/shared/data/README.md ("the folders" table and
"Known quirks"); those tests skip when the shared folder is absent.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from adapters.prices import (
    MISSING,
    Bar,
    MissingColumnError,
    load_price_dir,
    load_prices,
    load_symbol_file,
    normalize_split_ratio,
    split_ratio_decimal,
    split_share_ratio,
    symbol_from_filename,
)

from .pricekit import BTC, ETH, SP500_5YR, XLE, shared, sp500_daily, write_csv

FIVE_YR_SAMPLE = """\
date,open,high,low,close,volume,Name
2014-06-06,649.9,651.26,644.47,92.2242,12497800,AAPL
2014-06-09,92.7,93.88,91.75,93.7,75414997,AAPL
2014-06-06,41.03,41.48,40.9,41.48,21355700,MSFT
2014-06-09,41.39,41.48,41.02,41.27,15019200,MSFT
2014-06-09,,,,88.55,0,DHR
"""


def _bar(series_days: list[tuple[date, list[Bar]]], day: date, symbol: str) -> Bar:
    for d, bars in series_days:
        if d == day:
            return next(b for b in bars if b.symbol == symbol)
    raise AssertionError(f"no bar for {symbol} on {day}")


def test_five_year_layout_loads_as_is(tmp_path: Path) -> None:
    """The all_stocks_5yr layout (date,open,high,low,close,volume,Name) loads unchanged:
    `Name` is the symbol column, header names are case-insensitive, bars come day by day.
    The sample's AAPL bar of 2014-06-06 (raw open, high and low around a split-adjusted close
    of 92.2242) contradicts itself and is skipped as close_outside_range."""
    path = write_csv(tmp_path / "five.csv.gz", FIVE_YR_SAMPLE, compress=True)
    series = load_prices(path)
    days = list(series.days())
    assert [d for d, _ in days] == [date(2014, 6, 6), date(2014, 6, 9)]
    assert [b.symbol for b in days[1][1]] == ["AAPL", "DHR", "MSFT"]  # sorted by symbol
    aapl = _bar(days, date(2014, 6, 9), "AAPL")
    assert aapl.close == Decimal("93.7")
    assert aapl.open == Decimal("92.7")
    assert aapl.volume == 75414997
    assert aapl.split_coefficient == 1
    assert series.skipped == {"close_outside_range": 1}


def test_five_year_blank_open_is_kept_as_none(tmp_path: Path) -> None:
    """README quirk: 11 sp500_5yr rows have an empty open (e.g. DHR); the close is still a
    price, so the bar is kept with open/high/low None and counted in blank_fields."""
    series = load_prices(write_csv(tmp_path / "five.csv", FIVE_YR_SAMPLE))
    dhr = _bar(list(series.days()), date(2014, 6, 9), "DHR")
    assert (dhr.open, dhr.high, dhr.low) == (None, None, None)
    assert dhr.open_micros == MISSING
    assert dhr.close == Decimal("88.55")
    assert series.blank_fields == {"high": 1, "low": 1, "open": 1}


def test_shared_five_year_file_loads_whole() -> None:
    """data/README.md: 619,040 rows, 505 names, 2013-02-08 -> 2018-02-07; AAPL closes at
    116.15 on 2017-01-03 and 92.2242 on 2014-06-06 (split-adjusted); 11 blank opens. Six
    bars whose close lies more than 1 % outside their own [low, high] (e.g. AOS 2014-05-19:
    close 24.445, high 23.595) are skipped as close_outside_range."""
    series = load_prices(shared(SP500_5YR))
    assert len(series) == 619_040 - 6
    assert len(series.symbols) == 505
    assert (series.first_date, series.last_date) == (date(2013, 2, 8), date(2018, 2, 7))
    assert series.skipped == {"close_outside_range": 6}
    assert series.blank_fields["open"] == 11
    closes = {b.date: b.close for b in series.bars_of("AAPL")}
    assert closes[date(2017, 1, 3)] == Decimal("116.15")
    assert closes[date(2014, 6, 6)] == Decimal("92.2242")


def test_xle_junk_line_is_skipped_and_counted() -> None:
    """README quirk: etf_daily_adjusted/XLE.csv line 2 is `,XLE,XLE,XLE,XLE,XLE`; the row has
    an empty date, so it is skipped as empty_date (6,833 bars remain) with its line number."""
    series = load_symbol_file(shared(XLE))
    assert series.symbols == ("XLE",)
    assert series.skipped == {"empty_date": 1}
    assert len(series) == 6_833
    (example,) = series.examples
    assert (example.line, example.reason, example.text) == (2, "empty_date", ",XLE,XLE,XLE,XLE,XLE")
    first = series.bars_of("XLE")[0]
    assert first.date == date(1998, 12, 22)
    assert first.close == Decimal("11.746052742004395")  # exact beyond 1e-6, from the text


@pytest.mark.parametrize(("path", "bars"), [(BTC, 2_622), (ETH, 2_298)])
def test_crypto_null_rows_are_skipped_and_counted(path: Path, bars: int) -> None:
    """README quirk: both crypto files have four all-`null` rows (2020-04-17, 2020-10-09,
    2020-10-12, 2020-10-13); they are skipped as null_value and never become bars."""
    series = load_symbol_file(shared(path))
    assert series.skipped == {"null_value": 4}
    assert len(series) == bars
    null_days = {date(2020, 4, 17), date(2020, 10, 9), date(2020, 10, 12), date(2020, 10, 13)}
    assert null_days.isdisjoint(series.dates)
    assert [e.text.split(",")[0] for e in series.examples] == [
        "2020-04-17",
        "2020-10-09",
        "2020-10-12",  # the first three examples are kept
    ]
    assert all(e.line > 1 for e in series.examples)


def test_aapl_split_day_coefficient_snaps_to_seven() -> None:
    """README: sp500_1999_2021 AAPL 2014-06-09 closes at 93.70 (raw) with split_coefficient
    7.00000700001, which is the 7:1 split; 2014-06-06 closes at 645.57."""
    series = load_symbol_file(shared(sp500_daily("AAPL")))
    assert series.symbols == ("AAPL",)
    bars = {b.date: b for b in series.bars_of("AAPL")}
    split_day = bars[date(2014, 6, 9)]
    assert split_day.close == Decimal("93.70")
    assert split_day.split_coefficient == Decimal("7.00000700001")
    assert split_day.split_ratio == 7
    assert normalize_split_ratio(split_day.split_coefficient) == Fraction(7)
    assert bars[date(2014, 6, 6)].close == Decimal("645.57")
    splits = {b.date: b.split_ratio for b in bars.values() if b.split_coefficient != 1}
    # README: AAPL 2000-06-21 2:1, 2005-02-28 2:1, 2014-06-09 7:1, 2020-08-31 4:1
    assert splits == {
        date(2000, 6, 21): 2,
        date(2005, 2, 28): 2,
        date(2014, 6, 9): 7,
        date(2020, 8, 31): 4,
    }


@pytest.mark.parametrize(
    ("coef", "ratio"),
    [
        ("7.00000700001", Fraction(7)),  # AAPL 2014-06-09, NFLX 2015-07-15
        ("1.49999925", Fraction(3, 2)),  # ROL 3:2
        ("3.000003", Fraction(3)),  # CI 2007-06-05
        ("1.33333333333", Fraction(4, 3)),
        ("0.142857142857", Fraction(1, 7)),  # MSI 2011-01-04 reverse split
        ("1.0499999475", Fraction(21, 20)),  # 5 % stock dividend
        ("0.1", Fraction(1, 10)),
        ("0.03125", Fraction(1, 32)),  # EQIX 2002-12-31, 1:32
        ("50.0", Fraction(50)),  # BRK.B 2010-01-21
        ("1.238", Fraction(1238, 1000)),  # DOV 2018-05-09 spin-off factor: left as written
        ("1.589", Fraction(1589, 1000)),  # RTX 2020-04-03 spin-off factor: left as written
    ],
)
def test_normalize_split_ratio_snaps_only_simple_ratios(coef: str, ratio: Fraction) -> None:
    """normalize_split_ratio: within 1e-4 relative of a simple p/q (p, q <= 25, or n and 1/n
    up to 100) it snaps; other coefficients (spin-off factors) come back exactly as written.
    Values are the sp500_1999_2021 split_coefficient column."""
    assert normalize_split_ratio(Decimal(coef)) == ratio
    assert normalize_split_ratio(coef) == ratio


@pytest.mark.parametrize(
    ("coef", "ratio"),
    [
        ("7.00000700001", Fraction(7)),
        ("2.1", Fraction(21, 10)),  # PBCT 2007-04-16, a 2.1-for-1 conversion
        ("1.05263157895", Fraction(20, 19)),  # APA 2003-03-10 stock dividend
        ("1.275", None),  # HSIC 2019-02-08 (Covetrus spin-off)
        ("1.238", None),  # DOV 2018-05-09 (Apergy spin-off)
        ("1.4869999", None),  # DD 2019-04-02 (Dow spin-off)
        ("2.52525252525", None),  # ROK 2001-07-02 (Rockwell Collins spin-off)
    ],
)
def test_split_share_ratio_tells_splits_from_spin_off_factors(
    coef: str, ratio: Fraction | None
) -> None:
    """Alpha Vantage writes spin-off price factors in split_coefficient (sp500_1999_2021);
    only a coefficient that snaps to a simple ratio is a share split."""
    assert split_share_ratio(coef) == ratio


@pytest.mark.parametrize("coef", ["0", "-2", "NaN", "Infinity"])
def test_normalize_split_ratio_rejects_nonsense(coef: str) -> None:
    """A split ratio must be a positive finite number."""
    with pytest.raises(ValueError, match="split coefficient"):
        normalize_split_ratio(Decimal(coef))


def test_split_ratio_decimal_refuses_inexact() -> None:
    """4/3 has no exact Decimal, so converting it for the ledger's Decimal ratio must fail."""
    assert split_ratio_decimal(Fraction(3, 2)) == Decimal("1.5")
    with pytest.raises(ValueError, match="no exact Decimal"):
        split_ratio_decimal(Fraction(4, 3))


def test_missing_column_error_names_file_and_column(tmp_path: Path) -> None:
    """A file without a required column fails loudly, naming the file and the column."""
    no_close = write_csv(tmp_path / "prices.csv", "date,symbol,open\n2020-01-02,SPY,1\n")
    with pytest.raises(MissingColumnError) as info:
        load_prices(no_close)
    assert info.value.column == "close"
    assert str(no_close) in str(info.value)
    assert "'close'" in str(info.value)

    no_symbol = write_csv(tmp_path / "SPY.csv", "Date,Close\n2020-01-02,1\n")
    with pytest.raises(MissingColumnError, match=r"SPY\.csv: missing required column 'symbol'"):
        load_prices(no_symbol)
    assert len(load_symbol_file(no_symbol)) == 1  # a per-symbol file takes it from its name

    no_date = write_csv(tmp_path / "x.csv.gz", "when,symbol,close\n1,SPY,1\n", compress=True)
    with pytest.raises(MissingColumnError, match=r"x\.csv\.gz: missing required column 'date'"):
        load_prices(no_date)


BAD_ROWS = """\
Date,Symbol,Open,High,Low,Close,Volume,Split_Coefficient,Dividend_Amount
2020-01-02,AAA,10,11,9,10.5,100,1.0,0.0
,AAA,1,1,1,1,1,1.0,0.0
2020-13-01,AAA,1,1,1,1,1,1.0,0.0
2020-01-03 09:30:00,AAA,1,1,1,1,1,1.0,0.0
2020-01-03,,1,1,1,1,1,1.0,0.0
2020-01-03,AAA,1,1,1,,1,1.0,0.0
2020-01-03,AAA,null,null,null,null,null,null,null
2020-01-03,AAA,1,1,1,NaN,1,1.0,0.0
2020-01-03,AAA,1,1,1,inf,1,1.0,0.0
2020-01-03,AAA,1,1,1,1O.5,1,1.0,0.0
2020-01-03,AAA,1,1,1,0,1,1.0,0.0
2020-01-03,AAA,1,1,1,-3,1,1.0,0.0
2020-01-03,AAA,-1,1,1,1,1,1.0,0.0
2020-01-03,AAA,1,1
2020-01-02,AAA,10,11,9,10.75,100,1.0,0.0

2020-01-03,AAA,10,11,9,10.25,100,2.0,0.5
"""


def test_every_bad_row_reason_is_skipped_and_counted_with_its_line(tmp_path: Path) -> None:
    """Bad rows are skipped, never loaded, and counted per reason with line numbers: empty or
    unparsable date, missing symbol, missing/null/NaN/infinite/unparsable/non-positive close,
    negative price, short row, duplicate (date, symbol), blank line."""
    series = load_prices(write_csv(tmp_path / "bad.csv", BAD_ROWS))
    assert series.skipped == {
        "bad_date": 2,
        "bad_number": 1,
        "blank_line": 1,
        "duplicate": 1,
        "empty_date": 1,
        "missing_close": 1,
        "infinite": 1,
        "missing_symbol": 1,
        "nan": 1,
        "negative_price": 1,
        "nonpositive_close": 2,
        "null_value": 1,
        "short_row": 1,
    }
    lines = {(e.reason, e.line) for e in series.examples}
    assert ("empty_date", 3) in lines
    assert ("duplicate", 16) in lines
    assert ("blank_line", 17) in lines
    bars = series.bars_of("AAA")
    assert [(b.date, b.close) for b in bars] == [
        (date(2020, 1, 2), Decimal("10.5")),  # the first of the duplicates is kept
        (date(2020, 1, 3), Decimal("10.25")),
    ]
    assert bars[1].split_coefficient == Decimal("2.0")
    assert bars[1].dividend == Decimal("0.5")


def test_split_coefficient_zero_or_empty_means_no_split(tmp_path: Path) -> None:
    """Brief: split_coefficient is 1 when the column is absent, empty or 0."""
    text = "date,symbol,close,split_coefficient\n2020-01-02,A,1,0\n2020-01-03,A,1,\n"
    series = load_prices(write_csv(tmp_path / "s.csv", text))
    assert [b.split_coefficient for b in series.bars_of("A")] == [1, 1]
    assert series.skipped == {}


def test_decimal_accessors_are_exact_and_fast_fields_agree(tmp_path: Path) -> None:
    """Decisions use the Decimal accessors, equal to the source text; the int/float fast
    fields are the same value in 1e-6 units (exact) or rounded (more than six decimals)."""
    text = "date,symbol,close,open\n2020-01-02,A,161.059998,0.1\n2020-01-03,A,0.1234567,0.1\n"
    bars = load_prices(write_csv(tmp_path / "e.csv", text)).bars_of("A")
    assert bars[0].close == Decimal("161.059998")
    assert bars[0].close_micros == 161_059_998
    assert bars[0].close_float == 161.059998
    assert bars[1].close == Decimal("0.1234567")  # exact, from the text
    assert bars[1].close_micros == 123_457  # rounded half-even, fast path only
    assert Bar.of("A", date(2020, 1, 3), close=Decimal("0.1234567"), open=Decimal("0.1")) == bars[1]


def test_directory_of_symbol_files_loads_day_by_day(tmp_path: Path) -> None:
    """load_price_dir reads every per-symbol file (symbol from the DA-<SYM>-T-... name) and
    replays them as one market, day by day in ascending order, bars sorted by symbol."""
    head = "timestamp,open,high,low,close,adjusted_close,volume,dividend_amount,split_coefficient\n"
    write_csv(
        tmp_path / "DA-MSFT-T-2021-04-21.csv.gz",
        head + "2020-01-03,2,3,2,2.5,2.5,10,0.0,1.0\n2020-01-02,2,2,2,2,2,10,0.0,1.0\n",
        compress=True,
    )
    write_csv(
        tmp_path / "DA-BRK.B-T-2021-04-21.csv", head + "2020-01-03,300,300,300,300,300,10,0.0,1.0\n"
    )
    write_csv(
        tmp_path / "DA-A-T-2021-04-21.csv.gz",
        head + "2020-01-02,70,70,70,70,70,10,0.51,1.0\n2020-01-06,71,71,71,71,71,10,0.0,1.0\n",
        compress=True,
    )
    (tmp_path / "notes.txt").write_text("not a price file")
    series = load_price_dir(tmp_path)
    got = [(d, [(b.symbol, b.close) for b in bars]) for d, bars in series.days()]
    assert got == [
        (date(2020, 1, 2), [("A", Decimal(70)), ("MSFT", Decimal(2))]),
        (date(2020, 1, 3), [("BRK.B", Decimal(300)), ("MSFT", Decimal("2.5"))]),
        (date(2020, 1, 6), [("A", Decimal(71))]),
    ]
    assert series.bars_of("A")[0].dividend == Decimal("0.51")
    assert list(series.days(["MSFT"]))[1][1][0].close == Decimal("2.5")


def test_a_directory_parsed_by_two_processes_is_the_one_parsed_by_one(tmp_path: Path) -> None:
    """`tlh backtest --prices DIR` parses the files on every core (`workers`): the series is
    the same, day by day and bar by bar, as the one parsed in this process."""
    head = "timestamp,open,high,low,close,adjusted_close,volume,dividend_amount,split_coefficient\n"
    for i in range(9):
        rows = "".join(
            f"2020-01-{d:02d},{i + d},{i + d + 1},{i + d},{i + d}.5,{i + d},10,0.0,{split}\n"
            for d, split in ((d, 2.0 if d == 6 else 1.0) for d in range(2, 8))
        )
        write_csv(tmp_path / f"DA-S{i}-T-2021-04-21.csv.gz", head + rows, compress=True)

    def bars(workers: int) -> list[tuple[date, list[Bar]]]:
        return [(d, list(b)) for d, b in load_price_dir(tmp_path, workers=workers).days()]

    assert bars(2) == bars(1)
    assert len(bars(2)) == 6


def test_a_missing_column_found_by_a_worker_process_names_the_file(tmp_path: Path) -> None:
    """The error of a file parsed in another process reaches the caller whole (file, column,
    header), so the command still names them (exit 2)."""
    write_csv(tmp_path / "a.csv", "date,symbol,close\n2020-01-02,X,1\n")
    bad = write_csv(tmp_path / "b.csv", "date,symbol,open\n2020-01-02,Y,1\n")

    with pytest.raises(MissingColumnError) as info:
        load_price_dir(tmp_path, workers=2)

    assert (info.value.path, info.value.column) == (str(bad), "close")
    assert str(bad) in str(info.value)


def test_same_symbol_in_two_files_keeps_the_first(tmp_path: Path) -> None:
    """A (date, symbol) bar already loaded from an earlier file is skipped as a duplicate."""
    write_csv(tmp_path / "A_long.csv", "date,symbol,close\n2020-01-02,X,1\n2020-01-02,Y,5\n")
    write_csv(tmp_path / "X.csv", "date,close\n2020-01-02,2\n2020-01-03,3\n")
    series = load_price_dir(tmp_path)
    assert [(b.date, b.close) for b in series.bars_of("X")] == [
        (date(2020, 1, 2), Decimal(1)),
        (date(2020, 1, 3), Decimal(3)),
    ]
    assert series.skipped == {"duplicate": 1}


@pytest.mark.parametrize(
    ("name", "symbol"),
    [
        ("DA-AAPL-T-2021-04-21.csv.gz", "AAPL"),
        ("DA-BRK.B-T-2021-04-21.csv", "BRK.B"),
        ("XLE.csv.gz", "XLE"),
        ("BTC-USD.csv.gz", "BTC-USD"),
    ],
)
def test_symbol_from_filename(name: str, symbol: str) -> None:
    """sp500_1999_2021 names files DA-<SYM>-T-2021-04-21.csv; other folders name them <SYM>.csv."""
    assert symbol_from_filename(Path("/x") / name) == symbol


def test_symbols_are_spelled_as_in_trade_files(tmp_path: Path) -> None:
    """Issue #13 C.17: a held symbol spelled in another case in the prices was never priced.
    Prices take the trade files' spelling (`ledger.identity.normalize_symbol`), in long files
    and from file names alike; two spellings of one symbol are one symbol."""
    write_csv(tmp_path / "a_long.csv", "date,symbol,close\n2020-01-02, xyz ,1\n2020-01-03,Xyz,2\n")
    write_csv(tmp_path / "brk.b.csv", "date,close\n2020-01-02,300\n")
    series = load_price_dir(tmp_path)
    assert series.symbols == ("BRK.B", "XYZ")
    assert [b.close for b in series.bars_of("XYZ")] == [1, 2]


@pytest.mark.parametrize(
    ("close", "reason"),
    [
        ("１００", "bad_number"),  # full-width digits: int() and Decimal() take them
        ("1_000", "bad_number"),  # so do underscores
        ("100.５", "bad_number"),
        ("inf", "infinite"),
        ("NaN", "nan"),
    ],
)
def test_a_price_reads_as_every_number_tlh_reads(tmp_path: Path, close: str, reason: str) -> None:
    """Issue #13 C.16: numbers are plain ASCII decimals, finite, in every file tlh reads (the
    rule of `adapters.importers.parse_decimal`, which TRADES.csv follows too); a price file that
    breaks it skips the row under its reason instead of trading on it."""
    text = f"date,symbol,close\n2020-01-02,AAA,10\n2020-01-03,AAA,{close}\n"
    series = load_prices(write_csv(tmp_path / "p.csv", text))
    assert len(series) == 1
    assert series.skipped == {reason: 1}
