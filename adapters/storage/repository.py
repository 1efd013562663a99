"""The async repository the daemon persists through: journal, accounts, intents, halts, state.

Every write transaction is short and serialized with every other: SQLite begins it with
``BEGIN IMMEDIATE`` (see `adapters.storage.engine`), PostgreSQL takes a transaction-scoped
advisory lock. So read-modify-write sequences never lose updates on either backend, and on
PostgreSQL journal rows commit in `seq` order, so a reader that resumes with
``load_journal(after_seq=last_seen)`` never skips a row that commits late. Reads use deferred
transactions and run alongside the writer.

Each method is its own transaction. To make several calls atomic, use `Repository.transaction`,
and await nothing but the repository inside it (never a broker call).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import fields, replace
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    Row,
    bindparam,
    delete,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.storage.engine import read_connection, take_write_lock
from adapters.storage.fast_write import CoreStatements, Statements, fast_writer, write_tracker
from adapters.storage.records import (
    INTENT_IDENTITY,
    INTENT_MUTABLE,
    Account,
    Halt,
    Intent,
    IntentKind,
    IntentStatus,
    JournalEntry,
    JournalKind,
    JournalRecord,
    OrderEvent,
    StatusReads,
    transition_allowed,
)
from adapters.storage.schema import accounts, daemon_state, halts, intents, journal, order_events
from ledger.model import AccountType, Action

T = TypeVar("T")
Clock = Callable[[], datetime]
# decide(intent, stored state value) -> (intent to store, new state value or None)
Admission = Callable[[Intent, str | None], tuple[Intent, str | None]]

_IN_CHUNK = 500  # bound parameters per IN (...) lookup; SQLite allows 32766 per statement
_JOURNAL_COLUMNS = [journal.c[f.name] for f in fields(JournalRecord)]
_KINDS: dict[str, JournalKind] = {k.value: k for k in JournalKind}
_ACTIONS: dict[str | None, Action | None] = {None: None, **{a.value: a for a in Action}}
_TERMINAL = [s.value for s in IntentStatus if s.terminal]


def utc_now() -> datetime:
    """Return the current time in UTC (the repository's default clock)."""
    return datetime.now(UTC)


class StorageError(Exception):
    """Base class of the repository's errors."""


class IntentNotFoundError(StorageError, LookupError):
    """No intent has the given id."""


class IntentConflictError(StorageError):
    """An intent with this id is already stored with a different kind, account, symbol, side,
    quantity, lot or parent."""


class IntentTransitionError(StorageError, ValueError):
    """The status change is not in the intent state table (`records.TRANSITIONS`)."""


class StaleIntentError(StorageError):
    """The intent's status is not the one the caller expected (someone else changed it)."""


class Repository:
    """Async persistence API over one engine; cheap to create, safe to share within a loop."""

    def __init__(self, engine: AsyncEngine, *, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock
        self._conn: AsyncConnection | None = None
        self._writes = write_tracker(engine)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Repository]:
        """Yield a repository whose calls share one write transaction, committed on exit.

        An exception inside the block rolls every call back.
        """
        if self._conn is not None:
            yield self
            return
        with self._writes.writing():
            async with self._engine.begin() as conn:
                await take_write_lock(conn)
                bound = Repository(self._engine, clock=self._clock)
                bound._conn = conn
                yield bound

    # -- journal ------------------------------------------------------------------------------

    async def append_journal(self, entries: Iterable[JournalEntry]) -> list[int]:
        """Append `entries` in order and return the new seqs, ascending.

        Entries whose `external_id` is already stored, or repeats one earlier in `entries`, are
        skipped, so importing the same fills twice appends nothing the second time.
        """
        now = self._clock()
        rows = [_journal_values(entry, now) for entry in entries]
        if not rows:
            return []
        async with self._writing() as conn:
            rows = await _drop_known_external_ids(conn, rows)
            if not rows:
                return []
            # SQLite returns batched RETURNING rows in VALUES order but cannot promise it, so
            # SQLAlchemy would insert one row at a time; holding the writer lock, new seqs
            # ascend in VALUES order anyway, and sorting them is enough.
            ordered = conn.dialect.name == "postgresql"
            stmt = insert(journal).returning(journal.c.seq, sort_by_parameter_order=ordered)
            result = await conn.execute(stmt, rows)
            return sorted(result.scalars().all())

    async def known_external_ids(self, external_ids: Iterable[str]) -> set[str]:
        """Return which of `external_ids` the journal already holds."""
        rows = [{"external_id": e} for e in external_ids]
        async with self._reading() as conn:
            fresh = await _drop_known_external_ids(conn, rows)
        return {r["external_id"] for r in rows} - {r["external_id"] for r in fresh}

    async def load_journal(self, after_seq: int = 0) -> list[JournalRecord]:
        """Return the journal entries with seq > `after_seq`, in seq (replay) order."""
        stmt = select(*_JOURNAL_COLUMNS).where(journal.c.seq > after_seq).order_by(journal.c.seq)
        kinds, actions, record = _KINDS, _ACTIONS, JournalRecord
        async with self._reading() as conn:
            result = await conn.execute(stmt)
            with _gc_paused():
                # Unpacking by iteration is the fastest way through 100k rows (test_journal).
                return [
                    record(seq, kinds[kind], account, actions[action], *rest)
                    for seq, kind, account, action, *rest in result.all()
                ]

    # -- accounts -----------------------------------------------------------------------------

    async def upsert_account(self, account: Account) -> None:
        """Insert `account`, or overwrite the stored type, broker and lot method."""
        values = {
            "account": account.account,
            "type": account.type.value,
            "broker": account.broker,
            "lot_method": account.lot_method,
        }
        async with self._writing() as conn:
            await _upsert(conn, accounts, values, key="account")

    async def accounts(self) -> list[Account]:
        """Return every account, ordered by name."""
        stmt = select(accounts).order_by(accounts.c.account)
        async with self._reading() as conn:
            rows = (await conn.execute(stmt)).all()
        return [Account(r.account, AccountType(r.type), r.broker, r.lot_method) for r in rows]

    # -- intents ------------------------------------------------------------------------------

    async def save_intent(self, intent: Intent) -> Intent:
        """Store a new intent and return it with its timestamps; saving it again is a no-op.

        Return the stored intent when `intent_id` exists with the same kind, account, symbol,
        side, quantity, lot and parent; raise `IntentConflictError` when any of them differ.
        """
        now = self._clock()
        intent = replace(
            intent, created_at=intent.created_at or now, updated_at=intent.updated_at or now
        )
        async with self._writing() as conn:
            existing = await _fetch_intent(conn, intent.intent_id)
            if existing is None:
                await conn.execute(insert(intents).values(_intent_values(intent)))
                return intent
        differs = [f for f in INTENT_IDENTITY if getattr(existing, f) != getattr(intent, f)]
        if differs:
            raise IntentConflictError(f"intent {intent.intent_id!r} exists with other {differs}")
        return existing

    async def admit_intent(
        self, intent: Intent, state_key: str, decide: Admission
    ) -> tuple[Intent, bool]:
        """Store a new intent together with the state value it depends on, in one transaction.

        Return ``(stored intent, False)``, changing nothing, when `intent_id` already exists.
        Otherwise call
        ``decide(intent, value)`` with the value stored under `state_key` (None when unset); it
        returns the intent to store (with its final status) and the new value of `state_key`
        (None: leave it), and return ``(that intent, True)``. `decide` runs inside the write
        transaction and must not block.

        This is the outbox's write before an order leaves, so on a SQLite file it runs on the
        event loop's thread without a round trip per statement (`fast_write`), and falls back
        to an ordinary async transaction whenever that would have to wait for a lock.
        """
        now = self._clock()
        upsert = _state_upsert(self._engine.dialect.name)

        def work(db: Statements) -> Intent | None:
            if db.rows(_INTENT_EXISTS, {"id": intent.intent_id}):
                return None  # stored already: read after the transaction
            found = db.rows(_STATE_BY_KEY, {"key": state_key})
            stored, new_value = decide(intent, found[0][0] if found else None)
            stored = replace(
                stored, created_at=stored.created_at or now, updated_at=stored.updated_at or now
            )
            db.run(_INSERT_INTENT, _intent_values(stored))
            if new_value is not None:
                db.run(upsert, {"key": state_key, "value": new_value, "updated_at": now})
            return stored

        result = await self._write(work)
        if result is not None:
            return result, True
        existing = await self.get_intent(intent.intent_id)
        assert existing is not None  # intents are never deleted
        return existing, False

    async def get_intent(self, intent_id: str) -> Intent | None:
        """Return the intent `intent_id`, or None.

        The order manager asks between orders whether an order's intent is stored yet, so on
        a SQLite file this reads on the event loop's thread (`fast_write`).
        """

        def work(db: Statements) -> Intent | None:
            found = db.fetch(_INTENT_BY_ID, {"id": intent_id})
            return _intent_from_values(found[0]) if found else None

        return await self._read(work)

    async def update_intent(
        self,
        intent_id: str,
        *,
        expected_status: IntentStatus | None = None,
        current: Intent | None = None,
        **changes: Any,
    ) -> Intent:
        """Apply `changes` to intent `intent_id` and return the updated intent.

        Changeable fields: status, limit_price, broker_order_id, filled_quantity,
        filled_notional, reason, payload. The write is conditional on the status read just
        before it (compare-and-set). Raise `IntentNotFoundError` for an unknown id,
        `StaleIntentError` when the stored status is not `expected_status` (if given) or changed
        meanwhile, and `IntentTransitionError` when the state table forbids the new status.

        `current` is the caller's copy of the stored intent (the order manager keeps the intents
        it follows in memory, written through): the row is then not read first, the write
        compares its status with the copy's, and on a SQLite file outside a transaction it
        runs on the event loop's thread (`fast_write`). When the stored status is not the
        copy's, the row is read and the update goes on as without `current`.
        """
        unknown = set(changes) - INTENT_MUTABLE
        if unknown:
            raise TypeError(f"update_intent cannot change {sorted(unknown)}")
        if "status" in changes:
            changes["status"] = IntentStatus(changes["status"])
        if current is not None and current.intent_id == intent_id:
            written = await self._update_copy(current, expected_status, changes)
            if written is not None:
                return written
        async with self._writing() as conn:
            current = await _fetch_intent(conn, intent_id)
            if current is None:
                raise IntentNotFoundError(intent_id)
            if expected_status is not None and current.status != expected_status:
                raise StaleIntentError(
                    f"intent {intent_id!r} is {current.status}, expected {expected_status}"
                )
            new_status = changes.get("status", current.status)
            if not transition_allowed(current.status, new_status):
                raise IntentTransitionError(
                    f"intent {intent_id!r} cannot go from {current.status} to {new_status}"
                )
            updated = replace(current, **changes, updated_at=self._clock())
            values = {k: v for k, v in _intent_values(updated).items() if k in changes}
            stmt = (
                update(intents)
                .where(intents.c.intent_id == intent_id, intents.c.status == current.status.value)
                .values(**values, updated_at=updated.updated_at)
            )
            if (await conn.execute(stmt)).rowcount != 1:
                raise StaleIntentError(f"intent {intent_id!r} changed concurrently")
        return updated

    async def _update_copy(
        self, current: Intent, expected_status: IntentStatus | None, changes: dict[str, Any]
    ) -> Intent | None:
        """Write `changes` over the caller's copy `current` of the row; return the updated
        intent, or None (nothing written) when the copy's status is not the stored one or the
        update would not be allowed from it (the caller reads the row then)."""
        if expected_status is not None and current.status != expected_status:
            return None
        now = self._clock()

        def work(db: Statements) -> Intent | None:
            return _write_over_copy(db, current, changes, now)

        return await self._write(work)

    async def append_fill(
        self, entry: JournalEntry, intent: Intent, count: Callable[[], dict[str, Any]]
    ) -> tuple[list[int], Intent] | None:
        """Append the journal entry `entry` of a fill of `intent` (the caller's copy of the
        stored row) and write the changes ``count()`` returns over the intent, in one
        transaction; return (the new seq, the updated intent).

        Return ``([], intent)``, writing nothing, when the entry's external id is journaled
        already, and None, writing nothing, when the copy's status is not the stored one (or
        the change is not allowed from it). `count` runs inside the transaction, after the
        external id's check; an exception from it rolls everything back and propagates.

        The engine journals fills between quotes, so on a SQLite file this runs on the event
        loop's thread (`fast_write`), like the outbox's writes.
        """
        now = self._clock()
        row = _journal_values(entry, now)

        def work(db: Statements) -> tuple[list[int], Intent]:
            if entry.external_id is not None and db.rows(
                _JOURNALED_EXTERNAL_ID, {"external_id": entry.external_id}
            ):
                return [], intent
            seq = int(db.rows(_INSERT_JOURNAL, row)[0][0])
            updated = _write_over_copy(db, intent, count(), now)
            if updated is None:
                raise _StaleCopyError
            return [seq], updated

        try:
            return await self._write(work)
        except _StaleCopyError:
            return None

    async def open_intents(self) -> list[Intent]:
        """Return the intents not in a terminal status, oldest first (read on the event loop's
        thread on a SQLite file, `fast_write`: recovery asks every session)."""
        return await self._read(lambda db: _intents_of(db, _OPEN_INTENTS, _OPEN_PARAMS))

    async def finished_harvests_without_replacement(self) -> list[Intent]:
        """Return the finished harvest (or swap-back) sales that sold shares but have no
        follow-up intent yet.

        A follow-up is any intent whose parent is the sale (a replacement buy, even a denied
        one). Sales into cash never get one, so they stay in this list; skip them by payload.
        """
        found = await self._read(lambda db: _intents_of(db, _UNFOLLOWED_SALES, _UNFOLLOWED_PARAMS))
        # filled_quantity is exact text, so "> 0" is decided here rather than in SQL.
        return [i for i in found if i.filled_quantity > 0]

    async def intents_of_kind(
        self,
        kind: IntentKind,
        statuses: Iterable[IntentStatus] = (),
        *,
        since: datetime | None = None,
    ) -> list[Intent]:
        """Return the intents of one kind (in these statuses, if given; created at `since` or
        later, if given), oldest first."""
        wanted = [s.value for s in statuses]
        stmt = _intents_of_kind(len(wanted), with_since=since is not None)
        params: dict[str, Any] = {"kind": kind.value}
        params.update({f"status_{i}": v for i, v in enumerate(wanted)})
        if since is not None:
            params["since"] = since
        return await self._read(lambda db: _intents_of(db, stmt, params))

    async def status_reads(self, kinds: Iterable[IntentKind]) -> StatusReads:
        """Return what the status snapshot reads (`daemon.snapshot`): the journal's size and
        its sales (of any kind, in seq order), the intents of `kinds` (oldest first) and the
        active halts, in one read transaction and one round trip to the driver.

        The running daemon builds the snapshot while quotes stream in, when every round trip
        to aiosqlite's thread waits its turn on the busy event loop (see `fast_write`).
        """
        count = select(func.count()).select_from(journal)
        sales = (
            select(*_JOURNAL_COLUMNS)
            .where(journal.c.action == Action.SELL.value)
            .order_by(journal.c.seq)
        )
        of_kinds = (
            select(intents)
            .where(intents.c.kind.in_([k.value for k in kinds]))
            .order_by(intents.c.created_at, intents.c.intent_id)
        )
        active = select(halts).where(halts.c.cleared_at.is_(None)).order_by(halts.c.halt_id)

        def work(conn: Connection) -> StatusReads:
            return StatusReads(
                journal_entries=int(conn.execute(count).scalar_one()),
                journal_sales=[
                    JournalRecord(seq, _KINDS[kind], account, _ACTIONS[action], *rest)
                    for seq, kind, account, action, *rest in conn.execute(sales).all()
                ],
                intents=[_intent_from_row(r) for r in conn.execute(of_kinds).all()],
                halts=[_halt_from_row(r) for r in conn.execute(active).all()],
            )

        async with self._reading() as conn:
            return await conn.run_sync(work)

    async def append_order_event(self, event: OrderEvent) -> int:
        """Append a broker order update for an existing intent and return its event id.

        The engine handles order updates between quotes, so on a SQLite file this runs on the
        event loop's thread (`fast_write`), committed before it returns, like the outbox.
        """
        values = {
            "intent_id": event.intent_id,
            "status": event.status,
            "filled_quantity": event.filled_quantity,
            "price": event.price,
            "at": event.at,
            "raw": event.raw,
            "recorded_at": self._clock(),
        }

        def work(db: Statements) -> int:
            return int(db.rows(_INSERT_ORDER_EVENT, values)[0][0])

        event_id = await self._write(work)
        assert event_id is not None
        return event_id

    async def order_events(self, intent_id: str) -> list[OrderEvent]:
        """Return the order updates of intent `intent_id` in the order they were appended."""
        stmt = (
            select(order_events)
            .where(order_events.c.intent_id == intent_id)
            .order_by(order_events.c.event_id)
        )
        async with self._reading() as conn:
            rows = (await conn.execute(stmt)).all()
        return [OrderEvent(**r._mapping) for r in rows]

    # -- halts --------------------------------------------------------------------------------

    async def set_halt(self, symbol: str, reason: str, *, account: str | None = None) -> Halt:
        """Halt trading in `symbol` (in `account` only, when given) and return the halt.

        When the same symbol and account are already halted, return that halt unchanged.
        """
        async with self._writing() as conn:
            active = select(halts).where(_halt_scope(symbol, account), halts.c.cleared_at.is_(None))
            row = (await conn.execute(active.order_by(halts.c.halt_id).limit(1))).first()
            if row is not None:
                return _halt_from_row(row)
            created_at = self._clock()
            stmt = (
                insert(halts)
                .values(symbol=symbol, account=account, reason=reason, created_at=created_at)
                .returning(halts.c.halt_id)
            )
            halt_id = (await conn.execute(stmt)).scalar_one()
        return Halt(halt_id, symbol, account, reason, created_at)

    async def clear_halt(self, symbol: str, *, account: str | None = None) -> int:
        """Clear the active halt of `symbol` in exactly that scope; return how many were cleared.

        ``account=None`` clears the all-accounts halt, not halts set for single accounts.
        """
        stmt = (
            update(halts)
            .where(_halt_scope(symbol, account), halts.c.cleared_at.is_(None))
            .values(cleared_at=self._clock())
        )
        async with self._writing() as conn:
            return (await conn.execute(stmt)).rowcount

    async def active_halts(self) -> list[Halt]:
        """Return the halts not cleared yet, oldest first."""
        stmt = select(halts).where(halts.c.cleared_at.is_(None)).order_by(halts.c.halt_id)
        async with self._reading() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_halt_from_row(r) for r in rows]

    # -- daemon state -------------------------------------------------------------------------

    async def get_state(self, key: str) -> str | None:
        """Return the value stored under `key`, or None (on a SQLite file, read on the event
        loop's thread: `fast_write`)."""

        def work(db: Statements) -> str | None:
            found = db.fetch(_STATE_BY_KEY, {"key": key})
            return str(found[0][0]) if found else None

        return await self._read(work)

    async def set_state(self, key: str, value: str) -> None:
        """Store `value` under `key`, replacing any previous value."""
        values = {"key": key, "value": value, "updated_at": self._clock()}
        upsert = _state_upsert(self._engine.dialect.name)
        await self._write(lambda db: db.run(upsert, values))

    async def states(self, prefix: str) -> dict[str, str]:
        """Return the values stored under keys starting with `prefix`, by key (ordered)."""
        pattern = {"pattern": _like_prefix(prefix)}
        rows = await self._read(lambda db: db.fetch(_STATES_BY_PREFIX, pattern))
        return {str(k): str(v) for k, v in rows}

    async def delete_state(self, key: str) -> bool:
        """Delete the value under `key`; return whether there was one (the caller took it)."""

        def work(db: Statements) -> bool:
            found = db.rows(_STATE_BY_KEY, {"key": key})
            if found:
                db.run(_DELETE_STATE, {"key": key})
            return bool(found)

        return bool(await self._write(work))

    # -- transactions -------------------------------------------------------------------------

    async def _write(self, work: Callable[[Statements], T]) -> T | None:
        """Run `work` in one write transaction (this repository's, when it has one) and return
        its result: on a SQLite file outside a transaction on the event loop's thread
        (`fast_write`), else, or when that would wait for a lock, through the async driver."""
        writer = fast_writer(self._engine) if self._conn is None else None
        done, result = writer.run(work) if writer is not None else (False, None)
        if not done:
            async with self._writing() as conn:
                result = await conn.run_sync(lambda sync: work(CoreStatements(sync)))
        return result

    async def _read(self, work: Callable[[Statements], T]) -> T:
        """Run `work` in one read transaction (this repository's, when it has one) and return
        its result: on a SQLite file outside a transaction on the event loop's thread
        (`fast_write`), else, or when SQLite is busy, through the async driver."""
        reader = fast_writer(self._engine) if self._conn is None else None
        if reader is not None:
            done, result = reader.read(work)
            if done:
                return cast(T, result)
        async with self._reading() as conn:
            return await conn.run_sync(lambda sync: work(CoreStatements(sync)))

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        if self._conn is not None:
            yield self._conn
            return
        with self._writes.writing():
            async with self._engine.begin() as conn:
                await take_write_lock(conn)
                yield conn

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncConnection]:
        if self._conn is not None:
            yield self._conn
            return
        async with read_connection(self._engine) as conn:
            yield conn


