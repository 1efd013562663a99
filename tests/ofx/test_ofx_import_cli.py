"""`tlh import --ofx` as a user runs it: a subprocess on a real SQLite file.

Issue #11 §1 (the command's contract): OFX/QFX statements are imported once (the FITID the
source id), overlapping statements add nothing twice, ``--dry-run`` prints the table and
writes nothing, bad input names the file, line and element and exits 2 with nothing
imported. §3: a purchase in an imported IRA makes a taxable loss sale of the same symbol a
wash, the loss disallowed for good (Rev. Rul. 2008-5, as the ledger models it).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.storage.engine import create_engine
from adapters.storage.repository import Repository
from daemon.app import make_ledger
from daemon.settings import load_settings

pytestmark = pytest.mark.timeout(180)
TLH = Path(sys.executable).with_name("tlh")
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "tlh.sqlite"


def tlh(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TLH_")}
    env |= {"TLH_DATABASE__URL": f"sqlite+aiosqlite:///{db}", "COLUMNS": "200"}
    return subprocess.run(
        [str(TLH), *args], cwd=db.parent, env=env, text=True, capture_output=True, timeout=90
    )


def journal(db: Path) -> list[tuple[str, str, str | None]]:
    """Return (kind, external id, account) of every journal entry, in seq order."""
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT kind, external_id, account FROM journal ORDER BY seq"
        ).fetchall()


def test_a_statement_is_imported_once(db: Path) -> None:
    """Every transaction type of the fixture, then nothing the second time."""
    statement = str(FIXTURES / "all_types.ofx")

    first = tlh(db, "import", "--account", "brokerage", "--ofx", statement)
    entries = journal(db)
    second = tlh(db, "import", "--account", "brokerage", "--ofx", statement)

    assert first.returncode == 0, first.stderr
    assert "imported 12 journal entries into account brokerage" in first.stdout
    assert "skipped 1 cash-only transactions (INCOME)" in first.stdout
    assert "skipped 2 reversed transactions and their reversals" in first.stdout
    assert len(entries) == 12
    assert {kind for kind, _id, _account in entries} == {"import", "split", "transfer"}
    assert second.returncode == 0, second.stderr
    assert "imported 0 journal entries" in second.stdout
    assert "12 transaction(s) already in the journal" in second.stdout
    assert journal(db) == entries


def test_overlapping_statements_add_each_transaction_once(db: Path) -> None:
    """The SGML August statement, then an XML one of the same account repeating its
    purchase (FITID 23321) and adding a sale: only the sale is new."""
    assert tlh(db, "import", "--account", "acme", "--ofx", str(FIXTURES / "spec_example.ofx"))
    before = journal(db)

    result = tlh(db, "import", "--account", "acme", "--ofx", str(FIXTURES / "overlap.qfx"))

    assert result.returncode == 0, result.stderr
    assert "imported 1 journal entries" in result.stdout
    assert "1 transaction(s) already in the journal" in result.stdout
    assert journal(db) == [*before, ("import", "ofx:121099999:999988:23400", "acme")]


def test_a_dry_run_prints_the_table_and_writes_nothing(db: Path) -> None:
    """The table of what would be added, and no database written (not even created)."""
    result = tlh(
        db, "import", "--account", "acme", "--ofx", str(FIXTURES / "spec_example.ofx"), "--dry-run"
    )

    assert result.returncode == 0, result.stderr
    assert "Would add (dry run): account acme" in result.stdout
    assert "2005-08-25  BUY     ACME" in result.stdout
    assert "ofx:121099999:999988:23321" in result.stdout
    assert "would import 1 journal entries" in result.stdout
    assert not db.exists()


def test_a_dry_run_on_a_journal_writes_nothing(db: Path) -> None:
    """On an existing journal the dry run shows only what is new, and writes nothing."""
    assert tlh(db, "import", "--account", "acme", "--ofx", str(FIXTURES / "spec_example.ofx"))
    before = journal(db)

    result = tlh(
        db, "import", "--account", "acme", "--ofx", str(FIXTURES / "overlap.qfx"), "--dry-run"
    )

    assert result.returncode == 0, result.stderr
    assert "would import 1 journal entries" in result.stdout
    assert "23400" in result.stdout
    assert journal(db) == before


def edited(folder: Path, name: str, old: str, new: str) -> tuple[Path, int]:
    """Write the fixture `name` with `old` replaced; return it and the line of the change."""
    text = (FIXTURES / name).read_text()
    assert old in text
    at = text.index(old)
    path = folder / f"bad{Path(name).suffix}"
    path.write_text(text[:at] + new + text[at + len(old) :])
    same = next(
        (i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b),
        min(len(old), len(new)),
    )
    return path, text[: at + same].count("\n") + 1


@pytest.mark.parametrize(
    ("name", "old", "new", "field", "message"),
    [
        (  # a bad number, SGML
            "spec_example.ofx",
            "<UNITS>100\n<UNITPRICE>",
            "<UNITS>1O0\n<UNITPRICE>",
            "BUYSTOCK[1]/INVBUY/UNITS",
            "cannot read '1O0': not a number",
        ),
        (  # a number beyond what decimal arithmetic holds (it overflowed in the ledger)
            "spec_example.ofx",
            "<UNITS>100\n<UNITPRICE>",
            "<UNITS>1e400000000\n<UNITPRICE>",
            "BUYSTOCK[1]/INVBUY/UNITS",
            "out of range: must be less than 10^12 (got '1e400000000')",
        ),
        (  # a number the ledger's 28 digits would round (InvalidOperation in ledger/money.py)
            "spec_example.ofx",
            "<UNITS>100\n<UNITPRICE>",
            "<UNITS>1E+30\n<UNITPRICE>",
            "BUYSTOCK[1]/INVBUY/UNITS",
            "out of range: must be less than 10^12 (got '1E+30')",
        ),
        (  # a price finer than any asset's smallest unit, XML
            "overlap.qfx",
            "<UNITPRICE>52.00</UNITPRICE>",
            "<UNITPRICE>0.0000000000000000001</UNITPRICE>",
            "SELLSTOCK[1]/INVSELL/UNITPRICE",
            "more than 18 decimal places (got '0.0000000000000000001')",
        ),
        (  # a bad date, XML
            "all_types.ofx",
            "<DTTRADE>20250107</DTTRADE>",
            "<DTTRADE>20250231</DTTRADE>",
            "BUYMF[1]/INVBUY/INVTRAN/DTTRADE",
            "cannot read '20250231': not an OFX date",
        ),
        (  # a missing field
            "all_types.ofx",
            "<UNITPRICE>520.00</UNITPRICE>",
            "",
            "SELLMF[1]/INVSELL/UNITPRICE",
            "missing",
        ),
        (  # an unknown security
            "ira_2025.qfx",
            "<FITID>IRA-0325-DIV\n<DTTRADE>20250325\n</INVTRAN>\n<SECID>\n<UNIQUEID>922908769",
            "<FITID>IRA-0325-DIV\n<DTTRADE>20250325\n</INVTRAN>\n<SECID>\n<UNIQUEID>999999999",
            "REINVEST[1]/SECID/UNIQUEID",
            "security '999999999' (CUSIP) is not in the SECLIST",
        ),
        (  # a negative price
            "overlap.qfx",
            "<UNITPRICE>52.00</UNITPRICE>",
            "<UNITPRICE>-52.00</UNITPRICE>",
            "SELLSTOCK[1]/INVSELL/UNITPRICE",
            "must not be negative",
        ),
    ],
)
def test_a_bad_field_exits_2_naming_file_line_and_element(
    db: Path, name: str, old: str, new: str, field: str, message: str
) -> None:
    """One line on stderr naming the file, the line and the element; nothing imported (not
    even the good transactions around it)."""
    bad, line = edited(db.parent, name, old, new)
    if not new:  # a missing field: the line of its transaction
        text = bad.read_text()
        line = text[: text.rindex("<SELLMF>", 0, text.index("S-2"))].count("\n") + 1

    result = tlh(db, "import", "--account", "a", "--ofx", str(bad))

    assert result.returncode == 2
    assert result.stderr.startswith(f"{bad}:{line}: {field}: {message}"), result.stderr
    assert "Traceback" not in result.stderr
    assert journal(db) == []


def test_a_file_that_is_not_ofx_exits_2(db: Path) -> None:
    """A CSV given as --ofx: the header is named."""
    bad = db.parent / "trades.ofx"
    bad.write_text("date,account,action\n2025-01-02,,BUY\n")

    result = tlh(db, "import", "--account", "a", "--ofx", str(bad))

    assert result.returncode == 2
    assert result.stderr.startswith(f"{bad}:1: header: not an OFX file")
    assert journal(db) == []


def test_malformed_markup_exits_2_naming_the_line(db: Path) -> None:
    """An end tag closing the wrong element (ofxtools' parser) is named by its line."""
    bad, line = edited(db.parent, "overlap.qfx", "<TICKER>ACME</TICKER>", "<TICKER>ACME</SECNAME>")

    result = tlh(db, "import", "--account", "a", "--ofx", str(bad))

    assert result.returncode == 2
    assert result.stderr.startswith(f"{bad}:{line}: malformed OFX"), result.stderr
    assert journal(db) == []


def test_a_sale_the_ledger_refuses_imports_nothing(db: Path) -> None:
    """The XML statement's sale without the purchase before it: the ledger's refusal names
    the sale, and nothing of the file is imported."""
    bad, _ = edited(db.parent, "overlap.qfx", "<FITID>23321</FITID>", "<FITID>23321</FITID>")
    text = bad.read_text()
    bad.write_text(text.replace("<UNITS>100</UNITS>", "<UNITS>10</UNITS>"))
    line = text[: text.index("<SELLSTOCK>")].count("\n") + 1

    result = tlh(db, "import", "--account", "a", "--ofx", str(bad))

    assert result.returncode == 2
    assert result.stderr.startswith(f"{bad}:{line}: SELLSTOCK[1]/quantity:"), result.stderr
    assert journal(db) == []


def test_ofx_needs_an_account(db: Path) -> None:
    """The statement's ACCTID is the broker's number, not a tlh account name: --account."""
    result = tlh(db, "import", "--ofx", str(FIXTURES / "spec_example.ofx"))

    assert result.returncode == 2
    assert "--account is required with --ofx" in result.stderr


def test_a_401k_statement_defaults_to_a_401k_account(db: Path) -> None:
    """No --type and no [accounts] entry: an INV401K statement is imported as 401k, stored
    with the account, and the user is told to declare it."""
    result = tlh(db, "import", "--account", "work-401k", "--ofx", str(FIXTURES / "k401.ofx"))

    assert result.returncode == 0, result.stderr
    assert "is a 401k statement: --type 401k" in result.stderr
    assert 'declare `work-401k = "401k"` under [accounts]' in result.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT account, type FROM accounts").fetchall() == [
            ("work-401k", "401k")
        ]


