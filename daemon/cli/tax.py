"""`tlh tax ...`: tax reports from a trade history (TRADES.csv) or the daemon's journal."""

from __future__ import annotations

import errno
import gc
import os
import secrets
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from importlib import metadata
from io import StringIO
from pathlib import Path
from typing import Annotated, BinaryIO, cast

import typer
from rich import box as rich_box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from adapters.importers import InputError
from adapters.importers.accounts_csv import Accounts, parse_accounts
from adapters.importers.trades_csv import (
    HistoryEvent,
    TradeRows,
    locate_refusal,
    parse_history,
    read_trade_rows,
)
from daemon.cli import app
from daemon.cli.failures import fail
from daemon.cli.tax_journal import JournalError, read_journal, replay_journal, sqlite_file
from daemon.cli.tax_parts import Output, PartFormat, available_cores, write_in_parts
from daemon.settings import ConfigError, Settings, default_config_path, load_settings
from ledger.conventions import LotMethod, WashSaleConventions
from ledger.engine import Ledger
from ledger.errors import LedgerError
from ledger.forms import DateAcquired, date_acquired, money, quantity
from ledger.forms.form8949_csv import render_form8949_csv
from ledger.forms.json_report import iter_json
from ledger.forms.txf import in_txf, left_out_of_txf, render_txf
from ledger.identity import Identity
from ledger.model import AccountType, LedgerEvent, Term
from ledger.report import DigitalAssets, Form1099, TaxReport, Totals, build_report

tax_app = typer.Typer(help="Tax reports: Form 8949, TXF, JSON.", no_args_is_help=True)
app.add_typer(tax_app, name="tax")

# Exit status for unusable input (as Click uses for usage errors).


