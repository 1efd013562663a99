"""Load daily price CSV files (plain or gzip) into a `PriceSeries`.

Two layouts:

- long format, one row per (date, symbol): `load_prices`. The header must name a date column
  (``date`` or ``timestamp``), a symbol column (``symbol``, ``name`` or ``ticker``) and
  ``close``; ``open``, ``high``, ``low``, ``volume``, ``split_coefficient`` and
  ``dividend_amount`` are optional; header names are case-insensitive and other columns are
  ignored. ``sp500_5yr/all_stocks_5yr.csv`` (``date,open,high,low,close,volume,Name``) loads
  as is.
- one file per symbol (no symbol column): `load_symbol_file`, symbol from the argument or the
  file name (``DA-AAPL-T-2021-04-21.csv.gz`` -> ``AAPL``, ``XLE.csv.gz`` -> ``XLE``), and
  `load_price_dir` for a directory of them (``sp500_1999_2021/daily_adjusted``).

Symbols are spelled as in trade files (`ledger.identity.normalize_symbol`: stripped, upper
case), so ``aapl`` in a price file prices the ``AAPL`` of the holdings.

Dates must be ISO ``YYYY-MM-DD``: these are daily bars; intraday timestamps are rejected as
``bad_date`` rather than silently merged into one day.

Bad rows are skipped, never loaded, and counted per reason (``PriceSeries.skipped``), with the
first few of each reason kept with their line numbers (``PriceSeries.examples``):

``blank_line``, ``short_row`` (fewer fields than the header needs), ``empty_date`` (e.g. the
junk line ``,XLE,XLE,XLE,XLE,XLE`` of ``etf_daily_adjusted/XLE.csv``), ``bad_date``,
``missing_symbol``, ``missing_close``, ``null_value`` (a numeric field reading ``null``, as in
the crypto files), ``nan`` (NaN or infinity), ``bad_number``, ``nonpositive_close``,
``negative_price``, ``close_outside_range`` (a close more than 1 % of itself outside the bar's
own [low, high]: the bar contradicts itself, and no field of it can be trusted) and
``duplicate`` (a second bar for the same symbol and date; the first is kept, and the backtest's
quote filter judges it as any other quote, so a wrong first row is a lone spike).

A blank (or zero) optional price is not a bad row: the bar keeps its close and reports ``None``
for that field (``sp500_5yr`` has 11 rows with an empty ``open``); a blank volume loads as 0.
Such rows are counted in ``PriceSeries.blank_fields``. Implausible moves between bars are not
the loader's business: the backtest judges each bar with the live quote filter.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from operator import itemgetter
from pathlib import Path
from typing import IO, Protocol

from adapters.importers import parse_decimal
from adapters.prices.model import MISSING, ONE, PriceSeries, SkipExample
from ledger.identity import normalize_symbol

DATE_COLUMNS = ("date", "timestamp")
SYMBOL_COLUMNS = ("symbol", "name", "ticker")
EXAMPLES_PER_REASON = 3
_EXAMPLE_CHARS = 200
_NULLS = frozenset({"null", "none"})
_TRIVIAL_SPLIT = frozenset({"1.0", "1", "", "0", "0.0"})
_TRIVIAL_DIVIDEND = frozenset({"0.0", "0", "", "0.00"})
_PAD = ("000000", "00000", "0000", "000", "00", "0", "")
_DA_NAME = re.compile(r"^DA-(?P<sym>.+)-T-\d{4}-\d{2}-\d{2}$")
_INT64 = 2**63


class MissingColumnError(ValueError):
    """A price file lacks a required column."""

    def __init__(self, path: Path | str, column: str, header: Sequence[str]) -> None:
        self.path = str(path)
        self.column = column
        self.header = tuple(header)
        aliases = {"date": DATE_COLUMNS, "symbol": SYMBOL_COLUMNS}.get(column, (column,))
        accepted = " or ".join(repr(a) for a in aliases)
        super().__init__(
            f"{self.path}: missing required column {column!r} (accepted names: {accepted}); "
            f"header is {list(self.header)}"
        )

    def __reduce__(self) -> tuple[type[MissingColumnError], tuple[str, str, tuple[str, ...]]]:
        """Rebuild from the path, column and header (a file parsed in a worker process)."""
        return type(self), (self.path, self.column, self.header)


class _Bad(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _fast_micros(text: str) -> int:
    """Parse a plain decimal with at most 6 decimals to 1e-6 units; ValueError otherwise."""
    if not text.isascii() or "_" in text:  # int() takes "１００" and "1_000": parse_decimal doesn't
        raise ValueError(text)
    i = text.find(".")
    if i < 0:
        return int(text) * 1_000_000
    n = len(text) - i - 1
    if n > 6:
        raise ValueError(text)
    return int(text[:i] + text[i + 1 :] + _PAD[n])


class _MicrosMemo(dict[str, int]):
    """Per-file memo of `_fast_micros`: prices repeat, and a dict hit is ~10x cheaper."""

    def __missing__(self, text: str) -> int:
        value = self[text] = _fast_micros(text)
        return value


def _parse_decimal(text: str) -> Decimal | None:
    """Parse one numeric field: None when blank; raise `_Bad` with the reason otherwise."""
    t = text.strip()
    if not t:
        return None
    if t.lower() in _NULLS:
        raise _Bad("null_value")
    try:
        return parse_decimal(t)  # the rules of every number tlh reads (ASCII digits, finite)
    except ValueError:
        lowered = t.lower().lstrip("+-")
        reason = "nan" if "nan" in lowered else "infinite" if "inf" in lowered else "bad_number"
        raise _Bad(reason) from None


def _parse_split(text: str) -> Decimal | None:
    """Parse a split coefficient: a number (``4.0``) or a ratio ``new:old`` (``4:1``, ``1:10``)."""
    for sep in (":", "/"):
        if sep in text:
            new, old = (_parse_decimal(part) for part in text.split(sep, 1))
            if new is None or old is None or new <= 0 or old <= 0:
                raise _Bad("bad_number")
            return new / old
    return _parse_decimal(text)


def _micros_of(value: Decimal) -> tuple[int, bool]:
    """Return (value in 1e-6 units rounded half-even, whether that is exact)."""
    scaled = value.scaleb(6)
    whole = int(scaled.to_integral_value())
    if not -_INT64 < whole < _INT64:
        raise _Bad("bad_number")
    return whole, scaled == whole


def parse_iso_date(text: str) -> date:
    """Parse a strict ``YYYY-MM-DD`` date (ValueError otherwise)."""
    if len(text) != 10 or text[4] != "-" or text[7] != "-":
        raise ValueError(text)
    return date.fromisoformat(text)


def symbol_from_filename(path: Path | str) -> str:
    """Return the symbol a per-symbol file's name stands for.

    ``DA-<SYM>-T-<date>.csv[.gz]`` (sp500_1999_2021) gives ``<SYM>``; anything else its name
    without ``.csv``/``.gz`` (``XLE.csv.gz`` -> ``XLE``, ``BTC-USD.csv.gz`` -> ``BTC-USD``).
    """
    name = Path(path).name
    for suffix in (".gz", ".csv"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    match = _DA_NAME.match(name)
    return match.group("sym") if match else name


def _open_text(path: Path) -> IO[str]:
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


class _Part:
    """The rows of one file, in file order, with local symbol ids."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.symbols: list[str] = []
        self.dates = array("i")
        self.sids = array("i")
        self.open = array("q")
        self.high = array("q")
        self.low = array("q")
        self.close = array("q")
        self.volume = array("q")
        self.splits: dict[int, Decimal] = {}
        self.dividends: dict[int, Decimal] = {}
        self.exact: dict[int, dict[str, Decimal]] = {}
        self.skipped: Counter[str] = Counter()
        self.examples: list[SkipExample] = []
        self.blank: Counter[str] = Counter()
        self.split_column = False

    def __len__(self) -> int:
        return len(self.close)

    def skip(self, reason: str, line: int, row: Sequence[str]) -> None:
        self.skipped[reason] += 1
        if self.skipped[reason] <= EXAMPLES_PER_REASON:
            text = ",".join(row)[:_EXAMPLE_CHARS]
            self.examples.append(SkipExample(self.source, line, reason, text))


