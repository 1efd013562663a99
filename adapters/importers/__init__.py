"""Importers: turn user-supplied files (trade histories, account lists) into ledger values.

Every problem with an input is raised as one `InputError` naming the file, the line and the
field, so the command line can print a single ``FILE:LINE: FIELD: message`` line and stop.
The CSV helpers here are shared by the importers: UTF-8 (a byte-order mark is skipped), any line
ending, a required header row whose names are matched case-insensitively after trimming.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any


class InputError(ValueError):
    """Raise when an input file cannot be used; `str()` is the one-line message for the user.

    `line` is the 1-based physical line the problem starts on (None for the whole file);
    `field` names the column or key at fault (None when no single field is).
    """

    def __init__(self, path: str | Path, line: int | None, field: str | None, message: str):
        super().__init__(message)
        self.path = str(path)
        self.line = line
        self.field = field
        self.message = message

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        if self.field:
            return f"{where}: {self.field}: {self.message}"
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One data row: its first physical line and its values by (normalised) column name."""

    line: int
    values: dict[str, str]

    def get(self, column: str) -> str:
        """Return the trimmed value of `column` ('' when the column is absent)."""
        return self.values.get(column, "").strip()


def read_text(path: str | Path) -> str:
    """Return the text of a UTF-8 file, without a byte-order mark; `InputError` if unreadable."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(path, None, None, f"cannot read file: {exc.strerror or exc}") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(path, line, None, "not valid UTF-8 text") from exc


def read_csv(
    path: str | Path, *, required: Sequence[str], optional: Sequence[str] = ()
) -> Iterator[CsvRow]:
    """Yield the data rows of a CSV file with a header row.

    Header names are trimmed and lower-cased; `required` columns must all be present, unknown
    columns are ignored, a column may not appear twice. Blank lines (and rows of empty fields)
    are skipped. A row with fewer fields than the header is an error naming the first missing
    column; extra non-empty fields beyond the header are an error too.
    """
    header, records = read_csv_records(path, required=required, optional=optional)
    for line, record in records:
        yield CsvRow(line, dict(zip(header, record, strict=False)))


def read_csv_records(
    path: str | Path, *, required: Sequence[str], optional: Sequence[str] = ()
) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """Return the header and an iterator of (line, fields) of a CSV file, as `read_csv` reads it.

    The fields of a yielded row line up with the header (extra empty fields are cut off); the
    header is checked before this returns, the rows as they are read.
    """
    text = read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    header: list[str] | None = None
    try:
        for record in reader:
            line, start = start, reader.line_num + 1
            if any(value.strip() for value in record):
                header = _header(path, line, record, required, optional)
                break
    except csv.Error as exc:
        raise InputError(path, start, None, f"malformed CSV: {exc}") from exc
    if header is None:
        raise InputError(
            path, 1, "header", f"the file is empty; expected a header row: {','.join(required)}"
        )
    return header, _records(path, reader, start, header)


def _records(
    path: str | Path, reader: Any, start: int, header: list[str]
) -> Iterator[tuple[int, list[str]]]:
    width = len(header)
    try:
        for record in reader:
            line, start = start, reader.line_num + 1
            first = record[0] if record else ""
            if len(record) == width and first and not first.isspace():
                yield line, record  # the common row, checked in O(1)
                continue
            if not any(value.strip() for value in record):
                continue
            if len(record) < width:
                raise InputError(
                    path,
                    line,
                    header[len(record)],
                    f"missing value: the row has {len(record)} fields, the header {width}",
                )
            if any(value.strip() for value in record[width:]):
                raise InputError(
                    path,
                    line,
                    None,
                    f"the row has {len(record)} fields but the header only {width}",
                )
            yield line, record[:width]
    except csv.Error as exc:
        raise InputError(path, start, None, f"malformed CSV: {exc}") from exc


def _header(
    path: str | Path,
    line: int,
    record: list[str],
    required: Sequence[str],
    optional: Sequence[str],
) -> list[str]:
    names = [name.strip().lower() for name in record]
    if not set(names) & {*required, *optional}:  # a data row, most likely: say so first
        raise InputError(
            path,
            line,
            "header",
            f"missing header row; expected the columns {','.join(required)} "
            f"(got {','.join(record)!r})",
        )
    seen: set[str] = set()
    for name in names:
        if name and name in seen:
            raise InputError(path, line, "header", f"column {name!r} appears twice")
        seen.add(name)
    missing = [name for name in required if name not in seen]
    if missing:
        raise InputError(path, line, "header", f"missing required column(s): {', '.join(missing)}")
    return names


# Bounds of a number: below a trillion (shares, or dollars a share); no finer than the smallest
# unit of any asset traded (1 wei = 10^-18 ether); no more digits than the ledger's arithmetic
# keeps (decimal's default context: 28), so that no value is rounded on its way in.
MAX_INTEGER_DIGITS = 12
MAX_PLACES = 18
MAX_DIGITS = 28


def inexact(value: Decimal, places: int = MAX_PLACES) -> str | None:
    """Return why the ledger could not compute with the finite `value` exactly (out of
    range, finer than `places` decimal places, too many digits), or None if it can: every
    importer bounds its numbers with it, so that no imported value overflows or is rounded in
    the ledger's arithmetic."""
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int), "a finite number"
    if not value:
        return None
    zeros = 0  # trailing: '1.50' is exactly '1.5'
    while digits[len(digits) - 1 - zeros] == 0:
        zeros += 1
    if value.adjusted() >= MAX_INTEGER_DIGITS:
        return f"out of range: must be less than 10^{MAX_INTEGER_DIGITS}"
    if -(exponent + zeros) > places:
        return f"more than {places} decimal places"
    if len(digits) - zeros > MAX_DIGITS:
        return f"more than {MAX_DIGITS} significant digits: the ledger's arithmetic would round it"
    return None


# A plain decimal number: optional sign, digits with an optional fraction, optional exponent.
# Deliberately narrower than `Decimal()`, which also takes "NaN", "Infinity", "1_000" and the
# digits of every script (full-width "１０"): ASCII digits only.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_decimal(text: str) -> Decimal:
    """Return the exact `Decimal` written in `text`, or raise `ValueError` with a reason.

    Only plain decimal notation with ASCII digits is accepted: no thousands separators,
    currency signs, underscores, NaN or infinities.
    """
    value = text.strip()
    if not value:
        raise ValueError("must not be empty")
    if value.isascii() and "_" not in value:
        # The common case, without the pattern: what `Decimal()` takes of ASCII text without
        # underscores is the pattern's language plus NaN and the infinities.
        try:
            number = Decimal(value)
        except ArithmeticError:
            number = None
        if number is not None and number.is_finite():
            return number
    if _NUMBER.fullmatch(value):
        try:
            return Decimal(value)
        except ArithmeticError:  # an exponent beyond what `decimal` can hold
            raise ValueError(f"out of range (got {text!r})") from None
    lowered = value.lower().lstrip("+-")
    if lowered in {"nan", "snan", "inf", "infinity"}:
        raise ValueError(f"must be a finite number (got {text!r})")
    if any(c.isdigit() and not c.isascii() for c in value):
        raise ValueError(f"not a number: digits must be ASCII 0-9 (got {text!r})")
    if "," in value and _NUMBER.fullmatch(value.replace(",", "")):
        raise ValueError(f"thousands separators are not allowed (got {text!r})")
    raise ValueError(f"not a number (got {text!r})")
