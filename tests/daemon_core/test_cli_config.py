"""`tlh config check`: exit 0 with a summary on a good file, 2 with one clear line on a bad one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import daemon.cli
import daemon.cli.config  # registers `tlh config` on daemon.cli.app, as _register() does
from daemon.cli.config import exit_on_config_error
from daemon.settings import ConfigError

from .conftest import EXAMPLE_CONFIG

WriteConfig = Callable[[str], Path]
API_KEY = "PKCLITEST123456789"


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    """A runner for daemon.cli.app with the `config` group registered.

    The group is registered by importing its module (what `_register()` does for every
    group), so these tests do not depend on the other command modules importing cleanly.
    """
    return CliRunner()


def test_check_example_file_exits_0(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example file passes, the summary shows mode, broker and groups, nothing is written."""
    monkeypatch.chdir(tmp_path)

    result = runner.invoke(daemon.cli.app, ["config", "check", "--config", str(EXAMPLE_CONFIG)])

    assert result.exit_code == 0, result.output
    assert "dry_run" in result.stdout
    assert "sim" in result.stdout
    assert "VTI ↔ SCHB ↔ ITOT" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_check_bad_file_exits_2_naming_the_key(
    runner: CliRunner, write_config: WriteConfig
) -> None:
    """A bad value gives exit status 2 and one line naming the file and the dotted key."""
    path = write_config("[harvest]\nmin_loss_pct = 5\n")

    result = runner.invoke(daemon.cli.app, ["config", "check", "--config", str(path)])

    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"{path}: harvest.min_loss_pct: must be a fraction below 1 (got 5); write 0.05 for 5%"
    ]
    assert "Traceback" not in result.output


def test_check_missing_file_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    """An explicitly given file that does not exist is an error, not silent defaults."""
    result = runner.invoke(
        daemon.cli.app, ["config", "check", "--config", str(tmp_path / "none.toml")]
    )

    assert result.exit_code == 2
    assert "file not found" in result.stderr


def test_check_shows_secrets_as_stars(runner: CliRunner, write_config: WriteConfig) -> None:
    """Configured secrets appear as *** in the summary, never in clear."""
    path = write_config('broker = "alpaca"\n')
    env = {"TLH_ALPACA__API_KEY": API_KEY, "TLH_ALPACA__SECRET_KEY": API_KEY + "-s"}

    result = runner.invoke(daemon.cli.app, ["config", "check", "--config", str(path)], env=env)

    assert result.exit_code == 0, result.output
    assert "api_key ***" in result.stdout
    assert API_KEY not in result.output


def test_exit_on_config_error_helper() -> None:
    """Other commands reuse exit_on_config_error: the problem is printed and the exit is 2."""
    with pytest.raises(typer.Exit) as info, exit_on_config_error():
        raise ConfigError(["tlh.toml: mode: bad"])

    assert info.value.exit_code == 2


def test_check_shows_a_tax_optimizer_lot_method(
    runner: CliRunner, write_config: WriteConfig
) -> None:
    """The summary names the harvest lot method, IB's Tax Optimizer ones included."""
    path = write_config('[harvest]\nlot_method = "max_st_loss"\n')

    result = runner.invoke(daemon.cli.app, ["config", "check", "--config", str(path)])

    assert result.exit_code == 0, result.output
    assert "lots max_st_loss" in result.stdout
