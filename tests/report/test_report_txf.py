"""`--format txf`: TXF v042 records, checked against the spec's own Schedule D examples.

Golden comparison: both files are split into records at the ``^`` lines; the header's program
name (``A``) and export date (``D``) are ignored; every other line must be equal, except that
``$`` amounts are compared as numbers. The spec's examples themselves write amounts both as
``$1,000.00`` and as ``$1500``, while tlh always writes two decimals without separators, so no
single writer can match both byte for byte.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Literal

import pytest
from reportkit import DATA, SHARED_TXF, sale

from ledger.forms.txf import render_txf
from ledger.model import SaleRow, Term
from ledger.report import Form1099, build_report

GOLDEN = DATA / "txf"

# The sales of the spec's section VIII, example 2, as ledger rows.
REEBOK = sale(
    symbol="Reebok",
    quantity="200",
    acquired="2011-01-05",
    date_sold="2011-10-01",
    cost_basis="1000",
    proceeds="2000",
)
WALMART = sale(
    symbol="WalMart",
    quantity="400",
    acquired="2010-08-05",
    date_sold="2011-09-05",
    cost_basis="4000",
    proceeds="1200",
    term=Term.LONG,
)


def _qcom(qty: str, acquired: str, cost: str, proceeds: str, disallowed: str = "0") -> SaleRow:
    term = Term.SHORT if acquired.startswith("2011") else Term.LONG
    return sale(
        symbol="QCOM",
        quantity=qty,
        acquired=acquired,
        date_sold="2011-01-15",
        cost_basis=cost,
        proceeds=proceeds,
        disallowed=disallowed,
        term=term,
    )


def _records(text: str) -> list[list[str]]:
    records: list[list[str]] = []
    current: list[str] = []
    for line in text.splitlines():
        current.append(line)
        if line == "^":
            records.append(current)
            current = []
    assert current == [], f"text after the last ^: {current}"
    return records


def _normalised(text: str) -> list[list[object]]:
    header, *details = _records(text)
    assert header[0] == "V042"
    assert header[-1] == "^"
    out: list[list[object]] = [[header[0], header[-1]]]
    for record in details:
        out.append(
            [
                Decimal(line[1:].replace(",", "")) if line.startswith("$") and line != "$" else line
                for line in record
            ]
        )
    return out


def _txf(rows: list[SaleRow], kinds: dict[str, Form1099] | None = None, **kw: object) -> str:
    return render_txf(
        build_report(rows, [], boxes=kinds),
        export_date=date(2011, 10, 27),
        **kw,  # type: ignore[arg-type]
    )


QCOM_WASHED = _qcom("50", "2011-01-02", "1500", "1300", "200")
QCOM_WASHED_LONG = _qcom("50", "2010-01-02", "1500", "1300", "200")

GOLDEN_CASES: list[tuple[str, list[SaleRow], Form1099, Literal[4, 5]]] = [
    ("spec_example_2A.txf", [REEBOK, WALMART], Form1099.REPORTED, 4),
    ("spec_example_2D.txf", [QCOM_WASHED], Form1099.REPORTED, 4),
    ("spec_example_2E.txf", [_qcom("100", "2011-01-02", "1700", "2000")], Form1099.UNREPORTED, 5),
    ("spec_example_2F.txf", [_qcom("100", "2010-01-02", "1700", "2000")], Form1099.UNREPORTED, 5),
    ("spec_example_2G.txf", [QCOM_WASHED_LONG], Form1099.UNREPORTED, 4),
    ("spec_example_2H.txf", [QCOM_WASHED_LONG], Form1099.NONE, 4),
    ("spec_example_format5_no_wash.txf", [REEBOK], Form1099.REPORTED, 5),
]


@pytest.mark.parametrize(
    ("name", "rows", "kind", "unwashed_format"), GOLDEN_CASES, ids=[c[0] for c in GOLDEN_CASES]
)
def test_matches_the_spec_examples(
    name: str, rows: list[SaleRow], kind: Form1099, unwashed_format: Literal[4, 5]
) -> None:
    """TXF v042 spec, section VIII example 2: 2A (format 4, refnums 321 short box A and 323 long
    box D), 2D (format 5 with the disallowed wash amount, 321), 2E/2F (format 5 with an empty
    third $ line, 711/713), 2G/2H (wash sales in 713 box E and 714 box F), and the format-5
    no-wash example (321)."""
    rendered = _txf(rows, {"brk": kind}, unwashed_format=unwashed_format)
    expected = (GOLDEN / name).read_text(encoding="ascii")
    assert _normalised(rendered) == _normalised(expected)


def test_header_and_crlf_line_endings() -> None:
    """TXF v042 spec, section VII: header V (version), A (program), D (export date), then ^.
    The spec names no line ending; CRLF as GnuCash's TXF export writes it (taxtxf.scm:
    "TurboTax seems to want these")."""
    text = _txf([REEBOK], program="tlh 1.2.3")
    assert text.startswith("V042\r\nAtlh 1.2.3\r\nD 10/27/2011\r\n^\r\n")
    assert text.count("\n") == text.count("\r\n")
    assert text.endswith("^\r\n")
    text.encode("ascii")  # the spec: an ascii file with no tabs
    assert "\t" not in text


def test_lf_on_request() -> None:
    """The line ending is a parameter, for readers that want LF."""
    assert "\r" not in _txf([REEBOK], newline="\n")


def test_amounts_two_decimals_no_separators_and_basis_is_adjusted() -> None:
    """Contract: amounts with two decimals, no thousands separators; the cost line carries the
    adjusted basis (Form 8949 column (e)), the acquired line the holding-period start (column
    (b), issue #13 D.18)."""
    row = sale(
        quantity="12.5",
        acquired="2024-03-15",
        holding_period_start="2024-01-16",
        date_sold="2024-07-01",
        cost_basis="12000",
        adjusted_basis="12345.6",
        proceeds="13000.5",
    )
    [_, record] = _records(_txf([row]))
    assert record[4:] == [
        "P12.5 VTI",
        "D01/16/2024",
        "D07/01/2024",
        "$12345.60",
        "$13000.50",
        "^",
    ]


def test_unwashed_sale_is_format_4_by_default() -> None:
    """Choice: a sale without a disallowed loss uses record format 4 (spec example 2A); the spec
    permits format 5 with an empty last line instead (--txf-format5)."""
    [_, record] = _records(_txf([REEBOK]))
    assert [line for line in record if line.startswith("$")] == ["$1000.00", "$2000.00"]
    [_, record5] = _records(_txf([REEBOK], unwashed_format=5))
    assert [line for line in record5 if line.startswith("$")] == ["$1000.00", "$2000.00", "$"]


def test_non_reportable_sales_are_not_exported() -> None:
    """Sales inside an IRA belong on no Form 8949, so they get no TXF record."""
    from ledger.model import AccountType

    ira = sale(account="ira1", account_type=AccountType.IRA)
    assert len(_records(_txf([REEBOK, ira]))) == 2  # header + Reebok


@pytest.mark.skipif(not SHARED_TXF.is_dir(), reason="team reference folder not present")
@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.txf")), ids=lambda p: p.name)
def test_golden_copies_match_the_reference(path: Path) -> None:
    """The copies under tests/report/data/txf are the reference examples, unchanged."""
    assert path.read_bytes() == (SHARED_TXF / path.name).read_bytes()
