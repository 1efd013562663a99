"""Read an Interactive Brokers Flex statement (Activity Flex Query, XML) into journal imports.

`tlh import --ib-flex FILE` and `--ib-flex-fetch` read trades older than the TWS API's
``reqExecutions`` reaches. Attribute values are converted by the maintained ``ibflex``
library (IB's date formats, numbers with thousands separators, enumerations); the XML itself
is read here so that every error names the file, the line and the element with its position,
e.g. ``stmt.xml:14: Trade[3]/@quantity: ...``. DOCTYPEs and entity declarations are refused.

Field meanings follow IB's Flex Query reference, Trades section
(https://www.ibkrguides.com/reportingreference/reportguide/tradesfq.htm). What is imported:

* ``<Trade>`` rows of the executions level (``levelOfDetail="EXECUTION"``, or no level) of
  stocks and ETFs (``assetCategory="STK"``) in USD: a purchase or a sale at ``tradePrice``,
  fees the commission and taxes charged (``-ibCommission - taxes``), dated ``tradeDate``
  at ``dateTime`` read in New York time (IB's statement time zone for US accounts). The
  source id is the row's ``transactionID`` (else its ``tradeID``); a purchase's lot id is
  ``SYMBOL-YYYYMMDD-ib<id>``. The execution id (``ibExecID``) and the order reference
  (``orderReference``, tlh's intent id on its own orders) let the import leave out fills the
  daemon journaled itself.
* Closed lots (``<Lot>`` rows, or ``<Trade levelOfDetail="CLOSED_LOT">``, following the sale
  that closed them; the query's "Closed Lots" option): the sale relieves exactly those lots,
  found in the ledger by their ``openDateTime`` (and cost per share when several match).
* Forward splits (``<CorporateAction type="FS">``, the ratio read from "SPLIT N FOR M" in its
  description), journaled as the daemon journals a split (``split:SYMBOL:DATE``).

What is left out, counted and named in the command's summary: rows of other asset classes
(options, futures, bonds, cash ...: the ledger holds shares only), of other currencies, the
roll-up levels (orders, summaries), trades cancelled in the same file together with their
cancellation, cash-only corporate actions (dividends, coupons, proxy votes, fees), and
transfers (``<Transfer>``, ``<TradeTransfer>``): Flex gives no original cost and acquisition
date for them, so import those lots with ``--trades``; rows of a Trade Confirmation query
(``<TradeConfirm>``: use an Activity Flex Query). Refused (exit 2, nothing imported):
any other corporate action of a stock (reverse splits, mergers, spin-offs, ...), whose effect
on the lots tlh cannot model from the row, and a cancellation of a trade not in the file.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from xml.parsers import expat
from zoneinfo import ZoneInfo

from ibflex import Types, enums
from ibflex.parser import FlexParserError, parse_element_attr

from adapters.importers import InputError, inexact
from adapters.importers.journal_import import ClosedLot, ImportRow, Where
from adapters.storage.records import JournalEntry, JournalKind
from ledger.identity import normalize_symbol
from ledger.model import ZERO, Action

NEW_YORK = ZoneInfo("America/New_York")
SOURCE_PREFIX = "ib-flex"
BROKER_FILL_PREFIX = "ib"  # external ids of the IB adapter's fills: ib:<execId>
EXECUTION_LEVELS = frozenset({None, "EXECUTION"})
CLOSED_LOT_LEVEL = "CLOSED_LOT"
CASH_ACTIONS = frozenset(
    {
        enums.Reorg.CASHDIV,
        enums.Reorg.COUPONPAYMENT,
        enums.Reorg.PROXYVOTE,
        enums.Reorg.FEEALLOCATION,
    }
)
TRANSFER_TAGS = frozenset({"Transfer", "TradeTransfer", "TransferLot"})
_SPLIT_RATIO = re.compile(r"SPLIT\s+([0-9]+(?:\.[0-9]+)?)\s+FOR\s+([0-9]+(?:\.[0-9]+)?)", re.I)
_CANCEL_SIDES = frozenset({enums.BuySell.CANCELBUY, enums.BuySell.CANCELSELL})
_CANCEL_TYPES = frozenset({enums.TradeType.TRADECANCEL, enums.TradeType.FRACSHARECANCEL})

_LEFT_OUT = -1
E = TypeVar("E", bound=Types.FlexElement)


@dataclass(frozen=True, slots=True)
class FlexImport:
    """The transactions of a Flex statement file, in file order, and what was left out."""

    account_id: str | None  # the statements' accountId (None: the file holds no statement)
    rows: list[ImportRow]
    skipped: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class _Node:
    tag: str
    attrs: dict[str, str]
    line: int
    children: list[_Node] = field(default_factory=list)


def read_flex_file(path: str | Path, account: str | None = None) -> FlexImport:
    """Return the transactions of the Flex XML file at `path`; raise `InputError`."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(path, None, None, f"cannot read file: {exc.strerror or exc}") from exc
    return read_flex(data, str(path), account)


