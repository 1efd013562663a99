"""One Item's Plaid history as journal rows: what is imported, what is skipped, the opening
lots that make the ledger's position Plaid's, and the wash sale an IRA purchase causes.

Field meanings: plaid-python 46 model docstrings (InvestmentTransaction: quantity positive for
buys, negative for sells; Security.ticker_symbol; Holding.cost_basis total, nullable).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from adapters.importers import InputError
from adapters.plaid.fetch import fetch_item
from adapters.storage.records import Account, JournalEntry, JournalKind
from adapters.storage.repository import Repository
from ledger.model import AccountType, Action
from tests.fake_plaid.server import FakePlaid, Security, Transaction

from .plaidkit import CASH, TODAY, RepoSink, days_ago, hold, ira_item, position, settings


def tx(
    n: int, day: date, kind: str, subtype: str, quantity: float, price: float, fees: float = 0.0
) -> Transaction:
    """Return a VTI transaction of the fake's account."""
    return Transaction(f"tx-{n}", "acct-1", "sec-vti", day, kind, subtype, quantity, price, fees)


async def test_buys_and_reinvestments_are_bought_sells_sold_cash_and_fees_skipped(
    fake_plaid: FakePlaid,
) -> None:
    """Buys and dividend reinvestments are BUY rows, sells SELL rows (quantity made positive);
    cash and fee transactions are counted, not imported; numbers are Decimal(str(x))."""
    item = ira_item(fake_plaid)
    item.transactions += [
        tx(1, days_ago(40), "buy", "buy", 10, 200.1, fees=0.35),
        tx(2, days_ago(30), "buy", "dividend reinvestment", 0.1234, 210.07),
        tx(3, days_ago(20), "sell", "sell", -4, 220.5, fees=0.02),
        Transaction("tx-4", "acct-1", "sec-cash", days_ago(35), "cash", "dividend", 0, 1.0),
        Transaction("tx-5", "acct-1", "sec-cash", days_ago(25), "fee", "account fee", 0, 1.0),
    ]
    hold(item, 6.1234, 1226.0)
    plaid = settings(fake_plaid)

    history = await fetch_item(plaid, plaid.items[0], today=TODAY)

    got = [
        (r.source_id, r.entry.action, r.entry.quantity, r.entry.price, r.entry.fees)
        for r in history.rows
    ]
    assert got == [
        ("plaid:tx-1", Action.BUY, Decimal("10"), Decimal("200.1"), Decimal("0.35")),
        ("plaid:tx-2", Action.BUY, Decimal("0.1234"), Decimal("210.07"), Decimal("0")),
        ("plaid:tx-3", Action.SELL, Decimal("4"), Decimal("220.5"), Decimal("0.02")),
    ]
    assert all(r.entry.kind is JournalKind.IMPORT for r in history.rows)
    assert sum(history.skipped.values()) == 2
    assert history.account_type is AccountType.IRA


async def test_a_security_without_a_ticker_is_an_error_naming_it(fake_plaid: FakePlaid) -> None:
    """A non-cash security without ticker_symbol cannot be matched to a symbol: an error
    naming the security and the account; nothing is guessed."""
    item = ira_item(fake_plaid)
    item.securities.append(Security("sec-fund", None, "Acme Target 2050 Trust", type="mutual fund"))
    item.transactions.append(
        Transaction("tx-1", "acct-1", "sec-fund", days_ago(5), "buy", "contribution", 3, 50.0)
    )
    plaid = settings(fake_plaid)

    with pytest.raises(InputError) as caught:
        await fetch_item(plaid, plaid.items[0], today=TODAY)

    assert "Acme Target 2050 Trust" in str(caught.value)
    assert "spouse-ira" in str(caught.value)


async def test_cash_without_a_ticker_is_skipped(fake_plaid: FakePlaid) -> None:
    """A cash equivalent without a ticker (sweep, money market) is counted, not an error."""
    item = ira_item(fake_plaid)
    item.transactions.append(
        Transaction("tx-1", "acct-1", CASH.security_id, days_ago(5), "buy", "buy", 100, 1.0)
    )
    plaid = settings(fake_plaid)

    history = await fetch_item(plaid, plaid.items[0], today=TODAY)

    assert history.rows == []
    assert sum(history.skipped.values()) == 1


async def test_the_ledger_position_equals_plaids_holdings(
    fake_plaid: FakePlaid, repo: Repository
) -> None:
    """Shares held before the 24-month window arrive as an opening lot dated before it (at
    the holding's average cost), so sales in the window are relieved and the ledger's
    position is Plaid's quantity."""
    item = ira_item(fake_plaid)
    item.transactions += [
        tx(1, days_ago(300), "buy", "buy", 5, 180.0),
        tx(2, days_ago(100), "sell", "sell", -12, 230.0),
    ]
    hold(item, 8, 1600.0)
    plaid = settings(fake_plaid)
    sink = RepoSink(repo)

    history = await fetch_item(plaid, plaid.items[0], today=TODAY)
    await sink.apply_import(history.rows, Account("spouse-ira", AccountType.IRA, "plaid"))

    opening = history.rows[0].entry
    assert (opening.quantity, opening.price) == (Decimal("15"), Decimal("200"))
    assert opening.trade_date < days_ago(730)
    assert await position(sink, "spouse-ira", "VTI") == Decimal("8")


