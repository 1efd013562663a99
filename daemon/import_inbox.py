"""`tlh import` beside the running daemon: imports handed over through the database.

One process owns a journal (`adapters.storage.journal_lock`): while `tlh run` holds it, `tlh
import` does not write the journal itself. It stores a request under a key of the state table
(``import:request:<id>``: the account and the rows, Decimals as strings, with where each row
was read) and waits for the answer; the daemon takes each request (`ImportInbox.poll`: every
`POLL_SECONDS` and after each reconciliation pass), applies it through its import sink
(`daemon.engine_import`), and answers under ``import:result:<id>``.

Taking the request, journaling its rows and answering commit in one transaction, so a request
is applied once or not at all: a daemon that dies before that commit leaves the request for
its next start, and a request delivered twice finds its rows' source ids in the journal and
adds nothing. A command that gives up waiting withdraws its request (deletes it) first: if
that finds the request taken, the answer is there. The daemon announces that it takes
requests under `OPEN_KEY`, with its pid and host: `tlh import` hands over only to the process
that holds the journal lock and announced it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import structlog

from adapters.importers import InputError
from adapters.importers.journal_import import (
    ClosedLot,
    ImportPlan,
    ImportRow,
    JournalChangedError,
    Where,
)
from adapters.storage.records import Account, JournalEntry, JournalKind
from adapters.storage.repository import Repository
from daemon.engine_import import EngineImportSink
from ledger.model import AccountType, Action

log = structlog.get_logger("tlh.import")

REQUEST_PREFIX = "import:request:"
RESULT_PREFIX = "import:result:"
OPEN_KEY = "import:open"  # {"pid", "host"}: the daemon that takes import requests
POLL_SECONDS = 2.0  # how often the running daemon looks for requests
ANSWER_SECONDS = 60.0  # how long `tlh import` waits for the daemon's answer
ANSWER_POLL_SECONDS = 0.1


class Withdrawn(Exception):
    """The request was withdrawn by its command before the daemon took it."""


@dataclass(frozen=True, slots=True)
class Answer:
    """The daemon's answer to a request: the plan it applied, or the error (nothing written)."""

    entries: list[JournalEntry] = field(default_factory=list)
    known: int = 0
    own_orders: int = 0
    error: str | None = None

    def to_json(self) -> str:
        """Return the answer as stored under its result key."""
        return json.dumps(
            {
                "entries": [_entry(e) for e in self.entries],
                "known": self.known,
                "own_orders": self.own_orders,
                "error": self.error,
            }
        )

    @classmethod
    def from_json(cls, raw: str) -> Answer:
        """Parse a stored answer."""
        data = json.loads(raw)
        entries = [_entry_from(e) for e in data["entries"]]
        return cls(entries, int(data["known"]), int(data["own_orders"]), data["error"])


# -- the command's side ------------------------------------------------------------------------


async def daemon_takes_imports(repo: Repository, pid: int, host: str) -> bool:
    """Return whether the process `pid` on `host` (the journal lock's holder) takes requests."""
    raw = await repo.get_state(OPEN_KEY)
    try:
        marker = json.loads(raw) if raw else {}
    except ValueError:
        return False
    return isinstance(marker, dict) and marker.get("pid") == pid and marker.get("host") == host


async def submit(repo: Repository, rows: list[ImportRow], account: Account) -> str:
    """Store a request to import `rows` of `account`; return its id (ordered by time)."""
    request_id = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
    request = {
        "account": {
            "account": account.account,
            "type": account.type.value,
            "broker": account.broker,
            "lot_method": account.lot_method,
        },
        "rows": [_row(r) for r in rows],
        "pid": os.getpid(),
    }
    await repo.set_state(REQUEST_PREFIX + request_id, json.dumps(request))
    return request_id


