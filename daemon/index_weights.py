"""Read the index target that `[index]` names: equal weights, a weights CSV, or a fund's holdings.

``weights = "equal"`` weighs every symbol of ``universe`` equally. Any other value is a file
(a relative path is resolved against the configuration file's folder), read as UTF-8 (a
byte-order mark is skipped; a file that is not UTF-8 is read as Windows-1252, which is what
Excel's "CSV (Comma delimited)" writes), gzip-compressed when its name ends in ``.gz``. Its
layout is recognised from its header row:

Plain weights
    The first non-blank row is the header ``symbol,weight[,sector]`` (names matched
    case-insensitively; other columns ignored). Blank lines are skipped. A weight is a plain
    decimal number ≥ 0 on any scale (the weights are normalised to sum to 1); thousands
    separators (``1,234.5``) and a ``%`` suffix (``7.5%`` is 0.075) are allowed.

iShares holdings
    The CSV that ishares.com publishes for a fund (e.g. ``IVV_holdings.csv``): preamble lines
    (``Fund Holdings as of,"Dec 04, 2026"`` ...), a blank line, then the header
    ``Ticker,Name,Sector,Asset Class,Market Value,Weight (%),Notional Value,Quantity,Price,
    Location,Exchange,Currency,FX Rate,Market Currency,Accrual Date`` (recognised by
    ``Ticker`` with ``Weight (%)`` or ``Asset Class``; ``Ticker``, ``Asset Class`` and
    ``Weight (%)`` are required, ``Sector`` is used when present). Only rows whose
    ``Asset Class`` is ``Equity`` are kept: Cash, Money Market, Futures, Cash Collateral and
    Margins and every other class are skipped. The table ends at the first blank line (or a
    line of one cell: the legal footer).

SPDR holdings
    State Street's ``holdings-daily-us-en-spy.xlsx`` saved as CSV: preamble lines
    (``Fund Name:,SPDR® S&P 500® ETF Trust``, ``Ticker Symbol:,SPY``,
    ``Holdings:,As of 04-Dec-2026``), a blank line, then the header
    ``Name,Ticker,Identifier,SEDOL,Weight,Sector,Shares Held,Local Currency`` (recognised by
    ``Ticker`` with ``Identifier``, ``SEDOL`` or ``Shares Held``, or by ``Ticker`` below a
    preamble; ``Ticker`` and ``Weight`` required).
    Skipped: rows whose ticker is empty or ``-``/``--``, whose ticker or identifier starts with
    ``CASH_`` (``CASH_USD``), whose name is ``US DOLLAR``/``CASH``/``USD CASH``, or whose sector
    is ``-`` or ``Cash``. The table ends at the first blank row (Excel writes ``,,,,``) or a
    row of one cell (the footer).

In the holdings files the weight is the fund's percentage; ``-`` as a sector means none. A
ticker with no symbol (``-``) is skipped, its weight spread over the rest.

Symbols go through `ledger.identity.normalize_symbol` (trimmed, upper case); a share class
written with a space, slash or hyphen (``BRK B``, ``BRK/B``, ``BRK-B``) becomes the dotted
spelling tlh uses everywhere (``BRK.B``: the brokers' adapters, the price files). iShares drops
the dot for the S&P 500's two dotted classes (``BRKB``, ``BFB``): those become ``BRK.B`` and
``BF.B``; another dot-less class ticker is kept as written.

``sectors = FILE`` (optional) gives sectors to weights without them: a CSV whose first row has
a ``symbol`` (or ``ticker``) and a ``sector`` column, e.g. the S&P set's
``constituents.csv.gz`` (``Symbol,Name,Sector``). A sector in the weights file wins; the
sectors file fills the rest; a name in neither has sector "" (unknown).

Every problem is a `TargetFileError`: ``FILE:LINE: FIELD: message``.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import structlog

from adapters.importers import InputError, parse_decimal
from daemon.index_settings import IndexSettings
from ledger.identity import normalize_symbol
from strategies.index.target import IndexTarget, TargetError, make_target

log = structlog.get_logger("tlh.index")

EQUAL = "equal"
PLAIN, ISHARES, SPDR = "plain weights", "iShares holdings", "SPDR holdings"
SECTORS = "sectors"
ACCEPTED = (
    "a plain header `symbol,weight[,sector]`; the iShares holdings header "
    "`Ticker,Name,Sector,Asset Class,Market Value,Weight (%),...`; the SPDR holdings header "
    "`Name,Ticker,Identifier,SEDOL,Weight,Sector,Shares Held,Local Currency`"
)
PREAMBLE_ROWS = 40  # how far down a holdings file's table header is looked for
ISHARES_CLASS_TICKERS = {"BRKB": "BRK.B", "BFB": "BF.B"}
SPDR_CASH_NAMES = frozenset({"US DOLLAR", "CASH", "USD CASH"})
_CLASS_SUFFIX = re.compile(r"([A-Z0-9]+)[ /-]([A-Z])")
_TICKER = re.compile(r"[A-Z0-9][A-Z0-9.]{0,14}")
_GROUPED = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?")


class TargetFileError(InputError, TargetError):
    """A weights or sectors file cannot be used; `str()` is ``FILE:LINE: FIELD: message``."""


@dataclass(frozen=True, slots=True)
class WeightsFile:
    """The raw weights of a file, in its order, with the sectors it gives ("" for none)."""

    path: str
    layout: str
    weights: dict[str, Decimal]
    sectors: dict[str, str]


@dataclass(frozen=True, slots=True)
class _Table:
    """A header row: its line, the layout it marks, its columns (lower case → index), and the
    columns as written (for messages)."""

    line: int
    layout: str
    columns: dict[str, int]
    names: list[str]

    @property
    def symbol_column(self) -> str:
        return "symbol" if self.layout == PLAIN else "ticker"

    def name(self, column: str) -> str:
        return self.names[self.columns[column]]


def load_target(settings: IndexSettings, *, config_dir: Path | None = None) -> IndexTarget:
    """Return the target `settings` name (`weights`, `universe`, `sectors`, `exclude`,
    `completion`). Raise `TargetFileError` for a bad file, `TargetError` otherwise (the
    message starts with the ``index.`` key at fault)."""
    target = _load_target(settings, config_dir)
    if target.excluded_unknown:
        # Not an error: an index's members change, and a name excluded ahead stays excluded.
        log.warning(
            "index_exclude_not_in_index",
            key="index.exclude",
            symbols=list(target.excluded_unknown),
            source=target.source,
        )
    return target


def _load_target(settings: IndexSettings, config_dir: Path | None) -> IndexTarget:
    """Return the target `settings` name, as `load_target` does, without its warnings."""
    if settings.weights is None:
        raise TargetError("index.weights: not set: direct indexing is off")
    sectors = read_sectors(_resolve(settings.sectors, config_dir)) if settings.sectors else {}
    exclude = [index_symbol(s) for s in settings.exclude]
    completion = index_symbol(settings.completion) if settings.completion else None
    if settings.weights == EQUAL:
        if not settings.universe:
            raise TargetError(
                'index.universe: empty: weights = "equal" needs the symbols to hold '
                '(universe = ["AAPL", "MSFT", ...]) or a weights file'
            )
        universe = [index_symbol(s) for s in settings.universe]
        twice = sorted({s for s in universe if universe.count(s) > 1})
        if twice:
            raise TargetError(f"index.universe: listed more than once: {', '.join(twice)}")
        try:
            return equal_target(universe, sectors, exclude, completion=completion)
        except TargetError as exc:  # the universe is not empty: all of it is excluded
            raise TargetError(f"index.exclude: {exc}") from None
    path = _resolve(settings.weights, config_dir)
    return weights_target(path, sectors=sectors, exclude=exclude, completion=completion)


def equal_target(
    symbols: Iterable[str],
    sectors: Mapping[str, str],
    exclude: Collection[str] = (),
    *,
    completion: str | None = None,
) -> IndexTarget:
    """Return equal weights over `symbols` (normalised by `index_symbol`) less `exclude`."""
    raw = {index_symbol(s): Decimal(1) for s in symbols}
    excluded = {index_symbol(s) for s in exclude}
    return make_target(
        raw,
        {index_symbol(s): v for s, v in sectors.items()},
        exclude=excluded,
        source=EQUAL,
        completion=index_symbol(completion) if completion else None,
    )


def weights_target(
    path: Path,
    *,
    sectors: Mapping[str, str] | None = None,
    exclude: Collection[str] = (),
    completion: str | None = None,
) -> IndexTarget:
    """Return the target of the weights file `path` (its sectors first, then `sectors`'),
    less `exclude`."""
    file = read_weights(path)
    given = {index_symbol(s): v for s, v in (sectors or {}).items()}
    merged = {s: file.sectors.get(s) or given.get(s, "") for s in file.weights}
    try:
        return make_target(
            file.weights,
            merged,
            exclude={index_symbol(s) for s in exclude},
            source=str(path),
            completion=index_symbol(completion) if completion else None,
        )
    except TargetFileError:
        raise
    except TargetError as exc:
        raise TargetFileError(path, None, None, str(exc)) from None


def read_weights(path: Path) -> WeightsFile:
    """Return the raw weights and sectors of a file of one of the layouts accepted."""
    rows = _rows(path)
    table = _find_table(path, rows)
    weights: dict[str, Decimal] = {}
    sectors: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for line, record in rows:
        if line <= table.line:
            continue
        if not _filled(record):
            if table.layout == PLAIN:
                continue
            break  # a holdings table ends at a blank line; the footer follows
        if table.layout != PLAIN and len(_filled(record)) == 1:
            break  # the footer's text, straight after the table
        entry = _entry(path, table, line, record)
        if entry is None:
            continue
        symbol, weight, sector = entry
        if symbol in first_line:
            raise TargetFileError(
                path,
                line,
                table.name(table.symbol_column),
                f"duplicate symbol {symbol} (first on line {first_line[symbol]})",
            )
        first_line[symbol] = line
        weights[symbol] = weight
        if sector:
            sectors[symbol] = sector
    if not weights:
        raise TargetFileError(
            path, table.line, None, f"no weights: the {table.layout} table has no row to hold"
        )
    return WeightsFile(str(path), table.layout, weights, sectors)


def read_sectors(path: Path) -> dict[str, str]:
    """Return the sector of each symbol of a CSV whose first row names a ``symbol`` (or
    ``ticker``) and a ``sector`` column (other columns ignored; blank lines skipped)."""
    rows = [(line, record) for line, record in _rows(path) if _filled(record)]
    if not rows:
        raise TargetFileError(path, 1, "header", "the file is empty; expected symbol,sector")
    line, header = rows[0]
    table = _Table(line, SECTORS, _columns(path, line, header), [c.strip() for c in header])
    symbol_column = (
        "symbol" if "symbol" in table.columns or "ticker" not in table.columns else "ticker"
    )
    for column in (symbol_column, "sector"):
        if column not in table.columns:
            raise TargetFileError(
                path, line, column, "missing column: a sectors file's header is symbol,sector"
            )
    sectors: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for line, record in rows[1:]:
        _no_extra_fields(path, line, table, record)
        field = table.name(symbol_column)
        symbol = _symbol(path, line, field, _cell(path, line, table, record, symbol_column))
        if symbol in first_line:
            raise TargetFileError(
                path, line, field, f"duplicate symbol {symbol} (first on line {first_line[symbol]})"
            )
        first_line[symbol] = line
        sectors[symbol] = _sector(_cell(path, line, table, record, "sector"))
    return sectors


def index_symbol(text: str) -> str:
    """Return tlh's spelling of a ticker: `normalize_symbol`'s, with a share class dotted
    (``BRK B``, ``BRK/B``, ``BRK-B`` → ``BRK.B``)."""
    symbol = normalize_symbol(text)
    match = _CLASS_SUFFIX.fullmatch(symbol)
    return f"{match[1]}.{match[2]}" if match else symbol


def _resolve(value: str, config_dir: Path | None) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() or config_dir is None else config_dir / path


def _rows(path: Path) -> list[tuple[int, list[str]]]:
    """Return (first physical line, fields) of every CSV record of `path`."""
    text = _text(path)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for record in reader:
            rows.append((start, record))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise TargetFileError(path, start, None, f"malformed CSV: {exc}") from exc
    return rows


def _text(path: Path) -> str:
    try:
        data = path.read_bytes()
        if path.name.lower().endswith(".gz"):
            data = gzip.decompress(data)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise TargetFileError(path, None, None, f"cannot read the file: {reason}") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _find_table(path: Path, rows: list[tuple[int, list[str]]]) -> _Table:
    """Return the header of the table: the first non-blank row of a plain file, or a
    holdings file's header row below its preamble."""
    filled = [(line, record) for line, record in rows if _filled(record)]
    if not filled:
        raise TargetFileError(path, 1, "header", f"the file is empty; accepted: {ACCEPTED}")
    for index, (line, record) in enumerate(filled[:PREAMBLE_ROWS]):
        names = {c.strip().lower() for c in record}
        if "ticker" in names and names & {"weight (%)", "asset class"}:
            return _table(path, line, record, ISHARES)
        if "ticker" in names and names & {"identifier", "sedol", "shares held"}:
            return _table(path, line, record, SPDR)
        if index == 0 and names & {"symbol", "weight"}:
            return _table(path, line, record, PLAIN)  # a plain file has no preamble
        if "ticker" in names:
            return _table(path, line, record, SPDR)
    raise TargetFileError(
        path, filled[0][0], "header", f"unknown layout: no header row found; accepted: {ACCEPTED}"
    )


_REQUIRED = {
    PLAIN: ("symbol", "weight"),
    ISHARES: ("ticker", "asset class", "weight (%)"),
    SPDR: ("ticker", "weight"),
}
_AS_WRITTEN = {
    "ticker": "Ticker",
    "asset class": "Asset Class",
    "weight (%)": "Weight (%)",
    "weight": "Weight",
}


def _table(path: Path, line: int, record: list[str], layout: str) -> _Table:
    columns = _columns(path, line, record)
    for column in _REQUIRED[layout]:
        if column not in columns:
            if layout != PLAIN:
                column = _AS_WRITTEN[column]  # as the fund writes it
            raise TargetFileError(
                path, line, column, f"missing column in the {layout} header; accepted: {ACCEPTED}"
            )
    return _Table(line, layout, columns, [c.strip() for c in record])


def _columns(path: Path, line: int, record: list[str]) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, cell in enumerate(record):
        name = cell.strip().lower()
        if name in columns:
            raise TargetFileError(path, line, cell.strip(), "the column appears twice")
        if name:
            columns[name] = index
    return columns


def _entry(
    path: Path, table: _Table, line: int, record: list[str]
) -> tuple[str, Decimal, str] | None:
    """Return (symbol, weight, sector) of a data row, or None for a row the layout skips."""

    def get(column: str) -> str:
        return _cell(path, line, table, record, column)

    def sector() -> str:
        return _sector(get("sector")) if "sector" in table.columns else ""

    if table.layout == PLAIN:
        _no_extra_fields(path, line, table, record)
        symbol = _symbol(path, line, table.name("symbol"), get("symbol"))
        return symbol, _weight(path, line, table.name("weight"), get("weight")), sector()
    ticker = normalize_symbol(get("ticker"))
    if ticker in {"", "-", "--"}:
        return None
    if table.layout == ISHARES:
        if get("asset class").lower() != "equity":
            return None
        symbol = ISHARES_CLASS_TICKERS.get(ticker) or _symbol(
            path, line, table.name("ticker"), ticker
        )
        return symbol, _weight(path, line, table.name("weight (%)"), get("weight (%)")), sector()
    identifier = get("identifier").upper() if "identifier" in table.columns else ""
    name = get("name").upper() if "name" in table.columns else ""
    if (
        ticker.startswith("CASH_")
        or identifier.startswith("CASH_")
        or name in SPDR_CASH_NAMES
        or ("sector" in table.columns and get("sector").lower() in {"-", "--", "cash"})
    ):
        return None
    symbol = _symbol(path, line, table.name("ticker"), ticker)
    return symbol, _weight(path, line, table.name("weight"), get("weight")), sector()


def _cell(path: Path, line: int, table: _Table, record: list[str], column: str) -> str:
    index = table.columns[column]
    if index >= len(record):
        raise TargetFileError(
            path, line, table.names[index], f"missing value: the row has {len(record)} fields"
        )
    return record[index].strip()


def _no_extra_fields(path: Path, line: int, table: _Table, record: list[str]) -> None:
    if _filled(record[len(table.names) :]):
        raise TargetFileError(
            path,
            line,
            None,
            f"the row has {len(record)} fields but the header {len(table.names)} "
            "(a decimal comma? write 1.5, or quote the number)",
        )


def _symbol(path: Path, line: int, field: str, text: str) -> str:
    symbol = index_symbol(text)
    if not symbol:
        raise TargetFileError(path, line, field, "missing symbol")
    if not _TICKER.fullmatch(symbol):
        raise TargetFileError(path, line, field, f"not a ticker symbol: {text.strip()!r}")
    return symbol


def _weight(path: Path, line: int, field: str, text: str) -> Decimal:
    value = text.strip()
    percent = value.endswith("%")
    if percent:
        value = value[:-1].strip()
    if _GROUPED.fullmatch(value):
        value = value.replace(",", "")
    try:
        weight = parse_decimal(value)
    except ValueError as exc:
        raise TargetFileError(path, line, field, f"bad weight: {exc}") from None
    if weight < 0:
        raise TargetFileError(path, line, field, f"negative weight: {text.strip()}")
    return weight / 100 if percent else weight


def _sector(text: str) -> str:
    sector = text.strip()
    return "" if sector in {"-", "--"} else sector


def _filled(record: list[str]) -> list[str]:
    """Return the non-blank cells of `record` (a non-breaking space counts as blank)."""
    return [c for c in record if c.strip()]
