"""Reading IB Flex statements (`adapters/ib/flex.py`): what becomes a journal entry, what is
left out and counted, what is refused, and where a bad row is named.

Fixtures follow IB's Flex Query reference, Trades section
(https://www.ibkrguides.com/reportingreference/reportguide/tradesfq.htm): executions are
``<Trade levelOfDetail="EXECUTION">`` rows, quantities are negative for sales, ``ibCommission``
and ``taxes`` are negative charges, closed lots (``<Lot levelOfDetail="CLOSED_LOT">``) follow
the sale that closed them with their ``openDateTime`` and ``cost``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from adapters.ib.flex import read_flex, read_flex_file
from adapters.importers import InputError
from adapters.storage.records import JournalKind
from ledger.model import Action

FIXTURES = Path(__file__).parent / "fixtures"
NEW_YORK = ZoneInfo("America/New_York")


def statement(trades: str = "", corporate: str = "", account: str = "U7654321") -> bytes:
    """Return a one-statement Flex file holding these rows (one element per line)."""
    return (
        '<FlexQueryResponse queryName="q" type="AF">\n<FlexStatements count="1">\n'
        f'<FlexStatement accountId="{account}" fromDate="20250101" toDate="20251231" '
        'period="Custom" whenGenerated="20260105;083000">\n'
        f"<Trades>\n{trades}</Trades>\n<CorporateActions>\n{corporate}</CorporateActions>\n"
        "</FlexStatement>\n</FlexStatements>\n</FlexQueryResponse>\n"
    ).encode()


def trade(**changes: str) -> str:
    """Return a USD stock purchase execution row with `changes` to its attributes."""
    attrs = {
        "accountId": "U7654321",
        "currency": "USD",
        "assetCategory": "STK",
        "symbol": "VTI",
        "tradeID": "77",
        "transactionID": "7001",
        "tradeDate": "20250303",
        "dateTime": "20250303;101500",
        "quantity": "10",
        "tradePrice": "250.10",
        "ibCommission": "-1.00",
        "ibCommissionCurrency": "USD",
        "taxes": "0",
        "buySell": "BUY",
        "levelOfDetail": "EXECUTION",
    } | changes
    return "<Trade " + " ".join(f'{k}="{v}"' for k, v in attrs.items() if v != "-") + " />\n"


def test_usd_stock_executions_become_buys_and_sells() -> None:
    """A purchase and a sale of a USD stock: quantity, price, fees (commission and taxes
    charged), tax date, and the time read in New York."""
    got = read_flex(
        statement(
            trade()
            + trade(
                transactionID="7002",
                tradeDate="20250602",
                dateTime="20250602;153000",
                quantity="-4",
                tradePrice="230.00",
                taxes="-0.03",
                buySell="SELL",
            )
        ),
        "s.xml",
    )

    buy, sale = (row.entry for row in got.rows)
    assert got.account_id == "U7654321"
    assert (buy.action, buy.symbol, buy.quantity, buy.price, buy.fees) == (
        Action.BUY,
        "VTI",
        Decimal("10"),
        Decimal("250.10"),
        Decimal("1.00"),
    )
    assert buy.trade_date == date(2025, 3, 3)
    assert buy.occurred_at == datetime(2025, 3, 3, 10, 15, tzinfo=NEW_YORK)
    assert buy.lot_id == "VTI-20250303-ib7001"
    assert buy.kind is JournalKind.IMPORT
    assert (sale.action, sale.quantity, sale.fees) == (Action.SELL, Decimal("4"), Decimal("1.03"))


def test_the_source_id_is_the_transaction_id_in_the_account() -> None:
    """Each row's source id is its transactionID (tradeID without one), in its account."""
    got = read_flex(statement(trade() + trade(transactionID="-", tradeID="78")), "s.xml")

    assert [r.source_id for r in got.rows] == ["ib-flex:U7654321:7001", "ib-flex:U7654321:78"]


def test_the_execution_id_and_order_reference_are_kept_to_recognise_tlhs_own_fills() -> None:
    """ibExecID becomes an alias (the IB adapter's fill id), orderReference the order ref."""
    row = read_flex(statement(trade(ibExecID="0001.02", orderReference="tlh-i-42")), "s").rows[0]

    assert row.aliases == ("ib:0001.02",)
    assert row.order_ref == "tlh-i-42"


def test_closed_lots_attach_to_the_sale_that_closed_them() -> None:
    """The fixture's sale of 60 VTI closes all of one lot and 10 of 100 shares of another
    (a partial close); both lots follow it with their opening instant and cost."""
    got = read_flex_file(FIXTURES / "activity_2025.xml")

    (sale,) = [r for r in got.rows if r.entry.action is Action.SELL]
    assert [(c.opened_at, c.quantity, c.cost) for c in sale.closes] == [
        (datetime(2025, 4, 7, 14, 30, tzinfo=NEW_YORK), Decimal(50), Decimal("11000.50")),
        (datetime(2025, 3, 3, 10, 15, tzinfo=NEW_YORK), Decimal(10), Decimal("2501.10")),
    ]


def test_options_rollups_and_transfers_are_left_out_and_counted() -> None:
    """The fixture's option purchase, its order-level roll-up and an ACATS transfer (no
    original cost and date) are counted, not imported."""
    got = read_flex_file(FIXTURES / "activity_2025.xml")

    assert {r.entry.symbol for r in got.rows} == {"VTI", "SCHB"}
    assert got.skipped == {
        "OPT trades (the ledger holds stocks and ETFs only)": 1,
        "<Order> rows (summaries of executions)": 1,
        "<Transfer> rows (no original cost and date in Flex; import those lots with --trades)": 1,
    }


