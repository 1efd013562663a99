"""The JSON report: one object ``{"sales": [...], "open_lots": [...], "totals": {...}}``.

Money is a decimal string to the cent, quantities are exact decimal strings (``"10"``,
``"0.5"``), dates are ISO ``YYYY-MM-DD``. Key names are a public contract: add, never rename.
"""

from __future__ import annotations

import json

from ledger.forms import money, quantity
from ledger.model import OpenLot
from ledger.report import ReportedSale, TaxReport, Totals

JsonObject = dict[str, object]


def render_json(report: TaxReport) -> str:
    """Return the report as one JSON object, one sale or lot per line, ending with a newline.

    Each row is encoded compactly by the C encoder (an indented `json.dumps` falls back to the
    pure-Python one, about ten times slower on a million rows); the layout stays readable.
    """
    dumps = json.dumps
    sales = ",\n    ".join([dumps(sale_to_json(s)) for s in report.sales])
    lots = ",\n    ".join([dumps(open_lot_to_json(lot)) for lot in report.open_lots])
    return (
        '{\n  "sales": [' + ("\n    " + sales + "\n  " if sales else "") + "],\n"
        '  "open_lots": [' + ("\n    " + lots + "\n  " if lots else "") + "],\n"
        '  "totals": ' + dumps(totals_to_json(report.totals)) + "\n}\n"
    )


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