class _Columns:
    """Column positions of one file's header."""

    def __init__(self, path: Path, header: list[str], need_symbol: bool) -> None:
        names = [h.strip().lower().lstrip("\ufeff") for h in header]
        index: dict[str, int] = {}
        for k, name in enumerate(names):
            index.setdefault(name, k)

        def find(aliases: Iterable[str]) -> int:
            return next((index[a] for a in aliases if a in index), -1)

        self.date = find(DATE_COLUMNS)
        if self.date < 0:
            raise MissingColumnError(path, "date", header)
        self.close = find(("close",))
        if self.close < 0:
            raise MissingColumnError(path, "close", header)
        self.symbol = find(SYMBOL_COLUMNS) if need_symbol else -1
        if need_symbol and self.symbol < 0:
            raise MissingColumnError(path, "symbol", header)
        self.open = find(("open",))
        self.high = find(("high",))
        self.low = find(("low",))
        self.volume = find(("volume",))
        self.split = find(("split_coefficient",))
        self.dividend = find(("dividend_amount",))
        used = (
            self.date,
            self.close,
            self.symbol,
            self.open,
            self.high,
            self.low,
            self.volume,
            self.split,
            self.dividend,
        )
        self.width = max(used) + 1
        self.fast = min(self.open, self.high, self.low, self.volume) >= 0