async def test_opening_lots_come_from_tax_lots_when_given(
    fake_plaid: FakePlaid, repo: Repository
) -> None:
    """With the holding's tax_lots, the lots bought before the window keep their date and
    cost; the rest of the unexplained shares is one lot at the average cost."""
    item = ira_item(fake_plaid)
    lot = {
        "institution_lot_id": "L-1",
        "original_purchase_datetime": "2021-03-01T15:00:00Z",
        "quantity": 4.0,
        "purchase_price": 100.0,
        "cost_basis": 400.0,
        "current_value": None,
        "position_type": "long",
    }
    hold(item, 10, 1600.0, tax_lots=[lot])
    plaid = settings(fake_plaid)
    sink = RepoSink(repo)

    history = await fetch_item(plaid, plaid.items[0], today=TODAY)
    await sink.apply_import(history.rows, Account("spouse-ira", AccountType.IRA, "plaid"))

    lots = [(r.entry.trade_date, r.entry.quantity, r.entry.price) for r in history.rows]
    assert lots[0] == (date(2021, 3, 1), Decimal("4.0"), Decimal("100"))
    assert lots[1][1:] == (Decimal("6.0"), Decimal("160"))
    assert await position(sink, "spouse-ira", "VTI") == Decimal("10")


async def test_importing_again_adds_nothing(fake_plaid: FakePlaid, repo: Repository) -> None:
    """Each row's source id is Plaid's investment_transaction_id (and the opening lot's a
    stable id): a second import, against the journal now holding the first, adds nothing."""
    item = ira_item(fake_plaid)
    item.transactions += [tx(1, days_ago(9), "buy", "buy", 3, 240.0)]
    hold(item, 7, 1500.0)
    plaid = settings(fake_plaid)
    sink = RepoSink(repo)
    account = Account("spouse-ira", AccountType.IRA, "plaid")

    first = await fetch_item(plaid, plaid.items[0], today=TODAY)
    await sink.apply_import(first.rows, account)
    again = await fetch_item(plaid, plaid.items[0], today=TODAY, journal=await repo.load_journal())
    plan = await sink.apply_import(again.rows, account)

    assert len(first.rows) == 2
    assert plan.entries == []
    assert await position(sink, "spouse-ira", "VTI") == Decimal("7")


async def test_an_ira_purchase_washes_a_taxable_loss_for_good(
    fake_plaid: FakePlaid, repo: Repository
) -> None:
    """A loss sale in the taxable account with a purchase in the spouse's IRA 10 days later:
    the loss is disallowed and, the replacement being in an IRA, for good (Rev. Rul. 2008-5)."""
    taxable = [
        JournalEntry.trade(account="taxable", action=action, symbol="VTI", quantity=Decimal(10),
                           price=price, trade_date=day, source="test", external_id=f"t-{n}")
        for n, (action, price, day) in enumerate(
            [(Action.BUY, Decimal(300), days_ago(90)), (Action.SELL, Decimal(250), days_ago(20))]
        )
    ]  # fmt: skip
    await repo.append_journal(taxable)
    item = ira_item(fake_plaid)
    item.transactions.append(tx(1, days_ago(10), "buy", "buy", 10, 251.0))
    hold(item, 10, 2510.0)
    plaid = settings(fake_plaid)
    sink = RepoSink(repo, {"taxable": AccountType.TAXABLE})

    history = await fetch_item(
        plaid, plaid.items[0], today=TODAY, journal=await repo.load_journal()
    )
    await sink.apply_import(history.rows, Account("spouse-ira", history.account_type, "plaid"))

    (sale,) = (await sink.ledger()).sales
    assert sale.account == "taxable"
    assert sale.wash_sale_disallowed == Decimal(500)
    assert sale.permanently_disallowed == Decimal(500)


@pytest.mark.parametrize(
    ("subtype", "kind"),
    [("roth", AccountType.ROTH_IRA), ("401k", AccountType.K401), ("hsa", AccountType.HSA),
     ("brokerage", AccountType.TAXABLE)],
)  # fmt: skip
async def test_the_account_type_comes_from_plaids_subtype(
    fake_plaid: FakePlaid, subtype: str, kind: AccountType
) -> None:
    """Plaid's investment account subtype gives the tax treatment."""
    ira_item(fake_plaid, subtype=subtype)
    plaid = settings(fake_plaid)

    history = await fetch_item(plaid, plaid.items[0], today=TODAY)

    assert history.account_type is kind


async def test_the_items_type_overrides_the_subtype(fake_plaid: FakePlaid) -> None:
    """`type` on the item wins over Plaid's subtype."""
    ira_item(fake_plaid, subtype="brokerage")
    plaid = settings(fake_plaid)
    item = plaid.items[0].model_copy(update={"type": AccountType.HSA})

    history = await fetch_item(plaid, item, today=TODAY)

    assert history.account_type is AccountType.HSA
