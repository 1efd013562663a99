"""`tlh index build --cash USD [--dry-run]` (issue #12 §5): the plan of the initial purchase,
printed; nothing traded on a dry run. Bad input (issue #12 §8, developers' guide): a clear
error naming file, line and field, exit 2, nothing traded.

The simulator prices the plan at its replay's closes (`[sim] replay`, the `tlh backtest`
price format), the journal is a fresh SQLite file.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from typer.testing import CliRunner, Result

from adapters.storage.engine import create_engine
from adapters.storage.repository import Repository
from daemon.cli import _register, app

SYMBOLS = ("AAA", "BBB", "CCC", "DDD")
HEADER = (
    "symbol,timestamp,open,high,low,close,adjusted_close,volume,dividend_amount,split_coefficient"
)


def write_prices(path: Path, symbols: tuple[str, ...] = SYMBOLS) -> None:
    """Three sessions of four stocks at $50, $100, $150 and $200."""
    rows = [HEADER]
    for day in ("2024-03-04", "2024-03-05", "2024-03-06"):
        for i, s in enumerate(symbols, start=1):
            p = 50 * i
            rows.append(f"{s},{day},{p},{p},{p},{p},{p},1000,0.0,1.0")
    path.write_text("\n".join(rows) + "\n")


def write_config(
    tmp: Path,
    weights: str,
    universe_of: tuple[str, ...] = SYMBOLS,
    priced: tuple[str, ...] = SYMBOLS,
) -> Path:
    """Write tlh.toml: the simulator replaying PRICES.csv (of `priced`), the index of
    `weights` (over `universe_of` when "equal")."""
    write_prices(tmp / "PRICES.csv", priced)
    config = tmp / "tlh.toml"
    universe = ", ".join(f'"{s}"' for s in universe_of)
    config.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp / "tlh.sqlite"}"\n\n'
        f'[sim]\nreplay = "{tmp / "PRICES.csv"}"\n\n'
        f'[index]\nweights = "{weights}"\nuniverse = [{universe}]\naccount = "taxable"\n'
    )
    return config


def tlh(*args: str) -> Result:
    """Run `tlh` in-process; stdout and stderr apart."""
    _register()
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


async def stored(url: str) -> tuple[int, int]:
    """Return the journal entries and the intents the database holds."""
    db = create_engine(url)
    try:
        repo = Repository(db)
        return len(await repo.load_journal()), len(await repo.open_intents())
    finally:
        await db.dispose()


def test_build_dry_run_prints_the_plan_and_trades_nothing(tmp_path: Path) -> None:
    """Issue #12 §5: "`tlh index build --cash USD [--dry-run]` plans ... the initial
    purchase". $100,000 into four equally weighted names: a buy of each, priced at the
    replay's close, with the tracking error and the cash left; nothing is placed."""
    config = write_config(tmp_path, "equal")

    result = tlh("index", "build", "--cash", "100000", "--dry-run", "--config", str(config))

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    for symbol in SYMBOLS:
        assert any(line.split()[:2] == ["buy", symbol] for line in lines), result.stdout
    assert "tracking error" in result.stdout
    assert "cash left" in result.stdout
    assert "dry run: nothing placed" in result.stdout
    url = f"sqlite+aiosqlite:///{tmp_path / 'tlh.sqlite'}"
    assert asyncio.run(stored(url)) == (0, 0)


def test_a_bad_weights_row_exits_2_naming_file_line_and_field(tmp_path: Path) -> None:
    """Issue #12 §1: "a bad row stops with file:line:field, exit 2"; nothing is traded."""
    weights = tmp_path / "weights.csv"
    weights.write_text("symbol,weight\nAAA,0.5\nBBB,half\nCCC,0.25\n")
    config = write_config(tmp_path, str(weights))

    result = tlh("index", "build", "--cash", "100000", "--config", str(config))

    assert result.exit_code == 2
    assert "weights.csv:3" in result.stderr
    assert "weight" in result.stderr.split("weights.csv:3", 1)[1]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "tlh.sqlite").exists()


def test_a_cash_amount_that_is_not_money_exits_2(tmp_path: Path) -> None:
    """Developers' guide: bad input is a clear error, exit 2, nothing traded."""
    config = write_config(tmp_path, "equal")

    result = tlh("index", "build", "--cash", "lots", "--config", str(config))

    assert result.exit_code == 2
    assert "--cash" in result.stderr