def read_flex(data: bytes, path: str, account: str | None = None) -> FlexImport:
    """Return the transactions of Flex XML `data` (named `path` in errors) as imports into
    `account` (default: the statements' accountId); raise `InputError`."""
    root = _parse_xml(data, path)
    if root.tag != "FlexQueryResponse":
        raise InputError(
            path,
            root.line,
            root.tag,
            f"not a Flex statement: the root element is <{root.tag}>, expected <FlexQueryResponse>",
        )
    statements = [
        s for group in _children(root, "FlexStatements") for s in _children(group, "FlexStatement")
    ]
    ids: dict[str, int] = {}
    for n, statement in enumerate(statements, start=1):
        account_id = statement.attrs.get("accountId", "").strip()
        if not account_id:
            name = f"FlexStatement[{n}]/@accountId"
            raise InputError(path, statement.line, name, "missing: the statement names no account")
        ids.setdefault(account_id, statement.line)
    if len(ids) > 1:
        listed = ", ".join(ids)
        raise InputError(
            path,
            list(ids.values())[1],
            "FlexStatement/@accountId",
            f"the file holds statements of several accounts ({listed}); "
            "import one account at a time",
        )
    found = next(iter(ids), None)
    reader = _StatementReader(path, account or found or "", len(statements) > 1)
    for n, statement in enumerate(statements, start=1):
        reader.read(statement, n)
    return FlexImport(found, reader.finish(), reader.skipped)


def _parse_xml(data: bytes, path: str) -> _Node:
    """Return the element tree of `data`, each element with its line."""
    parser = expat.ParserCreate()
    stack: list[_Node] = []
    roots: list[_Node] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        node = _Node(tag, attrs, parser.CurrentLineNumber)
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)

    def end(_tag: str) -> None:
        stack.pop()

    def declaration(*_args: Any) -> None:
        raise InputError(
            path, parser.CurrentLineNumber, None, "DOCTYPE and entity declarations are refused"
        )

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.StartDoctypeDeclHandler = declaration
    parser.EntityDeclHandler = declaration
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        reason = expat.ErrorString(exc.code)
        raise InputError(
            path, exc.lineno, None, f"not well-formed XML: {reason} (column {exc.offset + 1})"
        ) from None
    if not roots:
        raise InputError(path, 1, None, "the file holds no XML element")
    return roots[0]


def _children(node: _Node, tag: str) -> list[_Node]:
    return [c for c in node.children if c.tag == tag]