class _Reader:
    """Parses the rows of one file into a `_Part`."""

    def __init__(
        self,
        path: Path,
        cols: _Columns,
        part: _Part,
        fixed_symbol: str | None,
        date_cache: dict[str, int],
    ) -> None:
        self.path = path
        self.cols = cols
        self.part = part
        self.date_cache = date_cache
        self.sym_cache: dict[str, int] = {}
        self.last_date: list[int] = []
        self.seen: set[tuple[int, int]] | None = None
        self.fixed_sid = -1
        if fixed_symbol is not None:
            self.fixed_sid = self._sid(normalize_symbol(fixed_symbol))

    def _sid(self, name: str) -> int:
        sid = len(self.part.symbols)
        self.part.symbols.append(name)
        self.sym_cache[name] = sid
        self.last_date.append(-1)
        return sid

    def _is_duplicate(self, ordinal: int, sid: int) -> bool:
        """Return whether (date, symbol) was loaded before; cheap while dates ascend."""
        if self.seen is None:
            if ordinal > self.last_date[sid]:
                self.last_date[sid] = ordinal
                return False
            self.seen = set(zip(self.part.dates, self.part.sids, strict=True))
        key = (ordinal, sid)
        if key in self.seen:
            return True
        self.seen.add(key)
        self.last_date[sid] = max(self.last_date[sid], ordinal)
        return False

    def run(self, reader: Iterable[list[str]], line_of: _LineNum) -> None:
        if self.cols.fast:
            self._run_fast(reader, line_of)
        else:
            for row in reader:
                self.slow(row, line_of.line_num)

    def _run_fast(self, reader: Iterable[list[str]], line_of: _LineNum) -> None:
        c = self.cols
        part = self.part
        getter = itemgetter(c.date, c.open, c.high, c.low, c.close, c.volume)
        dcache, scache = self.date_cache, self.sym_cache
        si, spi, dvi, fixed = c.symbol, c.split, c.dividend, self.fixed_sid
        trivial_split, trivial_div = _TRIVIAL_SPLIT, _TRIVIAL_DIVIDEND
        fm = _MicrosMemo()
        last = self.last_date
        a_date, a_sid = part.dates.append, part.sids.append
        a_o, a_h, a_l, a_c, a_v = (
            part.open.append,
            part.high.append,
            part.low.append,
            part.close.append,
            part.volume.append,
        )
        for row in reader:
            try:
                ds, os_, hs, ls, cs, vs = getter(row)
                od = dcache[ds]
                sid = scache[row[si]] if si >= 0 else fixed
                o, h, lo, cl, v = fm[os_], fm[hs], fm[ls], fm[cs], int(vs)
                if cl <= 0 or o <= 0 or h <= 0 or lo <= 0 or v < 0 or od <= last[sid]:
                    raise ValueError
                if 100 * (lo - cl) > cl or 100 * (cl - h) > cl:  # outside [low, high]
                    raise ValueError
                if spi >= 0 and row[spi] not in trivial_split:
                    raise ValueError
                if dvi >= 0 and row[dvi] not in trivial_div:
                    raise ValueError
            except (KeyError, ValueError, IndexError):
                self.slow(row, line_of.line_num)
                continue
            if self.seen is not None:
                if (od, sid) in self.seen:
                    part.skip("duplicate", line_of.line_num, row)
                    continue
                self.seen.add((od, sid))
            last[sid] = od
            a_date(od)
            a_sid(sid)
            a_o(o)
            a_h(h)
            a_l(lo)
            a_c(cl)
            a_v(v)

    def slow(self, row: list[str], line: int) -> None:
        """Validate one row fully with `Decimal`; load it or count why it is skipped."""
        part = self.part
        try:
            self._load_checked(row, line)
        except _Bad as bad:
            part.skip(bad.reason, line, row)

    def _load_checked(self, row: list[str], line: int) -> None:  # noqa: C901
        c = self.cols
        part = self.part
        if not row or (len(row) == 1 and not row[0].strip()):
            raise _Bad("blank_line")
        if len(row) < c.width:
            raise _Bad("short_row")
        ds = row[c.date].strip()
        if not ds:
            raise _Bad("empty_date")
        ordinal = self.date_cache.get(ds)
        if ordinal is None:
            try:
                ordinal = parse_iso_date(ds).toordinal()
            except ValueError:
                raise _Bad("bad_date") from None
            self.date_cache[ds] = ordinal
        if c.symbol >= 0:
            raw_sym = row[c.symbol]
            sid = self.sym_cache.get(raw_sym, -1)
            if sid < 0:
                name = normalize_symbol(raw_sym)
                if not name:
                    raise _Bad("missing_symbol")
                sid = self.sym_cache.get(name, -1)
                if sid < 0:
                    sid = self._sid(name)
                self.sym_cache[raw_sym] = sid
        else:
            sid = self.fixed_sid
        exact: dict[str, Decimal] = {}
        close = _parse_decimal(row[c.close])
        if close is None:
            raise _Bad("missing_close")
        if close <= 0:
            raise _Bad("nonpositive_close")
        close_u, ok = _micros_of(close)
        if not ok:
            exact["close"] = close
        prices = []
        for name, k in (("open", c.open), ("high", c.high), ("low", c.low)):
            value = _parse_decimal(row[k]) if k >= 0 else None
            if value is not None and value < 0:
                raise _Bad("negative_price")
            if value is None or value == 0:
                if k >= 0:
                    part.blank[name] += 1
                prices.append(MISSING)
                continue
            micros, ok = _micros_of(value)
            if not ok:
                exact[name] = value
            prices.append(micros)
        if _outside_range(close_u, prices[2], prices[1]):
            raise _Bad("close_outside_range")
        volume = 0
        vol = _parse_decimal(row[c.volume]) if c.volume >= 0 else None
        if vol is None:
            if c.volume >= 0:
                part.blank["volume"] += 1
        elif vol < 0:
            raise _Bad("bad_number")
        else:
            volume = int(vol)
            if vol != volume:
                exact["volume"] = vol
        split = _parse_split(row[c.split]) if c.split >= 0 else None
        if split is not None and split < 0:
            raise _Bad("bad_number")
        if split is None or split == 0 or split == ONE:
            split = ONE
        dividend = _parse_decimal(row[c.dividend]) if c.dividend >= 0 else None
        if dividend is not None and dividend < 0:
            raise _Bad("bad_number")
        if self._is_duplicate(ordinal, sid):
            raise _Bad("duplicate")
        row_no = len(part)
        if split != ONE:
            part.splits[row_no] = split
        if dividend:
            part.dividends[row_no] = dividend
        if exact:
            part.exact[row_no] = exact
        part.dates.append(ordinal)
        part.sids.append(sid)
        part.open.append(prices[0])
        part.high.append(prices[1])
        part.low.append(prices[2])
        part.close.append(close_u)
        part.volume.append(volume)


