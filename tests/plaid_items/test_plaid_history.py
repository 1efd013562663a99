"""One Item's Plaid history as journal rows: what is imported, what is skipped, the opening
lots that make the ledger's position Plaid's, and the wash sale an IRA purchase causes.

Field meanings: plaid-python 46 model docstrings (InvestmentTransaction: quantity positive for
buys, negative for sells; Security.ticker_symbol; Holding.cost_basis total, nullable).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from adapters.importers import InputError
from adapters.importers.journal_import import ImportRow
from adapters.plaid.fetch import fetch_item
from adapters.plaid.history import Reconciled
from adapters.storage.records import Account, JournalEntry, JournalKind, JournalRecord
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


def vti_buy(n: int, day: date, quantity: float, **extra: object) -> Transaction:
    """Return a VTI buy at 250 of the fake's account."""
    return Transaction(f"tx-{n}", "acct-1", "sec-vti", day, "buy", "buy", quantity, 250.0, **extra)  # type: ignore[arg-type]


async def sync_once(fake: FakePlaid, sink: RepoSink, today: date = TODAY) -> Reconciled:
    """Fetch the Item and apply it as the daemon does: reconciled with the journal in the
    sink's apply; return the reconciliation."""
    plaid = settings(fake)
    history = await fetch_item(plaid, plaid.items[0], today=today)
    found: list[Reconciled] = []

    def derive(journal: Sequence[JournalRecord]) -> list[ImportRow]:
        found.append(history.reconcile(journal))
        return found[-1].openings

    account = Account("spouse-ira", AccountType.IRA, "plaid")
    await sink.apply_import(history.transactions, account, derive=derive)
    return found[-1]


async def test_holdings_ahead_of_a_posting_purchase_never_become_a_lot(
    fake_plaid: FakePlaid, repo: Repository
) -> None:
    """After the first import, Plaid's holdings running ahead of its transactions (a purchase
    not posted yet) is reported, not journaled as a back-dated lot: when the purchase posts,
    the ledger holds Plaid's 13 shares, not 23 (reviewer's reproduction)."""
    item = ira_item(fake_plaid)
    item.transactions.append(vti_buy(1, days_ago(3), 3))
    hold(item, 3, 750.0)
    sink = RepoSink(repo)
    await sync_once(fake_plaid, sink)

    item.holdings[0].quantity = 13  # holdings update first
    early = await sync_once(fake_plaid, sink)
    item.transactions.append(vti_buy(2, days_ago(1), 10))  # the purchase posts a day later
    await sync_once(fake_plaid, sink)

    assert early.openings == []
    assert early.unposted == {"VTI": Decimal(10)}
    assert await position(sink, "spouse-ira", "VTI") == Decimal(13)


async def test_the_opening_lots_id_does_not_change_with_the_day(fake_plaid: FakePlaid) -> None:
    """The opening lot's source id names the account and symbol, not the window's date."""
    hold(ira_item(fake_plaid), 5, 1000.0)
    plaid = settings(fake_plaid)

    today = await fetch_item(plaid, plaid.items[0], today=TODAY)
    tomorrow = await fetch_item(plaid, plaid.items[0], today=TODAY + timedelta(days=1))

    assert [r.source_id for r in today.rows] == ["plaid:opening:spouse-ira:VTI"]
    assert [r.source_id for r in tomorrow.rows] == [r.source_id for r in today.rows]


async def test_the_trade_date_is_transaction_datetimes_new_york_date(
    fake_plaid: FakePlaid,
) -> None:
    """Plaid's `date` is "typically the settlement date" (plaid-python InvestmentTransaction);
    `transaction_datetime`, when given, dates the trade, in New York (02:00 UTC on the 2nd is
    the evening of the 1st there)."""
    item = ira_item(fake_plaid)
    at = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
    item.transactions.append(vti_buy(1, date(2026, 12, 3), 2, transaction_datetime=at))
    item.transactions.append(vti_buy(2, date(2026, 12, 3), 1))
    hold(item, 3, 750.0)
    plaid = settings(fake_plaid)

    history = await fetch_item(plaid, plaid.items[0], today=TODAY)

    dates = {r.source_id: r.entry.trade_date for r in history.transactions}
    assert dates == {"plaid:tx-1": date(2026, 12, 1), "plaid:tx-2": date(2026, 12, 3)}