@contextmanager
def _gc_paused() -> Iterator[None]:
    # Building ~10^6 acyclic objects (rows, Decimals, datetimes, records) triggers repeated
    # cyclic-GC passes that can free nothing: a third of load_journal's time. Only for
    # synchronous blocks: with no await inside, no other task runs while it is paused.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


async def _upsert(conn: AsyncConnection, table: Any, values: dict[str, Any], *, key: str) -> None:
    await conn.execute(_upsert_statement(conn.dialect.name, table, values, key=key))


def _upsert_statement(dialect: str, table: Any, values: dict[str, Any], *, key: str) -> Any:
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table).values(values)
    changed = {k: stmt.excluded[k] for k in values if k != key}
    return stmt.on_conflict_do_update(index_elements=[key], set_=changed)


_INTENT_EXISTS = select(intents.c.intent_id).where(intents.c.intent_id == bindparam("id"))
_STATE_BY_KEY = select(daemon_state.c.value).where(daemon_state.c.key == bindparam("key"))
_INSERT_INTENT = insert(intents)
_INSERT_ORDER_EVENT = insert(order_events).returning(order_events.c.event_id)
_INSERT_JOURNAL = insert(journal).returning(journal.c.seq)
_JOURNALED_EXTERNAL_ID = select(journal.c.seq).where(
    journal.c.external_id == bindparam("external_id")
)
_STATE_UPSERTS: dict[str, Any] = {}
_STATES_BY_PREFIX = (
    select(daemon_state.c.key, daemon_state.c.value)
    .where(daemon_state.c.key.like(bindparam("pattern"), escape="/"))
    .order_by(daemon_state.c.key)
)
_DELETE_STATE = delete(daemon_state).where(daemon_state.c.key == bindparam("key"))
_OLDEST_FIRST = (intents.c.created_at, intents.c.intent_id)
# The statuses and kinds as parameters, one each (`fast_write` compiles positional ones).
_OPEN_PARAMS = {f"open_{i}": s.value for i, s in enumerate(IntentStatus) if not s.terminal}
_OPEN_INTENTS = (
    select(intents)
    .where(intents.c.status.in_([bindparam(k) for k in _OPEN_PARAMS]))
    .order_by(*_OLDEST_FIRST)
)
_UNFOLLOWED_PARAMS = {
    "harvest": IntentKind.HARVEST_SELL.value,
    "swap_back": IntentKind.SWAP_BACK_SELL.value,
    **{f"ended_{i}": v for i, v in enumerate(_TERMINAL)},
}
_CHILD = intents.alias("child")
_UNFOLLOWED_SALES = (
    select(intents)
    .where(
        intents.c.kind.in_([bindparam("harvest"), bindparam("swap_back")]),
        intents.c.status.in_([bindparam(f"ended_{i}") for i in range(len(_TERMINAL))]),
        ~exists().where(_CHILD.c.parent_intent_id == intents.c.intent_id),
    )
    .order_by(*_OLDEST_FIRST)
)
_OF_KIND: dict[tuple[int, bool], Any] = {}


