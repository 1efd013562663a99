"""`load_target` reads `[index]`; `tlh config check` refuses a target it cannot read.

Issue #12 §1: ``weights = "FILE"`` or ``weights = "equal"`` over ``universe``; ``exclude``; an
optional completion fund. §8: "Bad weights files, an empty universe ...: a clear error, exit 2,
nothing traded". Developers' guide: bad input names the file, line and field (or key).
"""

from __future__ import annotations

import os
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
import structlog
import structlog.testing
from typer.testing import CliRunner

import daemon.cli
import daemon.cli.config
import daemon.index_weights
from daemon.index_settings import IndexSettings
from daemon.index_weights import TargetFileError, equal_target, load_target, read_sectors
from strategies.index.target import TargetError

D = Decimal
DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[2]
CONSTITUENTS = (
    REPO.parent / "shared" / "data" / "prices" / "sp500_1999_2021" / "constituents.csv.gz"
)


def test_equal_weights_over_the_universe() -> None:
    """`weights = "equal"`: every symbol of `universe` weighs the same; `exclude` drops one."""
    settings = IndexSettings(weights="equal", universe=("aapl", "MSFT", "XOM", "JPM"))
    target = load_target(settings.model_copy(update={"exclude": ("xom",)}))
    assert target.symbols == ("AAPL", "JPM", "MSFT")
    assert sum(target.weights.values()) == 1
    assert max(target.weights.values()) - min(target.weights.values()) < D("1e-14")
    assert target.source == "equal"


def test_equal_weights_without_a_universe_name_the_key() -> None:
    """An empty universe is an error naming `index.universe`."""
    with pytest.raises(TargetError, match=r"^index\.universe: empty"):
        load_target(IndexSettings(weights="equal"))


def test_a_universe_entirely_excluded_names_the_exclude_key() -> None:
    """Nothing left to hold after `exclude`: the error names `index.exclude`."""
    settings = IndexSettings(weights="equal", universe=("AAPL",), exclude=("AAPL",))
    with pytest.raises(TargetError, match=r"^index\.exclude: every name is excluded"):
        load_target(settings)


def test_an_excluded_name_outside_the_index_is_named_in_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Developers' guide: nothing the configuration accepts is silently inert. An `exclude`
    naming no stock of the index (a typo of the stock the user will not hold, or a name
    outside this index) is kept, not refused (members change), and named: on the target and
    in a warning with the key."""
    monkeypatch.setattr(daemon.index_weights, "log", structlog.get_logger("tlh.index"))
    settings = IndexSettings(weights="equal", universe=("AAPL", "MSFT"), exclude=("msft", "tsal"))

    with structlog.testing.capture_logs() as logs:
        target = load_target(settings)

    assert target.symbols == ("AAPL",)
    assert target.excluded_unknown == ("TSAL",)
    assert [(e["event"], e["key"], e["symbols"]) for e in logs] == [
        ("index_exclude_not_in_index", "index.exclude", ["TSAL"])
    ]


def test_a_relative_weights_path_is_read_beside_the_configuration(tmp_path: Path) -> None:
    """`weights = "IVV_holdings.csv"` with the configuration in tmp_path reads tmp_path's file."""
    shutil.copy(DATA / "IVV_holdings.csv", tmp_path)
    target = load_target(IndexSettings(weights="IVV_holdings.csv"), config_dir=tmp_path)
    assert target.source == str(tmp_path / "IVV_holdings.csv")
    assert "NVDA" in target.weights


def test_sectors_file_and_completion_fund_from_the_settings(tmp_path: Path) -> None:
    """`sectors` fills the sectors; the excluded weight goes to `completion`."""
    (tmp_path / "w.csv").write_text("symbol,weight\nAAPL,60\nMSFT,30\nXOM,10\n")
    (tmp_path / "s.csv").write_text("Symbol,Sector\nAAPL,IT\nMSFT,IT\nXOM,Energy\n")
    settings = IndexSettings(weights="w.csv", sectors="s.csv", exclude=("XOM",), completion="vti")
    target = load_target(settings, config_dir=tmp_path)
    assert target.weights == {"AAPL": D("0.6"), "MSFT": D("0.3"), "VTI": D("0.1")}
    assert target.completion == "VTI"
    assert target.sector_weights() == {"": D("0.1"), "IT": D("0.9")}


