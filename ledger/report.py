"""The tax report of a history: sales of a year with their Form 8949 box, open lots, totals.

Pure: it takes the ledger's `SaleRow` and `OpenLot` values and only selects, classifies and
sums them. The renderers in `ledger.forms` turn a `TaxReport` into JSON, Form 8949 CSV or TXF.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from ledger.model import ZERO, OpenLot, SaleRow, Term, new_tuple


class Form1099(StrEnum):
    """What the broker reports for an account's sales (the Form 8949 checkbox it leads to).

    For stock and securities, Form 1099-B: ``reported`` (basis reported to the IRS; box A
    short, D long), ``unreported`` (basis not reported; B / E), ``none`` (no Form 1099-B;
    C / F). For digital assets sold from 2025, Form 1099-DA, with the same three values and
    boxes G / J, H / K and I / L (2025 Form 8949 instructions).
    """

    REPORTED = "reported"
    UNREPORTED = "unreported"
    NONE = "none"


class Box(StrEnum):
    """Form 8949 checkbox: A–C and G–I in Part I (short term), D–F and J–L in Part II (long
    term); G–L are the digital-asset boxes of the 2025 form."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"
    F = "F"
    G = "G"
    H = "H"
    I = "I"  # noqa: E741 (the form's own letter)
    J = "J"
    K = "K"
    L = "L"

    @property
    def term(self) -> Term:
        """Return the holding-period class of the Form 8949 part this box belongs to."""
        return Term.SHORT if self in _SHORT_BOXES else Term.LONG

    @property
    def digital(self) -> bool:
        """Return whether this is a digital-asset box (G–L)."""
        return self in _DIGITAL_BOXES


_SHORT_BOXES = frozenset({Box.A, Box.B, Box.C, Box.G, Box.H, Box.I})
_DIGITAL_BOXES = frozenset({Box.G, Box.H, Box.I, Box.J, Box.K, Box.L})

_BOXES: dict[tuple[Term, Form1099], Box] = {
    (Term.SHORT, Form1099.REPORTED): Box.A,
    (Term.SHORT, Form1099.UNREPORTED): Box.B,
    (Term.SHORT, Form1099.NONE): Box.C,
    (Term.LONG, Form1099.REPORTED): Box.D,
    (Term.LONG, Form1099.UNREPORTED): Box.E,
    (Term.LONG, Form1099.NONE): Box.F,
}
_DIGITAL_ASSET_BOXES: dict[tuple[Term, Form1099], Box] = {
    (Term.SHORT, Form1099.REPORTED): Box.G,
    (Term.SHORT, Form1099.UNREPORTED): Box.H,
    (Term.SHORT, Form1099.NONE): Box.I,
    (Term.LONG, Form1099.REPORTED): Box.J,
    (Term.LONG, Form1099.UNREPORTED): Box.K,
    (Term.LONG, Form1099.NONE): Box.L,
}

# Form 1099-DA reports digital-asset sales from 1 January 2025: gross proceeds from then, basis
# only for sales from 2026 of units acquired from 2026 in the same account (covered securities;
# Treas. Reg. §1.6045-1 as amended by T.D. 10000, 2024).
FIRST_1099_DA = date(2025, 1, 1)
FIRST_DA_BASIS = date(2026, 1, 1)


def box_for(term: Term, form_1099: Form1099 = Form1099.REPORTED) -> Box:
    """Return the Form 8949 box of a sale (Form 8949 instructions, Part I / Part II checkboxes)."""
    return _BOXES[(term, form_1099)]


def digital_asset_form_1099(row: SaleRow, declared: Form1099 | None = None) -> Form1099 | None:
    """Return what Form 1099-DA reports for a digital-asset sale; None before 2025.

    `declared` is the account's own word (ACCOUNTS.csv ``form_1099_da``) and applies to every
    sale from 2025. Without it: a 2025 sale, or a later sale of units acquired before 2026, has
    its gross proceeds reported but not its basis (``unreported``: box H / K); a sale from 2026
    of units acquired from 2026 has its basis reported (``reported``: G / J). Before 2025 there
    was no Form 1099-DA and no digital-asset box: None, the account's Form 1099-B rule applies.
    """
    if row.date_sold < FIRST_1099_DA:
        return None
    if declared is not None:
        return declared
    covered = row.date_sold >= FIRST_DA_BASIS and row.acquired >= FIRST_DA_BASIS
    return Form1099.REPORTED if covered else Form1099.UNREPORTED


@dataclass(frozen=True, slots=True)
class DigitalAssets:
    """Which symbols are digital assets, and what each account's broker reports for them
    (`Form1099` per account, Form 1099-DA; unlisted: `digital_asset_form_1099`'s default)."""

    is_digital: Callable[[str], bool]
    form_1099_da: Mapping[str, Form1099] = field(default_factory=dict)


class ReportedSale(NamedTuple):
    """A sale row of the report with its Form 8949 box (None when not reportable)."""

    sale: SaleRow
    box: Box | None

    @property
    def reportable(self) -> bool:
        """Return whether the sale belongs on Form 8949 (not inside an IRA, 401k or HSA)."""
        return self.box is not None


