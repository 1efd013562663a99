"""The two OFX syntaxes as one (issue #11 §1: SGML OFX 1.x and XML OFX 2.x).

Whatever the transaction, writing it as SGML (unclosed elements, an ``OFXHEADER:100``
header) or as XML gives the same journal entry, with the quantity, price and fees written,
and the element's line found in either.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from adapters.importers.ofx import read_ofx
from ledger.model import Action

SGML_HEADER = (
    "OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\nSECURITY:NONE\nENCODING:USASCII\n"
    "CHARSET:1252\nCOMPRESSION:NONE\nOLDFILEUID:NONE\nNEWFILEUID:NONE\n\n"
)
XML_HEADER = (
    '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
    '<?OFX OFXHEADER="200" VERSION="211" SECURITY="NONE" OLDFILEUID="NONE" NEWFILEUID="NONE"?>\n'
)


def statement(fields: list[tuple[str, str | None]], closed: bool) -> str:
    """Return an OFX body from (tag, text) pairs; text None opens or closes an aggregate."""
    out = []
    for tag, text in fields:
        if text is None:
            out.append(f"<{tag}>")
        else:
            out.append(f"<{tag}>{text}</{tag}>" if closed else f"<{tag}>{text}")
    return "\n".join(out) + "\n"


def transaction(
    fitid: str, day: date, units: Decimal, price: Decimal, commission: Decimal, sell: bool
) -> list[tuple[str, str | None]]:
    kind, inner = ("SELLSTOCK", "INVSELL") if sell else ("BUYSTOCK", "INVBUY")
    units_written = -units if sell else units
    return [
        ("OFX", None), ("INVSTMTMSGSRSV1", None), ("INVSTMTTRNRS", None), ("TRNUID", "1"),
        ("INVSTMTRS", None), ("DTASOF", "20250101"), ("CURDEF", "USD"),
        ("INVACCTFROM", None), ("BROKERID", "b.example"), ("ACCTID", "42"), ("/INVACCTFROM", None),
        ("INVTRANLIST", None), ("DTSTART", "20000101"), ("DTEND", "20991231"),
        (kind, None), (inner, None),
        ("INVTRAN", None), ("FITID", fitid), ("DTTRADE", f"{day:%Y%m%d}"), ("/INVTRAN", None),
        ("SECID", None), ("UNIQUEID", "922908769"), ("UNIQUEIDTYPE", "CUSIP"), ("/SECID", None),
        ("UNITS", str(units_written)), ("UNITPRICE", str(price)),
        ("COMMISSION", str(commission)), ("TOTAL", "0"),
        ("SUBACCTSEC", "CASH"), ("SUBACCTFUND", "CASH"), (f"/{inner}", None),
        ("SELLTYPE" if sell else "BUYTYPE", "SELL" if sell else "BUY"), (f"/{kind}", None),
        ("/INVTRANLIST", None), ("/INVSTMTRS", None), ("/INVSTMTTRNRS", None),
        ("/INVSTMTMSGSRSV1", None),
        ("SECLISTMSGSRSV1", None), ("SECLIST", None), ("STOCKINFO", None), ("SECINFO", None),
        ("SECID", None), ("UNIQUEID", "922908769"), ("UNIQUEIDTYPE", "CUSIP"), ("/SECID", None),
        ("SECNAME", "Vanguard Total Stock Market ETF"), ("TICKER", "VTI"), ("/SECINFO", None),
        ("/STOCKINFO", None), ("/SECLIST", None), ("/SECLISTMSGSRSV1", None), ("/OFX", None),
    ]  # fmt: skip


amounts = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(10**6), places=4)


@given(
    fitid=st.text(
        st.characters(whitelist_categories=("Lu", "Nd"), max_codepoint=127), min_size=1, max_size=30
    ),
    day=st.dates(date(1990, 1, 1), date(2030, 12, 31)),
    units=amounts,
    price=amounts,
    commission=st.decimals(min_value=0, max_value=100, places=2),
    sell=st.booleans(),
)
def test_sgml_and_xml_read_alike(
    fitid: str, day: date, units: Decimal, price: Decimal, commission: Decimal, sell: bool
) -> None:
    """The same transaction in both syntaxes: one entry, equal, as written."""
    fields = transaction(fitid, day, units, price, commission, sell)
    sgml = read_ofx((SGML_HEADER + statement(fields, closed=False)).encode(), "s.ofx", "a")
    xml = read_ofx((XML_HEADER + statement(fields, closed=True)).encode(), "s.qfx", "a")

    (one,) = sgml.rows
    (other,) = xml.rows
    assert one.entry == other.entry
    assert one.where.line == other.where.line + 8  # the SGML header is 8 lines longer
    entry = one.entry
    assert entry.action is (Action.SELL if sell else Action.BUY)
    assert (entry.quantity, entry.price, entry.fees) == (units, price, commission)
    assert entry.trade_date == day
    assert entry.external_id == f"ofx:b.example:42:{fitid}"