async def test_a_cancel_drops_the_trade_it_cancels_in_the_same_fetch(
    fake_plaid: FakePlaid,
) -> None:
    """A cancel and the buy it reverses (same account, security, quantity, price) are both
    left out, as OFX's REVERSALFITID (adapters/importers/ofx.py): no phantom purchase."""
    item = ira_item(fake_plaid)
    item.transactions += [
        vti_buy(1, days_ago(4), 10),
        Transaction("tx-2", "acct-1", "sec-vti", days_ago(3), "cancel", "cancel", -10, 250.0),
        vti_buy(3, days_ago(2), 1),
    ]
    hold(item, 1, 250.0)
    plaid = settings(fake_plaid)

    history = await fetch_item(plaid, plaid.items[0], today=TODAY)

    assert [r.source_id for r in history.rows] == ["plaid:tx-3"]
    assert history.skipped["cancelled transactions and their cancels"] == 2


async def test_a_cancel_of_a_journaled_trade_is_refused_naming_it(
    fake_plaid: FakePlaid, repo: Repository
) -> None:
    """The journal is append-only: a cancel of a purchase imported before refuses the sync
    with an error naming the purchase, rather than leaving it silently in place."""
    item = ira_item(fake_plaid)
    item.transactions.append(vti_buy(1, days_ago(4), 10))
    hold(item, 10, 2500.0)
    sink = RepoSink(repo)
    await sync_once(fake_plaid, sink)
    item.transactions.append(
        Transaction("tx-2", "acct-1", None, days_ago(3), "cancel", "cancel", -10, 250.0,
                    cancel_transaction_id="tx-1")
    )  # fmt: skip

    with pytest.raises(InputError) as caught:
        await sync_once(fake_plaid, sink)

    assert "plaid:tx-1" in str(caught.value)


async def test_an_account_imported_from_elsewhere_is_refused_naming_both(
    fake_plaid: FakePlaid, repo: Repository
) -> None:
    """Linking an account already imported from OFX would journal its trades twice under
    new ids: refused, naming the other source and the Item."""
    await repo.append_journal(
        [JournalEntry.trade(account="spouse-ira", action=Action.BUY, symbol="VTI",
                            quantity=Decimal(3), price=Decimal(240), trade_date=days_ago(9),
                            source="ofx:statement.ofx", external_id="ofx:T1")]
    )  # fmt: skip
    item = ira_item(fake_plaid)
    item.transactions.append(vti_buy(1, days_ago(9), 3))
    hold(item, 3, 720.0)

    with pytest.raises(InputError) as caught:
        await sync_once(fake_plaid, RepoSink(repo))

    assert "ofx:statement.ofx" in str(caught.value)
    assert item.item_id in str(caught.value)


async def test_a_relinked_item_is_refused(fake_plaid: FakePlaid, repo: Repository) -> None:
    """Re-linking gives a new Item with new transaction ids: its history would import twice,
    so the account, imported from the old Item, refuses it."""
    item = ira_item(fake_plaid)
    item.transactions.append(vti_buy(1, days_ago(9), 3))
    hold(item, 3, 720.0)
    sink = RepoSink(repo)
    await sync_once(fake_plaid, sink)
    item.item_id = "item-relinked"
    item.transactions[0].investment_transaction_id = "tx-new-1"

    with pytest.raises(InputError) as caught:
        await sync_once(fake_plaid, sink)

    assert "item-relinked" in str(caught.value)
    assert await position(sink, "spouse-ira", "VTI") == Decimal(3)


async def test_an_absurd_quantity_is_an_error_naming_it(fake_plaid: FakePlaid) -> None:
    """Numbers are bounded where they are read: an error naming the transaction and field."""
    item = ira_item(fake_plaid)
    item.transactions.append(vti_buy(1, days_ago(2), 1e30))
    plaid = settings(fake_plaid)

    with pytest.raises(InputError) as caught:
        await fetch_item(plaid, plaid.items[0], today=TODAY)

    assert "tx-1" in str(caught.value)
    assert "quantity" in str(caught.value)
