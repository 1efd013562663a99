"""`tlh tax report` on several cores: one ledger per part of the history, outputs merged.

A history falls apart by substantially identical groups into parts that replay independently
(`ledger.partition`). Each part runs in a forked worker, which reads the whole file, routes the
rows by symbol, parses only its own rows (after checking, against the lots the other rows name,
that the lot ids cannot interact), applies them, writes its sales in the requested format and
sends back the texts, each with the key that orders it in the whole report, plus its totals and
open lots. The parent merges the texts by key and adds up the totals, so the output is the
sequential one byte for byte (tests hold the two equal).

Every worker reads the file because reading it once in the parent would not be faster (the
workers read at the same time) and would cost more: a forked worker that touches the parent's
objects, if only to count references to them, copies the memory pages they sit on.

Only where it pays and is safe: Linux (fork), a history of at least `MIN_BYTES`, the json, csv
and txf formats. A history that cannot be split, or any worker that fails (a malformed row, a
trade the ledger refuses), gives None: the caller then runs the sequential report, which
explains the failure with file and line as always.
"""

from __future__ import annotations

import heapq
import multiprocessing
import os
import pickle
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from multiprocessing.connection import Connection, wait
from operator import itemgetter
from typing import Any, Literal, Protocol

from ledger.engine import Ledger, event_order
from ledger.forms.form8949_csv import Form8949Lines
from ledger.forms.json_report import ROW_SEPARATOR, SaleLines, iter_json_texts
from ledger.forms.txf import txf_header, txf_record, txf_text
from ledger.identity import Identity
from ledger.model import Action, LedgerEvent, OpenLot, SaleRow, Trade
from ledger.partition import assign_parts, lot_ids_independent
from ledger.report import Form1099, ReportedSale, Totals, add_totals, reported_sales, totals_of

MIN_BYTES = 1_000_000  # about 20,000 trades: below, starting workers costs more than it saves
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

SortKey = tuple[Any, ...]
Block = tuple[SortKey, str]


@dataclass(frozen=True, slots=True)
class Output:
    """What to write: the format, and the options its renderer takes."""

    format: Literal["json", "csv", "txf"]
    txf_program: str = "tlh"
    txf_export_date: date = date(1970, 1, 1)
    txf_unwashed_format: Literal[4, 5] = 4


@dataclass(frozen=True, slots=True)
class _PartResult:
    blocks: list[Block]  # sorted by key
    totals: Totals
    open_lots: list[OpenLot]


def available_cores() -> int:
    """Return how many CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def render_in_parts(
    read: Callable[[], History],
    size: int,
    identity: Identity,
    new_ledger: Callable[[], Ledger],
    output: Output,
    *,
    jobs: int,
    year: int | None = None,
    boxes: Mapping[str, Form1099] | None = None,
) -> Iterator[str] | None:
    """Return the report's text in chunks, made by up to `jobs` workers; None when not done so.

    `read` reads the history (each worker calls it); `size` is its size in bytes. None means
    the caller must run the sequential report: the history is small, cannot be split, fork is
    not available, or a worker failed.
    """
    if jobs < 2 or size < MIN_BYTES or sys.platform != "linux":
        return None
    job = _Job(read, identity, new_ledger, output, jobs, year, boxes)
    results = _run_workers(job)
    if results is None:
        return None
    totals = results[0].totals
    for r in results[1:]:
        totals = add_totals(totals, r.totals)
    open_lots = list(heapq.merge(*(r.open_lots for r in results), key=_position))
    texts = (text for _key, text in heapq.merge(*(r.blocks for r in results), key=itemgetter(0)))
    return _assemble(output, texts, open_lots, totals)


def _assemble(
    output: Output, texts: Iterable[str], open_lots: list[OpenLot], totals: Totals
) -> Iterator[str]:
    if output.format == "json":
        yield from iter_json_texts(texts, open_lots, totals)
    elif output.format == "csv":
        yield Form8949Lines().header()
        yield from texts
    else:
        yield txf_text(txf_header(output.txf_program, output.txf_export_date))
        yield from texts


# -- workers ---------------------------------------------------------------------------------


class History(Protocol):
    """A trade history read but not parsed (`adapters.importers.trades_csv.TradeRows`).

    Rows are (line, fields); parsing numbers each trade by its line, so `seq` is unique.
    """

    rows: list[tuple[int, list[str]]]

    def symbol(self, record: list[str]) -> str:
        """Return the symbol of the row's trade, were the row valid."""

    def named_purchase(self, record: list[str]) -> str | None:
        """Return the lot id the row names if it is a purchase."""

    def parse(self, rows: Iterable[tuple[int, list[str]]]) -> list[Trade]:
        """Return the trades of `rows`; raise for a malformed one."""


