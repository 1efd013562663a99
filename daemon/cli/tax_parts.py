"""`tlh tax report` on several cores: one ledger per part of the history, outputs merged.

A history falls apart by substantially identical groups into parts that replay independently
(`ledger.partition`). Each part runs in a forked worker, which reads the whole file, routes the
rows by symbol, parses only its own rows (after checking, against the lots the other rows name,
that the lot ids cannot interact), applies them and writes its sales in the requested format.
In a first round each worker sends the parent the key that orders each of its texts in the
whole report, their lengths, its totals and open lots; the parent orders the texts by key,
writes the head and the tail (totals added up) and sends each worker where its texts go; in the
second round the workers copy their texts there, into the mapped output file. The output is the
sequential one byte for byte (tests hold the two equal).

Every worker reads the file because reading it once in the parent would not be faster (the
workers read at the same time) and would cost more: a forked worker that touches the parent's
objects, if only to count references to them, copies the memory pages they sit on.

Only where it pays and is safe: Linux (fork), a history of at least `MIN_BYTES`, the json, csv
and txf formats. A history that cannot be split, or any worker that fails (a malformed row, a
trade the ledger refuses), gives False: the caller then runs the sequential report, which
explains the failure with file and line as always.
"""

from __future__ import annotations

import contextlib
import ctypes
import heapq
import mmap
import multiprocessing
import os
import pickle
import signal
import sys
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from multiprocessing.connection import Connection, wait
from operator import itemgetter
from typing import Any, Literal, Protocol

from ledger.engine import Ledger, event_order
from ledger.forms import DateAcquired
from ledger.forms.form8949_csv import Form8949Lines
from ledger.forms.json_report import FIRST_ROW, JSON_HEAD, ROW_SEPARATOR, SaleLines, json_tail
from ledger.forms.txf import in_txf, txf_header, txf_record, txf_text
from ledger.identity import Identity
from ledger.model import Action, LedgerEvent, OpenLot, SaleRow, Split, Trade
from ledger.partition import SALE_WEIGHT, assign_parts, lot_ids_independent
from ledger.report import (
    DigitalAssets,
    Form1099,
    ReportedSale,
    Totals,
    add_totals,
    reported_sales,
    totals_of,
)

MIN_BYTES = 1_000_000  # about 20,000 trades: below, starting workers costs more than it saves
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

PartFormat = Literal["json", "csv", "txf"]  # the formats made on several cores
SortKey = tuple[Any, ...]
Block = tuple[SortKey, bytes]


@dataclass(frozen=True, slots=True)
class Output:
    """What to write: the format, and the options its renderer takes."""

    format: PartFormat
    txf_program: str = "tlh"
    txf_export_date: date = date(1970, 1, 1)
    txf_unwashed_format: Literal[4, 5] = 4
    date_acquired: DateAcquired = DateAcquired.HOLDING_PERIOD


@dataclass(frozen=True, slots=True)
class _PartResult:
    """A worker's part of the report, in memory: its texts by key, totals and open lots, and
    the totals of the sales a TXF leaves out."""

    blocks: list[Block]  # sorted by key
    totals: Totals
    open_lots: list[OpenLot]
    left_out: Totals


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where the rows go in a format: after `head`, separated, followed by `tail`."""

    head: bytes
    first_separator: bytes
    separator: bytes
    tail: Callable[[list[OpenLot], Totals, bool], bytes]


def available_cores() -> int:
    """Return how many CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def write_in_parts(
    read: Callable[[], History],
    size: int,
    identity: Identity,
    new_ledger: Callable[[], Ledger],
    output: Output,
    fd: int,
    *,
    jobs: int,
    year: int | None = None,
    boxes: Mapping[str, Form1099] | None = None,
    sale_years: set[int] | None = None,
    digital: DigitalAssets | None = None,
    left_out: list[Totals] | None = None,
) -> bool:
    """Write the report to the empty file open at `fd` (read and write) with `jobs` workers.

    `read` reads the history (each worker calls it); `size` is its size in bytes. Return False
    when the report was not made so (the file may hold part of it): the history is small,
    cannot be split, fork is not available, or a worker failed. The caller then runs the
    sequential report, which explains any failure with file and line as always. `sale_years`,
    if given, receives the tax years of the Form 8949 sales written (csv and txf); `left_out`
    the totals of the digital-asset sales a TXF leaves out (`ledger.forms.txf.left_out_of_txf`).
    """
    if jobs < 2 or size < MIN_BYTES or sys.platform != "linux":
        return False
    job = _Job(read, identity, new_ledger, output, jobs, year, boxes, digital, fd)
    return _run_workers(
        job, set() if sale_years is None else sale_years, [] if left_out is None else left_out
    )


def _layout(output: Output) -> _Layout:
    if output.format == "json":
        return _Layout(
            JSON_HEAD.encode(),
            FIRST_ROW.encode(),
            ROW_SEPARATOR.encode(),
            lambda lots, totals, sales: json_tail(lots, totals, sales=sales).encode(),
        )
    if output.format == "csv":
        return _Layout(Form8949Lines().header().encode(), b"", b"", lambda *_: b"")
    head = txf_text(txf_header(output.txf_program, output.txf_export_date))
    return _Layout(head.encode("ascii", "replace"), b"", b"", lambda *_: b"")


