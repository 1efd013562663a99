"""Benchmark the tax report of a synthetic 1,000,000-trade history, stage by stage.

    .venv/bin/python bench/ledger_report.py                   # 1,000,000 trades, then the CLI
    .venv/bin/python bench/ledger_report.py --scaling         # 100,000 vs 1,000,000 trades
    .venv/bin/python bench/ledger_report.py --trades 200000 --profile

The history (500 symbols, 5 years, frequent wash sales and chains of them; see
`bench/gen_trades.py`) is generated once per size and seed and cached under `bench/out/`
(git-ignored). The report pipeline then runs in this process, timed per stage:

1. parse: TRADES.csv -> `Trade` values (`adapters.importers.trades_csv`, else a minimal parser
   here, which the output says), plus ACCOUNTS.csv and the `[[identical]]` groups of tlh.toml;
2. apply: the whole history through `ledger.engine.Ledger.apply_all`;
3. report: the ledger's sale rows and open lots, `ledger.report.build_report` (whole history);
4. render: `ledger.forms.json_report.iter_json`, the chunks `tlh tax report` streams to its file,
   hashed and counted here instead of written (else a minimal JSON writer here).

It prints trades/s, seconds per stage, peak RSS, the counts that show the history is a hard
one (sale rows, washed rows, chains: washed rows whose sold parcel itself carried a wash
adjustment), then runs the real command line as a subprocess (`tlh tax report ... --format
json`) when it exists, timed end to end, twice: on one core (`--jobs 1`, the stages above) and
on all (its default: the history split by identical group, `daemon/cli/tax_parts.py`), and checks
each JSON is the same as the in-process one.
`--scaling` runs 100,000 and 1,000,000 trades in fresh processes (so that each peak RSS is its
own) and prints the ratio of their times: 10x the trades must cost less than 12x the time.

Benchmarks print figures; they are not timed tests.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import gc
import hashlib
import json
import os
import platform
import pstats
import resource
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import gen_trades  # noqa: E402

from ledger.conventions import LotMethod, WashSaleConventions  # noqa: E402
from ledger.engine import Ledger  # noqa: E402
from ledger.identity import Identity, normalize_symbol  # noqa: E402
from ledger.model import ZERO, AccountType, Action, SaleRow, Trade  # noqa: E402

# The project's importers, config loader, report and renderer, when they exist (imported here so
# that import time is not counted in any stage).
try:
    from adapters.importers.trades_csv import parse_trades
except ImportError:
    parse_trades = None
try:
    from adapters.importers.accounts_csv import parse_accounts
except ImportError:
    parse_accounts = None
try:
    from daemon.settings import load_settings
except ImportError:
    load_settings = None
try:
    from ledger.report import build_report
except ImportError:
    build_report = None
try:
    from ledger.forms.json_report import iter_json
except ImportError:
    iter_json = None

TARGET_SECONDS = 20.0
SCALING_LIMIT = 12.0


# -- the history -----------------------------------------------------------------------------


def history(
    trades: int,
    seed: int = gen_trades.SEED,
    regen: bool = False,
    symbols: int = gen_trades.SYMBOLS,
) -> Path:
    """Return the directory of the cached history of `trades` rows, generating it if needed."""
    name = f"trades-{trades}"
    if seed != gen_trades.SEED:
        name += f"-{seed}"
    if symbols != gen_trades.SYMBOLS:
        name += f"-s{symbols}"
    out = OUT / name
    meta_path = out / "meta.json"
    if not regen and meta_path.exists() and (out / "TRADES.csv").exists():
        meta = json.loads(meta_path.read_text())
        key = (
            meta.get("trades"),
            meta.get("seed"),
            meta.get("generator_version"),
            meta.get("symbols"),
        )
        if key == (trades, seed, gen_trades.GENERATOR_VERSION, symbols):
            return out
    print(f"generating {trades:,} trades into {out.relative_to(ROOT)} ...", flush=True)
    meta = gen_trades.generate(trades, out, seed, symbols)
    print(f"  generated in {meta['seconds']} s", flush=True)
    return out


# -- inputs: the project's importers when they exist, else minimal readers ------------------


@dataclass
class Inputs:
    trades: list[Trade]
    identity: Identity
    conventions: WashSaleConventions
    account_types: dict[str, AccountType]
    lot_methods: dict[str, LotMethod]
    form_1099: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def _parse_trades_minimal(path: Path) -> list[Trade]:
    """Read TRADES.csv as the importer does (seq = line number), without its checks."""
    out = []
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader)]
        col = {name: i for i, name in enumerate(header)}
        d, a, act, s, q, p, fe, lot = (
            col[c]
            for c in ("date", "account", "action", "symbol", "quantity", "price", "fees", "lot_id")
        )
        for line, row in enumerate(reader, start=2):
            out.append(
                Trade(
                    seq=line,
                    trade_date=date.fromisoformat(row[d]),
                    account=row[a] or "default",
                    action=Action(row[act].upper()),
                    symbol=normalize_symbol(row[s]),
                    quantity=Decimal(row[q]),
                    price=Decimal(row[p]),
                    fees=Decimal(row[fe]) if row[fe] else ZERO,
                    lot_id=row[lot] or None,
                    source=f"{path}:{line}",
                )
            )
    return out


def read_inputs(directory: Path) -> Inputs:
    trades_path = directory / "TRADES.csv"
    notes = []
    if parse_trades is None:
        notes.append("TRADES.csv read by the minimal parser in bench/ledger_report.py")
        trades = _parse_trades_minimal(trades_path)
    else:
        trades = parse_trades(trades_path)

    if parse_accounts is None:
        notes.append("ACCOUNTS.csv read by the minimal parser in bench/ledger_report.py")
        with (directory / "ACCOUNTS.csv").open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        types = {r["account"]: AccountType(r["type"]) for r in rows}
        methods = {r["account"]: LotMethod(r["lot_method"]) for r in rows if r["lot_method"]}
        boxes: dict[str, Any] = {}
    else:
        accounts = parse_accounts(directory / "ACCOUNTS.csv")
        types, methods, boxes = accounts.types, accounts.lot_methods, accounts.form_1099

    config_path = directory / "tlh.toml"
    if load_settings is None:
        notes.append("tlh.toml read with tomllib ([[identical]] only)")
        groups = [g["symbols"] for g in tomllib.loads(config_path.read_text())["identical"]]
        identity, conventions, config_types = Identity(groups), WashSaleConventions(), {}
    else:
        settings = load_settings(config_path)
        identity = settings.identity()
        conventions = settings.wash_sale_conventions()
        config_types = dict(settings.accounts)
    return Inputs(
        trades=trades,
        identity=identity,
        conventions=conventions,
        account_types={**config_types, **types},  # as `tlh tax report`: ACCOUNTS.csv wins
        lot_methods=methods,
        form_1099=boxes,
        notes=notes,
    )


# -- report and render: the project's when they exist, else minimal ones --------------------


def build_and_render(
    sales: list[SaleRow], open_lots: list[Any], boxes: dict[str, Any], timer: Stages
) -> tuple[Any, tuple[str, int], list[str]]:
    """Return (report, (JSON sha256, bytes), notes), timing "report" and "render"."""
    notes: list[str] = []
    if build_report is None:
        notes.append("no ledger.report: report = the rows as they are")
    with timer("report"):
        report = (
            build_report(sales, open_lots, year=None, boxes=boxes)
            if build_report
            else (sales, open_lots)
        )
    if iter_json is None:
        notes.append("no ledger.forms.json_report: JSON by the minimal writer here")
    with timer("render"):
        chunks = iter_json(report) if iter_json else [_render_minimal(sales, open_lots)]
        digest, size = hashlib.sha256(), 0
        for chunk in chunks:
            data = chunk.encode()
            digest.update(data)
            size += len(data)
    return report, (digest.hexdigest(), size), notes


def _render_minimal(sales: list[SaleRow], open_lots: list[Any]) -> str:
    def row(obj: Any) -> dict[str, Any]:
        return {
            k: (str(v) if isinstance(v, (Decimal, date)) else v)
            for k in obj.__slots__
            for v in [getattr(obj, k)]
        }

    return json.dumps({"sales": [row(s) for s in sales], "open_lots": [row(o) for o in open_lots]})


# -- one in-process run ----------------------------------------------------------------------


class Stages:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str) -> _Stage:
        return _Stage(self, name)


class _Stage:
    def __init__(self, stages: Stages, name: str) -> None:
        self.stages, self.name = stages, name

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        elapsed = time.perf_counter() - self.start
        self.stages.seconds[self.name] = self.stages.seconds.get(self.name, 0.0) + elapsed


def peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    return kb / 1024 if sys.platform != "darwin" else kb / 1024 / 1024


def run_once(directory: Path, profile: Path | None = None) -> dict[str, Any]:
    stages = Stages()
    rss_start = peak_rss_mb()
    with stages("parse"):
        inputs = read_inputs(directory)
    ledger = Ledger(
        identity=inputs.identity,
        conventions=inputs.conventions,
        account_types=inputs.account_types,
        lot_methods=inputs.lot_methods,
    )
    with stages("apply"):
        if profile is not None:
            profiler = cProfile.Profile()
            profiler.runcall(ledger.apply_all, inputs.trades)
            profiler.dump_stats(profile)
        else:
            ledger.apply_all(inputs.trades)
    with stages("report"):
        sales = ledger.sales
        open_lots = ledger.open_lots()
    _report, (sha, size), notes = build_and_render(sales, open_lots, inputs.form_1099, stages)
    total = sum(stages.seconds.values())
    washed = [r for r in sales if r.wash_sale_disallowed > ZERO]
    n = len(inputs.trades)
    return {
        "trades": n,
        "seconds": {k: round(v, 3) for k, v in stages.seconds.items()},
        "total_seconds": round(total, 3),
        "trades_per_second": round(n / total),
        "apply_trades_per_second": round(n / stages.seconds["apply"]),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "rss_before_mb": round(rss_start, 1),
        "sale_rows": len(sales),
        "washed_rows": len(washed),
        "chains": sum(1 for r in washed if r.adjusted_basis != r.cost_basis),
        "permanently_disallowed_rows": sum(1 for r in washed if r.permanently_disallowed > ZERO),
        "reportable_rows": sum(1 for r in sales if r.reportable),
        "open_lots": len(open_lots),
        "json_bytes": size,
        "json_sha256": sha,
        "notes": inputs.notes + notes,
    }


# -- the command line as a subprocess ------------------------------------------------------


def tlh_command() -> list[str] | None:
    """Return the `tlh` command when `tlh tax report` exists, else None."""
    exe = ROOT / ".venv" / "bin" / "tlh"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "daemon.cli"]
    try:
        probe = subprocess.run(
            [*cmd, "tax", "report", "--help"], capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return cmd if probe.returncode == 0 and "--trades" in probe.stdout else None


def run_cli(directory: Path, jobs: int | None = None) -> dict[str, Any] | None:
    """Run `tlh tax report --format json` on the history; `jobs` None: its default (all cores)."""
    cmd = tlh_command()
    if cmd is None:
        return None
    output = directory / "report.json"
    args = [
        *cmd,
        "tax",
        "report",
        "--trades",
        str(directory / "TRADES.csv"),
        "--accounts",
        str(directory / "ACCOUNTS.csv"),
        "--config",
        str(directory / "tlh.toml"),
        "--format",
        "json",
        "--output",
        str(output),
        *(["--jobs", str(jobs)] if jobs is not None else []),
    ]
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    data = output.read_bytes() if proc.returncode == 0 and output.exists() else b""
    return {
        "command": " ".join(
            str(Path(a).relative_to(ROOT)) if a.startswith(str(ROOT)) else a for a in args
        ),
        "exit": proc.returncode,
        "seconds": round(elapsed, 3),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "json_sha256": hashlib.sha256(data).hexdigest() if data else None,
        "stderr": stderr[-2000:],
    }


# -- printing --------------------------------------------------------------------------------


def print_run(r: dict[str, Any]) -> None:
    s = r["seconds"]
    print(f"trades                  {r['trades']:>12,}")
    for name, label in (
        ("parse", "parse CSV -> Trade"),
        ("apply", "ledger apply"),
        ("report", "report build"),
        ("render", "JSON render"),
    ):
        print(f"  {label:<22}{s.get(name, 0):>10.2f} s")
    print(f"  {'total':<22}{r['total_seconds']:>10.2f} s   (in this process, on one core)")
    print(f"trades/s (end to end)   {r['trades_per_second']:>12,}")
    print(f"trades/s (apply only)   {r['apply_trades_per_second']:>12,}")
    print(f"peak RSS                {r['peak_rss_mb']:>10.0f} MB")
    print(f"sale rows               {r['sale_rows']:>12,}  ({r['reportable_rows']:,} reportable)")
    print(f"washed rows             {r['washed_rows']:>12,}")
    print(f"chains                  {r['chains']:>12,}  (washed rows of already-washed parcels)")
    print(f"permanently disallowed  {r['permanently_disallowed_rows']:>12,}  (IRA replacements)")
    print(f"open lots (parcels)     {r['open_lots']:>12,}")
    print(f"JSON                    {r['json_bytes'] / 1e6:>10.0f} MB")
    for note in r["notes"]:
        print(f"note: {note}")


def print_cli(c: dict[str, Any] | None, inprocess_sha: str | None, trades: int) -> None:
    if c is None:
        print("CLI: `tlh tax report` not available; skipped")
        return
    print(f"CLI: {c['command']}")
    if c["exit"] != 0:
        print(f"  exit {c['exit']}\n{c['stderr']}")
        return
    same = "same JSON as in-process" if c["json_sha256"] == inprocess_sha else "JSON DIFFERS"
    verdict = "OK" if c["seconds"] < TARGET_SECONDS else "TOO SLOW"
    print(
        f"  {c['seconds']:.2f} s end to end (target < {TARGET_SECONDS:.0f} s: {verdict}), "
        f"{trades / c['seconds']:,.0f} trades/s, "
        f"peak RSS {c['peak_rss_mb']:.0f} MB; {same}"
    )


def child_run(trades: int, seed: int, symbols: int = gen_trades.SYMBOLS) -> dict[str, Any]:
    """Run one size in a fresh interpreter (its own peak RSS) and return its figures."""
    history(trades, seed, symbols=symbols)
    proc = subprocess.run(
        [
            sys.executable,
            __file__,
            "--trades",
            str(trades),
            "--seed",
            str(seed),
            "--symbols",
            str(symbols),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine() -> str:
    return f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=gen_trades.SEED)
    parser.add_argument("--symbols", type=int, default=gen_trades.SYMBOLS)
    parser.add_argument("--scaling", action="store_true", help="100,000 vs 1,000,000 trades")
    parser.add_argument("--no-cli", action="store_true", help="skip the `tlh` subprocess run")
    parser.add_argument("--regen", action="store_true", help="regenerate the cached history")
    parser.add_argument("--profile", action="store_true", help="cProfile the ledger apply")
    parser.add_argument(
        "--gc-on",
        action="store_true",
        help="what-if: keep Python's cyclic garbage collector on (`tlh tax report` pauses it)",
    )
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.gc_on:
        gc.disable()  # as `tlh tax report` does

    if args.scaling:
        return scaling(args.seed)

    directory = history(args.trades, args.seed, args.regen, args.symbols)
    profile = OUT / f"apply-{args.trades}.prof" if args.profile else None
    # The command line first, alone on the machine (this process holds nothing large yet).
    cli = [] if args.no_cli or args.json else [run_cli(directory, jobs=1), run_cli(directory)]
    result = run_once(directory, profile)
    if args.json:
        print(json.dumps(result))
        return 0
    what_if = ", cyclic GC on (what-if)" if args.gc_on else ""
    print(f"ledger report benchmark ({machine()}{what_if}), history {directory.relative_to(ROOT)}")
    print_run(result)
    if profile is not None:
        print(f"\nprofile of the apply stage ({profile.relative_to(ROOT)}), top 20 by own time:")
        pstats.Stats(str(profile)).sort_stats("tottime").print_stats(20)
    for c in cli:
        print_cli(c, result["json_sha256"], result["trades"])
    return 0


def scaling(seed: int) -> int:
    print(f"ledger report scaling ({machine()}): each size in a fresh process")
    small, large = child_run(100_000, seed), child_run(1_000_000, seed)
    dense = child_run(100_000, seed, symbols=gen_trades.SYMBOLS // 10)
    for r in (small, large):
        print()
        print_run(r)
    print()
    print(
        f"100,000 trades over {gen_trades.SYMBOLS // 10} symbols (the trades per symbol of the "
        "1,000,000-trade history):"
    )
    print_run(dense)
    print()
    for label, base in (("same 500 symbols", small), ("same trades per symbol", dense)):
        ratio = large["total_seconds"] / base["total_seconds"]
        apply_ratio = large["seconds"]["apply"] / base["seconds"]["apply"]
        rows_ratio = large["sale_rows"] / base["sale_rows"]
        verdict = "OK" if ratio < SCALING_LIMIT else "TOO SLOW"
        print(
            f"10x trades, {label}: {ratio:.2f}x total time, {apply_ratio:.2f}x apply time, "
            f"{rows_ratio:.2f}x sale rows (limit < {SCALING_LIMIT:.0f}x): {verdict}; per sale "
            f"row {ratio / rows_ratio:.2f}x total, {apply_ratio / rows_ratio:.2f}x apply"
        )
    cli = [run_cli(history(n, seed)) for n in (100_000, 1_000_000)]
    if None not in cli and all(c["exit"] == 0 for c in cli if c):
        small_cli, large_cli = (c["seconds"] for c in cli if c)
        ratio = large_cli / small_cli
        verdict = "OK" if ratio < SCALING_LIMIT else "TOO SLOW"
        print(
            f"10x trades, same 500 symbols, `tlh tax report` end to end on all cores: "
            f"{small_cli:.2f} s -> {large_cli:.2f} s, {ratio:.2f}x (limit < {SCALING_LIMIT:.0f}x):"
            f" {verdict}"
        )
    print(
        "(1.00x per sale row = cost linear in the rows the history produces; with the same "
        "500 symbols, 10x the trades packs each symbol 10x denser, so each sale meets more "
        "replacements and splits into more rows)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
