"""The configuration model: safe defaults, sources and their priority, and validation."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from daemon.settings import ConfigError, Settings, load_settings
from ledger.conventions import HoldingPeriodMethod, WashSaleConventions
from ledger.model import AccountType

from .conftest import EXAMPLE_CONFIG

WriteConfig = Callable[[str], Path]
API_KEY = "PKTESTKEY0123456789"
SECRET_KEY = "sEcReT-value-9876543210"


def _error(path: Path | None, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(path, env or {})
    return str(info.value)


def test_defaults_are_safe() -> None:
    """With no file and no environment: dry run, simulated broker, services on 127.0.0.1."""
    # Act
    s = load_settings(None, {})

    # Assert
    assert (s.mode, s.live_trading_enabled, s.broker) == ("dry_run", False, "sim")
    assert s.alpaca.paper is True
    assert s.metrics.host == s.ib.host == "127.0.0.1"
    assert s.mqtt.url == "mqtt://127.0.0.1:1883"
    assert (s.mqtt.enabled, s.metrics.enabled) == (False, False)
    assert s.database.url == "sqlite+aiosqlite:///./tlh.sqlite"
    assert s.harvest.allow_cash is False
    assert s.harvest.swap_back is False
    assert s.risk.kill_switch is False


def test_example_file_is_valid() -> None:
    """The shipped tlh.example.toml loads and declares coherent groups."""
    s = load_settings(EXAMPLE_CONFIG, {})

    assert s.mode == "dry_run"
    assert ("VTI", "SCHB", "ITOT") in s.substitute_groups()
    assert s.identity().identical("SPY", "IVV")
    assert s.accounts["roth"] is AccountType.ROTH_IRA


def test_file_values_are_read_as_exact_decimals(write_config: WriteConfig) -> None:
    """TOML floats become exact Decimals (0.07, not 0.07000000000000000666)."""
    path = write_config("[harvest]\nmin_loss_pct = 0.07\nmin_loss_usd = 250.10\n")

    s = load_settings(path, {})

    assert s.harvest.min_loss_pct == Decimal("0.07")
    assert s.harvest.min_loss_usd == Decimal("250.10")


def test_environment_overrides_file(write_config: WriteConfig) -> None:
    """TLH_HARVEST__MIN_LOSS_USD beats [harvest] min_loss_usd; other file keys survive."""
    path = write_config("[harvest]\nmin_loss_usd = 50\nmin_loss_pct = 0.1\n")

    s = load_settings(path, {"TLH_HARVEST__MIN_LOSS_USD": "200", "TLH_MODE": "paper"})

    assert s.harvest.min_loss_usd == Decimal(200)
    assert s.harvest.min_loss_pct == Decimal("0.1")
    assert s.mode == "paper"


def test_typo_names_the_dotted_key(write_config: WriteConfig) -> None:
    """An unknown key is an error naming the file and the dotted key, with a suggestion."""
    path = write_config("[harvest]\nmin_los_usd = 50\n")

    message = _error(path)

    assert message == f"{path}: harvest.min_los_usd: unknown key (did you mean min_loss_usd?)"


def test_typo_in_environment_names_the_variable() -> None:
    """An unknown nested environment key names the variable it came from."""
    message = _error(None, {"TLH_HARVEST__MIN_LOS_USD": "5"})

    assert message.startswith("TLH_HARVEST__MIN_LOS_USD (environment): harvest.min_los_usd:")


def test_min_loss_pct_as_percent_is_rejected(write_config: WriteConfig) -> None:
    """min_loss_pct = 5 (meant as 5%) is rejected, naming the key and suggesting 0.05."""
    path = write_config("[harvest]\nmin_loss_pct = 5\n")

    message = _error(path)

    assert message.startswith(f"{path}: harvest.min_loss_pct: must be a fraction below 1 (got 5)")
    assert "0.05" in message


def test_toml_syntax_error_names_file_and_line(write_config: WriteConfig) -> None:
    """A TOML syntax error names the file and the line."""
    path = write_config('mode = "dry_run"\n[harvest]\nmin_loss_pct = \n')

    message = _error(path)

    assert message.startswith(f"{path}: line 3")


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    """A config file that was asked for but does not exist is an error, not defaults."""
    message = _error(tmp_path / "nope.toml")

    assert message == f"{tmp_path / 'nope.toml'}: file not found"


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[harvest]\nmin_loss_usd = -1\n", "harvest.min_loss_usd"),
        ("[harvest]\nmin_loss_pct = -0.01\n", "harvest.min_loss_pct"),
        ("[harvest]\nfee_per_order = -1\n", "harvest.fee_per_order"),
        ("[risk]\nmax_order_notional = 0\n", "risk.max_order_notional"),
    ],
)
def test_negative_thresholds_are_rejected(write_config: WriteConfig, toml: str, key: str) -> None:
    """Negative money thresholds (and a zero order limit) are errors naming the key."""
    message = _error(write_config(toml))

    assert f": {key}: " in message


@pytest.mark.parametrize("rate", ["-0.1", "1.2", "24"])
def test_tax_rates_must_be_fractions(write_config: WriteConfig, rate: str) -> None:
    """Tax rates outside [0, 1] are errors naming the key."""
    message = _error(write_config(f"[tax]\nshort_term_rate = {rate}\n"))

    assert ": tax.short_term_rate: " in message


def test_substitute_group_needs_two_symbols(write_config: WriteConfig) -> None:
    """A [[substitutes]] group with one symbol is an error naming the group."""
    message = _error(write_config('[[substitutes]]\nsymbols = ["VTI"]\n'))

    assert ": substitutes[0].symbols: a group needs at least 2 symbols" in message


def test_symbol_in_two_substitute_groups_is_rejected(write_config: WriteConfig) -> None:
    """A symbol may belong to one substitute group only (case-insensitively)."""
    toml = (
        '[[substitutes]]\nsymbols = ["VTI", "SCHB"]\n[[substitutes]]\nsymbols = ["vti", "ITOT"]\n'
    )

    message = _error(write_config(toml))

    assert message.endswith("substitutes[1].symbols: VTI is already in substitutes[0]")


def test_substitute_group_with_identical_symbols_is_rejected(write_config: WriteConfig) -> None:
    """Two symbols the user declared identical cannot substitute for each other."""
    toml = (
        '[[identical]]\nsymbols = ["SPY", "VOO", "IVV"]\n'
        '[[substitutes]]\nsymbols = ["IVV", "SCHX", "SPY"]\n'
    )

    message = _error(write_config(toml))

    assert "substitutes[0].symbols: IVV and SPY are declared identical" in message


def test_identical_symbols_in_two_substitute_groups_are_rejected(write_config: WriteConfig) -> None:
    """An identity class in two substitute groups makes the replacement ambiguous."""
    toml = (
        '[[identical]]\nsymbols = ["SPY", "VOO"]\n'
        '[[substitutes]]\nsymbols = ["VOO", "SCHX"]\n'
        '[[substitutes]]\nsymbols = ["SPY", "IWB"]\n'
    )

    message = _error(write_config(toml))

    assert "substitutes[1].symbols: SPY is identical to VOO, which is in substitutes[0]" in message


def test_live_mode_needs_explicit_enable() -> None:
    """mode = live without live_trading_enabled = true is an error on `mode`."""
    message = _error(None, {"TLH_MODE": "live", "TLH_BROKER": "alpaca"})

    assert message.startswith("TLH_MODE (environment): mode: ")
    assert "live_trading_enabled" in message


def test_paper_mode_refuses_alpaca_live_endpoint() -> None:
    """In paper mode, alpaca.paper = false (real money endpoint) is an error."""
    env = {
        "TLH_MODE": "paper",
        "TLH_BROKER": "alpaca",
        "TLH_ALPACA__PAPER": "false",
        "TLH_ALPACA__API_KEY": API_KEY,
        "TLH_ALPACA__SECRET_KEY": SECRET_KEY,
    }

    message = _error(None, env)

    assert ": alpaca.paper: must be true" in message


def test_alpaca_broker_needs_keys() -> None:
    """broker = alpaca without keys names the missing key and how to set it."""
    message = _error(None, {"TLH_BROKER": "alpaca"})

    assert ": alpaca.api_key: is required" in message
    assert "TLH_ALPACA__API_KEY" in message


def test_secrets_never_in_repr_or_str() -> None:
    """Secrets (and a database URL password) do not appear in repr() or str()."""
    env = {
        "TLH_BROKER": "alpaca",
        "TLH_ALPACA__API_KEY": API_KEY,
        "TLH_ALPACA__SECRET_KEY": SECRET_KEY,
        "TLH_DATABASE__URL": "postgresql+asyncpg://tlh:dbPassw0rd-xyz@db/tlh",
    }

    s = load_settings(None, env)

    for text in (repr(s), str(s), repr(s.alpaca), str(s.database)):
        assert API_KEY not in text
        assert SECRET_KEY not in text
        assert "dbPassw0rd-xyz" not in text
    assert s.alpaca.api_key is not None
    assert s.alpaca.api_key.get_secret_value() == API_KEY
    assert s.database.safe_url == "postgresql+asyncpg://tlh:***@db/tlh"
    assert set(s.secret_values()) == {API_KEY, SECRET_KEY, "dbPassw0rd-xyz"}


def test_secrets_never_in_error_messages(write_config: WriteConfig) -> None:
    """A malformed secret is reported by key, without echoing its value."""
    path = write_config(f'[alpaca]\napi_key = ["{API_KEY}"]\n')

    message = _error(path)

    assert "alpaca.api_key" in message
    assert API_KEY not in message


def test_secret_files_are_read(tmp_path: Path) -> None:
    """Secret files named like the variables are read from secrets_dir."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "TLH_ALPACA__API_KEY").write_text(API_KEY + "\n")
    (secrets / "TLH_ALPACA__SECRET_KEY").write_text(SECRET_KEY)

    s = load_settings(None, {"TLH_SECRETS_DIR": str(secrets), "TLH_BROKER": "alpaca"})

    assert s.alpaca.secret_key is not None
    assert s.alpaca.secret_key.get_secret_value() == SECRET_KEY
    assert s.secrets_dir == secrets


