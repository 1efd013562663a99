"""Reading OFX/QFX investment statements into journal imports (`adapters.importers.ofx`).

The fixtures are written from the OFX 2.x specification's investment statement example
(section 13, INVSTMTRS: ``spec_example.ofx``, as SGML OFX 1.02) and from its transaction
aggregates (section 13.9.2.4: ``all_types.ofx``, XML OFX 2.1.1). Issue #11 §1: buys, sells,
reinvestments, transfers in with original cost and date, splits; FITID the source id.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.importers import InputError
from adapters.importers.ofx import OfxImport, read_ofx, read_ofx_file
from adapters.storage.records import JournalEntry, JournalKind
from ledger.model import AccountType, Action

FIXTURES = Path(__file__).parent / "fixtures"
ALL_TYPES = FIXTURES / "all_types.ofx"


def read(name: str, account: str = "acct") -> OfxImport:
    return read_ofx_file(FIXTURES / name, account)


def by_fitid(statement: OfxImport) -> dict[str, JournalEntry]:
    return {row.source_id.rpartition(":")[2]: row.entry for row in statement.rows}


def edited(old: str, new: str, name: str = "all_types.ofx") -> bytes:
    text = (FIXTURES / name).read_text()
    assert old in text
    return text.replace(old, new, 1).encode()


def line_of(data: bytes, needle: str, after: str = "") -> int:
    text = data.decode()
    return text[: text.index(needle, text.index(after))].count("\n") + 1


def test_the_specifications_example_is_one_purchase_with_its_commission() -> None:
    """OFX 2.x §13 example: BUYSTOCK of 100 ACME at 50.00 with 25.00 commission (added to
    the cost, as the ledger does), dated DTTRADE; the deposit (INVBANKTRAN) is cash only."""
    statement = read("spec_example.ofx")

    (row,) = statement.rows
    assert row.entry == JournalEntry.trade(
        account="acct",
        action=Action.BUY,
        symbol="ACME",
        quantity=Decimal(100),
        price=Decimal("50.00"),
        fees=Decimal("25.00"),
        trade_date=date(2005, 8, 25),
        lot_id=row.entry.lot_id,
        source="ofx:BUYSTOCK:23321",
        external_id="ofx:121099999:999988:23321",
        kind=JournalKind.IMPORT,
    )
    assert row.entry.lot_id is not None
    assert row.entry.lot_id.startswith("ACME-20050825-ofx")
    assert (row.where.line, row.where.element) == (39, "BUYSTOCK[1]")
    assert statement.skipped == {"cash-only transactions (INVBANKTRAN)": 1}


def test_sgml_and_xml_give_the_same_entry() -> None:
    """The same transaction (FITID 23321) in an SGML 1.x .ofx and an XML 2.x .qfx."""
    sgml = by_fitid(read("spec_example.ofx"))["23321"]
    xml = by_fitid(read("overlap.qfx"))["23321"]

    assert sgml == xml


@pytest.mark.parametrize(
    ("fitid", "action", "symbol", "quantity", "price", "fees", "day"),
    [
        ("B-1", Action.BUY, "VTI", "20", "250.00", "1.00", date(2025, 1, 6)),  # BUYSTOCK
        ("B-2", Action.BUY, "VFIAX", "5", "500.00", "0", date(2025, 1, 7)),  # BUYMF
        ("B-3", Action.BUY, "GLD", "3", "200.00", "0.50", date(2025, 1, 8)),  # BUYOTHER
        ("B-4", Action.BUY, "T2030", "1000", "0.985", "0", date(2025, 1, 9)),  # BUYDEBT, % par
        ("R-1", Action.BUY, "VFIAX", "0.25", "510.00", "0", date(2025, 3, 31)),  # REINVEST
        ("S-1", Action.SELL, "VTI", "5", "260.00", "1.00", date(2025, 4, 10)),  # SELLSTOCK
        ("S-2", Action.SELL, "VFIAX", "1", "520.00", "0", date(2025, 4, 11)),  # SELLMF
        ("S-3", Action.SELL, "GLD", "1", "210.00", "0", date(2025, 4, 12)),  # SELLOTHER
        ("S-4", Action.SELL, "T2030", "500", "0.99", "0", date(2025, 4, 14)),  # SELLDEBT
        ("T-IN-1", Action.BUY, "VTI", "10", "150.00", "0", date(2020, 1, 15)),  # TRANSFER IN
    ],
)
def test_each_trade_type_becomes_a_purchase_or_a_sale(
    fitid: str,
    action: Action,
    symbol: str,
    quantity: str,
    price: str,
    fees: str,
    day: date,
) -> None:
    """OFX §13.9.2.4: buys and REINVEST are purchases, sells are sales (UNITS negative on a
    sale, its absolute value the quantity); fees are COMMISSION+TAXES+FEES+LOAD; a bond's
    UNITPRICE is a percentage of par; a transfer in is dated DTPURCHASE at AVGCOSTBASIS."""
    entry = by_fitid(read("all_types.ofx"))[fitid]

    assert (entry.action, entry.symbol) == (action, symbol)
    assert (entry.quantity, entry.price, entry.fees) == (
        Decimal(quantity),
        Decimal(price),
        Decimal(fees),
    )
    assert entry.trade_date == day
    assert entry.external_id == f"ofx:broker.example.com:5550001:{fitid}"


def test_a_transfer_out_is_a_transfer_not_a_sale() -> None:
    """OFX §13.9.2.4.6 TRANSFER with TFERACTION OUT: the shares leave the account in kind; no
    sale or exchange (IRC §1001(a)), so no sale price and nothing for Form 8949."""
    entry = by_fitid(read("all_types.ofx"))["T-OUT-1"]

    assert entry == JournalEntry(
        kind=JournalKind.TRANSFER,
        symbol="VTI",
        trade_date=date(2025, 7, 1),
        source="ofx:TRANSFER:T-OUT-1",
        account="acct",
        quantity=Decimal(10),
        external_id="ofx:broker.example.com:5550001:T-OUT-1",
    )


def test_a_transfer_out_needs_no_cost_or_price() -> None:
    """The basis leaving is the ledger's, by its lot method: AVGCOSTBASIS is not needed."""
    data = edited("<AVGCOSTBASIS>75.00</AVGCOSTBASIS>\n          </TRANSFER>", "</TRANSFER>")
    entry = by_fitid(read_ofx(data, "s.ofx", "acct"))["T-OUT-1"]

    assert (entry.kind, entry.quantity, entry.price) == (JournalKind.TRANSFER, Decimal(10), None)


