"""Imports reach the running daemon without a restart (issue #11 §1, §3; daemon/import_sink.py).

"The daemon picks up new imports without a restart (or at its next reconcile) and re-arms its
guard"; "purchases in any imported account block a harvest of anything substantially identical
for 30 days" (IRC §1091(a), Rev. Rul. 2008-5 for an IRA). The daemon trades only the accounts
its broker manages: an outside account is never harvested (daemon/broker_accounts.py).

Household (daemonkit): 40 VTI bought long ago at $200 in the taxable account; substitutes
VTI -> SCHB -> ITOT and VEA -> IEFA.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from daemonkit import IRA, TAXABLE, Rig, Rigs, make_settings

from adapters.importers import InputError
from adapters.importers.journal_import import ClosedLot, ImportRow, Where
from adapters.storage.records import Account, JournalEntry, JournalKind
from daemon.cli.run import preview
from daemon.import_inbox import (
    REQUEST_PREFIX,
    answer,
    rows_from_json,
    rows_to_json,
    submit,
)
from ledger.model import AccountType, Action, Transfer
from strategies.decision import OUTSIDE_ACCOUNT
from strategies.decision import Action as Act

SPOUSE = "spouse"


def bought(
    symbol: str, quantity: str, price: str, day: date, *, account: str = IRA, sid: str = "tx-1"
) -> ImportRow:
    """Return an imported purchase, as a Plaid sync hands it over."""
    entry = JournalEntry.trade(
        account=account,
        action=Action.BUY,
        symbol=symbol,
        quantity=Decimal(quantity),
        price=Decimal(price),
        trade_date=day,
        source="plaid",
        lot_id=f"{symbol}-{account}-{sid}",
        external_id=f"plaid:{sid}",
        kind=JournalKind.IMPORT,
    )
    return ImportRow(entry, Where("plaid", None))


def ira(broker: str = "plaid") -> Account:
    return Account(IRA, AccountType.IRA, broker)


async def _market(rig: Rig) -> None:
    for symbol, bid in (("SCHB", 50.00), ("ITOT", 100.00), ("VEA", 40.00), ("IEFA", 60.00)):
        await rig.quote(symbol, bid)


async def test_an_ira_purchase_applied_through_the_sink_blocks_the_harvest(rig: Rig) -> None:
    """Rev. Rul. 2008-5: an IRA purchase of VTI ten days ago, handed to the running daemon
    from Python (as the Plaid sync does), makes a VTI loss sale a wash sale: the next quote
    is judged with it, without a restart, and the harvest is skipped by the wash guard."""
    await rig.hold("VTI", "40", "200")
    await _market(rig)
    assert rig.daemon.imports is not None

    plan = await rig.daemon.imports.apply_import(
        [bought("VTI", "5", "185", rig.today() - timedelta(days=10))], ira()
    )
    await rig.quote("VTI", 180.00)

    assert [e.external_id for e in plan.entries] == ["plaid:tx-1"]
    assert rig.engine.stats.skips == {"wash_guard": 1}
    assert rig.broker.submissions == 0
    assert rig.ledger.position(IRA, "VTI") == Decimal(5)
    assert (await rig.repo.accounts()) == [Account(IRA, AccountType.IRA, "plaid")]


async def test_a_skip_memoised_before_the_import_is_judged_afresh(rig: Rig) -> None:
    """Re-arming: an import forgets the day's skips of its symbols. A VTI quote skipped for
    want of a replacement price is re-judged after an import, not only tomorrow."""
    await rig.hold("VTI", "40", "200")
    await rig.quote("VTI", 180.00)  # no substitute quoted: skipped, memoised for the day
    evaluations = rig.engine.stats.evaluations
    assert rig.daemon.imports is not None

    await rig.daemon.imports.apply_import(
        [bought("VTI", "5", "185", rig.today() - timedelta(days=10))], ira()
    )
    await rig.quote("VTI", 179.00)

    assert rig.engine.stats.evaluations == evaluations + 1
    assert rig.engine.stats.distinct("wash_guard") == 1


async def test_re_importing_the_same_rows_adds_nothing(rig: Rig) -> None:
    """Idempotence by source id (issue #11 §1): the same purchase handed over twice is
    journaled once."""
    assert rig.daemon.imports is not None
    row = bought("VTI", "5", "185", rig.today() - timedelta(days=10))
    await rig.daemon.imports.apply_import([row], ira())

    again = await rig.daemon.imports.apply_import([row], ira())

    assert again.entries == []
    assert again.known == 1
    assert len(await rig.journal(JournalKind.IMPORT)) == 1


async def test_a_row_the_ledger_rejects_writes_nothing(rig: Rig) -> None:
    """All or nothing (issue #11 §1): a sale of shares the IRA never held is refused with
    the source and field named; the purchase beside it is not written either."""
    assert rig.daemon.imports is not None
    day = rig.today() - timedelta(days=3)
    sale = bought("VEA", "7", "41", day, sid="tx-2")
    sale = ImportRow(
        JournalEntry.trade(
            account=IRA,
            action=Action.SELL,
            symbol="VEA",
            quantity=Decimal(7),
            price=Decimal(41),
            trade_date=day,
            source="plaid",
            external_id="plaid:tx-2",
            kind=JournalKind.IMPORT,
        ),
        Where("statement.csv", 3),
    )
    before = await rig.journal()

    with pytest.raises(InputError, match=r"^statement\.csv:3: quantity: "):
        await rig.daemon.imports.apply_import([bought("VTI", "5", "185", day), sale], ira())

    assert await rig.journal() == before
    assert await rig.repo.accounts() == []


async def test_an_outside_taxable_account_is_never_harvested(rigs: Rigs) -> None:
    """Issue #11 §3: the daemon trades only the accounts its broker manages. A spouse's
    taxable account linked through Plaid holds VEA at a large loss: no trigger, no order,
    before and after a restart (the account's record says whose it is)."""
    rig = await rigs.open()
    assert rig.daemon.imports is not None
    await rig.daemon.imports.apply_import(
        [bought("VEA", "100", "60", date(2023, 11, 1), account=SPOUSE, sid="s-1")],
        Account(SPOUSE, AccountType.TAXABLE, "plaid"),
    )
    await rig.quote("IEFA", 60.00)
    await rig.quote("VEA", 40.00)
    rig = await rigs.restart(rig)
    await rig.quote("IEFA", 60.00)
    await rig.quote("VEA", 39.00)

    assert "VEA" not in rig.engine.triggers
    assert rig.engine.stats.harvests == 0
    assert rig.broker.submissions == 0
    assert not rig.engine.trades_account(SPOUSE)
    assert rig.engine.trades_account(TAXABLE)
    assert "VEA" not in rig.engine.watched_symbols()


async def test_the_preview_shows_an_outside_accounts_loss_as_watched_not_traded(
    rigs: Rigs, sqlite_url: str
) -> None:
    """Issue #13 A.8: one decision function serves the engine, `tlh harvest --dry-run` and
    doctor, with the engine's account rule (daemon/broker_accounts.py). The spouse's VEA at a
    large loss: the preview does not propose it; it names the loss and says the account is
    watched, not traded."""
    settings = make_settings(database={"url": sqlite_url})
    rig = await rigs.open(sqlite_url, settings=settings)
    assert rig.daemon.imports is not None
    await rig.daemon.imports.apply_import(
        [bought("VEA", "100", "60", date(2023, 11, 1), account=SPOUSE, sid="s-1")],
        Account(SPOUSE, AccountType.TAXABLE, "plaid"),
    )

    previewed = await preview(
        settings, {"VEA": Decimal(40), "IEFA": Decimal(60)}, now=rig.clock.now()
    )

    [(account, symbol, decision)] = previewed
    assert (account, symbol, decision.action) == (SPOUSE, "VEA", Act.NONE)
    assert decision.reason == OUTSIDE_ACCOUNT
    assert decision.candidate is not None
    assert decision.candidate.net_loss == Decimal(2000)


async def test_lots_imported_into_the_simulators_own_account_stay_traded(rig: Rig) -> None:
    """The simulator trades every account not recorded as another source's: lots imported
    into its taxable account (already in the journal) keep it the simulator's, harvestable."""
    await rig.hold("VEA", "10", "60")
    assert rig.daemon.imports is not None
    await rig.daemon.imports.apply_import(
        [bought("VEA", "100", "60", date(2023, 11, 2), account=TAXABLE, sid="t-1")],
        Account(TAXABLE, AccountType.TAXABLE, "import"),
    )
    await rig.quote("IEFA", 60.00)
    await rig.quote("VEA", 40.00)

    assert await rig.repo.accounts() == [Account(TAXABLE, AccountType.TAXABLE, "sim")]
    assert rig.engine.stats.harvests == 1


async def test_a_request_the_daemon_died_before_answering_is_applied_once(rigs: Rigs) -> None:
    """Requests survive a crash (daemon/import_inbox.py): a `tlh import` request stored while
    the daemon dies before taking it is applied by the next daemon, once; the same request
    delivered again finds the source ids in the journal and adds nothing."""
    rig = await rigs.open()
    rows = [bought("VTI", "5", "185", rig.today() - timedelta(days=10))]
    first = await submit(rig.repo, rows, ira("import"))
    rig = await rigs.restart(rig)  # the request was never taken
    inbox = rig.daemon.inbox
    assert inbox is not None
    await inbox.announce()

    assert await inbox.poll() == 1
    done = await answer(rig.repo, first, within=0)
    second = await submit(rig.repo, rows, ira("import"))
    assert await inbox.poll() == 1
    again = await answer(rig.repo, second, within=0)

    assert done is not None
    assert [e.external_id for e in done.entries] == ["plaid:tx-1"]
    assert again is not None
    assert again.entries == []
    assert again.known == 1
    assert len(await rig.journal(JournalKind.IMPORT)) == 1
    assert await rig.repo.states(REQUEST_PREFIX) == {}


async def test_a_withdrawn_request_is_never_applied(rig: Rig) -> None:
    """A command that stops waiting withdraws its request before the daemon takes it:
    nothing of it is ever journaled."""
    inbox = rig.daemon.inbox
    assert inbox is not None
    await inbox.announce()
    request = await submit(rig.repo, [bought("VTI", "5", "185", rig.today())], ira("import"))

    assert await answer(rig.repo, request, within=0) is None
    assert await inbox.poll() == 0
    assert await rig.journal(JournalKind.IMPORT) == []


def test_rows_travel_as_json_unchanged() -> None:
    """Rows are serialised faithfully: Decimals as strings, dates and instants, where each
    row and closed lot was read (for the daemon's error messages)."""
    at = datetime(2024, 3, 1, 15, 30, tzinfo=UTC)
    row = ImportRow(
        JournalEntry.trade(
            account=IRA,
            action=Action.SELL,
            symbol="VTI",
            quantity=Decimal("1.000000001"),
            price=Decimal("185.1234"),
            fees=Decimal("0.01"),
            trade_date=date(2024, 3, 1),
            source="ib:flex",
            occurred_at=at,
            external_id="ib:1",
            kind=JournalKind.IMPORT,
        ),
        Where("flex.xml", 12, "Trade[3]"),
        aliases=("exec-1",),
        order_ref="tlh-x",
        closes=(ClosedLot(at, Decimal("1.000000001"), None, Where("flex.xml", 13, "Lot[1]")),),
    )
    split = ImportRow(
        JournalEntry.split(
            symbol="VTI",
            ratio=Decimal(2),
            trade_date=date(2024, 3, 2),
            source="x",
            external_id="s",
        ),
        Where("t.csv", None),
    )
    moved = ImportRow(
        JournalEntry.from_event(
            Transfer(0, date(2024, 3, 4), IRA, "VTI", Decimal("2.5"), "rollover-ira", "L1"),
            external_id="ofx:b:a:T-1",
        ),
        Where("s.ofx", 40, "TRANSFER[1]", "/"),
    )

    rows = [row, split, moved]
    assert rows_from_json(rows_to_json(rows)) == rows
