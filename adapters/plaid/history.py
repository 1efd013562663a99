"""One Plaid Item's investment history as journal imports: purchases, sales, opening lots.

* ``buy`` transactions (purchases, dividend and other reinvestments, contributions) are BUY
  rows, ``sell`` transactions SELL rows; ``cash``, ``fee``, ``transfer`` and ``cancel``
  transactions move no shares bought or sold and are skipped and counted. The source id is
  ``plaid:`` and Plaid's ``investment_transaction_id``. Numbers are ``Decimal(str(x))``.
* Symbols are the securities' ``ticker_symbol``; a security without one is skipped and counted
  when it is cash (``is_cash_equivalent`` or type ``cash``), else an error naming it.
* Plaid has no broker lots and at most 24 months of transactions. What the account held before
  them is one *opening lot* per symbol: the shares Plaid's holdings show that the journal and
  the new rows do not explain, dated the day before the window (from the holding's
  ``tax_lots`` older than the window when the institution gives them, else one lot at the
  holding's average cost, ``cost_basis / quantity``, or its price when there is no cost basis).
  So the ledger's position equals Plaid's holdings and sales in the window find their shares.
  Its id, ``plaid:opening:ACCOUNT:SYMBOL:DATE``, is stable, and once journaled the gap is gone:
  syncing again adds nothing. A position the journal holds more of than Plaid is reported
  (`ItemHistory.unexplained`), never sold off.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from adapters.importers import InputError
from adapters.importers.journal_import import ImportRow, Where
from adapters.storage.records import JournalEntry, JournalKind, JournalRecord
from ledger.identity import normalize_symbol
from ledger.model import ZERO, AccountType, Action

HISTORY_DAYS = 730  # Plaid keeps about 24 months of investment transactions
PRICE_PLACES = Decimal("0.000001")
SOURCE_PREFIX = "plaid"

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
class ItemHistory:
    """What one Item adds: rows to import, its tax treatment, Plaid's holdings."""

    account: str
    account_type: AccountType
    rows: list[ImportRow]
    holdings: dict[str, Holding]
    skipped: Counter[str] = field(default_factory=Counter)
    # symbol -> shares the journal and the window hold beyond Plaid's holdings
    unexplained: dict[str, Decimal] = field(default_factory=dict)


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
    """Return the rows of one Item for `account`: its transactions from `start` on and the
    opening lots that make the journal's position equal Plaid's `holdings` response; raise
    `InputError` naming the transaction or security at fault."""
    by_id = {s["security_id"]: s for s in [*securities, *holdings.get("securities", ())]}
    skipped: Counter[str] = Counter()
    rows: list[ImportRow] = []
    for tx in sorted(transactions, key=lambda t: (_day(t["date"]), t["investment_transaction_id"])):
        row = _transaction_row(account, tx, by_id, skipped)
        if row is not None:
            rows.append(row)
    held = _holdings(account, holdings, by_id, skipped)
    openings, unexplained = _opening_rows(account, start, rows, held, holdings, by_id, journal)
    return ItemHistory(account, kind, openings + rows, held, skipped, unexplained)


def _transaction_row(
    account: str,
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
    day = _day(tx["date"])
    action = Action.BUY if kind == "buy" else Action.SELL
    at = tx.get("transaction_datetime")
    entry = JournalEntry.trade(
        account=account,
        action=action,
        symbol=symbol,
        quantity=quantity,
        price=price,
        fees=fees,
        trade_date=day,
        occurred_at=at if isinstance(at, datetime) and at.tzinfo else None,
        lot_id=f"{symbol}-{day:%Y%m%d}-plaid-{tx_id}" if action is Action.BUY else None,
        source=f"plaid:{account}:{_text(tx.get('subtype')) or kind}",
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


def _opening_rows(
    account: str,
    start: date,
    rows: Sequence[ImportRow],
    held: Mapping[str, Holding],
    response: Mapping[str, Any],
    securities: Mapping[str, Mapping[str, Any]],
    journal: Sequence[JournalRecord],
) -> tuple[list[ImportRow], dict[str, Decimal]]:
    """Return the opening lots of the shares Plaid holds that nothing else explains, and the
    symbols the journal and the new rows hold more of than Plaid."""
    explained = _journal_positions(account, journal)
    known = {r.external_id for r in journal if r.external_id}
    for row in rows:
        entry = row.entry
        if row.source_id in known:
            continue
        assert entry.quantity is not None
        sign = 1 if entry.action is Action.BUY else -1
        explained[entry.symbol] = explained.get(entry.symbol, ZERO) + sign * entry.quantity
    lots_by_symbol = _tax_lots(response, securities)
    openings: list[ImportRow] = []
    unexplained: dict[str, Decimal] = {}
    day = start - timedelta(days=1)
    for symbol in sorted({*held, *explained}):
        holding = held.get(symbol)
        gap = (holding.quantity if holding else ZERO) - explained.get(symbol, ZERO)
        if gap < ZERO:
            unexplained[symbol] = -gap
        if gap <= ZERO or holding is None:
            continue
        base = f"{SOURCE_PREFIX}:opening:{account}:{symbol}:{day.isoformat()}"
        where = Where(_label(account), None, f"holding {symbol}")
        average = _average_cost(holding)
        lots = [(when.date(), qty, cost) for when, qty, cost in lots_by_symbol.get(symbol, ())]
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
                lot_id=f"{symbol}-{acquired:%Y%m%d}-plaid-opening-{account}-{n}",
                source=f"plaid:{account}:opening",
                external_id=base if len(parts) == 1 else f"{base}:{n}",
                kind=JournalKind.IMPORT,
            )
            openings.append(ImportRow(entry, where))
    return openings, unexplained


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
    return number


def _day(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _text(value: object) -> str:
    """Return an enum-like value of the generated models as its string."""
    return "" if value is None else str(getattr(value, "value", value))


def _label(account: str) -> str:
    return f"Plaid item {account!r}"
