"""One Plaid Item's investment history as journal imports: purchases, sales, opening lots.

* ``buy`` transactions (purchases, dividend and other reinvestments, contributions) are BUY
  rows, ``sell`` transactions SELL rows; ``cash``, ``fee`` and ``transfer`` transactions move
  no shares bought or sold and are skipped and counted. The source id is ``plaid:`` and Plaid's
  ``investment_transaction_id``; the source ``plaid:ITEM_ID:SUBTYPE``. Numbers are
  ``Decimal(str(x))``, bounded (`MAX_NUMBER`).
* The trade date is the New York date of ``transaction_datetime`` when Plaid gives it, else
  ``date``, which Plaid documents as "typically the settlement date" (a day or two late).
* A ``cancel`` transaction drops the one it cancels (``cancel_transaction_id``, else the one
  buy or sell of the fetch with its account, security, quantity and price) and itself; one that
  cancels a transaction already journaled, or that matches none, refuses the import (the
  journal is append-only: tlh does not undo an imported trade).
* The journal entries of an account must all come from this Item: an account imported from
  another source (a file, OFX, an Item linked before: re-linking gives new transaction ids) is
  refused, naming both, rather than importing the same trades twice.
* Symbols are the securities' ``ticker_symbol``; a security without one is skipped and counted
  when it is cash (``is_cash_equivalent`` or type ``cash``), else an error naming it.
* Plaid has no broker lots and at most 24 months of transactions. What the account held before
  them is, on the account's first import only (no journal entry of it yet), one *opening lot*
  per symbol: the shares Plaid's holdings show that the new rows do not explain, dated the day
  before the window (from the holding's
  ``tax_lots`` older than the window when the institution gives them, else one lot at the
  holding's average cost, ``cost_basis / quantity``, or its price when there is no cost basis).
  So the ledger's position equals Plaid's holdings and sales in the window find their shares.
  Its id, ``plaid:opening:ACCOUNT:SYMBOL``, is stable. Later, a gap is never a lot: holdings
  often run ahead of transactions (a purchase not posted yet), so shares Plaid holds beyond the
  journal are reported (`Reconciled.unposted`) and arrive when their transaction posts; a
  position the journal holds more of than Plaid is reported (`Reconciled.unexplained`), never
  sold off. `ItemHistory.reconcile` computes this against the journal as it is, so the daemon
  runs it under its engine lock, where the journal cannot change underneath.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from adapters.importers import InputError
from adapters.importers.journal_import import ImportRow, Where
from adapters.storage.records import JournalEntry, JournalKind, JournalRecord
from ledger.identity import normalize_symbol
from ledger.model import ZERO, AccountType, Action

HISTORY_DAYS = 730  # Plaid keeps about 24 months of investment transactions
PRICE_PLACES = Decimal("0.000001")
SOURCE_PREFIX = "plaid"
MAX_NUMBER = Decimal("1e12")  # no quantity, price, fee or cost basis of a household reaches it
NEW_YORK = ZoneInfo("America/New_York")

# Plaid's investment account subtypes (InvestmentAccountSubtype) by the ledger's tax treatment;
# any other subtype (brokerage, stock plan, trust, ugma ...) is taxable.
SUBTYPES: Mapping[str, AccountType] = {
    **dict.fromkeys(
        ("ira", "sep ira", "simple ira", "sarsep", "keogh", "non-taxable brokerage account"),
        AccountType.IRA,
    ),
    "roth": AccountType.ROTH_IRA,
    **dict.fromkeys(
        (
            "401k", "401a", "403b", "457b", "profit sharing plan", "thrift savings plan",
            "retirement", "pension", "roth 401k", "roth 403b", "roth 457b", "roth pension",
            "roth profit sharing plan", "roth thrift savings plan",
        ),
        AccountType.K401,
    ),
    "hsa": AccountType.HSA,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Holding:
    """Plaid's position in one symbol (summed over the Item's accounts)."""

    symbol: str
    quantity: Decimal
    cost_basis: Decimal | None
    price: Decimal


@dataclass(frozen=True, slots=True)
class Reconciled:
    """An Item against the journal: its opening lots (first import only) and the gaps."""

    openings: list[ImportRow]
    # symbol -> shares the journal and the window hold beyond Plaid's holdings
    unexplained: dict[str, Decimal] = field(default_factory=dict)
    # symbol -> shares Plaid holds beyond the journal and the window (a purchase not posted)
    unposted: dict[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ItemHistory:
    """What one Item adds: its transactions, its tax treatment, Plaid's holdings; `rows`,
    `unexplained` and `unposted` are against the journal given when it was fetched (the
    daemon recomputes them under its lock with `reconcile`)."""

    account: str
    account_type: AccountType
    item_id: str
    transactions: list[ImportRow]
    holdings: dict[str, Holding]
    start: date
    tax_lots: dict[str, list[tuple[datetime, Decimal, Decimal]]]
    cancelled: frozenset[str] = frozenset()  # source ids of the transactions cancelled
    skipped: Counter[str] = field(default_factory=Counter)
    rows: list[ImportRow] = field(default_factory=list)
    unexplained: dict[str, Decimal] = field(default_factory=dict)
    unposted: dict[str, Decimal] = field(default_factory=dict)

    def reconcile(self, journal: Sequence[JournalRecord]) -> Reconciled:
        """Return the opening lots and gaps against `journal`; raise `InputError` when the
        account's entries come from another source or a cancelled transaction is journaled."""
        mine = [r for r in journal if r.account == self.account]
        _check_source(self.account, self.item_id, mine)
        known = {r.external_id for r in journal if r.external_id}
        undone = sorted(self.cancelled & known)
        if undone:
            raise InputError(
                _label(self.account),
                None,
                "cancel",
                f"Plaid cancelled {', '.join(undone)}, already in the journal; tlh does not "
                "undo an imported trade: remove the cancelled purchase or sale by hand "
                "(a new journal, re-imported) before syncing this Item again",
            )
        return _reconcile(self, journal, first=not mine, known=known)


