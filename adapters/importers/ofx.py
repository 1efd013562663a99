"""Read an OFX/QFX investment statement into journal imports (`tlh import --ofx`).

Both OFX 1.x (SGML: an ``OFXHEADER:100`` header, unclosed elements) and OFX 2.x (XML) are
read, and ``.qfx`` (Quicken's name for the same) alike: the header, the markup and the
values (numbers, dates) are read by the maintained ``ofxtools`` library; the line of each
element is found here, in the text, so that every error names the file, the line and the
element, e.g. ``statement.ofx:42: BUYSTOCK[2]/INVBUY/UNITS: cannot read '1O0' ...``.

Field meanings follow the OFX 2.x specification, section 13 (investments). What is imported
from each ``<INVSTMTRS>`` (one account per file; ``--account`` names it in tlh):

* Purchases: ``BUYSTOCK``, ``BUYMF``, ``BUYOTHER``, ``BUYDEBT`` and ``REINVEST`` (a dividend
  reinvested is a purchase the wash-sale rule counts): ``UNITS`` at ``UNITPRICE``, fees the
  ``COMMISSION + TAXES + FEES + LOAD`` (added to the cost). A bond's ``UNITS`` is its face
  value and ``UNITPRICE`` a percentage of par, so its price is ``UNITPRICE / 100``.
* Sales: ``SELLSTOCK``, ``SELLMF``, ``SELLOTHER``, ``SELLDEBT``, the fees deducted from the
  proceeds. Short sales (``SELLSHORT``, ``BUYTOCOVER``, ``POSTYPE`` SHORT) are refused.
* ``TRANSFER`` in: a purchase dated ``DTPURCHASE`` at ``AVGCOSTBASIS`` per share (the
  original cost and date, so the holding period and basis carry over). Without them the
  statement is refused, naming the element: a lot dated the transfer day at its market price
  would be a wrong basis and a purchase that never happened; add them to the file from the
  sending broker's records. ``TRANSFER`` out: a transfer (`ledger.model.Transfer`), no
  sale: the shares leave the account by its lot method, nothing is realised and nothing goes
  on Form 8949 (``AVGCOSTBASIS`` and ``UNITPRICE`` are not needed).
* ``SPLIT``: a split of the symbol, ratio ``NUMERATOR/DENOMINATOR`` (else
  ``NEWUNITS/OLDUNITS``), journaled as the daemon journals a split (``split:SYMBOL:DATE``).
* A transaction with ``REVERSALFITID`` cancels the one it names: both are left out when that
  one is in the file; otherwise the statement is refused (an imported trade is not undone).

Symbols are the ``TICKER`` of the security in ``SECLIST`` with the transaction's
``SECID`` (``UNIQUEID`` and ``UNIQUEIDTYPE``); a transaction of a security that is not listed,
or listed without a ticker, is an error. Dates are the statement's own (``DTTRADE``'s date
as written); the instant, when a time is given, is kept. The source id is
``ofx:BROKERID:ACCTID:FITID``: FITIDs are unique per account at one broker only.

Left out, counted in the command's summary: cash-only transactions (``INCOME``,
``INVEXPENSE``, ``INVBANKTRAN``, ``MARGININTEREST``, ``RETOFCAP``, ``JRNLFUND``), moves
between sub-accounts (``JRNLSEC``), options (``BUYOPT``, ``SELLOPT``, ``CLOSUREOPT``: the
ledger holds shares only). Amounts in a currency other than USD are refused.

A 401(k) statement (``INV401K``, ``INV401KBAL`` or an ``INV401KSOURCE``) says so in
`OfxImport.account_type`, for the command's default ``--type``.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import re
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from ofxtools import Types
from ofxtools.header import OFXHeaderError, parse_header
from ofxtools.Parser import ParseError, TreeBuilder

from adapters.importers import InputError, inexact
from adapters.importers.journal_import import ImportRow, Where
from adapters.storage.records import JournalEntry, JournalKind
from ledger.identity import normalize_symbol
from ledger.model import ZERO, AccountType, Action

SOURCE_PREFIX = "ofx"
BUYS = frozenset({"BUYSTOCK", "BUYMF", "BUYOTHER", "BUYDEBT"})
SELLS = frozenset({"SELLSTOCK", "SELLMF", "SELLOTHER", "SELLDEBT"})
CASH_ONLY = frozenset(
    {"INCOME", "INVEXPENSE", "INVBANKTRAN", "MARGININTEREST", "RETOFCAP", "JRNLFUND"}
)
OPTIONS = frozenset({"BUYOPT", "SELLOPT", "CLOSUREOPT"})
FEE_FIELDS = ("COMMISSION", "TAXES", "FEES", "LOAD")
PERCENT = Decimal(100)
_POSITION = re.compile(r"position=\[([0-9]+):")
_DECIMAL = Types.Decimal()
_DATETIME = Types.DateTime()


@dataclass(frozen=True, slots=True)
class OfxImport:
    """The transactions of an OFX file, in file order, and what was left out."""

    rows: list[ImportRow]
    skipped: Counter[str] = field(default_factory=Counter)
    account_type: AccountType | None = None  # what the statement says it is (401k), if it does


class _Text:
    """The file's text, to find the line of an element of the parsed body."""

    def __init__(self, text: str, body: str) -> None:
        stripped = body.lstrip()
        self.offset = text.rfind(stripped) if stripped else 0
        self.starts = [0, *(m.end() for m in re.finditer(r"\r\n|\r|\n", text))]

    def line(self, body_position: int) -> int:
        """Return the 1-based line of a position in the (left-stripped) body."""
        return bisect.bisect_right(self.starts, self.offset + body_position)