def _intents_of_kind(statuses: int, *, with_since: bool) -> Any:
    """Return the prebuilt query of one kind's intents in `statuses` statuses (parameters
    kind, status_0…, since), oldest first."""
    stmt = _OF_KIND.get((statuses, with_since))
    if stmt is None:
        stmt = select(intents).where(intents.c.kind == bindparam("kind"))
        if statuses:
            stmt = stmt.where(
                intents.c.status.in_([bindparam(f"status_{i}") for i in range(statuses)])
            )
        if with_since:
            stmt = stmt.where(intents.c.created_at >= bindparam("since"))
        stmt = _OF_KIND[(statuses, with_since)] = stmt.order_by(*_OLDEST_FIRST)
    return stmt


def _intents_of(db: Statements, stmt: Any, params: dict[str, Any]) -> list[Intent]:
    return [_intent_from_values(v) for v in db.fetch(stmt, params)]


def _like_prefix(prefix: str) -> str:
    """Return the LIKE pattern of the keys starting with `prefix` (escape character "/")."""
    escaped = prefix.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return escaped + "%"


def _state_upsert(dialect: str) -> Any:
    """Return the prebuilt upsert of one state row (parameters key, value, updated_at)."""
    stmt = _STATE_UPSERTS.get(dialect)
    if stmt is None:
        base = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(daemon_state)
        stmt = _STATE_UPSERTS[dialect] = base.on_conflict_do_update(
            index_elements=["key"],
            set_={"value": base.excluded.value, "updated_at": base.excluded.updated_at},
        )
    return stmt