def account_type(account: str, accounts: Sequence[Mapping[str, Any]]) -> AccountType:
    """Return the tax treatment of an Item's investment `accounts` from their subtypes; raise
    `InputError` when they differ (set `type` or `account_id` on the item)."""
    kinds = {SUBTYPES.get(_text(a.get("subtype")).lower(), AccountType.TAXABLE) for a in accounts}
    if len(kinds) > 1:
        names = ", ".join(
            sorted(f"{a['account_id']} ({_text(a.get('subtype'))})" for a in accounts)
        )
        raise InputError(
            _label(account),
            None,
            "type",
            f"the Item's accounts differ in tax treatment ({names}); set `type` or "
            "`account_id` on its [[plaid.items]] entry",
        )
    return kinds.pop() if kinds else AccountType.TAXABLE


def item_history(
    account: str,
    kind: AccountType,
    transactions: Sequence[Mapping[str, Any]],
    securities: Sequence[Mapping[str, Any]],
    holdings: Mapping[str, Any],
    start: date,
    journal: Sequence[JournalRecord] = (),
) -> ItemHistory:
    """Return the rows of one Item for `account`: its transactions from `start` on and, on
    the account's first import, the opening lots that make the ledger's position Plaid's
    `holdings` response; raise `InputError` naming the transaction or security at fault."""
    by_id = {s["security_id"]: s for s in [*securities, *holdings.get("securities", ())]}
    item_id = str((holdings.get("item") or {}).get("item_id") or "unknown-item")
    skipped: Counter[str] = Counter()
    kept, cancelled = _cancel(account, transactions, skipped)
    rows: list[ImportRow] = []
    for tx in sorted(kept, key=lambda t: (_trade_date(t), t["investment_transaction_id"])):
        row = _transaction_row(account, item_id, tx, by_id, skipped)
        if row is not None:
            rows.append(row)
    held = _holdings(account, holdings, by_id, skipped)
    lots = _tax_lots(holdings, by_id)
    history = ItemHistory(account, kind, item_id, rows, held, start, lots, cancelled, skipped)
    found = history.reconcile(journal)
    return ItemHistory(
        account, kind, item_id, rows, held, start, lots, cancelled, skipped,
        found.openings + rows, found.unexplained, found.unposted,
    )  # fmt: skip