def read_ofx_file(path: str | Path, account: str) -> OfxImport:
    """Return the transactions of the OFX/QFX file at `path` as imports into `account`;
    raise `InputError` naming the file, line and element of the first problem."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(path, None, None, f"cannot read file: {exc.strerror or exc}") from exc
    return read_ofx(data, str(path), account)


def read_ofx(data: bytes, path: str, account: str) -> OfxImport:
    """Return the transactions of OFX `data` (named `path` in errors); raise `InputError`."""
    root, lines = _parse(data, path)
    if root.tag != "OFX":
        raise InputError(path, lines.get(root, 1), root.tag, "not an OFX document: no <OFX>")
    statements = list(root.iter("INVSTMTRS"))
    if not statements:
        raise InputError(
            path, lines.get(root, 1), "INVSTMTRS", "no investment statement in the file"
        )
    reader = _StatementReader(path, account, lines, _securities(root, path, lines))
    accounts: dict[tuple[str, str], int | None] = {}
    for n, statement in enumerate(statements, start=1):
        prefix = f"INVSTMTRS[{n}]/" if len(statements) > 1 else ""
        key = reader.read(statement, prefix)
        accounts.setdefault(key, lines.get(statement))
    if len(accounts) > 1:
        listed = ", ".join(f"{broker}/{acct}" for broker, acct in accounts)
        raise InputError(
            path,
            list(accounts.values())[1],
            "INVSTMTRS/INVACCTFROM",
            f"the file holds statements of several accounts ({listed}); import one at a time",
        )
    return OfxImport(reader.finish(), reader.skipped, reader.account_type)


def _parse(data: bytes, path: str) -> tuple[ET.Element, dict[ET.Element, int]]:
    """Return the element tree of an OFX file and the line of each element."""
    data = data.removeprefix(b"\xef\xbb\xbf")  # a byte-order mark, as Windows tools write
    try:
        header, body = parse_header(io.BytesIO(data))
        text = data.decode(header.codec)
    except (OFXHeaderError, ValueError, LookupError) as exc:
        first = str(exc).strip().partition("\n")[0].rstrip(":")
        reason = first if "BytesIO" not in first else "no OFX header"
        raise InputError(
            path,
            1,
            "header",
            f"not an OFX file ({reason[:120]}): expected OFXHEADER:100 (OFX 1.x) or "
            '<?xml ...?><?OFX OFXHEADER="200" ...?> (OFX 2.x)',
        ) from None
    located = _Text(text, body)
    body = body.lstrip()
    # Every start tag the parser matches makes one element, in document order.
    starts = [
        m.start() for m in TreeBuilder.regex.finditer(body) if not m.group("tag").startswith("/")
    ]
    builder = _CheckedBuilder()
    try:
        builder.feed(body)
        root = builder.close()
    except ParseError as exc:
        found = _POSITION.search(str(exc))
        line = located.line(int(found.group(1))) if found else None
        reason = _POSITION.split(str(exc))[0].rstrip(" -")
        reason = re.sub(r"^(Tail text '.*?') in .*", r"\1", reason, flags=re.S)[:200]
        raise InputError(path, line, None, f"malformed OFX: {reason}") from None
    except _UnclosedError as exc:
        line = located.line(starts[exc.index]) if exc.index < len(starts) else None
        raise InputError(path, line, exc.tag, "malformed OFX: never closed") from None
    if root is None:
        raise InputError(path, None, None, "the file holds no OFX element")
    elements = list(root.iter())
    if len(starts) != len(elements):  # not expected: then no line is better than a wrong one
        return root, {}
    return root, {e: located.line(s) for e, s in zip(elements, starts, strict=True)}


class _UnclosedError(Exception):
    def __init__(self, tag: str, index: int) -> None:
        super().__init__(tag)
        self.tag = tag
        self.index = index


class _CheckedBuilder(TreeBuilder):
    """ofxtools' parser, with end tags checked against the open elements (the tree builder
    underneath pops whatever is open, so a stray end tag would go unnoticed)."""

    def __init__(self) -> None:
        super().__init__()
        self._open: list[tuple[str, int]] = []
        self._count = 0

    def start(self, tag: str, attrs: dict[str, str], /) -> ET.Element:
        self._open.append((tag, self._count))
        self._count += 1
        return super().start(tag, attrs)

    def end(self, tag: str, /) -> ET.Element:
        if not self._open:
            raise ParseError(f"</{tag}> closes no open element")
        if self._open[-1][0] != tag:
            raise ParseError(f"</{tag}> where <{self._open[-1][0]}> is open")
        self._open.pop()
        return super().end(tag)

    def close(self) -> ET.Element:
        if self._open:
            raise _UnclosedError(*self._open[-1])
        return super().close()


@dataclass(frozen=True, slots=True)
class _Security:
    ticker: str | None
    line: int | None
    element: str


def _securities(
    root: ET.Element, path: str, lines: dict[ET.Element, int]
) -> dict[tuple[str, str], _Security]:
    """Return the securities of the SECLIST by (UNIQUEIDTYPE, UNIQUEID)."""
    found: dict[tuple[str, str], _Security] = {}
    counts: Counter[str] = Counter()
    for seclist in root.iter("SECLIST"):
        for info in seclist:
            counts[info.tag] += 1
            name = f"SECLIST/{info.tag}[{counts[info.tag]}]"
            secinfo = info.find("SECINFO")
            secid = secinfo.find("SECID") if secinfo is not None else None
            if secinfo is None or secid is None:
                raise InputError(path, lines.get(info), f"{name}/SECINFO/SECID", "missing")
            ticker = normalize_symbol(secinfo.findtext("TICKER") or "") or None
            found[_secid_key(secid)] = _Security(ticker, lines.get(secinfo), f"{name}/SECINFO")
    return found


def _or(element: ET.Element | None, default: ET.Element) -> ET.Element:
    """Return `element`, else `default` (an element without children is falsy)."""
    return default if element is None else element


def _secid_key(secid: ET.Element) -> tuple[str, str]:
    return (
        (secid.findtext("UNIQUEIDTYPE") or "").strip().upper(),
        (secid.findtext("UNIQUEID") or "").strip(),
    )


class _Transaction:
    """One transaction aggregate: its fields found, converted and errors named."""

    def __init__(self, reader: _StatementReader, node: ET.Element, name: str) -> None:
        self.reader = reader
        self.node = node
        self.name = name
        self.line = reader.lines.get(node)
        # INVBUY / INVSELL hold the common fields of buys and sales.
        self.inner = node.find("INVBUY")
        if self.inner is None:
            self.inner = node.find("INVSELL")
        self.inner_name = f"{self.inner.tag}/" if self.inner is not None else ""
        self.base = self.inner if self.inner is not None else node

    def error(self, path: str, message: str, element: ET.Element | None = None) -> InputError:
        """Return the error for field `path` (below the transaction), at its line."""
        line = self.reader.lines.get(element, self.line) if element is not None else self.line
        name = f"{self.name}/{path}" if path else self.name
        return InputError(self.reader.path, line, name, message)

    def _find(self, tag: str) -> tuple[ET.Element | None, str]:
        """Return field `tag` (in INVBUY/INVSELL, else the transaction) and its path; a
        missing field is named where the common fields are."""
        element = self.base.find(tag)
        if element is not None:
            return element, f"{self.inner_name}{tag}"
        element = self.node.find(tag)
        return element, tag if element is not None else f"{self.inner_name}{tag}"

    def field_error(self, tag: str, message: str) -> InputError:
        """Return the error for field `tag`, at its line."""
        element, path = self._find(tag)
        return self.error(path, message, element)

    def text(self, tag: str) -> str | None:
        """Return the trimmed text of field `tag` (None when absent or empty)."""
        element, _ = self._find(tag)
        value = (element.text or "").strip() if element is not None else ""
        return value or None

    def decimal(self, tag: str) -> Decimal:
        """Return the required field `tag` as a bounded `Decimal` (ofxtools' conversion)."""
        value = self.optional_decimal(tag)
        if value is None:
            element, path = self._find(tag)
            raise self.error(path, "missing", element)
        return value

    def optional_decimal(self, tag: str) -> Decimal | None:
        """Return field `tag` as a `Decimal` (ofxtools' conversion) the ledger computes with
        exactly (`adapters.importers.inexact`), None if absent."""
        element, path = self._find(tag)
        raw = (element.text or "").strip() if element is not None else ""
        if not raw:
            return None
        try:
            value = _DECIMAL.convert(raw)
        except (ArithmeticError, ValueError, TypeError):
            raise self.error(path, f"cannot read {raw!r}: not a number", element) from None
        if not isinstance(value, Decimal) or not value.is_finite():
            raise self.error(path, f"must be a finite number (got {raw!r})", element)
        problem = inexact(value)
        if problem:
            raise self.error(path, f"{problem} (got {raw!r})", element)
        return value

    def when(self, tag: str) -> tuple[date, datetime | None]:
        """Return the date written in field `tag` and its instant when it has a time."""
        element, path = self._find(tag)
        raw = (element.text or "").strip() if element is not None else ""
        if not raw:
            raise self.error(path, "missing", element)
        try:
            instant = _DATETIME.convert(raw)
        except (ArithmeticError, ValueError, TypeError) as exc:
            reason = "YYYYMMDD[HHMMSS[.XXX][[offset:TZ]]]" if "conform" in str(exc) else exc
            raise self.error(
                path, f"cannot read {raw!r}: not an OFX date ({reason})", element
            ) from None
        # The tax date is the date as the statement writes it, not the UTC date.
        day = date(int(raw[:4]), int(raw[4:6]), int(raw[6:8]))
        return day, instant if len(raw) > 8 else None

    def fitid(self) -> str:
        """Return the FITID of the transaction's INVTRAN."""
        invtran = self.base.find("INVTRAN")
        path = f"{self.inner_name}INVTRAN"
        if invtran is None:
            raise self.error(path, "missing")
        fitid = (invtran.findtext("FITID") or "").strip()
        if not fitid:
            raise self.error(f"{path}/FITID", "missing", _or(invtran.find("FITID"), invtran))
        return fitid

    def invtran_text(self, tag: str) -> str | None:
        """Return the trimmed text of field `tag` of the INVTRAN (None when absent)."""
        invtran = self.base.find("INVTRAN")
        value = (invtran.findtext(tag) or "").strip() if invtran is not None else ""
        return value or None

    def trade_date(self) -> tuple[date, datetime | None]:
        """Return the date and instant of the INVTRAN's DTTRADE."""
        invtran = self.base.find("INVTRAN")
        if invtran is None:
            raise self.error(f"{self.inner_name}INVTRAN", "missing")
        sub = _Transaction(self.reader, invtran, f"{self.name}/{self.inner_name}INVTRAN")
        return sub.when("DTTRADE")

    def symbol(self) -> tuple[str, bool]:
        """Return the ticker of the transaction's SECID and whether the security is debt."""
        secid, path = self._find("SECID")
        if secid is None:
            raise self.error(path, "missing")
        key = _secid_key(secid)
        security = self.reader.securities.get(key)
        if security is None:
            raise self.error(
                f"{path}/UNIQUEID",
                f"security {key[1]!r} ({key[0] or 'no UNIQUEIDTYPE'}) is not in the SECLIST",
                _or(secid.find("UNIQUEID"), secid),
            )
        if security.ticker is None:
            raise InputError(
                self.reader.path,
                security.line,
                f"{security.element}/TICKER",
                f"missing: security {key[1]!r} ({key[0]}) has no ticker, and tlh knows "
                f"securities by their ticker (used by {self.name}, line {self.line})",
            )
        return security.ticker, security.element.startswith("SECLIST/DEBTINFO")

    def check_currency(self) -> None:
        """Raise when the amounts are in another currency than USD."""
        for tag in ("CURRENCY", "ORIGCURRENCY"):
            element, path = self._find(tag)
            if element is None:
                continue
            symbol = (element.findtext("CURSYM") or "").strip().upper()
            if symbol != "USD":
                raise self.error(
                    f"{path}/CURSYM",
                    f"amounts in {symbol or 'another currency'} are not supported (the "
                    "ledger is in USD)",
                    element,
                )

    def fees(self) -> Decimal:
        """Return COMMISSION + TAXES + FEES + LOAD (MARKUP is part of UNITPRICE)."""
        total = ZERO
        for tag in FEE_FIELDS:
            total += self.optional_decimal(tag) or ZERO
        if total < ZERO:
            raise self.error(
                f"{self.inner_name}COMMISSION",
                f"a net credit of commission, taxes, fees and load ({-total}) is not supported",
            )
        return total


class _StatementReader:
    """Turn the transactions of the statements of one account into imports."""

    def __init__(
        self,
        path: str,
        account: str,
        lines: dict[ET.Element, int],
        securities: dict[tuple[str, str], _Security],
    ) -> None:
        self.path = path
        self.account = account
        self.lines = lines
        self.securities = securities
        self.skipped: Counter[str] = Counter()
        self.account_type: AccountType | None = None
        self._rows: list[tuple[str, ImportRow]] = []  # (FITID, row)
        self._reversals: list[tuple[str, _Transaction]] = []
        self._namespace = ""

    def read(self, statement: ET.Element, prefix: str) -> tuple[str, str]:
        """Read one `<INVSTMTRS>`; return its (BROKERID, ACCTID)."""
        line = self.lines.get(statement)
        curdef = (statement.findtext("CURDEF") or "").strip().upper()
        if curdef and curdef != "USD":
            node = statement.find("CURDEF")
            raise InputError(
                self.path,
                self.lines.get(node, line) if node is not None else line,
                f"{prefix}INVSTMTRS/CURDEF",
                f"statements in {curdef} are not supported (the ledger is in USD)",
            )
        acct = statement.find("INVACCTFROM")
        if acct is None:
            raise InputError(self.path, line, f"{prefix}INVSTMTRS/INVACCTFROM", "missing")
        ids = []
        for tag in ("BROKERID", "ACCTID"):
            value = (acct.findtext(tag) or "").strip()
            if not value:
                raise InputError(
                    self.path,
                    self.lines.get(acct),
                    f"{prefix}INVSTMTRS/INVACCTFROM/{tag}",
                    "missing",
                )
            ids.append(value)
        broker, acctid = ids
        self._namespace = f"{SOURCE_PREFIX}:{broker}:{acctid}"
        if (
            statement.find("INV401K") is not None
            or statement.find("INV401KBAL") is not None
            or next(statement.iter("INV401KSOURCE"), None) is not None
        ):
            self.account_type = AccountType.K401
        tranlist = statement.find("INVTRANLIST")
        counts: Counter[str] = Counter()
        for node in tranlist if tranlist is not None else ():
            if node.tag in ("DTSTART", "DTEND"):
                continue
            counts[node.tag] += 1
            self._transaction(node, f"{prefix}{node.tag}[{counts[node.tag]}]")
        return broker, acctid

    def finish(self) -> list[ImportRow]:
        """Return the imports, reversed transactions left out with their reversals."""
        by_fitid = {fitid: n for n, (fitid, _row) in enumerate(self._rows)}
        dropped: set[int] = set()
        for original, reversal in self._reversals:
            index = by_fitid.get(original)
            if index is None:
                raise reversal.error(
                    f"{reversal.inner_name}INVTRAN/REVERSALFITID",
                    f"reverses transaction {original!r}, which is not in this file; tlh "
                    "cannot undo a transaction imported before",
                )
            dropped.add(index)
            self.skipped["reversed transactions and their reversals"] += 2
        return [row for n, (_fitid, row) in enumerate(self._rows) if n not in dropped]

    def _transaction(self, node: ET.Element, name: str) -> None:
        if node.tag in CASH_ONLY:
            self.skipped[f"cash-only transactions ({node.tag})"] += 1
            return
        if node.tag in OPTIONS:
            self.skipped[f"option transactions ({node.tag}; the ledger holds shares only)"] += 1
            return
        if node.tag == "JRNLSEC":
            self.skipped["moves between sub-accounts (JRNLSEC)"] += 1
            return
        t = _Transaction(self, node, name)
        if node.tag not in {*BUYS, *SELLS, "REINVEST", "TRANSFER", "SPLIT"}:
            raise t.error("", f"unknown transaction <{node.tag}>")
        fitid = t.fitid()
        reversed_id = t.invtran_text("REVERSALFITID")
        if reversed_id is not None:
            self._reversals.append((reversed_id, t))
            return
        t.check_currency()
        if node.tag == "SPLIT":
            row = self._split(t)
        elif node.tag == "TRANSFER":
            row = self._transfer(t, fitid)
        else:
            row = self._trade(t, fitid)
        self._rows.append((fitid, row))

    def _trade(self, t: _Transaction, fitid: str) -> ImportRow:
        tag = t.node.tag
        action = Action.SELL if tag in SELLS else Action.BUY
        for kind_tag, short in (("BUYTYPE", "BUYTOCOVER"), ("SELLTYPE", "SELLSHORT")):
            if t.text(kind_tag) == short:
                raise t.field_error(kind_tag, f"short sales ({short}) are not supported")
        symbol, debt = t.symbol()
        units = self._units(t)
        price = t.decimal("UNITPRICE")
        if price < ZERO:
            raise t.field_error("UNITPRICE", f"must not be negative (got {price})")
        if debt:
            price = price / PERCENT
        day, at = t.trade_date()
        return self._row(t, fitid, action, symbol, units, price, t.fees(), day, at)

    def _transfer(self, t: _Transaction, fitid: str) -> ImportRow:
        direction = t.text("TFERACTION")
        if direction not in ("IN", "OUT"):
            raise t.field_error("TFERACTION", f"must be IN or OUT (got {direction!r})")
        if t.text("POSTYPE") == "SHORT":
            raise t.field_error("POSTYPE", "transfers of short positions are not supported")
        symbol, _debt = t.symbol()
        units = self._units(t)
        basis = t.optional_decimal("AVGCOSTBASIS")
        if direction == "IN":
            if basis is None:
                raise t.error(
                    "AVGCOSTBASIS",
                    "missing: a transfer in needs the original cost (AVGCOSTBASIS, per share) "
                    "and purchase date (DTPURCHASE); add them from the sending broker's records",
                )
            day, at = t.when("DTPURCHASE")
            return self._row(t, fitid, Action.BUY, symbol, units, basis, ZERO, day, at)
        day, at = t.trade_date()
        entry = JournalEntry(
            kind=JournalKind.TRANSFER,
            symbol=symbol,
            trade_date=day,
            source=f"{SOURCE_PREFIX}:{t.node.tag}:{fitid}",
            account=self.account,
            quantity=units,
            occurred_at=at,
            external_id=f"{self._namespace}:{fitid}",
        )
        return ImportRow(entry, Where(self.path, t.line, t.name, "/"))

    def _split(self, t: _Transaction) -> ImportRow:
        symbol, _debt = t.symbol()
        numerator = t.optional_decimal("NUMERATOR")
        denominator = t.optional_decimal("DENOMINATOR")
        if numerator is not None and denominator is not None:
            top, bottom, field_name = numerator, denominator, "DENOMINATOR"
        else:
            top, bottom = t.decimal("NEWUNITS"), t.decimal("OLDUNITS")
            field_name = "OLDUNITS"
        if top <= ZERO or bottom <= ZERO or top == bottom:
            raise t.field_error(field_name, f"not a split ratio: {top}/{bottom}")
        ratio = top / bottom
        day, at = t.trade_date()
        entry = JournalEntry.split(
            symbol=symbol,
            ratio=ratio,
            trade_date=day,
            source=f"{self._namespace}:{t.fitid()}",
            occurred_at=at,
            external_id=f"split:{symbol}:{day.isoformat()}",  # as the daemon journals splits
        )
        return ImportRow(entry, Where(self.path, t.line, t.name, "/"))

    def _units(self, t: _Transaction) -> Decimal:
        units = t.decimal("UNITS")
        if units == ZERO:
            raise t.field_error("UNITS", "must not be 0")
        return abs(units)  # sales are written negative

    def _row(
        self,
        t: _Transaction,
        fitid: str,
        action: Action,
        symbol: str,
        quantity: Decimal,
        price: Decimal,
        fees: Decimal,
        day: date,
        at: datetime | None,
    ) -> ImportRow:
        source_id = f"{self._namespace}:{fitid}"
        lot_id = None
        if action is Action.BUY:
            digest = hashlib.sha256(source_id.encode()).hexdigest()[:12]
            lot_id = f"{symbol}-{day:%Y%m%d}-ofx{digest}"
        entry = JournalEntry.trade(
            account=self.account,
            action=action,
            symbol=symbol,
            quantity=quantity,
            price=price,
            fees=fees,
            trade_date=day,
            occurred_at=at,
            lot_id=lot_id,
            source=f"{SOURCE_PREFIX}:{t.node.tag}:{fitid}",
            external_id=source_id,
            kind=JournalKind.IMPORT,
        )
        return ImportRow(entry, Where(self.path, t.line, t.name, "/"))
