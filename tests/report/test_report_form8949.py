"""`--format csv`: Form 8949 columns (a)–(h) with box and code W."""

from __future__ import annotations

import csv
import io

from reportkit import sale

from ledger.forms import DateAcquired
from ledger.forms.form8949_csv import COLUMNS, render_form8949_csv
from ledger.model import AccountType, Term
from ledger.report import Form1099, build_report


def _rows(*sales: object, boxes: dict[str, Form1099] | None = None) -> list[dict[str, str]]:
    text = render_form8949_csv(build_report(sales, [], boxes=boxes))  # type: ignore[arg-type]
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_header() -> None:
    """Contract: box, columns (a)–(h), then term; extras after."""
    text = render_form8949_csv(build_report([], []))
    assert text == ",".join(COLUMNS) + "\r\n"
    assert COLUMNS[:10] == (
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
    )


def test_washed_sale_has_code_w_and_positive_adjustment() -> None:
    """Form 8949 instructions: enter W in column (f) and the nondeductible loss as a positive
    number in column (g); column (h) = (d) − (e) + (g)."""
    [row] = _rows(sale(proceeds="1800", cost_basis="2000", disallowed="200"))
    assert (row["code"], row["adjustment"], row["gain_loss"]) == ("W", "200.00", "0.00")
    assert (row["proceeds"], row["cost_basis"]) == ("1800.00", "2000.00")


def test_unwashed_sale_leaves_f_and_g_empty() -> None:
    """Form 8949: columns (f) and (g) are for adjustments only."""
    [row] = _rows(sale(proceeds="1800", cost_basis="2000"))
    assert (row["code"], row["adjustment"], row["gain_loss"]) == ("", "", "-200.00")


def test_column_e_is_the_adjusted_basis() -> None:
    """Form 8949 column (e), cost or other basis: a replacement lot's basis includes the
    disallowed loss added to it (IRC §1091(d); Pub 550)."""
    [row] = _rows(sale(proceeds="2500", cost_basis="1810", adjusted_basis="2010"))
    assert (row["cost_basis"], row["gain_loss"]) == ("2010.00", "490.00")


def test_description_and_dates() -> None:
    """Form 8949 (a) "10 VTI", (b)/(c) MM/DD/YYYY. Column (b) is the start of the holding
    period, tacked for replacement shares, as brokers report their adjusted acquisition date on
    Form 1099-B, so that it agrees with the term (issue #13, D.18); holding_period_start repeats
    it."""
    [row] = _rows(
        sale(
            quantity="10.50",
            acquired="2024-03-15",
            holding_period_start="2024-01-16",
            date_sold="2024-07-04",
        )
    )
    assert row["description"] == "10.5 VTI"
    assert (row["date_acquired"], row["date_sold"]) == ("01/16/2024", "07/04/2024")
    assert row["holding_period_start"] == "01/16/2024"


def test_column_b_may_be_the_purchase_date() -> None:
    """`DateAcquired.PURCHASE` (``[report] date_acquired = "purchase"``) writes the day the
    shares were bought in column (b); the holding-period start stays in its own column."""
    report = build_report(
        [sale(acquired="2024-03-15", holding_period_start="2024-01-16", date_sold="2024-07-04")],
        [],
    )
    text = render_form8949_csv(report, acquired=DateAcquired.PURCHASE)
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert (row["date_acquired"], row["holding_period_start"]) == ("03/15/2024", "01/16/2024")


def test_only_reportable_sales_ordered_by_box_then_date() -> None:
    """Contract: reportable sales only (no IRA sales), ordered by box then date sold."""
    rows = _rows(
        sale(lot_id="a2", date_sold="2024-06-01"),
        sale(lot_id="ira", account="ira1", account_type=AccountType.IRA),
        sale(lot_id="d1", date_sold="2024-01-05", term=Term.LONG),
        sale(lot_id="b1", account="old", date_sold="2024-01-05"),
        sale(lot_id="a1", date_sold="2024-02-01"),
        boxes={"old": Form1099.UNREPORTED},
    )
    assert [(r["box"], r["lot_id"]) for r in rows] == [
        ("A", "a1"),
        ("A", "a2"),
        ("B", "b1"),
        ("D", "d1"),
    ]