def _cancel(
    account: str, transactions: Sequence[Mapping[str, Any]], skipped: Counter[str]
) -> tuple[list[Mapping[str, Any]], frozenset[str]]:
    """Return the transactions without the cancels and the ones they cancel, and the source
    ids of those cancelled; raise `InputError` for a cancel that matches no transaction."""
    cancels = [t for t in transactions if _text(t["type"]) == "cancel"]
    rest = {str(t["investment_transaction_id"]): t for t in transactions if t not in cancels}
    cancelled: set[str] = set()
    for cancel in cancels:
        tx_id = str(cancel["investment_transaction_id"])
        named = cancel.get("cancel_transaction_id")
        if named:
            original = str(named)
        else:
            where = Where(_label(account), None, f"investment_transaction {tx_id}")
            original = _cancelled_by(cancel, rest, where)
        rest.pop(original, None)
        cancelled.add(f"{SOURCE_PREFIX}:{original}")
        skipped["cancelled transactions and their cancels"] += 2
    return list(rest.values()), frozenset(cancelled)


def _cancelled_by(
    cancel: Mapping[str, Any], candidates: Mapping[str, Mapping[str, Any]], where: Where
) -> str:
    """Return the id of the one buy or sell `cancel` undoes: same account, security,
    quantity and price, not after it."""
    quantity = abs(_decimal(cancel["quantity"], where, "quantity"))
    price = _decimal(cancel["price"], where, "price")
    matches = [
        tx_id
        for tx_id, t in candidates.items()
        if _text(t["type"]) in ("buy", "sell")
        and t.get("account_id") == cancel.get("account_id")
        and t.get("security_id") == cancel.get("security_id")
        and abs(_decimal(t["quantity"], where, "quantity")) == quantity
        and _decimal(t["price"], where, "price") == price
        and _trade_date(t) <= _trade_date(cancel)
    ]
    if not matches:
        raise where.error(
            "type",
            f"a cancel of {quantity} at {price} that matches no buy or sell of the last 24 "
            "months; tlh cannot tell which trade it cancels, so it imports nothing",
        )
    return max(matches, key=lambda i: (_trade_date(candidates[i]), i))


def _check_source(account: str, item_id: str, mine: Sequence[JournalRecord]) -> None:
    """Refuse an account whose journal entries come from another source than this Item."""
    ours = f"{SOURCE_PREFIX}:{item_id}:"
    others = sorted({r.source for r in mine if not r.source.startswith(ours)})
    if others:
        raise InputError(
            _label(account),
            None,
            "account",
            f"the journal's entries of account {account!r} come from {', '.join(others)}, "
            f"not from Plaid Item {item_id}; importing would record the same trades twice "
            "under new ids (a re-linked Item, or one account imported two ways): give this "
            "Item its own account name only if it is another account",
        )


def _transaction_row(
    account: str,
    item_id: str,
    tx: Mapping[str, Any],
    securities: Mapping[str, Mapping[str, Any]],
    skipped: Counter[str],
) -> ImportRow | None:
    tx_id = str(tx["investment_transaction_id"])
    where = Where(_label(account), None, f"investment_transaction {tx_id}")
    kind = _text(tx["type"])
    if kind not in ("buy", "sell"):
        skipped[f"{kind} transaction(s) (no shares bought or sold)"] += 1
        return None
    currency = tx.get("iso_currency_code")
    if currency not in (None, "USD"):
        skipped[f"{kind} transaction(s) in other currencies than USD"] += 1
        return None
    symbol = _symbol(account, tx.get("security_id"), securities, where)
    if symbol is None:
        skipped["transaction(s) of cash equivalents"] += 1
        return None
    quantity = abs(_decimal(tx["quantity"], where, "quantity"))
    price = _decimal(tx["price"], where, "price")
    fees = _decimal(tx.get("fees") or 0, where, "fees")
    if quantity == ZERO:
        raise where.error("quantity", "a buy or sell of 0 shares")
    for name, value in (("price", price), ("fees", fees)):
        if value < ZERO:
            raise where.error(name, f"must not be negative (got {value})")
    day = _trade_date(tx)
    action = Action.BUY if kind == "buy" else Action.SELL
    at = _stamp(tx.get("transaction_datetime"))
    entry = JournalEntry.trade(
        account=account,
        action=action,
        symbol=symbol,
        quantity=quantity,
        price=price,
        fees=fees,
        trade_date=day,
        occurred_at=at,
        lot_id=f"{symbol}-{day:%Y%m%d}-plaid-{tx_id}" if action is Action.BUY else None,
        source=f"{SOURCE_PREFIX}:{item_id}:{_text(tx.get('subtype')) or kind}",
        external_id=f"{SOURCE_PREFIX}:{tx_id}",
        kind=JournalKind.IMPORT,
    )
    return ImportRow(entry, where)


