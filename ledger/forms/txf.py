"""TXF (Tax Exchange Format) v042 export of Form 8949 sales, for TurboTax desktop and others.

One ``TD`` (detail) record per reportable sale; the refnum encodes the Form 8949 box (TXF spec
v042, refnums 321/711/712 short term boxes A/B/C, 323/713/714 long term boxes D/E/F).

* A sale with a washed loss uses record format 5: ``P`` description, ``D`` acquired, ``D``
  sold, ``$`` cost basis, ``$`` proceeds, ``$`` disallowed loss (positive; spec example 2D).
* Any other sale uses record format 4, the same without the third ``$`` line (spec example
  2A). ``unwashed_format=5`` writes format 5 with an empty ``$`` line instead, which the spec
  also allows ("simply leave the last line in the record empty").
* Cost basis is the adjusted basis (Form 8949 column (e)); the acquisition date is column
  (b)'s (`DateAcquired`: by default the holding-period start, so that date and refnum agree);
  amounts have two decimals and no thousands separators; cost and proceeds are positive, as in
  every Schedule D example of the spec.
* The spec does not name a line ending. Lines end CRLF by default, as GnuCash's TXF export
  writes them ("TurboTax seems to want these", gnucash ``taxtxf.scm``); pass ``newline="\n"``
  for LF. The text is ASCII (the spec: "an ascii file with no tabs").
* Digital-asset sales (Form 8949 boxes G–L, from the 2025 form) have no refnum in v042: they are
  left out of the file (`render_txf`); `left_out_of_txf` sums them, so that the caller can say
  what must be entered by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Literal

from ledger.forms import DateAcquired, date_acquired, description, mdy, money
from ledger.report import Box, ReportedSale, TaxReport, Totals, totals_of

VERSION = "V042"
REFNUMS: dict[Box, int] = {
    Box.A: 321,
    Box.B: 711,
    Box.C: 712,
    Box.D: 323,
    Box.E: 713,
    Box.F: 714,
}


def render_txf(
    report: TaxReport,
    *,
    export_date: date,
    program: str = "tlh",
    unwashed_format: Literal[4, 5] = 4,
    newline: str = "\r\n",
    acquired: DateAcquired = DateAcquired.HOLDING_PERIOD,
) -> str:
    """Return a complete TXF file: the header, then one record per Form 8949 sale that has a
    refnum (every box but the digital-asset boxes G–L: `left_out_of_txf`)."""
    lines = txf_header(program, export_date)
    for reported in report.form8949_sales():
        if not in_txf(reported):
            continue
        lines.extend(txf_record(reported, unwashed_format=unwashed_format, acquired=acquired))
    return txf_text(lines, newline)


def in_txf(reported: ReportedSale) -> bool:
    """Return whether the sale goes in a TXF: on Form 8949 in a box that has a refnum."""
    return reported.box is not None and reported.box in REFNUMS


def left_out_of_txf(sales: Sequence[ReportedSale]) -> Totals:
    """Return the totals of the Form 8949 sales a TXF leaves out (digital assets, G–L)."""
    return totals_of(s.sale for s in sales if s.box is not None and s.box not in REFNUMS)


def txf_text(lines: Iterable[str], newline: str = "\r\n") -> str:
    """Return header or record lines as `render_txf` writes them, each ended by `newline`."""
    return "".join(line + newline for line in lines)


def txf_header(program: str, export_date: date) -> list[str]:
    """Return the header lines: version, program name/version, export date, end marker."""
    return [VERSION, f"A{program}", f"D {mdy(export_date)}", "^"]


def txf_record(
    reported: ReportedSale,
    *,
    unwashed_format: Literal[4, 5] = 4,
    acquired: DateAcquired = DateAcquired.HOLDING_PERIOD,
) -> list[str]:
    """Return one detail record (format 5 when the loss is washed, else `unwashed_format`)."""
    if reported.box is None:
        raise ValueError(f"sale of lot {reported.sale.lot_id!r} is not reportable on Form 8949")
    if reported.box not in REFNUMS:
        raise ValueError(
            f"sale of lot {reported.sale.lot_id!r} goes in Form 8949 box {reported.box}, "
            "which TXF v042 has no refnum for"
        )
    s = reported.sale
    lines = [
        "TD",
        f"N{REFNUMS[reported.box]}",
        "C1",
        "L1",
        f"P{description(s)}",
        f"D{mdy(date_acquired(s, acquired))}",
        f"D{mdy(s.date_sold)}",
        f"${money(s.adjusted_basis)}",
        f"${money(s.proceeds)}",
    ]
    if s.washed:
        lines.append(f"${money(s.wash_sale_disallowed)}")
    elif unwashed_format == 5:
        lines.append("$")
    lines.append("^")
    return lines