def _outside_range(close: int, low: int, high: int) -> bool:
    """Return whether `close` lies more than 1 % of itself outside its bar's [low, high].

    The 1 % margin passes the float noise of yfinance files (``ACWI`` closes 1e-15 above
    their high) and catches bars whose fields are swapped or wrong (``sp500_5yr`` has five).
    """
    return (low != MISSING and 100 * (low - close) > close) or (
        high != MISSING and 100 * (close - high) > close
    )


class _LineNum(Protocol):
    """What the parser needs of `csv.reader`: its physical line counter."""

    @property
    def line_num(self) -> int: ...


def _parse_file(
    path: Path | str,
    *,
    symbol: str | None,
    date_cache: dict[str, int] | None = None,
) -> _Part:
    """Parse one file: long format when `symbol` is None, else one symbol's file."""
    path = Path(path)
    part = _Part(str(path))
    with _open_text(path) as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path}: empty file, no header")
        cols = _Columns(path, header, need_symbol=symbol is None)
        part.split_column = cols.split >= 0
        worker = _Reader(path, cols, part, symbol, {} if date_cache is None else date_cache)
        worker.run(reader, reader)
    return part


def _bucket_order(
    order: Iterable[int], key: array[int], lo: int, span: int, n: int
) -> tuple[array[int], list[int]]:
    """Stable counting sort of the row indices `order` by ``key[i] - lo`` in ``range(span)``.

    Returns the reordered indices and the count per bucket. Pure-Python O(n) with array storage:
    no list of n Python ints is ever built (the memory a `sorted` call would need).
    """
    counts = [0] * span
    for k in key:
        counts[k - lo] += 1
    starts = [0] * span
    running = 0
    for b, c in enumerate(counts):
        starts[b] = running
        running += c
    out = array("q", bytes(8 * n))
    for i in order:
        b = key[i] - lo
        out[starts[b]] = i
        starts[b] += 1
    return out, counts