# -- workers ---------------------------------------------------------------------------------


class History(Protocol):
    """A trade history read but not parsed (`adapters.importers.trades_csv.TradeRows`).

    Rows are (line, fields); parsing numbers each trade by its line, so `seq` is unique.
    """

    rows: list[tuple[int, list[str]]]

    def symbol(self, record: list[str]) -> str:
        """Return the symbol of the row's trade, were the row valid."""

    def is_sale(self, record: list[str]) -> bool:
        """Return whether the row is a sale."""

    def named_purchase(self, record: list[str]) -> str | None:
        """Return the lot id the row names if it is a purchase."""

    def parse(self, rows: Iterable[tuple[int, list[str]]]) -> list[Trade | Split]:
        """Return the trades and splits of `rows`; raise for a malformed one."""


@dataclass(frozen=True, slots=True)
class _Job:
    read: Callable[[], History]
    identity: Identity
    new_ledger: Callable[[], Ledger]
    output: Output
    jobs: int
    year: int | None
    boxes: Mapping[str, Form1099] | None
    digital: DigitalAssets | None
    fd: int


def _run_workers(job: _Job, sale_years: set[int], left_out: list[Totals]) -> bool:
    """Run the workers in two rounds: each sends its texts' keys and lengths; the parent
    orders them and sends each worker where its texts go; the workers write them in place."""
    context = multiprocessing.get_context("fork")
    conns: list[Connection] = []
    processes = []
    for i in range(job.jobs):
        parent_end, worker_end = context.Pipe(duplex=True)
        process = context.Process(target=_work, args=(job, i, worker_end, os.getpid()), daemon=True)
        process.start()
        worker_end.close()
        conns.append(parent_end)
        processes.append(process)
    try:
        parts = _receive_all(conns)
        if parts is None:
            return False
        if job.output.format != "json":  # keys (box, date sold, ...): `_writer`
            days = {key[1] for part in parts for key in part.keys}
            sale_years.update(date.fromordinal(day).year for day in days)
        layout = _layout(job.output)
        totals = parts[0].totals
        for part in parts[1:]:
            totals = add_totals(totals, part.totals)
        left = parts[0].left_out
        for part in parts[1:]:
            left = add_totals(left, part.left_out)
        left_out.append(left)
        lots = list(heapq.merge(*(part.open_lots for part in parts), key=_position))
        places, end = _place(parts, layout)
        tail = layout.tail(lots, totals, end > len(layout.head))
        os.ftruncate(job.fd, end + len(tail))  # the workers map the file and fill it in
        os.pwrite(job.fd, layout.head, 0)
        os.pwrite(job.fd, tail, end)
        for conn, (offsets, first) in zip(conns, places, strict=True):
            place = _Place(offsets, first, end + len(tail))
            conn.send_bytes(pickle.dumps(place, protocol=pickle.HIGHEST_PROTOCOL))
        return _receive_all(conns) is not None
    finally:
        for conn in conns:
            conn.close()
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join()


@dataclass(frozen=True, slots=True)
class _Part:
    """What a worker reports after writing its texts in memory: their keys and lengths."""

    keys: list[SortKey]
    lengths: array[int]
    totals: Totals
    open_lots: list[OpenLot]
    left_out: Totals


@dataclass(frozen=True, slots=True)
class _Place:
    """Where a worker writes its texts: each one's offset, and which one comes first."""

    offsets: array[int]
    first: int  # index of the text that opens the report's rows, -1 if none of this worker's
    size: int  # of the whole file


def _receive_all(conns: list[Connection]) -> list[Any] | None:
    """Return one message from every worker, in worker order; None if any failed or died."""
    messages: list[Any] = [None] * len(conns)
    waiting = dict(zip(conns, range(len(conns)), strict=True))
    while waiting:
        for conn in wait(list(waiting)):
            assert isinstance(conn, Connection)
            i = waiting.pop(conn)
            try:
                messages[i] = pickle.loads(conn.recv_bytes())
            except EOFError:  # the worker died without a word
                return None
            if messages[i] is None:  # not split, or failed: the sequential run explains why
                return None
    return messages


def _place(parts: list[_Part], layout: _Layout) -> tuple[list[tuple[array[int], int]], int]:
    """Return where each worker's texts go, in key order after the head (their offsets, and
    which one opens the rows or -1), and where they end."""
    offsets = [array("q", bytes(8 * len(part.keys))) for part in parts]
    keyed = [_keyed(part.keys, w) for w, part in enumerate(parts)]
    position = len(layout.head)
    first = [-1] * len(parts)
    separator = len(layout.separator)
    for n, (_key, w, i) in enumerate(heapq.merge(*keyed)):
        offsets[w][i] = position
        if n == 0:
            first[w] = i
            position += len(layout.first_separator) + parts[w].lengths[i]
        else:
            position += separator + parts[w].lengths[i]
    return list(zip(offsets, first, strict=True)), position