def test_an_ira_purchase_washes_a_taxable_loss_for_good(db: Path) -> None:
    """Rev. Rul. 2008-5: the IRA (imported from OFX) buys 100 VTI on 2025-03-14; the taxable
    account sells its 100 VTI at a loss on 2025-03-20. The journal, replayed by the ledger as
    the daemon and the tax report replay it, disallows the whole loss permanently."""
    config = db.parent / "tlh.toml"
    config.write_text('[accounts]\nira = "ira"\ntaxable = "taxable"\n')
    trades = db.parent / "taxable.csv"
    trades.write_text(
        "date,account,action,symbol,quantity,price,fees,lot_id\n"
        "2025-01-02,,BUY,VTI,100,250,0,\n"
        "2025-03-20,,SELL,VTI,100,230,0,\n"
    )
    cfg = ("--config", str(config))
    ofx = tlh(db, "import", *cfg, "--account", "ira", "--ofx", str(FIXTURES / "ira_2025.qfx"))
    csv = tlh(db, "import", *cfg, "--account", "taxable", "--trades", str(trades))
    assert ofx.returncode == 0, ofx.stderr
    assert csv.returncode == 0, csv.stderr

    ledger = make_ledger(load_settings(config, env={}))
    ledger.apply_all(r.to_event() for r in asyncio.run(load_journal(db)))

    (sale,) = [s for s in ledger.sales if s.account == "taxable"]
    assert sale.proceeds - sale.cost_basis == Decimal(-2000)
    assert sale.wash_sale_disallowed == Decimal(2000)
    assert sale.permanently_disallowed == Decimal(2000)
    assert sale.gain_loss == Decimal(0)