class ReportFormat(StrEnum):
    """Output formats of `tlh tax report`."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    TXF = "txf"


@tax_app.command("report")
def report(
    trades: Annotated[
        Path | None,
        typer.Option(
            "--trades",
            help=(
                "Trade history CSV: date,account,action,symbol,quantity,price,fees,lot_id "
                "(BUY, SELL and SPLIT rows)."
            ),
            show_default=False,
        ),
    ] = None,
    journal: Annotated[
        bool,
        typer.Option(
            "--journal",
            help="Report from the journal of --config's database (fills and imports) instead "
            "of --trades; only reads, so it runs beside the daemon.",
        ),
    ] = False,
    accounts: Annotated[
        Path | None,
        typer.Option(
            "--accounts",
            help="Accounts CSV: account,type[,lot_method][,form_1099][,form_1099_da]. "
            "Unlisted: taxable.",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="The daemon's tlh.toml: identical symbol groups, wash-sale conventions, accounts.",
        ),
    ] = None,
    year: Annotated[
        int | None,
        typer.Option(
            "--year",
            min=1,
            max=9999,
            help="Report this year's sales (the whole history still counts for wash sales).",
        ),
    ] = None,
    lot_method: Annotated[
        LotMethod | None,
        typer.Option(
            "--lot-method",
            case_sensitive=False,
            help="Lot relief for sales without a lot_id (an account's lot_method overrides); "
            "default fifo, with --journal the daemon's [harvest] lot_method.",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        ReportFormat,
        typer.Option("--format", case_sensitive=False, help="Output format."),
    ] = ReportFormat.TABLE,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write to this file (atomically) instead of standard output.",
            dir_okay=False,
        ),
    ] = None,
    txf_format5: Annotated[
        bool,
        typer.Option(
            "--txf-format5",
            help="TXF: write every sale in record format 5 (empty wash-sale line when none).",
        ),
    ] = False,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            min=0,
            help="CPU cores for a large history (json, csv, txf; Linux); 0: all, 1: one.",
        ),
    ] = 0,
) -> None:
    """Report realised gains and losses with wash sales: Form 8949 CSV, TXF, JSON or a table."""
    # A batch over acyclic data (trades, lots, rows): reference counting frees everything, and
    # the cyclic collector would only rescan millions of live objects, again and again.
    collecting = gc.isenabled()
    gc.disable()
    try:
        _report(
            trades,
            journal,
            accounts,
            config,
            year,
            lot_method,
            output_format,
            output,
            txf_format5,
            jobs,
        )
    finally:
        if collecting:
            gc.enable()


def _report(
    trades: Path | None,
    journal: bool,
    accounts: Path | None,
    config: Path | None,
    year: int | None,
    lot_method: LotMethod | None,
    output_format: ReportFormat,
    output: Path | None,
    txf_format5: bool,
    jobs: int,
) -> None:
    if (trades is not None) == journal:
        fail("give the history: --trades FILE.csv or --journal (one of them)")
    if output is not None:
        _refuse_an_input(output, {"--trades": trades, "--accounts": accounts, "--config": config})
    try:
        if trades is not None:
            inputs = _read(trades, accounts, config, lot_method or LotMethod.FIFO)
        else:
            inputs = _read_journal(accounts, config, lot_method, output)
    except (InputError, ConfigError, JournalError) as exc:
        fail(str(exc), bare=True)
    sale_years: set[int] = set()
    left_out: list[Totals] = []
    try:
        written = _write_in_parts(
            inputs, year, output_format, txf_format5, jobs, output, sale_years, left_out
        )
        if written:
            _warn_of_years(output_format, sale_years)
            _warn_of_digital_assets(output_format, left_out[0])
            return
    except OSError as exc:
        fail(f"{output}: cannot write: {exc.strerror or exc}", bare=True)
    try:
        tax_report = _build(inputs, year)
    except (InputError, JournalError) as exc:
        fail(str(exc), bare=True)
    if output_format is ReportFormat.TXF:
        sales = tax_report.form8949_sales()
        _warn_of_years(output_format, {s.sale.date_sold.year for s in sales if in_txf(s)})
        _warn_of_digital_assets(output_format, left_out_of_txf(sales))
    chunks = _render(tax_report, output_format, output, txf_format5, inputs.date_acquired)
    if chunks is None:  # the table went straight to the terminal
        return
    if output is None:
        _write_stdout(chunks)
    else:
        try:
            write_atomically(output, chunks)
        except OSError as exc:
            fail(f"{output}: cannot write: {exc.strerror or exc}", bare=True)


def _warn_of_years(output_format: ReportFormat, years: set[int]) -> None:
    """Warn on stderr when a TXF holds the sales of more than one tax year: tax software
    imports a TXF into one year's return, where another year's sales do not belong."""
    if output_format is ReportFormat.TXF and len(years) > 1:
        listed = ", ".join(str(y) for y in sorted(years))
        typer.echo(
            f"warning: the TXF holds sales of {len(years)} tax years ({listed}); "
            "a return takes one year's: pass --year",
            err=True,
        )


def _warn_of_digital_assets(output_format: ReportFormat, left_out: Totals) -> None:
    """Warn on stderr when the TXF leaves out digital-asset sales: TXF v042 has no refnum for
    Form 8949 boxes G–L, so they must be entered by hand (or from the Form 8949 CSV)."""
    if output_format is ReportFormat.TXF and left_out.count:
        typer.echo(
            f"warning: the TXF leaves out {left_out.count} digital-asset sale(s) "
            f"(proceeds {money(left_out.proceeds)}, cost basis {money(left_out.adjusted_basis)}, "
            f"gain/loss {money(left_out.gain_loss)}): TXF v042 has no code for Form 8949 boxes "
            "G-L; enter them by hand, or from --format csv",
            err=True,
        )


class _NotWritten(Exception):
    """The report was not made on several cores: discard the file, make it here."""


def _write_in_parts(
    inputs: _Inputs,
    year: int | None,
    output_format: ReportFormat,
    txf_format5: bool,
    jobs: int,
    output: Path | None,
    sale_years: set[int],
    left_out: list[Totals],
) -> bool:
    """Write the report made on several cores (`tax_parts`); False: make it here instead.

    `sale_years` receives the tax years of the Form 8949 sales written (csv, txf), `left_out`
    the totals of the sales a TXF leaves out. A journal's history is made here.
    """
    if output_format is ReportFormat.TABLE or inputs.path is None:
        return False
    try:
        size = inputs.path.stat().st_size
    except OSError:
        return False  # the sequential run says what is wrong with the file
    options = Output(
        cast(PartFormat, output_format.value),
        txf_program=f"tlh {_version()}",
        txf_export_date=_today(),
        txf_unwashed_format=5 if txf_format5 else 4,
        date_acquired=inputs.date_acquired,
    )

    def write(fd: int) -> bool:
        return write_in_parts(
            inputs.rows,
            size,
            inputs.identity,
            inputs.new_ledger,
            options,
            fd,
            jobs=jobs or available_cores(),
            year=year,
            boxes=inputs.form_1099,
            sale_years=sale_years,
            digital=inputs.digital,
            left_out=left_out,
        )

    if output is None:
        with tempfile.TemporaryFile() as f:
            if not write(f.fileno()):
                return False
            _write_stdout(iter(lambda: f.read(1 << 20), b""))
        return True
    try:
        with atomic_file(output) as out:
            if not write(out.fileno()):
                raise _NotWritten
    except _NotWritten:
        return False
    return True


def _render(
    tax_report: TaxReport,
    output_format: ReportFormat,
    output: Path | None,
    txf_format5: bool,
    acquired: DateAcquired = DateAcquired.HOLDING_PERIOD,
) -> Iterable[bytes] | None:
    chunks: Iterable[bytes]
    if output_format is ReportFormat.TABLE:
        if output is None:
            console = Console()
            if not console.is_terminal:  # piped: do not squeeze the table into 80 columns
                console = Console(width=TABLE_WIDTH)
            _print_table(tax_report, console, acquired)
            return None
        chunks = [_table_text(tax_report, acquired).encode()]
    elif output_format is ReportFormat.JSON:
        chunks = (text.encode() for text in iter_json(tax_report))
    elif output_format is ReportFormat.CSV:
        chunks = [render_form8949_csv(tax_report, acquired=acquired).encode()]
    else:
        chunks = [
            render_txf(
                tax_report,
                export_date=_today(),
                program=f"tlh {_version()}",
                unwashed_format=5 if txf_format5 else 4,
                acquired=acquired,
            ).encode("ascii", "replace")
        ]
    return chunks


# -- building the report ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Inputs:
    """A report's inputs: the history (a TRADES.csv file, or the journal's events), and how
    to build its ledger."""

    path: Path | None
    identity: Identity
    new_ledger: Callable[[], Ledger]
    form_1099: dict[str, Form1099]
    date_acquired: DateAcquired = DateAcquired.HOLDING_PERIOD
    digital: DigitalAssets | None = None
    journal: list[LedgerEvent] | None = None

    def events(self) -> list[HistoryEvent]:
        """Read the history (trades and splits); raise `InputError` naming the line of a
        malformed row."""
        assert self.path is not None
        return parse_history(self.path)

    def rows(self) -> TradeRows:
        """Read the history's rows, unparsed; raise `InputError` for a malformed file."""
        assert self.path is not None
        return read_trade_rows(self.path)