@dataclass(frozen=True, slots=True)
class Totals:
    """Sums over the reportable sales of a report (money exactly as the ledger computed it)."""

    count: int
    proceeds: Decimal
    adjusted_basis: Decimal
    wash_sale_disallowed: Decimal
    permanently_disallowed: Decimal
    gain_loss: Decimal
    short_term_gain_loss: Decimal
    long_term_gain_loss: Decimal


@dataclass(frozen=True, slots=True)
class TaxReport:
    """Sales of the period (ledger order), open lots at the end of the history, and totals.

    `sales` holds every sale of the period, reportable or not; `totals` count only the
    reportable ones. `year` is the tax year selected, None for the whole history.
    """

    sales: tuple[ReportedSale, ...]
    open_lots: tuple[OpenLot, ...]
    totals: Totals
    year: int | None = None

    def form8949_sales(self) -> list[ReportedSale]:
        """Return the reportable sales by Form 8949 box, then date sold, then ledger order."""
        rows = [s for s in self.sales if s.box is not None]
        return sorted(rows, key=lambda s: (str(s.box), s.sale.date_sold))


def build_report(
    sales: Iterable[SaleRow],
    open_lots: Iterable[OpenLot],
    year: int | None = None,
    boxes: Mapping[str, Form1099] | None = None,
    digital: DigitalAssets | None = None,
) -> TaxReport:
    """Return the report of `year`'s sales (all sales when None) and the given open lots.

    The whole history must already have gone through the ledger, so that purchases after the
    year end have washed its losses; this only selects sales by `date_sold`. `boxes` maps an
    account to what its broker reports (default `Form1099.REPORTED`, boxes A / D); sales of
    `digital` assets from 2025 go in boxes G–L instead. Sales inside tax-advantaged accounts
    get no box and are left out of the totals.
    """
    selected = tuple(reported_sales(sales, year, boxes, digital))
    return TaxReport(
        sales=selected,
        open_lots=tuple(open_lots),
        totals=totals_of(s.sale for s in selected if s.reportable),
        year=year,
    )


def reported_sales(
    sales: Iterable[SaleRow],
    year: int | None = None,
    boxes: Mapping[str, Form1099] | None = None,
    digital: DigitalAssets | None = None,
) -> list[ReportedSale]:
    """Return `year`'s sales (all when None) with their Form 8949 box, as `build_report` does."""
    kinds = boxes or {}
    box_of = _BOXES.get
    reported = Form1099.REPORTED
    if digital is None:
        return [
            new_tuple(
                ReportedSale,
                (
                    row,
                    box_of((row.term, kinds.get(row.account, reported)))
                    if row.reportable
                    else None,
                ),
            )
            for row in sales
            if year is None or row.date_sold.year == year
        ]
    is_digital = _Memo(digital.is_digital)
    declared = digital.form_1099_da

    def box(row: SaleRow) -> Box | None:
        if not row.reportable:
            return None
        if is_digital[row.symbol]:
            form = digital_asset_form_1099(row, declared.get(row.account))
            if form is not None:
                return _DIGITAL_ASSET_BOXES[(row.term, form)]
        return _BOXES[(row.term, kinds.get(row.account, reported))]

    return [
        new_tuple(ReportedSale, (row, box(row)))
        for row in sales
        if year is None or row.date_sold.year == year
    ]


class _Memo(dict[str, bool]):
    """`is_digital` of each symbol, asked once (a history has few symbols, many sales)."""

    def __init__(self, ask: Callable[[str], bool]) -> None:
        super().__init__()
        self._ask = ask

    def __missing__(self, symbol: str) -> bool:
        answer = self[symbol] = self._ask(symbol)
        return answer


def add_totals(a: Totals, b: Totals) -> Totals:
    """Return the totals of two disjoint sets of sales (exact: the sums are of cents)."""
    return Totals(
        count=a.count + b.count,
        proceeds=a.proceeds + b.proceeds,
        adjusted_basis=a.adjusted_basis + b.adjusted_basis,
        wash_sale_disallowed=a.wash_sale_disallowed + b.wash_sale_disallowed,
        permanently_disallowed=a.permanently_disallowed + b.permanently_disallowed,
        gain_loss=a.gain_loss + b.gain_loss,
        short_term_gain_loss=a.short_term_gain_loss + b.short_term_gain_loss,
        long_term_gain_loss=a.long_term_gain_loss + b.long_term_gain_loss,
    )


def totals_of(rows: Iterable[SaleRow]) -> Totals:
    """Return the sums over `rows` (the caller picks the reportable ones)."""
    count = 0
    proceeds = basis = disallowed = permanent = short = long_ = ZERO
    for row in rows:
        count += 1
        proceeds += row.proceeds
        basis += row.adjusted_basis
        disallowed += row.wash_sale_disallowed
        permanent += row.permanently_disallowed
        if row.term is Term.SHORT:
            short += row.gain_loss
        else:
            long_ += row.gain_loss
    return Totals(
        count=count,
        proceeds=proceeds,
        adjusted_basis=basis,
        wash_sale_disallowed=disallowed,
        permanently_disallowed=permanent,
        gain_loss=short + long_,
        short_term_gain_loss=short,
        long_term_gain_loss=long_,
    )