def test_systemd_credentials_directory_is_used(tmp_path: Path) -> None:
    """Under systemd, $CREDENTIALS_DIRECTORY is the secrets directory by default."""
    (tmp_path / "TLH_MQTT__PASSWORD").write_text("mqtt-pass-123")

    s = load_settings(None, {"CREDENTIALS_DIRECTORY": str(tmp_path)})

    assert s.mqtt.password is not None
    assert s.mqtt.password.get_secret_value() == "mqtt-pass-123"


def test_environment_beats_secret_files(tmp_path: Path) -> None:
    """An environment variable overrides the secret file of the same name."""
    (tmp_path / "TLH_MQTT__PASSWORD").write_text("from-file")

    s = load_settings(None, {"TLH_SECRETS_DIR": str(tmp_path), "TLH_MQTT__PASSWORD": "from-env"})

    assert s.mqtt.password is not None
    assert s.mqtt.password.get_secret_value() == "from-env"


def test_settings_are_frozen() -> None:
    """Settings cannot be changed after loading."""
    s = load_settings(None, {})

    with pytest.raises(ValueError, match="frozen"):
        s.mode = "live"  # type: ignore[misc]


def test_ledger_adapters(write_config: WriteConfig) -> None:
    """identity() and wash_sale_conventions() carry the [identical] and [wash_sale] settings."""
    toml = (
        '[[identical]]\nsymbols = ["spy", "VOO"]\n'
        '[wash_sale]\nholding_period = "original_date"\ncrypto_symbols = ["pepe"]\n'
    )

    s = load_settings(write_config(toml), {})

    assert s.identity().identical("SPY", "VOO")
    assert s.identity().is_crypto("PEPE")
    assert s.wash_sale_conventions() == WashSaleConventions(
        holding_period=HoldingPeriodMethod.ORIGINAL_DATE
    )