def _read(
    trades_path: Path,
    accounts_path: Path | None,
    config_path: Path | None,
    lot_method: LotMethod,
) -> _Inputs:
    """Read the configuration and accounts; raise `InputError` or `ConfigError` if unusable."""
    config = load_config(config_path)
    accounts = parse_accounts(accounts_path) if accounts_path is not None else Accounts()
    # ACCOUNTS.csv overrides the daemon's [accounts] table; unlisted accounts are taxable.
    account_types = {**config.account_types, **accounts.types}

    def new_ledger() -> Ledger:
        return Ledger(
            identity=config.identity,
            conventions=config.conventions,
            account_types=account_types,
            lot_methods=accounts.lot_methods,
            default_lot_method=lot_method,
        )

    return _Inputs(
        trades_path,
        config.identity,
        new_ledger,
        dict(accounts.form_1099),
        config.date_acquired,
        DigitalAssets(config.identity.is_crypto, dict(accounts.form_1099_da)),
    )


def _read_journal(
    accounts_path: Path | None,
    config_path: Path | None,
    lot_method: LotMethod | None,
    output: Path | None,
) -> _Inputs:
    """Read the configuration (./tlh.toml by default, as the daemon), the accounts and the
    journal of its database; raise `InputError`, `ConfigError` or `JournalError`.

    Account types: the journal's accounts table, then ``[accounts]``, then ACCOUNTS.csv, each
    overriding the one before; lot methods: the accounts table, then ACCOUNTS.csv, else
    `lot_method`, else ``[harvest] lot_method`` (the daemon's ledger's).
    """
    path = config_path if config_path is not None else default_config_path()
    settings = _offline_settings(path)
    url = settings.database.url
    database = sqlite_file(url)
    if output is not None and database is not None:
        _refuse_an_input(output, {"--journal": database})
    config = _report_config(settings)
    accounts = parse_accounts(accounts_path) if accounts_path is not None else Accounts()
    history = read_journal(url)
    account_types = {**history.account_types, **config.account_types, **accounts.types}
    lot_methods = {**history.lot_methods, **accounts.lot_methods}
    default_method = lot_method or settings.harvest.lot_method

    def new_ledger() -> Ledger:
        return Ledger(
            identity=config.identity,
            conventions=config.conventions,
            account_types=account_types,
            lot_methods=lot_methods,
            default_lot_method=default_method,
        )

    return _Inputs(
        None,
        config.identity,
        new_ledger,
        dict(accounts.form_1099),
        config.date_acquired,
        DigitalAssets(config.identity.is_crypto, dict(accounts.form_1099_da)),
        history.events,
    )