def test_a_split_is_journaled_as_the_daemon_journals_splits() -> None:
    """SPLIT: ratio NUMERATOR/DENOMINATOR, external id split:SYMBOL:DATE (so a split the
    daemon or another import journaled is recognised)."""
    (split,) = [r.entry for r in read("all_types.ofx").rows if r.entry.kind is JournalKind.SPLIT]

    assert (split.symbol, split.ratio, split.trade_date) == ("VTI", Decimal(2), date(2025, 6, 2))
    assert split.external_id == "split:VTI:2025-06-02"


def test_a_split_without_numerator_uses_new_over_old_units() -> None:
    """NEWUNITS/OLDUNITS when the ratio itself is not given."""
    data = edited("<NUMERATOR>2</NUMERATOR>", "").replace(b"<DENOMINATOR>1</DENOMINATOR>", b"")

    (split,) = [r.entry for r in read_ofx(data, "s.ofx", "a").rows if r.entry.ratio]

    assert split.ratio == Decimal(2)


def test_cash_options_and_reversed_transactions_are_left_out_and_counted() -> None:
    """INCOME is cash only, BUYOPT an option; X-2 reverses X-1 (REVERSALFITID): neither is
    imported."""
    statement = read("all_types.ofx")

    assert "X-1" not in by_fitid(statement)
    assert "X-2" not in by_fitid(statement)
    assert statement.skipped == {
        "cash-only transactions (INCOME)": 1,
        "option transactions (BUYOPT; the ledger holds shares only)": 1,
        "reversed transactions and their reversals": 2,
    }
    assert len(statement.rows) == 12


def test_the_trade_date_is_the_statements_own_and_the_instant_is_kept() -> None:
    """DTTRADE 23:00 EST is that day for tax (not the next UTC day); the instant is UTC."""
    data = edited("20250106100000.000[-5:EST]", "20250106230000.000[-5:EST]")

    entry = by_fitid(read_ofx(data, "s.ofx", "a"))["B-1"]

    assert entry.trade_date == date(2025, 1, 6)
    assert entry.occurred_at == datetime(2025, 1, 7, 4, 0, tzinfo=UTC)


def test_fitids_are_namespaced_by_broker_and_account() -> None:
    """The same FITID at another broker is another transaction (a split is the market's:
    the same split whoever reports it)."""
    data = edited("<BROKERID>broker.example.com", "<BROKERID>other.example.com")

    ids = {r.source_id for r in read_ofx(data, "s.ofx", "a").rows}
    before = {r.source_id for r in read("all_types.ofx").rows}

    assert "ofx:other.example.com:5550001:B-1" in ids
    assert ids & before == {"split:VTI:2025-06-02"}