def _assemble(parts: list[_Part]) -> PriceSeries:  # noqa: C901
    """Merge parsed files into one `PriceSeries` ordered by (date, symbol).

    Consumes `parts` (their columns are released as they are copied, to bound peak memory).
    Among bars for the same (date, symbol) the one from the earlier part is kept.
    """
    names = sorted({name for part in parts for name in part.symbols})
    split_known = frozenset(name for part in parts if part.split_column for name in part.symbols)
    rank = {name: k for k, name in enumerate(names)}
    dates = array("i")
    ranks = array("i")
    cols = {k: array("q") for k in ("open", "high", "low", "close", "volume")}
    splits: dict[int, Decimal] = {}
    dividends: dict[int, Decimal] = {}
    exact: dict[int, dict[str, Decimal]] = {}
    skipped: Counter[str] = Counter()
    blank: Counter[str] = Counter()
    examples: list[SkipExample] = []
    spans: list[tuple[int, int, int]] = []  # (rank or -1 when several symbols, start, stop)
    for part in parts:
        base = len(dates)
        remap = [rank[name] for name in part.symbols]
        if len(remap) == 1:
            ranks.extend(array("i", [remap[0]]) * len(part))
        else:
            ranks.extend(array("i", [remap[s] for s in part.sids]))
        spans.append((remap[0] if len(remap) == 1 else -1, base, base + len(part)))
        dates.extend(part.dates)
        for name, col in cols.items():
            col.extend(getattr(part, name))
            setattr(part, name, array("q"))
        part.dates, part.sids = array("i"), array("i")
        splits.update((base + k, v) for k, v in part.splits.items())
        dividends.update((base + k, v) for k, v in part.dividends.items())
        exact.update((base + k, v) for k, v in part.exact.items())
        skipped.update(part.skipped)
        blank.update(part.blank)
        examples.extend(part.examples)
    n = len(dates)

    # Least-significant key first: by symbol, then (stably) by date.
    if all(r >= 0 for r, _, _ in spans):
        by_symbol = array("q")
        for _, start, stop in sorted(spans, key=lambda s: s[0]):  # stable: file order kept
            by_symbol.extend(range(start, stop))
    else:
        by_symbol, _ = _bucket_order(range(n), ranks, 0, max(len(names), 1), n)
    lo = min(dates) if n else 0
    span = (max(dates) - lo + 1) if n else 0
    order, counts = _bucket_order(by_symbol, dates, lo, span, n)
    del by_symbol

    if sum(len(part.symbols) for part in parts) != len(names):  # a symbol in several files
        kept = array("q")
        prev = (-1, -1)
        for i in order:
            key = (dates[i], ranks[i])
            if key == prev:
                counts[key[0] - lo] -= 1
                skipped["duplicate"] += 1
                if skipped["duplicate"] <= EXAMPLES_PER_REASON:
                    examples.append(
                        SkipExample(
                            "(merge)",
                            0,
                            "duplicate",
                            f"{names[key[1]]} {date.fromordinal(key[0])} in several files",
                        )
                    )
                continue
            prev = key
            kept.append(i)
        order = kept

    day_ordinals = array("i")
    day_offsets = array("q", [0])
    for b, c in enumerate(counts):
        if c:
            day_ordinals.append(lo + b)
            day_offsets.append(day_offsets[-1] + c)
    if not n:
        day_offsets = array("q", [0])

    moved: dict[int, int] = {}
    sparse = set(splits) | set(dividends) | set(exact)
    if sparse:
        for new, old in enumerate(order):
            if old in sparse:
                moved[old] = new

    def gather(col: array[int]) -> array[int]:
        return array(col.typecode, map(col.__getitem__, order))

    ordered = {}
    for name in list(cols):
        ordered[name] = gather(cols.pop(name))  # free each source column as soon as copied
    symbol_ids = gather(ranks)
    del ranks, dates
    return PriceSeries(
        symbols=names,
        day_ordinals=day_ordinals,
        day_offsets=day_offsets,
        symbol_ids=symbol_ids,
        open_micros=ordered["open"],
        high_micros=ordered["high"],
        low_micros=ordered["low"],
        close_micros=ordered["close"],
        volume=ordered["volume"],
        splits={moved[k]: v for k, v in splits.items() if k in moved},
        dividends={moved[k]: v for k, v in dividends.items() if k in moved},
        exact={moved[k]: v for k, v in exact.items() if k in moved},
        skipped=dict(sorted(skipped.items())),
        examples=_first_examples(examples),
        blank_fields=dict(sorted(blank.items())),
        sources=[part.source for part in parts],
        split_known=split_known,
    )


