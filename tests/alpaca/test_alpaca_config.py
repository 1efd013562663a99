"""Configuring the adapter from the environment and secret files: endpoints, paper, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.alpaca.broker import AlpacaBroker
from adapters.alpaca.config import AlpacaConfig, AlpacaConfigError
from daemon.brokers import broker_options
from daemon.cli.run import make_broker
from daemon.clock import LiveClock
from daemon.settings import ConfigError, Settings, load_settings

KEY = "PKTESTKEY0123456789"
SECRET = "sEcReT-value-0123456789abcdef"
LOCAL = {
    "TLH_ALPACA__BASE_URL": "http://127.0.0.1:8123",
    "TLH_ALPACA__TRADING_WS_URL": "ws://127.0.0.1:8123/stream",
    "TLH_ALPACA__DATA_WS_URL": "ws://127.0.0.1:8123/v2/iex",
}


def config_of(settings: Settings) -> AlpacaConfig:
    """Return the adapter's configuration from the daemon's settings, as the daemon builds it."""
    return AlpacaConfig.from_settings(settings.alpaca, broker_options(settings))


def env(**extra: str) -> dict[str, str]:
    """Return an environment selecting the Alpaca adapter in paper mode."""
    return {
        "TLH_BROKER": "alpaca",
        "TLH_MODE": "paper",
        "TLH_ALPACA__API_KEY": KEY,
        "TLH_ALPACA__SECRET_KEY": SECRET,
        **extra,
    }


def test_environment_selects_alpaca_with_endpoint_overrides() -> None:
    """Issue §1: TLH_BROKER=alpaca selects the adapter; TLH_ALPACA__BASE_URL, __DATA_WS_URL and
    __TRADING_WS_URL override the endpoints (the crypto stream follows the data host)."""
    settings = load_settings(None, env=env(**LOCAL))

    broker = make_broker(settings, LiveClock())

    assert isinstance(broker, AlpacaBroker)
    c = broker.config
    assert (c.rest_url, c.trading_ws_url, c.stock_ws_url, c.crypto_ws_url) == (
        "http://127.0.0.1:8123",
        "ws://127.0.0.1:8123/stream",
        "ws://127.0.0.1:8123/v2/iex",
        "ws://127.0.0.1:8123/v1beta3/crypto/us",
    )
    assert (c.api_key, c.secret_key, c.paper, c.orders_allowed) == (KEY, SECRET, True, True)


def test_credentials_never_appear_in_the_configs_repr() -> None:
    """Issue §1: credentials are never logged (the config's repr leaves them out)."""
    config = config_of(load_settings(None, env=env()))

    assert KEY not in repr(config)
    assert SECRET not in repr(config)


def test_credentials_come_from_a_secrets_directory(tmp_path: Path) -> None:
    """Issue §1: credentials from env or a secrets directory (one file per variable)."""
    (tmp_path / "TLH_ALPACA__API_KEY").write_text(KEY)
    (tmp_path / "TLH_ALPACA__SECRET_KEY").write_text(SECRET)

    settings = load_settings(
        None, env={"TLH_BROKER": "alpaca", "TLH_MODE": "paper", "TLH_SECRETS_DIR": str(tmp_path)}
    )

    config = config_of(settings)
    assert (config.api_key, config.secret_key) == (KEY, SECRET)


def test_paper_false_without_live_trading_still_uses_the_paper_endpoints() -> None:
    """Issue §1: paper unless TLH_ALPACA__PAPER=false AND live trading is enabled."""
    settings = load_settings(None, env=env(TLH_MODE="dry_run", TLH_ALPACA__PAPER="false"))

    config = config_of(settings)

    assert config.paper
    assert config.rest_url == "https://paper-api.alpaca.markets"
    assert config.trading_ws_url == "wss://paper-api.alpaca.markets/stream"
    assert not config.orders_allowed


def test_live_mode_with_live_trading_enabled_uses_the_live_endpoints() -> None:
    """Issue §1: the live account only with mode=live, live_trading_enabled and paper=false."""
    settings = load_settings(
        None, env=env(TLH_MODE="live", TLH_LIVE_TRADING_ENABLED="true", TLH_ALPACA__PAPER="false")
    )

    config = config_of(settings)

    assert not config.paper
    assert config.rest_url == "https://api.alpaca.markets"
    assert config.orders_allowed


def test_missing_credentials_are_a_configuration_error() -> None:
    """Issue §1: without both keys there is no adapter (and the message names the variables)."""
    with pytest.raises(AlpacaConfigError, match="TLH_ALPACA__API_KEY"):
        config_of(Settings(broker="sim"))


@pytest.mark.parametrize(
    ("extra", "url"),
    [
        ({}, "https://data.alpaca.markets"),
        (LOCAL, "http://127.0.0.1:8123"),
        ({**LOCAL, "TLH_ALPACA__DATA_URL": "http://127.0.0.1:9000"}, "http://127.0.0.1:9000"),
    ],
)
def test_the_market_data_rest_url_defaults_from_the_trading_url(
    extra: dict[str, str], url: str
) -> None:
    """Issue #13 A.3: the split calendar is read from market-data REST (``[alpaca] data_url``):
    Alpaca's data host by default, the overridden base URL when that points at a fake or a
    proxy (no request leaves for Alpaca unasked), else `data_url` itself."""
    config = config_of(load_settings(None, env=env(**extra)))

    assert config.data_url == url


def test_a_data_url_that_is_not_http_is_refused() -> None:
    """Issue #13 A.3 and the guide: a bad value is refused, naming the key."""
    with pytest.raises(ConfigError, match=r"alpaca\.data_url: must start with https://"):
        load_settings(None, env=env(TLH_ALPACA__DATA_URL="ftp://127.0.0.1/data"))