def test_direct_construction_uses_defaults() -> None:
    """Settings() without load_settings still validates (e.g. in other modules' tests)."""
    assert Settings().mode == "dry_run"


def test_a_short_secret_is_refused_without_garbling_the_message() -> None:
    """Issue #13 B.10: TLH_ALPACA__SECRET_KEY=s turned every message into `mode: i*** "live"`;
    a secret too short to redact is refused, and nothing else in the message is touched."""
    env = {"TLH_MODE": "live", "TLH_BROKER": "alpaca", "TLH_ALPACA__API_KEY": API_KEY}

    message = _error(None, {**env, "TLH_ALPACA__SECRET_KEY": "s"})

    assert message == (
        "TLH_ALPACA__SECRET_KEY (environment): alpaca.secret_key: must be at least 8 "
        "characters (a shorter secret cannot be kept out of the logs)"
    )


def test_database_schemes_are_the_storage_layers_drivers() -> None:
    """`database.url` accepts exactly the schemes adapters/storage/engine.py can open."""
    from adapters.storage.engine import _DRIVERS
    from daemon.settings import DATABASE_SCHEMES

    assert set(DATABASE_SCHEMES) == set(_DRIVERS)


def test_bounds_are_accepted_at_the_edge() -> None:
    """Whatever config check accepts must work: the largest values still load."""
    env = {
        "TLH_PRICES__STALE_AFTER_SECONDS": "86400",
        "TLH_RISK__MAX_ORDER_NOTIONAL": "1e12",
        "TLH_RISK__MAX_DAILY_NOTIONAL": "1000000000000",
    }

    s = load_settings(None, env)

    assert s.prices.stale_after_seconds == 86_400
    assert s.risk.max_daily_notional == Decimal(10**12)


@pytest.mark.parametrize(
    "method", ["fifo", "lifo", "hifo", "max_lt_gain", "max_lt_loss", "max_st_gain", "max_st_loss"]
)
def test_harvest_lot_method_accepts_every_ledger_method(
    write_config: WriteConfig, method: str
) -> None:
    """`harvest.lot_method` is a `ledger.conventions.LotMethod`: FIFO, LIFO, HIFO and IB's Tax
    Optimizer methods (https://www.ibkrguides.com/taxoptimizer/ibto/lotmatchingmethods.htm)."""
    s = load_settings(write_config(f'[harvest]\nlot_method = "{method}"\n'), {})
    assert s.harvest.lot_method == method


def test_an_unknown_harvest_lot_method_names_the_key(write_config: WriteConfig) -> None:
    """IB's "specific" is the adapter's `[ib] lot_method`, not a ledger method: refused here."""
    message = _error(write_config('[harvest]\nlot_method = "specific"\n'))
    assert "harvest.lot_method" in message
