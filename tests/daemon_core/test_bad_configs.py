"""Adversarial suite "bad configs": each one exits 2 from `tlh config check`, naming the key.

Issue #13 C.12 and C.16, and the guide's rules: "Nothing the configuration accepts is silently
inert: an unknown key is rejected, named" and "Bad input: a clear one-line error naming the
file, line and field (or key), exit code 2, no traceback". Whatever `config check` accepts must
work: numbers are finite and bounded, database URLs name a supported driver, booleans are
booleans, a feature not built yet is refused, and an unknown TLH_ variable is named.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

import daemon.cli
import daemon.cli.config

WriteConfig = Callable[[str], Path]
KEY = "PKQ7ZX2M9RT4WB6YLC3N"
SECRET = "Zq7Rk2Xw9Lm4Tn8Vb3Hc6Jd1Fg5Sp0Ya2Ue7Io4K"
ALPACA = {"TLH_BROKER": "alpaca", "TLH_ALPACA__API_KEY": KEY, "TLH_ALPACA__SECRET_KEY": SECRET}

# (TOML text, environment, the key or variable the message must name)
BAD_FILES: list[tuple[str, str]] = [
    # numbers: finite and bounded everywhere
    ("[prices]\nstale_after_seconds = inf\n", "prices.stale_after_seconds"),
    ("[prices]\nstale_after_seconds = nan\n", "prices.stale_after_seconds"),
    ("[prices]\nstale_after_seconds = 1e300\n", "prices.stale_after_seconds"),
    ("[prices]\nstale_after_seconds = 0\n", "prices.stale_after_seconds"),
    ("[prices]\nband_pct = inf\n", "prices.band_pct"),
    ("[ib]\ntimeout_seconds = inf\n", "ib.timeout_seconds"),
    ("[ib]\ntimeout_seconds = 1" + "0" * 400 + "\n", "ib.timeout_seconds"),
    ("[ib]\nclient_id = 99999999999999\n", "ib.client_id"),
    ("[ib]\nport = 70000\n", "ib.port"),
    ("[harvest]\nmin_loss_usd = inf\n", "harvest.min_loss_usd"),
    ("[harvest]\nmin_loss_usd = 1e300\n", "harvest.min_loss_usd"),
    ("[harvest]\nmin_loss_pct = nan\n", "harvest.min_loss_pct"),
    ("[harvest]\nfee_per_order = -inf\n", "harvest.fee_per_order"),
    ("[harvest]\nswap_back_max_st_gain_usd = 1e13\n", "harvest.swap_back_max_st_gain_usd"),
    ("[harvest]\nspread_cost_factor = 2\n", "harvest.spread_cost_factor"),
    ("[tax]\nlong_term_rate = inf\n", "tax.long_term_rate"),
    ("[risk]\nmax_daily_notional = 1e300\n", "risk.max_daily_notional"),
    ("[risk]\nmax_harvests_per_day = 10000000000\n", "risk.max_harvests_per_day"),
    ("[risk]\nmax_harvests_per_day = -1\n", "risk.max_harvests_per_day"),
    ("[metrics]\nport = 0\n", "metrics.port"),
    # types: booleans are booleans, numbers numbers, strings strings (TOML has all three)
    ('live_trading_enabled = "yes"\n', "live_trading_enabled"),
    ('[harvest]\nallow_cash = "no"\n', "harvest.allow_cash"),
    ('[harvest]\nswap_back = "true"\n', "harvest.swap_back"),
    ("[risk]\nkill_switch = 1\n", "risk.kill_switch"),
    ('[alpaca]\npaper = "false"\n', "alpaca.paper"),
    ('[harvest]\nmin_loss_usd = "100"\n', "harvest.min_loss_usd"),
    ("[risk]\nmax_harvests_per_day = true\n", "risk.max_harvests_per_day"),
    ("mode = 1\n", "mode"),
    ("[database]\nurl = 5\n", "database.url"),
    ("[prices]\nstale_after_seconds = [60]\n", "prices.stale_after_seconds"),
    ('harvest = "on"\n', "harvest"),
    ('[[substitutes]]\nsymbols = "VTI, SCHB"\n', "substitutes[0].symbols"),
    # strings and URLs
    ('[database]\nurl = "mysql://u@h/db"\n', "database.url"),
    ('[database]\nurl = "oracle+cx_oracle://u@h/db"\n', "database.url"),
    ('[database]\nurl = "tlh.sqlite"\n', "database.url"),
    ('[alpaca]\nbase_url = "ftp://example.com"\n', "alpaca.base_url"),
    ('[alpaca]\nbase_url = "http://"\n', "alpaca.base_url"),
    ('[alpaca]\ntrading_ws_url = "ws://host:99999/stream"\n', "alpaca.trading_ws_url"),
    ('[ib]\nhost = ""\n', "ib.host"),
    ('[ib]\nhost = "bad host"\n', "ib.host"),
    ('[mqtt]\ntopic_prefix = ""\n', "mqtt.topic_prefix"),
    ('[logging]\nlevel = "LOUD"\n', "logging.level"),
    ('[wash_sale]\ncrypto_symbols = ["BTC USD"]\n', "wash_sale.crypto_symbols"),
    ('[wash_sale]\ncrypto_symbols = [""]\n', "wash_sale.crypto_symbols"),
    ('[accounts]\n" " = "taxable"\n', "accounts"),
    ('[accounts]\nmain = "brokerage"\n', "accounts.main"),
    ('broker = "ib"\n', "ib.account"),  # the IB account code is required
    ('[mqtt]\nurl = "http://127.0.0.1:1883"\n', "mqtt.url"),
    ('[mqtt]\nurl = "mqttx://127.0.0.1"\n', "mqtt.url"),
    ('[mqtt]\nhost = "127.0.0.1"\n', "mqtt.host"),  # the broker is given by url
    ('[mqtt]\nurl = "mqtt://tlh:long-password@127.0.0.1"\n', "mqtt.url"),  # logged: no secrets
    ('[mqtt]\ntopic_prefix = "tlh/#"\n', "mqtt.topic_prefix"),
    ('[mqtt]\ndiscovery_prefix = "homeassistant/"\n', "mqtt.discovery_prefix"),
    ('[mqtt]\nenabled = true\npassword = "long-password"\n', "mqtt.password"),  # needs a username
    ("[metrics]\nport = 0\n", "metrics.port"),
    ("[sim]\nspeed = 0\n", "sim.speed"),
    ('[sim]\nreplay = ""\n', "sim.replay"),
    # unknown keys
    ("[harvest]\nmin_los_usd = 5\n", "harvest.min_los_usd"),
    ("[orders_typo]\nx = 1\n", "orders_typo"),
    ('[alpaca]\nsecret_key = "short"\n', "alpaca.secret_key"),
]

BAD_ENVIRONMENTS: list[tuple[dict[str, str], str]] = [
    ({"TLH_DATABASE__URL": "mysql://u:p@h/db"}, "TLH_DATABASE__URL"),
    ({"TLH_PRICES__STALE_AFTER_SECONDS": "inf"}, "TLH_PRICES__STALE_AFTER_SECONDS"),
    ({"TLH_PRICES__STALE_AFTER_SECONDS": "1e300"}, "TLH_PRICES__STALE_AFTER_SECONDS"),
    ({"TLH_IB__TIMEOUT_SECONDS": "Infinity"}, "TLH_IB__TIMEOUT_SECONDS"),
    ({"TLH_HARVEST__MIN_LOSS_USD": "１００"}, "TLH_HARVEST__MIN_LOSS_USD"),
    ({"TLH_HARVEST__MIN_LOSS_USD": "NaN"}, "TLH_HARVEST__MIN_LOSS_USD"),
    ({"TLH_LIVE_TRADING_ENABLED": "yes"}, "TLH_LIVE_TRADING_ENABLED"),
    ({"TLH_RISK__KILL_SWITCH": "on"}, "TLH_RISK__KILL_SWITCH"),
    ({"TLH_HARVEST__ALLOW_CASH": "y"}, "TLH_HARVEST__ALLOW_CASH"),
    ({"TLH_HARVEST": '{"allow_cash": "yes"}'}, "TLH_HARVEST"),
    ({"TLH_METRICS__ENABLED": "maybe"}, "TLH_METRICS__ENABLED"),
    ({"TLH_MQTT__URL": "tcp://127.0.0.1"}, "TLH_MQTT__URL"),
    ({"TLH_HARVEST_MIN_LOSS_USD": "200"}, "TLH_HARVEST_MIN_LOSS_USD"),
    ({"TLH_HARVEST__MIN_LOS_USD": "200"}, "TLH_HARVEST__MIN_LOS_USD"),
    ({"TLH_RISK_KILL_SWITCH": "true"}, "TLH_RISK_KILL_SWITCH"),
    ({"TLH_MODE__X": "paper"}, "TLH_MODE__X"),
    ({**ALPACA, "TLH_ALPACA__SECRET_KEY": "s"}, "TLH_ALPACA__SECRET_KEY"),
    ({**ALPACA, "TLH_ALPACA__API_KEY": "PK1"}, "TLH_ALPACA__API_KEY"),
    ({"TLH_MQTT__PASSWORD": "pw"}, "TLH_MQTT__PASSWORD"),
]


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    """A runner for the `tlh` app."""
    return CliRunner()


def _check(runner: CliRunner, path: Path | None, env: dict[str, str]) -> tuple[int, str]:
    args = ["config", "check"] + (["--config", str(path)] if path else [])
    result = runner.invoke(daemon.cli.app, args, env=env)
    return result.exit_code, result.output


@pytest.mark.parametrize(("toml", "key"), BAD_FILES, ids=[k for _, k in BAD_FILES])
def test_bad_file_exits_2_naming_the_key(
    runner: CliRunner, write_config: WriteConfig, toml: str, key: str
) -> None:
    """A bad value in tlh.toml: exit 2, one line naming the file and the dotted key."""
    path = write_config(toml)

    code, output = _check(runner, path, {})

    assert code == 2, output
    assert output.startswith(f"{path}: {key}: "), output
    assert "Traceback" not in output
    assert SECRET not in output


@pytest.mark.parametrize(
    ("env", "variable"), BAD_ENVIRONMENTS, ids=[v for _, v in BAD_ENVIRONMENTS]
)
def test_bad_environment_exits_2_naming_the_variable(
    runner: CliRunner, env: dict[str, str], variable: str
) -> None:
    """A bad TLH_ variable: exit 2, one line naming the variable (and its key)."""
    code, output = _check(runner, None, env)

    assert code == 2, output
    assert output.startswith(f"{variable} (environment): "), output
    assert "Traceback" not in output
    assert SECRET not in output
    assert "mysql://u:p@" not in output


def test_unknown_variable_suggests_the_closest_one(runner: CliRunner) -> None:
    """C.16: the typo TLH_HARVEST_MIN_LOSS_USD (one underscore) is named, with the fix."""
    code, output = _check(runner, None, {"TLH_HARVEST_MIN_LOSS_USD": "200"})

    assert code == 2
    assert output.strip() == (
        "TLH_HARVEST_MIN_LOSS_USD (environment): harvest_min_loss_usd: unknown variable "
        "(did you mean TLH_HARVEST__MIN_LOSS_USD?)"
    )


@pytest.mark.parametrize(
    "env",
    [
        {"TLH_HEALTH_FILE": "/tmp/health", "TLH_CONFIG": "", "TLH_TEST_POSTGRES_URL": "x"},
        {"TLH_LIVE_TRADING_ENABLED": "false", "TLH_RISK__KILL_SWITCH": "1"},
        {"TLH_HARVEST__ALLOW_CASH": "TRUE", "TLH_HARVEST__SWAP_BACK": "0"},
        {"TLH_DATABASE__URL": "sqlite:///./plain.sqlite"},
        {"TLH_DATABASE__URL": "postgresql://tlh@127.0.0.1/tlh"},
        {"TLH_ACCOUNTS__MAIN": "taxable", "TLH_PRICES__STALE_AFTER_SECONDS": "86400"},
    ],
)
def test_good_environments_pass(runner: CliRunner, env: dict[str, str]) -> None:
    """Known non-setting variables, the documented boolean spellings (true/false/1/0, any
    case), the plain database schemes (mapped to their async drivers) and bounds are fine."""
    code, output = _check(runner, None, env)

    assert code == 0, output


def test_every_command_refuses_an_unknown_variable(runner: CliRunner, tmp_path: Path) -> None:
    """The check runs wherever the settings are loaded: `tlh status` refuses the typo too."""
    import daemon.cli.run  # registers `tlh status`

    env = {
        "TLH_RISK_KILL_SWITCH": "true",
        "TLH_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite'}",
    }

    result = runner.invoke(daemon.cli.app, ["status"], env=env)

    assert result.exit_code == 2, result.output
    assert "TLH_RISK_KILL_SWITCH (environment)" in result.output
    assert "did you mean TLH_RISK__KILL_SWITCH?" in result.output
    assert not (tmp_path / "x.sqlite").exists()


def test_the_demo_refuses_an_unknown_variable_without_a_traceback(runner: CliRunner) -> None:
    """`tlh demo` reads the environment too: a stray TLH_ variable is named, exit 2."""
    import daemon.cli.demo  # registers `tlh demo`

    result = runner.invoke(daemon.cli.app, ["demo"], env={"TLH_MODEE": "paper"})

    assert result.exit_code == 2, result.output
    assert "TLH_MODEE (environment): modee: unknown variable (did you mean TLH_MODE?)" in (
        result.output
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TLH_LIVE_TRADING_ENABLED", "yes\n", "live_trading_enabled: must be true or false"),
        ("TLH_ALPACA_SECRET_KEY", SECRET, "alpaca_secret_key: unknown variable"),
    ],
)
def test_bad_secret_file_exits_2_naming_it(
    runner: CliRunner, tmp_path: Path, name: str, value: str, message: str
) -> None:
    """Secret files are read like variables, and held to the same rules."""
    (tmp_path / name).write_text(value)

    code, output = _check(runner, None, {"TLH_SECRETS_DIR": str(tmp_path)})

    assert code == 2, output
    assert output.startswith(f"{name} (secret file): {message}"), output
    assert SECRET not in output
