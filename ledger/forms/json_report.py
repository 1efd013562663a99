"""The JSON report: one object ``{"sales": [...], "open_lots": [...], "totals": {...}}``.

Money is a decimal string to the cent, quantities are exact decimal strings (``"10"``,
``"0.5"``), dates are ISO ``YYYY-MM-DD``. Key names are a public contract: add, never rename.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from json.encoder import encode_basestring_ascii
from typing import Any

from ledger.forms import money, quantity
from ledger.model import OpenLot
from ledger.report import ReportedSale, TaxReport, Totals

# A JSON string literal as `json.dumps` writes one (ASCII, escaped); the C encoder's.
_STRING = encode_basestring_ascii

JsonObject = dict[str, object]
JSON_HEAD = '{\n  "sales": ['
FIRST_ROW = "\n    "  # before the first row of "sales" and of "open_lots"
ROW_SEPARATOR = ",\n    "  # between the rows


def render_json(report: TaxReport) -> str:
    """Return the report as one JSON object, one sale or lot per line, ending with a newline."""
    return "".join(iter_json(report))


def iter_json(report: TaxReport, rows_per_chunk: int = 20_000) -> Iterator[str]:
    """Yield the text of `render_json(report)` in chunks of about `rows_per_chunk` rows.

    Each row is what ``json.dumps`` makes of `sale_to_json` / `open_lot_to_json` (a test holds
    them equal), written by `SaleLines`, which is several times faster on a million rows; the
    chunks let a caller stream the report to a file without holding all of it.
    """
    line = SaleLines()
    sales = report.sales
    yield JSON_HEAD
    for start in range(0, len(sales), rows_per_chunk):
        rows = ROW_SEPARATOR.join([line(s) for s in sales[start : start + rows_per_chunk]])
        yield (FIRST_ROW if start == 0 else ROW_SEPARATOR) + rows
    yield json_tail(report.open_lots, report.totals, sales=bool(sales))


def json_tail(open_lots: Iterable[OpenLot], totals: Totals, *, sales: bool) -> str:
    """Return what follows the last sale row (or the opening bracket, when there is none)."""
    dumps = json.dumps
    lots = ROW_SEPARATOR.join([dumps(open_lot_to_json(lot)) for lot in open_lots])
    return (
        ("\n  ],\n" if sales else "],\n")
        + '  "open_lots": ['
        + (FIRST_ROW + lots + "\n  " if lots else "")
        + "],\n"
        + '  "totals": '
        + dumps(totals_to_json(totals))
        + "\n}\n"
    )


class SaleLines:
    """Write a sale row as ``json.dumps(sale_to_json(row))`` does, faster.

    Dates, quantities and the few distinct accounts and symbols are formatted once each;
    money takes ``str()`` when a value already has exactly two decimals (most do: the ledger
    rounds to the cent) and `money` otherwise. Enum members are written as the strings they
    are (`StrEnum`), without the slow ``.value`` lookup.
    """

    def __init__(self) -> None:
        self._days = _Formatted(lambda day: f'"{day.isoformat()}"')
        self._quantities = _Formatted(lambda amount: _STRING(quantity(amount)))
        self._names = _Formatted(_STRING)

    def __call__(self, reported: ReportedSale) -> str:
        """Return the JSON text of one sale row."""
        s, box = reported
        days, names, amount = self._days, self._names, _money
        ids = s.replacement_lot_ids
        return (
            f'{{"lot_id": {_STRING(s.lot_id)}, "account": {names[s.account]}, '
            f'"account_type": {_STRING(s.account_type)}, "symbol": {names[s.symbol]}, '
            f'"quantity": {self._quantities[s.quantity]}, "acquired": {days[s.acquired]}, '
            f'"holding_period_start": {days[s.holding_period_start]}, '
            f'"date_sold": {days[s.date_sold]}, "proceeds": "{amount(s.proceeds)}", '
            f'"cost_basis": "{amount(s.cost_basis)}", '
            f'"adjusted_basis": "{amount(s.adjusted_basis)}", '
            f'"wash_sale_disallowed": "{amount(s.wash_sale_disallowed)}", '
            f'"permanently_disallowed": "{amount(s.permanently_disallowed)}", '
            f'"gain_loss": '
            f'"{amount(s.proceeds - s.adjusted_basis + s.wash_sale_disallowed)}", '
            f'"term": "{s.term}", "reportable": {"false" if box is None else "true"}, '
            f'"box": {"null" if box is None else _STRING(box)}, '
            f'"replacement_lot_ids": [{", ".join([_STRING(i) for i in ids]) if ids else ""}]}}'
        )


class _Formatted(dict[Any, str]):
    """A cache of texts: looking up a value formats it the first time."""

    def __init__(self, format_: Callable[[Any], str]) -> None:
        super().__init__()
        self._format = format_

    def __missing__(self, value: Any) -> str:
        text = self[value] = self._format(value)
        return text


def _money(amount: Decimal) -> str:
    """Return `money(amount)`; ``str()`` already is that for a value with two decimals."""
    text = str(amount)
    if text[-3:-2] == "." and text != "-0.00":
        return text
    return money(amount)


def report_to_json(report: TaxReport) -> JsonObject:
    """Return the JSON-ready dict of the report (strings, bools, lists and None only)."""
    return {
        "sales": [sale_to_json(s) for s in report.sales],
        "open_lots": [open_lot_to_json(lot) for lot in report.open_lots],
        "totals": totals_to_json(report.totals),
    }


def sale_to_json(reported: ReportedSale) -> JsonObject:
    """Return one sale row; `wash_sale_disallowed` is positive (Form 8949 column (g))."""
    s = reported.sale
    return {
        "lot_id": s.lot_id,
        "account": s.account,
        "account_type": s.account_type.value,
        "symbol": s.symbol,
        "quantity": quantity(s.quantity),
        "acquired": s.acquired.isoformat(),
        "holding_period_start": s.holding_period_start.isoformat(),
        "date_sold": s.date_sold.isoformat(),
        "proceeds": money(s.proceeds),
        "cost_basis": money(s.cost_basis),
        "adjusted_basis": money(s.adjusted_basis),
        "wash_sale_disallowed": money(s.wash_sale_disallowed),
        "permanently_disallowed": money(s.permanently_disallowed),
        "gain_loss": money(s.gain_loss),
        "term": s.term.value,
        "reportable": reported.reportable,
        "box": None if reported.box is None else reported.box.value,
        "replacement_lot_ids": list(s.replacement_lot_ids),
    }


def open_lot_to_json(lot: OpenLot) -> JsonObject:
    """Return one open-lot row (a parcel of a lot still held at the end of the history)."""
    return {
        "lot_id": lot.lot_id,
        "account": lot.account,
        "account_type": lot.account_type.value,
        "symbol": lot.symbol,
        "quantity": quantity(lot.quantity),
        "acquired": lot.acquired.isoformat(),
        "holding_period_start": lot.holding_period_start.isoformat(),
        "cost_basis": money(lot.cost_basis),
        "adjusted_basis": money(lot.adjusted_basis),
    }


def totals_to_json(totals: Totals) -> JsonObject:
    """Return the totals over reportable sales; `count` is their number."""
    return {
        "count": totals.count,
        "proceeds": money(totals.proceeds),
        "adjusted_basis": money(totals.adjusted_basis),
        "wash_sale_disallowed": money(totals.wash_sale_disallowed),
        "permanently_disallowed": money(totals.permanently_disallowed),
        "gain_loss": money(totals.gain_loss),
        "short_term_gain_loss": money(totals.short_term_gain_loss),
        "long_term_gain_loss": money(totals.long_term_gain_loss),
    }