def test_equal_target_for_the_backtest_takes_its_own_universe() -> None:
    """`equal_target(symbols, sectors, exclude)`: the backtest's symbols priced on day one."""
    target = equal_target(["AAPL", "BRK B", "XOM"], {"BRK.B": "Financials"}, ["XOM"])
    assert target.weights == {"AAPL": D("0.5"), "BRK.B": D("0.5")}
    assert target.sector("BRK.B") == "Financials"


def test_the_sp500_constituents_give_the_sectors_of_equal_weights() -> None:
    """The shared S&P 1999–2021 set's constituents.csv.gz (Symbol,Name,Sector) as `sectors`:
    505 names in the 11 GICS sectors, BRK.B in Financials."""
    if not CONSTITUENTS.exists():
        pytest.skip(f"shared price data not present: {CONSTITUENTS}")
    settings = IndexSettings(weights="equal", universe=("BRK.B", "AAPL"), sectors=str(CONSTITUENTS))
    target = load_target(settings)
    assert target.sectors == {"BRK.B": "Financials", "AAPL": "Information Technology"}
    sectors = read_sectors(CONSTITUENTS)
    assert len(sectors) == 505
    assert len(set(sectors.values())) == 11


# `tlh config check`


def _check(tmp_path: Path, toml: str) -> tuple[int, str]:
    path = tmp_path / "tlh.toml"
    path.write_text(toml, encoding="utf-8")
    own = {name: None for name in os.environ if name.upper().startswith("TLH_")}
    result = CliRunner().invoke(daemon.cli.app, ["config", "check", "--config", str(path)], env=own)
    return result.exit_code, result.output


def test_config_check_reports_a_bad_weights_row_with_exit_2(tmp_path: Path) -> None:
    """A bad row in the weights file: exit 2, the file, line and field, no traceback."""
    (tmp_path / "w.csv").write_text("symbol,weight\nAAPL,1\nMSFT,lots\n")
    code, output = _check(tmp_path, '[index]\nweights = "w.csv"\n')
    assert code == 2
    assert f"{tmp_path / 'w.csv'}:3: weight: bad weight: not a number" in output
    assert "Traceback" not in output


def test_config_check_reports_an_empty_universe_naming_the_key(tmp_path: Path) -> None:
    """`weights = "equal"` without `universe`: exit 2, ``tlh.toml: index.universe: ...``."""
    code, output = _check(tmp_path, '[index]\nweights = "equal"\n')
    assert code == 2
    assert f"{tmp_path / 'tlh.toml'}: index.universe: empty" in output


def test_config_check_summarises_a_good_target(tmp_path: Path) -> None:
    """A readable target: exit 0 and a line saying how many names and sectors it holds."""
    shutil.copy(DATA / "holdings-daily-us-en-spy.csv", tmp_path)
    code, output = _check(tmp_path, '[index]\nweights = "holdings-daily-us-en-spy.csv"\n')
    assert code == 0, output
    assert "6 names in 3 sectors" in output


def test_config_check_names_an_excluded_symbol_the_index_lacks(tmp_path: Path) -> None:
    """`tlh config check` shows an `exclude` that matches no name of the index (exit 0)."""
    code, output = _check(
        tmp_path, '[index]\nweights = "equal"\nuniverse = ["AAPL", "MSFT"]\nexclude = ["TSAL"]\n'
    )
    assert code == 0, output
    assert "exclude: not in the index: TSAL" in output


def test_a_missing_weights_file_is_a_target_file_error(tmp_path: Path) -> None:
    """`weights` naming no file: the path and the reason."""
    with pytest.raises(TargetFileError, match=r"missing\.csv: cannot read the file"):
        load_target(IndexSettings(weights="missing.csv"), config_dir=tmp_path)