def test_a_401k_statement_says_so() -> None:
    """INV401K (OFX §13.9.3): the statement's account type, for the command's default."""
    assert read("k401.ofx").account_type is AccountType.K401
    assert read("all_types.ofx").account_type is None


def expect_error(data: bytes, line: int, field: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        read_ofx(data, "s.ofx", "a")
    assert (caught.value.line, caught.value.field) == (line, field)
    assert message in caught.value.message


@pytest.mark.parametrize("missing", ["DTPURCHASE", "AVGCOSTBASIS"])
def test_a_transfer_in_without_cost_or_date_is_refused(missing: str) -> None:
    """Without the original cost and date a transferred lot cannot be booked right: refuse,
    naming the element, rather than invent a basis or a purchase."""
    value = {"DTPURCHASE": "20200115", "AVGCOSTBASIS": "150.00"}[missing]
    data = edited(f"<{missing}>{value}</{missing}>", "")

    expect_error(data, line_of(data, "<TRANSFER>"), f"TRANSFER[1]/{missing}", "missing")


def test_a_reversal_of_a_transaction_not_in_the_file_is_refused() -> None:
    """An imported transaction is not undone by a later file."""
    data = edited("<REVERSALFITID>X-1", "<REVERSALFITID>X-0")

    expect_error(
        data,
        line_of(data, "<BUYSTOCK>", "X-1"),
        "BUYSTOCK[3]/INVBUY/INVTRAN/REVERSALFITID",
        "'X-0', which is not in this file",
    )


def test_a_short_sale_is_refused() -> None:
    """SELLTYPE SELLSHORT: the ledger holds long positions."""
    data = edited("<SELLTYPE>SELL</SELLTYPE>", "<SELLTYPE>SELLSHORT</SELLTYPE>")

    expect_error(data, line_of(data, "<SELLTYPE>SELLSHORT"), "SELLSTOCK[1]/SELLTYPE", "short sales")


def test_another_currency_is_refused() -> None:
    """The ledger is in USD."""
    data = edited("<CURDEF>USD</CURDEF>", "<CURDEF>CAD</CURDEF>")

    expect_error(data, line_of(data, "<CURDEF>"), "INVSTMTRS/CURDEF", "CAD")


def test_a_security_without_a_ticker_names_its_seclist_entry() -> None:
    """tlh knows securities by ticker: the SECLIST entry without one is named."""
    data = edited("<TICKER>GLD</TICKER>", "")

    expect_error(
        data,
        line_of(data, "<SECINFO>", "<OTHERINFO>"),
        "SECLIST/OTHERINFO[1]/SECINFO/TICKER",
        "has no ticker",
    )


def test_a_security_not_in_the_seclist_names_the_transactions_secid() -> None:
    """An unknown UNIQUEID: the transaction's SECID/UNIQUEID line."""
    data = edited(
        "<UNIQUEID>922908710</UNIQUEID><UNIQUEIDTYPE>CUSIP</UNIQUEIDTYPE></SECID>\n"
        "              <UNITS>5",
        "<UNIQUEID>000000000</UNIQUEID><UNIQUEIDTYPE>CUSIP</UNIQUEIDTYPE></SECID>\n"
        "              <UNITS>5",
    )

    expect_error(
        data,
        line_of(data, "<UNIQUEID>000000000"),
        "BUYMF[1]/INVBUY/SECID/UNIQUEID",
        "not in the SECLIST",
    )


def test_a_byte_order_mark_is_skipped() -> None:
    """Windows tools write a UTF-8 byte-order mark before the XML declaration."""
    data = b"\xef\xbb\xbf" + (FIXTURES / "overlap.qfx").read_bytes()

    assert len(read_ofx(data, "s.qfx", "a").rows) == 2


def test_statements_of_two_accounts_in_one_file_are_refused() -> None:
    """One account per import: the second statement's account is named."""
    text = (FIXTURES / "spec_example.ofx").read_text()
    start = text.index("<INVSTMTTRNRS>")
    end = text.index("</INVSTMTTRNRS>") + len("</INVSTMTTRNRS>\n")
    other = text[start:end].replace("<ACCTID>999988", "<ACCTID>111111")
    data = (text[:end] + other + text[end:]).encode()

    expect_error(
        data,
        line_of(data, "<INVSTMTRS>", "</INVSTMTTRNRS>"),
        "INVSTMTRS/INVACCTFROM",
        "several accounts (121099999/999988, 121099999/111111)",
    )


def test_a_header_without_a_body_is_refused() -> None:
    """An OFX header and nothing after it."""
    header = b"".join((FIXTURES / "spec_example.ofx").read_bytes().splitlines(True)[:10])

    with pytest.raises(InputError, match="holds no OFX element"):
        read_ofx(header, "s.ofx", "a")