def _holdings(
    account: str,
    response: Mapping[str, Any],
    securities: Mapping[str, Mapping[str, Any]],
    skipped: Counter[str],
) -> dict[str, Holding]:
    totals: dict[str, Holding] = {}
    for holding in response.get("holdings", ()):
        where = Where(_label(account), None, f"holding {holding['security_id']}")
        symbol = _symbol(account, holding["security_id"], securities, where)
        if symbol is None:
            skipped["holding(s) of cash equivalents"] += 1
            continue
        quantity = _decimal(holding["quantity"], where, "quantity")
        raw_cost = holding.get("cost_basis")
        cost = None if raw_cost is None else _decimal(raw_cost, where, "cost_basis")
        price = _decimal(holding["institution_price"], where, "institution_price")
        before = totals.get(symbol)
        if before is not None:
            quantity += before.quantity
            cost = None if cost is None or before.cost_basis is None else cost + before.cost_basis
        totals[symbol] = Holding(symbol, quantity, cost, price)
    return totals


def _reconcile(
    history: ItemHistory, journal: Sequence[JournalRecord], *, first: bool, known: set[str]
) -> Reconciled:
    """Return the opening lots (only when the journal holds nothing of the account yet) and
    the symbols the journal and the new rows hold more, or less, of than Plaid."""
    account, held, start = history.account, history.holdings, history.start
    explained = _journal_positions(account, journal)
    for row in history.transactions:
        entry = row.entry
        if row.source_id in known:
            continue
        assert entry.quantity is not None
        sign = 1 if entry.action is Action.BUY else -1
        explained[entry.symbol] = explained.get(entry.symbol, ZERO) + sign * entry.quantity
    found = Reconciled([])
    day = start - timedelta(days=1)
    for symbol in sorted({*held, *explained}):
        holding = held.get(symbol)
        gap = (holding.quantity if holding else ZERO) - explained.get(symbol, ZERO)
        if gap < ZERO:
            found.unexplained[symbol] = -gap
        if gap <= ZERO or holding is None:
            continue
        if not first:
            found.unposted[symbol] = gap
            continue
        base = f"{SOURCE_PREFIX}:opening:{account}:{symbol}"
        where = Where(_label(account), None, f"holding {symbol}")
        average = _average_cost(holding)
        lots = [(when.date(), qty, cost) for when, qty, cost in history.tax_lots.get(symbol, ())]
        older = [lot for lot in lots if lot[0] < start]
        if not older or sum((q for _d, q, _c in older), ZERO) > gap:
            older = []
        rest = gap - sum((q for _d, q, _c in older), ZERO)
        parts = [*older, *([(day, rest, average)] if rest > ZERO else [])]
        for n, (acquired, quantity, price) in enumerate(parts, start=1):
            entry = JournalEntry.trade(
                account=account,
                action=Action.BUY,
                symbol=symbol,
                quantity=quantity,
                price=price,
                trade_date=acquired,
                lot_id=f"{symbol}-plaid-opening-{account}-{n}",
                source=f"{SOURCE_PREFIX}:{history.item_id}:opening",
                external_id=base if len(parts) == 1 else f"{base}:{n}",
                kind=JournalKind.IMPORT,
            )
            found.openings.append(ImportRow(entry, where))
    return found