# The attributes read of each element: only these are converted (and so checked); a real
# statement's rows carry some eighty more.
_USED = {
    Types.Trade: frozenset(
        {
            "levelOfDetail", "assetCategory", "currency", "buySell", "transactionType",
            "origTradeID", "tradeID", "transactionID", "symbol", "quantity", "multiplier",
            "tradePrice", "ibCommission", "ibCommissionCurrency", "taxes", "tradeDate",
            "dateTime", "tradeTime", "ibExecID", "orderReference",
        }
    ),
    Types.Lot: frozenset({"symbol", "openDateTime", "quantity", "cost"}),
    Types.CorporateAction: frozenset(
        {
            "assetCategory", "currency", "type", "actionDescription", "description", "symbol",
            "dateTime", "reportDate", "transactionID", "actionID",
        }
    ),
}  # fmt: skip


def _convert(cls: type[E], node: _Node, where: Where) -> E:
    """Return `node` as ibflex's `cls`, the attributes tlh reads converted by ibflex (numbers
    bounded as every importer bounds them: `adapters.importers.inexact`)."""
    used = _USED[cls]
    values: dict[str, Any] = {}
    for name, raw in node.attrs.items():
        if name not in used:
            continue
        try:
            _name, value = parse_element_attr(cls, name, raw)  # type: ignore[arg-type]
        except FlexParserError as exc:
            reason = str(exc).rpartition(" - ")[2]
            raise where.error(name, f"cannot read {raw!r}: {reason}") from None
        if isinstance(value, Decimal):
            problem = inexact(value) if value.is_finite() else "must be a finite number"
            if problem:
                raise where.error(name, f"{problem} (got {raw!r})")
        values[name] = value
    return cls(**values)


