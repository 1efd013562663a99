"""Journal a broker's non-trade activities (`adapters.base.AccountActivity`) and apply them.

Called by each reconciliation pass (`daemon.reconciliation`) after the fills and before the
positions are compared, so a merger, symbol change, spin-off, dividend reinvestment or transfer
the broker has booked no longer reads as a mismatch. Each activity is journaled once (its id is
the journal entry's external id) and only if the ledger accepts it; one it cannot apply, or does
not understand, halts its symbol with the activity named in the reason.

An activity dated before the ledger's last event (Alpaca books corporate actions at the day's
start; the pass reads that day's fills first) is checked where it falls in the history, as
`tlh import` checks a row (`plan_import`), and the ledger is rebuilt from the journal with it,
so the live ledger is the journal's replay (what `tlh tax report --journal` reports).

Splits go through `HarvestEngine.on_split`, the path the split calendar uses, which journals a
split of a symbol once however many sources report it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import structlog

from adapters.base import AccountActivity, ActivityKind
from adapters.importers import InputError
from adapters.importers.journal_import import ImportRow, Where, plan_import
from adapters.storage.records import JournalEntry, JournalKind
from adapters.storage.repository import Repository
from daemon.events import SplitEvent
from ledger.model import Action, Conversion, SpinOff, Transfer

if TYPE_CHECKING:
    from daemon.engine import HarvestEngine

log = structlog.get_logger("tlh.reconcile")

NEW_YORK = ZoneInfo("America/New_York")
Halt = Callable[[str, str], Awaitable[None]]


def external_id(activity: AccountActivity) -> str:
    """Return the journal's external id of `activity` (stable: the broker's activity id)."""
    return f"activity:{activity.activity_id}"


def entry_of(activity: AccountActivity, account: str, source: str) -> JournalEntry | None:
    """Return the journal entry that records `activity`; None for one that changes no lots
    (a cash dividend) or that cannot be applied (`problem`, UNKNOWN, a split)."""
    if activity.problem:
        return None
    day = activity.at.astimezone(NEW_YORK).date()
    ext = external_id(activity)
    kind, a = activity.kind, activity
    if kind is ActivityKind.CONVERSION and a.ratio is not None:
        conversion = Conversion(0, day, account, a.symbol, a.new_symbol, a.ratio, a.at, source)
        return JournalEntry.from_event(conversion, external_id=ext)
    if kind is ActivityKind.SPIN_OFF and a.quantity is not None and a.basis_fraction is not None:
        spin = SpinOff(
            0, day, account, a.symbol, a.new_symbol, a.quantity, a.basis_fraction, a.at, source
        )
        return JournalEntry.from_event(spin, external_id=ext)
    if kind is ActivityKind.TRANSFER_OUT and a.quantity is not None:
        # Delivered to another broker or account: no sale; the lots leave the ledger.
        transfer = Transfer(0, day, account, a.symbol, a.quantity, at=a.at, source=source)
        return JournalEntry.from_event(transfer, external_id=ext)
    trades = {
        ActivityKind.SALE: Action.SELL,
        ActivityKind.PURCHASE: Action.BUY,
        ActivityKind.TRANSFER_IN: Action.BUY,
    }
    action = trades.get(kind)
    if action is None or a.quantity is None or a.price is None:
        return None
    return JournalEntry.trade(
        account=account,
        action=action,
        symbol=a.symbol,
        quantity=a.quantity,
        price=a.price,
        # A transferred-in lot keeps the acquisition date it had at the other broker.
        trade_date=a.acquired or day,
        occurred_at=None if a.acquired else a.at,
        source=source,
        external_id=ext,
        kind=JournalKind.IMPORT if kind is ActivityKind.TRANSFER_IN else JournalKind.TRADE,
    )


@dataclass(frozen=True, slots=True)
class Applied:
    """What one `apply_activities` call did.

    `waiting` is the instant of the oldest activity left unrecorded that may apply on a later
    pass: a spin-off awaiting ``[alpaca] spin_off_basis``, or one the ledger refused (lots
    missing until the user imports them). The caller reads activities again from before it.
    An activity the daemon does not understand, or a transfer in without basis (the user
    imports those lots instead), never applies: it halts its symbol and is not waited for.
    """

    journaled: int = 0
    waiting: datetime | None = None


async def apply_activities(
    engine: HarvestEngine,
    repo: Repository,
    activities: Sequence[AccountActivity],
    *,
    account: str,
    source: str,
    halt: Halt,
) -> Applied:
    """Journal and apply `activities` (oldest first); halt the symbol of each one that cannot
    be applied; return how many were journaled now and the oldest that may apply later."""
    done = await repo.known_external_ids(external_id(a) for a in activities)
    journaled = 0
    waiting: list[datetime] = []
    for activity in activities:
        if external_id(activity) in done:
            continue
        if activity.kind is ActivityKind.DIVIDEND:
            log.info("dividend", symbol=activity.symbol, activity=activity.name)
            continue
        if activity.kind is ActivityKind.SPLIT and activity.ratio is not None:
            await engine.on_split(SplitEvent(activity.symbol, activity.ratio, activity.at))
            continue
        entry = entry_of(activity, account, source)
        if entry is None:
            if activity.kind is ActivityKind.SPIN_OFF and activity.basis_fraction is None:
                waiting.append(activity.at)
            reason = activity.problem or f"activity {activity.name} is not understood"
            for symbol in {activity.symbol, activity.new_symbol} - {""}:
                await halt(symbol, f"reconcile: {reason}")
            continue
        event = entry.to_event(engine.journal_seq + 1)
        in_order = engine.ledger.applies_next(event)
        if in_order:
            error = engine.ledger.refusal(event)
            refused = None if error is None else str(error)
        else:
            refused = await _refusal_in_history(engine, repo, entry, activity)
        if refused is not None:
            waiting.append(activity.at)
            await halt(
                activity.symbol, f"reconcile: activity {activity.name} not applied: {refused}"
            )
            continue
        seqs = await repo.append_journal([entry])
        if seqs:
            journaled += 1
            log.info("activity_journaled", activity=activity.name, kind=activity.kind.value)
            if in_order:
                await engine.on_journal(seqs, [entry])
            else:
                await engine.rebuild()
    return Applied(journaled, min(waiting, default=None))


async def _refusal_in_history(
    engine: HarvestEngine, repo: Repository, entry: JournalEntry, activity: AccountActivity
) -> str | None:
    """Return why the journal cannot take `entry`, an activity dated before the ledger's
    last event (a corporate action booked at the day's start, read after that day's fills),
    checked where it falls in the history as `tlh import` checks a row: the journal replayed
    with it, the entry itself and every later one still applying. None: it can."""
    row = ImportRow(entry, Where(activity.name, None))
    try:
        plan_import(await repo.load_journal(), engine.ledger.empty_copy(), [row])
    except InputError as exc:
        return exc.message
    return None