def test_other_currencies_are_left_out_and_counted() -> None:
    """A trade in EUR is not imported: the ledger is in USD."""
    got = read_flex(statement(trade(currency="EUR", symbol="SAP")), "s.xml")

    assert got.rows == []
    assert got.skipped == {"trades in EUR (the ledger is in USD)": 1}


def test_a_trade_confirmation_query_is_counted_not_imported() -> None:
    """A Trade Confirmation Flex Query's rows are not an Activity statement's executions: the
    summary says why nothing was imported."""
    confirms = statement().replace(
        b"<CorporateActions>",
        b'<TradeConfirms>\n<TradeConfirm symbol="VTI" />\n</TradeConfirms>\n<CorporateActions>',
    )
    got = read_flex(confirms, "s.xml")

    assert got.rows == []
    assert got.skipped == {
        "<TradeConfirm> rows (a Trade Confirmation query; import an Activity Flex Query)": 1
    }


def test_a_forward_split_is_journaled_as_the_daemon_journals_splits() -> None:
    """The fixture's "SCHB SPLIT 3 FOR 1" (type FS) becomes a split of ratio 3, under the
    daemon's split id."""
    got = read_flex_file(FIXTURES / "activity_2025.xml")

    (split,) = [r.entry for r in got.rows if r.entry.kind is JournalKind.SPLIT]
    assert (split.symbol, split.ratio, split.trade_date) == ("SCHB", 3, date(2024, 10, 10))
    assert split.external_id == "split:SCHB:2024-10-10"


def test_a_merger_is_refused_naming_the_element() -> None:
    """A corporate action tlh cannot model (a merger, TC) stops the import at its element."""
    merger = (
        '<CorporateAction assetCategory="STK" currency="USD" symbol="XYZ" type="TC" '
        'description="XYZ MERGED WITH ABC" dateTime="20250505;202500" />\n'
    )
    with pytest.raises(InputError) as caught:
        read_flex(statement(corporate=merger), "s.xml")

    assert str(caught.value).startswith("s.xml:7: CorporateAction[1]/@type: corporate action TC")


def test_a_trade_cancelled_in_the_file_is_left_out_with_its_cancellation() -> None:
    """A cancellation (buySell "BUY (Ca.)") and the trade it cancels both stay out."""
    cancel = trade(transactionID="7009", buySell="BUY (Ca.)", quantity="-10", origTradeID="77")
    got = read_flex(statement(trade() + cancel), "s.xml")

    assert got.rows == []
    assert got.skipped == {"cancelled trades and their cancellations": 2}


def test_a_cancellation_of_a_trade_not_in_the_file_is_refused() -> None:
    """tlh cannot undo a trade imported earlier: the cancellation is named."""
    cancel = trade(buySell="SELL (Ca.)", quantity="4", origTradeID="12")

    with pytest.raises(InputError, match=r"s.xml:5: Trade\[1\]/@origTradeID: cancels trade '12'"):
        read_flex(statement(cancel), "s.xml")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"quantity": "ten"}, r"Trade\[2\]/@quantity: cannot read 'ten'"),
        ({"tradeDate": "2025-13-45"}, r"Trade\[2\]/@tradeDate: cannot read '2025-13-45'"),
        ({"tradePrice": "-"}, r"Trade\[2\]/@tradePrice: missing"),
        ({"assetCategory": "-"}, r"Trade\[2\]/@assetCategory: missing"),
        ({"multiplier": "100"}, r"Trade\[2\]/@multiplier: a stock trade has multiplier 1"),
        ({"ibCommissionCurrency": "EUR"}, r"Trade\[2\]/@ibCommissionCurrency: commissions in"),
    ],
)
def test_a_bad_row_is_named_by_file_line_element_and_attribute(
    changes: dict[str, str], expected: str
) -> None:
    """The error names the file, the line, the element with its position, and the field."""
    with pytest.raises(InputError, match=rf"^s\.xml:6: {expected}"):
        read_flex(statement(trade() + trade(transactionID="7002", **changes)), "s.xml")


def test_malformed_xml_is_named_by_line() -> None:
    """Broken XML names the line where the parser stopped."""
    broken = statement(trade()).replace(b"</Trades>", b"</Trade>")

    with pytest.raises(InputError, match=r"^s\.xml:6: not well-formed XML: mismatched tag"):
        read_flex(broken, "s.xml")


def test_entity_declarations_are_refused() -> None:
    """A DOCTYPE (the way to entity expansion attacks) is refused before any element."""
    bomb = b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY a "aaaa">]>\n<FlexQueryResponse/>'

    with pytest.raises(InputError, match="DOCTYPE and entity declarations are refused"):
        read_flex(bomb, "s.xml")


def test_a_file_that_is_not_a_flex_statement_is_refused() -> None:
    """An IB error response saved instead of a statement is named as such."""
    error = b"<FlexStatementResponse><Status>Fail</Status></FlexStatementResponse>"

    with pytest.raises(InputError, match="root element is <FlexStatementResponse>"):
        read_flex(error, "s.xml")


def test_statements_of_two_accounts_are_refused() -> None:
    """One import, one account: a file with two accounts' statements names both."""
    one = statement(trade())
    two = one.replace(b"</FlexStatements>", statement(trade(), account="U1").split(b'"1">')[1])
    two = two.replace(b'count="1"', b'count="2"').split(b"</FlexStatements>")[0]
    two += b"</FlexStatements></FlexQueryResponse>"

    with pytest.raises(InputError, match="several accounts \\(U7654321, U1\\)"):
        read_flex(two, "s.xml")