class _StatementReader:
    """Turn the rows of the statements of one account into imports."""

    def __init__(self, path: str, account: str, numbered: bool) -> None:
        self.path = path
        self.account = account
        self.numbered = numbered
        self.skipped: Counter[str] = Counter()
        self._rows: list[ImportRow] = []
        self._closes: dict[int, list[ClosedLot]] = {}
        self._by_trade_id: dict[str, int] = {}
        self._cancels: list[tuple[str | None, Where]] = []
        self._splits: set[str] = set()
        # The row closed lots attach to: the last sale, _LEFT_OUT after a trade left out.
        self._last_sale: int | None = None

    def read(self, statement: _Node, number: int) -> None:
        """Read the sections of one `<FlexStatement>` (the `number`th)."""
        prefix = f"FlexStatement[{number}]/" if self.numbered else ""
        self._last_sale = None
        for section in statement.children:
            handler = self._handler(section.tag)
            if handler is None:
                continue
            counts: Counter[str] = Counter()
            for node in section.children:
                counts[node.tag] += 1
                where = Where(self.path, node.line, f"{prefix}{node.tag}[{counts[node.tag]}]")
                handler(node, where)

    def _handler(self, section: str) -> Callable[[_Node, Where], None] | None:
        return {
            "Trades": self._trade_section_row,
            "CorporateActions": self._corporate_action,
            "Transfers": self._transfer,
            "TradeTransfers": self._transfer,
            "TradeConfirms": self._trade_confirmation,
        }.get(section)

    def finish(self) -> list[ImportRow]:
        """Return the imports, cancelled trades left out and closed lots attached."""
        dropped: set[int] = set()
        for original, where in self._cancels:
            index = self._by_trade_id.get(original or "")
            if index is None:
                raise where.error(
                    "origTradeID",
                    f"cancels trade {original!r}, which is not in this file; tlh cannot undo "
                    "a trade imported before",
                )
            dropped.add(index)
            self.skipped["cancelled trades and their cancellations"] += 2
        rows = []
        for index, row in enumerate(self._rows):
            if index in dropped:
                continue
            closes = self._closes.get(index)
            rows.append(replace(row, closes=tuple(closes)) if closes else row)
        return rows

    # -- trades -------------------------------------------------------------------------------

    def _trade_section_row(self, node: _Node, where: Where) -> None:
        if node.tag == "Lot" or (
            node.tag == "Trade" and node.attrs.get("levelOfDetail") == CLOSED_LOT_LEVEL
        ):
            self._closed_lot(_convert(Types.Lot, node, where), where)
        elif node.tag == "Trade":
            self._trade(_convert(Types.Trade, node, where), where)
        else:  # <Order>, <SymbolSummary>, <AssetSummary>, <WashSale> ...: roll-ups
            self.skipped[f"<{node.tag}> rows (summaries of executions)"] += 1

    def _trade(self, trade: Types.Trade, where: Where) -> None:
        self._last_sale = None
        if trade.levelOfDetail not in EXECUTION_LEVELS:
            self.skipped[f"{trade.levelOfDetail} rows (summaries of executions)"] += 1
            return
        if self._left_out(trade.assetCategory, trade.currency, where, "trades"):
            self._last_sale = _LEFT_OUT
            return
        if trade.buySell in _CANCEL_SIDES or trade.transactionType in _CANCEL_TYPES:
            self._cancels.append((trade.origTradeID, where))
            return
        row = self._trade_row(trade, where)
        index = len(self._rows)
        self._rows.append(row)
        if trade.tradeID:
            self._by_trade_id[trade.tradeID] = index
        if row.entry.action is Action.SELL:
            self._last_sale = index

    def _left_out(
        self, category: enums.AssetClass | None, currency: str | None, where: Where, what: str
    ) -> bool:
        """Return whether a row is of an asset class or currency the ledger does not hold
        (counting it); raise when it does not say which."""
        if category is None:
            raise where.error("assetCategory", "missing: add the Asset Class field to the query")
        if category is not enums.AssetClass.STOCK:
            self.skipped[f"{category.value} {what} (the ledger holds stocks and ETFs only)"] += 1
            return True
        if currency is not None and currency != "USD":
            self.skipped[f"{what} in {currency} (the ledger is in USD)"] += 1
            return True
        return False

    def _trade_row(self, trade: Types.Trade, where: Where) -> ImportRow:
        symbol = normalize_symbol(trade.symbol or "")
        if not symbol:
            raise where.error("symbol", "missing")
        quantity = _required(trade.quantity, "quantity", where)
        if quantity == ZERO:
            raise where.error("quantity", "must not be 0")
        if trade.buySell is None:
            action = Action.BUY if quantity > ZERO else Action.SELL
        else:
            action = Action.BUY if trade.buySell is enums.BuySell.BUY else Action.SELL
        if trade.multiplier not in (None, Decimal(1)):
            raise where.error(
                "multiplier", f"a stock trade has multiplier 1 (got {trade.multiplier})"
            )
        price = _required(trade.tradePrice, "tradePrice", where)
        if price < ZERO:
            raise where.error("tradePrice", f"must not be negative (got {price})")
        if trade.ibCommissionCurrency not in (None, "USD"):
            raise where.error(
                "ibCommissionCurrency",
                f"commissions in USD only (got {trade.ibCommissionCurrency})",
            )
        fees = -(trade.ibCommission or ZERO) - (trade.taxes or ZERO)
        if fees < ZERO:
            raise where.error(
                "ibCommission", f"a net credit of commissions and taxes ({-fees}) is not supported"
            )
        day = _required(trade.tradeDate, "tradeDate", where)
        at = _instant(trade.dateTime, day, trade.tradeTime)
        transaction = trade.transactionID or trade.tradeID
        if not transaction:
            raise where.error("transactionID", "missing (and no tradeID): add it to the query")
        entry = JournalEntry.trade(
            account=self.account,
            action=action,
            symbol=symbol,
            quantity=abs(quantity),
            price=price,
            fees=fees,
            trade_date=day,
            occurred_at=at,
            lot_id=f"{symbol}-{day:%Y%m%d}-ib{transaction}" if action is Action.BUY else None,
            source=f"{SOURCE_PREFIX}:{transaction}",
            external_id=f"{SOURCE_PREFIX}:{self.account}:{transaction}",
            kind=JournalKind.IMPORT,
        )
        aliases = (f"{BROKER_FILL_PREFIX}:{trade.ibExecID}",) if trade.ibExecID else ()
        return ImportRow(entry, where, aliases=aliases, order_ref=trade.orderReference or None)

    def _closed_lot(self, lot: Types.Lot, where: Where) -> None:
        sale = self._last_sale
        if sale == _LEFT_OUT:
            return  # a lot of a sale left out (an option, another currency)
        if sale is None:
            raise where.error(None, "a closed lot must follow the stock sale that closed it")
        row = self._rows[sale]
        if lot.symbol is not None and normalize_symbol(lot.symbol) != row.entry.symbol:
            raise where.error(
                "symbol", f"closes a lot of {lot.symbol}, but follows a sale of {row.entry.symbol}"
            )
        opened = _required(lot.openDateTime, "openDateTime", where)
        quantity = abs(_required(lot.quantity, "quantity", where))
        cost = abs(lot.cost) if lot.cost is not None else None
        closed = ClosedLot(opened.replace(tzinfo=NEW_YORK), quantity, cost, where)
        self._closes.setdefault(sale, []).append(closed)

    # -- corporate actions and transfers ------------------------------------------------------

    def _corporate_action(self, node: _Node, where: Where) -> None:
        action = _convert(Types.CorporateAction, node, where)
        if self._left_out(action.assetCategory, action.currency, where, "corporate actions"):
            return
        if action.type in CASH_ACTIONS:
            self.skipped[f"cash corporate actions ({action.type.value})"] += 1
            return
        if action.type is not enums.Reorg.FORWARDSPLIT:
            kind = action.type.value if action.type is not None else "(no type)"
            raise where.error(
                "type",
                f"corporate action {kind} ({action.actionDescription or action.description}) "
                "cannot be imported: tlh imports forward splits (FS) only",
            )
        symbol = normalize_symbol(action.symbol or "")
        if not symbol:
            raise where.error("symbol", "missing")
        text = action.actionDescription or action.description or ""
        match = _SPLIT_RATIO.search(text)
        if match is None:
            raise where.error("description", f"no split ratio ('SPLIT N FOR M') in {text!r}")
        ratio = Decimal(match.group(1)) / Decimal(match.group(2))
        if ratio <= 1:
            raise where.error("description", f"a forward split's ratio is above 1 (got {ratio})")
        at = action.dateTime.replace(tzinfo=NEW_YORK) if action.dateTime else None
        day = at.date() if at is not None else _required(action.reportDate, "reportDate", where)
        external_id = f"split:{symbol}:{day.isoformat()}"  # as the daemon journals splits
        if external_id in self._splits:
            return  # the same split reported again (one row per lot or per conid)
        self._splits.add(external_id)
        entry = JournalEntry.split(
            symbol=symbol,
            ratio=ratio,
            trade_date=day,
            source=f"{SOURCE_PREFIX}:corporate-action:{action.transactionID or action.actionID}",
            occurred_at=at,
            external_id=external_id,
        )
        self._rows.append(ImportRow(entry, where))

    def _trade_confirmation(self, node: _Node, where: Where) -> None:
        self.skipped[
            f"<{node.tag}> rows (a Trade Confirmation query; import an Activity Flex Query)"
        ] += 1

    def _transfer(self, node: _Node, where: Where) -> None:
        self.skipped[
            f"<{node.tag}> rows (no original cost and date in Flex; import those lots "
            "with --trades)"
        ] += 1


def _required(value: Any, name: str, where: Where) -> Any:
    if value is None:
        raise where.error(name, "missing")
    return value


def _instant(stamp: datetime | None, day: date, clock: time | None) -> datetime | None:
    """Return when a trade happened, read in New York time (None: its date only)."""
    if stamp is not None:
        return stamp.replace(tzinfo=NEW_YORK)
    if clock is not None:
        return datetime.combine(day, clock, NEW_YORK)
    return None
