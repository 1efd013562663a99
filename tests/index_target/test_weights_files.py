"""Reading a weights file: plain CSV, iShares and SPDR holdings; every bad row named.

Issue #12 §1: "a CSV `symbol,weight[,sector]` (weights need not sum to 1: normalise; a bad row
stops with file:line:field, exit 2) ... Also read the holdings CSV that iShares and SPDR publish
for their funds (header rows before the table, `Ticker`, `Weight (%)`, `Sector`, cash and
futures rows skipped)". The fixtures under `data/` follow the layouts ishares.com
(IVV_holdings.csv) and State Street (holdings-daily-us-en-spy.xlsx saved as CSV) publish.
"""

from __future__ import annotations

import gzip
from decimal import Decimal
from pathlib import Path

import pytest

from daemon.index_weights import (
    ISHARES,
    PLAIN,
    SPDR,
    TargetFileError,
    index_symbol,
    read_sectors,
    read_weights,
    weights_target,
)

D = Decimal
DATA = Path(__file__).parent / "data"
IVV = DATA / "IVV_holdings.csv"
SPY = DATA / "holdings-daily-us-en-spy.csv"
PLAIN_FILE = DATA / "weights.csv"


def write(tmp_path: Path, text: str, name: str = "weights.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def test_ishares_holdings_keep_the_equity_rows() -> None:
    """IVV_holdings.csv: the preamble, the money market, cash, futures and margin rows and
    the legal footer are skipped; the equities keep their `Weight (%)` and `Sector`."""
    file = read_weights(IVV)
    assert file.layout == ISHARES
    assert file.weights == {
        "NVDA": D("7.62"),
        "AAPL": D("6.61"),
        "MSFT": D("6.07"),
        "BRK.B": D("1.62"),
        "JPM": D("1.50"),
        "XOM": D("0.88"),
        "BF.B": D("0.01"),
    }
    assert file.sectors["XOM"] == "Energy"
    assert file.sectors["BRK.B"] == "Financials"


def test_ishares_dotless_share_classes_get_tlh_s_spelling() -> None:
    """iShares writes Berkshire's and Brown-Forman's class B as BRKB and BFB; tlh (the price
    files, the brokers' adapters) spells them BRK.B and BF.B."""
    assert {"BRK.B", "BF.B"} <= set(read_weights(IVV).weights)


def test_spdr_holdings_skip_cash_and_the_footer() -> None:
    """SPY's holdings saved from Excel (Windows-1252, CRLF, padded rows): US DOLLAR/CASH_USD
    and the money market line (ticker `-`) are skipped; DOLLAR GENERAL is a stock."""
    file = read_weights(SPY)
    assert file.layout == SPDR
    assert list(file.weights) == ["NVDA", "AAPL", "MSFT", "BRK.B", "JPM", "DG"]
    assert file.weights["DG"] == D("0.045210")
    assert file.sectors["DG"] == "Consumer Discretionary"


def test_holdings_without_their_preamble_are_still_recognised(tmp_path: Path) -> None:
    """A SPDR table whose preamble was cut off starts with its own header (which has a
    `Weight` column, like the plain layout's): it is read as SPDR holdings."""
    lines = SPY.read_text(encoding="cp1252").splitlines()[4:]
    path = write(tmp_path, "\n".join(lines) + "\n", "spy.csv")
    assert read_weights(path).layout == SPDR
    assert read_weights(path).weights == read_weights(SPY).weights


def test_plain_weights_in_percent_with_sectors() -> None:
    """`symbol,weight,sector` with `%` weights and a blank line; BRK B is BRK.B."""
    file = read_weights(PLAIN_FILE)
    assert file.layout == PLAIN
    assert file.weights == {
        "AAPL": D("0.065"),
        "MSFT": D("0.06"),
        "BRK.B": D("0.015"),
        "XOM": D("0.01"),
        "JPM": D("0.015"),
    }
    assert file.sectors["XOM"] == "Energy"


def test_a_holdings_file_becomes_a_target_summing_to_one() -> None:
    """The fund's percentages (about 100 in all, less the cash) are normalised to 1."""
    target = weights_target(IVV)
    assert sum(target.weights.values()) == 1
    assert target.source == str(IVV)
    assert target.weights["NVDA"] == max(target.weights.values())


def test_exclude_spreads_a_holdings_weight_over_the_rest() -> None:
    """Excluding NVDA from SPY's holdings: the rest keep their proportions."""
    target = weights_target(SPY, exclude=["nvda"])
    assert "NVDA" not in target.weights
    ratio = target.weights["AAPL"] / target.weights["MSFT"]
    assert abs(ratio - D("6.598712") / D("6.061123")) < D("1e-12")


def test_a_sectors_file_fills_the_sectors_a_file_lacks(tmp_path: Path) -> None:
    """Weights without sectors take them from `sectors`; a file's own sector wins."""
    path = write(tmp_path, "symbol,weight\nAAPL,2\nXOM,1\n")
    target = weights_target(path, sectors={"AAPL": "Information Technology"})
    assert target.sectors == {"AAPL": "Information Technology", "XOM": ""}
    own = weights_target(PLAIN_FILE, sectors={"XOM": "Oil"})
    assert own.sector("XOM") == "Energy"


def test_a_plain_header_is_matched_case_insensitively_and_extra_columns_ignored(
    tmp_path: Path,
) -> None:
    """`SYMBOL,Name,WEIGHT`: the header names match in any case; `Name` is ignored."""
    path = write(tmp_path, "SYMBOL,Name,WEIGHT\naapl,Apple Inc.,3\nmsft,Microsoft,1\n")
    assert read_weights(path).weights == {"AAPL": D(3), "MSFT": D(1)}


def test_a_gzip_weights_file_is_read_by_its_suffix(tmp_path: Path) -> None:
    """`weights.csv.gz` is decompressed."""
    path = tmp_path / "weights.csv.gz"
    path.write_bytes(gzip.compress(b"symbol,weight\nAAPL,1\n", mtime=0))
    assert read_weights(path).weights == {"AAPL": D(1)}


def test_thousands_separators_in_a_weight(tmp_path: Path) -> None:
    """Market values as weights (`"1,234,567.5"`) are read; the scale does not matter."""
    path = write(tmp_path, 'symbol,weight\nAAPL,"3,000,000"\nMSFT,"1,000,000.0"\n')
    assert weights_target(path).weights == {"AAPL": D("0.75"), "MSFT": D("0.25")}


@pytest.mark.parametrize(
    ("text", "spelling"),
    [("brk b", "BRK.B"), ("BRK/B", "BRK.B"), ("BRK-B", "BRK.B"), (" brk.b ", "BRK.B")],
)
def test_share_classes_take_the_dotted_spelling(text: str, spelling: str) -> None:
    """IB writes BRK B, others BRK/B or BRK-B; tlh's symbol is BRK.B."""
    assert index_symbol(text) == spelling


def test_the_sp500_constituents_list_reads_as_sectors(tmp_path: Path) -> None:
    """The S&P set's constituents.csv.gz layout, `Symbol,Name,Sector`, gzip-compressed."""
    text = "Symbol,Name,Sector\nMMM,3M Company,Industrials\nBRK.B,Berkshire Hathaway,Financials\n"
    path = tmp_path / "constituents.csv.gz"
    path.write_bytes(gzip.compress(text.encode(), mtime=0))
    assert read_sectors(path) == {"MMM": "Industrials", "BRK.B": "Financials"}


BAD_FILES: list[tuple[str, str]] = [
    ("symbol,weight\nAAPL,abc\n", "weights.csv:2: weight: bad weight: not a number"),
    ("symbol,weight\nAAPL,1\nMSFT,-2\n", "weights.csv:3: weight: negative weight: -2"),
    ("symbol,weight\nAAPL,1\nMSFT,NaN\n", "weights.csv:3: weight: bad weight: must be a finite"),
    ("symbol,weight\nAAPL,\n", "weights.csv:2: weight: bad weight: must not be empty"),
    ("symbol,weight\nAAPL,1,5\n", "weights.csv:2: the row has 3 fields but the header 2"),
    ("symbol,weight\nAAPL,1\n\naapl,2\n", "weights.csv:4: symbol: duplicate symbol AAPL (first"),
    ("symbol,weight\n,1\n", "weights.csv:2: symbol: missing symbol"),
    ("symbol,weight\nApple Inc,1\n", "weights.csv:2: symbol: not a ticker symbol"),
    ("symbol,weight\nAAPL\n", "weights.csv:2: weight: missing value"),
    ("symbol,sector\nAAPL,Tech\n", "weights.csv:1: weight: missing column"),
    ("weight,sector\n1,Tech\n", "weights.csv:1: symbol: missing column"),
    ("sym,wt\nAAPL,1\n", "weights.csv:1: header: unknown layout"),
    ("ticker,weight\nAAPL,1\n", "weights.csv:1: symbol: missing column"),
    ("AAPL,1\nMSFT,2\n", "weights.csv:1: header: unknown layout"),
    ("", "weights.csv:1: header: the file is empty"),
    ("symbol,weight\n", "weights.csv:1: no weights"),
    ("symbol,weight,symbol\nA,1,B\n", "weights.csv:1: symbol: the column appears twice"),
    ('symbol,weight\n"AAPL,1\n', "weights.csv:2: malformed CSV"),
]


@pytest.mark.parametrize(("text", "message"), BAD_FILES, ids=[m for _, m in BAD_FILES])
def test_a_bad_plain_file_names_file_line_and_field(
    tmp_path: Path, text: str, message: str
) -> None:
    """Issue #12 §1, "a bad row stops with file:line:field"."""
    path = write(tmp_path, text)
    with pytest.raises(TargetFileError) as caught:
        read_weights(path)
    assert str(caught.value).startswith(str(tmp_path / message.split(":")[0]))
    assert message in str(caught.value)


def test_an_unknown_layout_says_which_headers_are_accepted(tmp_path: Path) -> None:
    """The message lists the plain, iShares and SPDR headers."""
    with pytest.raises(TargetFileError) as caught:
        read_weights(write(tmp_path, "Date,Close\n2026-12-04,1\n"))
    assert "symbol,weight[,sector]" in str(caught.value)
    assert "Weight (%)" in str(caught.value)
    assert "Shares Held" in str(caught.value)


def _ishares_with(tmp_path: Path, header: str, row: str) -> Path:
    preamble = 'iShares Core S&P 500 ETF\nFund Holdings as of,"Dec 04, 2026"\n\xa0\n'
    return write(tmp_path, preamble + header + "\n" + row + "\n", "IVV_holdings.csv")


IVV_HEADER = (
    "Ticker,Name,Sector,Asset Class,Market Value,Weight (%),Notional Value,Quantity,Price,"
    "Location,Exchange,Currency,FX Rate,Market Currency,Accrual Date"
)


def test_a_bad_ishares_weight_names_the_weight_column(tmp_path: Path) -> None:
    """Line 5 (three preamble lines and the header above): `Weight (%)` as iShares writes it."""
    row = '"AAPL","APPLE INC","Information Technology","Equity","1.00","n/a","1.00","1","1",'
    path = _ishares_with(tmp_path, IVV_HEADER, row + '"United States","NASDAQ","USD","1","USD","-"')
    with pytest.raises(TargetFileError, match=r"IVV_holdings.csv:5: Weight \(%\): bad weight"):
        read_weights(path)


def test_an_ishares_header_without_asset_class_names_it(tmp_path: Path) -> None:
    """The iShares header must have `Asset Class`: without it cash cannot be told apart."""
    header = "Ticker,Name,Sector,Market Value,Weight (%)"
    path = _ishares_with(tmp_path, header, "AAPL,APPLE INC,IT,1.00,6.5")
    with pytest.raises(TargetFileError, match=r"IVV_holdings.csv:4: Asset Class: missing column"):
        read_weights(path)


def test_a_duplicate_spdr_ticker_names_both_lines(tmp_path: Path) -> None:
    """A ticker twice in the SPDR table: the second line, the `Ticker` column, the first line."""
    head = "Fund Name:,SPDR S&P 500 ETF Trust\nTicker Symbol:,SPY\n,\n"
    header = "Name,Ticker,Identifier,SEDOL,Weight,Sector,Shares Held,Local Currency\n"
    row = "APPLE INC,AAPL,037833100,2046251,6.59,Information Technology,1,USD\n"
    path = write(tmp_path, head + header + row + row, "spy.csv")
    with pytest.raises(
        TargetFileError, match=r"spy.csv:6: Ticker: duplicate symbol AAPL \(first on line 5\)"
    ):
        read_weights(path)


def test_a_holdings_file_of_cash_alone_has_no_weights(tmp_path: Path) -> None:
    """Only cash and futures rows: nothing to hold, said with the header's line."""
    row = '"USD","USD CASH","Cash and/or Derivatives","Cash","1.00","100.00"'
    header = "Ticker,Name,Sector,Asset Class,Market Value,Weight (%)"
    with pytest.raises(TargetFileError, match=r"IVV_holdings.csv:4: no weights"):
        read_weights(_ishares_with(tmp_path, header, row))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    """A weights file that is not there: its path and the reason."""
    with pytest.raises(TargetFileError, match=r"nope.csv: cannot read the file"):
        read_weights(tmp_path / "nope.csv")


def test_a_sectors_file_without_a_sector_column_names_it(tmp_path: Path) -> None:
    """`sectors = FILE` needs symbol,sector."""
    with pytest.raises(TargetFileError, match=r"sectors.csv:1: sector: missing column"):
        read_sectors(write(tmp_path, "Symbol,Name\nAAPL,Apple\n", "sectors.csv"))


def test_every_name_excluded_is_an_error_naming_the_file(tmp_path: Path) -> None:
    """Issue #12 §8: nothing left to hold is a clear error."""
    path = write(tmp_path, "symbol,weight\nAAPL,1\n")
    with pytest.raises(TargetFileError, match=r"weights.csv: every name is excluded"):
        weights_target(path, exclude=["AAPL"])
