"""Digital assets on the forms (issue #11 §5): Form 8949 boxes G–L, the TXF that cannot hold
them, and basis tracked wallet by wallet.

Sources: 2025 Form 8949 and its instructions (boxes G, H, I in Part I and J, K, L in Part II:
digital-asset sales reported on Form 1099-DA with basis reported to the IRS, without it, or
not on a Form 1099-DA); Form 1099-DA's "applicable checkbox" codes G/H/J/K; Treas. Reg.
§1.6045-1 (T.D. 10000): gross proceeds reported from 2025, basis from 2026 for units acquired
from 2026; Rev. Proc. 2024-28 and Treas. Reg. §1.1012-1(j): from 1 January 2025 basis is
identified wallet by wallet (account by account), never across them; TXF v042
(/work/shared/reference/txf/README.md: refnums exist for boxes A–F only).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from reportkit import sale, tlh, write

from ledger.engine import Ledger
from ledger.errors import LedgerError
from ledger.forms.form8949_csv import render_form8949_csv
from ledger.forms.json_report import report_to_json
from ledger.forms.txf import left_out_of_txf, render_txf, txf_record
from ledger.identity import Identity
from ledger.model import Action, SaleRow, Term, Trade
from ledger.report import Box, DigitalAssets, Form1099, build_report

CRYPTO = DigitalAssets(Identity().is_crypto)


def btc(date_sold: str, acquired: str, term: Term, account: str = "coinbase") -> SaleRow:
    """Return a sale of bitcoin (a symbol shaped like a crypto pair: `Identity.is_crypto`)."""
    return sale(
        symbol="BTC-USD",
        quantity="0.5",
        acquired=acquired,
        date_sold=date_sold,
        proceeds="30000.00",
        cost_basis="20000.00",
        term=term,
        account=account,
    )


SHORT_2025 = btc("2025-06-02", "2025-01-10", Term.SHORT)
LONG_2025 = btc("2025-06-02", "2023-01-10", Term.LONG)


@pytest.mark.parametrize(
    ("row", "declared", "expected"),
    [
        (SHORT_2025, Form1099.REPORTED, Box.G),
        (SHORT_2025, Form1099.UNREPORTED, Box.H),
        (SHORT_2025, Form1099.NONE, Box.I),
        (LONG_2025, Form1099.REPORTED, Box.J),
        (LONG_2025, Form1099.UNREPORTED, Box.K),
        (LONG_2025, Form1099.NONE, Box.L),
    ],
    ids=["G", "H", "I", "J", "K", "L"],
)
def test_an_account_declaring_its_1099_da_puts_crypto_sales_in_that_box(
    row: SaleRow, declared: Form1099, expected: Box
) -> None:
    """2025 Form 8949 instructions: G/J basis reported on 1099-DA, H/K not reported, I/L no
    1099-DA; the short-term boxes are in Part I, the long-term in Part II."""
    digital = DigitalAssets(Identity().is_crypto, {"coinbase": declared})
    (reported,) = build_report([row], [], digital=digital).sales
    assert reported.box is expected
    assert expected.digital
    assert expected.term is row.term


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (SHORT_2025, Box.H),
        (LONG_2025, Box.K),
        (btc("2026-03-02", "2026-01-05", Term.SHORT), Box.G),
        (btc("2027-03-02", "2026-01-05", Term.LONG), Box.J),
        (btc("2026-03-02", "2025-12-30", Term.SHORT), Box.H),
        (btc("2026-03-02", "2024-12-30", Term.LONG), Box.K),
    ],
    ids=["2025-short", "2025-long", "2026-covered", "2027-covered-long", "2026-bought-2025",
         "2026-bought-2024"],
)  # fmt: skip
def test_undeclared_accounts_follow_the_1099_da_phase_in(row: SaleRow, expected: Box) -> None:
    """Treas. Reg. §1.6045-1: for 2025 sales brokers report gross proceeds, not basis (H/K);
    from 2026 basis is reported for units acquired from 2026 (covered: G/J), not for older
    ones (H/K)."""
    (reported,) = build_report([row], [], digital=CRYPTO).sales
    assert reported.box is expected


def test_crypto_sold_before_2025_keeps_the_1099_b_boxes() -> None:
    """Before 2025 there was no Form 1099-DA and Form 8949 had no box G–L: the account's Form
    1099-B rule applies, as before (here: none, box C)."""
    row = btc("2024-06-03", "2024-01-10", Term.SHORT)
    (reported,) = build_report([row], [], boxes={"coinbase": Form1099.NONE}, digital=CRYPTO).sales
    assert reported.box is Box.C


def test_stock_sold_in_2025_stays_in_boxes_a_to_f() -> None:
    """Boxes G–L are for digital assets only; a stock sale in the same account is unchanged."""
    stock = sale(date_sold="2025-03-03", acquired="2025-01-02")
    (reported,) = build_report([stock], [], digital=CRYPTO).sales
    assert reported.box is Box.A


def test_form_8949_csv_and_json_carry_the_digital_asset_box() -> None:
    """The CSV's box column and the JSON's "box" key hold G–L as the form names them."""
    report = build_report([SHORT_2025, LONG_2025], [], digital=CRYPTO)
    lines = render_form8949_csv(report).splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == ["H", "K"]
    sales = report_to_json(report)["sales"]
    assert isinstance(sales, list)
    assert [s["box"] for s in sales] == ["H", "K"]


def test_the_txf_leaves_digital_asset_sales_out_and_sums_them() -> None:
    """TXF v042 has refnums for boxes A–F only: a digital-asset sale gets no record, and
    `left_out_of_txf` gives what must be entered by hand."""
    stock = sale(date_sold="2025-03-03", acquired="2025-01-02", proceeds="1800.00")
    report = build_report([stock, SHORT_2025, LONG_2025], [], digital=CRYPTO)
    text = render_txf(report, export_date=date(2026, 1, 2))
    assert text.count("TD\r\n") == 1
    assert "BTC-USD" not in text
    assert "10 VTI" in text
    left = left_out_of_txf(report.form8949_sales())
    assert (left.count, left.proceeds, left.gain_loss) == (2, Decimal("60000.00"), Decimal(20000))
    with pytest.raises(ValueError, match="box H"):
        txf_record(report.sales[1])


def test_a_txf_with_crypto_sales_warns_on_stderr_and_leaves_them_out(tmp_path: Path) -> None:
    """Issue #11 §5: when a TXF would hold digital-asset sales, say so on stderr (how many, and
    their totals) and keep them out of it; the Form 8949 CSV holds them (box H)."""
    trades = write(
        tmp_path,
        "TRADES.csv",
        "date,account,action,symbol,quantity,price,fees,lot_id\n"
        "2025-01-02,brk,BUY,VTI,10,200,0,\n"
        "2025-01-03,brk,BUY,BTC-USD,0.5,40000,0,\n"
        "2025-01-04,brk,BUY,ETH-USD,2,3000,0,\n"
        "2025-03-03,brk,SELL,VTI,10,180,0,\n"
        "2025-03-04,brk,SELL,BTC-USD,0.5,60000,0,\n"
        "2025-03-05,brk,SELL,ETH-USD,2,2500,0,\n",
    )
    txf = tlh("tax", "report", "--trades", trades, "--format", "txf")
    assert txf.exit_code == 0, txf.stderr
    assert txf.stdout.count("TD\n") == 1  # CliRunner: text mode
    assert "USD" not in txf.stdout
    assert "the TXF leaves out 2 digital-asset sale(s)" in txf.stderr
    assert "proceeds 35000.00" in txf.stderr
    assert "gain/loss 9000.00" in txf.stderr
    assert "enter them by hand" in txf.stderr
    csv = tlh("tax", "report", "--trades", trades, "--format", "csv")
    assert [line[:2] for line in csv.stdout.splitlines()[1:]] == ["A,", "H,", "H,"]
    assert csv.stderr == ""


def test_an_accounts_csv_declares_what_a_wallet_gets_on_form_1099_da(tmp_path: Path) -> None:
    """ACCOUNTS.csv ``form_1099_da``: a self-custody wallet gets no Form 1099-DA (box I)."""
    trades = write(
        tmp_path,
        "TRADES.csv",
        "date,account,action,symbol,quantity,price,fees,lot_id\n"
        "2025-01-03,ledger-wallet,BUY,BTC-USD,0.5,40000,0,\n"
        "2025-03-04,ledger-wallet,SELL,BTC-USD,0.5,60000,0,\n",
    )
    accounts = write(
        tmp_path, "ACCOUNTS.csv", "account,type,form_1099_da\nledger-wallet,taxable,none\n"
    )
    csv = tlh("tax", "report", "--trades", trades, "--accounts", accounts, "--format", "csv")
    assert csv.exit_code == 0, csv.stderr
    assert csv.stdout.splitlines()[1].startswith("I,0.5 BTC-USD,")


# -- basis wallet by wallet ---------------------------------------------------------------------


def _trade(seq: int, day: str, account: str, action: Action, qty: str, price: str) -> Trade:
    return Trade(
        seq, date.fromisoformat(day), account, action, "BTC-USD", Decimal(qty), Decimal(price)
    )


CHEAP_IN_A = _trade(1, "2025-01-02", "wallet-a", Action.BUY, "1", "10000")
DEAR_IN_B = _trade(2, "2025-02-03", "wallet-b", Action.BUY, "1", "50000")


def test_a_crypto_sale_relieves_the_lots_of_its_own_wallet_only() -> None:
    """Rev. Proc. 2024-28, Treas. Reg. §1.1012-1(j): basis is identified within the wallet the
    units are sold from. FIFO across the household would take wallet A's older, cheaper lot
    (a gain of 30,000); wallet by wallet the sale from B relieves B's lot (a loss of 10,000),
    and A's lot stays open."""
    ledger = Ledger(identity=Identity())
    ledger.apply_all(
        [CHEAP_IN_A, DEAR_IN_B, _trade(3, "2025-03-03", "wallet-b", Action.SELL, "1", "40000")]
    )
    (row,) = ledger.sales
    assert (row.account, row.adjusted_basis, row.gain_loss) == (
        "wallet-b",
        Decimal(50000),
        Decimal(-10000),
    )
    assert [(lot.account, lot.quantity) for lot in ledger.open_lots()] == [("wallet-a", Decimal(1))]


def test_a_wallet_cannot_sell_units_held_in_another() -> None:
    """Units held in wallet A are not in wallet B: selling more than B holds is refused,
    whatever the household holds in all."""
    ledger = Ledger(identity=Identity())
    ledger.apply_all([CHEAP_IN_A, DEAR_IN_B])
    with pytest.raises(LedgerError, match="only 1 held"):
        ledger.apply(_trade(3, "2025-03-03", "wallet-b", Action.SELL, "1.5", "40000"))


def test_a_wallet_cannot_name_a_lot_of_another_wallet() -> None:
    """Specific identification names units of the wallet sold from, never another's."""
    ledger = Ledger(identity=Identity())
    ledger.apply_all([CHEAP_IN_A, DEAR_IN_B])
    lot_a = ledger.open_lots()[0].lot_id
    named = _trade(3, "2025-03-03", "wallet-b", Action.SELL, "1", "40000")._replace(lot_id=lot_a)
    with pytest.raises(LedgerError, match="wallet-a"):
        ledger.apply(named)