def _journal_positions(account: str, journal: Sequence[JournalRecord]) -> dict[str, Decimal]:
    """Return the shares per symbol the journal holds in `account` (splits applied)."""
    positions: dict[str, Decimal] = {}
    for record in sorted(journal, key=lambda r: (r.trade_date, r.seq)):
        if record.kind is JournalKind.SPLIT:
            if record.symbol in positions and record.ratio is not None:
                positions[record.symbol] *= record.ratio
        elif record.account == account and record.quantity is not None:
            sign = 1 if record.action is Action.BUY else -1
            positions[record.symbol] = positions.get(record.symbol, ZERO) + sign * record.quantity
    return positions


def _tax_lots(
    response: Mapping[str, Any], securities: Mapping[str, Mapping[str, Any]]
) -> dict[str, list[tuple[datetime, Decimal, Decimal]]]:
    """Return the holdings' dated tax lots by symbol: (purchased at, quantity, price)."""
    lots: dict[str, list[tuple[datetime, Decimal, Decimal]]] = {}
    for holding in response.get("holdings", ()):
        security = securities.get(holding["security_id"], {})
        ticker = security.get("ticker_symbol")
        for lot in holding.get("tax_lots") or ():
            when, qty = lot.get("original_purchase_datetime"), lot.get("quantity")
            cost, unit = lot.get("cost_basis"), lot.get("purchase_price")
            if not ticker or when is None or not qty or (cost is None and unit is None):
                continue
            quantity = Decimal(str(qty))
            price = Decimal(str(unit)) if cost is None else Decimal(str(cost)) / quantity
            stamp = when if isinstance(when, datetime) else datetime.fromisoformat(str(when))
            lots.setdefault(normalize_symbol(ticker), []).append(
                (stamp, quantity, price.quantize(PRICE_PLACES))
            )
    return lots


def _average_cost(holding: Holding) -> Decimal:
    if holding.cost_basis is not None and holding.quantity > ZERO:
        return (holding.cost_basis / holding.quantity).quantize(PRICE_PLACES)
    return holding.price


def _symbol(
    account: str,
    security_id: object,
    securities: Mapping[str, Mapping[str, Any]],
    where: Where,
) -> str | None:
    """Return the ticker of a security (None for cash); raise for one without a ticker."""
    security = securities.get(str(security_id)) if security_id else None
    if security is None:
        raise where.error("security_id", f"names no security of the response ({security_id!r})")
    ticker = security.get("ticker_symbol")
    if ticker:
        return normalize_symbol(str(ticker))
    if security.get("is_cash_equivalent") or _text(security.get("type")) == "cash":
        return None
    raise where.error(
        "security_id",
        f"security {security.get('name')!r} ({security['security_id']}) has no ticker symbol, "
        f"so its trades in {account!r} cannot be matched to the ledger's symbols",
    )


def _decimal(value: object, where: Where, name: str) -> Decimal:
    """Return a JSON number as the Decimal it prints as (``Decimal(str(x))``)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise where.error(name, f"must be a number (got {value!r})")
    number = Decimal(str(value))
    if not number.is_finite():
        raise where.error(name, f"must be a finite number (got {value!r})")
    if abs(number) >= MAX_NUMBER:
        raise where.error(name, f"must be less than {MAX_NUMBER:,.0f} in size (got {value!r})")
    return number


def _trade_date(tx: Mapping[str, Any]) -> date:
    """Return the New York date of ``transaction_datetime`` when given (UTC when it has no
    zone), else ``date`` (typically the settlement date, says Plaid)."""
    at = _stamp(tx.get("transaction_datetime"))
    return at.astimezone(NEW_YORK).date() if at is not None else _day(tx["date"])


def _stamp(value: object) -> datetime | None:
    if value is None or value == "":
        return None
    stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _day(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _text(value: object) -> str:
    """Return an enum-like value of the generated models as its string."""
    return "" if value is None else str(getattr(value, "value", value))


def _label(account: str) -> str:
    return f"Plaid item {account!r}"