def _first_examples(examples: Iterable[SkipExample]) -> list[SkipExample]:
    count: Counter[str] = Counter()
    out = []
    for ex in examples:
        count[ex.reason] += 1
        if count[ex.reason] <= EXAMPLES_PER_REASON:
            out.append(ex)
    return out


def load_prices(path: Path | str) -> PriceSeries:
    """Load a long-format price CSV (optionally gzip) with date, symbol and close columns.

    Raises `MissingColumnError` (naming the file and the column) when one is absent. A price
    cache file (`adapters.prices.cache`, recognised by its magic bytes, whatever its name) is
    loaded with `load_price_cache` instead.
    """
    with Path(path).open("rb") as probe:
        magic = probe.read(8)
    if magic == b"TLHPRICE":
        from adapters.prices.cache import load_price_cache

        return load_price_cache(path)
    return _assemble([_parse_file(path, symbol=None)])


def load_symbol_file(path: Path | str, symbol: str | None = None) -> PriceSeries:
    """Load one symbol's price file; `symbol` defaults to `symbol_from_filename(path)`."""
    sym = symbol if symbol is not None else symbol_from_filename(path)
    return _assemble([_parse_file(path, symbol=sym)])


def price_files(directory: Path | str) -> list[Path]:
    """The ``*.csv`` and ``*.csv.gz`` files directly in `directory`, sorted by name."""
    root = Path(directory)
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: not a directory")
    return sorted(
        p
        for p in root.iterdir()
        if p.is_file() and (p.name.lower().endswith(".csv") or p.name.lower().endswith(".csv.gz"))
    )


_PROCESS_DATE_CACHE: dict[str, int] = {}


def _parse_any(path: Path, date_cache: dict[str, int] | None = None) -> _Part:
    """Parse a file as long format when its header names a symbol column, else per symbol."""
    if date_cache is None:
        date_cache = _PROCESS_DATE_CACHE
    with _open_text(path) as handle:
        header = next(csv.reader(handle), None) or []
    names = {h.strip().lower().lstrip("\ufeff") for h in header}
    if names & set(SYMBOL_COLUMNS):
        return _parse_file(path, symbol=None, date_cache=date_cache)
    return _parse_file(path, symbol=symbol_from_filename(path), date_cache=date_cache)


def load_price_dir(directory: Path | str, *, workers: int = 1) -> PriceSeries:
    """Load every price file directly in `directory` (not recursive) into one series.

    A file whose header has a symbol column is read as long format, any other as one symbol's
    file named after the file (``daily_adjusted/DA-AAPL-T-2021-04-21.csv.gz`` -> AAPL). A bar
    for a (date, symbol) already loaded from an earlier file (by name) is skipped as
    ``duplicate``. `workers` > 1 parses files in that many processes.
    """
    files = price_files(directory)
    if workers > 1 and len(files) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(_parse_any, files, chunksize=8))
    else:
        parts = [_parse_any(p) for p in files]
    return _assemble(parts)


__all__ = [
    "MissingColumnError",
    "load_price_dir",
    "load_prices",
    "load_symbol_file",
    "parse_iso_date",
    "price_files",
    "symbol_from_filename",
]