def test_a_transfer_out_leaves_the_ledger_without_a_sale(db: Path) -> None:
    """TRANSFER OUT of 10 VTI on 2025-07-01 (all_types.ofx; OFX 2.x §13.9.2.4): the dry run
    shows a transfer, and the journal's replay has no sale that day (no sale or exchange, IRC
    §1001(a)); the position left is what the FIFO transfer did not take."""
    statement = str(FIXTURES / "all_types.ofx")
    dry = tlh(db, "import", "--account", "brokerage", "--ofx", statement, "--dry-run")
    result = tlh(db, "import", "--account", "brokerage", "--ofx", statement)
    assert dry.returncode == 0, dry.stderr
    assert "TRANSFER out" in dry.stdout
    assert result.returncode == 0, result.stderr

    ledger = make_ledger(load_settings(None, env={}))
    ledger.apply_all(r.to_event() for r in asyncio.run(load_journal(db)))

    assert all(s.date_sold.isoformat() != "2025-07-01" for s in ledger.sales)
    # 10 in (2020-01-15) + 20 bought, 5 sold (FIFO: the 2020 lot), x2 split: 10 + 40;
    # the transfer out takes the 2020 lot's 10 (FIFO); X-1's purchase is reversed.
    assert ledger.position("brokerage", "VTI") == Decimal(40)
    lots = [lot for lot in ledger.open_lots() if lot.symbol == "VTI"]
    assert {lot.acquired.isoformat() for lot in lots} == {"2025-01-06"}


def test_a_transfer_out_of_more_than_is_held_imports_nothing(db: Path) -> None:
    """TRANSFER OUT of 100 VTI when the statement leaves 50: refused as a sale of more than is
    held, naming the transfer; nothing of the file is imported."""
    bad, _ = edited(db.parent, "all_types.ofx", "<UNITS>-10</UNITS>", "<UNITS>-100</UNITS>")
    text = bad.read_text()
    line = text[: text.index("<TRANSFER>", text.index("T-IN-1"))].count("\n") + 1

    result = tlh(db, "import", "--account", "a", "--ofx", str(bad))

    assert result.returncode == 2
    assert result.stderr.startswith(f"{bad}:{line}: TRANSFER[2]/quantity:"), result.stderr
    assert "transfers 100 but only 50 held" in result.stderr
    assert journal(db) == []


async def load_journal(db: Path) -> list:  # type: ignore[type-arg]
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    try:
        return await Repository(engine).load_journal()
    finally:
        await engine.dispose()
