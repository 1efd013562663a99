"""ACCOUNTS.csv importer: account types, per-account lot method and Form 1099-B kind."""

from __future__ import annotations

from pathlib import Path

import pytest
from reportkit import write

from adapters.importers import InputError
from adapters.importers.accounts_csv import parse_accounts
from ledger.conventions import LotMethod
from ledger.model import AccountType
from ledger.report import Form1099


def test_types_lot_methods_and_1099_kinds(tmp_path: Path) -> None:
    """Contract: account,type with types taxable|ira|roth_ira|401k|hsa (any case); optional
    lot_method and form_1099 columns, empty meaning the default."""
    text = (
        "\ufeffAccount,Type,Lot_Method,Form_1099\r\n"
        "brk,taxable,hifo,unreported\r\n"
        "ira1,IRA,,\r\n"
        "roth,roth_ira,,\r\n"
        "work,401k,lifo,none\r\n"
        "hsa,hsa,,\r\n"
    )
    accounts = parse_accounts(write(tmp_path, "a.csv", text))
    assert accounts.types == {
        "brk": AccountType.TAXABLE,
        "ira1": AccountType.IRA,
        "roth": AccountType.ROTH_IRA,
        "work": AccountType.K401,
        "hsa": AccountType.HSA,
    }
    assert accounts.lot_methods == {"brk": LotMethod.HIFO, "work": LotMethod.LIFO}
    assert accounts.form_1099 == {"brk": Form1099.UNREPORTED, "work": Form1099.NONE}


def test_optional_columns_may_be_absent(tmp_path: Path) -> None:
    """Contract: only account and type are required."""
    accounts = parse_accounts(write(tmp_path, "a.csv", "account,type\nira1,ira\n"))
    assert accounts.types == {"ira1": AccountType.IRA}
    assert accounts.lot_methods == {}
    assert accounts.form_1099 == {}


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        ("x,brokerage,,", "type", "must be one of taxable, ira, roth_ira, 401k, hsa"),
        ("x,,,", "type", "(it is empty)"),
        (
            "x,taxable,fifo2,",
            "lot_method",
            "must be one of fifo, lifo, hifo, max_lt_gain, max_lt_loss, max_st_gain, "
            "max_st_loss (got 'fifo2')",
        ),
        ("x,taxable,,maybe", "form_1099", "must be one of reported, unreported, none"),
        ("a,ira,,", "account", "'a' is already listed on line 2"),
    ],
)
def test_bad_rows_name_line_and_field(tmp_path: Path, row: str, field: str, message: str) -> None:
    """Contract: one message FILE:LINE: FIELD: message for the first bad row."""
    path = write(tmp_path, "a.csv", "account,type,lot_method,form_1099\na,ira,,\n" + row + "\n")
    with pytest.raises(InputError) as caught:
        parse_accounts(path)
    assert (caught.value.line, caught.value.field) == (3, field)
    assert message in caught.value.message


def test_missing_type_column(tmp_path: Path) -> None:
    """Contract: the header must name account and type."""
    with pytest.raises(InputError, match=r"missing required column\(s\): type"):
        parse_accounts(write(tmp_path, "a.csv", "account,kind\na,ira\n"))


def test_form_1099_da_is_read_per_account(tmp_path: Path) -> None:
    """ACCOUNTS.csv ``form_1099_da``: what each account's broker reports on Form 1099-DA
    (Form 8949 boxes G–L); empty means the default, a bad value names line and field."""
    path = write(
        tmp_path,
        "a.csv",
        "account,type,form_1099_da\ncoinbase,taxable,unreported\ncold,taxable,NONE\nbrk,taxable,\n",
    )
    assert parse_accounts(path).form_1099_da == {
        "coinbase": Form1099.UNREPORTED,
        "cold": Form1099.NONE,
    }
    bad = write(tmp_path, "b.csv", "account,type,form_1099_da\nw,taxable,maybe\n")
    with pytest.raises(InputError) as caught:
        parse_accounts(bad)
    assert (caught.value.line, caught.value.field) == (2, "form_1099_da")
