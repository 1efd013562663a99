"""Write a deterministic synthetic trade history for benchmarks: TRADES.csv, ACCOUNTS.csv, tlh.toml.

    python bench/gen_trades.py --trades 1000000 --out bench/out/trades-1000000

The history spans 500 symbols over 5 years (2020-2024, weekdays) and five accounts: three
taxable ones with different lot methods (FIFO, HIFO, LIFO), an IRA and a Roth IRA. About 20% of
the symbols sit in declared ``[[identical]]`` groups of two or three. Prices are random walks
with a market factor, two market-wide drawdowns (spring 2020, 2022) and idiosyncratic
drawdowns, so that many positions sit at a loss and get harvested.

The behaviour mix produces frequent wash sales and chains of them: loss sales followed by
repurchases of the same symbol (or an identical one) within 30 days, sometimes just outside the
window, sometimes in the IRA (permanent disallowance); repurchases *before* a loss sale
("doubling up", washed by the earlier purchase); plain purchases and sales at a gain; sales of
a named lot (specific identification); fractional quantities; fees.

Holdings are tracked while generating, so no sale ever exceeds what its account holds (and a
sale of a named lot never exceeds that lot's open shares). The same seed and size always give
byte-identical files. Pure standard library; no imports from tlh.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import string
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

SEED = 20260101
SYMBOLS = 500
START = date(2020, 1, 2)
END = date(2024, 12, 31)
UNIT = 10_000  # quantities are tracked in 1/10,000 shares, exactly
GENERATOR_VERSION = 4  # bump when the same seed and size would give other files

# account -> (type, lot method, what the broker reports on Form 1099-B)
ACCOUNTS: dict[str, tuple[str, str, str]] = {
    "brokerage": ("taxable", "fifo", "reported"),
    "joint": ("taxable", "hifo", "reported"),
    "trading": ("taxable", "lifo", "unreported"),
    "ira": ("ira", "fifo", "none"),
    "roth": ("roth_ira", "fifo", "none"),
}
TAXABLE = ("brokerage", "joint", "trading")
TAXABLE_WEIGHTS = (0.6, 0.25, 0.15)
ADVANTAGED = ("ira", "roth")
SPECIFIC_ID_ACCOUNTS = frozenset({"brokerage", "trading", "ira", "roth"})  # not HIFO

# Market-wide regimes: (first day, last day, daily log drift).
REGIMES = (
    (date(2020, 2, 20), date(2020, 3, 23), -0.022),
    (date(2020, 3, 24), date(2020, 8, 31), 0.004),
    (date(2022, 1, 3), date(2022, 10, 14), -0.0012),
)


@dataclass(slots=True)
class Lot:
    name: str | None
    units: int


@dataclass(slots=True)
class Position:
    account: str
    symbol: str
    units: int = 0
    cost: float = 0.0  # approximate, only to decide what is "at a loss"
    lots: deque[Lot] = field(default_factory=deque)
    held_index: int = -1
    buys: int = 0  # purchases since the position was last flat (lots, roughly)


class Generator:
    def __init__(
        self, trades: int, seed: int = SEED, *, symbols: int = SYMBOLS, end: date = END
    ) -> None:
        self.n = trades
        self.rng = random.Random(seed)
        self.days = _weekdays(START, end)
        self.day_text = [d.isoformat() for d in self.days]
        self.symbols = _symbols(self.rng, symbols)
        self.groups = _groups(self.rng, self.symbols)
        self.sibling: dict[str, tuple[str, ...]] = {}
        for g in self.groups:
            for s in g:
                self.sibling[s] = tuple(x for x in g if x != s)
        self.prices = _price_paths(self.rng, self.symbols, self.days)
        self.active, self.goes_quiet = _activity(
            self.rng, self.symbols, self.groups, len(self.days)
        )
        self.positions: dict[tuple[str, str], Position] = {}
        self.named: dict[str, Lot] = {}
        # Held positions, for O(1) random choice: taxable and tax-advantaged kept apart.
        self.held: dict[bool, list[Position]] = {True: [], False: []}
        self.scheduled: dict[int, list[tuple[str, str, str, int, float]]] = {}
        self.recent_losses: deque[str] = deque(maxlen=200)
        self.lines: list[str] = []
        self.lot_counter = 0
        self.stats = {
            "buy": 0,
            "sell": 0,
            "specific_sell": 0,
            "loss_sell": 0,
            "repurchase": 0,
            "double_up": 0,
            "ira_buy": 0,
            "fractional": 0,
        }

    # -- output --------------------------------------------------------------------------

    def emit(
        self, di: int, account: str, action: str, symbol: str, units: int, lot_id: str = ""
    ) -> None:
        rng = self.rng
        r = rng.random()
        fees = "0" if r < 0.6 else "" if r < 0.75 else rng.choice(("0.35", "0.50", "1", "4.95"))
        price = self.prices[symbol][di]
        self.lines.append(
            f"{self.day_text[di]},{account},{action},{symbol},{_qty(units)},{price:.2f},"
            f"{fees},{lot_id}\n"
        )
        if units % UNIT:
            self.stats["fractional"] += 1

    # -- holdings --------------------------------------------------------------------------

    def position(self, account: str, symbol: str) -> Position:
        key = (account, symbol)
        pos = self.positions.get(key)
        if pos is None:
            pos = self.positions[key] = Position(account, symbol)
        return pos

    def _hold(self, pos: Position) -> None:
        if pos.held_index < 0:
            bucket = self.held[ACCOUNTS[pos.account][0] == "taxable"]
            pos.held_index = len(bucket)
            bucket.append(pos)

    def _unhold(self, pos: Position) -> None:
        bucket = self.held[ACCOUNTS[pos.account][0] == "taxable"]
        last = bucket.pop()
        if last is not pos:
            bucket[pos.held_index] = last
            last.held_index = pos.held_index
        pos.held_index = -1

    def buy(
        self, di: int, account: str, symbol: str, units: int | None = None, basis: float = 0.0
    ) -> None:
        """Buy `units` (random when None); `basis` per share carries a washed loss, roughly."""
        rng = self.rng
        if units is None:
            units = self._buy_units()
        pos = self.position(account, symbol)
        name = ""
        if rng.random() < 0.35:
            self.lot_counter += 1
            name = f"L{self.lot_counter:07d}"
        lot = Lot(name or None, units)
        if name:
            self.named[name] = lot
        if account in SPECIFIC_ID_ACCOUNTS:
            pos.lots.append(lot)
        pos.units += units
        pos.buys += 1
        pos.cost += units / UNIT * max(self.prices[symbol][di], basis)
        self._hold(pos)
        self.emit(di, account, "BUY", symbol, units, name)
        self.stats["buy"] += 1

    def sell(self, di: int, pos: Position, units: int, *, specific: bool = False) -> bool:
        """Sell `units` (capped at the holding); False when nothing could be sold."""
        units = min(units, pos.units)
        if units <= 0:
            return False
        lot_id = ""
        if specific and pos.account in SPECIFIC_ID_ACCOUNTS:
            named = [lot for lot in pos.lots if lot.name and lot.units > 0]
            if named:
                lot = self.rng.choice(named)
                units = min(units, lot.units)
                lot.units -= units
                lot_id = lot.name or ""
                self.stats["specific_sell"] += 1
        if not lot_id and pos.account in SPECIFIC_ID_ACCOUNTS:
            self._relieve(pos, units)
        pos.cost -= pos.cost * units / pos.units
        pos.units -= units
        if pos.units == 0:
            pos.cost = 0.0
            pos.buys = 0
            pos.lots.clear()
            self._unhold(pos)
        self.emit(di, pos.account, "SELL", pos.symbol, units, lot_id)
        self.stats["sell"] += 1
        return True

    @staticmethod
    def _relieve(pos: Position, units: int) -> None:
        """Mirror the ledger's FIFO / LIFO relief on lot level (splits never change lot totals)."""
        lots = pos.lots
        fifo = ACCOUNTS[pos.account][1] == "fifo"
        while units:
            lot = lots[0] if fifo else lots[-1]
            take = min(units, lot.units)
            lot.units -= take
            units -= take
            if lot.units == 0:
                if fifo:
                    lots.popleft()
                else:
                    lots.pop()

    # -- behaviour -------------------------------------------------------------------------

    def _buy_units(self) -> int:
        rng = self.rng
        if rng.random() < 0.15:  # fractional: 1 to 4 decimals
            decimals = rng.randint(1, 4)
            step = UNIT // 10**decimals
            return max(1, rng.randint(1, 30 * 10**decimals)) * step
        return min(int(rng.lognormvariate(3.0, 0.8)), 300) * UNIT or UNIT  # median 20

    def _sell_units(self, pos: Position) -> int:
        """Mostly one lot (a whole position when it is one lot), sometimes all or a part."""
        rng = self.rng
        r = rng.random()
        if pos.buys <= 1:
            return pos.units if r < 0.85 else self._part(pos.units)
        if r < 0.8:  # one lot: the one the account's method relieves first
            open_lots = [lot for lot in pos.lots if lot.units > 0]
            if open_lots:
                fifo = ACCOUNTS[pos.account][1] == "fifo"
                return (open_lots[0] if fifo else open_lots[-1]).units
            return max(pos.units // pos.buys, 1)
        return pos.units if r < 0.9 else self._part(pos.units)

    def _part(self, units: int) -> int:
        part = int(units * self.rng.uniform(0.2, 0.8))
        if units % UNIT == 0 and part >= UNIT:
            part -= part % UNIT
        return max(part, 1)

    def _taxable_account(self) -> str:
        return self.rng.choices(TAXABLE, TAXABLE_WEIGHTS)[0]

    def _pick(
        self, taxable: bool, *, loss_at: int | None = None, gain_at: int | None = None
    ) -> Position | None:
        """Return a random held position (at a loss, or at a gain, when asked; else None)."""
        bucket = self.held[taxable]
        if not bucket:
            return None
        if loss_at is None and gain_at is None:
            return self.rng.choice(bucket)
        for _ in range(8):
            pos = self.rng.choice(bucket)
            value = self.prices[pos.symbol][loss_at if loss_at is not None else gain_at or 0]
            value *= pos.units / UNIT
            if value < pos.cost * 0.97 if loss_at is not None else value > pos.cost * 1.03:
                return pos
        return None

    def _replacement_symbol(self, symbol: str) -> str:
        siblings = self.sibling.get(symbol)
        if siblings and self.rng.random() < 0.5:
            return self.rng.choice(siblings)
        return symbol

    def _schedule(self, di: int, days: int, action: tuple[str, str, str, int, float]) -> None:
        self.scheduled.setdefault(di + days, []).append(action)

    def random_trade(self, di: int) -> None:
        """Emit exactly one trade (a sale that cannot happen falls back to another trade)."""
        rng = self.rng
        r = rng.random()
        if r < 0.18:  # harvest a loss, usually buying back within 30 days
            pos = self._pick(True, loss_at=di)
            if pos is not None:
                self.harvest(di, pos)
                return
        elif r < 0.24:  # double up: buy now, sell the old shares at a loss within 30 days
            pos = self._pick(True, loss_at=di)
            if pos is not None:
                self.double_up(di, pos)
                return
        elif r < 0.34:  # IRA / Roth purchase, often of something just sold at a loss
            symbol = (
                rng.choice(self.recent_losses)
                if self.recent_losses and rng.random() < 0.5
                else self._active_symbol(di)
            )
            self.buy(di, rng.choice(ADVANTAGED), symbol)
            self.stats["ira_buy"] += 1
            return
        elif r < 0.42:  # IRA / Roth sale
            pos = self._pick(False)
            if pos is not None and self.sell(
                di, pos, self._sell_units(pos), specific=rng.random() < 0.2
            ):
                return
        elif r < 0.62:  # a taxable sale, at a gain when there is one, sometimes a named lot
            pos = self._pick(True, gain_at=di) or self._pick(True)
            if pos is not None and self.sell(
                di, pos, self._sell_units(pos), specific=rng.random() < 0.25
            ):
                return
        # A taxable purchase: add to a held position or open one; a position that already
        # has several lots sells instead, so positions stay a few lots deep.
        pos = self._pick(True) if rng.random() < 0.4 else None
        if pos is None:
            pos = self.position(self._taxable_account(), self._active_symbol(di))
        if not (pos.buys >= 4 and self.sell(di, pos, self._sell_units(pos), specific=True)):
            self.buy(di, pos.account, pos.symbol)

    def harvest(self, di: int, pos: Position) -> None:
        """Sell a position at a loss; usually buy it (or an identical one) back in 30 days."""
        rng = self.rng
        symbol = pos.symbol
        units = self._sell_units(pos)
        cost = pos.cost * units / pos.units
        self.sell(di, pos, units)
        self.stats["loss_sell"] += 1
        self.recent_losses.append(symbol)
        if rng.random() < 0.8:
            # trading days: 1..21 is inside 30 calendar days, 22..30 mostly outside
            delay = rng.randint(1, 21) if rng.random() < 0.85 else rng.randint(22, 30)
            q = rng.random()
            account = (
                pos.account
                if q < 0.65
                else self._taxable_account()
                if q < 0.85
                else rng.choice(ADVANTAGED)
            )
            back = units if rng.random() < 0.8 else self._buy_units()
            basis = cost / (units / UNIT) if account in TAXABLE else 0.0
            self._schedule(
                di, delay, ("buy", account, self._replacement_symbol(symbol), back, basis)
            )

    def double_up(self, di: int, pos: Position) -> None:
        """Buy as many shares again now, sell the old (losing) ones within 30 days."""
        rng = self.rng
        old_units = pos.units
        account = pos.account if rng.random() < 0.7 else self._taxable_account()
        self.buy(di, account, self._replacement_symbol(pos.symbol), old_units)
        self.stats["double_up"] += 1
        delay = rng.randint(1, 21) if rng.random() < 0.9 else rng.randint(22, 26)
        self._schedule(di, delay, ("sell", pos.account, pos.symbol, old_units, 0.0))

    def _active_symbol(self, di: int) -> str:
        """Return a random symbol to buy: in an active spell, and mostly one trending up.

        Buyers chase what has risen over the last month, so a symbol just sold at a loss is
        seldom bought back by chance: most wash sales here are the deliberate repurchases,
        whose number grows with the history rather than with the square of its density.
        """
        rng = self.rng
        back = max(di - 20, 0)
        for _ in range(30):
            symbol = rng.choice(self.symbols)
            if self.active[symbol][di] and (
                self.prices[symbol][di] >= self.prices[symbol][back] or rng.random() < 0.1
            ):
                return symbol
        return symbol

    def exit_quiet(self, di: int) -> int:
        """Sell every taxable position of the symbols whose quiet spell starts today."""
        sold = 0
        for symbol in self.goes_quiet.get(di, ()):
            for account in TAXABLE:
                pos = self.positions.get((account, symbol))
                if pos is not None and pos.units and self.sell(di, pos, pos.units):
                    sold += 1
        return sold

    def run_scheduled(self, di: int, action: tuple[str, str, str, int, float]) -> bool:
        kind, account, symbol, units, basis = action
        if kind == "buy" and not self.active[symbol][di]:
            return False  # a repurchase that would fall in a quiet spell is dropped
        if kind == "buy":
            self.buy(di, account, symbol, units, basis)
            self.stats["repurchase"] += 1
            return True
        pos = self.positions.get((account, symbol))
        return pos is not None and self.sell(di, pos, units)

    def generate(self) -> None:
        days = len(self.days)
        emitted = 0
        for di in range(days):
            target = self.n if di == days - 1 else round(self.n * (di + 1) / days)
            if emitted < self.n:
                emitted += self.exit_quiet(di)
            for action in self.scheduled.pop(di, ()):
                if emitted >= self.n:
                    break
                if self.run_scheduled(di, action):
                    emitted += 1
            while emitted < target:
                self.random_trade(di)
                emitted += 1
        assert len(self.lines) == self.n, (len(self.lines), self.n)

    # -- files -----------------------------------------------------------------------------

    def write(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        with (out / "TRADES.csv").open("w", encoding="utf-8", newline="") as f:
            f.write("date,account,action,symbol,quantity,price,fees,lot_id\n")
            f.writelines(self.lines)
        with (out / "ACCOUNTS.csv").open("w", encoding="utf-8", newline="") as f:
            f.write("account,type,lot_method,form_1099\n")
            for name, (kind, method, form) in ACCOUNTS.items():
                f.write(f"{name},{kind},{method},{form}\n")
        toml = ["# Synthetic benchmark configuration (bench/gen_trades.py).", ""]
        for g in self.groups:
            toml += ["[[identical]]", "symbols = [" + ", ".join(f'"{s}"' for s in g) + "]", ""]
        (out / "tlh.toml").write_text("\n".join(toml), encoding="utf-8")


def _activity(
    rng: random.Random, symbols: list[str], groups: list[tuple[str, ...]], days: int
) -> tuple[dict[str, list[bool]], dict[int, list[str]]]:
    """Give each symbol (an identical group together) active and quiet spells.

    Active spells last 15-60 trading days, quiet ones 25-60 (mostly more than 30 calendar
    days): losses taken when a symbol goes quiet stay unwashed, which ends chains of wash sales
    as investors rotating out of a position do.
    """
    grouped = {s: g for g in groups for s in g}
    active: dict[str, list[bool]] = {}
    goes_quiet: dict[int, list[str]] = {}
    for s in symbols:
        if s in active:
            continue
        spells: list[bool] = []
        on = rng.random() < 0.7
        spells += [on] * rng.randint(0, 40)
        while len(spells) < days:
            on = not on
            if not on:
                goes_quiet.setdefault(len(spells), []).extend(grouped.get(s, (s,)))
            spells += [on] * (rng.randint(15, 60) if on else rng.randint(25, 60))
        for member in grouped.get(s, (s,)):
            active[member] = spells[:days]
    return active, goes_quiet


def _weekdays(start: date, end: date) -> list[date]:
    days, d = [], start
    while d <= end:
        if d.weekday() < 5:
            days.append(d)
        d += timedelta(days=1)
    return days


def _symbols(rng: random.Random, n: int) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        s = "".join(rng.choices(string.ascii_uppercase, k=rng.choice((3, 3, 4, 4, 2))))
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def _groups(rng: random.Random, symbols: list[str]) -> list[tuple[str, ...]]:
    """Declare ~20% of the symbols identical, in groups of two or three."""
    pool = rng.sample(symbols, len(symbols) // 5)
    groups, i = [], 0
    while i < len(pool) - 1:
        size = 3 if rng.random() < 0.3 and i + 3 <= len(pool) else 2
        groups.append(tuple(pool[i : i + size]))
        i += size
    return groups


def _price_paths(
    rng: random.Random, symbols: list[str], days: list[date]
) -> dict[str, list[float]]:
    market = []
    for d in days:
        drift = 0.0003
        for first, last, mu in REGIMES:
            if first <= d <= last:
                drift = mu
        market.append(drift + rng.gauss(0, 0.01))
    paths: dict[str, list[float]] = {}
    for s in symbols:
        log_p = math.log(rng.lognormvariate(math.log(60), 0.9))
        sigma = rng.uniform(0.008, 0.03)
        beta = rng.uniform(0.6, 1.4)
        drawdown = 0
        path = []
        for m in market:
            if drawdown == 0 and rng.random() < 1 / 120:
                drawdown = rng.randint(8, 30)
            step = beta * m + rng.gauss(0, sigma)
            if drawdown:
                step -= 0.012
                drawdown -= 1
            log_p += step
            path.append(max(round(math.exp(log_p), 2), 1.0))
        paths[s] = path
    return paths


def _qty(units: int) -> str:
    whole, frac = divmod(units, UNIT)
    return f"{whole}.{frac:04d}".rstrip("0") if frac else str(whole)


def generate(trades: int, out: Path, seed: int = SEED, symbols: int = SYMBOLS) -> dict[str, object]:
    """Write the three files of a `trades`-row history over `symbols` symbols into `out`;
    return what was written."""
    started = time.perf_counter()
    gen = Generator(trades, seed, symbols=symbols)
    gen.generate()
    gen.write(out)
    meta: dict[str, object] = {
        "trades": trades,
        "seed": seed,
        "symbols": len(gen.symbols),
        "identical_groups": len(gen.groups),
        "symbols_in_groups": sum(len(g) for g in gen.groups),
        "first_date": gen.day_text[0],
        "last_date": gen.day_text[-1],
        "accounts": {k: v[0] for k, v in ACCOUNTS.items()},
        "mix": gen.stats,
        "seconds": round(time.perf_counter() - started, 2),
        "generator_version": GENERATOR_VERSION,
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trades", type=int, default=1_000_000, help="rows to write")
    parser.add_argument("--out", type=Path, required=True, help="directory for the files")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    if args.trades < 1:
        parser.error("--trades must be at least 1")
    meta = generate(args.trades, args.out, args.seed)
    print(json.dumps(meta, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