async def _drop_known_external_ids(
    conn: AsyncConnection, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    wanted = list(dict.fromkeys(r["external_id"] for r in rows if r["external_id"] is not None))
    seen: set[str] = set()
    for i in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[i : i + _IN_CHUNK]
        stmt = select(journal.c.external_id).where(journal.c.external_id.in_(chunk))
        seen.update((await conn.execute(stmt)).scalars())
    fresh = []
    for row in rows:
        external_id = row["external_id"]
        if external_id is not None:
            if external_id in seen:
                continue
            seen.add(external_id)
        fresh.append(row)
    return fresh


def _journal_values(entry: JournalEntry, recorded_at: datetime) -> dict[str, Any]:
    return {
        "kind": entry.kind.value,
        "account": entry.account,
        "action": None if entry.action is None else entry.action.value,
        "symbol": entry.symbol,
        "quantity": entry.quantity,
        "price": entry.price,
        "fees": entry.fees,
        "lot_id": entry.lot_id,
        "trade_date": entry.trade_date,
        "occurred_at": entry.occurred_at,
        "ratio": entry.ratio,
        "source": entry.source,
        "external_id": entry.external_id,
        "recorded_at": recorded_at,
        "new_symbol": entry.new_symbol,
        "basis_fraction": entry.basis_fraction,
        "to_account": entry.to_account,
    }


def _intent_values(intent: Intent) -> dict[str, Any]:
    values = {f.name: getattr(intent, f.name) for f in fields(Intent)}
    for name in ("kind", "status", "side"):
        values[name] = values[name].value
    return values


_UPDATES: dict[tuple[str, ...], Any] = {}


class _StaleCopyError(Exception):
    """Roll back a transaction whose write over the caller's copy of an intent hit no row."""


def _write_over_copy(
    db: Statements, current: Intent, changes: dict[str, Any], now: datetime
) -> Intent | None:
    """Write `changes` over the copy `current` of a stored intent, if its status is still the
    stored one and the change is allowed from it; return the updated intent, or None."""
    if not transition_allowed(current.status, changes.get("status", current.status)):
        return None
    updated = replace(current, **changes, updated_at=now)
    values = _intent_values(updated)
    columns = tuple(sorted(changes))
    params = {f"v_{k}": values[k] for k in columns}
    params.update(
        v_updated_at=updated.updated_at,
        w_intent_id=current.intent_id,
        w_status=current.status.value,
    )
    return updated if db.rows(_update_statement(columns), params) else None


def _update_statement(columns: tuple[str, ...]) -> Any:
    """Return the update of these intent columns where id and status match, returning the id
    (one statement object per set of columns: `fast_write` caches statements by identity)."""
    stmt = _UPDATES.get(columns)
    if stmt is None:
        stmt = _UPDATES[columns] = (
            update(intents)
            .where(
                intents.c.intent_id == bindparam("w_intent_id"),
                intents.c.status == bindparam("w_status"),
            )
            .values({c: bindparam(f"v_{c}") for c in (*columns, "updated_at")})
            .returning(intents.c.intent_id)
        )
    return stmt


def _intent_from_row(row: Row[Any]) -> Intent:
    m = row._mapping
    enums = {
        "kind": IntentKind(m["kind"]),
        "status": IntentStatus(m["status"]),
        "side": Action(m["side"]),
    }
    return Intent(**{**m, **enums})


_INTENT_COLUMNS = tuple(c.name for c in intents.c)
_INTENT_BY_ID = select(intents).where(intents.c.intent_id == bindparam("id"))


def _intent_from_values(values: Sequence[Any]) -> Intent:
    """Return the intent of one row of ``select(intents)`` (its values in column order)."""
    m = dict(zip(_INTENT_COLUMNS, values, strict=True))
    m["kind"] = IntentKind(m["kind"])
    m["status"] = IntentStatus(m["status"])
    m["side"] = Action(m["side"])
    return Intent(**m)


async def _fetch_intent(conn: AsyncConnection, intent_id: str) -> Intent | None:
    stmt = select(intents).where(intents.c.intent_id == intent_id)
    row = (await conn.execute(stmt)).first()
    return None if row is None else _intent_from_row(row)


def _halt_scope(symbol: str, account: str | None) -> ColumnElement[bool]:
    same_account = halts.c.account.is_(None) if account is None else halts.c.account == account
    return (halts.c.symbol == symbol) & same_account


def _halt_from_row(row: Row[Any]) -> Halt:
    return Halt(**row._mapping)
