"""`ledger.report.build_report`: selecting a year, Form 8949 boxes, totals."""

from __future__ import annotations

from decimal import Decimal

import pytest
from reportkit import open_lot, sale

from ledger.model import AccountType, Term
from ledger.report import Box, Form1099, box_for, build_report


@pytest.mark.parametrize(
    ("term", "kind", "box"),
    [
        (Term.SHORT, Form1099.REPORTED, Box.A),
        (Term.SHORT, Form1099.UNREPORTED, Box.B),
        (Term.SHORT, Form1099.NONE, Box.C),
        (Term.LONG, Form1099.REPORTED, Box.D),
        (Term.LONG, Form1099.UNREPORTED, Box.E),
        (Term.LONG, Form1099.NONE, Box.F),
    ],
)
def test_box_by_term_and_1099_kind(term: Term, kind: Form1099, box: Box) -> None:
    """Form 8949 instructions: Part I boxes A/B/C (short term), Part II D/E/F (long term) —
    basis reported to the IRS / not reported / no Form 1099-B."""
    assert box_for(term, kind) is box
    assert box.term is term


def test_accounts_default_to_basis_reported() -> None:
    """Contract: an account without a form_1099 kind is "reported" (box A / D)."""
    report = build_report(
        [sale(account="a"), sale(account="b", term=Term.LONG)], [], boxes={"x": Form1099.NONE}
    )
    assert [s.box for s in report.sales] == [Box.A, Box.D]


def test_per_account_1099_kind() -> None:
    """Contract: ACCOUNTS.csv form_1099 unreported → B / E, none → C / F."""
    rows = [sale(account="u"), sale(account="n", term=Term.LONG)]
    report = build_report(rows, [], boxes={"u": Form1099.UNREPORTED, "n": Form1099.NONE})
    assert [s.box for s in report.sales] == [Box.B, Box.F]


def test_tax_advantaged_sales_are_listed_without_box_and_left_out_of_totals() -> None:
    """Sales inside an IRA, 401k or HSA belong on no Form 8949 (they are outside the taxable
    return), but the report still lists them."""
    rows = [
        sale(proceeds="100", cost_basis="80"),
        sale(account="ira1", account_type=AccountType.IRA, proceeds="500", cost_basis="100"),
    ]
    report = build_report(rows, [])
    assert [s.reportable for s in report.sales] == [True, False]
    assert report.sales[1].box is None
    assert report.totals.count == 1
    assert report.totals.gain_loss == Decimal(20)


def test_year_selects_sales_by_date_sold_and_keeps_open_lots() -> None:
    """Contract: --year reports that year's sales; open lots are as of the end of the history."""
    rows = [sale(date_sold="2023-12-28"), sale(date_sold="2024-01-03")]
    report = build_report(rows, [open_lot()], year=2024)
    assert [s.sale.date_sold.year for s in report.sales] == [2024]
    assert len(report.open_lots) == 1
    assert report.year == 2024


def test_totals_follow_column_h() -> None:
    """Form 8949 column (h) = (d) − (e) + (g), summed by term; the disallowed total includes the
    permanently disallowed part (Rev. Rul. 2008-5)."""
    rows = [
        sale(proceeds="1800", cost_basis="2000", disallowed="200", permanent="50"),
        sale(proceeds="700", cost_basis="1000"),
        sale(proceeds="3000", cost_basis="1000", adjusted_basis="1200", term=Term.LONG),
    ]
    t = build_report(rows, []).totals
    assert t.count == 3
    assert (t.proceeds, t.adjusted_basis) == (Decimal(5500), Decimal(4200))
    assert (t.wash_sale_disallowed, t.permanently_disallowed) == (Decimal(200), Decimal(50))
    assert (t.short_term_gain_loss, t.long_term_gain_loss) == (Decimal(-300), Decimal(1800))
    assert t.gain_loss == t.proceeds - t.adjusted_basis + t.wash_sale_disallowed


def test_form8949_order_is_box_then_date_sold() -> None:
    """Contract: Form 8949 outputs list reportable sales by box, then date sold."""
    rows = [
        sale(lot_id="late-A", date_sold="2024-05-01"),
        sale(lot_id="D", date_sold="2024-02-01", term=Term.LONG),
        sale(lot_id="early-A", date_sold="2024-02-01"),
        sale(lot_id="ira", account_type=AccountType.IRA),
    ]
    ordered = build_report(rows, []).form8949_sales()
    assert [s.sale.lot_id for s in ordered] == ["early-A", "late-A", "D"]