async def answer(
    repo: Repository, request_id: str, within: float = ANSWER_SECONDS
) -> Answer | None:
    """Wait up to `within` seconds for the daemon's answer to `request_id`; None when it did
    not take the request meanwhile (then withdrawn: it will never be applied)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        found = await _take_answer(repo, request_id)
        if found is not None:
            return found
        if loop.time() >= deadline:
            break
        await asyncio.sleep(ANSWER_POLL_SECONDS)
    if await repo.delete_state(REQUEST_PREFIX + request_id):
        return None  # withdrawn before the daemon took it
    return await _take_answer(repo, request_id)  # taken meanwhile: answered in that commit


async def _take_answer(repo: Repository, request_id: str) -> Answer | None:
    raw = await repo.get_state(RESULT_PREFIX + request_id)
    if raw is None:
        return None
    await repo.delete_state(RESULT_PREFIX + request_id)
    return Answer.from_json(raw)


# -- the daemon's side -------------------------------------------------------------------------


class ImportInbox:
    """Take `tlh import` requests in the running daemon and apply them through `sink`."""

    def __init__(self, repo: Repository, sink: EngineImportSink) -> None:
        self._repo = repo
        self._sink = sink
        self._lock = asyncio.Lock()  # one poll at a time (the loop and a reconciliation)
        self.open = False

    async def announce(self) -> None:
        """Store that this process takes requests (`OPEN_KEY`)."""
        marker = {"pid": os.getpid(), "host": socket.gethostname()}
        await self._repo.set_state(OPEN_KEY, json.dumps(marker))
        self.open = True

    async def poll(self) -> int:
        """Apply every waiting request, oldest first; return how many were answered."""
        if not self.open:
            return 0  # before the engine started: its ledger is not rebuilt yet
        async with self._lock:
            answered = 0
            for key, raw in (await self._repo.states(REQUEST_PREFIX)).items():
                with contextlib.suppress(Withdrawn):
                    await self._handle(key.removeprefix(REQUEST_PREFIX), raw)
                    answered += 1
            return answered

    async def follow(self, stop: asyncio.Event, every: float = POLL_SECONDS) -> None:
        """Announce, then poll at once and every `every` seconds until `stop` is set; a failed
        poll (the database briefly away) is logged and tried again at the next turn."""
        await self.announce()
        log.info("imports_open", poll_seconds=every)
        while not stop.is_set():
            try:
                await self.poll()
            except Exception as exc:
                log.warning("import_poll_failed", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    async def _handle(self, request_id: str, raw: str) -> None:
        key = REQUEST_PREFIX + request_id

        async def take_and_answer(tx: Repository, plan: ImportPlan) -> None:
            if not await tx.delete_state(key):
                raise Withdrawn(request_id)
            found = Answer(plan.entries, plan.known, plan.own_orders)
            await tx.set_state(RESULT_PREFIX + request_id, found.to_json())

        try:
            account, rows = _request_from(raw)
            await self._sink.apply(rows, account, within=take_and_answer)
        except (InputError, JournalChangedError, ValueError, KeyError, TypeError) as exc:
            error = f"nothing imported: {exc}" if isinstance(exc, JournalChangedError) else str(exc)
            if not isinstance(exc, InputError | JournalChangedError):
                error = f"the daemon could not read import request {request_id}: {exc!r}"
            async with self._repo.transaction() as tx:
                if not await tx.delete_state(key):
                    raise Withdrawn(request_id) from exc
                await tx.set_state(RESULT_PREFIX + request_id, Answer(error=error).to_json())
            log.warning("import_refused", request=request_id, error=error)


# -- rows as JSON ------------------------------------------------------------------------------


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _entry(e: JournalEntry) -> dict[str, Any]:
    return {
        "kind": e.kind.value,
        "symbol": e.symbol,
        "trade_date": e.trade_date.isoformat(),
        "source": e.source,
        "account": e.account,
        "action": e.action.value if e.action is not None else None,
        "quantity": _text(e.quantity),
        "price": _text(e.price),
        "fees": _text(e.fees),
        "lot_id": e.lot_id,
        "occurred_at": e.occurred_at.isoformat() if e.occurred_at else None,
        "ratio": _text(e.ratio),
        "external_id": e.external_id,
        "new_symbol": e.new_symbol,
        "basis_fraction": _text(e.basis_fraction),
        "to_account": e.to_account,
    }


def _entry_from(d: dict[str, Any]) -> JournalEntry:
    return JournalEntry(
        kind=JournalKind(d["kind"]),
        symbol=d["symbol"],
        trade_date=date.fromisoformat(d["trade_date"]),
        source=d["source"],
        account=d["account"],
        action=Action(d["action"]) if d["action"] is not None else None,
        quantity=_decimal(d["quantity"]),
        price=_decimal(d["price"]),
        fees=_decimal(d["fees"]),
        lot_id=d["lot_id"],
        occurred_at=datetime.fromisoformat(d["occurred_at"]) if d["occurred_at"] else None,
        ratio=_decimal(d["ratio"]),
        external_id=d["external_id"],
        new_symbol=d.get("new_symbol"),
        basis_fraction=_decimal(d.get("basis_fraction")),
        to_account=d.get("to_account"),
    )


def _where(w: Where) -> list[Any]:
    return [w.path, w.line, w.element, w.separator]


def _row(r: ImportRow) -> dict[str, Any]:
    return {
        "entry": _entry(r.entry),
        "where": _where(r.where),
        "aliases": list(r.aliases),
        "order_ref": r.order_ref,
        "closes": [
            {
                "opened_at": c.opened_at.isoformat(),
                "quantity": str(c.quantity),
                "cost": _text(c.cost),
                "where": _where(c.where),
            }
            for c in r.closes
        ],
    }


def _row_from(d: dict[str, Any]) -> ImportRow:
    return ImportRow(
        entry=_entry_from(d["entry"]),
        where=Where(*d["where"]),
        aliases=tuple(d["aliases"]),
        order_ref=d["order_ref"],
        closes=tuple(
            ClosedLot(
                opened_at=datetime.fromisoformat(c["opened_at"]),
                quantity=Decimal(c["quantity"]),
                cost=_decimal(c["cost"]),
                where=Where(*c["where"]),
            )
            for c in d["closes"]
        ),
    )


def rows_from_json(raw: str) -> list[ImportRow]:
    """Return the rows of a JSON list written by `rows_to_json`."""
    return [_row_from(d) for d in json.loads(raw)]


def rows_to_json(rows: list[ImportRow]) -> str:
    """Return `rows` as JSON, faithfully (Decimals as strings, dates, where they were read)."""
    return json.dumps([_row(r) for r in rows])


def _request_from(raw: str) -> tuple[Account, list[ImportRow]]:
    data = json.loads(raw)
    a = data["account"]
    account = Account(a["account"], AccountType(a["type"]), a["broker"], a["lot_method"])
    return account, [_row_from(d) for d in data["rows"]]