def _build(inputs: _Inputs, year: int | None) -> TaxReport:
    """Read the history, run it through the ledger, select `year`'s sales.

    Raise `InputError` for a malformed row or a trade the ledger refuses, before anything is
    written.
    """
    if inputs.journal is not None:
        ledger = replay_journal(inputs.new_ledger(), inputs.journal)
    else:
        assert inputs.path is not None
        events = inputs.events()
        ledger = inputs.new_ledger()
        try:
            ledger.apply_all(events)
        except LedgerError as exc:
            raise locate_refusal(exc, events, inputs.new_ledger, inputs.path) from exc
    return build_report(
        ledger.sales,
        ledger.open_lots(),
        year=year,
        boxes=inputs.form_1099,
        digital=inputs.digital,
    )


# -- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportConfig:
    """What the report takes from tlh.toml: identical groups, conventions, account types."""

    identity: Identity
    conventions: WashSaleConventions
    account_types: dict[str, AccountType]
    date_acquired: DateAcquired = DateAcquired.HOLDING_PERIOD


def load_config(path: Path | None) -> ReportConfig:
    """Return the report's view of the daemon's configuration (defaults when `path` is None).

    Read through `daemon.settings.load_settings`, so the file means exactly what it means to the
    daemon (``[[identical]]``, ``[wash_sale]`` with ``crypto_symbols``, ``[accounts]``), with the
    same ``TLH_`` environment overrides; raise its `ConfigError` (file and dotted key named).
    """
    if path is None:
        return ReportConfig(Identity(), WashSaleConventions(), {})
    return _report_config(_offline_settings(path))


def _offline_settings(path: Path | None) -> Settings:
    """Return the settings of `path` (defaults when None) read as an offline simulator would:
    the report needs no broker, so a trading setup whose credentials live only on the
    daemon's host still reports anywhere. Raise `ConfigError`."""
    offline = {
        **os.environ,
        "TLH_BROKER": "sim",
        "TLH_MODE": "dry_run",
        "TLH_LIVE_TRADING_ENABLED": "false",
    }
    return load_settings(path, env=offline)


def _report_config(settings: Settings) -> ReportConfig:
    return ReportConfig(
        settings.identity(),
        settings.wash_sale_conventions(),
        dict(settings.accounts),
        settings.report.date_acquired,
    )


# -- output ----------------------------------------------------------------------------------


def _refuse_an_input(output: Path, inputs: dict[str, Path | None]) -> None:
    """Stop (exit 2) when `output` is one of the `inputs` files, however named (a link, a
    relative path): the report would replace the file it is made from."""
    for option, given in inputs.items():
        if given is not None and _same_file(output, given):
            fail(
                f"{output}: is the {option} file {given}; refusing to write the report over it",
                bare=True,
            )


