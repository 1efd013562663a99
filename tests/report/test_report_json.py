"""`--format json`: one object, exact keys, decimals as strings."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from reportkit import open_lot, sale

from ledger.forms import money, quantity
from ledger.forms.json_report import SaleLines, render_json, sale_to_json
from ledger.model import AccountType, SaleRow, Term
from ledger.report import Box, ReportedSale, build_report

SALE_KEYS = {
    "lot_id",
    "account",
    "symbol",
    "quantity",
    "acquired",
    "holding_period_start",
    "date_sold",
    "proceeds",
    "cost_basis",
    "adjusted_basis",
    "wash_sale_disallowed",
    "gain_loss",
    "term",
    "permanently_disallowed",
    # additions
    "account_type",
    "reportable",
    "box",
    "replacement_lot_ids",
}
OPEN_LOT_KEYS = {
    "lot_id",
    "account",
    "symbol",
    "quantity",
    "acquired",
    "holding_period_start",
    "cost_basis",
    "adjusted_basis",
    "account_type",
}
TOTAL_KEYS = {
    "proceeds",
    "adjusted_basis",
    "wash_sale_disallowed",
    "permanently_disallowed",
    "gain_loss",
    "short_term_gain_loss",
    "long_term_gain_loss",
    "count",
}


def _render() -> dict[str, object]:
    rows = [
        sale(
            quantity="10",
            acquired="2024-01-02",
            holding_period_start="2023-12-20",
            proceeds="1800",
            cost_basis="2000",
            adjusted_basis="2000.00",
            disallowed="200",
            replacements=("L2",),
        ),
        sale(account="ira1", account_type=AccountType.IRA, quantity="0.50", term=Term.LONG),
    ]
    data: dict[str, object] = json.loads(render_json(build_report(rows, [open_lot()])))
    return data


def test_keys_are_exactly_the_contract() -> None:
    """Contract: {"sales", "open_lots", "totals"} with the documented row keys."""
    data = _render()
    assert set(data) == {"sales", "open_lots", "totals"}
    sales, lots, totals = data["sales"], data["open_lots"], data["totals"]
    assert isinstance(sales, list)
    assert isinstance(lots, list)
    assert isinstance(totals, dict)
    assert all(set(row) == SALE_KEYS for row in sales)
    assert all(set(row) == OPEN_LOT_KEYS for row in lots)
    assert set(totals) == TOTAL_KEYS


def test_values_are_strings_dates_iso_and_disallowed_positive() -> None:
    """Contract: money and quantities as decimal strings, ISO dates, disallowed loss positive
    (Form 8949 column (g)), gain_loss = proceeds − adjusted_basis + disallowed."""
    first = _render()["sales"][0]  # type: ignore[index]
    assert first == {
        "lot_id": "L1",
        "account": "brk",
        "account_type": "taxable",
        "symbol": "VTI",
        "quantity": "10",
        "acquired": "2024-01-02",
        "holding_period_start": "2023-12-20",
        "date_sold": "2024-03-01",
        "proceeds": "1800.00",
        "cost_basis": "2000.00",
        "adjusted_basis": "2000.00",
        "wash_sale_disallowed": "200.00",
        "permanently_disallowed": "0.00",
        "gain_loss": "0.00",
        "term": "short",
        "reportable": True,
        "box": "A",
        "replacement_lot_ids": ["L2"],
    }


def test_non_reportable_sale_has_no_box() -> None:
    """Contract: sales inside an IRA are listed with reportable false (and no 8949 box)."""
    second = _render()["sales"][1]  # type: ignore[index]
    assert (second["reportable"], second["box"], second["quantity"]) == (False, None, "0.5")


def test_totals_cover_reportable_sales_only() -> None:
    """Contract: totals over reportable sales only, plus their count."""
    totals = _render()["totals"]
    assert totals == {
        "count": 1,
        "proceeds": "1800.00",
        "adjusted_basis": "2000.00",
        "wash_sale_disallowed": "200.00",
        "permanently_disallowed": "0.00",
        "gain_loss": "0.00",
        "short_term_gain_loss": "0.00",
        "long_term_gain_loss": "0.00",
    }


def test_number_text_never_uses_exponent_notation() -> None:
    """Contract: quantities exact and normalised ("10", "0.5", never "1E+1"); money to the cent."""
    from decimal import Decimal

    assert quantity(Decimal("1E+1")) == "10"
    assert quantity(Decimal("10.000")) == "10"
    assert quantity(Decimal("0.50")) == "0.5"
    assert quantity(Decimal("0.00000001")) == "0.00000001"
    assert quantity(Decimal("-0")) == "0"
    assert money(Decimal("1E+3")) == "1000.00"
    assert money(Decimal("-0.00")) == "0.00"
    assert money(Decimal("-12.5")) == "-12.50"


_AMOUNTS = st.one_of(
    st.decimals(
        allow_nan=False, allow_infinity=False, places=2, min_value=-(10**12), max_value=10**12
    ),
    st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**6), max_value=10**6),
    st.sampled_from(
        [
            Decimal(0),
            Decimal("0.00"),
            Decimal("-0.00"),
            Decimal("-0.001"),
            Decimal("1E+3"),
            Decimal("12.5"),
            Decimal("0.005"),
            Decimal("1E+30"),
        ]
    ),
)
_TEXT = st.text(min_size=1, max_size=12)


@given(
    lot_id=_TEXT,
    account=_TEXT,
    symbol=_TEXT,
    quantity=st.decimals(
        allow_nan=False, allow_infinity=False, min_value=Decimal("1E-9"), max_value=10**9
    ),
    amounts=st.lists(_AMOUNTS, min_size=5, max_size=5),
    days=st.lists(st.dates(), min_size=3, max_size=3),
    account_type=st.sampled_from(AccountType),
    term=st.sampled_from(Term),
    replacements=st.lists(_TEXT, max_size=3),
    box=st.sampled_from([None, *Box]),
)
@settings(max_examples=300, deadline=None)
def test_each_sale_line_is_exactly_what_json_dumps_writes(
    lot_id: str,
    account: str,
    symbol: str,
    quantity: Decimal,
    amounts: list[Decimal],
    days: list[date],
    account_type: AccountType,
    term: Term,
    replacements: list[str],
    box: Box | None,
) -> None:
    """The fast row writer of `render_json` is byte for byte ``json.dumps(sale_to_json(row))``
    (issue #2 §4: the JSON contract), for any text, quantity and amount."""
    proceeds, cost, adjusted, disallowed, permanent = amounts
    row = SaleRow(
        lot_id,
        account,
        account_type,
        symbol,
        quantity,
        days[0],
        days[1],
        days[2],
        proceeds,
        cost,
        adjusted,
        disallowed,
        permanent,
        term,
        tuple(replacements),
    )
    reported = ReportedSale(row, box)

    assert SaleLines()(reported) == json.dumps(sale_to_json(reported))
