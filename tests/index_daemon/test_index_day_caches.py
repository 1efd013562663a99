"""What the direct index keeps between the calls of a session (`daemon.index_manager`): the
names the account holds and its holdings until the ledger changes
(`HarvestEngine.ledger_version`), each quote's mid until the name is quoted anew. Each test
changes what a kept value derives from and reads it again: a stale value would fail it.
"""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal
from pathlib import Path

from indexkit import ACCOUNT, IndexRig, open_index_rig

from adapters.prices.csvload import load_prices
from daemon.backtest_sampler import DaySampler
from ledger.model import Action, Trade

SEQS = itertools.count(1000)


async def buy(rig: IndexRig, symbol: str, quantity: int) -> None:
    """Journal a purchase in the index account, as an import does (the ledger changes)."""
    trade = Trade(
        next(SEQS),
        rig.today(),
        ACCOUNT,
        Action.BUY,
        symbol,
        Decimal(quantity),
        Decimal(100),
        lot_id=f"{symbol}-{rig.today().isoformat()}-{quantity}",
        source="test",
    )
    await rig.daemon.engine.import_trades([trade], source=f"test{trade.seq}")


async def test_a_name_bought_since_is_priced(sqlite_url: str) -> None:
    """`IndexManager.prices`: the index's names and every name the account holds. ZZZ, outside
    the index, is not priced until the account buys it; then it is, though the names held
    were read before the purchase."""
    rig = await open_index_rig(sqlite_url)
    try:
        await rig.quote("ZZZ", 50.0)
        assert "ZZZ" not in rig.index.prices(rig.today())
        await buy(rig, "ZZZ", 10)
        assert rig.index.prices(rig.today())["ZZZ"] == Decimal("50.01")
    finally:
        await rig.daemon.close()


async def test_the_holdings_follow_a_trade(sqlite_url: str) -> None:
    """`IndexManager.book`: the holdings are the ledger's. A purchase of 10 AAA after a book
    was made shows in the next book (110 shares), as one more parcel."""
    rig = await open_index_rig(sqlite_url)
    try:
        before = rig.index.book(rig.today(), cash=Decimal(0), lockouts=False)
        assert before.holdings["AAA"].quantity == Decimal(100)
        await buy(rig, "AAA", 10)
        after = rig.index.book(rig.today(), cash=Decimal(0), lockouts=False)
        assert after.holdings["AAA"].quantity == Decimal(110)
        assert len(after.holdings["AAA"].parcels) == 2
    finally:
        await rig.daemon.close()


async def test_a_rebuilt_ledger_is_read_afresh(sqlite_url: str) -> None:
    """`HarvestEngine.rebuild` replays the journal into a new ledger: the holdings of the next
    book are that ledger's parcels, not the replaced one's."""
    rig = await open_index_rig(sqlite_url)
    try:
        engine = rig.daemon.engine
        rig.index.book(rig.today(), cash=Decimal(0), lockouts=False)
        await engine.rebuild()
        book = rig.index.book(rig.today(), cash=Decimal(0), lockouts=False)
        assert book.holdings["AAA"].parcels[0] is next(engine.ledger.parcels(ACCOUNT, "AAA"))
    finally:
        await rig.daemon.close()


async def test_a_new_quote_reprices_its_name(sqlite_url: str) -> None:
    """`IndexManager.prices`: the mid of the latest quote. AAA quoted anew at 90.00/90.02
    after a pricing at 100.00/100.02 is priced at 90.01."""
    rig = await open_index_rig(sqlite_url)
    try:
        assert rig.index.prices(rig.today())["AAA"] == Decimal("100.01")
        await rig.quote("AAA", 90.0)
        assert rig.index.prices(rig.today())["AAA"] == Decimal("90.01")
    finally:
        await rig.daemon.close()


async def test_the_sampled_open_lots_follow_a_trade(sqlite_url: str, tmp_path: Path) -> None:
    """`DaySampler.sample` counts the ledger's open lots at each close: 4, then 5 once a lot
    was bought (counted again after the ledger changed)."""
    rig = await open_index_rig(sqlite_url)
    try:
        path = tmp_path / "prices.csv"
        path.write_text("date,symbol,open,high,low,close\n2024-03-04,AAA,100,100,100,100\n")
        sampler = DaySampler(load_prices(path), rig.daemon, rig.broker)
        day = date(2024, 3, 4)
        await sampler.sample(day, range(0))
        await sampler.sample(day, range(0))
        await buy(rig, "AAA", 10)
        await sampler.sample(day, range(0))
        series = sampler.series(
            trades=[],
            sales=[],
            benchmark=[],
            short_term_rate=Decimal("0.37"),
            long_term_rate=Decimal("0.2"),
            label="test",
        )
        assert [s.lots for s in series.samples] == [4, 4, 5]
    finally:
        await rig.daemon.close()