def _same_file(a: Path, b: Path) -> bool:
    """Return whether `a` and `b` name the same file (inode), or the same path if either is
    missing."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def write_atomically(path: Path, data: bytes | Iterable[bytes]) -> None:
    """Write `data` (bytes, or chunks of them) to `path` atomically (`atomic_file`)."""
    with atomic_file(path) as f:
        for chunk in [data] if isinstance(data, bytes) else data:
            f.write(chunk)


@contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """Yield a new file (open for reading and writing) that replaces `path` when the block
    ends without an exception.

    Readers see the old file or the whole new one, never a part: the new file is written,
    synced and renamed over `path`; on failure it is removed. On Linux it is written unnamed
    (``O_TMPFILE``) and named only for the rename, so that even a ``kill -9`` leaves nothing
    behind; elsewhere it is a temporary file beside `path`. A new file gets the usual
    permissions (0666 less the umask), an existing one keeps its own.
    """
    target = path.resolve()
    try:
        mode = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd = _unnamed_file(target.parent)
    tmp = None
    if fd is None:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w+b") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), mode)
            if tmp is None:
                tmp = _name_temporarily(f.fileno(), target)
        os.replace(tmp, target)
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise


def _unnamed_file(directory: Path) -> int | None:
    """Return an unnamed file in `directory` (Linux ``O_TMPFILE``), or None where there is
    none (another system, a file system without it)."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None:
        return None
    try:
        return os.open(directory, flag | os.O_RDWR | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
            return None
        raise


def _name_temporarily(fd: int, target: Path) -> str:
    """Give the unnamed file `fd` a temporary name beside `target`, to rename it from."""
    name = f".{target.name}.{secrets.token_hex(8)}.tmp"
    directory = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        # linkat(AT_SYMLINK_FOLLOW), as open(2) shows for O_TMPFILE; a directory fd makes
        # Python call linkat, not link, which would link the /proc symbolic link itself.
        os.link(f"/proc/self/fd/{fd}", name, dst_dir_fd=directory, follow_symlinks=True)
    finally:
        os.close(directory)
    return str(target.parent / name)


def _write_stdout(chunks: Iterable[bytes]) -> None:
    stream = getattr(sys.stdout, "buffer", None)
    if stream is not None:
        sys.stdout.flush()
        for chunk in chunks:
            stream.write(chunk)
        stream.flush()
    else:  # a text-only stream (some test harnesses)
        for chunk in chunks:
            sys.stdout.write(chunk.decode())
        sys.stdout.flush()


def _today() -> date:
    """Return today's local date (the TXF export date)."""
    return datetime.now(UTC).astimezone().date()


def _version() -> str:
    try:
        return metadata.version("tlh")
    except metadata.PackageNotFoundError:
        return "0"


# -- the table format ------------------------------------------------------------------------

TABLE_WIDTH = 160  # when not printing to a terminal


def _table_text(tax_report: TaxReport, acquired: DateAcquired) -> str:
    buffer = StringIO()
    console = Console(file=buffer, width=TABLE_WIDTH, color_system=None)
    _print_table(tax_report, console, acquired)
    return buffer.getvalue()


def _print_table(tax_report: TaxReport, console: Console, acquired: DateAcquired) -> None:
    period = f"{tax_report.year}" if tax_report.year is not None else "all years"
    table = Table(
        title=f"Sales ({period})",
        box=rich_box.SIMPLE_HEAD,
        caption="W: loss disallowed by the wash-sale rule (Form 8949 code W). "
        "Sales in IRA / 401k / HSA accounts are listed but not reportable.",
    )
    for name, justify in (
        ("Sold", "left"),
        ("Account", "left"),
        ("Symbol", "left"),
        ("Qty", "right"),
        ("Acquired", "left"),
        ("Proceeds", "right"),
        ("Basis", "right"),
        ("Disallowed", "right"),
        ("Gain/Loss", "right"),
        ("Term", "left"),
        ("Box", "center"),
        ("W", "center"),
    ):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for reported in tax_report.sales:
        s = reported.sale
        table.add_row(
            s.date_sold.isoformat(),
            s.account,
            s.symbol,
            quantity(s.quantity),
            date_acquired(s, acquired).isoformat(),
            money(s.proceeds),
            money(s.adjusted_basis),
            money(s.wash_sale_disallowed) if s.washed else "",
            Text(money(s.gain_loss), style="red" if s.gain_loss < 0 else "green"),
            s.term.value,
            reported.box.value if reported.box is not None else f"({s.account_type.value})",
            "W" if s.washed else "",
            style=None if reported.reportable else "dim",
        )
    console.print(table if tax_report.sales else Text("No sales in this period."))
    console.print(_totals_panel(tax_report))


def _totals_panel(tax_report: TaxReport) -> Panel:
    t = tax_report.totals
    grid = Table.grid(padding=(0, 2))
    grid.add_column()
    grid.add_column(justify="right")
    rows: list[tuple[str, str]] = [
        ("Reportable sales", str(t.count)),
        ("Proceeds", money(t.proceeds)),
        ("Cost basis (adjusted)", money(t.adjusted_basis)),
        ("Wash-sale loss disallowed", money(t.wash_sale_disallowed)),
        ("  of which permanently (IRA)", money(t.permanently_disallowed)),
        (f"{Term.SHORT.value.capitalize()}-term gain/loss", money(t.short_term_gain_loss)),
        (f"{Term.LONG.value.capitalize()}-term gain/loss", money(t.long_term_gain_loss)),
        ("Net gain/loss", money(t.gain_loss)),
        ("Open lots at end of history", str(len(tax_report.open_lots))),
    ]
    for label, value in rows:
        grid.add_row(label, value)
    return Panel(Group(grid), title="Totals (Form 8949, reportable sales)", expand=False)