def _keyed(keys: list[SortKey], worker: int) -> Iterator[tuple[SortKey, int, int]]:
    for i, key in enumerate(keys):
        yield key, worker, i


def _work(job: _Job, index: int, conn: Connection, parent: int) -> None:
    """Replay part `index`, report its texts' keys and lengths, write them where told."""
    _die_with(parent)
    try:
        result = _replay_part(job, index)
    except Exception:  # the parent falls back to the sequential run, which reports it
        result = None
    if result is None:
        _send(conn, None)
    else:
        keys = [key for key, _text in result.blocks]
        lengths = array("q", [len(text) for _key, text in result.blocks])
        _send(conn, _Part(keys, lengths, result.totals, result.open_lots, result.left_out))
        try:
            place = pickle.loads(conn.recv_bytes())
            _write_blocks(job, result.blocks, place)
            _send(conn, True)
        except (EOFError, OSError):
            _send(conn, None)
    conn.close()
    # Skip freeing a large heap object by object on the way out; nothing is left to flush.
    os._exit(0)


def _die_with(parent: int) -> None:
    """Have the kernel kill this worker when its parent dies, however it dies (``kill -9``
    included: nothing then runs in the parent to stop its workers); exit now if it already has.

    Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)``. The worker holds nothing to clean up: its
    output is the parent's file, which is unnamed until the parent names it (`atomic_file`).
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # it died before the request took effect
        os._exit(1)


def _send(conn: Connection, message: object) -> None:
    with contextlib.suppress(OSError):  # the parent has gone
        conn.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


def _write_blocks(job: _Job, blocks: list[Block], place: _Place) -> None:
    """Copy each text, with the separator before it, to its offset in the mapped file.

    Mapped rather than written: the two workers' texts alternate every sale or two, and a
    system call for each would cost more than the copying.
    """
    layout = _layout(job.output)
    separator, first = layout.separator, layout.first_separator
    with mmap.mmap(job.fd, place.size) as out:
        for i, ((_key, text), offset) in enumerate(zip(blocks, place.offsets, strict=True)):
            piece = (first if i == place.first else separator) + text
            out[offset : offset + len(piece)] = piece


def _replay_part(job: _Job, index: int) -> _PartResult | None:
    history = job.read()
    key = job.identity.key
    groups = [key(history.symbol(record)) for _line, record in history.rows]
    weights: Counter[str] = Counter()
    for (_line, record), group in zip(history.rows, groups, strict=True):
        weights[group] += SALE_WEIGHT if history.is_sale(record) else 1
    part_of = assign_parts(weights, job.jobs)
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
    left: list[SaleRow] = []
    txf = job.output.format == "txf"
    for sell, rows in zip(sells, ledger.sales_by_sale(), strict=True):
        sale = reported_sales(rows, job.year, job.boxes, job.digital)
        if sale:
            blocks.extend(write(_sortable(sell), sale))
            reportable.extend(s.sale for s in sale if s.reportable)
            if txf:
                left.extend(s.sale for s in sale if s.reportable and not in_txf(s))
    if job.output.format != "json":
        blocks.sort(key=itemgetter(0))
    return _PartResult(blocks, totals_of(reportable), ledger.open_lots(), totals_of(left))


def _writer(output: Output) -> Callable[[SortKey, list[ReportedSale]], list[Block]]:
    """Return what turns one sale's rows into keyed texts of the requested format."""
    if output.format == "json":
        line = SaleLines()

        def json_block(key: SortKey, sale: list[ReportedSale]) -> list[Block]:
            return [(key, ROW_SEPARATOR.join([line(s) for s in sale]).encode())]

        return json_block
    render: Callable[[ReportedSale], bytes]
    written: Callable[[ReportedSale], bool] = _on_form8949
    if output.format == "csv":
        lines = Form8949Lines(acquired=output.date_acquired)

        def render(s: ReportedSale) -> bytes:
            return lines(s).encode()
    else:
        unwashed, acquired = output.txf_unwashed_format, output.date_acquired
        written = in_txf

        def render(s: ReportedSale) -> bytes:
            record = txf_record(s, unwashed_format=unwashed, acquired=acquired)
            return txf_text(record).encode("ascii", "replace")

    def form8949_blocks(key: SortKey, sale: list[ReportedSale]) -> list[Block]:
        # Form 8949 order: box, date sold, then the ledger's (`TaxReport.form8949_sales`).
        return [
            ((str(s.box), s.sale.date_sold.toordinal(), key, i), render(s))
            for i, s in enumerate(sale)
            if written(s)
        ]

    return form8949_blocks


def _on_form8949(reported: ReportedSale) -> bool:
    return reported.box is not None


def _sortable(event: LedgerEvent) -> SortKey:
    """Return `event_order(event)` as plain integers, cheap to send and compare."""
    day, instant, seq = event_order(event)
    return (day.toordinal(), (instant - _EPOCH) // _MICROSECOND, seq)


def _position(lot: OpenLot) -> tuple[str, str]:
    return (lot.account, lot.symbol)