@dataclass(frozen=True, slots=True)
class _Job:
    read: Callable[[], History]
    identity: Identity
    new_ledger: Callable[[], Ledger]
    output: Output
    jobs: int
    year: int | None
    boxes: Mapping[str, Form1099] | None


def _run_workers(job: _Job) -> list[_PartResult] | None:
    context = multiprocessing.get_context("fork")
    running: dict[Connection, int] = {}
    processes = []
    for i in range(job.jobs):
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=_work, args=(job, i, send), daemon=True)
        process.start()
        send.close()
        running[receive] = i
        processes.append(process)
    results: list[_PartResult | None] = [None] * job.jobs
    try:
        while running:
            for conn in wait(list(running)):
                assert isinstance(conn, Connection)
                i = running.pop(conn)
                try:
                    result = pickle.loads(conn.recv_bytes())
                except EOFError:  # the worker died without a word
                    return None
                if result is None:  # not split, or failed: the sequential run explains why
                    return None
                results[i] = result
    finally:
        for conn in running:
            conn.close()
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join()
    return [r for r in results if r is not None]


def _work(job: _Job, index: int, conn: Connection) -> None:
    """Replay part `index` and send back its texts, totals and open lots (None if it can't)."""
    try:
        result = _replay_part(job, index)
    except Exception:  # the parent falls back to the sequential run, which reports it
        result = None
    conn.send_bytes(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    conn.close()
    # Skip freeing a large heap object by object on the way out; nothing is left to flush.
    os._exit(0)


def _replay_part(job: _Job, index: int) -> _PartResult | None:
    history = job.read()
    key = job.identity.key
    groups = [key(history.symbol(record)) for _line, record in history.rows]
    part_of = assign_parts(Counter(groups), job.jobs)
    if part_of is None or len(set(part_of.values())) != job.jobs:
        return None
    mine, elsewhere = [], set()
    for row, group in zip(history.rows, groups, strict=True):
        if part_of[group] == index:
            mine.append(row)
        elif lot_id := history.named_purchase(row[1]):
            elsewhere.add(lot_id)
    del groups
    events = history.parse(mine)  # only this part's rows: the other workers parse theirs
    del history, mine  # the rows are freed for this part's ledger to reuse
    if any(part_of.get(key(e.symbol)) != index for e in events):
        return None  # a row routed by its raw symbol parsed to another one
    if not lot_ids_independent(events, elsewhere):
        return None
    ordered = sorted(events, key=event_order)
    del events
    ledger = job.new_ledger()
    ledger.apply_sorted(ordered)
    sells = (e for e in ordered if isinstance(e, Trade) and e.action is Action.SELL)
    write = _writer(job.output)
    blocks: list[Block] = []
    reportable: list[SaleRow] = []
    for sell, rows in zip(sells, ledger.sales_by_sale(), strict=True):
        sale = reported_sales(rows, job.year, job.boxes)
        if sale:
            blocks.extend(write(_sortable(sell), sale))
            reportable.extend(s.sale for s in sale if s.reportable)
    if job.output.format != "json":
        blocks.sort(key=itemgetter(0))
    return _PartResult(blocks, totals_of(reportable), ledger.open_lots())


def _writer(output: Output) -> Callable[[SortKey, list[ReportedSale]], list[Block]]:
    """Return what turns one sale's rows into keyed texts of the requested format."""
    if output.format == "json":
        line = SaleLines()

        def json_block(key: SortKey, sale: list[ReportedSale]) -> list[Block]:
            return [(key, ROW_SEPARATOR.join([line(s) for s in sale]))]

        return json_block
    render: Callable[[ReportedSale], str]
    if output.format == "csv":
        render = Form8949Lines()
    else:
        unwashed = output.txf_unwashed_format

        def render(s: ReportedSale) -> str:
            return txf_text(txf_record(s, unwashed_format=unwashed))

    def form8949_blocks(key: SortKey, sale: list[ReportedSale]) -> list[Block]:
        # Form 8949 order: box, date sold, then the ledger's (`TaxReport.form8949_sales`).
        return [
            ((str(s.box), s.sale.date_sold.toordinal(), key, i), render(s))
            for i, s in enumerate(sale)
            if s.box is not None
        ]

    return form8949_blocks


def _sortable(event: LedgerEvent) -> SortKey:
    """Return `event_order(event)` as plain integers, cheap to send and compare."""
    day, instant, seq = event_order(event)
    return (day.toordinal(), (instant - _EPOCH) // _MICROSECOND, seq)


def _position(lot: OpenLot) -> tuple[str, str]:
    return (lot.account, lot.symbol)
