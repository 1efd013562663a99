"""Specification tests of the household: several accounts of one taxpayer, taxable or not."""

from __future__ import annotations

from datetime import date

import pytest

from ledger.model import AccountType
from tests.ledger.helpers import D, buy, run, sell

TAX_ADVANTAGED = [AccountType.IRA, AccountType.ROTH_IRA, AccountType.K401, AccountType.HSA]


def test_a_purchase_in_another_taxable_account_washes_and_takes_the_basis() -> None:
    """Pub 550 / IRC §1091(a): the taxpayer acquires, whichever of the taxpayer's accounts
    holds the shares; the loss in t1 moves into the t2 lot's basis (IRC §1091(d))."""
    ledger = run(
        buy("2024-01-02", "XYZ", "100", "10", account="t1", lot="A"),
        sell("2024-03-01", "XYZ", "100", "8", account="t1"),
        buy("2024-03-10", "XYZ", "100", "8", account="t2", lot="R"),
        accounts={"t1": AccountType.TAXABLE, "t2": AccountType.TAXABLE},
    )
    [row] = ledger.sales
    assert (row.account, row.wash_sale_disallowed, row.permanently_disallowed) == (
        "t1",
        D("200.00"),
        D("0"),
    )
    assert row.replacement_lot_ids == ("R",)
    [r] = ledger.open_lots()
    assert (r.account, r.adjusted_basis, r.holding_period_start) == (
        "t2",
        D("1000.00"),
        date(2024, 1, 11),
    )


@pytest.mark.parametrize("account_type", TAX_ADVANTAGED, ids=str)
def test_a_tax_advantaged_purchase_disallows_the_loss_for_good(
    account_type: AccountType,
) -> None:
    """Rev. Rul. 2008-5; Pub 550 (acquisition "for your IRA"): the loss is disallowed and the
    IRA's basis is not increased, so the loss is lost permanently."""
    ledger = run(
        buy("2024-01-02", "XYZ", "100", "10", account="t1"),
        sell("2024-03-01", "XYZ", "100", "8", account="t1"),
        buy("2024-03-10", "XYZ", "100", "8", account="ira", lot="R"),
        accounts={"ira": account_type},
    )
    [row] = ledger.sales
    assert row.wash_sale_disallowed == row.permanently_disallowed == D("200.00")
    assert row.gain_loss == D("0.00")
    [r] = ledger.open_lots()
    assert (r.account_type, r.cost_basis, r.adjusted_basis) == (
        account_type,
        D("800.00"),
        D("800.00"),
    )
    assert r.holding_period_start == date(2024, 3, 10)


def test_an_ira_purchase_before_the_sale_also_disallows_permanently() -> None:
    """Rev. Rul. 2008-5 with IRC §1091(a)'s 30 days *before* the sale."""
    ledger = run(
        buy("2024-01-02", "XYZ", "100", "10", account="t1"),
        buy("2024-02-15", "XYZ", "40", "8", account="ira", lot="R"),
        sell("2024-03-01", "XYZ", "100", "8", account="t1"),
        accounts={"ira": AccountType.IRA},
    )
    rows = sorted(ledger.sales, key=lambda r: r.quantity)
    assert [(r.quantity, r.wash_sale_disallowed, r.permanently_disallowed) for r in rows] == [
        (D("40"), D("80.00"), D("80.00")),
        (D("60"), D("0"), D("0")),
    ]


def test_an_ira_replacement_and_a_taxable_one_split_the_loss_by_order_of_purchase() -> None:
    """Pub 550 matching order with Rev. Rul. 2008-5: the first 50 replacement shares (IRA)
    take $100 for good, the next 50 (taxable) take $100 into their basis. The sale is one
    washed row (issue #2: rows split only where part is washed) naming both, in that order."""
    ledger = run(
        buy("2024-01-02", "XYZ", "100", "10", account="t1"),
        sell("2024-03-01", "XYZ", "100", "8", account="t1"),
        buy("2024-03-05", "XYZ", "50", "8", account="ira", lot="I"),
        buy("2024-03-06", "XYZ", "50", "8", account="t2", lot="T"),
        accounts={"ira": AccountType.IRA},
    )
    assert [
        (r.replacement_lot_ids, r.wash_sale_disallowed, r.permanently_disallowed)
        for r in ledger.sales
    ] == [(("I", "T"), D("200.00"), D("100.00"))]
    assert [(lot.lot_id, lot.adjusted_basis) for lot in ledger.open_lots()] == [
        ("I", D("400.00")),
        ("T", D("500.00")),
    ]


@pytest.mark.parametrize("account_type", TAX_ADVANTAGED, ids=str)
def test_sales_inside_tax_advantaged_accounts_are_not_reportable_nor_washed(
    account_type: AccountType,
) -> None:
    """Rules file, Reporting: gains and losses inside an IRA, 401k or HSA are outside the
    taxable return (no Form 8949), so §1091 has no loss to disallow there."""
    ledger = run(
        buy("2024-01-02", "XYZ", "100", "10", account="ira"),
        sell("2024-03-01", "XYZ", "100", "8", account="ira"),
        buy("2024-03-05", "XYZ", "100", "8", account="ira", lot="R1"),
        buy("2024-03-06", "XYZ", "100", "8", account="t1", lot="R2"),
        accounts={"ira": account_type},
    )
    [row] = ledger.sales
    assert row.reportable is False
    assert (row.wash_sale_disallowed, row.gain_loss) == (D("0"), D("-200.00"))
    assert [lot.adjusted_basis for lot in ledger.open_lots()] == [D("800.00"), D("800.00")]


def test_taxable_sales_are_reportable() -> None:
    """Form 8949: a sale in a taxable account belongs on the return."""
    ledger = run(buy("2024-01-02", "XYZ", "1", "10"), sell("2024-03-01", "XYZ", "1", "8"))
    [row] = ledger.sales
    assert row.reportable is True
