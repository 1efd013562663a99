"""Form 8949 as CSV: one row per reportable sale, columns (a)–(h) plus the box.

Columns: ``box`` (the Part I / Part II checkbox: A–F, or G–L for digital assets sold from
2025), ``description`` (a), ``date_acquired`` (b), ``date_sold`` (c), ``proceeds`` (d),
``cost_basis`` (e, the adjusted basis), ``code`` (f, ``W`` where a loss is washed),
``adjustment`` (g, the disallowed loss as a positive number), ``gain_loss`` (h = d − e + g),
then extras that are not on the form: ``term``, ``holding_period_start`` (the wash-adjusted
start that decides the term), ``account``, ``lot_id``.

Column (b) is the date acquired as `DateAcquired` chooses: by default the start of the
holding period, the adjusted acquisition date brokers report on Form 1099-B for replacement
shares of a wash sale, so that the date and the term agree; ``purchase`` writes the original
purchase date instead (``[report] date_acquired`` in tlh.toml). ``holding_period_start`` repeats
that start either way. Columns (f) and (g) are left empty when there is no adjustment.
Rows are ordered by box, then date sold. Dates are MM/DD/YYYY; lines end CRLF (RFC 4180).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from ledger.forms import DateAcquired, date_acquired, description, mdy, money
from ledger.report import ReportedSale, TaxReport

WASH_SALE_CODE = "W"
LINE_END = "\r\n"  # RFC 4180
COLUMNS = (
    "box",
    "description",
    "date_acquired",
    "date_sold",
    "proceeds",
    "cost_basis",
    "code",
    "adjustment",
    "gain_loss",
    "term",
    "holding_period_start",
    "account",
    "lot_id",
)


def render_form8949_csv(
    report: TaxReport, *, acquired: DateAcquired = DateAcquired.HOLDING_PERIOD
) -> str:
    """Return the reportable sales of `report` as Form 8949 CSV, header first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=LINE_END)
    writer.writerow(COLUMNS)
    writer.writerows(form8949_row(s, acquired=acquired) for s in report.form8949_sales())
    return out.getvalue()


class Form8949Lines:
    """Write sales one at a time as the lines `render_form8949_csv` has for them."""

    def __init__(self, *, acquired: DateAcquired = DateAcquired.HOLDING_PERIOD) -> None:
        self._out = io.StringIO()
        self._writer = csv.writer(self._out, lineterminator=LINE_END)
        self._acquired = acquired

    def header(self) -> str:
        """Return the header line."""
        return self._line(COLUMNS)

    def __call__(self, reported: ReportedSale) -> str:
        """Return the CSV line of one reportable sale, line end included."""
        return self._line(form8949_row(reported, acquired=self._acquired))

    def _line(self, fields: Sequence[str]) -> str:
        self._writer.writerow(fields)
        text = self._out.getvalue()
        self._out.seek(0)
        self._out.truncate()
        return text


def form8949_row(
    reported: ReportedSale, *, acquired: DateAcquired = DateAcquired.HOLDING_PERIOD
) -> list[str]:
    """Return one Form 8949 line (Form 8949 instructions; column (g) positive, code W)."""
    s = reported.sale
    washed = s.washed
    return [
        "" if reported.box is None else reported.box.value,
        description(s),
        mdy(date_acquired(s, acquired)),
        mdy(s.date_sold),
        money(s.proceeds),
        money(s.adjusted_basis),
        WASH_SALE_CODE if washed else "",
        money(s.wash_sale_disallowed) if washed else "",
        money(s.gain_loss),
        s.term.value,
        mdy(s.holding_period_start),
        s.account,
        s.lot_id,
    ]