def test_a_cash_amount_beyond_any_account_exits_2(tmp_path: Path) -> None:
    """Developers' guide: bad input is a clear error, exit 2, no traceback. `1e400` is a
    valid decimal no plan can size (found trying the command as a hostile user)."""
    config = write_config(tmp_path, "equal")

    result = tlh("index", "build", "--cash", "1e400", "--dry-run", "--config", str(config))

    assert result.exit_code == 2
    assert "--cash '1e400': the amount must be at most 1,000,000,000,000" in result.stderr


def test_cash_too_small_for_any_trade_prints_an_empty_plan(tmp_path: Path) -> None:
    """A tenth of a cent buys nothing above `min_trade_usd`: the plan has no trades, and the
    command says so (it printed a traceback once: the table had no rows to size)."""
    config = write_config(tmp_path, "equal")

    result = tlh("index", "build", "--cash", "0.001", "--config", str(config))

    assert result.exit_code == 0, result.stderr
    assert "0 trades: buy 0.00, sell 0.00" in result.stdout
    assert result.stdout.rstrip().endswith("nothing to trade")


def test_an_index_name_without_a_price_exits_2(tmp_path: Path) -> None:
    """Brief: "fail clearly (exit 2) when a target name has no price"; nothing is planned."""
    config = write_config(tmp_path, "equal", priced=SYMBOLS[:3])

    result = tlh("index", "build", "--cash", "100000", "--dry-run", "--config", str(config))

    assert result.exit_code == 2
    assert "no price" in result.stderr
    assert "DDD" in result.stderr


def test_an_empty_universe_exits_2_and_trades_nothing(tmp_path: Path) -> None:
    """Issue #12 §8: "an empty universe: a clear error, exit 2, nothing traded"."""
    config = write_config(tmp_path, "equal", universe_of=())

    result = tlh("index", "build", "--cash", "100000", "--config", str(config))

    assert result.exit_code == 2
    assert result.stderr.strip()
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "tlh.sqlite").exists()


def test_build_places_the_plan_through_the_outbox_under_its_plan_id(tmp_path: Path) -> None:
    """Issue #12 §5: with trading enabled (the simulator) and no daemon holding the journal,
    `tlh index build` places the plan as persisted intents under the deterministic plan id
    `build:<day>:<account>`, at the replay's day."""
    config = write_config(tmp_path, "equal")

    result = tlh("index", "build", "--cash", "100000", "--config", str(config))

    assert result.exit_code == 0, result.stderr
    assert "plan build:2024-03-04:taxable" in result.stdout


async def test_build_dry_run_prices_the_index_at_alpacas_latest_quotes(tmp_path: Path) -> None:
    """Issue #12 §5 on a real broker's SDK: the plan is priced at the broker's latest quotes
    (`adapters.base.QuoteSnapshots`), here Alpaca's REST market data served by the fake on
    127.0.0.1; a dry run places nothing at the broker."""
    from tests.alpaca.alpacakit import FakeWithLatestQuotes

    async with FakeWithLatestQuotes() as fake:
        fake.set_market_open(True)
        for i, symbol in enumerate(SYMBOLS, start=1):
            fake.set_quote(symbol, 50 * i, 50 * i + 0.02)
        config = tmp_path / "tlh.toml"
        universe = ", ".join(f'"{s}"' for s in SYMBOLS)
        config.write_text(f'[index]\nweights = "equal"\nuniverse = [{universe}]\n')
        env = {
            "TLH_BROKER": "alpaca",
            "TLH_MODE": "paper",
            "TLH_ALPACA__API_KEY": fake.KEY,
            "TLH_ALPACA__SECRET_KEY": fake.SECRET,
            "TLH_ALPACA__BASE_URL": fake.rest_url,
            "TLH_ALPACA__TRADING_WS_URL": fake.trading_ws_url,
            "TLH_ALPACA__DATA_WS_URL": fake.data_ws_url("iex"),
            "TLH_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'tlh.sqlite'}",
        }

        def run() -> Result:
            _register()
            args = ["index", "build", "--cash", "100000", "--dry-run", "--config", str(config)]
            return CliRunner(env=env).invoke(app, args, catch_exceptions=False)

        result = await asyncio.to_thread(run)

        assert result.exit_code == 0, result.stderr
        assert "alpaca's latest quotes" in result.stdout
        for symbol in SYMBOLS:
            assert any(line.split()[:2] == ["buy", symbol] for line in result.stdout.splitlines())
        assert "dry run: nothing placed" in result.stdout
        assert fake.state.orders == []
